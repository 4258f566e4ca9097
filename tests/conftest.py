"""Shared fixtures: real databases, the default policy, and a context like production's."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import Engine

from bot.context import AppContext, build_context
from bot.settings import Settings
from scheduler.policy import Policy
from tests.auxil.db import fresh_database

settings.register_profile(
    "ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci")


@dataclass
class Database:
    """A migrated database under test and the URL a subprocess would use to reach it."""

    url: str
    engine: Engine
    schema: str | None


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the once-migrated SQLite template lives."""
    return tmp_path_factory.mktemp("template")


@pytest.fixture
def database(tmp_path: Path, template_dir: Path) -> Iterator[Database]:
    """An empty, migrated database of the backend this run tests (SQLite or PostgreSQL)."""
    with fresh_database(tmp_path, template_dir) as (url, engine, schema):
        yield Database(url=url, engine=engine, schema=schema)


@pytest.fixture
def policy() -> Policy:
    """The built-in defaults from the seeds."""
    return Policy()


@pytest.fixture
def ctx(database: Database, policy: Policy) -> AppContext:
    """The same composition root production uses, on the test database."""
    settings = Settings(
        IROBOT_DATABASE_URL=database.url,
        TELEGRAM_BOT_TOKEN="123456:TEST",
        IROBOT_TELEGRAM_API_URL="http://127.0.0.1:1/bot",
    )
    return build_context(settings, policy=policy, engine=database.engine, upgrade=False)
