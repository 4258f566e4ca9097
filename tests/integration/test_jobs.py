"""Scheduler jobs: exactly three with fixed ids, never overlapping, sharing `run_once` with tick."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.triggers.interval import IntervalTrigger
from sqlmodel import select

from bot.cli import main as cli_main
from bot.context import AppContext
from models.buttons import Keyboard, Message
from models.tables import Conference, Notification, Plan, Staff
from models.vocabulary import SENT
from scheduler.calendar import WorkingHours
from scheduler.jobs import JOB_IDS, run_once, scan_once, start_jobs
from scheduler.notify import enqueue
from scheduler.pacing import PacedSender, Pacing
from scheduler.sync import sync_obligations
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.records import add_conference, add_plan, london, org_chart
from tests.conftest import Database

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
TOKEN = "123456:TEST"


class Phone:
    """A fake sender that counts how many sends run at once and can be held open."""

    def __init__(self) -> None:
        self.delivered: list[tuple[int, str]] = []
        self.running = 0
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.release.set()
        self.arrived = asyncio.Event()
        self.started = asyncio.Event()

    async def send(
        self, chat_id: int, text: str, keyboard: Keyboard | None, photo: bytes | None = None
    ) -> int:
        """Wait while held, then accept the message."""
        self.running += 1
        self.started.set()
        self.most_at_once = max(self.most_at_once, self.running)
        try:
            await self.release.wait()
            self.delivered.append((chat_id, text))
            self.arrived.set()
            return len(self.delivered)
        finally:
            self.running -= 1


def caseload(ctx: AppContext) -> None:
    """A linked social worker owing an RCPC report for a conference on Thu 10 Dec 2026."""
    with ctx.session() as session:
        session.add(Staff(staff_id="SW1", name="Sam Worker", role="social_worker", chat_id=501))
        session.add(Staff(staff_id="IRO1", name="Ira Chair", role="iro", chat_id=502))
        session.add(
            Plan(case_ref="CP-7", social_worker_id="SW1", chair_id="IRO1",
                 plan_start=date(2026, 6, 1))
        )  # fmt: skip
        session.add(
            Conference(conference_id="C7", case_ref="CP-7", kind="RCPC",
                       scheduled_for=datetime(2026, 12, 10, 10, 0, tzinfo=UTC), chair_id="IRO1")
        )  # fmt: skip
        session.flush()
        sync_obligations(session, ctx.policy, now=MONDAY_10)


async def test_the_scheduler_holds_exactly_scan_dispatch_and_digest_in_memory(
    ctx: AppContext,
) -> None:
    running = start_jobs(ctx, Phone(), clock=lambda: MONDAY_10)
    sched = running.scheduler
    try:
        start_jobs(ctx, Phone(), clock=lambda: MONDAY_10, scheduler=sched)  # a second call
        jobs = {job.id: job for job in sched.get_jobs()}
        assert sorted(jobs) == sorted(JOB_IDS)
        for job in jobs.values():
            assert job.max_instances == 1 and job.coalesce
            assert isinstance(job.trigger, IntervalTrigger)
        assert jobs["scan"].trigger.interval.total_seconds() == 60
        assert jobs["dispatch"].trigger.interval.total_seconds() == 2
        assert all(isinstance(store, MemoryJobStore) for store in sched._jobstores.values())
    finally:
        await running.stop()


async def test_run_once_scans_then_sends_what_fell_due(ctx: AppContext) -> None:
    caseload(ctx)
    phone = Phone()
    reminder_day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)  # 2 working days before Mon 7 Dec

    scanned, sent = await run_once(ctx, PacedSender(phone, Pacing.virtual()), now=reminder_day)

    assert scanned is not None and scanned.queued == 1
    assert sent.sent == 1
    [(chat, text)] = phone.delivered
    assert chat == 501 and "CP-7" in text
    _, again = await run_once(ctx, PacedSender(phone, Pacing.virtual()), now=reminder_day)
    assert again.sent == 0 and len(phone.delivered) == 1


async def test_the_dispatch_job_delivers_without_anyone_calling_it(ctx: AppContext) -> None:
    caseload(ctx)
    phone = Phone()
    reminder_day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    running = start_jobs(ctx, phone, clock=lambda: reminder_day, dispatch_interval=0.05)
    try:
        await asyncio.wait_for(phone.arrived.wait(), timeout=10)
    finally:
        await running.stop()

    assert phone.delivered[0][0] == 501
    with ctx.session() as session:
        assert {n.status for n in session.exec(select(Notification)).all()} == {SENT}


async def test_a_slow_dispatch_never_runs_twice_at_once(ctx: AppContext) -> None:
    caseload(ctx)
    phone = Phone()
    phone.release.clear()  # the first send hangs until released
    reminder_day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)

    running = start_jobs(ctx, phone, clock=lambda: reminder_day, dispatch_interval=0.02)
    try:
        await asyncio.wait_for(phone.started.wait(), timeout=10)
        for _ in range(20):  # many intervals pass while the first dispatch is stuck
            await asyncio.sleep(0.02)
            assert phone.running == 1
        phone.release.set()
        await asyncio.wait_for(phone.arrived.wait(), timeout=10)
    finally:
        await running.stop()

    assert phone.most_at_once == 1 and len(phone.delivered) == 1


def test_the_standalone_runner_refuses_to_start_without_a_token(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)

    assert cli_main(["worker", "--once"]) == 1
    assert "TELEGRAM_BOT_TOKEN is not set" in capsys.readouterr().err


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_the_standalone_runner_sends_what_is_due_once(
    database: Database,
    ctx: AppContext,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[delivery]\nworking_hours = "always"\n')
    with ctx.session() as session:
        session.add(Staff(staff_id="SW1", name="Sam Worker", role="social_worker", chat_id=501))
        enqueue(
            session, key="k1", recipient_id="SW1", kind="info", message=Message("hello"),
            at=datetime.now(UTC), cal=ctx.calendar, hours=WorkingHours(None, None),
        )  # fmt: skip
    monkeypatch.chdir(tmp_path)
    with BotApiStandIn.threaded(token=TOKEN) as api:
        monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
        monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("IROBOT_TELEGRAM_API_URL", api.base_url)
        monkeypatch.setenv("IROBOT_POLICY", str(policy))
        assert cli_main(["worker", "--once"]) == 0
        assert [m.text for m in api.messages(501)] == ["hello"]
    assert "sent 1" in capsys.readouterr().out


def test_one_scan_drains_every_due_item_in_committed_batches(ctx: AppContext) -> None:
    with ctx.session() as session:
        org_chart(session)
        for n in range(7):
            add_plan(session, f"CP-{n}")
            add_conference(session, f"C{n}", case_ref=f"CP-{n}")
        sync_obligations(session, ctx.policy, now=london(2026, 11, 30, 9))
    result = scan_once(ctx, now=london(2026, 12, 3, 9), batch=2)
    assert result.examined >= 7
    assert not result.more
    with ctx.session() as session:
        reminded = {n.obligation_id for n in session.exec(select(Notification)).all()}
    assert len(reminded) >= 7


async def test_stopping_cancels_a_stuck_dispatch_quietly_and_starts_nothing_new(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    caseload(ctx)
    phone = Phone()
    phone.release.clear()  # the send hangs: only a cancellation ends it
    reminder_day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    running = start_jobs(ctx, phone, clock=lambda: reminder_day, dispatch_interval=0.02)
    await asyncio.wait_for(phone.started.wait(), timeout=10)

    await asyncio.wait_for(running.stop(grace_seconds=0.1), timeout=5)

    assert not running.scheduler.running
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    phone.release.set()
    await asyncio.sleep(0.1)
    assert phone.delivered == []  # nothing new ran after the stop


async def test_stopping_waits_for_a_running_scan_to_commit(ctx: AppContext) -> None:
    caseload(ctx)
    reminder_day = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    running = start_jobs(ctx, Phone(), clock=lambda: reminder_day, dispatch_interval=60)
    for _ in range(5000):  # the first runs start at once
        if running.busy:
            break
        await asyncio.sleep(0.001)
    await running.stop()
    with ctx.session() as session:
        assert session.exec(select(Notification)).all() != []
