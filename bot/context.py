"""The composition root: settings, policy and database built once and handed down."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session
from telegram import Bot

from bot.settings import Settings
from handlers.sender import TelegramSender, build_bot
from models.db import SchemaNotCurrent, ensure_schema, make_engine, session_scope
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.jobs import Jobs
from scheduler.policy import Policy, load_policy
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
        return build_bot(**self.settings.telegram(), **options)

    def sender(self, **options: Any) -> TelegramSender:
        """The Telegram sender the dispatcher uses outside `irobot run` (tick, worker)."""
        return TelegramSender(self.bot(**options))

    def jobs(self, sender: Sender, **options: Any) -> Jobs:
        """The three scheduler jobs, paced and leased as the settings say (not started)."""
        options.setdefault("dispatch_interval", self.settings.dispatch_interval_seconds)
        options.setdefault("lease_seconds", self.settings.dispatch_lease_seconds)
        return Jobs(self, sender, **options)


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
