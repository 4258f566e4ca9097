"""Once-a-day passes: the first process to claim a local day runs the pass, the rest skip it."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from models.bulk import table_of
from models.tables import DailyPass


def claim_day(session: Session, name: str, day: date) -> bool:
    """True for the first caller on `day` (compare-and-set on the pass's row); False after.

    A later day moves the row forward; the same or an earlier day (a preview of the past)
    claims nothing. Inside the caller's transaction: a rolled-back pass leaves the day free.
    """
    table = table_of(DailyPass)
    moved = session.execute(
        update(table).where(table.c.name == name).where(table.c.day < day).values(day=day)
    ).rowcount  # type: ignore[attr-defined]
    if moved == 1:
        return True
    if session.execute(select(table.c.day).where(table.c.name == name)).first() is not None:
        return False
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(table)
        .values(name=name, day=day)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(table.c.name)
    )
    return session.execute(stmt).first() is not None
