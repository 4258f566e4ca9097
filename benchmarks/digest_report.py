"""Digests and `irobot report` for an authority-sized caseload, on SQLite or PostgreSQL.

Why: issue 13 sets the budget: a digest pass for 200 managers, 20,000 open items and 2,000
overdue items up to a year late takes under 0.5 s, whatever the lateness (working days are
counted arithmetically, not day by day). A second figure adds 20,000 18/24-month flags
reached up to a year ago (a big first import leaves every long plan's flag open, and each
safeguarding manager's digest measures how long ago each was reached). `irobot report`
over a year of history (issue 5: under 3 s, the whole command) and the Monday pass with one
chart per manager are printed too when run on its own.

Run:  python benchmarks/digest_report.py [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
Figures: benchmarks/RESULTS.md (python -m benchmarks).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from models.db import make_engine, upgrade
from models.tables import AuditEvent, Conference, Notification, Obligation, Plan, QaAlert, Staff
from models.vocabulary import (
    DONE,
    FAILED,
    ICPC_REPORT,
    MANAGER_ROLES,
    OPEN,
    PENDING,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    SENT,
)
from scheduler.digest import digest_pass
from scheduler.policy import Policy

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
RNG = random.Random(20261207)
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)  # a Tuesday: digests, no Monday charts
BUDGET_SECONDS = 0.5
POLICY = Policy()
CAL = POLICY.calendar()


@contextmanager
def database(pg_url: str | None) -> Iterator[tuple[Engine, str]]:
    """A fresh migrated database: a temporary SQLite file, or a throwaway PostgreSQL schema."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/bench.db"
            engine = make_engine(url)
            upgrade(engine)
            try:
                yield engine, url
            finally:
                engine.dispose()
        return
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_url, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(pg_url, schema=schema)
    try:
        upgrade(engine)
        url = (
            make_url(pg_url)
            .update_query_dict({"options": f"-csearch_path={schema}"})
            .render_as_string(hide_password=False)
        )
        yield engine, url
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def staff_rows() -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """2,000 staff: 200 managers on a four-level ladder plus safeguarding, IROs, workers."""
    rows: list[tuple[str, str, str | None, str]] = [("AD1", "assistant_director", None, "AD")]
    rows += [(f"HOS{h}", "head_of_service", "AD1", f"Service {h}") for h in range(4)]
    rows += [(f"SM{s}", "service_manager", f"HOS{s % 4}", f"Locality {s}") for s in range(20)]
    rows += [(f"SGM{g}", "safeguarding_manager", "HOS0", "IRO Service") for g in range(5)]
    teams = 170
    rows += [(f"TM{t}", "team_manager", f"SM{t % 20}", f"Team {t}") for t in range(teams)]
    iros = [f"IRO{i}" for i in range(150)]
    rows += [(iro, "iro", f"SGM{i % 5}", "IRO Service") for i, iro in enumerate(iros)]
    workers = [f"SW{w}" for w in range(2000 - len(rows))]
    rows += [(sw, "social_worker", f"TM{w % teams}", f"Team {w % teams}")
             for w, sw in enumerate(workers)]  # fmt: skip
    staff = [
        {
            "staff_id": sid,
            "name": f"{role.replace('_', ' ').title()} {sid}",
            "role": role,
            "manager_id": manager,
            "team": team,
            "active": True,
            "reachable": True,
            # one worker in ten has not linked Telegram yet: their messages are held
            "chat_id": None if sid.startswith("SW") and n % 10 == 0 else 10_000 + n,
        }
        for n, (sid, role, manager, team) in enumerate(rows)
    ]
    return staff, workers, iros


def local(day: date, hh: int = 10) -> datetime:
    """A local wall-clock time as UTC."""
    return CAL.at(day, clock(hh, 0))


