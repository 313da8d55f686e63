"""The one permission mechanism: a role check per endpoint and one site-scoping rule for
every query on site-owned data."""
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from flask import g
from sqlalchemy import Select, select

from cell_chain.accounts.models import User
from cell_chain.accounts.roles import Role
from cell_chain.core.db import db
from cell_chain.core.errors import Forbidden, NotFound, Unauthenticated
from cell_chain.core.messages import _l, state

F = TypeVar("F", bound=Callable[..., Any])
M = TypeVar("M")


def current_actor() -> User | None:
    return g.get("actor")


def require_actor() -> User:
    actor = current_actor()
    if actor is None:
        raise Unauthenticated()
    return actor


def require_role(actor: User, roles: Iterable[str]) -> None:
    if actor.role not in set(roles):
        raise Forbidden(_l("A %(role)s cannot do this.", role=state(actor.role)))


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Endpoint decorator: the caller is logged in and has one of `roles`."""
    allowed = frozenset(roles)

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            require_role(require_actor(), allowed)
            return view(*args, **kwargs)

        wrapper.allowed_roles = allowed  # type: ignore[attr-defined]  # read by the role matrix test
        return wrapper  # type: ignore[return-value]

    return decorate


def scope_to_site(stmt: Select[Any], model: Any, actor: User) -> Select[Any]:
    """Restrict a query on site-owned `model` to the actor's site (central roles see all)."""
    if actor.site_id is None:
        return stmt
    return stmt.where(model.site_id_column() == actor.site_id)


def scoped_get_or_404(model: type[M], actor: User, *criteria: Any) -> M:
    """One site-owned object the actor may see; another site's object answers 404 so its
    existence is not revealed."""
    obj = db.session.scalar(scope_to_site(select(model).where(*criteria), model, actor))
    if obj is None:
        raise NotFound(_l("No such %(record)s.", record=state(model.__name__.lower())))
    return obj


def require_admin(actor: User | None) -> None:
    # `None` is the CLI acting as the system operator on the server itself.
    if actor is not None and actor.role != Role.ADMIN:
        raise Forbidden(_l("Only an administrator manages sites and users."))
