"""The fixed scheduler jobs (scan, dispatch, digest) and the one-shot pass `irobot tick` runs.

Deadlines are data, so the scheduler never holds one job per reminder: three jobs with
explicit ids re-read the database each time, in an in-memory job store (nothing pickled), and
a job never overlaps itself (`max_instances=1`, `coalesce=True`).

`irobot worker --once | --loop` runs the same code as a process on its own (the crash test
SIGKILLs it); `irobot run` runs it beside the conversation.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session

from scheduler.digest import digest_pass
from scheduler.dispatch import LEASE_SECONDS, DispatchResult, dispatch_pass
from scheduler.policy import Policy
from scheduler.runtime import Runtime
from scheduler.scan import ScanResult, scan_pass
from scheduler.senders import Sender

if TYPE_CHECKING:  # APScheduler loads only where the jobs run (run, worker --loop), not in tick
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

logger = logging.getLogger(__name__)

JOB_IDS = ("scan", "dispatch", "digest")
DISPATCH_INTERVAL_SECONDS = 2.0
DIGEST_INTERVAL_SECONDS = 60.0
STOP_GRACE_SECONDS = 5.0


def make_worker_id() -> str:
    """Who holds a claimed outbox row: host, process and a per-start nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


SCAN_BATCH = 5000
MAX_SCAN_BATCHES = 40  # 40 x 5,000 due items per pass; the rest waits for the next interval


def scan_in(
    session: Session, policy: Policy, *, now: datetime, batch: int = SCAN_BATCH
) -> ScanResult:
    """One scan batch in the caller's session (the dry run's rolled-back preview uses it)."""
    return scan_pass(session, policy, now=now, limit=batch)


def digest_in(session: Session, policy: Policy, *, now: datetime) -> int:
    """The digest check in the caller's session; it decides itself whether today's is due."""
    return int(digest_pass(session, policy, now=now))


def scan_once(ctx: Runtime, *, now: datetime, batch: int = SCAN_BATCH) -> ScanResult:
    """Scan in committed batches until nothing due is left, so a big import drains in one go."""
    total = ScanResult()
    for _ in range(MAX_SCAN_BATCHES):
        with ctx.session() as session:
            done = scan_in(session, ctx.policy, now=now, batch=batch)
        for name in (
            "examined",
            "queued",
            "stage_moves",
            "challenge_listed",
            "skipped",
            "milestones",
            "failed",
        ):
            setattr(total, name, getattr(total, name) + getattr(done, name))
        total.more = done.more
        if not done.more:
            break
    return total


def digest_once(ctx: Runtime, *, now: datetime) -> int | None:
    """One digest check in its own transaction (its keys make repeats harmless)."""
    with ctx.session() as session:
        return digest_in(session, ctx.policy, now=now)


async def run_once(
    ctx: Runtime,
    sender: Sender,
    *,
    now: datetime,
    worker_id: str | None = None,
    digest: bool = True,
    **dispatch_options: Any,
) -> tuple[ScanResult, DispatchResult]:
    """Scan (and the digest check), then one dispatch pass: what `irobot tick` does."""
    scanned = scan_once(ctx, now=now)
    if digest:
        digest_once(ctx, now=now)
    sent = await dispatch_pass(
        ctx.engine,
        sender,
        ctx.policy,
        now=now,
        worker_id=worker_id or make_worker_id(),
        **dispatch_options,
    )
    return scanned, sent


class Jobs:
    """The three fixed jobs and their scheduler: started once, stopped cleanly on shutdown.

    Every run goes through `_guard`, which tracks it, so `stop` can let a running scan or
    digest finish (or cancel a long dispatch) without APScheduler logging a traceback.
    """

    def __init__(
        self,
        ctx: Runtime,
        sender: Sender,
        *,
        clock: Callable[[], datetime] | None = None,
        dispatch_interval: float = DISPATCH_INTERVAL_SECONDS,
        digest_interval: float = DIGEST_INTERVAL_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        worker_id: str | None = None,
        scheduler: AsyncIOScheduler | None = None,
    ) -> None:
        self.ctx = ctx
        self.sender = sender
        self.clock = clock or ctx.clock
        self.dispatch_interval = dispatch_interval
        self.digest_interval = digest_interval
        self.lease_seconds = lease_seconds
        self.worker_id = worker_id or make_worker_id()
        if scheduler is None:
            from apscheduler.schedulers.asyncio import AsyncIOScheduler

            scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler = scheduler
        self._running: set[asyncio.Task[Any]] = set()
        self._stopping = False

    @property
    def busy(self) -> bool:
        """Whether a job is running right now."""
        return bool(self._running)

    async def scan(self) -> None:
        """Scheduled scan, in a worker thread so the bot's loop stays responsive."""
        result = await asyncio.to_thread(scan_once, self.ctx, now=self.clock())
        logger.debug("scan job: %s", result)

    async def digest(self) -> None:
        """Scheduled digest check, in a worker thread like the scan."""
        made = await asyncio.to_thread(digest_once, self.ctx, now=self.clock())
        if made:
            logger.info("digest job enqueued %d message(s)", made)

    async def dispatch(self) -> None:
        """Scheduled dispatch on the event loop; the sender's limiter keeps limits across passes."""
        result = await dispatch_pass(
            self.ctx.engine,
            self.sender,
            self.ctx.policy,
            now=self.clock(),
            worker_id=self.worker_id,
            lease_seconds=self.lease_seconds,
        )
        if result.claimed or result.reclaimed:
            logger.info("dispatch job: %s", result)

    async def _guard(self, name: str, job: Callable[[], Awaitable[None]]) -> None:
        """Run one job, tracked for `stop`; a cancellation by `stop` ends it quietly."""
        task = asyncio.current_task()
        if self._stopping or task is None:
            return
        self._running.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            if not self._stopping:
                raise
            logger.info("%s job cancelled at shutdown", name)
        finally:
            self._running.discard(task)

    def start(self) -> Jobs:
        """Register exactly the three jobs and start the scheduler on the running event loop."""
        first = datetime.now(UTC)  # when to fire is real time even if `clock` is simulated
        common: dict[str, Any] = {
            "trigger": "interval",
            "replace_existing": True,
            "max_instances": 1,
            "coalesce": True,
            "misfire_grace_time": 30,
            "next_run_time": first,
        }
        intervals = {
            "scan": float(self.ctx.policy.delivery.scan_interval_seconds),
            "dispatch": self.dispatch_interval,
            "digest": self.digest_interval,
        }
        bodies: dict[str, Callable[[], Awaitable[None]]] = {
            "scan": self.scan,
            "dispatch": self.dispatch,
            "digest": self.digest,
        }
        for name in JOB_IDS:
            self.scheduler.add_job(
                self._guard,
                id=name,
                name=name,
                seconds=intervals[name],
                args=[name, bodies[name]],
                **common,
            )
        if not self.scheduler.running:
            self.scheduler.start()
        return self

    async def stop(self, grace_seconds: float = STOP_GRACE_SECONDS) -> None:
        """No new runs; let running jobs finish within the grace, cancel the rest, then stop.

        A cancelled dispatch hands its unsent rows back (its `finally`); a scan or digest
        thread cannot be interrupted, so it is waited for: each is one short transaction.
        """
        if self._stopping:
            return
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.pause()
        running = set(self._running)
        if running:
            _, late = await asyncio.wait(running, timeout=grace_seconds)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        logger.info("scheduler jobs stopped")


def start_jobs(ctx: Runtime, sender: Sender, **options: Any) -> Jobs:
    """The three jobs, started on the running event loop (options as for `Jobs`)."""
    return Jobs(ctx, sender, **options).start()
