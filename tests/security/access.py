"""Who may call what: the reviewed table of the roles allowed on every route of the app.
`test_role_matrix.py` checks the app against it: a route added, removed or given other roles
fails there until its line here is written or changed, which is the review."""


def roles(names: str) -> frozenset[str]:
    return frozenset(names.split())


PUBLIC = None  # no login needed
EVERYONE = roles("admin lab qa pharmacist nurse coordinator monitor")
CENTRAL = roles("admin lab qa monitor")  # the manufacturer's and sponsor's staff
LOT_READERS = CENTRAL | roles("coordinator")
SHIPMENT_READERS = CENTRAL | roles("pharmacist")
AUDITORS = roles("admin qa monitor")
TRACE_READERS = EVERYONE - roles("nurse")
SDTM_READERS = EVERYONE - roles("lab")

EXPECTED: dict[str, frozenset[str] | None] = {
    # signing in and out, the API's document, static files
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "POST /api/auth/token": PUBLIC,
    "GET /api/openapi.json": PUBLIC,
    "GET /static/<path:filename>": PUBLIC,
    "GET /": EVERYONE,
    # accounts (admin)
    "GET /api/me": EVERYONE,
    "GET /api/sites": EVERYONE,
    "POST /api/sites": roles("admin"),
    "GET /api/sites/<code>": EVERYONE,
    "GET /api/users": EVERYONE,
    "POST /api/users": roles("admin"),
    "GET /api/users/<username>": EVERYONE,
    "PATCH /api/users/<username>": roles("admin"),
    "POST /api/auth/logout": EVERYONE,
    "POST /api/me/password": EVERYONE,
    "GET /api/lockouts": roles("admin"),
    "POST /api/users/<username>/unlock": roles("admin"),
    "PUT /api/users/<username>/password": roles("admin"),
    "GET /account/password": EVERYONE,
    "POST /account/password": EVERYONE,
    "GET /account/preferences": EVERYONE,
    "POST /account/preferences": EVERYONE,
    # the language switch on every page: a visitor's choice lasts their browser session
    "GET /language": PUBLIC,
    "POST /language": PUBLIC,
    # audit trail
    "GET /api/audit": AUDITORS,
    "GET /api/audit/verify": AUDITORS,
    "GET /audit": AUDITORS,
    "GET /audit.csv": AUDITORS,
    "GET /audit.pdf": AUDITORS,
    # donors and lots (lab makes, qa decides)
    "GET /api/donors": CENTRAL,
    "POST /api/donors": roles("lab"),
    "GET /api/donors/<int:donor_id>": CENTRAL,
    "POST /api/donors/<int:donor_id>/screening": roles("lab"),
    "POST /api/donors/<int:donor_id>/eligibility": roles("qa"),
    "GET /api/lots": LOT_READERS,
    "POST /api/lots": roles("lab"),
    "GET /api/lots/<int:lot_id>": LOT_READERS,
    "POST /api/lots/<int:lot_id>/complete": roles("lab"),
    "POST /api/lots/<int:lot_id>/doses": roles("lab"),
    "POST /api/lots/<int:lot_id>/results": roles("lab"),
    "POST /api/lots/<int:lot_id>/release": roles("qa"),
    "POST /api/lots/<int:lot_id>/reject": roles("qa"),
    "POST /api/lots/<int:lot_id>/recall": roles("qa"),
    "GET /donors": CENTRAL,
    "GET /donors/new": roles("lab"),
    "POST /donors/new": roles("lab"),
    "GET /donors/<int:donor_id>": CENTRAL,
    "GET /donors/<int:donor_id>/screening": roles("lab"),
    "POST /donors/<int:donor_id>/screening": roles("lab"),
    "GET /donors/<int:donor_id>/eligibility": roles("qa"),
    "POST /donors/<int:donor_id>/eligibility": roles("qa"),
    "GET /lots": LOT_READERS,
    "GET /lots/new": roles("lab"),
    "POST /lots/new": roles("lab"),
    "GET /lots/<int:lot_id>": LOT_READERS,
    "POST /lots/<int:lot_id>/complete": roles("lab"),
    "GET /lots/<int:lot_id>/doses": roles("lab"),
    "POST /lots/<int:lot_id>/doses": roles("lab"),
    "GET /lots/<int:lot_id>/results": roles("lab"),
    "POST /lots/<int:lot_id>/results": roles("lab"),
    "GET /lots/<int:lot_id>/release": roles("qa"),
    "POST /lots/<int:lot_id>/release": roles("qa"),
    "GET /lots/<int:lot_id>/reject": roles("qa"),
    "POST /lots/<int:lot_id>/reject": roles("qa"),
    "GET /lots/<int:lot_id>/recall": roles("qa"),
    "POST /lots/<int:lot_id>/recall": roles("qa"),
    # labels and doses
    "GET /api/print-jobs": CENTRAL,
    "POST /api/print-jobs": roles("lab coordinator"),
    "GET /api/doses/<code>": EVERYONE,
    "POST /api/doses/<code>/label-verification": roles("lab coordinator"),
    "POST /api/lots/<int:lot_id>/label-scans": roles("lab"),  # the lot page scanning in place
    "GET /api/scan": EVERYONE,
    "GET /lots/<int:lot_id>/labels": roles("lab"),
    "POST /lots/<int:lot_id>/labels": roles("lab"),
    "POST /lots/<int:lot_id>/label-scans": roles("lab"),  # print-then-scan, as the API's verification
    "POST /patients/<subject_id>/assignment-label-scans": roles("lab coordinator"),
    "GET /doses/<code>/label.png": CENTRAL,
    "GET /doses/<code>": EVERYONE,
    # patients and schedule (coordinator; lab allocates too)
    "GET /api/patients": EVERYONE,
    "POST /api/patients": roles("coordinator"),
    "GET /api/patients/<subject_id>": EVERYONE,
    "POST /api/patients/<subject_id>/withdraw": roles("coordinator"),
    "POST /api/patients/<subject_id>/visits/<int:number>/allocate": roles("coordinator lab"),
    "POST /api/patients/<subject_id>/visits/<int:number>/deallocate": roles("coordinator lab"),
    "GET /patients": EVERYONE,
    "GET /patients/new": roles("coordinator"),
    "POST /patients/new": roles("coordinator"),
    "GET /patients/<subject_id>": EVERYONE,
    "GET /patients/<subject_id>/withdraw": roles("coordinator"),
    "POST /patients/<subject_id>/withdraw": roles("coordinator"),
    "POST /patients/<subject_id>/wristband": roles("coordinator nurse"),
    "GET /patients/<subject_id>/visits/<int:number>/allocate": roles("coordinator lab"),
    "POST /patients/<subject_id>/visits/<int:number>/allocate": roles("coordinator lab"),
    "GET /patients/<subject_id>/visits/<int:number>/deallocate": roles("coordinator lab"),
    "POST /patients/<subject_id>/visits/<int:number>/deallocate": roles("coordinator lab"),
    "GET /patients/<subject_id>/visits/<int:number>/assignment-label": roles("coordinator lab"),
    "POST /patients/<subject_id>/visits/<int:number>/assignment-label": roles("coordinator lab"),
    "GET /visits/waiting-for-a-dose": EVERYONE,
    # shipments (lab packs and dispatches, pharmacist receives, qa decides on excursions)
    "GET /api/shipments": SHIPMENT_READERS,
    "POST /api/shipments": roles("lab"),
    "GET /api/shipments/<int:shipment_id>": SHIPMENT_READERS,
    "POST /api/shipments/<int:shipment_id>/pack": roles("lab"),
    "POST /api/shipments/<int:shipment_id>/pack-scans": roles("lab"),  # the packing page scanning in place
    "POST /api/shipments/<int:shipment_id>/unpack": roles("lab"),
    "POST /api/shipments/<int:shipment_id>/dispatch": roles("lab"),
    "POST /api/shipments/<int:shipment_id>/handoffs": roles("lab pharmacist"),
    "POST /api/shipments/<int:shipment_id>/temperature": roles("lab pharmacist"),
    "GET /api/shipments/<int:shipment_id>/temperature.svg": SHIPMENT_READERS,
    "POST /api/shipments/<int:shipment_id>/receive": roles("pharmacist"),
    "POST /api/shipments/<int:shipment_id>/excursion-disposition": roles("qa"),
    "POST /api/shipments/<int:shipment_id>/temperature-waiver": roles("qa"),
    "GET /shipments": SHIPMENT_READERS,
    "POST /shipments": roles("lab"),
    "GET /shipments/<int:shipment_id>": SHIPMENT_READERS,
    "POST /shipments/<int:shipment_id>/pack": roles("lab"),
    "GET /shipments/<int:shipment_id>/doses/<code>/remove": roles("lab"),
    "POST /shipments/<int:shipment_id>/doses/<code>/remove": roles("lab"),
    "POST /shipments/<int:shipment_id>/box-label": roles("lab"),
    "POST /shipments/<int:shipment_id>/dispatch": roles("lab"),
    "POST /shipments/<int:shipment_id>/handoff": roles("lab pharmacist"),
    "POST /shipments/<int:shipment_id>/temperature": roles("lab pharmacist"),
    "GET /shipments/<int:shipment_id>/receive": roles("pharmacist"),
    "POST /shipments/<int:shipment_id>/receive": roles("pharmacist"),
    "POST /shipments/<int:shipment_id>/excursions": roles("qa"),
    "POST /shipments/<int:shipment_id>/temperature-waiver": roles("qa"),
    # site pharmacy
    "POST /api/doses/<code>/thaw": roles("pharmacist"),
    "POST /api/doses/<code>/dispense": roles("pharmacist"),
    "POST /api/doses/<code>/destroy": roles("pharmacist"),
    "POST /api/doses/<code>/return": roles("pharmacist"),
    "GET /pharmacy": roles("pharmacist"),
    "POST /pharmacy/scan": roles("pharmacist"),
    "GET /pharmacy/doses/<code>": roles("pharmacist"),
    "GET /pharmacy/doses/<code>/thaw": roles("pharmacist"),
    "POST /pharmacy/doses/<code>/thaw": roles("pharmacist"),
    "GET /pharmacy/doses/<code>/dispense": roles("pharmacist"),
    "POST /pharmacy/doses/<code>/dispense": roles("pharmacist"),
    "GET /pharmacy/doses/<code>/destroy": roles("pharmacist"),
    "POST /pharmacy/doses/<code>/destroy": roles("pharmacist"),
    "GET /pharmacy/doses/<code>/return": roles("pharmacist"),
    "POST /pharmacy/doses/<code>/return": roles("pharmacist"),
    # bedside (nurse)
    "POST /api/infusions/verify": roles("nurse"),
    "POST /api/infusions": roles("nurse"),
    "POST /api/infusions/<int:infusion_id>/correction": roles("nurse coordinator"),
    "GET /bedside": roles("nurse"),
    "POST /bedside/draft": roles("nurse"),
    "GET /bedside/resume": roles("nurse"),
    "POST /bedside/scan": roles("nurse"),
    "POST /bedside/verify": roles("nurse"),
    "POST /bedside/record": roles("nurse"),
    "GET /bedside/infusions/<int:infusion_id>": roles("nurse"),
    # reconciliation and trace, as the reconciliation package declared them (reviewed: every
    # reader sees discrepancies in their scope; lot balances are the manufacturer's; patient
    # balances are not the lab's; nurses do not trace)
    "GET /api/reconciliation/discrepancies": EVERYONE,
    "GET /api/reconciliation/lots": CENTRAL,
    "GET /api/reconciliation/patients": EVERYONE - roles("lab"),
    "GET /api/reconciliation/sites": EVERYONE - roles("nurse"),
    "GET /reports/reconciliation/<name>.csv": EVERYONE,  # per report: as its JSON (name=discrepancies here)
    "GET /reports/reconciliation/<name>.pdf": EVERYONE,
    "GET /api/trace/donors/<din>": TRACE_READERS,
    "GET /api/trace/patients/<subject_id>": TRACE_READERS,
    "GET /trace": TRACE_READERS,
    "GET /trace/donors/<din>": TRACE_READERS,
    "GET /trace/patients/<subject_id>": TRACE_READERS,
    "GET /reports/trace/donors/<din>.csv": TRACE_READERS,
    "GET /reports/trace/donors/<din>.pdf": TRACE_READERS,
    "GET /reports/trace/patients/<subject_id>.csv": TRACE_READERS,
    "GET /reports/trace/patients/<subject_id>.pdf": TRACE_READERS,
    # the monitor's dashboard; a coordinator sees their own site's progress on it
    "GET /monitor": roles("admin coordinator monitor qa"),
    # exchange: FHIR reads as /api reads the same records (every role, within its site);
    # SDTM datasets for monitors and above, site staff their own site (not the lab)
    "GET /fhir/metadata": EVERYONE,
    "GET /fhir/BiologicallyDerivedProduct": EVERYONE,
    "GET /fhir/BiologicallyDerivedProduct/<code>": EVERYONE,
    "GET /fhir/Patient/<subject_id>": EVERYONE,
    "GET /fhir/Patient/<subject_id>/$everything": EVERYONE,
    "GET /fhir/Procedure/<int:infusion_id>": EVERYONE,
    "GET /api/exports/sdtm/<any(ex, da, dv):dataset>.<any(xpt, csv):fmt>": SDTM_READERS,
    "GET /exports/sdtm": SDTM_READERS,
}

# The home page checks for a session itself (any role has a home page).
CHECKED_IN_VIEW = {"GET /"}
# Report downloads whose allowed roles depend on the report named in the path, checked in the
# view; the route admits every role that reads any report.
ROLES_BY_ARGUMENT = {"GET /reports/reconciliation/<name>.csv", "GET /reports/reconciliation/<name>.pdf"}
