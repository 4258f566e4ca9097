"""CSV import: the pure validation layer (table-tested, fuzzed) and the all-or-nothing upsert."""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import Session, SQLModel, select

import handlers.importing as importer
from handlers import csvfile
from handlers.csvcells import parse_datetime
from handlers.csvfile import ImportRejected, parse_file
from handlers.importing import Refs, import_csv, validate
from models.records import PlanRecord, StaffRecord
from models.tables import AuditEvent, Conference, Plan, QaAlert, Staff
from scheduler.calendar import LONDON
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.sync import SyncResult
from tests.conftest import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

STAFF_HEADER = "staff_id,name,role,manager_id,team"
STAFF_ROWS = [
    "AD1,Ada Director,assistant_director,,Directorate",
    "HOS1,Hal Head,head_of_service,AD1,Safeguarding",
    "SM1,Sol Service,service_manager,HOS1,Locality",
    "TM1,Tia Team,team_manager,SM1,North",
    "SW1,Sam Worker,social_worker,TM1,North",
    "SW2,Sue Worker,social_worker,TM1,North",
    "SGM1,Gus Safeguarding,safeguarding_manager,HOS1,IRO Service",
    "IRO1,Ivy Reviewer,iro,SGM1,IRO Service",
    "IRO2,Ian Reviewer,iro,SGM1,IRO Service",
]
STAFF_CSV = "\n".join([STAFF_HEADER, *STAFF_ROWS]) + "\n"
PLANS_CSV = (
    "case_ref,social_worker_id,chair_id,plan_start,plan_end,category\n"
    "CP-1,SW1,IRO1,2026-03-02,,neglect\n"
    "CP-2,SW2,IRO2,2026-05-11,,emotional\n"
)

# A stored organisation for the pure reference checks.
REFS = Refs(
    staff={
        "AD1": Person("AD1", "AD1", "assistant_director", None, ""),
        "TM1": Person("TM1", "TM1", "team_manager", "AD1", ""),
        "SW1": Person("SW1", "SW1", "social_worker", "TM1", ""),
        "SWX": Person("SWX", "SWX", "social_worker", "TM1", "", active=False),
        "IRO1": Person("IRO1", "IRO1", "iro", "AD1", ""),
        "IROX": Person("IROX", "IROX", "iro", "AD1", "", active=False),
    },
    plans=frozenset({"CP-1"}),
)


def csv_of(header: str, *rows: str) -> str:
    """A file body with LF line ends."""
    return "\n".join([header, *rows]) + "\n"


def errors_of(kind: str, data: str | bytes, refs: Refs = REFS) -> list[str]:
    """Every row error the pure layer finds, as the CLI prints them."""
    return [str(e) for e in validate(parse_file(kind, data), refs).errors]


def file_error_of(kind: str, data: str | bytes) -> str:
    """The whole-file reason, which must come as ImportRejected and nothing else."""
    with pytest.raises(ImportRejected) as caught:
        validate(parse_file(kind, data), REFS)
    assert caught.value.file_error is not None
    return caught.value.file_error


# --------------------------------------------------------------------- whole-file problems


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("staff", b"", "file is empty"),
        ("staff", b"\xef\xbb\xbf", "file is empty"),
        ("staff", "  \r\n\n", "file is empty"),
        ("staff", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("staff", b"staff_id,name\x00,role", "binary"),
        ("staff", "staff_id,name,role,manager_id,team\nA,B\x00,iro,,x\n", "binary"),
        ("staff", "staff_id,name,role,manager_id,team\n".encode("utf-16"), "UTF-16"),
        ("staff", b"staff_id,name,role,manager_id,team\nS1,Jos\xe9,iro,,x\n", "not UTF-8"),
        ("staff", "staff_id,name,role,team\nS1,A,iro,x\n", "missing required column: manager_id"),
        ("plans", "case_ref,chair_id\nCP-1,IRO1\n",
         "missing required columns: social_worker_id, plan_start"),
        ("conferences", "conference_id,case_ref,kind\n", "missing required column: scheduled_for"),
        ("alerts", "alert_id,case_ref,raised_by,kind\n", "missing required column: raised_at"),
        ("staff", "staff_id,staff_id,name,role,manager_id,team\n", "staff_id appears more than"),
        ("staff", 'staff_id,name,role,manager_id,team\nS1,"unclosed,iro,,x\n', "malformed CSV"),
        ("staff", 'staff_id,name,role,manager_id,team\nS1,"a"b,iro,,x\n', "line 2: malformed"),
    ],
    ids=[
        "zero-bytes", "bom-only", "blank-lines-only", "png", "nul-in-header", "nul-in-text",
        "utf16", "latin1", "missing-column", "missing-two-columns", "conference-missing",
        "alert-missing", "duplicate-header", "unclosed-quote", "text-after-quote",
    ],
)
def test_an_unusable_file_is_refused_whole_with_a_reason(
    kind: str, data: str | bytes, expected: str
) -> None:
    assert expected in file_error_of(kind, data)


