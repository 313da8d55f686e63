"""The one source of "now": rules take `now` as an argument, routes call `utcnow()`. Tests
move the app's clock forward with `travel` (a 35-minute infusion without waiting for it)."""
from datetime import UTC, datetime, timedelta

_shift = timedelta(0)


def utcnow() -> datetime:
    return datetime.now(UTC) + _shift


def travel(by: timedelta) -> None:
    """Move the app's clock by `by` (tests only; production never calls it)."""
    global _shift
    _shift += by


def real_time() -> None:
    """Put the app's clock back on the real time."""
    global _shift
    _shift = timedelta(0)


def ensure_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: a time without an offset is ambiguous at six sites."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone offset")
    return value.astimezone(UTC)