def build(engine: Engine, now: datetime, late_days: int = 365) -> dict[str, int]:
    """Insert the caseload: a year of history plus 20,000 open obligations (2,000 overdue).

    Overdue items are spread evenly from 1 to `late_days` days late: the digest's cost must not
    grow with how late they are.
    """

    RNG.seed(20261207)  # the same caseload on every database

    def late() -> timedelta:
        return timedelta(days=RNG.randint(1, late_days), hours=RNG.randint(0, 8))

    staff, workers, iros = staff_rows()
    today = CAL.local(now).date()
    plans, conferences, alerts, obligations, audits, notes = [], [], [], [], [], []
    for p in range(6000):
        start = today - timedelta(days=RNG.randint(10, 900))
        plans.append({"case_ref": f"CP-{p}", "social_worker_id": workers[p % len(workers)],
                      "chair_id": iros[p % len(iros)], "plan_start": start,
                      "plan_end": None if p % 7 else today - timedelta(days=RNG.randint(1, 300)),
                      "category": "neglect"})  # fmt: skip
    stamp = {"created_at": now - timedelta(days=400), "updated_at": now}

    def ob(kind: str, subject: str, p: int, owner: str, due: datetime, **kw: Any) -> None:
        row = {"kind": kind, "subject_id": subject, "case_ref": f"CP-{p}", "owner_id": owner,
               "due_at": due, "status": OPEN, "stage": 0, "stage_due_at": None,
               "next_action_at": None, "done_at": None, "outcome": None, "late_reason": None,
               "expected_on": None, "help_requested_at": None, "version": 0, **stamp}  # fmt: skip
        row.update(kw)
        obligations.append(row)

    # a year of conferences, reports mostly on time
    for c in range(12000):
        p = RNG.randrange(6000)
        when = local(today - timedelta(days=RNG.randint(1, 365)))
        kind = "ICPC" if c % 5 == 0 else "RCPC"
        got = None if c % 20 == 0 else when - timedelta(days=RNG.choice((1, 2, 4, 5, 6, 8)))
        conferences.append({"conference_id": f"H{c}", "case_ref": f"CP-{p}", "kind": kind,
                            "scheduled_for": when, "chair_id": iros[p % len(iros)],
                            "report_received_at": got})  # fmt: skip
    # open report obligations for future conferences: 10,000, of which 900 overdue
    for c in range(10000):
        p = RNG.randrange(6000)
        overdue = c < 900
        when = local(today + timedelta(days=RNG.randint(1, 3) if overdue else RNG.randint(5, 60)))
        kind = "ICPC" if c % 5 == 0 else "RCPC"
        conferences.append({"conference_id": f"F{c}", "case_ref": f"CP-{p}", "kind": kind,
                            "scheduled_for": when, "chair_id": iros[p % len(iros)],
                            "report_received_at": None})  # fmt: skip
        due = now - late() if overdue else when - timedelta(days=4)
        ob(ICPC_REPORT if kind == "ICPC" else RCPC_REPORT, f"F{c}", p, workers[p % len(workers)],
           due, stage=1 if overdue and c % 3 == 0 else 0)  # fmt: skip
    # a year of QA alerts: 1,500 concerns (answered or escalated) and 500 positives
    ob_id = 0
    for a in range(2000):
        p = RNG.randrange(6000)
        raised = local(today - timedelta(days=RNG.randint(0, 365)))
        concern = a % 4 != 0
        answered = raised + timedelta(days=RNG.randint(1, 12)) if a % 10 else None
        open_ = concern and answered is None
        alerts.append({"alert_id": f"QA{a}", "case_ref": f"CP-{p}", "raised_by": iros[p % 150],
                       "raised_at": raised, "kind": "concern" if concern else "positive",
                       "theme": "drift_and_delay",
                       "responded_at": answered if concern else None, "closed_at": None,
                       "outcome": None})  # fmt: skip
        if not concern:
            continue
        stage = 0 if answered and answered - raised < timedelta(days=7) else RNG.randint(1, 4)
        ob(QA_RESPONSE, f"QA{a}", p, workers[p % len(workers)], raised + timedelta(days=7),
           status=OPEN if open_ else DONE, stage=stage, done_at=answered)  # fmt: skip
        ob_id = len(obligations)
        for to_stage in range(1, stage + 1):
            audits.append({"at": raised, "actor": "system", "action": "escalated",
                           "obligation_id": ob_id, "case_ref": f"CP-{p}",
                           "detail": json.dumps({"to_stage": to_stage})})  # fmt: skip
    open_qa = sum(1 for o in obligations if o["kind"] == QA_RESPONSE and o["status"] == OPEN)
    # more open concerns, recent, to reach 1,500 open QA obligations (600 overdue in all)
    overdue_qa = sum(1 for o in obligations if o["kind"] == QA_RESPONSE and o["status"] == OPEN)
    for q in range(1500 - open_qa):
        p = RNG.randrange(6000)
        behind = q < max(0, 600 - overdue_qa)
        due = now - late() if behind else now + timedelta(days=RNG.randint(1, 6))
        ob(QA_RESPONSE, f"QO{q}", p, workers[p % len(workers)], due,
           stage=RNG.randint(1, 4) if behind else 0)  # fmt: skip
    # 9-month reviews (4,500 open, 300 overdue; 1,500 logged) and flags (4,000, 200 reached)
    for r in range(4500):
        p = r % 6000
        due = now - late() if r < 300 else now + timedelta(days=40)
        ob(PLAN_REVIEW, f"CP-{p}", p, iros[p % 150], due, stage=1 if r < 100 else 0)
    for r in range(4500, 6000):
        ob(PLAN_REVIEW, f"CP-{r}", r, iros[r % 150], now - timedelta(days=200), status=DONE,
           done_at=now - timedelta(days=190))  # fmt: skip
    for f in range(4000):
        p = f % 6000
        due = now - late() if f < 200 else now + timedelta(days=90)
        ob(PLAN_FLAG, f"CP-{p}:{18 if f % 2 else 24}", p, iros[p % 150], due)
    # a year of outbox rows: mostly sent, some failed, some held for unlinked workers
    for n in range(60000):
        created = now - timedelta(minutes=RNG.randint(0, 525600))
        status = FAILED if n % 100 == 0 else PENDING if n % 200 == 1 else SENT
        who = workers[(n * 10) % len(workers)] if status == PENDING else workers[n % len(workers)]
        notes.append({"key": f"bench:{n}", "obligation_id": None, "recipient_id": who,
                      "kind": "reminder", "text": "x", "keyboard": None, "photo": None,
                      "status": status, "not_before": created, "next_attempt_at": created,
                      "attempts": 1, "claimed_by": None, "claimed_at": None, "chat_id": None,
                      "telegram_message_id": None, "last_error": None,
                      "created_at": created, "sent_at": None})  # fmt: skip
    tables: Sequence[tuple[Any, list[dict[str, Any]]]] = (
        (Staff, staff), (Plan, plans), (Conference, conferences), (QaAlert, alerts),
        (Obligation, obligations), (AuditEvent, audits), (Notification, notes),
    )  # fmt: skip
    with engine.begin() as conn:
        for model, rows in tables:
            table = model.__table__  # type: ignore[attr-defined]
            for i in range(0, len(rows), 5000):
                conn.execute(table.insert(), rows[i : i + 5000])
    open_obs = [o for o in obligations if o["status"] == OPEN]
    return {
        "staff": len(staff),
        "managers": sum(1 for s in staff if s["role"] in MANAGER_ROLES),
        "open obligations": len(open_obs),
        "overdue": sum(1 for o in open_obs if o["due_at"] <= now),
        "conferences": len(conferences),
        "alerts": len(alerts),
        "notifications": len(notes),
    }


