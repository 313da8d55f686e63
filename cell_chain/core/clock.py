"""The one source of "now" (rules take `now` as an argument, routes call `utcnow()`; tests
move the app's clock forward with `travel`, a 35-minute infusion without waiting for it), and
the one rule for reading a local wall-clock time as a UTC moment."""
import re
from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_ZONE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+){0,2}")
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


class LocalTimeError(ValueError):
    """A wall-clock time that names no moment (skipped by a daylight-saving change) or two
    moments (repeated by one) in a zone: the person must say which."""

    def __init__(self, kind: str, naive: datetime, zone: ZoneInfo) -> None:
        super().__init__(f"{naive:%Y-%m-%d %H:%M} is {kind} in {zone.key}")
        self.kind, self.naive, self.zone = kind, naive, zone


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`; ValueError when there is no such zone."""
    if not name or not _ZONE_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not an IANA time zone")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValueError(f"{name!r} is not an IANA time zone") from error


def is_zone_name(name: str) -> bool:
    try:
        zone_named(name)
    except ValueError:
        return False
    return True


def from_local(value: datetime, zone: ZoneInfo) -> datetime:
    """The UTC moment a wall clock in `zone` showed `value`. A value with an offset keeps it (the
    person said which moment). Raises LocalTimeError for a time skipped ("nonexistent") or
    repeated ("ambiguous") by a daylight-saving change."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    first, second = value.replace(tzinfo=zone, fold=0), value.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # In a gap fold=0 takes the offset before the change, fold=1 the one after; a time that
        # does not survive the round trip was never shown by the clock.
        if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != value:
            raise LocalTimeError("nonexistent", value, zone)
        raise LocalTimeError("ambiguous", value, zone)
    return first.astimezone(UTC)


def local_date(now: datetime, zone: tzinfo) -> date:
    """The calendar day a wall clock in `zone` shows at `now`. Visit windows are days of the
    site's calendar: at 01:00 on 4 Dec in Lanzhou it is 4 Dec there, though UTC is still 3 Dec."""
    return now.astimezone(zone).date()


def site_date(now: datetime, zone_name: str | None) -> date:
    """`local_date` on the calendar of the zone a site names (UTC when it names none)."""
    try:
        return local_date(now, zone_named(zone_name or "UTC"))
    except ValueError:
        return now.astimezone(UTC).date()


def zone_label(moment: datetime) -> str:
    """The zone a local moment is shown in: its abbreviation (`CST`, `CEST`, `UTC`) or, where the
    zone has none, its offset (`UTC+05:45`)."""
    name = moment.tzname() or ""
    if name.isalpha():
        return name
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"
