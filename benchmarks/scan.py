"""Scan cost follows the number of due items, not the number of open ones or of plans.

Why: issue 13 sets the budget: with 100 items due among 1,000,000 open obligations one scan
pass takes under 50 ms, because each due item's writes go out in bulk (one statement per
table per batch) and nothing in a pass reads every plan: the 18/24-month milestone check,
which does, runs once a day (the first pass from opening time claims the day).
The filler rows are generated inside the database (recursive CTE / generate_series), so a
million rows take well under a minute to build; 50,000 open plans old enough for their
18/24-month flags sit beside them. The 100 due items are real 9-month reviews with plans and
chairs, so each scan loads records and the org, decides, enqueues and audits. Every timed
scan runs in a transaction that is rolled back, so the runs are comparable; the day's
milestone check has run (committed) before them, and is timed on its own.

Run:  python benchmarks/scan.py [--sizes 10000 1000000] [--due 100] [--plans 50000] [--pg URL]
Exit status 1 when a budget is missed. Figures: benchmarks/RESULTS.md (python -m benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, insert, text
from sqlmodel import Session

from models.daily import claim_day
from models.db import make_engine, upgrade
from models.tables import Obligation, Plan, Staff
from models.vocabulary import PLAN_REVIEW
from scheduler.policy import Policy
from scheduler.scan import MILESTONES, scan_pass
from scheduler.sync import ensure_milestones

logger = logging.getLogger(__name__)

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday, inside working hours
REPEATS = 9
BUDGET_SECONDS = 0.050

_SQLITE_FILLER = """
WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n)
INSERT INTO obligation (kind, subject_id, case_ref, owner_id, due_at, status, stage,
                        stage_due_at, next_action_at, version, created_at, updated_at)
SELECT 'rcpc_report', 'F' || x, 'CPF-' || x, 'SWF' || (x % 500),
       strftime('%Y-%m-%d %H:%M:%f000', '2027-01-04 18:00:00', '+' || (x % 20000) || ' minutes'),
       'open', 0,
       strftime('%Y-%m-%d %H:%M:%f000', '2027-01-04 18:00:00', '+' || (x % 20000) || ' minutes'),
       strftime('%Y-%m-%d %H:%M:%f000', '2027-01-01 08:00:00', '+' || (x % 20000) || ' minutes'),
       0, '2026-11-01 12:00:00.000000', '2026-11-01 12:00:00.000000'
FROM seq
"""

_PG_FILLER = """
INSERT INTO obligation (kind, subject_id, case_ref, owner_id, due_at, status, stage,
                        stage_due_at, next_action_at, version, created_at, updated_at)
SELECT 'rcpc_report', 'F' || x, 'CPF-' || x, 'SWF' || (x % 500),
       timestamptz '2027-01-04 18:00:00+00' + (x % 20000) * interval '1 minute',
       'open', 0,
       timestamptz '2027-01-04 18:00:00+00' + (x % 20000) * interval '1 minute',
       timestamptz '2027-01-01 08:00:00+00' + (x % 20000) * interval '1 minute',
       0, timestamptz '2026-11-01 12:00:00+00', timestamptz '2026-11-01 12:00:00+00'
FROM generate_series(1, :n) AS x
"""

# Open plans started 1 to 900 days before 1 Dec 2026: a third are past 18 months.
_SQLITE_PLANS = """
WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < :n)
INSERT INTO plan (case_ref, social_worker_id, chair_id, plan_start)
SELECT 'PF-' || x, 'SWF' || (x % 500), 'IRO' || (x % 10),
       date('2026-12-01', '-' || (1 + x % 900) || ' days')
