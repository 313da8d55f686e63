"""A wrong password or signature counts toward the account's lock-out, even though the
request's own work is discarded."""
from cell_chain.accounts.services import register_auth_failure
from cell_chain.core.clock import utcnow
from cell_chain.core.errors import AuthFailure
from cell_chain.web.errors import on_auth_failure


def _count(error: AuthFailure) -> None:
    register_auth_failure(error, now=utcnow())


on_auth_failure(_count)
