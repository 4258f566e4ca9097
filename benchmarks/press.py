"""Button presses under load: update arrival -> committed state -> edited message.

Why: issue 4 sets the bar: p95 under 50 ms at 50 presses a second from 200 accounts, on
SQLite, measured against the Bot API stand-in. Each press here is a social worker tapping
*Submitted* on a report reminder: the heaviest common path (guarded claim, conference
record, obligation resync for the case, audit, commit, then answerCallbackQuery and
editMessageText). The bot is the unmodified PTB application from `bot.app`, long-polling
the stand-in, which runs as its own process (`python -m tests.auxil.botapi --no-limits`).

Latency of one press = from just before the driver injects it into the stand-in (so it
includes the long-poll hand-over) to the moment the stand-in receives the editMessageText
for that message; the state is committed before the edit is sent, and every press is
checked afterwards in the database (obligation closed, report recorded, one audit row).

Run:  python benchmarks/press.py [--rate 50] [--accounts 200] [--presses 1000]
                                 [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]
Exit status 1 when the p95 bar is missed or any press is lost or recorded twice.

Measured 2026-11-22 on the shared 2-core box (Python 3.11.7) while other engineers' suites
ran, SQLite, 200 accounts, none lost or doubled in any run:
  50/s, 1000 presses, quietest moment (load 1.5): p50 12.1 ms, p95 40.8 ms, p99 87 ms -> MET
  50/s, 1000 presses, busier (load 1.7-2.7):      p50 17-1922 ms, p95 108-2640 ms      -> missed
  40/s,  800 presses:                             p50 17.5-24.7 ms, p95 32-164 ms
  20/s,  400 presses:                             p50 20.1 ms, p95 26.6 ms              -> met
The bot process spends ~12-17 ms of CPU per press: ~8 ms is PTB + httpx for getUpdates,
answerCallbackQuery and editMessageText (measured with a no-op conversation: p50 10 ms),
~7 ms is the database work, of which ~3.4 ms is `sync_obligations` for the one case. At
50/s that is 0.6-0.85 of a core for the bot alone, beside the stand-in and everyone else's
tests on two cores, so the queue grows in bursts; the bar needs a quieter core or a
cheaper resync (see the closing note of issue 4).
With every request through the bot's one rate limiter (2026-12-01, load 0.5-0.8, 3 runs each
way on the same tree with and without it): p95 8.5-9.1 ms without, 8.9-9.5 ms with (p50
5.5-7.2 and 6.1-7.6): edits and answers to taps pass the limiter uncounted.
PostgreSQL (`--pg`, DB work in threads): worse here (p95 ~7 s at 50/s), for the same reason.
`--profile FILE` writes a cProfile of the bot process for a closer look.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select
from telegram import Bot

from bot.app import build_application
from bot.context import AppContext
from bot.settings import Settings
from handlers.sender import build_markup
from models import buttons as cb
from models.db import make_engine, upgrade
from models.tables import AuditEvent, Conference, Obligation, Plan, Staff
from models.vocabulary import Action
from scheduler.policy import Policy
from scheduler.sync import sync_obligations

mp = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.auxil.botapi import ControlClient, spawn_process  # noqa: E402

TOKEN = "123456:PRESS"
P95_BAR_MS = 50.0
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON).astimezone(UTC)  # a working Tuesday
FIRST_USER = 500_000


@contextmanager
def fresh_engine(pg_url: str | None) -> Iterator[tuple[Engine, str]]:
    """A migrated, empty database: a temporary SQLite file or a throwaway PostgreSQL schema."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/press.db"
            engine = make_engine(url)
            upgrade(engine)
            try:
                yield engine, url
            finally:
                engine.dispose()
        return
    schema = f"press_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_url, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(str(make_url(pg_url).render_as_string(hide_password=False)), schema=schema)
    try:
        upgrade(engine)
        yield engine, pg_url
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(engine: Engine, policy: Policy, accounts: int, per_account: int) -> None:
    """Linked social workers under 20 team managers, each with cases and an RCPC next week."""
    managers = max(1, accounts // 10)
    with Session(engine) as session:
        session.add(Staff(staff_id="SM", name="Service Manager", role="service_manager"))
        for m in range(managers):
            session.add(
                Staff(staff_id=f"TM{m}", name=f"Team Manager {m}", role="team_manager",
                      manager_id="SM")
            )  # fmt: skip
        session.add(Staff(staff_id="IRO", name="Chair", role="iro"))
        for n in range(accounts):
            uid = FIRST_USER + n
            session.add(
                Staff(staff_id=f"SW{n}", name=f"Worker {n}", role="social_worker",
                      manager_id=f"TM{n % managers}", telegram_user_id=uid, chat_id=uid)
            )  # fmt: skip
            for k in range(per_account):
                case = f"CR-{n}-{k}"
                session.add(Plan(case_ref=case, social_worker_id=f"SW{n}", chair_id="IRO",
                                 plan_start=date(2026, 6, 1)))  # fmt: skip
                session.add(
                    Conference(conference_id=f"{case}-C", case_ref=case, kind="RCPC",
                               scheduled_for=datetime(2026, 12, 9 + k % 3, 10, tzinfo=UTC),
                               chair_id="IRO")
                )  # fmt: skip
        session.flush()
        sync_obligations(session, policy, now=NOW)
        session.commit()


def targets(engine: Engine) -> list[tuple[int, int, str]]:
    """(telegram user, obligation id, case) for every open report, in a fixed random order."""
    with Session(engine) as session:
        rows = session.exec(
            select(Staff.telegram_user_id, Obligation.id, Obligation.case_ref)
            .join(Staff, col(Staff.staff_id) == col(Obligation.owner_id))
            .where(Obligation.kind == "rcpc_report")
        ).all()
    result = [(int(u or 0), int(i or 0), str(c)) for u, i, c in rows]
    random.Random(4).shuffle(result)
    return result


def drive(control_base: str, presses: list[tuple[int, int, str]], rate: float,
          out: Connection) -> None:
    """In its own process: inject presses at a steady rate, noting when each one left.

    The schedule starts once this process is up, so its own start-up never bunches presses.
    """
    api = ControlClient(control_base)
    started: dict[tuple[int, int], float] = {}
    begin = time.monotonic() + 0.2
    for i, (user, message_id, data) in enumerate(presses):
        pause = begin + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        started[(user, message_id)] = time.monotonic()
        api.user_presses(user, message_id, data)
    out.send(started)
    out.close()


async def run(args: argparse.Namespace) -> int:
    """Seed, start the bot, press, measure, verify."""
    policy = Policy()
    per_account = -(-args.presses // args.accounts)
    api = spawn_process(TOKEN, limits=False, cwd=ROOT)
    try:
        with fresh_engine(args.pg) as (engine, url):
            seed(engine, policy, args.accounts, per_account)
            chosen = targets(engine)[: args.presses]
            settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, IROBOT_DATABASE_URL=url,
                                IROBOT_TELEGRAM_API_URL=api.base_url)  # fmt: skip
            ctx = AppContext(settings=settings, policy=policy, engine=engine)
            app = build_application(ctx, clock=lambda: NOW)
            async with app, Bot(TOKEN, base_url=api.base_url) as unpaced:
                # Each reminder on the phones first (not timed), past the bot's rate limiter:
                # the stand-in runs without limits and only the presses are measured.
                presses: list[tuple[int, int, str]] = []
                for user, item_id, case in chosen:
                    data = cb.encode(Action.SUBMITTED, item_id, 0)
                    keyboard = build_markup([[("Submitted", data)]])
                    text = f"⏰ {case}: RCPC report due"
                    sent = await unpaced.send_message(user, text, reply_markup=keyboard)
                    presses.append((user, sent.message_id, data))
                log_start = len(api.log())
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0, timeout=10)
                # The people press from another process, as they would from their phones.
                receive, send = mp.Pipe(duplex=False)
                driver = mp.Process(target=drive, args=(api.base_url, presses, args.rate, send))
                profile = cProfile.Profile() if args.profile else None
                cpu0, t0 = time.process_time(), time.monotonic()
                if profile:
                    profile.enable()
                driver.start()
                while not receive.poll():  # noqa: ASYNC110 - a pipe, not an asyncio primitive
                    await asyncio.sleep(0.1)
                started: dict[tuple[int, int], float] = receive.recv()
                driver.join()
                # Let the last presses finish.
                deadline = time.monotonic() + 10
                edits: dict[tuple[int, int], float] = {}
                while time.monotonic() < deadline:
                    for call in api.log(log_start):
                        if call["method"].lower() == "editmessagetext" and call["status"] == 200:
                            params = call["params"]
                            key = (int(params["chat_id"]), int(params["message_id"]))
                            edits.setdefault(key, call["mono"])
                    if len(edits) >= len(presses):
                        break
                    await asyncio.sleep(0.2)
                took, cpu = time.monotonic() - t0, time.process_time() - cpu0
                if profile:
                    profile.disable()
                    profile.dump_stats(args.profile)
                await app.updater.stop()
                await app.stop()
            with Session(engine) as session:
                done = session.exec(
                    select(func.count()).select_from(Obligation)
                    .where(Obligation.kind == "rcpc_report").where(Obligation.status == "done")
                ).one()  # fmt: skip
                audited = session.exec(
                    select(func.count()).select_from(AuditEvent)
                    .where(AuditEvent.action == "report_submitted")
                ).one()  # fmt: skip
    finally:
        api.close()
    latencies = sorted(
        (edits[key] - started[key]) * 1000 for key in started if key in edits
    )
    lost = len(presses) - len(latencies)
    if not latencies:
        print("no press completed")
        return 1
    p50 = statistics.median(latencies)
    p95 = latencies[int(0.95 * (len(latencies) - 1))]
    p99 = latencies[int(0.99 * (len(latencies) - 1))]
    backend = "PostgreSQL" if args.pg else "SQLite"
    print(
        f"{backend}: {len(presses)} presses from {args.accounts} accounts at {args.rate:g}/s "
        f"over {took:.1f} s\n"
        f"  latency ms: p50 {p50:.1f}, p95 {p95:.1f}, p99 {p99:.1f}, max {latencies[-1]:.1f}\n"
        f"  edited {len(latencies)}, lost {lost}, obligations closed {done}, "
        f"audit rows {audited}; bot process CPU {cpu * 1000 / len(presses):.1f} ms per press"
    )
    ok = p95 < P95_BAR_MS and lost == 0 and done == len(presses) and audited == len(presses)
    print("PASS" if ok else f"FAIL (bar: p95 < {P95_BAR_MS:g} ms, nothing lost or doubled)")
    return 0 if ok else 1


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="presses per second")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--presses", type=int, default=1000)
    parser.add_argument("--pg", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--profile", help="write a cProfile of the bot process to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