FROM seq
"""

_PG_PLANS = """
INSERT INTO plan (case_ref, social_worker_id, chair_id, plan_start)
SELECT 'PF-' || x, 'SWF' || (x % 500), 'IRO' || (x % 10), date '2026-12-01' - (1 + x % 900)
FROM generate_series(1, :n) AS x
"""


@dataclass
class ScanFigures:
    """What one database size gave."""

    backend: str
    open_rows: int
    plans: int
    due: int
    median: float
    best: float
    milestone_check: float  # the once-a-day pass of the 18/24-month check, on its own
    built_in: float


def build(engine: Engine, policy: Policy, open_rows: int, due: int, plans: int) -> None:
    """`open_rows` open obligations of which `due` are due at NOW, `plans` old open plans,
    their flags as the daily check leaves them, and today's check done."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        conn.execute(text(_PG_FILLER if postgres else _SQLITE_FILLER), {"n": open_rows - due})
        if plans:
            conn.execute(text(_PG_PLANS if postgres else _SQLITE_PLANS), {"n": plans})
        conn.execute(insert(Staff.__table__), [  # type: ignore[attr-defined]
            {"staff_id": "SGM", "name": "Safeguarding Lead", "role": "safeguarding_manager",
             "manager_id": None, "team": "IRO", "active": True, "reachable": True},
            *({"staff_id": f"IRO{i}", "name": f"Reviewer {i}", "role": "iro",
               "manager_id": "SGM", "team": "IRO", "active": True, "reachable": True}
              for i in range(10)),
        ])  # fmt: skip
        conn.execute(insert(Plan.__table__), [  # type: ignore[attr-defined]
            {"case_ref": f"CP-{i}", "social_worker_id": f"SW{i}", "chair_id": f"IRO{i % 10}",
             "plan_start": date(2026, 3, 2), "plan_end": None, "category": None}
            for i in range(due)
        ])  # fmt: skip
        due_at = NOW - timedelta(hours=2)
        conn.execute(insert(Obligation.__table__), [  # type: ignore[attr-defined]
            {"kind": PLAN_REVIEW, "subject_id": f"CP-{i}", "case_ref": f"CP-{i}",
             "owner_id": f"IRO{i % 10}", "due_at": due_at, "status": "open", "stage": 0,
             "stage_due_at": NOW + timedelta(days=7), "next_action_at": due_at - timedelta(
                 seconds=i), "version": 0, "created_at": due_at, "updated_at": due_at}
            for i in range(due)
        ])  # fmt: skip
    with Session(engine) as session:  # the flags as earlier days' checks left them
        ensure_milestones(session, policy, now=NOW)
        claim_day(session, MILESTONES, policy.calendar().local(NOW).date())
        session.commit()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))


def time_scan(engine: Engine, policy: Policy, due: int) -> tuple[float, float]:
    """(median, best) wall time of one scan pass, each rolled back so all see the same rows."""
    runs = []
    for attempt in range(REPEATS + 1):
        with Session(engine) as session:
            start = time.perf_counter()
            result = scan_pass(session, policy, now=NOW)
            elapsed = time.perf_counter() - start
            session.rollback()
        if result.examined != due or result.queued != due or result.milestones:
            raise SystemExit(f"scan did not see the due items, or redid the day's check: {result}")
        if attempt:  # the first run warms caches (holiday tables, compiled statements)
            runs.append(elapsed)
    return statistics.median(runs), min(runs)


def time_milestone_check(engine: Engine, policy: Policy) -> float:
    """The daily 18/24-month check on its own (rolled back): what every pass used to pay."""
    runs = []
    for _ in range(3):
        with Session(engine) as session:
            start = time.perf_counter()
            ensure_milestones(session, policy, now=NOW)
            runs.append(time.perf_counter() - start)
            session.rollback()
    return min(runs)


@contextmanager
def fresh_engine(pg_url: str | None, directory: Path, size: int) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    if pg_url is None:
        engine = make_engine(f"sqlite:///{directory / f'scan-{size}.db'}")
        upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(pg_url, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, schema=schema)
    try:
        upgrade(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def measure(
    sizes: list[int], due: int = 100, plans: int = 50_000, pg_url: str | None = None
) -> list[ScanFigures]:
    """Build each size, time the scan and the daily check; SQLite, or PostgreSQL if given."""
    policy = Policy()
    out = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp, fresh_engine(pg_url, Path(tmp), size) as engine:
            start = time.perf_counter()
            build(engine, policy, size, due, plans)
            built = time.perf_counter() - start
            median, best = time_scan(engine, policy, due)
            check = time_milestone_check(engine, policy)
            out.append(ScanFigures(engine.dialect.name, size, plans, due, median, best, check,
                                   built))  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    """Build each size, time the scan, print the figures and the budget verdict."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--plans", type=int, default=50_000)
    parser.add_argument("--pg", metavar="URL", help="also run on this PostgreSQL database")
    args = parser.parse_args(argv)
    ok = True
    for pg_url in [None, *([args.pg] if args.pg else [])]:
        for f in measure(args.sizes, args.due, args.plans, pg_url):
            within = f.median < BUDGET_SECONDS
            ok = ok and within
            print(f"{f.backend:10} {f.open_rows:>9,} open, {f.plans:,} plans, {f.due} due: scan "
                  f"median {f.median * 1000:.1f} ms, best {f.best * 1000:.1f} ms "
                  f"({'met' if within else 'MISSED'}: < {BUDGET_SECONDS * 1000:g} ms); daily "
                  f"milestone check {f.milestone_check:.2f} s; built in {f.built_in:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
