"""Configuration from the environment, with safe defaults for a single-machine install."""
import os
import re
import secrets
from pathlib import Path
from typing import Any

from cell_chain.core.clock import is_zone_name

_FIN = re.compile(r"^[A-NP-Z1-9][0-9]{4}$")


def _secret_key(instance: Path) -> str:
    """SECRET_KEY from the environment, else generated once into the instance folder."""
    if key := os.environ.get("SECRET_KEY"):
        return key
    path = instance / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def build_config(instance: Path, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    instance.mkdir(parents=True, exist_ok=True)
    overrides = overrides or {}
    database_url = overrides.get("SQLALCHEMY_DATABASE_URI") or os.environ.get(
        "DATABASE_URL", f"sqlite:///{instance / 'cell_chain.sqlite3'}"
    )
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    fin = os.environ.get("CELL_CHAIN_FACILITY_FIN", "A9999")
    if not _FIN.match(fin):
        raise RuntimeError(f"CELL_CHAIN_FACILITY_FIN {fin!r} is not an ISBT 128 facility number")
    facility_zone = os.environ.get("CELL_CHAIN_FACILITY_TIME_ZONE", "UTC")
    if not is_zone_name(facility_zone):
        raise RuntimeError(f"CELL_CHAIN_FACILITY_TIME_ZONE {facility_zone!r} is not an IANA time zone")
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if database_url.startswith("postgresql"):
        # The reports' plans cost enough to trigger JIT compilation, which then takes longer
        # (0.7 s at 100x the trial) than running the statement without it. A server-side
        # cursor here feeds a download or a verification that reads every row: plan for the
        # whole result, not for PostgreSQL's default first tenth (patients.csv at 100×:
        # 2.2 → 1.9 s).
        engine_options["connect_args"] = {"options": "-c jit=off -c cursor_tuple_fraction=1"}
    config: dict[str, Any] = {
        "SECRET_KEY": overrides.get("SECRET_KEY") or _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "FACILITY_FIN": fin,
        # The zone lab, QA and monitor staff (users without a site) read times in by default.
        "FACILITY_TIME_ZONE": facility_zone,
        "FACILITY_NAME": os.environ.get("CELL_CHAIN_FACILITY_NAME", "cell-chain GMP facility"),
        "PRODUCT_DESCRIPTION_CODE": os.environ.get("CELL_CHAIN_PRODUCT_CODE", "YA001"),
        "PRODUCT_NAME": "UC-MSC — Umbilical Cord Mesenchymal Stromal Cells",
        "CAUTION_STATEMENT": os.environ.get(
            "CELL_CHAIN_CAUTION",
            "Caution: New Drug — Limited by Federal (or United States) law to investigational use",
        ),
        "REPRINT_LIMIT": 2,
        # Events a page or `GET /api/audit/verify` recomputes after the last checkpoint.
        "AUDIT_VERIFY_MAX_EVENTS": int(os.environ.get("CELL_CHAIN_AUDIT_VERIFY_MAX_EVENTS", "20000")),
        "ZEBRA_PRINTER": os.environ.get("CELL_CHAIN_ZEBRA_PRINTER") or None,
        "FRESH_SHELF_LIFE_HOURS": 72,
        "CRYO_SHELF_LIFE_MONTHS": 24,
        "POST_THAW_HOURS": 4,
        "DOSE_CELLS": 4.0e7,
        "DOSE_CELLS_TOLERANCE_PCT": 10.0,
        "DOSE_VOLUME_ML": 40.0,
        "DOSE_VOLUME_TOLERANCE_ML": 2.0,
        "DOSE_MIN_VIABILITY_PCT": 80.0,
        "VISIT_WINDOW_DAYS": 14,
        # The bedside check must come within this many minutes before the infusion starts.
        "VERIFICATION_VALID_MINUTES": 10,
        # An infusion of 40 ml runs 20–40 minutes: outside these the nurse confirms the times.
        "INFUSION_MIN_MINUTES": 5,
        "INFUSION_MAX_MINUTES": 240,
        "DISPENSE_OVERDUE_MINUTES": 120,
        "EXCURSION_ALLOWANCE_MINUTES": 0,
        "MIN_DOSE_INTERVAL_DAYS": 60,
        "DO_NOT_SHIP_CUTOFF_HOURS": 24,
        "LOCKOUT_THRESHOLD": 5,
        "LOCKOUT_MINUTES": 15,
        # Per (username, client address): free wrong passwords, then waits of 1, 2, 4 … seconds.
        "THROTTLE_FREE_ATTEMPTS": 3,
        "THROTTLE_MAX_SECONDS": 300,
        # Reverse proxies in front of the app (1 behind one HTTPS proxy): their X-Forwarded-For
        # names the client, whose address the sign-in throttle counts.
        "TRUSTED_PROXIES": int(os.environ.get("CELL_CHAIN_TRUSTED_PROXIES", "0") or 0),
        "IDLE_TIMEOUT_MINUTES": 15,
        "TOKEN_HOURS": 8,
        "MAX_CONTENT_LENGTH": 5 * 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": os.environ.get("CELL_CHAIN_SECURE_COOKIES", "") == "1",
        "PERMANENT_SESSION_LIFETIME": 12 * 3600,
        "WTF_CSRF_CHECK_DEFAULT": False,  # checked in one place: cell_chain.security
        "WTF_CSRF_TIME_LIMIT": None,  # the session's own idle timeout bounds it
        "API_TITLE": "cell-chain",
        "API_VERSION": "1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api",
        "OPENAPI_JSON_PATH": "openapi.json",
        # Every operation needs a bearer token unless it says otherwise (the token exchange).
        "API_SPEC_OPTIONS": {
            "components": {"securitySchemes": {"bearerToken": {"type": "http", "scheme": "bearer"}}},
            "security": [{"bearerToken": []}],
        },
    }
    config.update(overrides)
    return config
