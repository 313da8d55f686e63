"""A wrong password or signature counts toward the account's lock-out, even though the
request's own work is discarded."""
from cell_chain.accounts.services import register_failed_attempt
from cell_chain.core.clock import utcnow
from cell_chain.core.errors import AuthFailure
from cell_chain.web.errors import on_auth_failure


def _count(error: AuthFailure) -> None:
    if error.user_id is not None:
        register_failed_attempt(error.user_id, now=utcnow())


on_auth_failure(_count)
