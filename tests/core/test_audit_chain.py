"""Audit chain verification at scale: set-based recomputation (in PostgreSQL and in Python),
checkpoints recorded with their own audit event, and the bounded verification pages and the
API run. Every tampering is found by the full and by the incremental verification, naming
the first broken event, on both databases."""
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cell_chain.core import audit
from cell_chain.core.audit import AuditEvent, BatchEvent, event_hash, record_batch
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.audit_chain import (
    CHECKPOINT_ACTION,
    AuditCheckpoint,
    record_checkpoint,
    verify_full,
    verify_recent,
)
from cell_chain.core.db import db
from tests.conftest import api_token, login, make_site, make_user

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)


def _tamper(*statements: tuple[str, dict] | str) -> None:
    """Raw SQL as a privileged database user would run it, past the append-only guards."""
    db.session.rollback()  # on SQLite the session's read transaction holds the write lock
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            for table in ("audit_events", "audit_checkpoints"):
                for verb in ("update", "delete"):
                    conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{verb}"))
        for statement in statements:
            sql, params = (statement, {}) if isinstance(statement, str) else statement
            conn.execute(text(sql), params)
    db.session.expire_all()


def _methods() -> list[str]:
    """Every way the full verification can recompute the chain on this database."""
    return ["sql", "python"] if db.engine.dialect.name == "postgresql" else ["python"]


def _full_results() -> list:
    # Ranges of three events, two at a time: the range boundaries fall inside the tampering.
    return [verify_full(method=method, chunk=3, jobs=2) for method in _methods()] + [verify_full()]


def _checkpoint(now: datetime = T0) -> AuditCheckpoint:
    result = record_checkpoint(verify_full(), started_at=now, now=now)
    assert result.ok, result.first_broken
    db.session.commit()
    return result.checkpoint


def _users(names: range, prefix: str = "user") -> None:
    for n in names:
        make_user(f"{prefix}{n}", "lab")


@pytest.fixture
def checkpointed(app):
    """Events 1–6 (a site, five users), the checkpoint's event 7, then events 8–12."""
    make_site("LZ")
    _users(range(5))
    checkpoint = _checkpoint()
    assert checkpoint.through_seq == 6
    _users(range(5, 10))
    return checkpoint


def _assert_found(seq: int, words: str) -> None:
    for result in _full_results():
        assert not result.ok
        assert result.first_broken["seq"] == seq, result.first_broken
        assert words in result.first_broken["reason"]
    recent = verify_recent(bound=100)
    assert not recent.ok and recent.verified_through is None
    assert recent.first_broken["seq"] == seq and words in recent.first_broken["reason"]


def test_an_intact_chain_verifies_every_way(checkpointed):
    for result in _full_results():
        assert result.ok and result.events == 12 and result.through_seq == 12
    recent = verify_recent(bound=100)
    assert recent.ok and recent.complete and recent.checked == 6  # the checkpoint's event on
    assert recent.verified_through == 12 and recent.checkpoint["through_seq"] == 6


def test_an_edited_event_is_named(checkpointed):
    _tamper(("UPDATE audit_events SET changes = :c WHERE seq = 9", {"c": '{"role":[null,"qa"]}'}))
    _assert_found(9, "edited")


def test_a_deleted_event_names_the_one_after_it(checkpointed):
    _tamper("DELETE FROM audit_events WHERE seq = 9")
    _assert_found(10, "sequence jumps from 8 to 10")


def test_an_inserted_event_is_found_even_with_a_correct_hash_of_its_own(checkpointed):
    eighth = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 8))
    forged = SimpleNamespace(seq=9, occurred_at=eighth.occurred_at, actor_username="mallory",
                             action="user.created", entity_type="users", entity_id="999",
                             changes='{"role":[null,"qa"]}', reason=None, prev_hash=eighth.hash)
    _tamper("UPDATE audit_events SET seq = seq + 1000000 WHERE seq >= 9",
            "UPDATE audit_events SET seq = seq - 1000000 + 1 WHERE seq > 1000000",
            ("INSERT INTO audit_events (seq, occurred_at, actor_username, action, entity_type, "
             "entity_id, changes, reason, prev_hash, hash) VALUES (:seq, :occurred_at, "
             ":actor_username, :action, :entity_type, :entity_id, :changes, :reason, :prev_hash, "
             ":hash)", vars(forged) | {"hash": event_hash(forged),
                                       "occurred_at": eighth.occurred_at.replace(tzinfo=None)}))
    _assert_found(10, "prev_hash does not match")


