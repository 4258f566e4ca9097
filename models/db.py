"""Engine, sessions and schema upgrades: one way to reach the database for every command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

# The newest migration in models/migrations/versions. Every command checks the schema before
# it starts; reading this constant instead of loading alembic's script directory keeps that
# check to one SELECT (tests/unit/test_schema_head.py fails when a migration is added and this
# is not moved on; a stale value is only slower: the check then asks alembic).
HEAD_REVISION = "0006"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    """WAL and a busy timeout let a bot and a cron `tick` share one SQLite file safely."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, *, schema: str | None = None, pooled: bool = True) -> Engine:
    """Create an engine for any SQLAlchemy URL; `schema` isolates a PostgreSQL test."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"timeout": 30}
        if not pooled:
            kwargs["poolclass"] = NullPool
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        # Let SQLAlchemy issue BEGIN itself so "BEGIN IMMEDIATE" style locking stays predictable.
        return engine
    if schema:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    if not pooled:
        kwargs["poolclass"] = NullPool
    else:
        kwargs["pool_pre_ping"] = True
    return create_engine(parsed, **kwargs)


def alembic_config() -> Config:
    """Alembic configuration that finds the migrations inside the installed package."""
    from alembic.config import Config  # alembic only when migrating or explaining a mismatch

    cfg = Config()
    cfg.set_main_option("script_location", "models:migrations")
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema to `revision` on this engine."""
    from alembic import command

    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def stored_revisions(engine: Engine) -> set[str] | None:
    """The revisions in `alembic_version`, read with plain SQL; None when there is no table."""
    with engine.connect() as connection:
        try:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        except DBAPIError:  # no such table: a new database, or not an IRObot one
            return None
        return {str(version) for (version,) in rows}


def is_current(engine: Engine) -> bool:
    """True when the database is already at the newest migration.

    The common case (at `HEAD_REVISION`) costs one query and no alembic import; anything else
    is confirmed against alembic's own view of the migrations folder.
    """
    if stored_revisions(engine) == {HEAD_REVISION}:
        return True
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    with engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    return current == heads


class SchemaNotCurrent(RuntimeError):
    """The database holds data at another revision: only `irobot db upgrade` may migrate it."""


def revisions(engine: Engine) -> tuple[str | None, str]:
    """(the database's revision or None, the newest revision this version knows)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head() or ""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return (",".join(sorted(current)) or None), head


def is_empty(engine: Engine) -> bool:
    """No tables at all: a new database that first use may create without asking."""
    return not inspect(engine).get_table_names()


def schema_problem(engine: Engine) -> str | None:
    """One line saying why this database cannot be used as it is, and what to do; or None."""
    current, head = revisions(engine)
    if current == head:
        return None
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        return (
            f"the database schema is at revision {current}, newer than this version knows "
            f"({head}): install the version that created it"
        )
    if current is None:
        return (
            "the database has tables but no IRObot schema: point IROBOT_DATABASE_URL at the "
            "IRObot database, or at an empty one"
        )
    return (
        f"the database schema is at revision {current}, this version needs {head}: "
        "back up, then run `irobot db upgrade`"
    )


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse to migrate one that holds data.

    Migrating a live database is a deliberate step (back up first), so only `irobot db
    upgrade` does it; an empty database is created here so the demo and first use need none.
    """
    if is_current(engine):
        return
    if is_empty(engine):
        logger.info("creating the database schema")
        upgrade(engine)
        return
    problem = schema_problem(engine)
    if problem:
        raise SchemaNotCurrent(problem)


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
