"""The infusion record and every bedside verification."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column

from cell_chain.core.db import UtcDateTime, db


class Infusion(db.Model):
    """One administration of a dose to a patient at a visit. One per dose, ever."""

    __tablename__ = "infusions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"), unique=True)
    coi: Mapped[str] = mapped_column(String(13))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime] = mapped_column(UtcDateTime())
    volume_ml: Mapped[float]
    partial: Mapped[bool]
    # Why less than the full dose went in (required for a partial infusion).
    partial_reason: Mapped[str | None] = mapped_column(Text)
    # The nurse confirmed a duration outside the usual range (INFUSION_MIN/MAX_MINUTES).
    duration_confirmed: Mapped[bool] = mapped_column(default=False, server_default=false())
    tolerance_grade: Mapped[int]
    adverse_events: Mapped[str | None] = mapped_column(Text)
    serious: Mapped[bool]
    out_of_window: Mapped[bool]
    deviation_reason: Mapped[str | None] = mapped_column(Text)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    witness_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())
    # What happened after the infusion started (a recall, an excursion found later): the
    # record stands, and the patient is followed up (lookback).
    lookback_reason: Mapped[str | None] = mapped_column(Text)
    # The last correction (reason and signature in the audit trail, the original there too).
    corrected_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    @property
    def flagged_for_lookback(self) -> bool:
        return self.lookback_reason is not None

    @property
    def corrected(self) -> bool:
        return self.corrected_at is not None

    __table_args__ = (
        CheckConstraint("tolerance_grade BETWEEN 0 AND 4", name="grade_range"),
        CheckConstraint("volume_ml > 0", name="volume_positive"),
    )


class BedsideCheck(db.Model):
    """Every bedside verification, with its stops and warnings: countable, and the proof that
    this nurse scanned this patient and dose at the bedside shortly before recording."""

    __tablename__ = "bedside_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"))
    dose_id: Mapped[int | None] = mapped_column(ForeignKey("doses.id"))
    ok: Mapped[bool]
    stops: Mapped[str] = mapped_column(String(400))
    warnings: Mapped[str] = mapped_column(String(200))
    checked_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (Index("ix_bedside_checks_nurse", "nurse_id", "patient_id", "dose_id", "checked_at"),)


class InfusionDraft(db.Model):
    """The infusion form as the nurse has filled it so far, one per nurse and dose: it
    survives the end of her session. A working copy, never a record (no passwords in it);
    it goes when the infusion is recorded."""

    __tablename__ = "infusion_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    nurse_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"))
    patient_scan: Mapped[str] = mapped_column(String(512))
    dose_scan: Mapped[str] = mapped_column(String(512))
    fields_json: Mapped[str] = mapped_column(Text)
    saved_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (UniqueConstraint("nurse_id", "dose_id"),)
