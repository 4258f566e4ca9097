"""Every command checks the schema first: a current one with one query and without alembic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from models.db import HEAD_REVISION, is_current, stored_revisions
from tests.conftest import Database

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import sys
from models.db import is_current, make_engine
engine = make_engine(sys.argv[1])
print(is_current(engine), "alembic" in sys.modules)
"""


def probe(url: str) -> str:
    """`is_current` in a fresh interpreter: its answer and whether alembic got imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, url], cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_a_current_schema_is_recognised_without_importing_alembic(database: Database) -> None:
    assert stored_revisions(database.engine) == {HEAD_REVISION}
    assert probe(database.url) == "True False"


def test_a_schema_at_another_revision_is_not_current_and_alembic_is_asked(
    database: Database,
) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    assert stored_revisions(database.engine) == {"0001"}
    assert not is_current(database.engine)
    assert probe(database.url) == "False True"


def test_a_database_without_a_version_table_has_no_stored_revision(database: Database) -> None:
    with database.engine.begin() as conn:
        conn.execute(text("DROP TABLE alembic_version"))
    assert stored_revisions(database.engine) is None
    assert not is_current(database.engine)
