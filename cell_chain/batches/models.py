"""Donor, screening result, DIN sequence, release specification, lot, test result and dose."""
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.accounts.models import User
from cell_chain.core.db import UtcDateTime, db
from cell_chain.core.isbt128 import Din

MARKERS = ("hiv_1_2_ab", "hiv_nat", "hbsag", "anti_hbc", "hbv_nat", "hcv_ab", "hcv_nat",
           "htlv_1_2", "syphilis")
SCREENING_RESULTS = ("non_reactive", "reactive", "indeterminate")
DONOR_STATUSES = ("registered", "eligible", "ineligible")
LOT_STATUSES = ("in_process", "quarantine", "released", "rejected", "recalled")
PRESENTATIONS = ("fresh", "cryopreserved")
# Why a dose is quarantined, as the rules read it (the reason is for people).
QUARANTINE_CAUSES = ("recall", "lot_rejected", "seal_broken", "excursion", "other")
DOSE_STATUSES = ("prepared", "rejected", "available", "allocated", "packed", "in_transit",
                 "received", "dispensed", "administered", "destroyed", "returned", "quarantined")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Donor(db.Model):
    __tablename__ = "donors"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_code: Mapped[str] = mapped_column(String(32), unique=True)
    din: Mapped[str] = mapped_column(String(13), unique=True)
    collected_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(16), default="registered")
    registered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    registered_at: Mapped[datetime] = mapped_column(UtcDateTime())
    determined_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    # Loaded on demand; list pages ask for selectinload themselves (hot paths load lots
    # and doses without their results).
    results: Mapped[list["ScreeningResult"]] = relationship(
        back_populates="donor", order_by="ScreeningResult.marker")

    __table_args__ = (CheckConstraint(_in("status", DONOR_STATUSES), name="status_known"),)

    @property
    def din_structure(self) -> Din:
        return din_from_code(self.din)


def din_from_code(code: str) -> Din:
    return Din(facility=code[:5], year=int(code[5:7]), sequence=int(code[7:13]))


class ScreeningResult(db.Model):
    __tablename__ = "screening_results"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"))
    marker: Mapped[str] = mapped_column(String(16))
    result: Mapped[str] = mapped_column(String(16))
    tested_on: Mapped[date]
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())

    donor: Mapped[Donor] = relationship(back_populates="results")

    __table_args__ = (
        UniqueConstraint("donor_id", "marker"),
        CheckConstraint(_in("marker", MARKERS), name="marker_known"),
        CheckConstraint(_in("result", SCREENING_RESULTS), name="result_known"),
    )


class DinSequence(db.Model):
    """The last DIN sequence number issued per facility and year: DINs are never reused."""

    __tablename__ = "din_sequences"

    facility: Mapped[str] = mapped_column(String(5), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(default=0)


class ReleaseSpec(db.Model):
    """A version of the lot release specification; results are judged against it."""

    __tablename__ = "release_specs"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    limits_json: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    @property
    def limits(self) -> dict[str, dict[str, Any]]:
        return json.loads(self.limits_json)


class Lot(db.Model):
    __tablename__ = "lots"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_number: Mapped[str] = mapped_column(String(32), unique=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), index=True)
    din: Mapped[str] = mapped_column(String(13), unique=True)
    manufactured_on: Mapped[date]
    passage: Mapped[int]
    presentation: Mapped[str] = mapped_column(String(16))
    product_code: Mapped[str] = mapped_column(String(5))
    shelf_life_hours: Mapped[int | None]
    shelf_life_months: Mapped[int | None]
    post_thaw_hours: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(16), default="in_process")
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    status_reason: Mapped[str | None] = mapped_column(Text)

    donor: Mapped[Donor] = relationship(lazy="joined", innerjoin=True)
    results: Mapped[list["TestResult"]] = relationship(back_populates="lot", order_by="TestResult.id")
    doses: Mapped[list["Dose"]] = relationship(back_populates="lot", order_by="Dose.number")
    # Set by batches.visibility.show_to for site staff: the doses they may see (not a column).
    shown_doses = None  # type: list[Dose] | None

    __table_args__ = (
        CheckConstraint(_in("status", LOT_STATUSES), name="status_known"),
        CheckConstraint(_in("presentation", PRESENTATIONS), name="presentation_known"),
        CheckConstraint("passage >= 0", name="passage_not_negative"),
        CheckConstraint("(shelf_life_hours IS NULL) <> (shelf_life_months IS NULL)",
                        name="one_shelf_life"),
    )

    @property
    def storage(self) -> str:
        return "2-8C" if self.presentation == "fresh" else "cryo"

    @property
    def visible_doses(self) -> list["Dose"]:
        return self.doses if self.shown_doses is None else self.shown_doses

    @property
    def din_structure(self) -> Din:
        return din_from_code(self.din)


class TestResult(db.Model):
    __tablename__ = "test_results"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"))
    test: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(32))
    passed: Mapped[bool]
    spec_version: Mapped[int]
    performed_on: Mapped[date]
    method: Mapped[str | None] = mapped_column(String(200))
    analyst: Mapped[str | None] = mapped_column(String(200))
    entered_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    entered_at: Mapped[datetime] = mapped_column(UtcDateTime())

    lot: Mapped[Lot] = relationship(back_populates="results")
    entered_by: Mapped[User] = relationship(lazy="joined")

    __table_args__ = (UniqueConstraint("lot_id", "test"),)


class Dose(db.Model):
    __tablename__ = "doses"
    __audited__ = True
    # The optimistic-lock counter is bookkeeping, not GMP content.
    __audit_exclude__ = frozenset({"version"})

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    number: Mapped[int]
    division: Mapped[str] = mapped_column(String(2))
    cells: Mapped[float] = mapped_column(Float)
    volume_ml: Mapped[float] = mapped_column(Float)
    viability_pct: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    rejection_reasons: Mapped[str | None] = mapped_column(Text)
    prepared_at: Mapped[datetime] = mapped_column(UtcDateTime())
    prepared_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    bag_label_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    thawed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    status_before_quarantine: Mapped[str | None] = mapped_column(String(16))
    quarantine_reason: Mapped[str | None] = mapped_column(Text)
    quarantine_cause: Mapped[str | None] = mapped_column(String(16))
    # When it was set aside: an infusion that began before it is kept (and flagged), not refused.
    quarantined_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    version: Mapped[int] = mapped_column(default=1)

    lot: Mapped[Lot] = relationship(back_populates="doses", lazy="joined", innerjoin=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def accepted_at_fill(self) -> bool:
        """Within tolerance when filled; a dose rejected at fill is kept only for accountability."""
        return self.status != "rejected"
    __table_args__ = (
        UniqueConstraint("lot_id", "number"),
        CheckConstraint(_in("status", DOSE_STATUSES), name="status_known"),
        CheckConstraint("number > 0", name="number_positive"),
        CheckConstraint(_in("quarantine_cause", QUARANTINE_CAUSES), name="quarantine_cause_known"),
    )
