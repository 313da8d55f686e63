"""Electronic signatures (21 CFR Part 11): password re-entered at signing, a meaning, the
printed name and UTC time, bound to the signed record's content by a hash."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.accounts.lockout import WITNESS
from cell_chain.accounts.models import User
from cell_chain.accounts.passwords import password_matches
from cell_chain.accounts.services import confirm_password, user_by_username
from cell_chain.core import audit
from cell_chain.core.db import UtcDateTime, db
from cell_chain.core.errors import DomainError, SignatureInvalid, ValidationFailed
from cell_chain.core.records import content_hash, entity_id, entity_type
from cell_chain.web.words import N_
from cell_chain.core.messages import _l, state


class Meaning(StrEnum):
    APPROVED = "Approved"
    DETERMINED = "Eligibility determined"
    RELEASED = "Released"
    REJECTED = "Rejected"
    RECALLED = "Recalled"
    DISPATCHED = "Dispatched"
    RECEIVED = "Received"
    DISPOSITIONED = "Dispositioned"
    WITHDRAWN = "Withdrawn"
    DESTROYED = "Destroyed"
    RETURNED = "Returned"
    ADMINISTERED = "Administered"
    WITNESSED = "Witnessed"
    WAIVED = "Waived"
    CORRECTED = "Corrected"


# Each meaning is stored and printed in English (it is bound to the signed content); pages
# show it in the reader's language too.
MEANING_WORDS = (
    N_("Approved"), N_("Eligibility determined"), N_("Released"), N_("Rejected"), N_("Recalled"),
    N_("Dispatched"), N_("Received"), N_("Dispositioned"), N_("Withdrawn"), N_("Destroyed"), N_("Returned"),
    N_("Administered"), N_("Witnessed"))


class WitnessInvalid(DomainError):
    status, code, title = 422, "WITNESS_INVALID", "The witness cannot sign this record"


@dataclass(frozen=True)
class SignatureInput:
    password: str
    meaning: str


@dataclass(frozen=True)
class WitnessInput:
    username: str
    password: str


class Signature(db.Model):
    __tablename__ = "signatures"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(64))
    entity_id: Mapped[str] = mapped_column(String(64))
    signer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_name: Mapped[str] = mapped_column(String(200))
    meaning: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    content_hash: Mapped[str] = mapped_column(String(64))
    witness_for_id: Mapped[int | None] = mapped_column(ForeignKey("signatures.id"))

    signer: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (Index("ix_signatures_entity", "entity_type", "entity_id"),)

    def display(self) -> str:
        return f"{self.meaning} by {self.printed_name}, {self.signed_at:%Y-%m-%d %H:%M} UTC"


def _create(record: Any, signer: User, meaning: str, at: datetime,
            witness_for: Signature | None = None) -> Signature:
    db.session.flush()  # the hash binds the content as it will be committed
    signature = Signature(
        entity_type=entity_type(record), entity_id=entity_id(record), signer_id=signer.id,
        printed_name=signer.display_name, meaning=meaning, signed_at=at,
        content_hash=content_hash(record),
        witness_for_id=witness_for.id if witness_for else None,
    )
    audit.record_created(signature, "signature.created", actor=signer, at=at)
    return signature


def sign(record: Any, *, signer: User, given: SignatureInput, meaning: Meaning,
         at: datetime) -> Signature:
    """Sign `record` with the signer's re-entered password. Raises SignatureInvalid (counts
    toward lock-out), AccountLocked, ValidationFailed (a meaning other than the action's)."""
    if given.meaning and given.meaning != meaning.value:
        raise ValidationFailed({"signature.meaning": [_l("This action is signed as '%(meaning)s'.", meaning=meaning.value)]})
    confirm_password(signer, given.password, now=at)
    return _create(record, signer, meaning.value, at)


def witness(record: Any, *, given: WitnessInput, signer_signature: Signature,
            allowed_roles: Iterable[str], at: datetime) -> Signature:
    """A second, different, active person with a permitted role witnesses the signature.
    Raises WitnessInvalid, SignatureInvalid, AccountLocked."""
    user = user_by_username(given.username or "")
    if user is None or not user.active:
        password_matches(None, given.password or "")  # an unknown name costs what a known one does
        raise SignatureInvalid(N_("The witness's username or password is wrong."))
    if user.id == signer_signature.signer_id:
        raise WitnessInvalid(N_("The witness must be a different person from the signer."))
    if user.role not in set(allowed_roles):
        raise WitnessInvalid(_l("A %(role)s cannot witness this record.", role=state(user.role)))
    signer = db.session.get(User, signer_signature.signer_id)
    if user.site_id is not None and signer is not None and signer.site_id not in (None, user.site_id):
        raise WitnessInvalid(N_("The witness must work at the same site."))
    confirm_password(user, given.password, now=at, scope=WITNESS)
    return _create(record, user, Meaning.WITNESSED.value, at, witness_for=signer_signature)


def signatures_for(record: Any) -> list[Signature]:
    return list(db.session.scalars(
        select(Signature)
        .where(Signature.entity_type == entity_type(record),
               Signature.entity_id == entity_id(record))
        .order_by(Signature.signed_at, Signature.id)
    ))


def signature_matches_record(signature: Signature, record: Any) -> bool:
    """Whether the record still holds the content that was signed."""
    return signature.content_hash == content_hash(record)
