"""CDISC SDTM datasets for the trial's submission (SDTMIG v3.4): EX, one record per infusion;
DA, the dispensed, returned and destroyed amounts per dose and subject; DV, the infusions
given out of their window; as SAS transport v5 (pyreadstat) and CSV. Records are read as of
the data cut: nothing recorded after it."""
import csv
import io
import math
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select

from cell_chain.accounts.models import User
from cell_chain.accounts.permissions import require_role
from cell_chain.accounts.roles import Role
from cell_chain.batches.models import Dose, Lot
from cell_chain.core.db import db
from cell_chain.core.errors import NotFound
from cell_chain.infusions.models import Infusion
from cell_chain.patients.models import Allocation, Patient, Visit
from cell_chain.reconciliation.scope import Scope, scope_of
from cell_chain.shipments.models import CustodyEvent
from cell_chain.core.messages import _l

if TYPE_CHECKING:
    import pandas as pd

IG_VERSION = "SDTMIG v3.4"
STUDY_ID = "NCT01573923"
# Monitors and above read the whole trial; site staff their own site.
READERS = (Role.ADMIN, Role.QA, Role.MONITOR, Role.COORDINATOR, Role.PHARMACIST, Role.NURSE)
TREATMENT = "UC-MSC"
MAX_CHAR = 200  # SAS transport v5: a character value holds at most 200 bytes


@dataclass(frozen=True)
class Variable:
    name: str
    label: str
    numeric: bool = False


@dataclass
class Dataset:
    """One SDTM domain: its variables in the IG's order and its records."""

    name: str
    label: str
    variables: tuple[Variable, ...]
    records: list[dict[str, Any]] = field(default_factory=list)
    cut: datetime | None = None


def _char(name: str, label: str) -> Variable:
    return Variable(name, label)


def _num(name: str, label: str) -> Variable:
    return Variable(name, label, numeric=True)


IDENTIFIERS = (_char("STUDYID", "Study Identifier"), _char("DOMAIN", "Domain Abbreviation"),
               _char("USUBJID", "Unique Subject Identifier"))
VISITS = (_num("VISITNUM", "Visit Number"), _char("VISIT", "Visit Name"))

EX_VARIABLES = (
    *IDENTIFIERS, _num("EXSEQ", "Sequence Number"), _char("EXREFID", "Reference ID"),
    _char("EXTRT", "Name of Treatment"), _num("EXDOSE", "Dose"), _char("EXDOSU", "Dose Units"),
    _char("EXDOSFRM", "Dose Form"), _char("EXDOSFRQ", "Dosing Frequency per Interval"),
    _char("EXROUTE", "Route of Administration"), _char("EXLOT", "Lot Number"),
    _num("EXVAMT", "Treatment Vehicle Amount"), _char("EXVAMTU", "Treatment Vehicle Amount Units"),
    _char("EXADJ", "Reason for Dose Adjustment"), *VISITS,
    _char("EXSTDTC", "Start Date/Time of Treatment"), _char("EXENDTC", "End Date/Time of Treatment"),
)
DA_VARIABLES = (
    *IDENTIFIERS, _num("DASEQ", "Sequence Number"), _char("DAREFID", "Reference ID"),
    _char("DATESTCD", "Short Name of Accountability Assessment"),
    _char("DATEST", "Name of Accountability Assessment"), _char("DACAT", "Category for Drug Accountability"),
    _char("DAORRES", "Result or Finding in Original Units"), _char("DAORRESU", "Original Units"),
    _char("DASTRESC", "Character Result/Finding in Std Format"),
    _num("DASTRESN", "Numeric Result/Finding in Standard Units"), _char("DASTRESU", "Standard Units"),
    *VISITS, _char("DADTC", "Date/Time of Collection"),
)
DV_VARIABLES = (
    *IDENTIFIERS, _num("DVSEQ", "Sequence Number"), _char("DVREFID", "Reference ID"),
    _char("DVTERM", "Protocol Deviation Term"), _char("DVDECOD", "Protocol Deviation Coded Term"),
    _char("DVCAT", "Category for Protocol Deviation"), *VISITS,
    _char("DVSTDTC", "Start Date/Time of Deviation"),
)
DATASETS = {"ex": "Exposure", "da": "Drug Accountability", "dv": "Protocol Deviations"}
# Custody events that account for a dose (DATESTCD is an extensible codelist: DESTAMT is ours).
ACCOUNTED = {"dispense": ("DISPAMT", "Dispensed Amount"), "return": ("RETAMT", "Returned Amount"),
             "destroy": ("DESTAMT", "Destroyed Amount")}


