"""Page helpers every package's pages share: reading a posted form into typed values with
one plain message per bad field, and the signed-action pattern (reason + password → service
→ commit, or roll back and say why → flash → redirect)."""
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from cell_chain.core.db import db
from cell_chain.core.errors import (
    AccountLocked,
    AuthFailure,
    DomainError,
    Forbidden,
    NotFound,
    ReasonRequired,
    Unauthenticated,
    ValidationFailed,
)
from cell_chain.core.messages import translated
from cell_chain.web.errors import count_auth_failure

T = TypeVar("T")
Errors = dict[str, list[str]]
WRONG_PASSWORD = _l("The password is wrong. Enter the password you log in with. "
                  "Repeated wrong passwords lock your account.")


class FormReader:
    """Turns posted strings into typed values, collecting one plain message per bad field."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self.data = data
        self.errors: Errors = {}

    def raw(self, name: str) -> str:
        return (self.data.get(name) or "").strip()

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str, *, required: str | None = None, max_length: int = 200) -> str | None:
        value = self.raw(name)
        if not value:
            if required:
                self.add(name, required)
            return None
        if len(value) > max_length:
            self.add(name, _('Use %(max_length)s characters or fewer.', max_length=max_length))
            return None
        return value

    def date(self, name: str, what: str) -> date | None:
        value = self.raw(name)
        if not value:
            self.add(name, _('Enter %(what)s.', what=what))
            return None
        try:
            return date.fromisoformat(value)
        except ValueError:
            self.add(name, _('Enter %(what)s as a real date, for example 2026-03-14.', what=what))
            return None

    def number(self, name: str, what: str, *, example: str, minimum: float = 0,
               maximum: float | None = None) -> float | None:
        value = self.raw(name)
        if not value:
            self.add(name, _('Enter %(what)s.', what=what))
            return None
        try:
            number = float(value)
        except ValueError:
            number = float("nan")
        if number != number or number in (float("inf"), float("-inf")):
            self.add(name, _('Enter %(what)s as a number, for example %(example)s.', what=what, example=example))
            return None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = (f"between {minimum:g} and {maximum:g}" if maximum is not None
                      else f"of {minimum:g} or more")
            self.add(name, _('Enter %(what)s %(bounds)s.', what=what, bounds=bounds))
            return None
        return number

    def whole_number(self, name: str, what: str, *, maximum: int) -> int | None:
        value = self.raw(name)
        if not value:
            self.add(name, _('Enter %(what)s.', what=what))
            return None
        if not value.isdigit() or int(value) > maximum:
            self.add(name, _('Enter %(what)s as a whole number from 0 to %(maximum)s.', what=what, maximum=maximum))
            return None
        return int(value)

    def choice(self, name: str, choices: Iterable[str], message: str) -> str | None:
        value = self.raw(name)
        if value not in set(choices):
            self.add(name, message)
            return None
        return value

    def password(self) -> str:
        value = self.data.get("password") or ""
        if not value:
            self.add("password", _('Enter your password to sign.'))
        return value


@dataclass
class Refused:
    """A service refused: what to show in the error summary and the page's status."""

    errors: Errors
    status: int


def commit_or_refuse(operation: Callable[[], T], *, fields: Iterable[str], anchor: str,
            explain: Callable[[DomainError], Errors | None] | None = None) -> T | Refused:
    """Run a service call and commit, or roll back and say why. Role, existence and login
    failures are not form errors: they propagate to the app's error pages."""
    try:
        outcome = operation()
        db.session.commit()
        return outcome
    except (Forbidden, NotFound, Unauthenticated):
        raise
    except AuthFailure as error:
        # The signed action is discarded; the wrong password still counts toward lock-out.
        count_auth_failure(error)
        return Refused({"password": [WRONG_PASSWORD]}, error.status)
    except DomainError as error:
        db.session.rollback()
        known = set(fields)
        errors: Errors = {}
        if explain and (explained := explain(error)):
            errors = explained
        elif isinstance(error, AccountLocked):
            errors = {"password": [_("%(refusal)s Ask an administrator if this is urgent.",
                                      refusal=translated(error.detail))]}
        elif isinstance(error, ValidationFailed):
            for name, messages in error.extra.get("errors", {}).items():
                target = name if name in known else ("password" if name.startswith("signature")
                                                      and "password" in known else anchor)
                # a service's constant message is in the catalogue (marked N_): the reader's words
                errors.setdefault(target, []).extend(translated(message) for message in messages)
        elif isinstance(error, ReasonRequired) and "reason" in known:
            errors = {"reason": [_("Give the reason for the change: existing data is corrected, "
                                   "never silently overwritten.")]}
        else:
            errors = {anchor: [translated(error.detail)]}
        return Refused(errors, error.status)


def signed_action(form: FormReader, operation: Callable[[], T], *, fields: Iterable[str], anchor: str,
                  explain: Callable[[DomainError], Errors | None] | None = None) -> T | Refused:
    """The signed action of a page: the form read (reason, password and whatever else the
    action asks), then the service called and committed. Either a missing field or the
    service's refusal comes back as Refused, for the page to show again with why (422 for
    the form); the caller flashes and redirects on success."""
    if form.errors:
        return Refused(form.errors, 422)
    return commit_or_refuse(operation, fields=fields, anchor=anchor, explain=explain)
