"""deploy/: the systemd units verify, the examples match the code, the nightly import stops
at the first rejected file, and the nginx example serves the path `irobot run` listens on."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dotenv import dotenv_values
from pydantic import BaseModel
from sqlmodel import Session, select

from bot.cli import build_parser
from bot.commands.run import webhook_path
from bot.settings import Settings, known_names
from models.tables import Conference, Plan, Staff
from scheduler.policy import Policy, load_policy
from tests.conftest import Database

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
UNITS = ("irobot.service", "irobot-worker.service", "irobot-import.service", "irobot-import.timer")
BIN = "/opt/irobot/bin/"
IROBOT = Path(sys.executable).with_name("irobot")

STAFF = (
    "staff_id,name,role,manager_id,team\n"
    "TM1,Tess Manager,team_manager,,North\n"
    "SW1,Sam Worker,social_worker,TM1,North\n"
    "IRO1,Ira Chair,iro,,IRO\n"
)
PLANS = "case_ref,social_worker_id,chair_id,plan_start\nCP-1,SW1,IRO1,2026-06-01\n"
CONFERENCES = "conference_id,case_ref,kind,scheduled_for\nC1,CP-1,RCPC,2027-01-14 10:00\n"
ALERTS = "alert_id,case_ref,raised_by,raised_at,kind\nA1,CP-1,IRO1,2026-11-02 09:00,positive\n"


def directives(unit: str, key: str) -> list[str]:
    """Every `key=value` in a unit file, commented-out ones too (they are examples)."""
    text = (DEPLOY / unit).read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(rf"^#?\s*{key}=(.*)$", text, re.MULTILINE)]


def test_the_systemd_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd provides it)")
    # The units name /opt/irobot/bin/...: point them at this checkout's irobot and script.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "irobot").symlink_to(IROBOT)
    shutil.copy(DEPLOY / "nightly-import.sh", bin_dir / "irobot-nightly-import")
    for unit in UNITS:
        text = (DEPLOY / unit).read_text(encoding="utf-8").replace(BIN, f"{bin_dir}/")
        (tmp_path / unit).write_text(text, encoding="utf-8")

    result = subprocess.run(
        [analyze, "verify", *(str(tmp_path / unit) for unit in UNITS)],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip

    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_every_irobot_command_line_in_the_units_is_one_the_cli_accepts() -> None:
    lines = [*directives("irobot.service", "ExecStart"),
             *directives("irobot-worker.service", "ExecStart")]  # fmt: skip
    commands = [shlex.split(line)[1:] for line in lines if line.startswith(f"{BIN}irobot ")]
    assert ["run"] in commands and ["worker", "--loop"] in commands
    for argv in commands:
        build_parser(only=argv[0]).parse_args(argv)  # exits 2 on anything unknown


def test_the_nginx_example_proxies_the_path_irobot_run_listens_on() -> None:
    nginx = (DEPLOY / "nginx-irobot.conf").read_text(encoding="utf-8")
    [webhook] = [line for line in directives("irobot.service", "ExecStart") if "--webhook" in line]
    argv = shlex.split(webhook)
    url = argv[argv.index("--webhook-url") + 1]
    port = argv[argv.index("--port") + 1]

    assert re.search(rf"location /{re.escape(webhook_path(url))} \{{", nginx)
    assert f"proxy_pass http://127.0.0.1:{port};" in nginx  # no URI: the path passes unchanged
    assert argv[argv.index("--listen") + 1] == "127.0.0.1"  # only nginx can reach it
    assert ("proxy_set_header X-Telegram-Bot-Api-Secret-Token "
            "$http_x_telegram_bot_api_secret_token;") in nginx  # fmt: skip
    assert "listen 443 ssl;" in nginx and "ssl_certificate " in nginx


def test_the_example_policy_parses_to_the_built_in_defaults() -> None:
    assert load_policy(DEPLOY / "policy.example.toml") == Policy()


def test_the_example_policy_shows_every_key_the_policy_has() -> None:
    import tomllib

    shown = tomllib.loads((DEPLOY / "policy.example.toml").read_text(encoding="utf-8"))

    def keys(model: BaseModel, data: dict[str, Any], prefix: str = "") -> list[str]:
        missing = []
        for name in type(model).model_fields:
            if name not in data:
                missing.append(prefix + name)
            elif isinstance(data[name], dict):
                missing += keys(getattr(model, name), data[name], f"{prefix}{name}.")
        return missing

    assert keys(Policy(), shown) == []


def test_the_example_env_names_only_known_settings_and_loads() -> None:
    example = DEPLOY / "irobot.env.example"
    names = set(dotenv_values(example))

    assert names <= set(known_names()), names - set(known_names())
    assert "TELEGRAM_BOT_TOKEN" in names and "IROBOT_DATABASE_URL" in names
    settings = Settings(_env_file=example)
    assert settings.policy_path == "/srv/irobot/policy.toml"


# --------------------------------------------------------------------------- nightly import


def nightly(
    database: Database, folder: Path, cwd: Path, **files: str
) -> subprocess.CompletedProcess[str]:
    """deploy/nightly-import.sh over these files, as the timer's service would run it."""
    folder.mkdir(exist_ok=True)
    for kind, content in files.items():
        (folder / f"{kind}.csv").write_text(content, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IROBOT_", "TELEGRAM_"))}
    env.update(IROBOT_DATABASE_URL=database.url, IMPORT_DIR=str(folder), IROBOT=str(IROBOT))
    return subprocess.run(
        ["bash", str(DEPLOY / "nightly-import.sh")],
        env=env, cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def stored(database: Database) -> tuple[int, int, int]:
    """How many staff, plans and conferences are in the database."""
    with Session(database.engine) as session:
        return (
            len(session.exec(select(Staff)).all()),
            len(session.exec(select(Plan)).all()),
            len(session.exec(select(Conference)).all()),
        )


def test_the_nightly_import_imports_staff_then_plans_conferences_and_alerts(
    database: Database, tmp_path: Path
) -> None:
    result = nightly(database, tmp_path / "import", tmp_path, staff=STAFF, plans=PLANS,
                     conferences=CONFERENCES, alerts=ALERTS)  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "staff: 3 created, 0 updated, 0 unchanged",
        "plans: 1 created, 0 updated, 0 unchanged",
        "conferences: 1 created, 0 updated, 0 unchanged",
        "alerts: 1 created, 0 updated, 0 unchanged",
        "irobot-import: done (staff plans conferences alerts)",
    ]
    assert stored(database) == (3, 1, 1)


def test_the_nightly_import_stops_at_the_first_rejected_file(
    database: Database, tmp_path: Path
) -> None:
    bad_plans = PLANS + "CP-2,NOBODY,IRO1,2026-06-01\n"

    result = nightly(database, tmp_path / "import", tmp_path, staff=STAFF, plans=bad_plans,
                     conferences=CONFERENCES, alerts=ALERTS)  # fmt: skip

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        "irobot-import: plans rejected (lines above); nothing after plans imported tonight"
    )
    assert "line 3: social_worker_id 'NOBODY' is not a known member of staff" in result.stderr
    assert stored(database) == (3, 0, 0)


def test_the_nightly_import_fails_on_a_missing_file_before_importing_anything_after_it(
    database: Database, tmp_path: Path
) -> None:
    result = nightly(database, tmp_path / "import", tmp_path, plans=PLANS)

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"irobot-import: {tmp_path / 'import' / 'staff.csv'} is missing: did tonight's export "
        "run? Nothing after staff imported"
    )
    assert stored(database) == (0, 0, 0)
