"""`irobot demo`: a synthetic caseload through the real engine, printed per phone."""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time as wallclock
from datetime import date, datetime
from pathlib import Path

from rich.console import Console
from sqlmodel import Session

from bot.context import CommandError, utcnow
from bot.demo.render import render_day, render_summary
from bot.demo.runner import run_simulation
from bot.demo.script import answer
from bot.settings import Settings
from models.db import make_engine, upgrade
from scheduler.digest import digest_pass
from scheduler.policy import Policy, load_policy

logger = logging.getLogger(__name__)

BUILDS_OWN_CONTEXT = True  # the demo never touches IROBOT_DATABASE_URL


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options documented in the README."""
    parser.add_argument("--days", type=int, default=10, help="working days to simulate (10)")
    parser.add_argument("--seed", type=int, default=7, help="caseload and replies seed (7)")
    parser.add_argument("--db", type=Path, help="SQLite file to build (default: a temp folder)")
    parser.add_argument(
        "--start", type=date.fromisoformat, help="first day (default: next working day)"
    )


def _digest(session: Session, policy: Policy, now: datetime) -> object:
    return digest_pass(session, policy, now=now)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Build the demo database, simulate the days, print each phone and the figures."""
    if not 1 <= args.days <= 60:
        raise CommandError("--days must be between 1 and 60")
    policy = load_policy(settings.policy_path)
    cal = policy.calendar()
    start = args.start or cal.next_working_day(
        utcnow().astimezone(cal.tz).date(), inclusive=False
    )
    folder = Path(tempfile.mkdtemp(prefix="irobot-demo-")) if args.db is None else None
    db_path = args.db if args.db is not None else folder / "irobot-demo.db"  # type: ignore[operator]
    if db_path.exists():
        raise CommandError(f"{db_path} exists already: the demo builds a fresh database")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    began = wallclock.perf_counter()
    engine = make_engine(f"sqlite:///{db_path}")
    upgrade(engine)
    console = Console(highlight=False, soft_wrap=False)
    result = run_simulation(
        engine=engine,
        policy=policy,
        db_path=db_path,
        start=start,
        days=args.days,
        seed=args.seed,
        reply=answer,
        digest=_digest,
    )
    for index, day in enumerate(result.days, start=1):
        render_day(console, result, day, index)
    render_summary(console, result, elapsed=wallclock.perf_counter() - began)
    engine.dispose()
    sys.stdout.flush()
    return 0