def test_two_swapped_events_are_found(checkpointed):
    _tamper("UPDATE audit_events SET seq = -9 WHERE seq = 9",
            "UPDATE audit_events SET seq = 9 WHERE seq = 10",
            "UPDATE audit_events SET seq = 10 WHERE seq = -9")
    _assert_found(9, "prev_hash does not match")


@pytest.mark.parametrize("change", ["through_hash = '" + "f" * 64 + "'", "through_seq = 10",
                                    "events = 600"])
def test_an_edited_checkpoint_is_found(checkpointed, change):
    _tamper(f"UPDATE audit_checkpoints SET {change} WHERE id = {checkpointed.id}")
    _assert_found(7, f"checkpoint {checkpointed.id} does not match its audit event")


def test_a_deleted_checkpoint_is_found_by_the_full_verification(checkpointed):
    _tamper(f"DELETE FROM audit_checkpoints WHERE id = {checkpointed.id}")
    for result in _full_results():
        assert not result.ok and result.first_broken["seq"] == 7
        assert "its row is gone" in result.first_broken["reason"]
    # Without the checkpoint the bounded verification starts again from the first event.
    recent = verify_recent(bound=100)
    assert recent.ok and recent.checkpoint is None and recent.checked == 12


def test_the_event_a_checkpoint_covers_cannot_be_rewritten_with_its_hash(checkpointed):
    _tamper(("UPDATE audit_events SET reason = 'x', hash = :h WHERE seq = 6", {"h": "e" * 64}))
    for result in _full_results():
        assert not result.ok and result.first_broken["seq"] == 6
    recent = verify_recent(bound=100)
    assert not recent.ok and recent.first_broken["seq"] == 6
    assert "after it was verified" in recent.first_broken["reason"]


def test_removing_the_events_after_a_checkpoint_is_found(checkpointed):
    _tamper("DELETE FROM audit_events WHERE seq >= 7")
    recent = verify_recent(bound=100)
    assert not recent.ok and recent.first_broken["seq"] == 7
    assert "has no audit event" in recent.first_broken["reason"]
    for result in _full_results():
        assert not result.ok and result.first_broken["seq"] == 7


def test_an_edit_before_the_checkpoint_is_left_to_the_full_verification(checkpointed):
    _tamper("UPDATE audit_events SET actor_username = 'mallory' WHERE seq = 3")
    for result in _full_results():
        assert not result.ok and result.first_broken["seq"] == 3
    assert verify_recent(bound=100).ok  # bounded: events 7–12 and the checkpoint only


def test_a_checkpoint_is_an_audited_record_right_after_what_it_covers(checkpointed):
    marker = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 7))
    assert marker.action == CHECKPOINT_ACTION and marker.entity_type == "audit_checkpoints"
    assert marker.entity_id == str(checkpointed.id)
    assert json.loads(marker.changes)["through_hash"] == [None, checkpointed.through_hash]
    sixth = db.session.scalar(select(AuditEvent).where(AuditEvent.seq == 6))
    assert checkpointed.through_hash == sixth.hash and checkpointed.events == 6


def test_a_checkpoint_covers_events_appended_while_the_chain_was_verified(checkpointed):
    result = verify_full()
    _users(range(20, 23), prefix="late")  # events 13–15 arrive after the pass read the head
    recorded = record_checkpoint(result, started_at=T0, now=T0 + timedelta(seconds=5))
    db.session.commit()
    assert recorded.ok and recorded.checkpoint.through_seq == 15 and recorded.events == 15
    assert verify_recent(bound=100).checked == 1


def test_a_late_edit_stops_the_checkpoint(checkpointed):
    result = verify_full()
    _users(range(20, 23), prefix="late")
    _tamper("UPDATE audit_events SET reason = 'late' WHERE seq = 14")
    recorded = record_checkpoint(result, started_at=T0, now=T0)
    assert not recorded.ok and recorded.first_broken["seq"] == 14
    db.session.rollback()
    assert db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.through_seq > 12)) is None


@pytest.mark.parametrize("sql", ["UPDATE audit_checkpoints SET through_seq = 1",
                                 "DELETE FROM audit_checkpoints"])
def test_database_refuses_to_change_a_checkpoint(checkpointed, sql):
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text(sql))


def test_batch_append_continues_the_same_chain(app):
    make_site("LZ")
    head = record_batch(BatchEvent("dose.scanned", "doses", str(n), {"n": n},
                                   at=T0 + timedelta(seconds=n)) for n in range(50))
    make_user("after-batch", "lab")
    db.session.commit()
    assert head == 51
    for result in _full_results():
        assert result.ok and result.events == 52