def scope_for(actor: User, site_code: str | None = None) -> Scope:
    """The subjects an export covers: the actor's site's or the whole trial's, narrowed to
    `site_code` when given. Raises Forbidden (role), NotFound (a site not among the actor's)."""
    require_role(actor, READERS)
    return scope_of(actor, site_code)


def iso8601(moment: datetime) -> str:
    """SDTM --DTC: ISO 8601 extended format, to the second, in UTC (stated in the README)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def visit_name(number: int) -> str:
    return f"MONTH {3 * (number - 1)}"


def usubjid(study_id: str, subject_id: str) -> str:
    return f"{study_id}-{subject_id}"


def _scoped(stmt: Select[Any], scope: Scope) -> Select[Any]:
    return stmt if scope.site_id is None else stmt.where(Patient.site_id == scope.site_id)


def exposure(scope: Scope, *, cut: datetime, study_id: str = STUDY_ID) -> Dataset:
    """EX: one record per infusion recorded by the cut. EXDOSE is the cells given (in 10^6
    cells), in proportion to the volume given (EXVAMT) for a partial infusion, whose EXADJ
    says so. VISITNUM is the planned visit even when it was given out of its window, as the
    IG keeps it; the deviation itself is a DV record."""
    stmt = _scoped(
        select(Infusion, Dose.code, Dose.cells, Dose.volume_ml, Lot.lot_number, Visit.number,
               Patient.subject_id)
        .join(Dose, Dose.id == Infusion.dose_id).join(Lot, Lot.id == Dose.lot_id)
        .join(Visit, Visit.id == Infusion.visit_id).join(Patient, Patient.id == Infusion.patient_id)
        .where(Infusion.recorded_at <= cut)
        .order_by(Patient.subject_id, Infusion.started_at, Infusion.id), scope)
    dataset = Dataset("EX", "Exposure", EX_VARIABLES, cut=cut)
    sequence: dict[str, int] = {}
    for infusion, code, cells, prepared_ml, lot_number, visit, subject_id in db.session.execute(stmt):
        sequence[subject_id] = sequence.get(subject_id, 0) + 1
        given_cells = cells * min(infusion.volume_ml / prepared_ml, 1.0) if prepared_ml else cells
        adjustment = (f"PARTIAL INFUSION: {infusion.volume_ml:g} OF {prepared_ml:g} mL GIVEN"
                      if infusion.partial else "")
        dataset.records.append({
            "STUDYID": study_id, "DOMAIN": "EX", "USUBJID": usubjid(study_id, subject_id),
            "EXSEQ": sequence[subject_id], "EXREFID": code, "EXTRT": TREATMENT,
            "EXDOSE": round(given_cells / 1e6, 3), "EXDOSU": "10^6 cells", "EXDOSFRM": "SUSPENSION",
            "EXDOSFRQ": "ONCE", "EXROUTE": "INTRAVENOUS", "EXLOT": lot_number,
            "EXVAMT": infusion.volume_ml, "EXVAMTU": "mL", "EXADJ": adjustment,
            "VISITNUM": visit, "VISIT": visit_name(visit),
            "EXSTDTC": iso8601(infusion.started_at), "EXENDTC": iso8601(infusion.ended_at),
        })
    return dataset


def accountability(scope: Scope, *, cut: datetime, study_id: str = STUDY_ID) -> Dataset:
    """DA: per dose and subject, the amount dispensed to the ward, returned to the
    manufacturer or destroyed at the site (mL), at the time of each hand-over up to the cut.
    A dose's subject is the one it was last allocated to before the hand-over (a dose returned
    after its patient withdrew is still that patient's)."""
    events = db.session.execute(
        select(CustodyEvent, Dose.code, Dose.volume_ml).join(Dose, Dose.id == CustodyEvent.dose_id)
        .where(CustodyEvent.kind.in_(list(ACCOUNTED)), CustodyEvent.occurred_at <= cut)).all()
    allocations: dict[int, list[Any]] = {}
    dose_ids = sorted({event.dose_id for event, _, _ in events})
    if dose_ids:
        rows = db.session.execute(
            select(Allocation.dose_id, Allocation.allocated_at, Visit.number, Patient.subject_id, Patient.site_id)
            .join(Visit, Visit.id == Allocation.visit_id).join(Patient, Patient.id == Visit.patient_id)
            .where(Allocation.dose_id.in_(dose_ids)).order_by(Allocation.allocated_at, Allocation.id))
        for row in rows:
            allocations.setdefault(row.dose_id, []).append(row)
    lines = []
    for event, code, volume_ml in events:
        held = [a for a in allocations.get(event.dose_id, []) if a.allocated_at <= event.occurred_at]
        if not held or (scope.site_id is not None and held[-1].site_id != scope.site_id):
            continue
        lines.append((held[-1].subject_id, event.occurred_at, event.id, event.kind, code, volume_ml,
                      held[-1].number))
    dataset = Dataset("DA", "Drug Accountability", DA_VARIABLES, cut=cut)
    sequence: dict[str, int] = {}
    for subject_id, occurred_at, _, kind, code, volume_ml, visit in sorted(lines):
        sequence[subject_id] = sequence.get(subject_id, 0) + 1
        testcd, test = ACCOUNTED[kind]
        dataset.records.append({
            "STUDYID": study_id, "DOMAIN": "DA", "USUBJID": usubjid(study_id, subject_id),
            "DASEQ": sequence[subject_id], "DAREFID": code, "DATESTCD": testcd, "DATEST": test,
            "DACAT": "STUDY PRODUCT", "DAORRES": f"{volume_ml:g}", "DAORRESU": "mL",
            "DASTRESC": f"{volume_ml:g}", "DASTRESN": volume_ml, "DASTRESU": "mL",
            "VISITNUM": visit, "VISIT": visit_name(visit), "DADTC": iso8601(occurred_at),
        })
    return dataset


