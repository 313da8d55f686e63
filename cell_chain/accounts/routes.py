"""API: tokens, the caller, sites and users."""
from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from sqlalchemy import select

from cell_chain.accounts import services
from cell_chain.accounts.models import Site, User
from cell_chain.accounts.permissions import require_actor, roles_required, scope_to_site, scoped_get_or_404
from cell_chain.accounts.roles import ALL_ROLES, Role
from cell_chain.accounts.schemas import (
    SiteIn,
    SiteOut,
    TokenOut,
    TokenRequest,
    UserCorrection,
    UserIn,
    UserOut,
)
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.schemas import PageArgs
from cell_chain.web.api import problems

blp = Blueprint("accounts_api", __name__, url_prefix="/api", description="Authentication, sites and users")


@blp.route("/auth/token")
class TokenResource(MethodView):
    @blp.doc(security=[])
    @blp.arguments(TokenRequest)
    @blp.response(200, TokenOut)
    @problems(blp, 401, 423)
    def post(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange a username and password for an expiring bearer token."""
        now = utcnow()
        user = services.authenticate(args["username"], args["password"], now=now)
        raw, token = services.issue_token(user, now=now)
        db.session.commit()
        return {"token": raw, "expires_at": token.expires_at, "user": user}


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
