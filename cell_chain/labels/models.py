"""Print jobs, the labels they printed, and print-then-scan verifications."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.core.db import UtcDateTime, db

LABEL_KINDS = ("bag", "assignment", "wristband", "shipment")
JOB_KINDS = ("dose", "lot", "assignment", "wristband", "shipment")
FORMATS = ("pdf", "zpl")


class PrintJob(db.Model):
    __tablename__ = "print_jobs"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(8))
    label_kind: Mapped[str] = mapped_column(String(16))
    template_version: Mapped[str] = mapped_column(String(16))
    copies: Mapped[int]
    is_reprint: Mapped[bool]
    reason: Mapped[str | None] = mapped_column(Text)
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    sent_to: Mapped[str | None] = mapped_column(String(128))
    printed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    printed_at: Mapped[datetime] = mapped_column(UtcDateTime())

    labels: Mapped[list["PrintedLabel"]] = relationship(back_populates="job", lazy="selectin")

    __table_args__ = (
        CheckConstraint(f"kind IN {JOB_KINDS}", name="kind_known"),
        CheckConstraint(f"format IN {FORMATS}", name="format_known"),
        CheckConstraint("copies > 0", name="copies_positive"),
    )


class PrintedLabel(db.Model):
    """One physical label: which subject, which print of it (1 = original), what it encodes."""

    __tablename__ = "printed_labels"

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("print_jobs.id"))
    label_kind: Mapped[str] = mapped_column(String(16))
    subject_key: Mapped[str] = mapped_column(String(64))
    dose_id: Mapped[int | None] = mapped_column(ForeignKey("doses.id"))
    print_number: Mapped[int]
    payloads: Mapped[str] = mapped_column(Text)

    job: Mapped[PrintJob] = relationship(back_populates="labels")

    __table_args__ = (Index("ix_printed_labels_subject", "label_kind", "subject_key"),)


class LabelVerification(db.Model):
    __tablename__ = "label_verifications"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"), index=True)
    label_kind: Mapped[str | None] = mapped_column(String(16))
    scanned: Mapped[str] = mapped_column(Text)
    matched: Mapped[bool]
    code: Mapped[str | None] = mapped_column(String(32))
    verified_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime())
