"""`irobot import` and `irobot invite` end to end through `bot.cli.main`, on a real database."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, select

from bot.cli import main
from models.invites import RedeemOutcome, redeem_invite
from models.tables import Plan, Staff
from tests.conftest import Database

DATA = Path(__file__).parent / "data" / "import"
STAFF = DATA / "staff_bom_crlf.csv"
PLANS = DATA / "plans_with_extra_columns.csv"
BAD_PLANS = DATA / "plans_with_bad_rows.csv"


@pytest.fixture
def cli(database: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Database:
    """The CLI pointed at the test database, away from any `.env` in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    monkeypatch.delenv("IROBOT_POLICY", raising=False)
    return database


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str], list[str]]:
    """Exit status, stdout lines, stderr lines."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err.splitlines()


def plans_in(database: Database) -> list[str]:
    """Case refs stored, in order."""
    with Session(database.engine) as session:
        return sorted(p.case_ref for p in session.exec(select(Plan)).all())


@pytest.fixture
def staffed(cli: Database, capsys: pytest.CaptureFixture[str]) -> Database:
    """The staff file (BOM, CRLF, an address column) already imported."""
    assert run(capsys, "import", "staff", str(STAFF))[0] == 0
    return cli


def test_a_bom_crlf_staff_file_imports_with_a_one_line_summary(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = STAFF.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 6  # the fixture is honest
    code, out, err = run(capsys, "import", "staff", str(STAFF))
    assert (code, err) == (0, [])
    assert out == ["staff: 5 created, 0 updated, 0 unchanged"]
    with Session(cli.engine) as session:
        leaver = session.get(Staff, "SW2")
        assert leaver is not None and leaver.active is False


def test_plans_import_drops_columns_it_does_not_know_and_reimport_changes_nothing(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "import", "plans", str(PLANS))
    assert (code, out[-1]) == (0, "plans: 2 created, 0 updated, 0 unchanged")
    code, out, _ = run(capsys, "import", "plans", str(PLANS))
    assert (code, out[-1]) == (0, "plans: 0 created, 0 updated, 2 unchanged")
    with Session(staffed.engine) as session:
        for table in SQLModel.metadata.sorted_tables:
            for row in session.execute(table.select()):
                stored = repr(tuple(row))
                for secret in ("Zebedee", "Ermintrude", "Secret Lane", "2015-01-01"):
                    assert secret not in stored, (table.name, stored)


def test_a_file_with_bad_rows_is_rejected_whole_listing_each_on_stderr(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "import", "plans", str(BAD_PLANS))
    assert code == 1 and out == []
    assert err[:-1] == [
        "line 2: duplicate case_ref 'CP-1' (also on line 5)",
        "line 3: social_worker_id 'TM1' is a team_manager, not a social_worker",
        "line 4: plan_start: '01/04/2026' is not a date (expected YYYY-MM-DD)",
        "line 5: duplicate case_ref 'CP-1' (also on line 2)",
    ]
    assert err[-1] == f"irobot: {BAD_PLANS}: rejected, 4 invalid rows; nothing written"
    assert plans_in(staffed) == []


def test_skip_invalid_imports_the_good_rows_and_lists_the_bad_ones(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "import", "plans", str(BAD_PLANS), "--skip-invalid")
    assert code == 0
    assert [line.split(":")[0] for line in err] == ["line 2", "line 3", "line 4", "line 5"]
    assert out[-1] == "plans: 1 created, 0 updated, 0 unchanged, 4 invalid rows skipped"
    assert plans_in(staffed) == ["CP-5"]


def test_a_dry_run_reports_and_writes_nothing(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "import", "plans", str(PLANS), "--dry-run")
    assert (code, err) == (0, [])
    assert out[-1] == "plans: 2 created, 0 updated, 0 unchanged (dry run: nothing written)"
    assert plans_in(staffed) == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "file is empty; nothing written"),
        (b"\x00\x01\x02PK\x03\x04", "file is binary (contains NUL bytes), not CSV"),
        (b"case_ref,chair_id\nCP-1,IRO1\n", "missing required columns: social_worker_id"),
    ],
    ids=["empty", "binary", "missing-column"],
)
def test_an_unusable_file_gets_one_line_on_stderr_and_a_failure_status(
    staffed: Database,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    content: bytes,
    expected: str,
) -> None:
    path = tmp_path / "plans.csv"
    path.write_bytes(content)
    code, out, err = run(capsys, "import", "plans", str(path))
    assert (code, out, len(err)) == (1, [], 1)
    assert err[0].startswith(f"irobot: {path}: rejected, ") and expected in err[0]


def test_a_real_export_with_a_long_note_column_imports(
    staffed: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    note = "Visited; spoke to the school; " * 10_000  # 300 KB in a column we drop
    path = tmp_path / "plans.csv"
    path.write_text(
        "case_ref,social_worker_id,chair_id,plan_start,case_notes\n"
        f'CP-1,SW1,IRO1,2026-03-02,"{note}"\n'
    )
    code, out, err = run(capsys, "import", "plans", str(path))
    assert (code, err, out[-1]) == (0, [], "plans: 1 created, 0 updated, 0 unchanged")
    assert plans_in(staffed) == ["CP-1"]


def test_a_file_over_the_size_limit_is_refused_in_one_line(
    staffed: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as sparse:  # 200 MB and one byte, without writing them
        sparse.truncate(200 * 1024 * 1024 + 1)
    code, out, err = run(capsys, "import", "plans", str(path))
    assert (code, out) == (1, [])
    assert err == [
        f"irobot: {path}: rejected, file is over the 200 MB import limit: split it into "
        "smaller files; nothing written"
    ]
    monkeypatch.setattr("handlers.csvfile.MAX_FILE_BYTES", 10)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(PLANS.read_bytes())))
    code, _, err = run(capsys, "import", "plans", "-")
    assert code == 1 and err[0].startswith("irobot: -: rejected, file is over the 200 MB")
    assert plans_in(staffed) == []


def test_a_file_can_come_from_stdin(
    staffed: Database, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(PLANS.read_bytes())))
    code, out, _ = run(capsys, "import", "plans", "-")
    assert (code, out[-1]) == (0, "plans: 2 created, 0 updated, 0 unchanged")
    assert plans_in(staffed) == ["CP-1", "CP-2"]


def test_a_missing_file_is_one_line_not_a_traceback(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "import", "plans", "nowhere.csv") == (
        1,
        [],
        ["irobot: nowhere.csv: no such file"],
    )


def test_an_unknown_kind_is_a_usage_error(
    cli: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["import", "children", str(PLANS)])
    assert caught.value.code == 2
    assert "invalid choice: 'children'" in capsys.readouterr().err


def test_invite_prints_the_code_on_the_last_line_and_it_links_the_account(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "invite", "SW1")
    assert (code, err) == (0, [])
    invite_code = out[-1]
    assert re.fullmatch(r"[A-Z2-9]{10}", invite_code)
    assert "Sam Worker (SW1)" in out[0] and "valid until" in out[0]
    with Session(staffed.engine) as session:
        result = redeem_invite(
            session, code=invite_code, telegram_user_id=4242, chat_id=4242, now=datetime.now(UTC)
        )
        session.commit()
    assert result.outcome is RedeemOutcome.LINKED and result.staff_id == "SW1"


def test_invite_with_days_and_a_second_invite_says_the_first_no_longer_works(
    staffed: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    first = run(capsys, "invite", "SW1")[1][-1]
    code, out, _ = run(capsys, "invite", "SW1", "--days", "3")
    assert code == 0 and out[-1] != first
    assert "Earlier unused codes for SW1 no longer work." in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["invite", "NOBODY"], "irobot: no member of staff with id 'NOBODY'"),
        (["invite", "SW2"], "irobot: SW2 is inactive: reactivate them by import first"),
        (["invite", "SW1", "--days", "0"], "irobot: --days must be between 1 and 90, got 0"),
    ],
)
def test_invite_for_unknown_or_inactive_staff_fails_with_one_line(
    staffed: Database, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert run(capsys, *argv) == (1, [], [message])
