"""`irobot report`: hand-checked figures as a table and as CSV, the chart, the challenge list."""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import Session, col

from bot.commands import report
from bot.context import AppContext, CommandError
from models.tables import Obligation, QaAlert, Staff
from models.vocabulary import DONE, OPEN, QA_RESPONSE
from tests.conftest import Database
from tests.integration.test_figures import NOW, seed


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report.add_arguments(parser)
    return parser.parse_args(list(argv))


def run(ctx: AppContext, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert report.run(parse(*argv), ctx, now=NOW) == 0
    return capsys.readouterr().out


DECEMBER = ("--from", "2026-12-01", "--to", "2027-01-01")


def test_the_csv_has_one_row_per_team_and_the_service_with_the_hand_computed_numbers(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
    rows = list(csv.DictReader(io.StringIO(run(ctx, capsys, *DECEMBER, "--format", "csv"))))
    assert [r["team"] for r in rows] == ["North", "South", "Service"]
    south = rows[1]
    assert (south["rcpc_in_time"], south["rcpc_due"], south["rcpc_pct"]) == ("1", "2", "50.0")
    assert (south["qa_in_time"], south["qa_due"], south["qa_pct"]) == ("3", "4", "75.0")  # A7
    assert [south[f"qa_reached_stage_{n}"] for n in (1, 2, 3, 4)] == ["2", "2", "2", "1"]
    assert (south["plans_18_months"], south["plans_24_months"]) == ("2", "1")
    assert south["notifications_held"] == "1"
    service = rows[2]
    assert (service["rcpc_in_time"], service["rcpc_due"], service["rcpc_pct"]) == ("2", "5", "40.0")
    assert (service["icpc_pct"], service["qa_pct"]) == ("50.0", "66.7")
    assert (service["plans_9_months"], service["plans_9_months_reviewed"]) == ("4", "2")


def test_the_csv_adds_looked_after_records_family_records_and_alerts_by_service_and_theme(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
    out = run(ctx, capsys, *DECEMBER, "--format", "csv")
    header = out.splitlines()[0].split(",")
    assert header[: len(report.CSV_COLUMNS)] == list(report.CSV_COLUMNS)  # the old ones first
    north, south, service = csv.DictReader(io.StringIO(out))
    assert [south[f"lac_decisions_{c}"] for c in ("in_time", "due", "pct")] == ["1", "1", "100.0"]
    assert [south[f"lac_records_{c}"] for c in ("in_time", "due", "pct")] == ["1", "1", "100.0"]
    assert (north["lac_records_due"], north["lac_records_pct"]) == ("0", "")  # nothing due yet
    assert service["lac_records_target_pct"] == "95"
    assert [north[f"family_records_{c}"] for c in ("in_time", "due", "pct")] == ["3", "4", "75.0"]
    assert (service["family_records_due"], service["children_in_care"]) == ("6", "2")
    assert [south[f"alerts_{k}_{s}"] for s in ("cp", "lac") for k in ("concern", "positive")] == [
        "3", "1", "1", "0",
    ]  # fmt: skip
    assert service["alerts_concern_theme_drift_and_delay"] == "2"
    assert service["alerts_positive_theme_plan_quality"] == "1"
    assert service["alerts_concern_theme_not_given"] == "3"
    assert [north[f"lac_reviews_{c}"] for c in ("in_timescale", "held", "in_timescale_pct")] == [
        "1", "2", "50.0",
    ]  # fmt: skip
    assert [south[f"icpc_{c}"] for c in ("in_timescale", "held", "in_timescale_pct")] == [
        "0", "1", "0.0",
    ]  # fmt: skip
    assert [service[f"rcpc_{c}"] for c in ("in_timescale", "held", "in_timescale_pct")] == [
        "1", "3", "33.3",
    ]  # fmt: skip


def test_the_caseload_per_iro_is_weighted_and_read_against_the_handbook_range(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
    rows = list(csv.reader(io.StringIO(run(ctx, capsys, *DECEMBER, "--caseload", "--format",
                                           "csv"))))  # fmt: skip
    assert rows == [
        list(report.CASELOAD_CSV),
        ["iro1", "Ira Olu", "IRO", "6", "1", "7.5", "50", "70", "under"],  # PL1-5, PL7; LA3
        ["iro2", "Bo Ek", "IRO", "0", "1", "1.5", "50", "70", "under"],  # LA1
    ]
    table = run(ctx, capsys, *DECEMBER)
    assert "Caseload per IRO, weighted: 0 of 2 over the Handbook's 70" in table
    assert "Weighted caseload: CP x 1 + LAC x 1.5 (policy [caseload] weights)" in table


def test_stood_down_conferences_are_counted_by_reason_not_as_missed_reports(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)  # S1 cancelled in the export (not quorate), S2 stood down in chat
    rows = list(csv.DictReader(io.StringIO(run(ctx, capsys, *DECEMBER, "--format", "csv"))))
    north, south, service = rows
    assert (north["rcpc_in_time"], north["rcpc_due"]) == ("1", "3")  # S1 is no missed report
    assert (north["conferences_stood_down"], north["conferences_due"]) == ("1", "5")
    assert (north["stood_down_not_quorate"], south["stood_down_worker_absent"]) == ("1", "1")
    assert (service["conferences_stood_down"], service["conferences_stood_down_pct"]) == (
        "2", "22.2",
    )  # fmt: skip
    table = run(ctx, capsys, *DECEMBER)
    assert "22% (2/9)" in table
    assert (
        "Stood down, by reason (Service): not quorate 1, social worker ill or absent 1"
        in table.splitlines()
    )


def test_the_table_is_readable_in_a_terminal(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
    out = run(ctx, capsys, *DECEMBER)
    assert "Timeliness 1 Dec 2026 to 31 Dec 2026" in out
    assert "40% (2/5)" in out and "67% (4/6)" in out
    lines = out.splitlines()
    service = next(n for n, line in enumerate(lines) if line.startswith("Service "))
    assert set(lines[service - 1]) == {"-", " "}  # the total stands apart from the teams
    assert lines[service - 3].startswith("North ") and lines[service - 2].startswith("South ")
    assert max(len(line) for line in lines) <= 120


def test_one_team_alone(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
    rows = list(
        csv.reader(io.StringIO(run(ctx, capsys, *DECEMBER, "--team", "North", "--format", "csv")))
    )
    assert [r[0] for r in rows] == ["team", "North"]


def test_an_unknown_team_a_backwards_period_or_a_bad_chart_path_is_a_one_line_error(
    ctx: AppContext,
) -> None:
    with pytest.raises(CommandError, match="no folder /nonexistent"):
        report.run(parse("--chart", "/nonexistent/c.png"), ctx, now=NOW)
    with pytest.raises(CommandError, match="unknown team 'Nowhere'"):
        report.run(parse("--team", "Nowhere"), ctx, now=NOW)
    with pytest.raises(CommandError, match=r"^--from '2026-13-01' is not a date \(YYYY-MM-DD\)$"):
        report.run(parse("--from", "2026-13-01"), ctx, now=NOW)
    with pytest.raises(CommandError, match="must be before"):
        report.run(parse("--from", "2027-01-01", "--to", "2026-12-01"), ctx, now=NOW)


def test_a_caller_may_pass_dates_as_date_objects(
    ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    args = parse()
    args.start, args.end = date(2026, 12, 1), date(2027, 1, 1)
    assert report.run(args, ctx, now=NOW) == 0
    assert "Timeliness 1 Dec 2026 to 31 Dec 2026" in capsys.readouterr().out


def test_the_default_period_is_the_twelve_months_up_to_today(
    ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    out = run(ctx, capsys)
    assert "Timeliness 5 Jan 2026 to 4 Jan 2027" in out


def test_the_chart_option_writes_a_png(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with Session(database.engine) as session:
        seed(session)
    target = tmp_path / "chart.png"
    run(ctx, capsys, *DECEMBER, "--format", "csv", "--chart", str(target))
    assert target.read_bytes().startswith(b"\x89PNG")


def test_the_challenge_list_shows_open_concerns_past_the_last_stage(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
        # A3 is open at stage 4, the last of the default ladder, and timed out there
        session.execute(
            update(Obligation).where(col(Obligation.subject_id) == "A3").values(outcome="challenge")
        )
        for n, (stage, status) in enumerate([(3, OPEN), (4, DONE)]):
            alert = f"B{n}"
            session.add(
                QaAlert(alert_id=alert, case_ref="PL3", raised_by="iro1",
                        raised_at=datetime(2026, 12, 1, tzinfo=UTC), kind="concern")
            )  # fmt: skip
            session.add(
                Obligation(kind=QA_RESPONSE, subject_id=alert, case_ref="PL3", owner_id="sw2",
                           due_at=NOW, status=status, stage=stage, created_at=NOW,
                           updated_at=NOW, outcome="challenge" if stage == 4 else None)
            )  # fmt: skip
        session.commit()
    rows = list(csv.reader(io.StringIO(run(ctx, capsys, "--challenge", "--format", "csv"))))
    assert rows == [
        ["alert_id", "case_ref", "raised_on", "listed_on", "stage", "social_worker", "team",
         "working_days_open"],
        ["A3", "PL3", "2026-12-02", "2026-11-01", "4", "Kim Lee", "South", "20"],
    ]  # fmt: skip
    assert "A3" in run(ctx, capsys, "--challenge")
    north = run(ctx, capsys, "--challenge", "--team", "North", "--format", "csv")
    assert len(north.splitlines()) == 1


FORMULA = "=cmd|' /C calc'!A0"


def test_a_team_imported_as_a_formula_is_plain_text_in_the_csv(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
        session.execute(update(Staff).where(col(Staff.team) == "North").values(team=FORMULA))
        session.commit()
    rows = list(csv.reader(io.StringIO(run(ctx, capsys, *DECEMBER, "--format", "csv"))))
    assert [r[0] for r in rows] == ["team", "'" + FORMULA, "South", "Service"]
    assert rows[1][1:4] == ["1", "3", "33.3"]  # numbers stay numbers


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_every_text_cell_starting_like_a_formula_gets_a_quote(start: str) -> None:
    assert report.text_cell(f"{start}1+1") == f"'{start}1+1"
    assert report.text_cell(f"a{start}") == f"a{start}"


def test_challenge_csv_quotes_formula_text_and_leaves_negative_numbers_alone(
    ctx: AppContext, database: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    with Session(database.engine) as session:
        seed(session)
        session.execute(
            update(Obligation).where(col(Obligation.subject_id) == "A3").values(outcome="challenge")
        )
        session.execute(
            update(Staff).where(col(Staff.staff_id) == "sw2").values(name="@SUM(1+1)", team="+S")
        )
        # raised in the future (a mistyped export): working days open is negative, a number
        session.execute(
            update(QaAlert).where(col(QaAlert.alert_id) == "A3")
            .values(raised_at=datetime(2027, 1, 8, 12, tzinfo=UTC))
        )  # fmt: skip
        session.commit()
    rows = list(csv.reader(io.StringIO(run(ctx, capsys, "--challenge", "--format", "csv"))))
    assert rows[1] == ["A3", "PL3", "2027-01-08", "2026-11-01", "4", "'@SUM(1+1)", "'+S", "-4"]


def test_the_console_script_exits_0_or_1_with_a_one_line_reason(database: Database) -> None:
    env = {**os.environ, "IROBOT_DATABASE_URL": database.url}
    env.pop("IROBOT_POLICY", None)
    ok = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", "--format", "csv"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.splitlines()[0].startswith("team,rcpc_in_time,")
    bad = subprocess.run(
        [sys.executable, "-m", "bot.cli", "report", "--team", "Nowhere"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.strip() == "irobot: unknown team 'Nowhere'"
