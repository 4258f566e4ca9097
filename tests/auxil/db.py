"""Fresh, migrated databases for tests: a real SQLite file, or a PostgreSQL schema."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from models.db import make_engine, upgrade

TEST_DATABASE_URL = os.environ.get("IROBOT_TEST_DATABASE_URL", "")
_TEMPLATE: dict[str, Path] = {}


def backend() -> str:
    """`postgresql` when the suite runs against the real server, else `sqlite`."""
    return "postgresql" if TEST_DATABASE_URL.startswith("postgresql") else "sqlite"


def _sqlite_template(base: Path) -> Path:
    """Migrate once per session, then copy the file: every test still gets real migrations."""
    if "path" not in _TEMPLATE:
        template = base / f"template-{uuid.uuid4().hex}.db"
        engine = make_engine(f"sqlite:///{template}", pooled=False)
        upgrade(engine)
        engine.dispose()
        _TEMPLATE["path"] = template
    return _TEMPLATE["path"]


@contextmanager
def fresh_database(tmp_dir: Path, template_dir: Path) -> Iterator[tuple[str, Engine, str | None]]:
    """Yield (url, engine, schema) for an empty, fully migrated database."""
    if backend() == "postgresql":
        schema = f"t_{uuid.uuid4().hex[:16]}"
        admin = make_engine(TEST_DATABASE_URL, pooled=False)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        engine = make_engine(TEST_DATABASE_URL, schema=schema)
        try:
            upgrade(engine)
            url = str(
                make_url(TEST_DATABASE_URL)
                .update_query_dict({"options": f"-csearch_path={schema}"})
                .render_as_string(hide_password=False)
            )
            yield url, engine, schema
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()
        return
    path = tmp_dir / "irobot-test.db"
    shutil.copyfile(_sqlite_template(template_dir), path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        yield url, engine, None
    finally:
        engine.dispose()