def _clipped(text: str) -> str:
    """At most MAX_CHAR bytes (a longer deviation reason is cut, marked with an ellipsis)."""
    if len(text.encode()) <= MAX_CHAR:
        return text
    while len((text + "...").encode()) > MAX_CHAR:
        text = text[:-1]
    return text + "..."


def deviations(scope: Scope, *, cut: datetime, study_id: str = STUDY_ID) -> Dataset:
    """DV: one record per infusion given outside its visit window (the nurse acknowledged the
    OUT_OF_WINDOW warning with a reason), recorded by the cut."""
    stmt = _scoped(
        select(Infusion, Dose.code, Visit, Patient.subject_id)
        .join(Dose, Dose.id == Infusion.dose_id).join(Visit, Visit.id == Infusion.visit_id)
        .join(Patient, Patient.id == Infusion.patient_id)
        .where(Infusion.recorded_at <= cut, Infusion.out_of_window)
        .order_by(Patient.subject_id, Infusion.started_at, Infusion.id), scope)
    dataset = Dataset("DV", "Protocol Deviations", DV_VARIABLES, cut=cut)
    sequence: dict[str, int] = {}
    for infusion, code, visit, subject_id in db.session.execute(stmt):
        sequence[subject_id] = sequence.get(subject_id, 0) + 1
        term = (f"VISIT {visit.number} DOSE GIVEN OUTSIDE WINDOW {visit.window_start.isoformat()} TO "
                f"{visit.window_end.isoformat()}: {infusion.deviation_reason or 'NO REASON GIVEN'}")
        dataset.records.append({
            "STUDYID": study_id, "DOMAIN": "DV", "USUBJID": usubjid(study_id, subject_id),
            "DVSEQ": sequence[subject_id], "DVREFID": code, "DVTERM": _clipped(term),
            "DVDECOD": "VISIT OUT OF WINDOW", "DVCAT": "STUDY PROCEDURES",
            "VISITNUM": visit.number, "VISIT": visit_name(visit.number),
            "DVSTDTC": iso8601(infusion.started_at),
        })
    return dataset


