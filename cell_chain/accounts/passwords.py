"""Password hashing with argon2id."""
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context

MIN_LENGTH = 10


@lru_cache(maxsize=4)
def _hasher(params: tuple[tuple[str, int], ...]) -> PasswordHasher:
    return PasswordHasher(**dict(params))


def _current_hasher() -> PasswordHasher:
    # Deployments keep argon2's defaults; the test suite passes cheaper parameters, as
    # Django's test password hashers do, so thousands of logins stay fast.
    params = current_app.config.get("ARGON2_PARAMS", {}) if has_app_context() else {}
    return _hasher(tuple(sorted(params.items())))


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("cell-chain-timing-equaliser")


def hash_password(password: str) -> str:
    return _current_hasher().hash(password)


def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches; an unknown user (None) costs the same time and fails."""
    hasher = _current_hasher()
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters."]
    return []
