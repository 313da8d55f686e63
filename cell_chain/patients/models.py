"""Patient, visit, allocation and the per-site subject and COI sequences."""
from datetime import date, datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.accounts.models import Site
from cell_chain.batches.models import Dose
from cell_chain.core.db import UtcDateTime, db

ARMS = ("msc", "control")
PATIENT_STATUSES = ("active", "withdrawn")
# Stored visit states; upcoming, due, overdue and missed are computed from the date.
VISIT_RECORDED = ("open", "done", "done_out_of_window", "skipped")


class SubjectSequence(db.Model):
    """Subject numbers per site are never reused."""

    __tablename__ = "subject_sequences"

    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), primary_key=True)
    last_number: Mapped[int] = mapped_column(default=0)


class CoiSequence(db.Model):
    """Chain of Identity identifiers per facility and year are never reused."""

    __tablename__ = "coi_sequences"

    facility: Mapped[str] = mapped_column(String(5), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(default=0)


class Patient(db.Model):
    __tablename__ = "patients"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(16), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    arm: Mapped[str] = mapped_column(String(8))
    initials: Mapped[str] = mapped_column(String(4))
    birth_year: Mapped[int]
    enrolled_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(12), default="active")
    withdrawn_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    withdrawal_reason: Mapped[str | None] = mapped_column(Text)
    enrolled_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    site: Mapped[Site] = relationship(lazy="joined", innerjoin=True)
    visits: Mapped[list["Visit"]] = relationship(back_populates="patient", order_by="Visit.number",
                                                 lazy="selectin")

    __table_args__ = (
        CheckConstraint(f"arm IN {ARMS}", name="arm_known"),
        CheckConstraint(f"status IN {PATIENT_STATUSES}", name="status_known"),
    )

    @classmethod
    def site_id_column(cls):  # noqa: ANN206 - SQL expression
        return cls.site_id


class Visit(db.Model):
    __tablename__ = "visits"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    number: Mapped[int]
    target_date: Mapped[date]
    window_start: Mapped[date]
    window_end: Mapped[date]
    recorded: Mapped[str] = mapped_column(String(24), default="open")
    skip_reason: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="visits", lazy="joined", innerjoin=True)
    # Read-only view of the one active allocation, loaded with the visits of a patient list
    # so that listing patients costs the same few queries whatever their number.
    active_allocation: Mapped["Allocation | None"] = relationship(
        "Allocation", primaryjoin="and_(Allocation.visit_id == Visit.id, Allocation.active)",
        uselist=False, viewonly=True, lazy="selectin")

    __table_args__ = (
        UniqueConstraint("patient_id", "number"),
        CheckConstraint("number BETWEEN 1 AND 4", name="number_range"),
        CheckConstraint(f"recorded IN {VISIT_RECORDED}", name="recorded_known"),
    )


class Allocation(db.Model):
    """A dose assigned to a patient's visit, with its Chain of Identity identifier. Only one
    active allocation per dose and per visit (partial unique indexes back the service's lock)."""

    __tablename__ = "allocations"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("visits.id"))
    coi: Mapped[str] = mapped_column(String(13), unique=True)
    active: Mapped[bool] = mapped_column(default=True)
    allocated_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    allocated_at: Mapped[datetime] = mapped_column(UtcDateTime())
    assignment_label_verified_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    end_reason: Mapped[str | None] = mapped_column(Text)

    dose: Mapped[Dose] = relationship(lazy="joined", innerjoin=True)
    visit: Mapped[Visit] = relationship(lazy="joined", innerjoin=True)

    __table_args__ = (
        Index("uq_allocations_active_dose", "dose_id", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
        Index("uq_allocations_active_visit", "visit_id", unique=True,
              sqlite_where=text("active"), postgresql_where=text("active")),
    )
