"""The composition root: settings, policy and database built once and handed down."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session

from bot.settings import Settings
from models.db import SchemaNotCurrent, ensure_schema, make_engine, session_scope
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import Policy, load_policy

if TYPE_CHECKING:  # Telegram and APScheduler load only for the commands that use them
    from telegram import Bot

    from handlers.sender import TelegramSender
    from models.buttons import Keyboard
    from scheduler.jobs import Jobs
    from scheduler.pacing import Pacing
    from scheduler.senders import Sender

logger = logging.getLogger(__name__)


def utcnow() -> datetime:
    """The one real clock: read here, at the edge, and passed down as `now`."""
    return datetime.now(UTC)


class CommandError(Exception):
    """A failure the user can fix; the CLI prints its message as one line."""


@dataclass
class AppContext:
    """Everything a command or the bot needs, built the same way in tests and production."""

    settings: Settings
    policy: Policy
    engine: Engine
    clock: Callable[[], datetime] = field(default=utcnow)

    @property
    def calendar(self) -> WorkingCalendar:
        """Working days under this authority's policy."""
        return self.policy.calendar()

    @property
    def hours(self) -> WorkingHours:
        """Quiet hours under this authority's policy."""
        return self.policy.hours()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A committed-or-rolled-back unit of work."""
        with session_scope(self.engine) as session:
            yield session

    def bot(self, **options: Any) -> Bot:
        """A PTB `Bot` for the configured token and Bot API (the stand-in in tests).

        Built by `build_bot`, so every request passes the one rate limiter, as in `irobot run`.
        """
        from handlers.sender import build_bot

        return build_bot(**self.settings.telegram(), **options)

    def sender(self, **options: Any) -> LazySender:
        """The Telegram sender the dispatcher uses outside `irobot run` (tick, worker).

        Built on its first message, so a tick with nothing to send never loads PTB or httpx.
        """
        from scheduler.pacing import Pacing

        def build(pacing: Pacing) -> TelegramSender:
            from handlers.ratelimit import RateLimiter
            from handlers.sender import TelegramSender

            return TelegramSender(self.bot(rate_limiter=RateLimiter(pacing), **options))

        return LazySender(build, Pacing())

    def jobs(self, sender: Sender, **options: Any) -> Jobs:
        """The three scheduler jobs, paced and leased as the settings say (not started)."""
        from scheduler.jobs import Jobs

        options.setdefault("dispatch_interval", self.settings.dispatch_interval_seconds)
        options.setdefault("lease_seconds", self.settings.dispatch_lease_seconds)
        return Jobs(self, sender, **options)


class LazySender:
    """A `Sender` that builds the real one on the first message; `pacing` is known before."""

    def __init__(self, build: Callable[[Pacing], TelegramSender], pacing: Pacing) -> None:
        self.pacing = pacing
        self._build = build
        self._sender: TelegramSender | None = None

    @property
    def built(self) -> TelegramSender:
        """The Telegram sender itself, built now if nothing was sent yet."""
        if self._sender is None:
            self._sender = self._build(self.pacing)
        return self._sender

    async def send(
        self, chat_id: int, text: str, keyboard: Keyboard | None, photo: bytes | None = None
    ) -> int:
        """Send through the Telegram sender, building it the first time."""
        return await self.built.send(chat_id, text, keyboard, photo)

    async def close(self) -> None:
        """Release the HTTP pool, if one was ever opened."""
        if self._sender is not None:
            await self._sender.close()


def build_context(
    settings: Settings,
    *,
    policy: Policy | None = None,
    engine: Engine | None = None,
    upgrade: bool = True,
    clock: Callable[[], datetime] = utcnow,
) -> AppContext:
    """Load the policy, connect, and check the schema (creating it in an empty database)."""
    resolved_policy = policy if policy is not None else load_policy(settings.policy_path)
    resolved_engine = engine if engine is not None else make_engine(settings.database_url)
    if upgrade:
        try:
            ensure_schema(resolved_engine)
        except SchemaNotCurrent as exc:
            raise CommandError(str(exc)) from None
    return AppContext(
        settings=settings, policy=resolved_policy, engine=resolved_engine, clock=clock
    )