def working_day_at(now: datetime, weekday: int) -> datetime:
    """09:00 local on the latest `weekday` (0 = Monday) on or before today that is a working
    day; for other weekdays, one whose Monday was a working day too (so no chart is due)."""
    day = CAL.local(now).date()
    while not (
        day.weekday() == weekday
        and CAL.is_working_day(day)
        and (weekday == 0 or CAL.is_working_day(day - timedelta(days=weekday)))
    ):
        day -= timedelta(days=1)
    return local(day, 9)


def time_pass(engine: Engine, at: datetime, runs: int) -> tuple[list[float], int]:
    """Run `digest_pass` `runs` times in rolled-back transactions; seconds and rows created."""
    times, created = [], 0
    for _ in range(runs):
        with Session(engine) as session:
            t0 = time.perf_counter()
            created = digest_pass(session, POLICY, now=at)
            times.append(time.perf_counter() - t0)
            session.rollback()
    return times, created


def time_with_flags(
    engine: Engine, at: datetime, flags: int, runs: int, late_days: int = 365
) -> list[float]:
    """The pass with `flags` more 18/24-month flags reached up to `late_days` ago (a big first
    import's shape: every long plan's flag open), each run rolled back with them."""
    _, _, iros = staff_rows()
    rows = [
        {"kind": PLAN_FLAG, "subject_id": f"CPX-{f}:{18 if f % 2 else 24}", "case_ref": f"CPX-{f}",
         "owner_id": iros[f % len(iros)], "due_at": at - timedelta(days=1 + f % late_days),
         "status": OPEN, "stage": 0, "stage_due_at": None, "next_action_at": None,
         "done_at": None, "outcome": None, "late_reason": None, "expected_on": None,
         "help_requested_at": None, "version": 0, "created_at": at, "updated_at": at}
        for f in range(flags)
    ]  # fmt: skip
    times = []
    for _ in range(runs):
        with Session(engine) as session:
            session.execute(Obligation.__table__.insert(), rows)  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            digest_pass(session, POLICY, now=at)
            times.append(time.perf_counter() - t0)
            session.rollback()
    return times


