"""Donor, lot and dose services on a real database (both), with the clock as an argument."""
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from cell_chain.batches import services
from cell_chain.batches.errors import ReleaseBlocked, ScreeningIncomplete, SegregationOfDuties, DonorIneligible
from cell_chain.batches.models import MARKERS
from cell_chain.core.audit import AuditEvent
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import Forbidden, InvalidTransition, ReasonRequired, SignatureInvalid
from cell_chain.core.isbt128 import mod37_2_check
from cell_chain.accounts.signatures import signatures_for
from tests.factories import GOOD_DOSE, PASSING_VALUES, make_donor, make_lot, released_lot, signed


def _actions(entity_type: str, entity_id: int) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == str(entity_id)).order_by(AuditEvent.seq)))


def test_donor_and_lots_get_distinct_dins_of_this_facility_and_year(staff):
    donor = make_donor(staff)
    lot = make_lot(staff, donor)
    year = utcnow().year % 100
    assert donor.din.startswith(f"A9999{year:02d}") and lot.din.startswith(f"A9999{year:02d}")
    assert int(lot.din[-6:]) == int(donor.din[-6:]) + 1
    assert lot.din_structure.check == mod37_2_check(lot.din)


def test_out_of_window_screening_does_not_count(staff):
    now = utcnow()
    donor = make_donor(staff, tested_offset_days=8, determine=False, now=now)
    with pytest.raises(ScreeningIncomplete) as error:
        services.determine_eligibility(donor, signature=signed(), actor=staff.qa, now=now)
    assert error.value.extra["missing"] == list(MARKERS)
    db.session.rollback()
    donor = make_donor(staff, "D-002", tested_offset_days=-7, determine=False, now=now)
    services.determine_eligibility(donor, signature=signed(), actor=staff.qa, now=now)
    assert donor.status == "eligible"


def test_one_reactive_marker_makes_the_donor_ineligible_and_its_lot_unreleasable(staff):
    now = utcnow()
    donor = make_donor(staff, determine=False, now=now)
    lot = make_lot(staff, donor)
    services.record_screening(donor, marker="hbsag", result="reactive", tested_on=donor.collected_on,
                              reason="Retest confirmed reactive", actor=staff.lab, now=now)
    services.determine_eligibility(donor, signature=signed(), actor=staff.qa, now=now)
    db.session.commit()
    assert donor.status == "ineligible"
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=now)
    assert blocked.value.extra["blocking"] == ["DONOR_INELIGIBLE"]
    db.session.rollback()
    with pytest.raises(DonorIneligible):
        services.create_lot(donor=donor, lot_number="L-X", manufactured_on=now.date(), passage=2,
                            presentation="fresh", actor=staff.lab, now=now)


def test_unscreened_donor_blocks_release(staff):
    donor = make_donor(staff, screening=None)
    lot = make_lot(staff, donor)
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    assert blocked.value.extra["blocking"] == ["DONOR_NOT_DETERMINED"]


@pytest.mark.parametrize("test", ["sterility", "viability_pct", "karyotype"])
def test_missing_test_blocks_release(staff, test):
    lot = make_lot(staff, make_donor(staff), results={k: v for k, v in PASSING_VALUES.items() if k != test})
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    assert blocked.value.extra["blocking"] == [f"TEST_MISSING:{test}"]
    db.session.rollback()
    assert lot.status == "quarantine"


@pytest.mark.parametrize("test, value", [("sterility", "growth"), ("endotoxin_eu_ml", 0.9),
                                         ("cd34_pct", 3.5), ("viability_pct", 70)])
def test_failed_test_blocks_release_until_corrected_with_reason(staff, test, value):
    lot = make_lot(staff, make_donor(staff), results=PASSING_VALUES | {test: value})
    result = next(r for r in lot.results if r.test == test)
    assert result.passed is False
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    assert blocked.value.extra["blocking"] == [f"TEST_FAILED:{test}"]
    db.session.rollback()
    with pytest.raises(ReasonRequired):
        services.record_result(lot, test=test, value=PASSING_VALUES[test], performed_on=utcnow().date(),
                               method=None, analyst=None, reason=None, actor=staff.lab, now=utcnow())
    db.session.rollback()
    services.record_result(lot, test=test, value=PASSING_VALUES[test], performed_on=utcnow().date(),
                           method=None, analyst=None, reason="Transcription error, see LIMS record",
                           actor=staff.lab, now=utcnow())
    db.session.commit()
    corrected = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "result.corrected")).one()
    assert json.loads(corrected.changes)["passed"] == [False, True]
    assert corrected.reason == "Transcription error, see LIMS record"
    services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())


