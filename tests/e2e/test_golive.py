"""Issue 14, "A council IT officer deploys it alone": the README's steps from an empty database
to a reminder on a linked phone, an older schema refused until `irobot db upgrade`, the
`--help` gaps, and every error line the officer met now saying what to do."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.cli import main
from models.db import HEAD_REVISION, make_engine, revisions, upgrade
from scheduler.calendar import WorkingCalendar
from scheduler.policy import PolicyError, parse_policy
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.db import TEST_DATABASE_URL, backend
from tests.conftest import Database

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "123456:TEST"
SAM = 6_123_456_005  # Sam's Telegram user id (past 2**31, as real ids are)
STAFF = (
    "staff_id,name,role,manager_id,team,home_address\n"
    "TM1,Tess Manager,team_manager,,North,1 High St\n"
    "SW1,Sam Worker,social_worker,TM1,North,2 High St\n"
    "IRO1,Ira Chair,iro,,IRO,3 High St\n"
)
PLANS = "case_ref,social_worker_id,chair_id,plan_start,child_name\nCP-1,SW1,IRO1,2026-06-01,A B\n"


@pytest.fixture
def empty_url(tmp_path: Path) -> Iterator[str]:
    """The URL of a database with no tables at all: what a new installation starts from."""
    if backend() != "postgresql":
        yield f"sqlite:///{tmp_path / 'srv-irobot.db'}"
        return
    schema = f"g_{uuid.uuid4().hex[:16]}"
    admin = make_engine(TEST_DATABASE_URL, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield make_url(TEST_DATABASE_URL).update_query_dict(
            {"options": f"-csearch_path={schema}"}
        ).render_as_string(hide_password=False)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def clean_env() -> dict[str, str]:
    """The server's environment: no IROBOT_ or TELEGRAM_ variables, so `.env` decides."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("IROBOT_", "TELEGRAM_"))}


