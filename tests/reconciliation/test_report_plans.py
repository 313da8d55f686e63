"""The reports' plans where they decide the cost at 100× the trial (benchmarks/reconciliation.py):
the custody ledger is read from its covering (dose, time, id, kind, parties) index alone, and
no statement of the patients report works out the outcome or schedule rule more than once per
visit. Asserted on each database's own EXPLAIN."""
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from sqlalchemy import event, select, text

from cell_chain.batches.models import Dose
from cell_chain.core.db import db
from cell_chain.reconciliation import rules
from cell_chain.reconciliation.patients import reconcile_patients
from cell_chain.reconciliation.scope import Scope

LEDGER_INDEX = "ix_custody_events_dose"


def _ledger_reads(stmt: Any, dialect: str) -> list[dict[str, Any]]:
    """Each read of custody_events in the plan of `stmt`: {'detail', 'covering'} (covering:
    from the ledger index alone, without visiting the table)."""
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if dialect == "sqlite":
        details = [row[-1] for row in db.session.execute(text(f"EXPLAIN QUERY PLAN {sql}"))]
        return [{"detail": d, "covering": f"USING COVERING INDEX {LEDGER_INDEX} " in f"{d} "}
                for d in details if re.match(r"(SCAN|SEARCH) custody_events(_\d+)?\b", d)]
    # Tiny tables: ask for the plan PostgreSQL chooses at scale, not a scan of a few pages.
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
    [[plan]] = db.session.execute(text(f"EXPLAIN (FORMAT JSON) {sql}")).all()
    found = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Relation Name") == "custody_events":
            found.append({"detail": f"{node['Node Type']} {node.get('Index Name')}",
                          "covering": node["Node Type"] == "Index Only Scan" and node.get("Index Name") == LEDGER_INDEX})
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    db.session.rollback()
    return found


def test_chain_check_reads_the_ledger_from_its_covering_index_alone(app, dialect):
    reads = _ledger_reads(rules.chain_breaks(), dialect)
    assert reads and all(r["covering"] for r in reads), reads
    if dialect == "sqlite":
        # The previous recipient is one probe of the index per event, not a window that
        # copies the whole ledger through a buffer.
        assert any(r["detail"].startswith("SEARCH") and "(dose_id=? AND occurred_at<?)" in r["detail"]
                   for r in reads), reads
        assert "OVER" not in str(rules.chain_breaks().compile(db.engine))


def test_current_custodian_is_a_probe_of_the_covering_index(app, dialect):
    reads = _ledger_reads(select(Dose.id, rules.custodian_sql(Dose.id)), dialect)
    assert reads and all(r["covering"] for r in reads), reads


@pytest.mark.parametrize("limit", [None, 50])
def test_the_patients_report_works_out_each_visits_outcome_once(app, limit):
    """Counting each outcome with its own conditional count repeats the whole outcome rule
    (and the schedule rule inside it) for every visit and every count: at 100× the trial that
    was most of the report's time. The whole report reads the visits once (its totals are
    added up from the rows it reads anyway); a page reads its rows and the totals."""
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        reconcile_patients(Scope(), now=datetime.now(UTC), limit=limit)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    visits = [s for s in statements if "following_visit" in s]
    assert len(visits) == (1 if limit is None else 2), statements
    for statement in visits:
        columns = statement.split("\nFROM ")[0]  # (the totals group by the outcome: it is named again there)
        assert columns.count("WHEN infusions.partial THEN") == 1, statement  # the outcome rule
        # the schedule rule: the state column, and once inside the outcome
        assert columns.count("following_visit.window_start <=") <= 2, statement
