"""The chain of custody: an append-only ledger of hand-overs per dose, and the check that
each event's from equals the previous event's to with nothing after a terminal event.
Nothing else moves a dose between custodians."""
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from sqlalchemy import select

from cell_chain.accounts.models import User
from cell_chain.batches.models import Dose
from cell_chain.core import audit
from cell_chain.core.db import db
from cell_chain.shipments.models import TERMINAL_CUSTODY, CustodyEvent
from cell_chain.shipments.parties import Party


def lab_party() -> str:
    return str(Party.lab(current_app.config["FACILITY_FIN"]))


def site_party(site_code: str) -> str:
    return str(Party.pharmacy(site_code))


def ward_party(site_code: str, nurse: str) -> str:
    return str(Party.ward(site_code, nurse))


def courier_party(name: str) -> str:
    return str(Party.courier(name))


def events_of(dose_ids: Iterable[int]) -> dict[int, list[CustodyEvent]]:
    """Custody events per dose, in time order, in one query."""
    ids = list(dose_ids)
    chains: dict[int, list[CustodyEvent]] = {i: [] for i in ids}
    if ids:
        stmt = (select(CustodyEvent).where(CustodyEvent.dose_id.in_(ids))
                .order_by(CustodyEvent.dose_id, CustodyEvent.occurred_at, CustodyEvent.id))
        for event in db.session.scalars(stmt):
            chains[event.dose_id].append(event)
    return chains


def current_custodian(dose: Dose) -> str:
    """Who holds the dose now: the last hand-over's recipient (the lab before any)."""
    holder = db.session.scalar(select(CustodyEvent.to_party).where(CustodyEvent.dose_id == dose.id)
                               .order_by(CustodyEvent.occurred_at.desc(), CustodyEvent.id.desc()).limit(1))
    return holder or lab_party()


@dataclass(frozen=True)
class ChainCheck:
    unbroken: bool
    breaks: list[dict[str, object]]


def check_chain(events: list[CustodyEvent], origin: str) -> ChainCheck:
    """Pure: each event hands over from whoever held the dose; nothing follows the end."""
    breaks: list[dict[str, object]] = []
    holder, ended = origin, False
    for event in events:
        if ended:
            breaks.append({"event_id": event.id, "reason": "event after the dose's final event"})
        elif event.from_party != holder:
            breaks.append({"event_id": event.id,
                           "reason": f"handed over by {event.from_party} but held by {holder}"})
        holder, ended = event.to_party, ended or event.kind in TERMINAL_CUSTODY
    return ChainCheck(not breaks, breaks)


def record_handover(dose: Dose, *, kind: str, to_party: str, place: str, actor: User, now: datetime,
                    condition: str = "intact", from_party: str | None = None,
                    shipment_id: int | None = None) -> CustodyEvent:
    """Append one hand-over. `from_party` defaults to the current custodian; a different one
    is recorded as stated and shows up as a break."""
    event = CustodyEvent(dose_id=dose.id, kind=kind, from_party=from_party or current_custodian(dose),
                         to_party=to_party, place=place, condition=condition, shipment_id=shipment_id,
                         occurred_at=now, recorded_by_id=actor.id)
    audit.record_created(event, f"custody.{kind}", actor=actor, at=now)
    return event


def custody_view(dose: Dose) -> tuple[list[dict[str, object]], bool]:
    events = events_of([dose.id])[dose.id]
    check = check_chain(events, lab_party())
    broken = {b["event_id"] for b in check.breaks}
    return ([{"kind": e.kind, "from": e.from_party, "to": e.to_party, "place": e.place,
              "condition": e.condition, "at": e.occurred_at.isoformat(), "flagged": e.id in broken}
             for e in events], check.unbroken)


def _dose_view(dose: Dose, view: dict[str, object]) -> None:
    view["custody"], view["custody_unbroken"] = custody_view(dose)


from cell_chain.labels.dose_view import register_dose_view  # noqa: E402

register_dose_view(_dose_view)
