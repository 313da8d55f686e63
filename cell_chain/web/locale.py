"""The reader's language and time zone. Pages follow the signed-in user's choice (else their
site's, else English and the facility's zone); the API stays in UTC and explains its codes in
the language of `Accept-Language`."""
from datetime import date, datetime
from zoneinfo import ZoneInfo

from typing import Any

from flask import Flask, current_app, g, has_request_context, request, session
from flask.json.provider import DefaultJSONProvider
from flask_babel import Babel, get_locale

from cell_chain.core import messages
from cell_chain.core.clock import local_date, utcnow, zone_named

LANGUAGES = ("en", "zh_Hans")
LANGUAGE_NAMES = {"en": "English", "zh_Hans": "中文"}
_UTC = ZoneInfo("UTC")

babel = Babel()


def _machine_request() -> bool:
    return request.path.startswith(("/api/", "/fhir/"))


def _accepted_language() -> str:
    """Accept-Language → en or zh_Hans (any Chinese tag reads Simplified Chinese)."""
    for tag, _quality in request.accept_languages:
        tag = tag.lower()
        if tag.startswith("zh"):
            return "zh_Hans"
        if tag.startswith("en"):
            return "en"
    return "en"


def select_language() -> str:
    if not has_request_context():
        return "en"
    if _machine_request():
        return _accepted_language()
    actor = g.get("actor")
    if actor is not None:
        return actor.reading_language
    chosen = session.get("language")
    return chosen if chosen in LANGUAGES else _accepted_language()


def facility_zone_name() -> str:
    return current_app.config.get("FACILITY_TIME_ZONE", "UTC")


def select_zone_name() -> str:
    if not has_request_context() or _machine_request():
        return "UTC"
    actor = g.get("actor")
    return actor.reading_zone(facility_zone_name()) if actor is not None else facility_zone_name()


def reader_zone() -> ZoneInfo:
    """The zone the current reader's pages show times in (UTC outside a page request)."""
    if not has_request_context():
        return _UTC
    if "reader_zone" not in g:
        try:
            g.reader_zone = zone_named(select_zone_name())
        except ValueError:
            g.reader_zone = _UTC
    return g.reader_zone


def reader_today(now: datetime | None = None) -> date:
    """Today on the reader's clock (the day their visit windows are read against)."""
    return local_date(now or utcnow(), reader_zone())


def reader_language() -> str:
    return str(get_locale() or "en") if has_request_context() else "en"


def is_chinese() -> bool:
    return reader_language().startswith("zh")


def local(moment: datetime) -> datetime:
    return moment.astimezone(reader_zone())


class _JsonProvider(DefaultJSONProvider):
    """JSON that writes a domain message as text in the reader's language."""

    @staticmethod
    def default(o: Any) -> Any:
        if isinstance(o, messages.Message):
            return str(o)
        return DefaultJSONProvider.default(o)


def init_app(app: Flask) -> None:
    app.json_provider_class = _JsonProvider
    app.json = _JsonProvider(app)
    messages.read_times_in(reader_zone)
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    babel.init_app(app, locale_selector=select_language, timezone_selector=select_zone_name)

    @app.context_processor
    def _reader() -> dict[str, object]:
        return {"reader_language": reader_language(), "language_names": LANGUAGE_NAMES,
                "reader_zone_name": reader_zone().key}
