"""Password hashing with argon2id, and the password policy (NIST SP 800-63B)."""
import gzip
from functools import lru_cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from flask import current_app, has_app_context

MIN_LENGTH = 12
MAX_LENGTH = 200
# The common and breached passwords refused, with its source: data/SOURCE.md.
COMMON_PASSWORDS = Path(__file__).resolve().parent / "data" / "common-passwords.txt.gz"
# Words anyone would guess for this system (SP 800-63B: "context-specific words").
_CONTEXT_WORDS = ("cell-chain", "cellchain", "cell chain", "uc-msc", "ucmsc")
# Runs along the digits, the alphabet and the keyboard ("repetitive or sequential characters").
_SEQUENCES = ("0123456789" * 30, "abcdefghijklmnopqrstuvwxyz" * 8, "qwertyuiopasdfghjklzxcvbnm" * 8,
              "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p" * 6)


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


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    with gzip.open(COMMON_PASSWORDS, "rt", encoding="utf-8") as lines:
        return frozenset(line.strip() for line in lines if line.strip())


def password_problems(password: str, *, username: str | None = None) -> list[str]:
    """Why a new password is refused (empty when it is acceptable). Length and a list of
    known passwords, no composition rules: any characters, spaces included, are allowed."""
    if not password.strip():
        return ["A password of spaces only is refused: choose a phrase you can remember."]
    if len(password) < MIN_LENGTH:
        return [f"Use at least {MIN_LENGTH} characters; a phrase of several words is easiest to remember."]
    if len(password) > MAX_LENGTH:
        return [f"Use at most {MAX_LENGTH} characters."]
    folded = password.strip().lower()
    if folded in common_passwords():
        return ["This password is on the list of common and breached passwords that attackers try first. "
                "Choose another."]
    if any(folded in run or folded in run[::-1] for run in _SEQUENCES):
        return ["A run of neighbouring keys, letters or digits is guessed at once. Choose another."]
    if len(set(folded)) < 3:
        return ["A password repeating one or two characters is guessed at once. Choose another."]
    squashed = folded.replace(" ", "").replace("-", "").replace("_", "").replace(".", "")
    if (username and username.lower() in folded) or any(word.replace("-", "").replace(" ", "") in squashed
                                                        for word in _CONTEXT_WORDS):
        return ["The password must not contain your username or this system's name. Choose another."]
    return []
