"""The composition root: settings, policy and database built once and handed down."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlmodel import Session

from bot.settings import Settings
from models.db import SchemaNotCurrent, ensure_schema, make_engine, session_scope
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import Policy, load_policy

logger = logging.getLogger(__name__)


class CommandError(Exception):
    """A failure the user can fix; the CLI prints its message as one line."""


@dataclass
class AppContext:
    """Everything a command or the bot needs, built the same way in tests and production."""

    settings: Settings
    policy: Policy
    engine: Engine

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


def build_context(
    settings: Settings,
    *,
    policy: Policy | None = None,
    engine: Engine | None = None,
    upgrade: bool = True,
) -> AppContext:
    """Load the policy, connect, and check the schema (creating it in an empty database)."""
    resolved_policy = policy if policy is not None else load_policy(settings.policy_path)
    resolved_engine = engine if engine is not None else make_engine(settings.database_url)
    if upgrade:
        try:
            ensure_schema(resolved_engine)
        except SchemaNotCurrent as exc:
            raise CommandError(str(exc)) from None
    return AppContext(settings=settings, policy=resolved_policy, engine=resolved_engine)