def test_qa_who_entered_a_result_cannot_release(staff):
    lot = make_lot(staff, make_donor(staff))
    # A QA person entering results is refused at entry (lab's job) ...
    with pytest.raises(Forbidden):
        services.record_result(lot, test="sterility", value="no_growth", performed_on=utcnow().date(),
                               method=None, analyst=None, reason="x", actor=staff.qa, now=utcnow())
    db.session.rollback()
    # ... and a lab account with QA duties is refused at release by segregation of duties.
    staff.lab.role = "qa"  # same person, two hats: the data model must still refuse
    with pytest.raises(SegregationOfDuties):
        services.release_lot(lot, signature=signed(), actor=staff.lab, now=utcnow())
    db.session.rollback()


def test_release_needs_the_signers_password_and_signs(staff):
    lot = make_lot(staff, make_donor(staff))
    with pytest.raises(SignatureInvalid):
        services.release_lot(lot, signature=signed("wrong-password"), actor=staff.qa, now=utcnow())
    db.session.rollback()
    assert lot.status == "quarantine"
    services.release_lot(lot, signature=signed(meaning="Released"), actor=staff.qa, now=utcnow())
    db.session.commit()
    assert lot.status == "released"
    assert all(d.status == "available" for d in lot.doses)
    [signature] = signatures_for(lot)
    assert signature.meaning == "Released" and signature.printed_name == "Qian QA"


def test_release_leaves_expired_fresh_doses_unavailable(staff):
    now = utcnow()
    lot = make_lot(staff, make_donor(staff), presentation="fresh", now=now)
    later = now + timedelta(hours=73)
    services.release_lot(lot, signature=signed(), actor=staff.qa, now=later)
    assert [d.status for d in lot.doses] == ["prepared", "prepared"]
    assert lot.doses[0].expires_at == (now + timedelta(hours=72)).replace(second=0, microsecond=0)


def test_out_of_tolerance_doses_are_rejected_kept_and_counted(staff):
    lot = make_lot(staff, make_donor(staff), doses=0, complete=False)
    ok = services.prepare_dose(lot, **GOOD_DOSE, actor=staff.lab, now=utcnow())
    low = services.prepare_dose(lot, cells=3.0e7, volume_ml=40, viability_pct=90, actor=staff.lab, now=utcnow())
    wet = services.prepare_dose(lot, cells=4.0e7, volume_ml=45, viability_pct=90, actor=staff.lab, now=utcnow())
    db.session.commit()
    assert [d.status for d in lot.doses] == ["prepared", "rejected", "rejected"]
    assert "cells" in low.rejection_reasons and "volume" in wet.rejection_reasons
    assert [d.number for d in lot.doses] == [1, 2, 3] and ok.code.endswith("-000001")
    assert _actions("doses", low.id) == ["dose.rejected_at_fill"]


def test_only_accepted_doses_count_for_release(staff):
    lot = make_lot(staff, make_donor(staff), doses=0, complete=False)
    services.prepare_dose(lot, cells=1e6, volume_ml=40, viability_pct=90, actor=staff.lab, now=utcnow())
    services.complete_lot(lot, actor=staff.lab, now=utcnow())
    db.session.commit()
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    assert blocked.value.extra["blocking"] == ["NO_DOSES"]