def test_hashes_recomputed_in_the_database_match_the_writer_on_awkward_content(app):
    """Quotes, backslashes, control characters, CJK, emoji, null and empty reasons, times with
    and without microseconds and given in another zone: the SQL form must equal json.dumps."""
    awkward = ['quote " and \\ backslash', "tab\tnew\nline\r\x01\x1f\x7f", "张三 李四 ✓ 🧬",
               "", "/slash/ <tag> &amp; 'single'", "\u2028\u2029 \ufeff"]
    zone = timezone(timedelta(hours=8))
    events = [BatchEvent(f"test.{n}", "doses", value, {"text": value, "n": n, "f": 1.5,
                                                        "nested": {"b": [1, None], "a": value}},
                         at=(T0 + timedelta(microseconds=n * 250_000)).astimezone(zone),
                         reason=value or None)
              for n, value in enumerate(awkward)]
    site = make_site("LZ")
    record_batch(events)
    for value in awkward:  # the one-event path too
        audit.record_event(site, "test.single", actor=None, at=T0, details={"v": value},
                           reason=value or None)
    db.session.commit()
    for result in _full_results():
        assert result.ok and result.events == 1 + 2 * len(awkward), result.first_broken
    _tamper("UPDATE audit_events SET reason = 'tab' WHERE seq = 3")
    for result in _full_results():
        assert not result.ok and result.first_broken["seq"] == 3


# ---- the bounded verification of the API and the page ----------------------------------

@pytest.fixture
def old_checkpoint(app, checkpointed):
    """A checkpoint through event 6, then events 8–17: ten events since, the bound is four."""
    _users(range(10, 15))
    app.config["AUDIT_VERIFY_MAX_EVENTS"] = 4
    make_user("auditor", "monitor")
    return checkpointed


def test_api_answers_within_its_bound_on_an_old_checkpoint(client, old_checkpoint):
    headers = api_token(client, "auditor")
    _tamper("UPDATE audit_events SET reason = 'beyond the bound' WHERE seq = 15")
    body = client.get("/api/audit/verify", headers=headers).get_json()
    assert body["ok"] is True and body["complete"] is False and body["first_broken"] is None
    assert body["checked"] == 4 and body["verified_through"] == 10
    assert body["unverified"] == body["events"] - 10 and body["events"] >= 18
    assert body["checkpoint"]["through_seq"] == 6
    assert body["checkpoint"]["through_hash"] == old_checkpoint.through_hash
    # The full verification is what reaches seq 15.
    assert verify_chain().first_broken["seq"] == 15


def test_api_names_a_broken_event_within_its_bound(client, old_checkpoint):
    headers = api_token(client, "auditor")
    _tamper("UPDATE audit_events SET reason = 'inside the bound' WHERE seq = 9")
    body = client.get("/api/audit/verify", headers=headers).get_json()
    assert body["ok"] is False and body["first_broken"]["seq"] == 9
    assert "edited" in body["first_broken"]["reason"]


def test_cli_records_a_checkpoint_and_the_api_starts_from_it(app, client, old_checkpoint):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["audit", "verify"])
    assert result.exit_code == 0, result.output
    head = db.session.scalar(select(AuditEvent.seq).order_by(AuditEvent.seq.desc()).limit(1))
    assert f"Checkpoint recorded through event {head - 1}" in result.output
    headers = api_token(client, "auditor")  # a login event and a token after the checkpoint
    body = client.get("/api/audit/verify", headers=headers).get_json()
    assert body["ok"] and body["complete"] and body["checkpoint"]["through_seq"] == head - 1
    assert body["checked"] == body["events"] - (head - 1)


def test_cli_records_no_checkpoint_on_a_broken_chain(app, checkpointed):
    _tamper("UPDATE audit_events SET actor_username = 'mallory' WHERE seq = 3")
    result = app.test_cli_runner().invoke(args=["audit", "verify", "--jobs", "1"])
    assert result.exit_code == 1 and "BROKEN at event seq 3" in result.output
    assert db.session.scalar(select(AuditCheckpoint).where(AuditCheckpoint.id != checkpointed.id)) is None


def test_audit_page_says_what_is_left_to_the_full_verification(client, old_checkpoint):
    assert login(client, "auditor").status_code == 302
    page = client.get("/audit").get_data(as_text=True)
    assert "Chain intact through event 10" in page and "verified in full through event 6" in page
    assert "flask audit verify" in page
    _tamper("UPDATE audit_events SET reason = 'x' WHERE seq = 8")
    page = client.get("/audit").get_data(as_text=True)
    assert "Chain broken at event 8" in page
