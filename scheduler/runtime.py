"""What a pass, a job or a use case needs from the composition root, as a port.

`bot.context.AppContext` is the production implementation, built once from the settings;
tests build it with a fake clock. Lower floors name this protocol and never import `bot`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine
from sqlmodel import Session

from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.policy import Policy


class Runtime(Protocol):
    """The database, the local policy and the one clock."""

    @property
    def engine(self) -> Engine:
        """Where the records live."""
        ...

    @property
    def policy(self) -> Policy:
        """This authority's timescales."""
        ...

    @property
    def calendar(self) -> WorkingCalendar:
        """Working days under the policy."""
        ...

    @property
    def hours(self) -> WorkingHours:
        """Quiet hours under the policy."""
        ...

    @property
    def clock(self) -> Callable[[], datetime]:
        """The one real clock (or a test's): read at the edge, passed down as `now`."""
        ...

    def session(self) -> AbstractContextManager[Session]:
        """A unit of work: committed on success, rolled back on error."""
        ...