def test_recall_quarantines_every_dose_not_administered(staff):
    lot = released_lot(staff, doses=3)
    # an administered dose stays as it is (the infusion issue makes this happen for real)
    first = lot.doses[0]
    first.status = "administered"
    from cell_chain.core import audit

    audit.record_change(first, "dose.administered", actor=staff.lab, at=utcnow())
    db.session.commit()
    with pytest.raises(ReasonRequired):
        services.recall_lot(lot, reason=" ", signature=signed(), actor=staff.qa, now=utcnow())
    db.session.rollback()
    outcome = services.recall_lot(lot, reason="Sterility failure on retained sample",
                                  signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    assert lot.status == "recalled"
    assert outcome.quarantined_doses == [d.code for d in lot.doses[1:]]
    assert outcome.administered_doses == [{"code": first.code, "subject_id": None}]
    assert [d.status for d in lot.doses] == ["administered", "quarantined", "quarantined"]
    assert lot.doses[1].status_before_quarantine == "available"
    assert [s.meaning for s in signatures_for(lot)] == ["Released", "Recalled"]


def test_reject_quarantines_doses_and_is_signed(staff):
    lot = make_lot(staff, make_donor(staff))
    services.reject_lot(lot, reason="Mycoplasma detected", signature=signed(), actor=staff.qa, now=utcnow())
    db.session.commit()
    assert lot.status == "rejected" and {d.status for d in lot.doses} == {"quarantined"}
    with pytest.raises(ReleaseBlocked) as blocked:
        services.release_lot(lot, signature=signed(), actor=staff.qa, now=utcnow())
    assert blocked.value.extra["blocking"][0] == "LOT_NOT_IN_QUARANTINE"


def test_every_state_change_has_its_audit_event_and_the_chain_verifies(staff):
    lot = released_lot(staff, doses=1)
    donor = lot.donor
    assert _actions("donors", donor.id) == ["donor.registered", "donor.eligible"]
    assert _actions("lots", lot.id) == ["lot.created", "lot.completed", "lot.released"]
    assert _actions("doses", lot.doses[0].id) == ["dose.prepared", "dose.bag_label_verified", "dose.available"]
    assert [s.meaning for s in signatures_for(donor)] == ["Eligibility determined"]
    assert verify_chain().ok


def test_results_are_locked_after_release(staff):
    lot = released_lot(staff)
    with pytest.raises(InvalidTransition):
        services.record_result(lot, test="sterility", value="growth", performed_on=utcnow().date(),
                               method=None, analyst=None, reason="late", actor=staff.lab, now=utcnow())


def test_new_spec_version_is_used_for_new_results(staff):
    now = utcnow()
    with pytest.raises(ReasonRequired):
        services.publish_spec({"viability_pct": {"min": 85}}, reason=None, actor=staff.qa, now=now)
    db.session.rollback()
    spec = services.publish_spec(services.current_spec(now=now).limits | {"viability_pct": {"min": 85}},
                                 reason="Change control CC-12", actor=staff.qa, now=now)
    db.session.commit()
    assert spec.version == 2
    lot = make_lot(staff, make_donor(staff), results=PASSING_VALUES | {"viability_pct": 82})
    result = next(r for r in lot.results if r.test == "viability_pct")
    assert result.spec_version == 2 and result.passed is False


def test_services_check_their_inputs_whatever_the_entry_point(staff):
    from cell_chain.core.errors import ValidationFailed

    now = utcnow()
    donor = make_donor(staff, determine=False)
    lot = make_lot(staff, donor, doses=0, complete=False)
    cases = [
        lambda: services.record_result(lot, test="colour", value="red", performed_on=now.date(), method=None,
                                       analyst=None, reason=None, actor=staff.lab, now=now),
        lambda: services.record_screening(donor, marker="hiv", result="non_reactive", tested_on=now.date(),
                                          reason="x", actor=staff.lab, now=now),
        lambda: services.record_screening(donor, marker="hbsag", result="negative", tested_on=now.date(),
                                          reason="x", actor=staff.lab, now=now),
        lambda: services.create_lot(donor=donor, lot_number="L-2", manufactured_on=now.date(), passage=2,
                                    presentation="frozen", actor=staff.lab, now=now),
        lambda: services.create_lot(donor=donor, lot_number="L-3", manufactured_on=now.date(), passage=-1,
                                    presentation="fresh", actor=staff.lab, now=now),
    ]
    for case in cases:
        with pytest.raises(ValidationFailed):
            case()
        db.session.rollback()


def test_reading_the_spec_writes_nothing(staff):
    from cell_chain.batches.models import ReleaseSpec

    spec = services.current_spec(now=utcnow())
    assert spec.version == 1 and db.session.scalar(select(ReleaseSpec)) is None
    make_lot(staff, make_donor(staff))  # the first result stores version 1
    assert db.session.scalar(select(ReleaseSpec.version)) == 1
