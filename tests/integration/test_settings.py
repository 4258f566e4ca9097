"""Settings: a misspelt name or a bad value is one line naming it, never a quiet default."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from bot.settings import Settings, describe, known_names

KNOWN = (
    "known settings: IROBOT_DATABASE_URL, IROBOT_DISPATCH_INTERVAL_SECONDS, "
    "IROBOT_DISPATCH_LEASE_SECONDS, IROBOT_POLICY, IROBOT_TELEGRAM_API_URL, "
    "IROBOT_WEBHOOK_SECRET, TELEGRAM_BOT_TOKEN"
)


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty working directory (no `.env`) and no IROBOT_ or TELEGRAM_ variables."""
    for name in list(os.environ):
        if name.upper().startswith(("IROBOT_", "TELEGRAM_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def refusal() -> str:
    """The one line the CLI prints after `irobot: `."""
    with pytest.raises(ValidationError) as caught:
        Settings()
    return describe(caught.value)


@pytest.mark.parametrize("name", ["IROBOT_DATABSE_URL", "irobot_databse_url", "IROBOT_TOKEN"])
def test_an_unknown_irobot_name_in_the_environment_is_refused_naming_it(
    clean: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "sqlite:///elsewhere.db")
    assert refusal() == f"{name.upper()}: not a setting (in the environment); {KNOWN}"


def test_an_unknown_irobot_name_in_dot_env_is_refused_naming_the_file(clean: Path) -> None:
    (clean / ".env").write_text("OTHER_APP_URL=https://x\nIROBOT_DISPATCH_INTERVL=3\n")
    assert refusal() == f"IROBOT_DISPATCH_INTERVL: not a setting (in .env); {KNOWN}"


def test_only_unknown_irobot_names_are_refused_not_other_programs_or_the_test_suites(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (clean / ".env").write_text("PGPASSWORD=x\nIROBOT_POLICY=policy.toml\n")
    monkeypatch.setenv("IROBOT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@db/test")
    monkeypatch.setenv("IROBOTIC_ARM", "1")
    monkeypatch.setenv("IROBOT_POLICY_PATH", "other.toml")
    assert refusal() == f"IROBOT_POLICY_PATH: not a setting (in the environment); {KNOWN}"
    monkeypatch.delenv("IROBOT_POLICY_PATH")
    assert Settings().policy_path == "policy.toml"


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("IROBOT_DISPATCH_INTERVAL_SECONDS", "two", "not a number"),
        ("IROBOT_DISPATCH_INTERVAL_SECONDS", "0", "must be more than 0"),
        ("IROBOT_DISPATCH_INTERVAL_SECONDS", "61", "must be at most 60"),
        ("IROBOT_DISPATCH_LEASE_SECONDS", "0.5", "must be at least 1"),
    ],
)
def test_a_bad_value_names_its_setting_and_not_the_value(
    clean: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str, what: str
) -> None:
    monkeypatch.setenv(name, value)
    assert refusal() == f"{name}: {what}"


def test_two_bad_values_are_named_on_the_same_line(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IROBOT_DISPATCH_INTERVAL_SECONDS", "x")
    (clean / ".env").write_text("IROBOT_DISPATCH_LEASE_SECONDS=y\n")
    assert refusal() == (
        "IROBOT_DISPATCH_INTERVAL_SECONDS: not a number; "
        "IROBOT_DISPATCH_LEASE_SECONDS: not a number"
    )


def test_a_plain_postgres_url_means_postgresql_through_psycopg(
    clean: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for given_url, stored in [
        ("postgres://irobot:pw@db:5432/irobot", "postgresql+psycopg://irobot:pw@db:5432/irobot"),
        ("postgresql://irobot@db/irobot", "postgresql+psycopg://irobot@db/irobot"),
        ("postgresql+psycopg://irobot@db/irobot", "postgresql+psycopg://irobot@db/irobot"),
        ("sqlite:///irobot.db", "sqlite:///irobot.db"),
    ]:
        monkeypatch.setenv("IROBOT_DATABASE_URL", given_url)
        assert Settings().database_url == stored


SCHEMES = ("postgres://", "postgresql://")


@given(st.one_of(st.sampled_from([*SCHEMES, "POSTGRES://"]), st.text(max_size=25)), st.text())
def test_any_url_keeps_everything_after_a_postgres_scheme_and_others_stay_as_they_are(
    scheme: str, rest: str
) -> None:
    url = Settings(IROBOT_DATABASE_URL=scheme + rest, _env_file=None).database_url
    if scheme.lower() in SCHEMES:
        assert url == "postgresql+psycopg://" + rest
    elif not (scheme + rest).lower().startswith(SCHEMES):
        assert url == scheme + rest


def test_settings_can_still_be_built_from_keywords_as_the_tests_do(clean: Path) -> None:
    settings = Settings(IROBOT_DATABASE_URL="sqlite:///x.db", TELEGRAM_BOT_TOKEN="123:T")
    assert (settings.database_url, settings.telegram_bot_token) == ("sqlite:///x.db", "123:T")
    assert "IROBOT_DATABASE_URL" in known_names()
    with pytest.raises(ValidationError) as caught:
        Settings(IROBOT_DATABSE_URL="sqlite:///x.db")
    assert describe(caught.value) == f"IROBOT_DATABSE_URL: not a setting (given); {KNOWN}"


def cli(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`irobot tick --dry-run` in `cwd` with only these IROBOT_ variables."""
    ours = ("IROBOT_", "TELEGRAM_")
    base = {k: v for k, v in os.environ.items() if not k.upper().startswith(ours)}
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "tick", "--dry-run"],
        cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_the_cli_refuses_a_misspelt_database_url_in_one_line_and_creates_no_database(
    tmp_path: Path,
) -> None:
    result = cli(tmp_path, IROBOT_DATABSE_URL=f"sqlite:///{tmp_path}/real.db")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"irobot: IROBOT_DATABSE_URL: not a setting (in the environment); {KNOWN}"
    ]
    assert list(tmp_path.iterdir()) == []  # no irobot.db, no real.db


def test_the_cli_names_a_bad_value_in_one_line(tmp_path: Path) -> None:
    result = cli(tmp_path, IROBOT_DISPATCH_INTERVAL_SECONDS="often")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "irobot: IROBOT_DISPATCH_INTERVAL_SECONDS: not a number"
    ]
    assert list(tmp_path.iterdir()) == []
