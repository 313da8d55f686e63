"""CLI commands and migrations on both databases."""
from sqlalchemy import inspect, select

from cell_chain.accounts.models import User
from cell_chain.core.db import db


def test_migrations_create_the_whole_schema_without_drift(app):
    from flask_migrate import check

    tables = set(inspect(db.engine).get_table_names())
    assert set(db.metadata.tables) <= tables
    check()  # raises when models and migrations differ


def test_create_user_command(app):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["seed-demo"]).exit_code == 0
    ok = runner.invoke(args=["create-user", "li", "--role", "qa", "--password", "long-enough-1",
                             "--name", "Li Qing"])
    assert ok.exit_code == 0, ok.output
    assert db.session.scalar(select(User).where(User.username == "li")).display_name == "Li Qing"
    duplicate = runner.invoke(args=["create-user", "li", "--role", "qa", "--password",
                                    "long-enough-1", "--name", "Li Qing"])
    assert duplicate.exit_code != 0 and "already exists" in duplicate.output
    bad_role = runner.invoke(args=["create-user", "x", "--role", "chef", "--password",
                                   "long-enough-1", "--name", "X"])
    assert bad_role.exit_code != 0
    no_site = runner.invoke(args=["create-user", "n", "--role", "nurse", "--password",
                                  "long-enough-1", "--name", "N"])
    assert no_site.exit_code != 0 and "site_code" in no_site.output


def test_seed_demo_loads_six_sites_and_a_user_per_role_once(app, client):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo", "--if-new"])
    assert first.exit_code == 0 and "demo-pass-2026" in first.output
    again = runner.invoke(args=["seed-demo", "--if-new"])
    assert again.exit_code == 0 and "not loaded" in again.output
    roles = {u.role for u in db.session.scalars(select(User))}
    assert roles == {"admin", "lab", "qa", "pharmacist", "nurse", "coordinator", "monitor"}
    token = client.post("/api/auth/token", json={"username": "lz-nurse", "password": "demo-pass-2026"})
    assert token.status_code == 200
    assert len(client.get("/api/sites", headers={"Authorization": "Bearer " + token.get_json()["token"]}).get_json()) == 1
    # A box is on its way to Shanghai: its pharmacist's home says so, with the link to receive it.
    from tests.conftest import login
    from tests.pages import page_text

    pharmacist = app.test_client()
    assert login(pharmacist, "sh-pharmacist", "demo-pass-2026").status_code == 302
    assert "SHP-SH-" in page_text(pharmacist.get("/"))
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
