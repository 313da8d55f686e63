"""The audit trail: an event per change, old → new with reason, a verifiable hash chain that
the database refuses to edit."""
import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from cell_chain.accounts.models import User
from cell_chain.core.audit import AuditEvent, UnauditedChange
from cell_chain.core.audit_chain import verify_chain
from cell_chain.core.db import db
from tests.conftest import api_token, make_site, make_user


@pytest.fixture
def admin_headers(app, client):
    make_site("LZ")
    make_user("admin", "admin", name="Ada Admin")
    return api_token(client, "admin")


def _events(entity_type: str, entity_id: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(
        AuditEvent.entity_type == entity_type, AuditEvent.entity_id == entity_id
    ).order_by(AuditEvent.seq)))


def test_create_writes_an_event_with_every_field_but_secrets(client, admin_headers):
    response = client.post("/api/users", headers=admin_headers, json={
        "username": "lz-nurse", "display_name": "Nina", "role": "nurse", "site_code": "LZ",
        "password": "long-enough-1"})
    assert response.status_code == 201
    user = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    [event] = _events("users", str(user.id))
    changes = json.loads(event.changes)
    assert event.action == "user.created" and event.actor_username == "admin"
    assert changes["display_name"] == [None, "Nina"] and changes["role"] == [None, "nurse"]
    assert "password_hash" not in changes
    assert event.occurred_at.tzinfo is not None


def test_update_records_old_and_new_with_reason(client, admin_headers):
    make_user("lz-nurse", "nurse", "LZ", name="Nina")
    response = client.patch("/api/users/lz-nurse", headers=admin_headers,
                            json={"display_name": "Nina Wang", "reason": "Name misspelt at creation"})
    assert response.status_code == 200 and response.get_json()["display_name"] == "Nina Wang"
    user = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    created, corrected = _events("users", str(user.id))
    assert corrected.action == "user.corrected"
    assert json.loads(corrected.changes) == {"display_name": ["Nina", "Nina Wang"]}
    assert corrected.reason == "Name misspelt at creation"
    listed = client.get(f"/api/audit?entity_type=users&entity_id={user.id}", headers=admin_headers).get_json()
    assert [e["action"] for e in listed] == ["user.corrected", "user.created"]
    assert listed[0]["changes"] == {"display_name": ["Nina", "Nina Wang"]}


@pytest.mark.parametrize("reason", [None, "", "   "])
def test_update_without_reason_is_refused_and_changes_nothing(client, admin_headers, reason):
    make_user("lz-nurse", "nurse", "LZ", name="Nina")
    body = {"display_name": "Someone Else"} | ({} if reason is None else {"reason": reason})
    response = client.patch("/api/users/lz-nurse", headers=admin_headers, json=body)
    assert response.status_code == 422
    assert response.get_json()["code"] == "REASON_REQUIRED"
    db.session.expire_all()
    user = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    assert user.display_name == "Nina"
    assert len(_events("users", str(user.id))) == 1


def test_a_change_without_its_audit_event_cannot_commit(app):
    make_site("LZ")
    user = make_user("lz-nurse", "nurse", "LZ")
    user.display_name = "Changed behind the audit trail's back"
    with pytest.raises(UnauditedChange):
        db.session.commit()
    db.session.rollback()


def test_verify_passes_on_an_intact_chain(client, admin_headers):
    for n in range(3):
        make_user(f"user{n}", "lab")
    report = verify_chain()
    assert report.ok and report.events == 5 and report.first_broken is None
    body = client.get("/api/audit/verify", headers=admin_headers).get_json()
    assert body == {"ok": True, "events": 5, "first_broken": None, "complete": True,
                    "verified_through": 5, "checked": 5, "unverified": 0, "checkpoint": None}


def _tamper(sql: str, params: dict | None = None) -> None:
    """Raw SQL as a privileged database user would run it, bypassing the append-only guard."""
    with db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            conn.execute(text(sql), params or {})
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS audit_events_no_delete"))
            conn.execute(text(sql), params or {})


@pytest.fixture
def chain(app):
    make_site("LZ")
    for n in range(5):
        make_user(f"user{n}", "lab")
    assert verify_chain().ok  # 6 events: 1 site, 5 users
    db.session.commit()


def test_verify_names_an_edited_event(chain, client):
    _tamper("UPDATE audit_events SET changes = :c WHERE seq = 3", {"c": '{"role":[null,"qa"]}'})
    report = verify_chain()
    assert not report.ok
    assert report.first_broken["seq"] == 3 and "edited" in report.first_broken["reason"]


def test_verify_names_the_event_after_a_deleted_one(chain):
    _tamper("DELETE FROM audit_events WHERE seq = 4")
    report = verify_chain()
    assert not report.ok
    assert report.first_broken["seq"] == 5 and "missing" in report.first_broken["reason"]


def test_verify_detects_deletion_of_the_last_event_count(chain):
    _tamper("DELETE FROM audit_events WHERE seq = 6")
    # The tail is gone without a trace in the chain itself; the count shows it.
    assert verify_chain().events == 5


def test_verify_names_reordered_events(chain):
    _tamper("UPDATE audit_events SET seq = -2 WHERE seq = 2")
    _tamper("UPDATE audit_events SET seq = 2 WHERE seq = 3")
    _tamper("UPDATE audit_events SET seq = 3 WHERE seq = -2")
    report = verify_chain()
    assert not report.ok and report.first_broken["seq"] == 2


def test_verify_detects_a_rewritten_hash(chain):
    _tamper("UPDATE audit_events SET reason = 'x', hash = :h WHERE seq = 2", {"h": "f" * 64})
    report = verify_chain()
    assert not report.ok and report.first_broken["seq"] == 2


def test_cli_verify_exit_code_and_message(app, chain):
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["audit", "verify"])
    assert ok.exit_code == 0 and "intact: 6 events" in ok.output
    _tamper("UPDATE audit_events SET actor_username = 'mallory' WHERE seq = 4")
    broken = runner.invoke(args=["audit", "verify"])
    assert broken.exit_code == 1 and "BROKEN at event seq 4" in broken.output


@pytest.mark.parametrize("sql", ["UPDATE audit_events SET reason = 'edited' WHERE seq = 1",
                                 "DELETE FROM audit_events WHERE seq = 1"])
def test_database_refuses_update_and_delete_of_audit_events(chain, sql):
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text(sql))
    assert verify_chain().ok


@pytest.mark.parametrize("app", ["postgresql"], indirect=True)
def test_postgres_refuses_truncate_of_audit_events(chain):
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_events"))
