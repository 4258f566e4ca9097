"""Reading a whole CSV file into typed records or row errors: pure, no database.

Any input at all ends in records (`models.records`) and row errors, or a clean
`ImportRejected` naming what is wrong with the file and what to do.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table

from handlers.csvcells import (
    CellError,
    boolean,
    choice,
    choice_or,
    identifier,
    optional,
    optional_identifier,
    parse_date,
    parse_datetime,
    show,
    text,
    weekdays,
)
from models.bulk import table_of
from models.records import (
    AbsenceRecord,
    AlertRecord,
    CareRecord,
    ConferenceRecord,
    PlanRecord,
    Record,
    ReviewRecord,
    StaffRecord,
)
from models.tables import Absence, CarePeriod, Conference, Plan, QaAlert, Review, Staff
from models.vocabulary import (
    ALERT_KINDS,
    CANCELLED,
    CONFERENCE_KINDS,
    CONFERENCE_STATUSES,
    ICPC,
    PLAN_CATEGORIES,
    ROLES,
    SCHEDULED,
    STAND_DOWN_REASON_CODES,
    THEME_CODES,
)
from scheduler.calendar import LONDON

logger = logging.getLogger(__name__)

KINDS = ("staff", "plans", "conferences", "alerts", "absences", "care", "reviews")
MAX_FILE_MB = 200  # a nightly export of a whole authority is a few MB; README says 200 MB
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
SAVE_AS = 'save it from Excel as "CSV UTF-8 (Comma delimited) (*.csv)" and import that'
TOO_BIG = f"file is over the {MAX_FILE_MB} MB import limit: split it into smaller files"


@dataclass(frozen=True, order=True)
class RowError:
    """One bad row: its physical line in the file (header = 1) and every reason."""

    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportRejected(ValueError):
    """Nothing was written: the whole file is unusable, or rows are bad and not skipped."""

    def __init__(self, kind: str, *, file_error: str | None = None,
                 errors: Sequence[RowError] = ()) -> None:
        self.kind = kind
        self.file_error = file_error
        self.errors = list(errors)
        if file_error is not None:
            message = file_error
        else:
            count = len(self.errors)
            message = f"{count} invalid row{'s' if count != 1 else ''}"
        super().__init__(message)


@dataclass(frozen=True)
class Spec:
    """What one import kind looks like: columns, how to read them, where they are stored."""

    kind: str
    key: str
    required: tuple[str, ...]
    optional: tuple[str, ...]
    record: type[Any]
    table: Table
    parsers: Mapping[str, Callable[[str], Any]] = field(default_factory=dict)
    datetimes: tuple[str, ...] = ()
    computed: tuple[str, ...] = ()  # stored, built by the record from other columns (a key)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this kind stores, in file order (computed ones last)."""
        return self.required + self.optional + self.computed


