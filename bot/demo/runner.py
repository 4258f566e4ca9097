"""Drive the real engine over simulated working days and collect what each phone receives."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from bot.demo.caseload import LAC_PREFIX, LAC_SEED_OFFSET, Caseload, build_caseload
from bot.demo.transcript import Delivered, TranscriptSender
from handlers.importing import import_csv
from models.db import session_scope
from models.tables import Staff
from scheduler.dispatch import dispatch_pass
from scheduler.pacing import PacedSender, Pacing
from scheduler.policy import Policy
from scheduler.scan import scan_pass

logger = logging.getLogger(__name__)

TICK_MINUTES = 30
FIRST_TICK = time(7, 30)
LAST_TICK = time(19, 0)
CHAT_BASE = 700_000


@dataclass
class DemoDay:
    """One simulated working day: its date and what was delivered and done."""

    day: date
    delivered: list[Delivered] = field(default_factory=list)


@dataclass
class DemoResult:
    """Everything the demo shows at the end."""

    days: list[DemoDay]
    people: dict[int, Staff]
    caseload: Caseload
    db_path: Path
    started: date
    policy: Policy
    engine: Engine
    chart_path: Path | None = None


@dataclass
class SimClock:
    """The simulated wall clock every engine call receives as `now`."""

    now: datetime

    def __call__(self) -> datetime:
        """The current simulated instant."""
        return self.now


def _import_caseload(engine: Engine, policy: Policy, caseload: Caseload, now: datetime) -> None:
    for kind, text in (
        ("staff", caseload.staff),
        ("plans", caseload.plans),
        ("conferences", caseload.conferences),
        ("alerts", caseload.alerts),
        ("absences", caseload.absences),
        ("care", caseload.care),
        ("reviews", caseload.reviews),
    ):
        if not text:
            continue  # a demo without children in care
        with session_scope(engine) as session:
            import_csv(session, kind, text, policy, now=now)


def _link_everyone(engine: Engine, now: datetime) -> dict[int, Staff]:
    """Stand in for each person having used their invite code on their phone."""
    people: dict[int, Staff] = {}
    with session_scope(engine) as session:
        for n, staff in enumerate(session.exec(select(Staff).order_by(Staff.staff_id)).all()):
            staff.chat_id = CHAT_BASE + n
            staff.telegram_user_id = CHAT_BASE + n
            staff.linked_at = now
            session.add(staff)
            people[staff.chat_id] = staff
    return people


def run_simulation(
    *,
    engine: Engine,
    policy: Policy,
    db_path: Path,
    start: date,
    days: int,
    seed: int,
    reply: Callable[[Session, Policy, Staff, Delivered, datetime, random.Random], str | None],
    digest: Callable[[Session, Policy, datetime], object] | None = None,
    looked_after: bool = True,
) -> DemoResult:
    """Import a caseload, then run scan, digest and dispatch every half hour of each day."""
    cal = policy.calendar()
    setup_at = cal.at(cal.previous_working_day(start, inclusive=False), time(17, 0))
    caseload = build_caseload(seed=seed, start=start, cal=cal, looked_after=looked_after)
    _import_caseload(engine, policy, caseload, setup_at)  # the service's go-live
    people = _link_everyone(engine, setup_at)
    clock = SimClock(setup_at)
    transcript = TranscriptSender(clock=clock)
    # Paced as the bot's limiter paces Telegram, on a clock that jumps instead of sleeping.
    sender = PacedSender(transcript, Pacing.virtual())
    rng = random.Random(seed)
    # Children in care are answered from their own stream: the rest of the transcript is the
    # same with or without them.
    lac_rng = random.Random(seed + LAC_SEED_OFFSET)
    result_days: list[DemoDay] = []

    def _stream(entry: Delivered) -> random.Random:
        return lac_rng if LAC_PREFIX in entry.text else rng

    day = cal.next_working_day(start)
    for _ in range(days):
        demo_day = DemoDay(day)
        tick = datetime.combine(day, FIRST_TICK)
        while tick.time() <= LAST_TICK:
            clock.now = cal.at(day, tick.time())
            with session_scope(engine) as session:
                scan_pass(session, policy, now=clock.now)
                if digest is not None:
                    digest(session, policy, clock.now)
            before = len(transcript.delivered)
            asyncio.run(dispatch_pass(engine, sender, policy, now=clock.now, worker_id="demo"))
            fresh = transcript.delivered[before:]
            demo_day.delivered.extend(fresh)
            # People answer a few minutes later, and their taps land in the order they make them.
            taps = sorted(
                (clock.now + timedelta(minutes=_stream(entry).randint(2, 25)), n, entry)
                for n, entry in enumerate(fresh)
                if entry.buttons and entry.chat_id in people
            )
            for at, _, entry in taps:
                with session_scope(engine) as session:
                    outcome = reply(session, policy, people[entry.chat_id], entry, at,
                                    _stream(entry))  # fmt: skip
                if outcome:
                    entry.replies.append(outcome)
            tick += timedelta(minutes=TICK_MINUTES)
        result_days.append(demo_day)
        day = cal.next_working_day(day, inclusive=False)
    return DemoResult(
        days=result_days,
        people=people,
        caseload=caseload,
        db_path=db_path,
        started=start,
        policy=policy,
        engine=engine,
    )
