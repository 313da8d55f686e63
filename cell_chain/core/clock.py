"""The one source of "now": rules take `now` as an argument, routes call `utcnow()`."""
from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def ensure_utc(value: datetime) -> datetime:
    """Refuse naive datetimes: a time without an offset is ambiguous at six sites."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must carry a time zone offset")
    return value.astimezone(UTC)
