"""Bulk reads and writes for imports and syncs of tens of thousands of rows.

Rows come back as plain tuples with each distinct date converted once; inserts go below
SQLAlchemy's per-row parameter handling. Storage only: nothing here knows what a row means.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Select,
    String,
    Table,
    bindparam,
    select,
    type_coerce,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

CHUNK = 500
INSERT_BATCH = 5000
WIDE_SCOPE = 5000  # more case refs than this: read the span they cover and filter in Python


def table_of(model: Any) -> Table:
    """The Core table behind a SQLModel class, for bulk statements."""
    return model.__table__


def chunks(values: Sequence[str], size: int = CHUNK) -> Iterator[Sequence[str]]:
    """IN lists of bounded size: SQLite limits bound parameters per statement."""
    for start in range(0, len(values), size):
        yield values[start : start + size]


class Memo:
    """Converts date/datetime values once per distinct value: many rows share few dates.

    Bulk loads select these columns untyped and bulk inserts bind them pre-converted,
    so 200,000 rows cost a dictionary lookup each instead of a parse or a format each.
    """

    def __init__(self, session: Session) -> None:
        """Remember the dialect; converters are built on first use per column."""
        self.dialect = session.get_bind().dialect
        self.readers: dict[str, Callable[[Any], Any]] = {}
        self.writers: dict[str, Callable[[Any], Any]] = {}

    @staticmethod
    def _temporal(column: Any) -> bool:
        """Date and datetime columns are the ones worth converting once per value."""
        return isinstance(column.type, (Date, DateTime, TypeDecorator))

    def _memoised(self, convert: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
        """Wrap a converter with a per-value cache (None passes through)."""
        if convert is None:
            return lambda value: value
        seen: dict[Any, Any] = {}

        def run(value: Any) -> Any:
            """Convert once per distinct value."""
            if value is None:
                return None
            try:
                return seen[value]
            except KeyError:
                seen[value] = converted = convert(value)
                return converted

        return run

    def reader(self, column: Any) -> Callable[[Any], Any]:
        """Raw driver value -> Python value, as the column's own type would convert it."""
        key = f"{column.table.name}.{column.name}"
        if key not in self.readers:
            impl = column.type.dialect_impl(self.dialect)
            self.readers[key] = self._memoised(impl.result_processor(self.dialect, None))
        return self.readers[key]

    def writer(self, column: Any) -> Callable[[Any], Any]:
        """Python value -> what the column's type would bind (UTC, naive on SQLite)."""
        key = f"{column.table.name}.{column.name}"
        if key not in self.writers:
            impl = column.type.dialect_impl(self.dialect)
            self.writers[key] = self._memoised(impl.bind_processor(self.dialect))
        return self.writers[key]


@lru_cache(maxsize=256)
def _reads(
    table: Table, cols: tuple[str, ...], scope_col: str
) -> tuple[Select[Any], Select[Any], tuple[int, ...]]:
    """The select of these columns, the same for one case ref, and which columns are dates:
    built once per shape (a press reads five tables for its one case, every press)."""
    columns = [table.c[c] for c in cols]
    temporal = tuple(i for i, c in enumerate(columns) if Memo._temporal(c))
    stmt = select(
        *(type_coerce(c, String()) if i in temporal else c for i, c in enumerate(columns))
    )
    return stmt, stmt.where(table.c[scope_col] == bindparam("rows_of_one")), temporal


def rows_of(session: Session, table: Table, cols: Sequence[str], scope: Sequence[str] | None,
          scope_col: str, memo: Memo | None = None) -> list[tuple[Any, ...]]:  # fmt: skip
    """All rows, or the rows for these case refs, as plain tuples (dates converted once each)."""
    memo = memo or Memo(session)
    stmt, one, temporal = _reads(table, tuple(cols), scope_col)
    raw: list[Any] = []
    if scope is None:
        raw = list(session.execute(stmt).all())
    elif len(scope) == 1:
        raw = list(session.execute(one, {"rows_of_one": scope[0]}).all())
    elif len(scope) > WIDE_SCOPE:
        # One read of the span the scope covers (a big import's chunk: a contiguous stretch
        # of case refs; at worst the whole table), filtered here: no long IN lists.
        wanted = set(scope)
        at = cols.index(scope_col)
        span = stmt.where(table.c[scope_col].between(min(wanted), max(wanted)))
        raw = [r for r in session.execute(span).all() if r[at] in wanted]
    else:
        for part in chunks(scope):
            raw.extend(session.execute(stmt.where(table.c[scope_col].in_(part))).all())
    if not temporal:
        return [tuple(r) for r in raw]
    readers = [(i, memo.reader(table.c[cols[i]])) for i in temporal]
    out = []
    for r in raw:
        row = list(r)
        for i, read in readers:
            row[i] = read(row[i])
        out.append(tuple(row))
    return out


