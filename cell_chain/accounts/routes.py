"""API: tokens, the caller, sites and users."""
from typing import Any

from flask import g, request
from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from cell_chain.accounts import services
from cell_chain.accounts.lockout import clear_lockout, lockouts
from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site, scoped_get_or_404
from cell_chain.accounts.roles import ALL_ROLES, Role
from cell_chain.accounts.schemas import (
    LockoutOut,
    PasswordChange,
    PasswordChanged,
    PasswordSet,
    SiteIn,
    SiteOut,
    TokenOut,
    TokenRequest,
    UnlockIn,
    UserCorrection,
    UserIn,
    UserOut,
)
from cell_chain.accounts.sessions import bearer_token
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import Unauthenticated
from cell_chain.core.schemas import PageArgs
from cell_chain.web.api import problems
from cell_chain.core.messages import _l

blp = Blueprint("accounts_api", __name__, url_prefix="/api", description="Authentication, sites and users")


@blp.route("/auth/token")
class TokenResource(MethodView):
    @blp.doc(security=[])
    @blp.arguments(TokenRequest)
    @blp.response(200, TokenOut)
    @problems(blp, 401, 429)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange a username and password for an expiring bearer token. Unknown names,
        locked accounts and wrong passwords all answer 401; too many failures from one
        client for one name answer 429 with Retry-After."""
        now = utcnow()
        user = services.authenticate(args["username"], args["password"], now=now, client=request.remote_addr)
        raw, token = services.issue_token(user, now=now)
        db.session.commit()
        return {"token": raw, "expires_at": token.expires_at, "user": user}


@blp.route("/auth/logout")
class LogoutResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.response(204)
    @problems(blp, 401)
    def post(self) -> None:
        """Revoke the bearer token this request carries (API clients log out)."""
        raw = bearer_token()
        token = services.token_for(raw) if raw else None
        if token is None:
            raise Unauthenticated(_l("Log out with the bearer token to revoke."))
        services.revoke_token(token, now=utcnow())
        db.session.commit()


@blp.route("/me/password")
class MyPasswordResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.arguments(PasswordChange)
    @blp.response(200, PasswordChanged)
    @problems(blp, 401, 422, 429)
    def post(self, args: dict[str, Any]) -> dict[str, int]:
        """Change one's own password (the old one required). Every other token and session of
        the account ends; the one making the change stays."""
        raw = bearer_token()
        ended = services.change_password(
            require_actor(), old_password=args["old_password"], new_password=args["new_password"],
            now=utcnow(), keep_token=services.token_for(raw) if raw else None,
            keep_session=g.get("user_session"))
        db.session.commit()
        return {"credentials_ended": ended}


@blp.route("/lockouts")
class LockoutsResource(MethodView):
    @roles_required(Role.ADMIN)
    @blp.response(200, LockoutOut(many=True))
    @problems(blp, 401, 403)
    def get(self) -> list[dict[str, Any]]:
        """Accounts whose sign-in is locked and the password throttles in force (admin)."""
        return lockouts(now=utcnow())


@blp.route("/users/<username>/unlock")
class UnlockResource(MethodView):
    @roles_required(Role.ADMIN)
    @blp.arguments(UnlockIn)
    @blp.response(200, UserOut)
    @problems(blp, 401, 403, 404)
    def post(self, args: dict[str, Any], username: str) -> User:
        """Lift an account's lock and its password throttles (admin; audited with the reason)."""
        actor = require_actor()
        user = scoped_get_or_404(User, actor, User.username == username)
        clear_lockout(user, actor=actor, reason=args["reason"], now=utcnow())
        db.session.commit()
        return user


@blp.route("/users/<username>/password")
class UserPasswordResource(MethodView):
    @roles_required(Role.ADMIN)
    @blp.arguments(PasswordSet)
    @blp.response(204)
    @problems(blp, 401, 403, 404, 422)
    def put(self, args: dict[str, Any], username: str) -> None:
        """Set a user's password (admin, with a reason): the user must change it at the next
        sign-in, and their tokens and sessions end."""
        actor = require_actor()
        user = scoped_get_or_404(User, actor, User.username == username)
        services.set_password(user, password=args["password"], reason=args["reason"], actor=actor, now=utcnow())
        db.session.commit()


@blp.route("/me")
class MeResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.response(200, UserOut)
    @problems(blp, 401)
    def get(self) -> User:
        """The caller's own account."""
        return require_actor()


@blp.route("/sites")
class SitesResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, SiteOut(many=True))
    @problems(blp, 401)
    def get(self, page: dict[str, int]) -> list[Site]:
        """Sites the caller may see (site staff: their own)."""
        stmt = scope_to_site(select(Site), Site, require_actor()).order_by(Site.code)
        return list(db.session.scalars(stmt.limit(page["limit"]).offset(page["offset"])))

    @roles_required(Role.ADMIN)
    @blp.arguments(SiteIn)
    @blp.response(201, SiteOut)
    @problems(blp, 401, 403)
    def post(self, args: dict[str, Any]) -> Site:
        """Register a hospital site (admin)."""
        site = services.create_site(**args, actor=require_actor(), now=utcnow())
        db.session.commit()
        return site


@blp.route("/sites/<code>")
class SiteResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.response(200, SiteOut)
    @problems(blp, 401, 404)
    def get(self, code: str) -> Site:
        """One site; another site's record answers 404 to site staff."""
        return scoped_get_or_404(Site, require_actor(), Site.code == code)


@blp.route("/users")
class UsersResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.arguments(PageArgs, location="query")
    @blp.response(200, UserOut(many=True))
    @problems(blp, 401)
    def get(self, page: dict[str, int]) -> list[User]:
        """Users the caller may see (site staff: their own site's)."""
        stmt = scope_to_site(select(User), User, require_actor()).order_by(User.username)
        return list(db.session.scalars(stmt.limit(page["limit"]).offset(page["offset"])))

    @roles_required(Role.ADMIN)
    @blp.arguments(UserIn)
    @blp.response(201, UserOut)
    @problems(blp, 401, 403)
    def post(self, args: dict[str, Any]) -> User:
        """Create a user (admin). Site roles need site_code; the others must not have one."""
        user = services.create_user(
            username=args["username"], display_name=args["display_name"], role=args["role"],
            password=args["password"], site_code=args.get("site_code"),
            language=args.get("language"), time_zone=args.get("time_zone"),
            actor=require_actor(), now=utcnow(),
        )
        db.session.commit()
        return user


@blp.route("/users/<username>")
class UserResource(MethodView):
    @roles_required(*ALL_ROLES)
    @blp.response(200, UserOut)
    @problems(blp, 401, 404)
    def get(self, username: str) -> User:
        """One user; another site's user answers 404 to site staff."""
        return scoped_get_or_404(User, require_actor(), User.username == username)

    @roles_required(Role.ADMIN)
    @blp.arguments(UserCorrection)
    @blp.response(200, UserOut)
    @problems(blp, 401, 403, 404)
    def patch(self, args: dict[str, Any], username: str) -> User:
        """Correct a user's printed name or deactivate them (admin; `reason` required)."""
        actor = require_actor()
        user = scoped_get_or_404(User, actor, User.username == username)
        reason = args.pop("reason", None)
        services.correct_user(user, args, reason=reason, actor=actor, now=utcnow())
        db.session.commit()
        return user
