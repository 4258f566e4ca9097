"""Crash safety: SIGKILL a real scheduler process again and again; nothing is lost.

The process under test is either the scheduler alone (`irobot worker --loop`) or
the whole bot (`irobot run`: long polling plus the same jobs, with a short dispatch lease
from `IROBOT_DISPATCH_LEASE_SECONDS`), against the Bot API stand-in, also a separate process,
over a real database file (or the PostgreSQL schema in the PostgreSQL run). It is killed at
random moments while it claims, sends and records, and restarted until the outbox drains.
Every notification must reach its chat, and the only duplicates allowed are the messages in
flight at a kill: at most one per kill, each resend audited as possibly duplicated.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlmodel import Session

from models.buttons import Message
from models.tables import AuditEvent, Notification, Staff
from models.vocabulary import SENT
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.notify import enqueue
from tests.auxil.botapi import ControlClient, spawn_process
from tests.conftest import Database

TOKEN = "123456:TEST"
MESSAGES = 100
CHATS = 50
KILLS = 6
LEASE_SECONDS = 2.0
SEED = 20261122

pytestmark = pytest.mark.slow


@pytest.fixture
def api() -> Iterator[ControlClient]:
    """The stand-in in its own process, with Telegram's flood limits on."""
    client = spawn_process(TOKEN, limits=True)
    try:
        yield client
    finally:
        client.close()


def fill_outbox(database: Database) -> None:
    """MESSAGES queued notifications to CHATS linked people, due now."""
    now = datetime.now(UTC)
    with Session(database.engine) as session:
        for n in range(CHATS):
            session.add(
                Staff(staff_id=f"S{n}", name=f"Person {n}", role="social_worker",
                      chat_id=10_000 + n, telegram_user_id=10_000 + n)
            )  # fmt: skip
        for i in range(MESSAGES):
            enqueue(
                session, key=f"crash:{i}", recipient_id=f"S{i % CHATS}", kind="info",
                message=Message(f"crash test message {i}"), at=now,
                cal=WorkingCalendar.england(), hours=WorkingHours(None, None),
            )  # fmt: skip
        session.commit()


def outbox_status(database: Database) -> Counter[str]:
    """How many rows are in each status."""
    with Session(database.engine) as session:
        rows = session.execute(
            select(Notification.status, func.count()).group_by(Notification.status)  # type: ignore[arg-type]
        ).all()
    return Counter({status: count for status, count in rows})


def start_scheduler(
    database: Database, api: ControlClient, policy: Path, log: Path
) -> subprocess.Popen[str]:
    """A fresh scheduler process; returns once it has started its jobs."""
    env = {
        **os.environ,
        "IROBOT_DATABASE_URL": database.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "IROBOT_TELEGRAM_API_URL": api.base_url,
        "IROBOT_POLICY": str(policy),
        "IROBOT_DISPATCH_INTERVAL_SECONDS": "0.1",
        "IROBOT_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "worker", "--loop"],
            cwd=policy.parent, env=env, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    assert line == "READY", f"scheduler did not start: {line!r}\n{log.read_text()}"
    return proc


def start_bot(
    database: Database, api: ControlClient, policy: Path, log: Path
) -> subprocess.Popen[str]:
    """A fresh `irobot run` (long polling plus the jobs); returns once it polls Telegram."""
    env = {
        **os.environ,
        "IROBOT_DATABASE_URL": database.url,
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "IROBOT_TELEGRAM_API_URL": api.base_url,
        "IROBOT_POLICY": str(policy),
        "IROBOT_DISPATCH_INTERVAL_SECONDS": "0.1",
        "IROBOT_DISPATCH_LEASE_SECONDS": str(LEASE_SECONDS),
    }
    polls_before = sum(1 for call in api.log() if call["method"] == "getUpdates")
    with log.open("a") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"],
            cwd=policy.parent, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True,
        )  # fmt: skip
    deadline = time.monotonic() + 30  # a hang guard, not a timing claim
    while sum(1 for call in api.log() if call["method"] == "getUpdates") <= polls_before:
        assert proc.poll() is None, f"irobot run exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"irobot run never polled: {log.read_text()}"
        time.sleep(0.05)
    return proc


def audited(database: Database, action: str) -> int:
    """How many audit events of this action there are."""
    with Session(database.engine) as session:
        return int(
            session.execute(
                select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)  # type: ignore[arg-type]
            ).scalar_one()
        )


def delivered_texts(api: ControlClient) -> Counter[str]:
    """Every message the stand-in accepted (sendMessage answered 200), counted by text."""
    return Counter(
        str(call["params"].get("text"))
        for call in api.log()
        if call["method"] == "sendMessage" and call["status"] == 200
    )


@pytest.mark.parametrize("process", ["irobot worker", "irobot run"])
def test_sigkill_at_random_points_loses_nothing_and_duplicates_at_most_one_per_kill(
    database: Database, api: ControlClient, tmp_path: Path, process: str
) -> None:
    start = start_scheduler if process == "irobot worker" else start_bot
    policy = tmp_path / "policy.toml"
    policy.write_text('[delivery]\nworking_hours = "always"\n')
    log = tmp_path / "scheduler.log"
    fill_outbox(database)
    rng = random.Random(SEED)

    kills = 0
    deadline = time.monotonic() + 120  # a hang guard, not a timing claim
    while kills < KILLS and outbox_status(database)[SENT] < MESSAGES:
        proc = start(database, api, policy, log)
        time.sleep(rng.uniform(0.0, 0.8))  # after start-up: while claiming, sending, recording
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)
        kills += 1
    proc = start(database, api, policy, log)
    try:
        while outbox_status(database)[SENT] < MESSAGES:
            assert time.monotonic() < deadline, f"queue did not drain: {outbox_status(database)}"
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(5)

    texts = delivered_texts(api)
    expected = {f"crash test message {i}" for i in range(MESSAGES)}
    assert set(texts) == expected, f"lost: {sorted(expected - set(texts))}"
    duplicates = sum(count - 1 for count in texts.values())
    assert kills >= 3, "the scheduler drained before it could be killed enough times"
    assert duplicates <= kills, f"{duplicates} duplicates after {kills} kills"
    assert audited(database, "message_sent") == MESSAGES  # each row's recorded send, once
    possibly = audited(database, "message_possibly_duplicated")
    assert duplicates <= possibly <= kills  # every copy that may be a duplicate is on record
    print(f"kills={kills} duplicates={duplicates} possibly duplicated={possibly}")
