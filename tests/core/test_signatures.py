"""E-signatures: password re-entry, meaning, witness, binding to content, lock-out."""
from typing import Any

import pytest
from flask import Flask, request
from sqlalchemy import select

from cell_chain.accounts.models import Site, User
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import SignatureInvalid
from cell_chain.accounts.signatures import (
    Meaning,
    Signature,
    SignatureInput,
    WitnessInput,
    WitnessInvalid,
    sign,
    signature_matches_record,
    signatures_for,
    witness,
)
from tests.conftest import PASSWORD, api_token, make_site, make_user


@pytest.fixture
def people(app):
    make_site("LZ")
    make_site("BJ")
    return {
        "nurse": make_user("lz-nurse", "nurse", "LZ", name="Nina Nurse"),
        "nurse2": make_user("lz-nurse2", "nurse", "LZ", name="Nora Nurse"),
        "bj": make_user("bj-nurse", "nurse", "BJ"),
        "pharmacist": make_user("lz-pharmacist", "pharmacist", "LZ"),
    }


def _site(code: str) -> Site:
    return db.session.scalar(select(Site).where(Site.code == code))


def test_sign_records_printed_name_meaning_time_and_content_hash(people):
    site, now = _site("LZ"), utcnow()
    signature = sign(site, signer=people["nurse"], given=SignatureInput(PASSWORD, "Approved"),
                     meaning=Meaning.APPROVED, at=now)
    db.session.commit()
    [stored] = signatures_for(site)
    assert stored.printed_name == "Nina Nurse" and stored.meaning == "Approved"
    assert stored.signed_at == now and stored.id == signature.id
    assert signature_matches_record(stored, site)
    assert stored.display().startswith("Approved by Nina Nurse, ")


def test_signature_binds_the_content_signed(people):
    site = _site("LZ")
    signature = sign(site, signer=people["nurse"], given=SignatureInput(PASSWORD, ""),
                     meaning=Meaning.APPROVED, at=utcnow())
    site.name = "Renamed"
    assert not signature_matches_record(signature, site)
    db.session.rollback()


def test_wrong_password_fails(people):
    with pytest.raises(SignatureInvalid):
        sign(_site("LZ"), signer=people["nurse"], given=SignatureInput("wrong-one", ""),
             meaning=Meaning.APPROVED, at=utcnow())


def test_meaning_must_be_the_actions(people):
    from cell_chain.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        sign(_site("LZ"), signer=people["nurse"], given=SignatureInput(PASSWORD, "Released"),
             meaning=Meaning.APPROVED, at=utcnow())


def test_witness_must_be_another_permitted_person_at_the_same_site(people):
    site, now = _site("LZ"), utcnow()
    signed = sign(site, signer=people["nurse"], given=SignatureInput(PASSWORD, ""),
                  meaning=Meaning.ADMINISTERED, at=now)
    with pytest.raises(WitnessInvalid, match="different person"):
        witness(site, given=WitnessInput("lz-nurse", PASSWORD), signer_signature=signed,
                allowed_roles={"nurse"}, at=now)
    with pytest.raises(WitnessInvalid, match="cannot witness"):
        witness(site, given=WitnessInput("lz-pharmacist", PASSWORD), signer_signature=signed,
                allowed_roles={"nurse"}, at=now)
    with pytest.raises(WitnessInvalid, match="same site"):
        witness(site, given=WitnessInput("bj-nurse", PASSWORD), signer_signature=signed,
                allowed_roles={"nurse"}, at=now)
    with pytest.raises(SignatureInvalid):
        witness(site, given=WitnessInput("lz-nurse2", "wrong-pass"), signer_signature=signed,
                allowed_roles={"nurse"}, at=now)
    witnessed = witness(site, given=WitnessInput("lz-nurse2", PASSWORD), signer_signature=signed,
                        allowed_roles={"nurse"}, at=now)
    db.session.commit()
    assert witnessed.meaning == "Witnessed" and witnessed.witness_for_id == signed.id
    assert [s.printed_name for s in signatures_for(site)] == ["Nina Nurse", "Nora Nurse"]


def _add_signing_endpoint(app: Flask) -> None:
    """A minimal signed action through the real error path: later issues' endpoints
    (release, dispatch, receipt, infusion) call `sign` the same way."""

    def signed_action() -> Any:
        from cell_chain.accounts.permissions import require_actor
        from cell_chain.core import audit

        actor = require_actor()
        site = _site("LZ")
        site.name = request.json["name"]
        audit.record_change(site, "site.renamed", actor=actor, at=utcnow(), reason="test")
        sign(site, signer=actor, given=SignatureInput(request.json["password"], ""),
             meaning=Meaning.APPROVED, at=utcnow())
        db.session.commit()
        return {"ok": True}

    app.add_url_rule("/api/test-signed-action", view_func=signed_action, methods=["POST"])


@pytest.mark.fresh_app
def test_wrong_signature_password_is_401_changes_nothing_and_is_counted_and_throttled(app, client, people):
    _add_signing_endpoint(app)
    headers = api_token(client, "lz-nurse")
    for attempt in range(3):
        response = client.post("/api/test-signed-action", headers=headers,
                               json={"name": "Hacked", "password": "wrong-password"})
        assert response.status_code == 401, attempt
        assert response.get_json()["code"] == "SIGNATURE_INVALID"
    throttled = client.post("/api/test-signed-action", headers=headers, json={"name": "Hacked", "password": PASSWORD})
    assert throttled.status_code == 429 and throttled.get_json()["code"] == "TOO_MANY_ATTEMPTS"
    assert int(throttled.headers["Retry-After"]) >= 1
    db.session.expire_all()
    assert _site("LZ").name == "LZ Hospital"
    assert db.session.scalar(select(Signature)) is None
    nurse = db.session.scalar(select(User).where(User.username == "lz-nurse"))
    assert nurse.failed_signatures == 3 and not nurse.is_locked(utcnow())
    # counted and throttled, but never a lock-out: the token and a fresh sign-in still work
    assert client.get("/api/me", headers=headers).status_code == 200
    assert client.post("/api/auth/token", json={"username": "lz-nurse", "password": PASSWORD}).status_code == 200


@pytest.mark.fresh_app
def test_right_signature_password_commits_action_signature_and_audit(app, client, people):
    _add_signing_endpoint(app)
    headers = api_token(client, "lz-nurse")
    response = client.post("/api/test-signed-action", headers=headers,
                           json={"name": "Renamed", "password": PASSWORD})
    assert response.status_code == 200
    db.session.expire_all()
    site = _site("LZ")
    assert site.name == "Renamed"
    [signature] = signatures_for(site)
    assert signature_matches_record(signature, site)
