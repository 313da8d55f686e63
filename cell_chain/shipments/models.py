"""Custody events, shipments and their items, temperature records and excursions."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.accounts.models import Site
from cell_chain.batches.models import Dose
from cell_chain.core.db import UtcDateTime, db

SHIPMENT_STATUSES = ("draft", "packed", "dispatched", "in_transit", "received", "partially_received", "closed")
STORAGE = ("2-8C", "cryo")
TERMINAL_CUSTODY = ("administer", "destroy")


class CustodyEvent(db.Model):
    """One physical hand-over of a dose. Append-only: the ledger is the custody chain."""

    __tablename__ = "custody_events"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"))
    kind: Mapped[str] = mapped_column(String(16))
    from_party: Mapped[str] = mapped_column(String(96))
    to_party: Mapped[str] = mapped_column(String(96))
    place: Mapped[str] = mapped_column(String(200))
    condition: Mapped[str] = mapped_column(String(200))
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id"))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime())
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))

    # The ledger in chain order per dose, covering what the custody rules read (kind and both
    # parties): the current custodian and the chain check over every dose are read from the
    # index alone, without a visit to the table per event.
    __table_args__ = (Index("ix_custody_events_dose", "dose_id", "occurred_at", "id", "kind", "from_party",
                            "to_party"),)


class Shipment(db.Model):
    __tablename__ = "shipments"
    __audited__ = True
    __audit_exclude__ = frozenset({"version"})

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(24), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    storage: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(20), default="draft")
    courier: Mapped[str | None] = mapped_column(String(200))
    logger_id: Mapped[str | None] = mapped_column(String(64))
    seal_intact: Mapped[bool | None]
    created_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    dispatched_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    received_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    version: Mapped[int] = mapped_column(default=1)

    site: Mapped[Site] = relationship(lazy="joined", innerjoin=True)
    # The doses in the box now: an item taken out before dispatch keeps its row, marked removed.
    items: Mapped[list["ShipmentItem"]] = relationship(
        back_populates="shipment", order_by="ShipmentItem.id", lazy="selectin",
        primaryjoin="and_(ShipmentItem.shipment_id == Shipment.id, ShipmentItem.removed_at.is_(None))")

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        CheckConstraint(f"status IN {SHIPMENT_STATUSES}", name="status_known"),
        CheckConstraint(f"storage IN {STORAGE}", name="storage_known"),
    )

    @classmethod
    def site_id_column(cls):  # noqa: ANN206 - SQL expression
        return cls.site_id


class ShipmentItem(db.Model):
    __tablename__ = "shipment_items"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"))
    dose_id: Mapped[int] = mapped_column(ForeignKey("doses.id"))
    packed_at: Mapped[datetime] = mapped_column(UtcDateTime())
    packed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    receipt: Mapped[str | None] = mapped_column(String(16))  # accepted | missing | quarantined
    # Taken out of the box before dispatch (a mis-packed dose): who, when and why.
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    removal_reason: Mapped[str | None] = mapped_column(Text)

    shipment: Mapped[Shipment] = relationship(back_populates="items")
    dose: Mapped[Dose] = relationship(lazy="joined", innerjoin=True)

    # A dose is in a box once at a time; taken out, it may be packed into it again.
    __table_args__ = (Index("uq_shipment_items_packed_dose", "shipment_id", "dose_id", unique=True,
                            sqlite_where=text("removed_at IS NULL"), postgresql_where=text("removed_at IS NULL")),)


class UnexpectedItem(db.Model):
    """A scan at receipt that named no dose of the shipment (a discrepancy to resolve)."""

    __tablename__ = "unexpected_items"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    payload: Mapped[str] = mapped_column(Text)
    dose_id: Mapped[int | None] = mapped_column(ForeignKey("doses.id"))
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class TemperatureRecord(db.Model):
    __tablename__ = "temperature_records"
    __audited__ = True
    # The audit event holds the readings' SHA-256, not a second copy of megabytes of readings.
    __audit_exclude__ = frozenset({"readings_json"})

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    source_format: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str | None] = mapped_column(String(200))
    readings_count: Mapped[int]
    readings_json: Mapped[str] = mapped_column(Text)
    readings_sha256: Mapped[str | None] = mapped_column(String(64))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    uploaded_at: Mapped[datetime] = mapped_column(UtcDateTime())


class Excursion(db.Model):
    __tablename__ = "excursions"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), index=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("temperature_records.id"))
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())
    minutes: Mapped[float]
    extreme_celsius: Mapped[float]
    status: Mapped[str] = mapped_column(String(12), default="open")  # open | accepted | rejected
    decision_reason: Mapped[str | None] = mapped_column(Text)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class TemperatureWaiver(db.Model):
    """QA's signed decision that a shipment's doses may be dispensed without its logger file
    (the logger was lost or failed); one per shipment."""

    __tablename__ = "temperature_waivers"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    waived_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    waived_at: Mapped[datetime] = mapped_column(UtcDateTime())
