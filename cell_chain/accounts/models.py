"""Site, User, ApiToken and UserSession tables."""
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, func, select
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cell_chain.accounts.roles import SITE_ROLES, Role
from cell_chain.core.db import UtcDateTime, db

_SITE_ROLE_SQL = ", ".join(f"'{r.value}'" for r in sorted(SITE_ROLES))
_ROLE_SQL = ", ".join(f"'{r.value}'" for r in Role)
LANGUAGES = ("en", "zh_Hans")
_LANGUAGE_SQL = ", ".join(f"'{code}'" for code in LANGUAGES)


class Site(db.Model):
    __tablename__ = "sites"
    __audited__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    # The hospital's IANA zone and the language its staff read by default.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    __table_args__ = (CheckConstraint("code <> ''", name="code_not_empty"),
                      CheckConstraint(f"language IN ({_LANGUAGE_SQL})", name="language_known"))

    # A site is site-owned by itself: staff of one hospital cannot see another's record.
    @classmethod
    def site_id_column(cls):  # noqa: ANN206 - SQL expression
        return cls.id


class User(db.Model):
    __tablename__ = "users"
    __audited__ = True
    # Volatile login bookkeeping is not GMP data; it is audited only through lock events.
    __audit_exclude__ = frozenset(
        {"password_hash", "failed_logins", "locked_until", "last_login_at", "failed_signatures",
         "must_change_password"}
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Wrong passwords typed when signing or witnessing: counted and alerted, never a lock-out.
    failed_signatures: Mapped[int] = mapped_column(default=0, server_default="0")
    # A password an administrator set is changed by its owner at the next sign-in.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default="0")
    # The user's own choices; None follows the site (or, without a site, English and the
    # facility's zone).
    language: Mapped[str | None] = mapped_column(String(8))
    time_zone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())

    site: Mapped[Site | None] = relationship(lazy="joined")

    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_SQL})", name="role_known"),
        CheckConstraint(
            f"(role IN ({_SITE_ROLE_SQL})) = (site_id IS NOT NULL)", name="site_role_has_site"
        ),
        CheckConstraint(f"language IS NULL OR language IN ({_LANGUAGE_SQL})", name="language_known"),
    )

    @property
    def reading_language(self) -> str:
        """The language pages speak to this user: their own choice, else their site's."""
        return self.language or (self.site.language if self.site else "en")

    def reading_zone(self, facility_zone: str) -> str:
        """The zone this user reads times in: their own choice, else their site's, else the
        manufacturing facility's."""
        return self.time_zone or (self.site.time_zone if self.site else facility_zone)

    @property
    def site_code(self) -> str | None:
        return self.site.code if self.site else None

    @classmethod
    def site_id_column(cls):  # noqa: ANN206 - SQL expression
        return cls.site_id

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class UserSession(db.Model):
    """A signed-in browser. The cookie carries only this session's random id (stored hashed):
    logging out ends the session here, so a copy of the cookie is of no use afterwards."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The idle timeout is kept here, not in the cookie, which carries only the session's id.
    last_seen_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    user: Mapped[User] = relationship(lazy="joined")


def user_count() -> int:
    return db.session.scalar(select(func.count()).select_from(User)) or 0