def insert_rows(
    session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Driver-level executemany of plain rows (values in `columns` order): an import's records.

    Each value is converted as its column would bind it (once per distinct date), and a
    column left out gets its scalar default, as SQLAlchemy's own INSERT would give it; for
    50,000 records this skips SQLAlchemy's per-row parameter handling.
    """
    if not rows:
        return
    missing = [c for c in table.c if c.name not in columns and c.default is not None]
    if any(not c.default.is_scalar for c in missing):  # type: ignore[union-attr]
        raise ValueError(f"{table.name}: a column default that is not a value")
    names = [*columns, *(c.name for c in missing)]
    defaults = tuple(c.default.arg for c in missing)  # type: ignore[union-attr]
    memo = Memo(session)
    writers = [memo.writer(table.c[name]) for name in names]
    connection = session.connection()
    prepare = connection.dialect.identifier_preparer
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO {prepare.format_table(table)} ({', '.join(map(prepare.quote, names))}) "
        f"VALUES ({', '.join([marker] * len(names))})"
    )
    for start in range(0, len(rows), INSERT_BATCH):
        batch = [
            tuple(write(value) for write, value in zip(writers, (*row, *defaults), strict=True))
            for row in rows[start : start + INSERT_BATCH]
        ]
        connection.exec_driver_sql(sql, batch)


INSERT_COLUMNS = (
    "kind", "subject_id", "case_ref", "owner_id", "due_at", "status", "stage", "stage_due_at",
    "next_action_at", "done_at", "outcome", "version", "created_at", "updated_at", "backlog",
)  # fmt: skip


def insert_obligations(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Driver-level executemany of rows already in bind form; duplicates skipped.

    An import of 50,000 plans inserts ~80,000 rows; going below SQLAlchemy's per-row
    parameter handling halves the time. A (kind, subject_id) another process created a
    moment ago is skipped, not an error.
    """
    if not rows:
        return
    connection = session.connection()
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (
        f"INSERT INTO obligation ({', '.join(INSERT_COLUMNS)}) "
        f"VALUES ({', '.join([marker] * len(INSERT_COLUMNS))}) "
        "ON CONFLICT (kind, subject_id) DO NOTHING"
    )
    for start in range(0, len(rows), INSERT_BATCH):
        connection.exec_driver_sql(sql, rows[start : start + INSERT_BATCH])


VALUES_ROWS = 500  # rows per VALUES list: 8 columns stay far below both databases' limits


def values_cte(
    connection: Connection,
    name: str,
    columns: Sequence[tuple[str, Any]],
    rows: Sequence[Sequence[Any]],
) -> tuple[str, list[Any]]:
    """`WITH name(a, b, ...) AS (VALUES ...)` in the driver's own style, and its parameters.

    For one statement per batch (an UPDATE ... FROM name ... RETURNING): each (column, type)
    converts its values as the type would bind them (a UTC datetime as SQLite stores it);
    on PostgreSQL every placeholder is cast to its type, so a column NULL in every row keeps it.
    """
    dialect = connection.dialect
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    if dialect.name == "postgresql":
        slots = [f"CAST({marker} AS {type_.compile(dialect=dialect)})" for _, type_ in columns]
    else:
        slots = [marker] * len(columns)
    convert = [type_.dialect_impl(dialect).bind_processor(dialect) for _, type_ in columns]
    params: list[Any] = []
    for row in rows:
        params.extend(
            value if value is None or bind is None else bind(value)
            for value, bind in zip(row, convert, strict=True)
        )
    one = f"({', '.join(slots)})"
    names = ", ".join(n for n, _ in columns)
    return f"WITH {name}({names}) AS (VALUES {', '.join([one] * len(rows))})", params
