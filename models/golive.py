"""When the service went live: the first import. What fell due before it is backlog."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models.bulk import table_of
from models.tables import GoLive


def went_live(session: Session) -> datetime | None:
    """The instant of the service's first import, or None before it."""
    table = table_of(GoLive)
    found = session.execute(select(table.c.at).where(table.c.id == 1)).scalar()
    return found if isinstance(found, datetime) else None


def mark_golive(session: Session, now: datetime) -> None:
    """Remember the first import (later calls change nothing, in any process)."""
    table = table_of(GoLive)
    if session.execute(select(table.c.id).where(table.c.id == 1)).first() is not None:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(table).values(id=1, at=now).on_conflict_do_nothing(index_elements=["id"])
    )
