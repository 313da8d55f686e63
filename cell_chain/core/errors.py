"""Domain exceptions: each carries the stable `code` and HTTP status the API reports."""
from typing import Any

from cell_chain.core.messages import _l


class DomainError(Exception):
    """A refusal the user can act on. Routes turn it into problem+json; pages into a message."""

    status = 409
    code = "CONFLICT"
    title = "Conflict"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class ValidationFailed(DomainError):
    status, code, title = 422, "VALIDATION_ERROR", "The request has invalid fields"

    def __init__(self, errors: dict[str, list[str]], detail: str | None = None) -> None:
        super().__init__(detail or _l("Correct the fields listed in errors."), errors=errors)


class ReasonRequired(DomainError):
    status, code, title = 422, "REASON_REQUIRED", "A reason is required to correct existing data"


class NotFound(DomainError):
    status, code, title = 404, "NOT_FOUND", "Not found"


class Forbidden(DomainError):
    status, code, title = 403, "FORBIDDEN", "Your role does not allow this"


class InvalidTransition(DomainError):
    status, code, title = 409, "INVALID_TRANSITION", "Not allowed in the record's current state"


class AuthFailure(DomainError):
    """A wrong password. `user_id` lets the error handler count it toward lock-out
    after the request's own transaction has been rolled back."""

    status, code, title = 401, "INVALID_CREDENTIALS", "Username or password is wrong"

    def __init__(self, detail: str | None = None, *, user_id: int | None = None) -> None:
        super().__init__(detail)
        self.user_id = user_id
        # What the attempt was (sign_in, signature, witness), and for a sign-in the name typed
        # and the client it came from: the lock-out counts each kind differently.
        self.scope, self.username, self.client = "sign_in", "", None


class SignatureInvalid(AuthFailure):
    status, code, title = 401, "SIGNATURE_INVALID", "The signature password is wrong"


class AccountLocked(DomainError):
    status, code, title = 423, "ACCOUNT_LOCKED", "The account is locked after repeated failures"


class Unauthenticated(DomainError):
    status, code, title = 401, "UNAUTHENTICATED", "Log in or send a valid bearer token"
