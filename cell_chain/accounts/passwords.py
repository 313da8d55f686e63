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

# argon2id at OWASP's minimum (Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1) rather
# than argon2-cffi's default (RFC 9106's low-memory profile, t = 3, m = 64 MiB, p = 4). Every
# infusion needs two password checks (the nurse's signature and the witness's) and every
# release, dispatch and receipt one more: at the default each check costs ~205 ms of CPU, so
# one core signs 2.4 infusions a second and a busy ward queues behind the hashing; at these
# parameters ~26 ms. Online guessing is already stopped by the lock-out after five failures,
# so the hash only has to make offline cracking of a stolen database expensive, which is
# what OWASP's floor is set for. p = 1 because requests run side by side: more lanes would
# only take cores from other requests. Stored hashes move to these parameters at the next
# successful login (`needs_rehash`).
PRODUCTION_PARAMS = {"time_cost": 2, "memory_cost": 19 * 1024, "parallelism": 1}


@lru_cache(maxsize=4)
def _hasher(params: tuple[tuple[str, int], ...]) -> PasswordHasher:
    return PasswordHasher(**dict(params))


def _current_hasher() -> PasswordHasher:
    # Deployments use PRODUCTION_PARAMS; the test suite passes cheaper parameters, as
    # Django's test password hashers do, so thousands of logins stay fast.
    params = current_app.config.get("ARGON2_PARAMS") if has_app_context() else None
    return _hasher(tuple(sorted((params or PRODUCTION_PARAMS).items())))


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


def needs_rehash(password_hash: str) -> bool:
    """Whether a stored hash was made with other parameters than the current ones."""
    try:
        return _current_hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


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