def test_a_non_utf8_file_is_reported_with_the_line_of_the_bad_byte() -> None:
    data = b"staff_id,name,role,manager_id,team\nS1,Ann,iro,,x\nS2,Jos\xe9,iro,,x\n"
    assert file_error_of("staff", data).startswith("file is not UTF-8 (byte 0xe9 on line 3): ")


def test_an_unknown_kind_is_a_value_error_naming_the_four_that_exist() -> None:
    with pytest.raises(ValueError, match="staff, plans, conferences, alerts"):
        parse_file("children", "x\n")


def test_a_long_note_in_a_dropped_column_never_rejects_the_file() -> None:
    note = "a long free-text note, " * 20_000  # 460 KB, past the csv module's 128 KiB
    data = csv_of(f"{STAFF_HEADER},notes", f'SW9,Sam Worker,social_worker,,North,"{note}"')
    parsed = parse_file("staff", data)
    assert parsed.errors == {} and parsed.ignored_columns == ("notes",)
    assert list(parsed.records.values()) == [
        StaffRecord("SW9", "Sam Worker", "social_worker", None, "North")
    ]


def test_an_over_long_cell_in_a_kept_column_is_a_row_error_not_a_whole_file_one() -> None:
    data = csv_of(STAFF_HEADER, f"SW9,{'x' * 200_000},social_worker,,North", STAFF_ROWS[0])
    assert errors_of("staff", data) == ["line 2: name: longer than 200 characters"]