SPECS: dict[str, Spec] = {
    "staff": Spec(
        kind="staff",
        key="staff_id",
        required=("staff_id", "name", "role", "manager_id", "team"),
        optional=("active", "working_days"),
        record=StaffRecord,
        table=table_of(Staff),
        parsers={
            "staff_id": identifier,
            "name": text(200, required=True),
            "role": choice(ROLES, "role"),
            "manager_id": optional_identifier,
            "team": text(100, required=False),
            "active": boolean,
            "working_days": weekdays,
        },
    ),
    "plans": Spec(
        kind="plans",
        key="case_ref",
        required=("case_ref", "social_worker_id", "chair_id", "plan_start"),
        optional=("plan_end", "category", "reviewed_on"),
        record=PlanRecord,
        table=table_of(Plan),
        parsers={
            "case_ref": identifier,
            "social_worker_id": identifier,
            "chair_id": identifier,
            "plan_start": parse_date,
            "plan_end": optional(parse_date),
            "category": optional(choice(PLAN_CATEGORIES, "category")),
            "reviewed_on": optional(parse_date),
        },
    ),
    "conferences": Spec(
        kind="conferences",
        key="conference_id",
        required=("conference_id", "case_ref", "kind", "scheduled_for"),
        optional=("chair_id", "report_received_at", "status", "reason", "strategy_on",
                  "record_sent_at"),
        record=ConferenceRecord,
        table=table_of(Conference),
        parsers={
            "conference_id": identifier,
            "case_ref": identifier,
            "kind": choice(CONFERENCE_KINDS, "conference kind"),
            "chair_id": optional_identifier,
            "status": choice_or(SCHEDULED, CONFERENCE_STATUSES, "conference status"),
            "reason": optional(choice(STAND_DOWN_REASON_CODES, "reason")),
            "strategy_on": optional(parse_date),
        },
        datetimes=("scheduled_for", "report_received_at", "record_sent_at"),
    ),
    "alerts": Spec(
        kind="alerts",
        key="alert_id",
        required=("alert_id", "case_ref", "raised_by", "raised_at", "kind"),
        optional=("theme", "responded_at", "closed_at"),
        record=AlertRecord,
        table=table_of(QaAlert),
        parsers={
            "alert_id": identifier,
            "case_ref": identifier,
            "raised_by": identifier,
            "kind": choice(ALERT_KINDS, "alert kind"),
            "theme": optional(choice(THEME_CODES, "theme")),
        },
        datetimes=("raised_at", "responded_at", "closed_at"),
    ),
    "absences": Spec(
        kind="absences",
        key="absence_id",
        required=("absence_id", "staff_id", "starts_on", "ends_on"),
        optional=("cover_id",),
        record=AbsenceRecord,
        table=table_of(Absence),
        parsers={
            "absence_id": identifier,
            "staff_id": identifier,
            "starts_on": parse_date,
            "ends_on": parse_date,
            "cover_id": optional_identifier,
        },
    ),
    "care": Spec(
        kind="care",
        key="period_id",
        required=("case_ref", "social_worker_id", "iro_id", "entered_on"),
        optional=("left_on",),
        record=CareRecord,
        table=table_of(CarePeriod),
        parsers={
            "case_ref": identifier,
            "social_worker_id": identifier,
            "iro_id": identifier,
            "entered_on": parse_date,
            "left_on": optional(parse_date),
        },
        computed=("period_id",),
    ),
    "reviews": Spec(
        kind="reviews",
        key="review_id",
        required=("review_id", "case_ref", "scheduled_for"),
        optional=("iro_id", "status", "reason", "report_received_at", "held_on",
                  "decisions_uploaded_at", "record_uploaded_at"),
        record=ReviewRecord,
        table=table_of(Review),
        parsers={
            "review_id": identifier,
            "case_ref": identifier,
            "iro_id": optional_identifier,
            "status": choice_or(SCHEDULED, CONFERENCE_STATUSES, "review status"),
            "reason": optional(choice(STAND_DOWN_REASON_CODES, "reason")),
            "held_on": optional(parse_date),
        },
        datetimes=("scheduled_for", "report_received_at", "decisions_uploaded_at",
                   "record_uploaded_at"),
    ),
}


def spec_for(kind: str) -> Spec:
    """The spec for a kind name, or a ValueError naming the kinds that exist."""
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown import kind {kind!r} (expected {', '.join(KINDS)})") from None


@dataclass
class ParsedFile:
    """Row-level result: typed records and row errors, keyed by the row's first line."""

    kind: str
    columns: frozenset[str]
    records: dict[int, Record] = field(default_factory=dict)
    errors: dict[int, list[str]] = field(default_factory=dict)
    ignored_columns: tuple[str, ...] = ()
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Data rows seen, good or bad."""
        return len(self.records.keys() | self.errors.keys())


def decode(data: str | bytes, kind: str = "import") -> str:
    """UTF-8 text without a BOM, or ImportRejected for binary and other encodings."""
    if len(data) > MAX_FILE_BYTES:  # characters of a str: at least as many bytes as that
        raise ImportRejected(kind, file_error=TOO_BIG)
    if isinstance(data, bytes):
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise ImportRejected(kind, file_error="file is UTF-16: save it as UTF-8 (CSV UTF-8)")
        if b"\x00" in data:
            raise ImportRejected(kind, file_error="file is binary (contains NUL bytes), not CSV")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ImportRejected(
                kind,
                file_error=f"file is not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}): "
                f"{SAVE_AS}",
            ) from None
    else:
        text = data
        if "\x00" in text:
            raise ImportRejected(kind, file_error="file is binary (contains NUL bytes), not CSV")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise ImportRejected(kind, file_error="file is empty")
    return text


def _read_rows(kind: str, text: str) -> Iterable[tuple[int, list[str]]]:
    """(first physical line, fields) for every non-blank CSV record."""
    # The csv module refuses any field over 128 KiB, even in a column we drop; no field can
    # be longer than the file, whose size is capped, so allow that much.
    if csv.field_size_limit() < MAX_FILE_BYTES:
        csv.field_size_limit(MAX_FILE_BYTES)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(
                kind, file_error=f"line {previous + 1}: malformed CSV ({exc})"
            ) from None
        start = previous + 1
        previous = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue
        yield start, row


def _other_separator(header: Sequence[str], spec: Spec) -> str | None:
    """`semicolons` when the header only makes sense split on `;` (Excel in many locales)."""
    for mark, name in ((";", "semicolons"), ("\t", "tabs")):
        names = {part.strip().casefold() for cell in header for part in cell.split(mark)}
        if all(column in names for column in spec.required):
            return name
    return None


def _build(spec: Spec, tz: ZoneInfo, values: Mapping[str, str]) -> tuple[Record | None, list[str]]:
    """Convert every present cell; collect each cell's problem rather than stop at the first."""
    typed: dict[str, Any] = {}
    problems: list[str] = []
    for column, raw in values.items():
        try:
            if column in spec.datetimes:
                if raw:
                    typed[column] = parse_datetime(raw, tz)
                elif column in spec.required:
                    raise CellError("empty")
                else:
                    typed[column] = None
            else:
                typed[column] = spec.parsers[column](raw)
        except CellError as exc:
            problems.append(f"{column}: {exc}")
    if problems:
        return None, problems
    return cast(Record, spec.record(**typed)), []


