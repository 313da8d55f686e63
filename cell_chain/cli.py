"""`flask …` commands: users, demo data, audit verification."""
import sys

import click
from flask import Flask

from cell_chain.accounts import services
from cell_chain.accounts.models import user_count
from cell_chain.accounts.roles import Role
from cell_chain.core.audit_chain import head_seq, record_checkpoint, verify_full
from cell_chain.core.clock import utcnow
from cell_chain.core.db import db
from cell_chain.core.errors import DomainError, ValidationFailed


def _fail(message: str) -> None:
    db.session.rollback()
    click.echo(f"Error: {message}", err=True)
    sys.exit(1)


@click.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", required=True)
@click.option("--name", "display_name", required=True, help="Printed name used on signatures.")
@click.option("--site", "site_code", default=None, help="Site code (pharmacist, nurse, coordinator).")
def create_user_command(username: str, role: str, password: str, display_name: str,
                        site_code: str | None) -> None:
    """Create a user account."""
    try:
        services.create_user(username=username, display_name=display_name, role=role,
                             password=password, site_code=site_code, actor=None, now=utcnow())
    except ValidationFailed as error:
        _fail("; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.extra["errors"].items()))
    except DomainError as error:
        _fail(error.detail)
    db.session.commit()
    click.echo(f"Created {role} {username}.")


@click.command("seed-demo")
@click.option("--if-new", is_flag=True, help="Do nothing when the database already has users.")
def seed_demo_command(if_new: bool) -> None:
    """Load the demo sites and accounts (one per role and site)."""
    from cell_chain.demo import DEMO_PASSWORD, seed_demo

    if user_count():
        if if_new:
            click.echo("Database already has users: demo data not loaded.")
            return
        _fail("the database already has users; demo data goes into a new database only")
    accounts = seed_demo(utcnow())
    db.session.commit()
    click.echo(f"Demo data loaded. Every demo account's password is: {DEMO_PASSWORD}")
    for account in accounts:
        click.echo(f"  {account.username:<20} {account.role:<12} {account.site_code or ''}")


@click.group("audit")
def audit_group() -> None:
    """The audit trail."""


@audit_group.command("verify")
@click.option("--jobs", type=click.IntRange(1, 32), default=2, show_default=True,
              help="Ranges of the chain recomputed at the same time (PostgreSQL).")
def audit_verify_command(jobs: int) -> None:
    """Recompute the whole hash chain and record a checkpoint; exit 1 naming the first broken
    event. Run it from cron: pages and the API verify only what came after its checkpoint."""
    started = utcnow()
    with click.progressbar(length=max(head_seq(db.session), 1), label="Verifying the audit chain",
                           file=sys.stderr, show_pos=True) as bar:
        report = verify_full(jobs=jobs, progress=bar.update)
    if report.ok:
        report = record_checkpoint(report, started_at=started, now=utcnow())
    if report.ok:
        db.session.commit()
        click.echo(f"Audit chain intact: {report.events} events.")
        click.echo(f"Checkpoint recorded through event {report.through_seq} "
                   f"({(utcnow() - started).total_seconds():.1f} s).")
        return
    db.session.rollback()  # nothing to record (on SQLite the read holds the write lock)
    broken = report.first_broken or {}
    click.echo(f"Audit chain BROKEN at event seq {broken.get('seq')} (id {broken.get('id')}, "
               f"{broken.get('action')}): {broken.get('reason')}", err=True)
    sys.exit(1)


def register_cli(app: Flask) -> None:
    for command in (create_user_command, seed_demo_command, audit_group):
        app.cli.add_command(command)