def test_a_file_over_the_size_limit_is_refused_whole(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert csvfile.MAX_FILE_BYTES == 200 * 1024 * 1024  # as the README says
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", len(STAFF_CSV) - 1)
    for data in (STAFF_CSV, STAFF_CSV.encode()):
        assert file_error_of("staff", data) == (
            "file is over the 200 MB import limit: split it into smaller files"
        )
    monkeypatch.setattr(csvfile, "MAX_FILE_BYTES", len(STAFF_CSV))
    assert len(parse_file("staff", STAFF_CSV).records) == len(STAFF_ROWS)


# --------------------------------------------------------------------- bad rows


STAFF_H = "staff_id,name,role,manager_id,team,active"
PLAN_H = "case_ref,social_worker_id,chair_id,plan_start"


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("staff", csv_of(STAFF_H, ",Ann,iro,AD1,x,true"), ["line 2: staff_id: empty"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,wizard,AD1,x,"),
         ["line 2: role: unknown role 'wizard'"]),
        ("staff", csv_of(STAFF_H, "S1,,iro,AD1,x,"), ["line 2: name: empty"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,AD1,x,yes"),
         ["line 2: active: 'yes' must be true or false"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,NOBODY,x,"),
         ["line 2: manager_id 'NOBODY' is not a known member of staff"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,S1,x,"), ["line 2: manager cycle: S1 -> S1"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,S2,x,", "S2,Bob,iro,S1,x,"),
         ["line 2: manager cycle: S1 -> S2 -> S1", "line 3: manager cycle: S2 -> S1 -> S2"]),
        ("staff", csv_of(STAFF_H, "AD1,Ada,assistant_director,TM1,x,"),
         ["line 2: manager cycle: AD1 -> TM1 -> AD1"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,AD1,x,", "S1,Ann,iro,AD1,x,"),
         ["line 2: duplicate staff_id 'S1' (also on line 3)",
          "line 3: duplicate staff_id 'S1' (also on line 2)"]),
        ("staff", csv_of(STAFF_H, "S1,A,iro,AD1,x,", "S1,A,iro,AD1,x,", "S1,A,iro,AD1,x,"),
         ["line 2: duplicate staff_id 'S1' (also on lines 3, 4)",
          "line 3: duplicate staff_id 'S1' (also on lines 2, 4)",
          "line 4: duplicate staff_id 'S1' (also on lines 2, 3)"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,wizard,AD1,x,", "S2,Bob,iro,S1,x,"),
         ["line 2: role: unknown role", "line 3: manager_id 'S1' is on invalid line 2"]),
        ("staff", csv_of(STAFF_H, "S" * 65 + ",Ann,iro,AD1,x,"),
         ["line 2: staff_id: 'SSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSSS...' is longer than 64"]),
        ("staff", csv_of(STAFF_H, 'S1,"Ann\nSmith",iro,AD1,x,'),
         ["line 2: name: 'Ann\\nSmith' contains a control character"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro,AD1,x,,extra"),
         ["line 2: has 7 fields but the header has 6"]),
        ("staff", csv_of(STAFF_H, "S1,Ann,iro"), ["line 2: has 3 fields but the header has 6"]),
        ("plans", csv_of(PLAN_H, "CP-9,SW1,IRO1,3/2/2026"),
         ["line 2: plan_start: '3/2/2026' is not a date (expected YYYY-MM-DD)"]),
        ("plans", csv_of(PLAN_H, "CP-9,SW1,IRO1,2026-02-30"),
         ["line 2: plan_start: '2026-02-30' is not a real date"]),
        ("plans", csv_of(PLAN_H, "CP-9,SW1,IRO1,0226-02-03"),
         ["line 2: plan_start: '0226-02-03' has an implausible year"]),
        ("plans", csv_of(PLAN_H, ",SW1,IRO1,2026-02-03"),
         ["line 2: case_ref: empty"]),
        ("plans", csv_of("case_ref,social_worker_id,chair_id,plan_start,category",
                         "CP-9,SW1,IRO1,2026-02-03,cruelty"),
         ["line 2: category: unknown category 'cruelty'"]),
        ("plans", csv_of("case_ref,social_worker_id,chair_id,plan_start,plan_end",
                         "CP-9,SW1,IRO1,2026-02-03,2026-01-01"),
         ["line 2: plan_end is before plan_start"]),
        ("plans", csv_of(PLAN_H, "CP-9,TM1,IRO1,2026-02-03"),
         ["line 2: social_worker_id 'TM1' is a team_manager, not a social_worker"]),
        ("plans", csv_of(PLAN_H, "CP-9,SW9,IRO1,2026-02-03"),
         ["line 2: social_worker_id 'SW9' is not a known member of staff"]),
        ("plans", csv_of(PLAN_H, "CP-9,SW1,SW1,2026-02-03"),
         ["line 2: chair_id 'SW1' is a social_worker, not a iro"]),
        ("plans", csv_of(PLAN_H, "CP-9,SWX,IROX,2026-02-03"),
         ["line 2: chair_id 'IROX' is inactive"]),  # a leaver as the worker: unallocated
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,MEETING,2026-12-03 10:00"),
         ["line 2: kind: unknown conference kind 'MEETING' (expected one of ICPC, RCPC)"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,RCPC,2026-12-03"),
         ["line 2: scheduled_for: '2026-12-03' is not a date and time"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,RCPC,2026-12-03 25:00"),
         ["line 2: scheduled_for: '2026-12-03 25:00' is not a real time of day"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,RCPC,2026-03-29 01:30"),
         ["line 2: scheduled_for: '2026-03-29 01:30' does not exist in Europe/London"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,RCPC,2026-10-25 01:30"),
         ["line 2: scheduled_for: '2026-10-25 01:30' happens twice in Europe/London"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-1,RCPC,2026-12-03T10:00+25:00"),
         ["line 2: scheduled_for: '2026-12-03T10:00+25:00' has an impossible UTC offset"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                               "C1,CP-404,RCPC,2026-12-03 10:00"),
         ["line 2: case_ref 'CP-404' is not a known plan (import plans first)"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for,chair_id",
                               "C1,CP-1,RCPC,2026-12-03 10:00,TM1"),
         ["line 2: chair_id 'TM1' is a team_manager, not a iro"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for,report_received_at",
                               "C1,CP-1,RCPC,2026-12-03 10:00,yesterday"),
         ["line 2: report_received_at: 'yesterday' is not a date and time"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                          "A1,CP-1,IRO1,2026-11-02 11:00,complaint"),
         ["line 2: kind: unknown alert kind 'complaint' (expected one of concern, positive)"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind,theme",
                          "A1,CP-1,IRO1,2026-11-02 11:00,concern,paperwork"),
         ["line 2: theme: unknown theme 'paperwork'"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                          "A1,CP-9,IRO1,2026-11-02 11:00,concern"),
         ["line 2: case_ref 'CP-9' is not a known plan"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                          "A1,CP-1,SW1,2026-11-02 11:00,concern"),
         ["line 2: raised_by 'SW1' is a social_worker, not a iro"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind,responded_at",
                          "A1,CP-1,IRO1,2026-11-02 11:00,concern,2026-11-01 09:00"),
         ["line 2: responded_at is before raised_at"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                          "A1,CP-1,IRO1,,concern"),
         ["line 2: raised_at: empty"]),
    ],
)
def test_every_bad_row_is_listed_with_its_line_and_reason(
    kind: str, data: str, expected: list[str]
) -> None:
    found = errors_of(kind, data)
    assert len(found) == len(expected), found
    for message, wanted in zip(found, expected, strict=True):
        assert message.startswith(wanted), (message, wanted)


def test_all_reasons_for_one_row_are_given_together() -> None:
    data = csv_of("alert_id,case_ref,raised_by,raised_at,kind,theme",
                  ",CP-1,IRO1,02/11/2026,complaint,paperwork")
    [message] = errors_of("alerts", data)
    assert message.startswith("line 2: alert_id: empty; raised_at: '02/11/2026'")
    assert "kind: unknown alert kind" in message and "theme: unknown theme" in message


def test_line_numbers_count_physical_lines_including_blank_ones_and_quoted_breaks() -> None:
    data = (
        "staff_id,name,role,manager_id,team\r\n"
        "S1,Ann,iro,AD1,x\r\n"
        "\r\n"
        'S2,"Bob\r\nJones",iro,AD1,x\r\n'
        "S3,Cat,wizard,AD1,x\r\n"
    )
    assert errors_of("staff", data) == [
        "line 4: name: 'Bob\\r\\nJones' contains a control character",
        "line 6: role: unknown role 'wizard' (expected one of social_worker, iro, "
        "team_manager, service_manager, head_of_service, assistant_director, "
        "safeguarding_manager, admin)",
    ]


def test_a_manager_cycle_through_stored_rows_is_found() -> None:
    refs = Refs(staff={
        "A": Person("A", "A", "team_manager", "B", ""),
        "B": Person("B", "B", "service_manager", "C", ""),
        "C": Person("C", "C", "head_of_service", None, ""),
    })
    data = csv_of(STAFF_HEADER, "C,Cy,head_of_service,A,x")
    assert errors_of("staff", data, refs) == ["line 2: manager cycle: C -> A -> B -> C"]


def test_a_row_leading_into_a_cycle_is_refused_for_its_manager_not_for_the_cycle() -> None:
    data = csv_of(STAFF_HEADER, "S1,Ann,iro,S2,x", "S2,Bob,iro,S3,x", "S3,Cy,iro,S2,x")
    assert errors_of("staff", data) == [
        "line 2: manager_id 'S2' is on invalid line 3",
        "line 3: manager cycle: S2 -> S3 -> S2",
        "line 4: manager cycle: S3 -> S2 -> S3",
    ]


# --------------------------------------------------------------------- what is accepted


def test_a_bom_and_crlf_line_ends_are_accepted() -> None:
    data = ("\ufeff" + STAFF_CSV.replace("\n", "\r\n")).encode("utf-8")
    verdict = validate(parse_file("staff", data), Refs())
    assert verdict.errors == []
    assert [r.staff_id for r in verdict.records][:2] == ["AD1", "HOS1"]  # type: ignore[union-attr]


def test_headers_and_choices_are_matched_whatever_their_case_and_padding() -> None:
    data = csv_of(" Staff_ID , NAME,Role,manager_id,team,ACTIVE", "S1, Ann ,IRO,,x,FALSE")
    [record] = validate(parse_file("staff", data), Refs()).records
    assert record == StaffRecord("S1", "Ann", "iro", None, "x", False)


def test_unknown_columns_are_dropped_before_anything_is_built() -> None:
    data = csv_of("case_ref,child_name,social_worker_id,chair_id,plan_start,address",
                  "CP-9,Jane Doe,SW1,IRO1,2026-02-03,1 High St")
    parsed = parse_file("plans", data)
    assert parsed.ignored_columns == ("child_name", "address")
    [record] = validate(parsed, REFS).records
    assert record == PlanRecord("CP-9", "SW1", "IRO1", date(2026, 2, 3), None, None)
    assert "Jane" not in repr(parsed) and "High St" not in repr(parsed)


def test_an_ended_plan_may_name_staff_who_have_since_left() -> None:
    data = csv_of("case_ref,social_worker_id,chair_id,plan_start,plan_end",
                  "CP-9,SWX,IROX,2025-02-03,2025-12-01")
    assert errors_of("plans", data) == []


def test_a_header_only_file_is_valid_and_imports_nothing() -> None:
    verdict = validate(parse_file("plans", "case_ref,social_worker_id,chair_id,plan_start\n"),
                       REFS)
    assert verdict.errors == [] and verdict.records == []


@pytest.mark.parametrize(
    ("raw", "expected_utc"),
    [
        ("2026-12-03 10:00", datetime(2026, 12, 3, 10, 0, tzinfo=UTC)),  # GMT
        ("2026-06-04 10:00", datetime(2026, 6, 4, 9, 0, tzinfo=UTC)),  # BST
        ("2026-06-04T10:00", datetime(2026, 6, 4, 9, 0, tzinfo=UTC)),
        ("2026-06-04T10:00:30", datetime(2026, 6, 4, 9, 0, 30, tzinfo=UTC)),
        ("2026-06-04T10:00:00+02:00", datetime(2026, 6, 4, 8, 0, tzinfo=UTC)),
        ("2026-06-04T10:00+0100", datetime(2026, 6, 4, 9, 0, tzinfo=UTC)),
        ("2026-06-04T10:00Z", datetime(2026, 6, 4, 10, 0, tzinfo=UTC)),
        ("2026-10-25T01:30+01:00", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
        ("2026-10-25 00:59", datetime(2026, 10, 24, 23, 59, tzinfo=UTC)),
        ("2026-03-29 02:00", datetime(2026, 3, 29, 1, 0, tzinfo=UTC)),
    ],
)
def test_times_are_london_local_unless_they_carry_an_offset(
    raw: str, expected_utc: datetime
) -> None:
    parsed = parse_datetime(raw)
    assert parsed == expected_utc
    assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


# --------------------------------------------------------------------- fuzzing


_INSTANTS = st.datetimes(
    min_value=datetime(1950, 1, 1), max_value=datetime(2150, 1, 1), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))


@given(_INSTANTS)
def test_any_instant_written_with_its_offset_reads_back_as_itself(instant: datetime) -> None:
    local = instant.astimezone(LONDON)
    assert parse_datetime(local.isoformat()) == instant


@given(_INSTANTS)
def test_any_london_wall_time_reads_back_as_its_instant_unless_the_clock_repeats_it(
    instant: datetime,
) -> None:
    local = instant.astimezone(LONDON)
    wall = local.strftime("%Y-%m-%dT%H:%M:%S")
    other_fold = local.replace(fold=1 - local.fold)
    if other_fold.utcoffset() != local.utcoffset():
        with pytest.raises(ValueError, match="happens twice"):
            parse_datetime(wall)
    else:
        assert parse_datetime(wall) == instant




def _never_raises_anything_but_a_rejection(kind: str, data: str | bytes) -> None:
    try:
        verdict = validate(parse_file(kind, data), REFS)
    except ImportRejected as exc:
        assert exc.file_error
        return
    for error in verdict.errors:
        assert error.line >= 2 and error.reason
    assert len(verdict.records) + len({e.line for e in verdict.errors}) <= max(
        1, verdict.rows
    )


@given(kind=st.sampled_from(csvfile.KINDS), data=st.text())
def test_arbitrary_text_gives_records_or_clean_errors(kind: str, data: str) -> None:
    _never_raises_anything_but_a_rejection(kind, data)


@given(kind=st.sampled_from(csvfile.KINDS), data=st.binary())
def test_arbitrary_bytes_give_records_or_clean_errors(kind: str, data: bytes) -> None:
    _never_raises_anything_but_a_rejection(kind, data)


_CELL = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", "SW1", "IRO1", "TM1", "CP-1", "true", "FALSE", "iro", "RCPC",
                     "concern", "neglect", "2026-03-29 01:30", "2026-02-30", "2026-06-04",
                     "2026-06-04T10:00+14:59", "9999-12-31T23:59-18:00", '"', "a,b", "\r"]),
)


@given(kind=st.sampled_from(csvfile.KINDS), cells=st.lists(st.lists(_CELL, max_size=10),
                                                             max_size=6))
def test_a_good_header_with_arbitrary_cells_gives_records_or_clean_errors(
    kind: str, cells: list[list[str]]
) -> None:
    spec = csvfile.spec_for(kind)
    lines = [",".join(spec.columns)] + [",".join(row) for row in cells]
    _never_raises_anything_but_a_rejection(kind, "\n".join(lines))


# --------------------------------------------------------------------- the database layer


@pytest.fixture
def session(database: Database) -> Any:
    """A session on the test database; tests commit explicitly, like the CLI does."""
    with Session(database.engine, expire_on_commit=False) as s:
        yield s


def load(session: Session, kind: str, data: str | bytes, policy: Policy,
         **options: Any) -> importer.ImportReport:
    """Import and commit, as `irobot import` does."""
    report = import_csv(session, kind, data, policy, now=NOW, **options)
    session.commit()
    return report


def counts(report: importer.ImportReport) -> tuple[int, int, int]:
    """(created, updated, unchanged)."""
    return report.created, report.updated, report.unchanged


@pytest.fixture
def org(session: Session, policy: Policy) -> None:
    """The staff file above, already imported."""
    load(session, "staff", STAFF_CSV, policy)


def test_importing_staff_creates_them_and_summarises_in_one_line(
    session: Session, policy: Policy
) -> None:
    report = load(session, "staff", STAFF_CSV, policy)
    assert report.summary() == "staff: 9 created, 0 updated, 0 unchanged"
    stored = session.get(Staff, "SW1")
    assert stored is not None and (stored.manager_id, stored.role, stored.active) == (
        "TM1", "social_worker", True)


def test_re_importing_the_same_files_changes_nothing(
    session: Session, policy: Policy, org: None
) -> None:
    load(session, "plans", PLANS_CSV, policy)
    conferences = csv_of("conference_id,case_ref,kind,scheduled_for,chair_id,report_received_at",
                         "C1,CP-1,RCPC,2026-12-03 10:00,IRO1,",
                         "C2,CP-2,ICPC,2026-06-04T10:00,,2026-06-01 16:00")
    alerts = csv_of("alert_id,case_ref,raised_by,raised_at,kind,theme,responded_at,closed_at",
                    "A1,CP-1,IRO1,2026-11-02 11:00,concern,drift_and_delay,,",
                    "A2,CP-2,IRO2,2026-06-02 11:00,positive,,2026-06-03 09:00,")
    load(session, "conferences", conferences, policy)
    load(session, "alerts", alerts, policy)
    audit_before = len(session.exec(select(AuditEvent)).all())
    for kind, data, n in [("staff", STAFF_CSV, 9), ("plans", PLANS_CSV, 2),
                          ("conferences", conferences, 2), ("alerts", alerts, 2)]:
        assert counts(load(session, kind, data, policy)) == (0, 0, n)
    assert len(session.exec(select(AuditEvent)).all()) == audit_before


def test_a_changed_row_is_updated_and_the_rest_left_alone(
    session: Session, policy: Policy, org: None
) -> None:
    load(session, "plans", PLANS_CSV, policy)
    changed = PLANS_CSV.replace("CP-2,SW2,IRO2,2026-05-11,,emotional",
                                "CP-2,SW1,IRO2,2026-05-11,2026-11-20,emotional")
    report = load(session, "plans", changed + "CP-3,SW2,IRO1,2026-10-01,,\n", policy)
    assert report.summary() == "plans: 1 created, 1 updated, 1 unchanged"
    plan = session.get(Plan, "CP-2")
    assert plan is not None and (plan.social_worker_id, plan.plan_end) == (
        "SW1", date(2026, 11, 20))


def test_a_column_missing_from_the_file_leaves_stored_values_as_they_were(
    session: Session, policy: Policy, org: None
) -> None:
    load(session, "plans", PLANS_CSV, policy)
    without_category = csv_of("case_ref,social_worker_id,chair_id,plan_start",
                              "CP-1,SW1,IRO1,2026-03-02")
    assert counts(load(session, "plans", without_category, policy)) == (0, 0, 1)
    plan = session.get(Plan, "CP-1")
    assert plan is not None and plan.category == "neglect"


def test_staff_marked_inactive_are_stored_inactive_and_can_come_back(
    session: Session, policy: Policy, org: None
) -> None:
    leaving = csv_of(STAFF_H, "SW2,Sue Worker,social_worker,TM1,North,false")
    assert counts(load(session, "staff", leaving, policy)) == (0, 1, 0)
    session.expire_all()
    stored = session.get(Staff, "SW2")
    assert stored is not None and stored.active is False
    back = csv_of(STAFF_H, "SW2,Sue Worker,social_worker,TM1,North,true")
    assert counts(load(session, "staff", back, policy)) == (0, 1, 0)


def test_a_staff_update_keeps_the_telegram_link(
    session: Session, policy: Policy, org: None
) -> None:
    session.execute(text("UPDATE staff SET telegram_user_id = 42, chat_id = 42 "
                         "WHERE staff_id = 'SW1'"))
    session.commit()
    load(session, "staff", STAFF_CSV.replace("Sam Worker", "Sam Worker-Smith"), policy)
    session.expire_all()
    stored = session.get(Staff, "SW1")
    assert stored is not None and (stored.name, stored.telegram_user_id) == (
        "Sam Worker-Smith", 42)


def test_a_file_with_one_bad_row_writes_nothing_at_all(
    session: Session, policy: Policy, org: None
) -> None:
    bad = PLANS_CSV + "CP-3,TM1,IRO1,2026-10-01,,\n"
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "plans", bad, policy, now=NOW)
    session.rollback()
    assert [str(e) for e in caught.value.errors] == [
        "line 4: social_worker_id 'TM1' is a team_manager, not a social_worker"
    ]
    assert session.exec(select(Plan)).all() == []


def test_skip_invalid_imports_the_good_rows_and_still_lists_the_bad(
    session: Session, policy: Policy, org: None
) -> None:
    bad = PLANS_CSV + "CP-3,TM1,IRO1,2026-10-01,,\nCP-4,SW1,IRO1,someday,,\n"
    report = load(session, "plans", bad, policy, skip_invalid=True)
    assert report.summary() == "plans: 2 created, 0 updated, 0 unchanged, 2 invalid rows skipped"
    assert [e.line for e in report.errors] == [4, 5]
    assert sorted(p.case_ref for p in session.exec(select(Plan)).all()) == ["CP-1", "CP-2"]


def test_skip_invalid_also_skips_staff_whose_manager_was_skipped(
    session: Session, policy: Policy
) -> None:
    data = csv_of(STAFF_HEADER, "AD1,Ada,assistant_director,,x", "TM9,Tim,wizard,AD1,x",
                  "SW9,Sid,social_worker,TM9,x")
    report = load(session, "staff", data, policy, skip_invalid=True)
    assert (report.created, [e.line for e in report.errors]) == (1, [3, 4])
    assert [s.staff_id for s in session.exec(select(Staff)).all()] == ["AD1"]


def test_a_manager_cycle_through_the_database_is_refused(
    session: Session, policy: Policy, org: None
) -> None:
    data = csv_of(STAFF_HEADER, "HOS1,Hal Head,head_of_service,TM1,Safeguarding")
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "staff", data, policy, now=NOW)
    assert str(caught.value.errors[0]) == "line 2: manager cycle: HOS1 -> TM1 -> SM1 -> HOS1"


def test_a_dry_run_reports_what_would_change_and_writes_nothing(
    session: Session, policy: Policy, org: None, database: Database
) -> None:
    report = load(session, "plans", PLANS_CSV, policy, dry_run=True)
    assert report.summary() == (
        "plans: 2 created, 0 updated, 0 unchanged (dry run: nothing written)")
    with Session(database.engine) as other:
        assert other.exec(select(Plan)).all() == []


def test_unknown_columns_never_reach_any_table(
    session: Session, policy: Policy, org: None
) -> None:
    data = csv_of("case_ref,social_worker_id,chair_id,plan_start,child_name,dob",
                  "CP-1,SW1,IRO1,2026-03-02,Zebedee Quirkafleeg,2015-01-01")
    load(session, "plans", data, policy)
    for table in SQLModel.metadata.sorted_tables:
        for row in session.execute(table.select()):
            assert "Zebedee" not in repr(tuple(row)) and "2015-01-01" not in repr(tuple(row))


def test_conference_and_alert_times_are_stored_in_utc(
    session: Session, policy: Policy, org: None
) -> None:
    load(session, "plans", PLANS_CSV, policy)
    load(session, "conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                                        "C1,CP-1,RCPC,2026-06-04 10:00"), policy)
    load(session, "alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                                   "A1,CP-1,IRO1,2026-06-02T11:00+01:00,concern"), policy)
    session.expire_all()
    conference = session.get(Conference, "C1")
    alert = session.get(QaAlert, "A1")
    assert conference is not None and alert is not None
    assert conference.scheduled_for == datetime(2026, 6, 4, 9, 0, tzinfo=UTC)
    assert alert.raised_at == datetime(2026, 6, 2, 10, 0, tzinfo=UTC)


class RecordingSync:
    """A stand-in for the engine's sync that remembers what it saw inside the transaction."""

    def __init__(self) -> None:
        self.calls: list[Collection[str] | None] = []
        self.plans_visible: list[int] = []

    def __call__(self, session: Session, policy: Policy, *, now: datetime,
                 case_refs: Collection[str] | None = None) -> SyncResult:
        self.calls.append(None if case_refs is None else set(case_refs))
        self.plans_visible.append(len(session.exec(select(Plan)).all()))
        return SyncResult()


def test_sync_runs_in_the_same_transaction_with_the_cases_that_changed(
    session: Session, policy: Policy, org: None
) -> None:
    sync = RecordingSync()
    load(session, "staff", STAFF_CSV.replace("Sam Worker", "Samuel Worker"), policy, sync=sync)
    load(session, "plans", PLANS_CSV, policy, sync=sync)
    load(session, "plans", PLANS_CSV, policy, sync=sync)  # unchanged: nothing to sync
    load(session, "conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                                        "C1,CP-1,RCPC,2026-12-03 10:00"), policy, sync=sync)
    load(session, "conferences", csv_of("conference_id,case_ref,kind,scheduled_for",
                                        "C1,CP-2,RCPC,2026-12-03 10:00"), policy, sync=sync)
    assert sync.calls == [None, {"CP-1", "CP-2"}, {"CP-1"}, {"CP-1", "CP-2"}]
    assert sync.plans_visible[1] == 2


def test_sync_is_not_called_on_a_dry_run_or_a_rejected_file(
    session: Session, policy: Policy, org: None
) -> None:
    sync = RecordingSync()
    load(session, "plans", PLANS_CSV, policy, dry_run=True, sync=sync)
    with pytest.raises(ImportRejected):
        import_csv(session, "plans", PLANS_CSV + "CP-3,,,,\n", policy, now=NOW, sync=sync)
    assert sync.calls == []


def test_a_real_import_leaves_an_audit_event_without_case_data(
    session: Session, policy: Policy, org: None
) -> None:
    load(session, "plans", PLANS_CSV, policy)
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "import")).all()
    assert [e.detail for e in events][-1] == (
        '{"created": 2, "kind": "plans", "skipped": 0, "unchanged": 0, "updated": 0}')


def test_a_large_file_is_imported_in_chunks(session: Session, policy: Policy, org: None) -> None:
    rows = [f"CP-{n},SW1,IRO1,2026-03-02,," for n in range(2000)]
    data = csv_of("case_ref,social_worker_id,chair_id,plan_start,plan_end,category", *rows)
    assert counts(load(session, "plans", data, policy)) == (2000, 0, 0)
    assert counts(load(session, "plans", data, policy)) == (0, 0, 2000)