def _row_checks(record: Record) -> list[str]:
    """Checks within one row that need more than one column."""
    problems: list[str] = []
    if isinstance(record, PlanRecord):
        if record.plan_end and record.plan_end < record.plan_start:
            problems.append("plan_end is before plan_start")
        if record.reviewed_on and record.reviewed_on < record.plan_start:
            problems.append("reviewed_on is before plan_start")
    if isinstance(record, AlertRecord):
        if record.responded_at and record.responded_at < record.raised_at:
            problems.append("responded_at is before raised_at")
        if record.closed_at and record.closed_at < record.raised_at:
            problems.append("closed_at is before raised_at")
    if isinstance(record, StaffRecord) and record.manager_id == record.staff_id:
        problems.append(f"manager cycle: {record.staff_id} -> {record.staff_id}")
    if isinstance(record, ConferenceRecord) and record.strategy_on is not None:
        if record.kind != ICPC:
            problems.append("strategy_on is for an ICPC (the strategy discussion before it)")
        elif record.strategy_on > record.scheduled_for.date():
            problems.append("strategy_on is after the conference")
    if isinstance(record, CareRecord) and record.left_on and record.left_on < record.entered_on:
        problems.append("left_on is before entered_on")
    if isinstance(record, ReviewRecord) and record.status == CANCELLED and record.held_on:
        problems.append("held_on is given for a cancelled review")
    if isinstance(record, AbsenceRecord):
        if record.ends_on < record.starts_on:
            problems.append("ends_on is before starts_on")
        if record.cover_id == record.staff_id:
            problems.append("cover_id is the person who is away")
    return problems


def _key_name(spec: Spec) -> str:
    """How an error names the key: a computed one by the columns it is made of."""
    if spec.key in spec.computed:
        return "period (case_ref and entered_on)"
    return spec.key


def parse_file(kind: str, data: str | bytes, *, tz: ZoneInfo = LONDON) -> ParsedFile:
    """Decode and read every row into a typed record or a list of reasons; no database."""
    spec = spec_for(kind)
    text = decode(data, kind)
    rows = iter(_read_rows(kind, text))
    try:
        _, header = next(rows)
    except StopIteration:
        raise ImportRejected(kind, file_error="file is empty") from None
    names = [name.strip().casefold() for name in header]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if name in spec.columns and name not in spec.computed:
            if name in positions:
                raise ImportRejected(kind, file_error=f"column {name} appears more than once")
            positions[name] = index
    missing = [c for c in spec.required if c not in positions]
    separator = _other_separator(header, spec) if missing else None
    if separator:
        raise ImportRejected(
            kind, file_error=f"columns are separated by {separator}, not commas: {SAVE_AS}"
        )
    if missing:
        plural = "s" if len(missing) > 1 else ""
        raise ImportRejected(
            kind, file_error=f"missing required column{plural}: {', '.join(missing)}"
        )
    ignored = tuple(h.strip() for h, n in zip(header, names, strict=True) if n not in positions)
    if ignored:
        logger.info("%s import: dropping columns %s", kind, ", ".join(ignored))
    parsed = ParsedFile(kind=kind, columns=frozenset(positions) | frozenset(spec.computed),
                        ignored_columns=ignored)  # fmt: skip
    first_line_of: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    computed_key = spec.key in spec.computed
    for line, row in rows:
        if len(row) != len(header):
            parsed.errors[line] = [f"has {len(row)} fields but the header has {len(header)}"]
            continue
        values = {column: row[index].strip() for column, index in positions.items()}
        built, problems = _build(spec, tz, values)
        key = str(getattr(built, spec.key)) if computed_key and built else values.get(spec.key, "")
        if key:
            if key in first_line_of:
                duplicates.setdefault(key, [first_line_of[key]]).append(line)
            else:
                first_line_of[key] = line
        if built is not None:
            problems = _row_checks(built)
        if problems:
            parsed.errors[line] = problems
        elif built is not None:
            parsed.records[line] = built
    parsed.key_lines = first_line_of
    for key, lines in duplicates.items():
        for line in lines:
            others = [str(other) for other in lines if other != line]
            where = f"line{'s' if len(others) > 1 else ''} {', '.join(others)}"
            parsed.errors.setdefault(line, []).append(
                f"duplicate {_key_name(spec)} {show(key)} (also on {where})"
            )
            parsed.records.pop(line, None)
    return parsed
