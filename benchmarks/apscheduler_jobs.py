"""The usual way, on the same stack, for comparison: one APScheduler job per reminder.

Why: issue 13 asks what "deadlines are data" buys over the common design, where each
reminder is an APScheduler 3 job in a `SQLAlchemyJobStore` (pickled, one row each) on the
same database. Both sides store N reminders (10,000 and 100,000), 100 of them due, and then
find the due ones:
- APScheduler: `scheduler.add_job(remind, "date", run_date=..., args=[id], id=...)` per
  reminder on a (paused) `BackgroundScheduler`, then `jobstore.get_due_jobs(now)`, what the
  scheduler does at every wake-up (it unpickles each due job);
- IRObot: the obligation rows as `scheduler.sync` writes them (one bulk insert), then the
  scan's query (`scheduler.scan.due_rows` on `ix_obligation_status_next`).
Finding the due ones is timed best of 5 after one warm-up; storing once, commit included.

Run:  python benchmarks/apscheduler_jobs.py [--sizes 10000 100000] [--due 100] [--pg URL]
Figures: benchmarks/RESULTS.md (python -m benchmarks).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import Engine, text
from sqlmodel import Session

from models.bulk import INSERT_COLUMNS, Memo, insert_obligations, table_of
from models.db import make_engine, upgrade
from models.tables import Obligation
from models.vocabulary import OPEN, RCPC_REPORT
from scheduler.scan import due_rows

logger = logging.getLogger(__name__)

REPEATS = 5


def remind(obligation_id: int) -> None:
    """What each APScheduler job would run (never run here: the scheduler stays paused)."""


@dataclass
class Side:
    """One design at one size."""

    design: str
    backend: str
    reminders: int
    store_seconds: float
    find_seconds: float
    found: int


@contextmanager
def database(pg_url: str | None) -> Iterator[Engine]:
    """A migrated, empty database: a SQLite file or a PostgreSQL schema (dropped after)."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'usual.db'}")
            upgrade(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    schema = f"aps_{uuid.uuid4().hex[:10]}"
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


def run_dates(n: int, due: int, base: datetime) -> list[datetime]:
    """`due` reminders before `base` (within 100 minutes), the rest over the year after it."""
    return [base - timedelta(minutes=1 + i) if i < due else base + timedelta(minutes=i * 5)
            for i in range(n)]  # fmt: skip


def best_of(find: Any) -> tuple[float, int]:
    """Best wall time of `find()` over REPEATS runs after a warm-up, and what it found."""
    found = len(find())
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        find()
        runs.append(time.perf_counter() - start)
    return min(runs), found


def apscheduler_side(engine: Engine, n: int, due: int) -> Side:
    """N jobs added one by one through a paused scheduler, then the due ones fetched."""
    base = datetime.now(UTC) + timedelta(days=2)  # in real time, nothing is ever due
    store = SQLAlchemyJobStore(engine=engine)
    scheduler = BackgroundScheduler(jobstores={"default": store}, timezone=UTC)
    scheduler.start(paused=True)
    try:
        start = time.perf_counter()
        for i, when in enumerate(run_dates(n, due, base)):
            scheduler.add_job(remind, "date", run_date=when, args=[i], id=f"remind:{i}")
        stored = time.perf_counter() - start
        seconds, found = best_of(lambda: store.get_due_jobs(base))
    finally:
        scheduler.shutdown(wait=False)
    return Side("APScheduler job per reminder", engine.dialect.name, n, stored, seconds, found)


def irobot_side(engine: Engine, n: int, due: int) -> Side:
    """N obligation rows as sync writes them (one bulk insert), then the scan's due query."""
    base = datetime(2026, 12, 2, 10, tzinfo=UTC)
    table = table_of(Obligation)
    with Session(engine) as session:
        write = Memo(session).writer(table.c.due_at)
        defaults = {c: table.c[c].default.arg if table.c[c].default is not None else None
                    for c in INSERT_COLUMNS}  # fmt: skip
        rows = []
        for i, when in enumerate(run_dates(n, due, base)):
            values = defaults | {
                "kind": RCPC_REPORT, "subject_id": f"C{i}", "case_ref": f"CP-{i}",
                "owner_id": f"SW{i % 500}", "due_at": write(when), "status": OPEN, "stage": 0,
                "stage_due_at": write(when), "next_action_at": write(when), "version": 0,
                "created_at": write(base), "updated_at": write(base),
            }  # fmt: skip
            rows.append(tuple(values[c] for c in INSERT_COLUMNS))
        start = time.perf_counter()
        insert_obligations(session, rows)
        session.commit()
        stored = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    with Session(engine) as session:
        seconds, found = best_of(lambda: due_rows(session, now=base, limit=5000))
    return Side("IRObot obligation rows + scan", engine.dialect.name, n, stored, seconds, found)


def measure(sizes: list[int], due: int = 100, pg_url: str | None = None) -> list[Side]:
    """Both designs at each size, each in a fresh database."""
    out = []
    for n in sizes:
        for side in (apscheduler_side, irobot_side):
            with database(pg_url) as engine:
                out.append(side(engine, n, due))
    return out


def main(argv: list[str] | None = None) -> int:
    """Measure and print both designs side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL instead of a SQLite file")
    args = parser.parse_args(argv)
    sides = measure(args.sizes, args.due, args.pg)
    for s in sides:
        print(f"{s.backend:10} {s.reminders:>7,} reminders, {s.design:30}: store "
              f"{s.store_seconds:8.2f} s, find the {s.found} due {s.find_seconds * 1000:7.2f} ms")
    for aps, ours in zip(sides[::2], sides[1::2], strict=True):
        print(f"{aps.reminders:>7,}: storing {aps.store_seconds / ours.store_seconds:,.0f}x, "
              f"finding {aps.find_seconds / ours.find_seconds:,.1f}x faster with IRObot's rows")
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