def irobot(srv: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """`irobot ARGS` as the README's shell function runs it: in /srv/irobot, reading `.env`."""
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *argv],
        cwd=srv, env=clean_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def ok(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stdout lines of a command that must have succeeded."""
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def setting(text: str, name: str, value: str) -> str:
    """The example `.env` with one setting's line replaced, as the officer edits it."""
    edited, count = re.subn(rf"^{name}=.*$", f"{name}={value}", text, flags=re.MULTILINE)
    assert count == 1, name
    return edited


def test_an_it_officer_follows_the_readme_from_an_empty_database_to_a_reminder_on_a_phone(
    empty_url: str, tmp_path: Path
) -> None:
    srv = tmp_path / "srv-irobot"
    (srv / "import").mkdir(parents=True)
    with BotApiStandIn.threaded(token=TOKEN, limits=False) as api:
        # 4. `.env` and the policy file, from deploy/, edited.
        env = (DEPLOY / "irobot.env.example").read_text(encoding="utf-8")
        env = setting(env, "TELEGRAM_BOT_TOKEN", TOKEN)
        env = setting(env, "IROBOT_DATABASE_URL", empty_url)
        env = setting(env, "IROBOT_POLICY", str(srv / "policy.toml"))
        env = setting(env, "IROBOT_TELEGRAM_API_URL", api.base_url)  # Telegram: the stand-in
        (srv / ".env").write_text(env, encoding="utf-8")
        policy = (DEPLOY / "policy.example.toml").read_text(encoding="utf-8")
        policy = policy.replace('working_hours = "08:00-18:00"', 'working_hours = "always"')
        (srv / "policy.toml").write_text(policy, encoding="utf-8")  # any hour the test runs

        # The check says where to start.
        first = irobot(srv, "check")
        assert first.returncode == 1
        [database] = [line for line in first.stdout.splitlines() if "database:" in line]
        assert database.startswith("FAIL database: ") and "run `irobot db upgrade`" in database

        # 5. Create the schema and import, staff first.
        assert ok(irobot(srv, "db", "upgrade"))[0].startswith(
            f"database is up to date at revision {HEAD_REVISION} (created)"
        )
        (srv / "import" / "staff.csv").write_text(STAFF, encoding="utf-8")
        (srv / "import" / "plans.csv").write_text(PLANS, encoding="utf-8")
        assert ok(irobot(srv, "import", "staff", str(srv / "import" / "staff.csv"), "--dry-run"))
        assert ok(irobot(srv, "import", "staff", str(srv / "import" / "staff.csv"))) == [
            "staff: 3 created, 0 updated, 0 unchanged"
        ]
        assert ok(irobot(srv, "import", "plans", str(srv / "import" / "plans.csv"))) == [
            "plans: 1 created, 0 updated, 0 unchanged"
        ]

        # 6. An invite: the link names the bot (getMe), the code is the last line.
        invite = ok(irobot(srv, "invite", "SW1"))
        code = invite[-1]
        assert f"https://t.me/irobot_test_bot?start={code}" in invite[1]

        # 7. The service (irobot.service's ExecStart): Sam opens the link, /start CODE.
        service = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run"], cwd=srv, env=clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            api.user_sends(SAM, f"/start {code}", first_name="Sam")
            welcome = api.wait_until(
                lambda: next((m for m in api.messages(SAM) if "linked" in (m.text or "")), None),
                timeout=30,
            )
            assert welcome.text == (
                "Welcome, Sam Worker. You're linked. Send /mine for your open items or /help."
            )
        finally:
            service.send_signal(signal.SIGTERM)
            assert service.wait(timeout=30) == 0
        sent_by_service = len(api.messages(SAM))

        # 9. That night's export brings a conference: Sam's RCPC report falls due next
        # working day (3 working days before it).
        cal = WorkingCalendar()
        today = datetime.now(cal.tz).date()
        due_day = cal.next_working_day(today, inclusive=False)
        conference_day = cal.add_working_days(due_day, 3)
        (srv / "import" / "conferences.csv").write_text(
            f"conference_id,case_ref,kind,scheduled_for\nC1,CP-1,RCPC,{conference_day} 10:00\n",
            encoding="utf-8",
        )
        assert ok(irobot(srv, "import", "conferences", str(srv / "import" / "conferences.csv")))

        # 10. The go-live check: nothing would stop the service.
        check = irobot(srv, "check")
        assert check.returncode == 0, check.stdout + check.stderr
        assert "ok   token: accepted by getMe: the bot is @irobot_test_bot" in check.stdout
        assert re.search(r"^warn linked: 2 of 3 active staff not linked yet", check.stdout, re.M)
        assert "FAIL" not in check.stdout

        # One pass with the service stopped (README, step 7): the reminder reaches the phone.
        assert ok(irobot(srv, "tick"))[0].startswith("tick: sent 1,")
        reminder = api.messages(SAM)[sent_by_service:]
        assert len(reminder) == 1
        assert (reminder[0].text or "").startswith("⏰ CP-1: RCPC report due ")
        assert [label for row in reminder[0].buttons for label, _ in row] == [
            "Submitted", "Will be late", "Need help",
        ]  # fmt: skip
    # The columns the export carried that IRObot does not know never reached the database.
    engine = make_engine(empty_url, pooled=False)
    with engine.connect() as conn:
        assert "home_address" not in str(conn.execute(text("SELECT * FROM staff")).keys())
    engine.dispose()


# --------------------------------------------------------------------------- schema


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI in-process on the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    for name in ("IROBOT_POLICY", "TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    """Exit status, stdout lines, stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


@pytest.fixture
def behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A live database one revision behind this version, holding a member of staff."""
    url = f"sqlite:///{tmp_path / 'live.db'}"
    engine = make_engine(url)
    upgrade(engine, "0002")
    with engine.begin() as conn:  # the columns revision 0002 has (the model has more now)
        conn.execute(text("INSERT INTO staff (staff_id, name, role, team, active, reachable) "
                          "VALUES ('SW1', 'Sam Worker', 'social_worker', '', 1, 1)"))  # fmt: skip
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", url)
    for name in ("IROBOT_POLICY", "TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL"):
        monkeypatch.delenv(name, raising=False)
    return url


BEHIND = (
    f"irobot: the database schema is at revision 0002, this version needs {HEAD_REVISION}: "
    "back up, then run `irobot db upgrade`"
)


@pytest.mark.parametrize(
    "argv",
    [["invite", "SW1"], ["tick", "--dry-run"], ["report"], ["db", "resync"],
     ["audit", "export", "--case", "CP-1"]],
)  # fmt: skip
def test_a_command_on_an_older_schema_refuses_in_one_line_and_migrates_nothing(
    behind: str, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    assert run(capsys, *argv) == (1, [], [BEHIND])

    engine = make_engine(behind)
    assert revisions(engine)[0] == "0002"
    engine.dispose()


def test_db_upgrade_migrates_the_live_database_keeping_its_rows(
    behind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "db", "upgrade")

    assert (code, err) == (0, [])
    assert out == [
        f"database is up to date at revision {HEAD_REVISION} (migrated from 0002): {behind}"
    ]
    assert run(capsys, "invite", "SW1")[0] == 0


def test_a_database_with_someone_elses_tables_is_refused_not_migrated(
    cli: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    with other.begin() as conn:
        conn.execute(text("CREATE TABLE payroll (id INTEGER PRIMARY KEY)"))
    other.dispose()
    monkeypatch.setenv("IROBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")

    assert run(capsys, "report") == (1, [], [
        "irobot: the database has tables but no IRObot schema: point IROBOT_DATABASE_URL at "
        "the IRObot database, or at an empty one"
    ])  # fmt: skip


# --------------------------------------------------------------------------- --help


def test_irobot_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"irobot {version('irobot')}\n"


def help_of(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """What `irobot ARGV --help` prints, on one line (argparse wraps to the terminal)."""
    with pytest.raises(SystemExit) as done:
        main([*argv, "--help"])
    assert done.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_irobot_help_lists_db_resync_the_check_and_the_audit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = help_of(capsys)
    assert "`db resync` recomputes deadlines after a policy change" in shown
    assert "check the go-live check" in shown and "audit one child's audit trail" in shown
    assert "tick one scan and dispatch pass, then exit; sends only" in shown


def test_db_upgrade_help_speaks_of_upgrade_only(capsys: pytest.CaptureFixture[str]) -> None:
    shown = help_of(capsys, "db", "upgrade")
    assert shown.startswith("usage: irobot db upgrade [-h]")
    assert "the only command that migrates a database holding data" in shown
    assert "resync" not in shown


def test_run_help_says_it_needs_the_token_and_is_the_only_reader_of_telegram(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = help_of(capsys, "run")
    assert "Needs TELEGRAM_BOT_TOKEN (from BotFather) in the environment or in .env" in shown
    assert "without it running, no /start, button or reply is handled" in shown
    assert "the local server answers on the same path" in shown


# --------------------------------------------------------------------------- error lines


def test_a_cp1252_file_is_refused_saying_save_as_csv_utf8(
    cli: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_bytes("staff_id,name,role,manager_id,team\nSW1,Zoë,iro,,x\n".encode("cp1252"))

    code, _, err = run(capsys, "import", "staff", str(staff))

    assert code == 1
    assert err == [
        f"irobot: {staff}: rejected, file is not UTF-8 (byte 0xeb on line 2): save it from "
        'Excel as "CSV UTF-8 (Comma delimited) (*.csv)" and import that; nothing written'
    ]


def test_a_semicolon_separated_file_is_refused_saying_so_not_that_columns_are_missing(
    cli: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    staff = tmp_path / "staff.csv"
    staff.write_text("staff_id;name;role;manager_id;team\nSW1;Sam;iro;;x\n", encoding="utf-8")

    code, _, err = run(capsys, "import", "staff", str(staff))

    assert code == 1
    assert err == [
        f"irobot: {staff}: rejected, columns are separated by semicolons, not commas: save it "
        'from Excel as "CSV UTF-8 (Comma delimited) (*.csv)" and import that; nothing written'
    ]


def test_plans_before_any_staff_are_refused_saying_import_staff_first(
    cli: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plans = tmp_path / "plans.csv"
    plans.write_text(PLANS, encoding="utf-8")

    code, _, err = run(capsys, "import", "plans", str(plans), "--dry-run")

    assert code == 1
    assert err == [
        f"irobot: {plans}: rejected, no staff imported yet: import staff first "
        "(irobot import staff FILE.csv), then plans; nothing written"
    ]


def test_closure_days_written_the_british_way_are_refused_saying_yyyy_mm_dd() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy({"closure_days": ["29/12/2026"]})
    assert str(refused.value) == (
        "invalid policy: closure_days.0: '29/12/2026' is not a date: write dates as YYYY-MM-DD, "
        "e.g. closure_days = [2026-12-29, 2026-12-30]"
    )


def test_a_ladder_typo_is_refused_echoing_the_bad_value_and_the_roles_allowed() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy({"qa_alert": {"ladder": ["team_manager", "servce_manager"]}})
    assert str(refused.value).startswith(
        "invalid policy: qa_alert.ladder.1: 'servce_manager' is not one of 'social_worker', "
    )
    assert "'service_manager'" in str(refused.value)


def test_a_repeated_ladder_stage_is_refused_naming_it() -> None:
    with pytest.raises(PolicyError) as refused:
        parse_policy({"qa_alert": {"ladder": ["team_manager", "team_manager"]}})
    assert str(refused.value) == (
        "invalid policy: qa_alert.ladder: 'team_manager' appears more than once: a role may "
        "appear once"
    )


@pytest.mark.parametrize("argv", [["run"], ["tick"], ["worker", "--once"]])
def test_a_missing_token_says_where_to_set_it(
    cli: Database, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, _, err = run(capsys, *argv)

    assert code == 1
    [line] = err
    assert line.startswith("irobot: TELEGRAM_BOT_TOKEN is not set: ")
    assert line.endswith("; set TELEGRAM_BOT_TOKEN in the environment or in .env")