def build(name: str, scope: Scope, *, cut: datetime, study_id: str = STUDY_ID) -> Dataset:
    """The dataset `name` ("ex", "da" or "dv"). Raises NotFound for another name."""
    builders = {"ex": exposure, "da": accountability, "dv": deviations}
    if name not in builders:
        raise NotFound(_l("No SDTM dataset %(name)s.", name=name))
    dataset = builders[name](scope, cut=through_second(cut), study_id=study_id)
    dataset.cut = cut
    return dataset


def through_second(cut: datetime) -> datetime:
    """A cut given to the second (as pages show it and ISO 8601 carries it) covers that whole
    second: a record entered at 10:00:00.7 is in the data as of 10:00:00. Without this a monitor
    who opens the page in the same second as the last entry would see it left out."""
    if cut.microsecond:
        return cut
    return cut + timedelta(seconds=1) - timedelta(microseconds=1)


class DatasetInvalid(ValueError):
    """A dataset that SAS transport v5 or the IG cannot hold (a programming error)."""


def check(dataset: Dataset) -> None:
    """The transport rules the IG relies on: names of at most 8 characters, labels of at most
    40, character values of at most 200 bytes, test codes of 8 and test names of 40."""
    problems = [v.name for v in dataset.variables
                if len(v.name) > 8 or not v.name.isupper() or len(v.label) > 40]
    for record in dataset.records:
        problems += [f"{v.name}={record[v.name]!r}" for v in dataset.variables
                     if not v.numeric and len(str(record[v.name] or "").encode()) > MAX_CHAR]
        if "DATESTCD" in record and (len(record["DATESTCD"]) > 8 or len(record["DATEST"]) > 40):
            problems.append(record["DATESTCD"])
    if problems:
        raise DatasetInvalid(f"{dataset.name}: " + ", ".join(problems))


def _frame(dataset: Dataset) -> "pd.DataFrame":
    import pandas as pd  # (here: pandas takes a third of a second to import, for every start of the app)

    columns = {}
    for variable in dataset.variables:
        values = [record[variable.name] for record in dataset.records]
        if variable.numeric:
            columns[variable.name] = pd.Series([math.nan if v is None else float(v) for v in values],
                                               dtype="float64")
        else:
            columns[variable.name] = pd.Series(["" if v is None else str(v) for v in values], dtype="object")
    return pd.DataFrame(columns)


def to_xpt(dataset: Dataset) -> bytes:
    """SAS transport version 5, as the FDA accepts it, written by pyreadstat."""
    import pyreadstat  # (imports pandas)

    check(dataset)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{dataset.name.lower()}.xpt"
        pyreadstat.write_xport(_frame(dataset), str(path), file_label=dataset.label,
                               column_labels={v.name: v.label for v in dataset.variables},
                               table_name=dataset.name, file_format_version=5)
        return path.read_bytes()


def number_text(value: float | int | None) -> str:
    """A number as CSV text that reads back to the same value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def to_csv(dataset: Dataset) -> bytes:
    """The same records as CSV: a header of variable names, then one row per record."""
    check(dataset)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([v.name for v in dataset.variables])
    for record in dataset.records:
        writer.writerow([number_text(record[v.name]) if v.numeric else record[v.name] or ""
                         for v in dataset.variables])
    return buffer.getvalue().encode("utf-8")
