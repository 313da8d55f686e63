"""cell-chain: chain of identity and custody for UC-MSC clinical-trial doses."""
from pathlib import Path
from typing import Any

from flask import Flask

from cell_chain.config import build_config


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Application factory. `overrides` replace configuration keys (tests use it)."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(build_config(Path(app.instance_path), overrides))

    from cell_chain import models  # noqa: F401  - every table known to Alembic and the ORM
    from cell_chain.core.db import db
    from cell_chain.web import session_store
    from cell_chain.web.extensions import api, csrf, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(_migrations_directory()),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    session_store.init_app(app)
    api.init_app(app)

    from cell_chain.accounts import failures  # noqa: F401  - counts wrong passwords
    from cell_chain.home import init_templates
    from cell_chain.security import init_security
    from cell_chain.web import identifiers, locale, words
    from cell_chain.web.errors import init_error_handlers

    init_security(app)
    init_error_handlers(app)
    locale.init_app(app)
    words.init_app(app)
    identifiers.init_app(app)
    init_templates(app)

    from cell_chain.accounts.routes import blp as accounts_api
    from cell_chain.audit_trail.routes import blp as audit_api
    from cell_chain.batches.routes import blp as batches_api
    from cell_chain.exchange.fhir_routes import blp as fhir_api
    from cell_chain.exchange.routes import blp as sdtm_api
    from cell_chain.infusions.bedside_routes import blp as infusions_api
    from cell_chain.labels.routes import blp as labels_api
    from cell_chain.patients.routes import blp as patients_api
    from cell_chain.reconciliation.routes import blp as reconciliation_api
    from cell_chain.reconciliation.trace_routes import blp as trace_api
    from cell_chain.shipments.routes import blp as shipments_api

    for blueprint in (accounts_api, audit_api, batches_api, labels_api, patients_api, shipments_api,
                      infusions_api, reconciliation_api, trace_api, fhir_api, sdtm_api):
        api.register_blueprint(blueprint)

    from cell_chain.accounts.views import bp as accounts_pages
    from cell_chain.audit_trail.views import bp as audit_pages
    from cell_chain.batches.views import bp as batches_pages
    from cell_chain.exchange.views import bp as exchange_pages
    from cell_chain.home import bp as home_pages
    from cell_chain.infusions.bedside_views import bp as bedside_pages
    from cell_chain.labels.views import bp as label_pages
    from cell_chain.patients.views import bp as patient_pages
    from cell_chain.reconciliation.dashboard_views import bp as monitor_pages
    from cell_chain.reconciliation.dose_views import bp as dose_pages
    from cell_chain.reconciliation.report_views import bp as reconciliation_reports
    from cell_chain.reconciliation.trace_views import bp as trace_pages
    from cell_chain.shipments.views import bp as shipment_pages

    for blueprint in (home_pages, batches_pages, accounts_pages, audit_pages, patient_pages, label_pages,
                      shipment_pages, bedside_pages, reconciliation_reports, trace_pages,
                      monitor_pages, exchange_pages, dose_pages):
        app.register_blueprint(blueprint)

    from cell_chain.web.busy_retry import init_busy_retry

    init_busy_retry(app)
    if proxies := app.config["TRUSTED_PROXIES"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    from cell_chain.cli import register_cli

    register_cli(app)
    return app


def _migrations_directory() -> Path:
    """Inside the package when installed from the wheel; beside it in a source checkout."""
    package = Path(__file__).resolve().parent
    shipped = package / "migrations"
    return shipped if (shipped / "env.py").is_file() else package.parent / "migrations"