@dataclass
class DigestFigures:
    """The caseload and what a Tuesday pass cost (best of the runs)."""

    backend: str
    counts: dict[str, int]
    digests: int
    seconds: float
    flags: int
    with_flags_seconds: float


def measure(pg_url: str | None = None, runs: int = 3, flags: int = 20_000) -> DigestFigures:
    """Build the caseload, time the Tuesday digest pass, then again with many reached flags."""
    with database(pg_url) as (engine, _):
        counts = build(engine, NOW)
        tuesday = working_day_at(NOW, 1)
        times, created = time_pass(engine, tuesday, runs)
        flagged = time_with_flags(engine, tuesday, flags, runs)
        return DigestFigures(engine.dialect.name, counts, created, min(times), flags,
                             min(flagged))  # fmt: skip


def time_report(url: str, extra: Sequence[str], runs: int) -> list[float]:
    """Wall time of the whole `irobot report` process, start-up included."""
    env = {**os.environ, "IROBOT_DATABASE_URL": url}
    env.pop("IROBOT_POLICY", None)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "report", *extra],
            env=env, cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        times.append(time.perf_counter() - t0)
        if done.returncode != 0:
            raise SystemExit(f"irobot report failed: {done.stderr.strip()}")
    return times


def time_in_process(engine: Engine, url: str, runs: int) -> list[float]:
    """The report's own work (load, compute, print), without interpreter start-up."""
    from bot.commands import report
    from bot.context import build_context
    from bot.settings import Settings

    ctx = build_context(Settings(IROBOT_DATABASE_URL=url), policy=POLICY, engine=engine)
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    times = []
    for _ in range(runs):
        with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
            t0 = time.perf_counter()
            report.run(parser.parse_args([]), ctx)
            times.append(time.perf_counter() - t0)
    return times


def show(label: str, times: list[float]) -> str:
    """`label: 0.41 s (first 0.52 s)`."""
    return f"{label}: {min(times):.2f} s (first {times[0]:.2f} s)"


def time_monday(engine: Engine, at: datetime) -> tuple[float, int, float, int, int]:
    """The Monday passes, committed, until every chart is queued: (first pass s, rows,
    all passes s, passes, charts)."""
    first, first_rows, total, passes, rows = 0.0, 0, 0.0, 0, -1
    while rows != 0:
        with Session(engine) as session:
            t0 = time.perf_counter()
            rows = digest_pass(session, POLICY, now=at)
            session.commit()
        elapsed = time.perf_counter() - t0
        if passes == 0:
            first, first_rows = elapsed, rows
        total += elapsed
        passes += 1
    with Session(engine) as session:
        charts = session.execute(
            text("SELECT count(*) FROM notification WHERE kind = 'chart'")
        ).scalar_one()
    return first, first_rows, total, passes, int(charts)


def main(argv: Sequence[str] | None = None) -> int:
    """Build, time and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pg", metavar="URL", help="PostgreSQL URL (default: a SQLite file)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    now = NOW
    figures = measure(args.pg, args.runs)
    verdict = "met" if figures.seconds < BUDGET_SECONDS else "MISSED"
    print(f"digest pass ({figures.digests} digests): {figures.seconds:.3f} s ({verdict}: "
          f"< {BUDGET_SECONDS:g} s); with {figures.flags:,} more flags reached up to a year ago: "
          f"{figures.with_flags_seconds:.3f} s")
    with database(args.pg) as (engine, url):
        t0 = time.perf_counter()
        counts = build(engine, now)
        print(f"backend: {engine.dialect.name}; built in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in counts.items()))  # fmt: skip
        tuesday = working_day_at(now, 1)
        times, created = time_pass(engine, tuesday, args.runs)
        print(show(f"digest pass, {tuesday:%a %d %b}: {created} digests built+enqueued", times))
        print(show("irobot report (table, a year)", time_report(url, [], args.runs)))
        print(show("  of which start-up (irobot report --help)",
                   time_report(url, ["--help"], args.runs)))  # fmt: skip
        print(show("  of which the report's own work, in process",
                   time_in_process(engine, url, args.runs)))  # fmt: skip
        print(show("irobot report --format csv", time_report(url, ["--format", "csv"], args.runs)))
        print(show("irobot report --challenge", time_report(url, ["--challenge"], args.runs)))
        monday = working_day_at(now, 0)
        first, first_rows, total, passes, charts = time_monday(engine, monday)
        print(
            f"Monday {monday:%d %b}: first pass {first:.1f} s ({first_rows} digests and charts "
            f"queued); {charts} charts in {passes - 1} passes, {total:.1f} s of rendering in all"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
