"""CSV import of staff, plans, conferences and alerts: validate everything, then upsert at once.

Two layers. The pure layer (`parse_file`, `check_references`, `validate`) turns bytes or text
into typed records or row errors and never touches the database, so any input at all ends in
records or a clean `ImportRejected`. The write layer (`import_csv`) loads the reference data
it needs, diffs against the stored rows, bulk-upserts, and calls `sync_obligations` in the
same transaction; the caller commits.

Rules beyond INTERFACE.md, chosen so a nightly export cannot quietly break reminders:
- Column names are matched case-insensitively; enumerated values too (stored canonically).
- A column absent from the file leaves that field of existing rows as it is; a column that is
  present but empty clears the field (or, for `active`, means `true`).
- A row with a different number of fields than the header is refused (misaligned columns
  would assign the wrong people).
- An open plan's social worker and chair must be active; a conference's `chair_id` and an
  alert's `raised_by` must be IROs (possibly former ones, for history).
- Local times that do not exist or happen twice at a clock change must carry an offset.
- Rows are never deleted: a record missing from a later file stays as it was.
- A file over `MAX_FILE_MB` is refused whole. Within it a cell may be any size: a long note in
  a dropped column never rejects a file; the columns kept have their own length limits.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy import Table, bindparam, insert, select, update
from sqlmodel import Session

from models.audit import SYSTEM, record
from models.records import (
    AlertRecord,
    ConferenceRecord,
    PlanRecord,
    Record,
    StaffRecord,
)
from models.tables import Conference, Plan, QaAlert, Staff
from models.vocabulary import ALERT_KINDS, CONFERENCE_KINDS, PLAN_CATEGORIES, ROLES, THEME_CODES
from scheduler.calendar import LONDON
from scheduler.policy import Policy
from scheduler.sync import SyncResult, sync_obligations

logger = logging.getLogger(__name__)

KINDS = ("staff", "plans", "conferences", "alerts")
ID_MAX = 64
_CHUNK = 900  # ids per IN (...) query: under SQLite's oldest bound-parameter limit
_MIN_YEAR, _MAX_YEAR = 1900, 2200
MAX_FILE_MB = 200  # a nightly export of a whole authority is a few MB; README says 200 MB
MAX_FILE_BYTES = MAX_FILE_MB * 1024 * 1024
SAVE_AS = 'save it from Excel as "CSV UTF-8 (Comma delimited) (*.csv)" and import that'
TOO_BIG = f"file is over the {MAX_FILE_MB} MB import limit: split it into smaller files"


# --------------------------------------------------------------------------- errors


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


class _CellError(ValueError):
    """A single value that cannot be used; the message is shown after the column name."""


# --------------------------------------------------------------------------- records




# --------------------------------------------------------------------------- cell parsers


def _show(value: str) -> str:
    """A value quoted for an error message, cut short so a stray paragraph stays readable."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # Unicode Cc and Cs


def _check_chars(value: str) -> None:
    if _CONTROL.search(value):
        raise _CellError(f"{_show(value)} contains a control character")


def _identifier(value: str) -> str:
    if not value:
        raise _CellError("empty")
    _check_chars(value)
    if len(value) > ID_MAX:
        raise _CellError(f"{_show(value)} is longer than {ID_MAX} characters")
    return value


def _optional_identifier(value: str) -> str | None:
    return _identifier(value) if value else None


def _text(limit: int, *, required: bool) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if required and not value:
            raise _CellError("empty")
        _check_chars(value)
        if len(value) > limit:
            raise _CellError(f"longer than {limit} characters")
        return value

    return parse


def _choice(allowed: Sequence[str], noun: str) -> Callable[[str], str]:
    canonical = {a.casefold(): a for a in allowed}

    def parse(value: str) -> str:
        if not value:
            raise _CellError(f"empty (expected one of {', '.join(allowed)})")
        found = canonical.get(value.casefold())
        if found is None:
            expected = ", ".join(allowed)
            raise _CellError(f"unknown {noun} {_show(value)} (expected one of {expected})")
        return found

    return parse


def _optional(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    def wrapped(value: str) -> Any:
        return parse(value) if value else None

    return wrapped


def _boolean(value: str) -> bool:
    folded = value.casefold()
    if folded in ("", "true"):
        return True
    if folded == "false":
        return False
    raise _CellError(f"{_show(value)} must be true or false")


_DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2}))?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


def _ymd(value: str, year: str, month: str, day: str) -> date:
    try:
        parsed = date(int(year), int(month), int(day))
    except ValueError:
        raise _CellError(f"{_show(value)} is not a real date") from None
    if not _MIN_YEAR <= parsed.year <= _MAX_YEAR:
        raise _CellError(f"{_show(value)} has an implausible year")
    return parsed


def parse_date(value: str) -> date:
    """A plain ISO date, `YYYY-MM-DD`; anything looser is refused rather than guessed."""
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise _CellError(f"{_show(value)} is not a date (expected YYYY-MM-DD)")
    return _ymd(value, *match.groups())


def parse_datetime(value: str, tz: ZoneInfo = LONDON) -> datetime:
    """Local wall-clock time in `tz`, or an explicit offset; returned aware in UTC."""
    match = _DATETIME_RE.fullmatch(value)
    if match is None:
        raise _CellError(
            f"{_show(value)} is not a date and time "
            "(expected YYYY-MM-DD HH:MM, YYYY-MM-DDTHH:MM[:SS] or with an offset)"
        )
    year, month, day, hour, minute, second, offset = match.groups()
    day_part = _ymd(value, year, month, day)
    try:
        naive = datetime.combine(day_part, datetime.min.time()).replace(
            hour=int(hour), minute=int(minute), second=int(second or 0)
        )
    except ValueError:
        raise _CellError(f"{_show(value)} is not a real time of day") from None
    if offset is not None:
        if offset == "Z":
            zone: timezone = UTC
        else:
            digits = offset[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:])
            if hours > 18 or minutes > 59:
                raise _CellError(f"{_show(value)} has an impossible UTC offset")
            sign = -1 if offset[0] == "-" else 1
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        return naive.replace(tzinfo=zone).astimezone(UTC)
    first = naive.replace(tzinfo=tz, fold=0)
    second_ = naive.replace(tzinfo=tz, fold=1)
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:
        raise _CellError(f"{_show(value)} does not exist in {tz.key} (clocks go forward)")
    if first.utcoffset() != second_.utcoffset():
        raise _CellError(
            f"{_show(value)} happens twice in {tz.key} (clocks go back): add an offset"
        )
    return first.astimezone(UTC)


# --------------------------------------------------------------------------- kinds


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

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column this kind stores, in file order."""
        return self.required + self.optional


def _table(model: type[Any]) -> Table:
    return cast(Table, model.__table__)


SPECS: dict[str, Spec] = {
    "staff": Spec(
        kind="staff",
        key="staff_id",
        required=("staff_id", "name", "role", "manager_id", "team"),
        optional=("active",),
        record=StaffRecord,
        table=_table(Staff),
        parsers={
            "staff_id": _identifier,
            "name": _text(200, required=True),
            "role": _choice(ROLES, "role"),
            "manager_id": _optional_identifier,
            "team": _text(100, required=False),
            "active": _boolean,
        },
    ),
    "plans": Spec(
        kind="plans",
        key="case_ref",
        required=("case_ref", "social_worker_id", "chair_id", "plan_start"),
        optional=("plan_end", "category"),
        record=PlanRecord,
        table=_table(Plan),
        parsers={
            "case_ref": _identifier,
            "social_worker_id": _identifier,
            "chair_id": _identifier,
            "plan_start": parse_date,
            "plan_end": _optional(parse_date),
            "category": _optional(_choice(PLAN_CATEGORIES, "category")),
        },
    ),
    "conferences": Spec(
        kind="conferences",
        key="conference_id",
        required=("conference_id", "case_ref", "kind", "scheduled_for"),
        optional=("chair_id", "report_received_at"),
        record=ConferenceRecord,
        table=_table(Conference),
        parsers={
            "conference_id": _identifier,
            "case_ref": _identifier,
            "kind": _choice(CONFERENCE_KINDS, "conference kind"),
            "chair_id": _optional_identifier,
        },
        datetimes=("scheduled_for", "report_received_at"),
    ),
    "alerts": Spec(
        kind="alerts",
        key="alert_id",
        required=("alert_id", "case_ref", "raised_by", "raised_at", "kind"),
        optional=("theme", "responded_at", "closed_at"),
        record=AlertRecord,
        table=_table(QaAlert),
        parsers={
            "alert_id": _identifier,
            "case_ref": _identifier,
            "raised_by": _identifier,
            "kind": _choice(ALERT_KINDS, "alert kind"),
            "theme": _optional(_choice(THEME_CODES, "theme")),
        },
        datetimes=("raised_at", "responded_at", "closed_at"),
    ),
}


def spec_for(kind: str) -> Spec:
    """The spec for a kind name, or a ValueError naming the four that exist."""
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown import kind {kind!r} (expected {', '.join(KINDS)})") from None


# --------------------------------------------------------------------------- pure layer


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
                    raise _CellError("empty")
                else:
                    typed[column] = None
            else:
                typed[column] = spec.parsers[column](raw)
        except _CellError as exc:
            problems.append(f"{column}: {exc}")
    if problems:
        return None, problems
    return cast(Record, spec.record(**typed)), []


def _row_checks(record: Record) -> list[str]:
    """Checks within one row that need more than one column."""
    problems: list[str] = []
    if isinstance(record, PlanRecord) and record.plan_end and record.plan_end < record.plan_start:
        problems.append("plan_end is before plan_start")
    if isinstance(record, AlertRecord):
        if record.responded_at and record.responded_at < record.raised_at:
            problems.append("responded_at is before raised_at")
        if record.closed_at and record.closed_at < record.raised_at:
            problems.append("closed_at is before raised_at")
    if isinstance(record, StaffRecord) and record.manager_id == record.staff_id:
        problems.append(f"manager cycle: {record.staff_id} -> {record.staff_id}")
    return problems


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
        if name in spec.columns:
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
    parsed = ParsedFile(kind=kind, columns=frozenset(positions), ignored_columns=ignored)
    first_line_of: dict[str, int] = {}
    duplicates: dict[str, list[int]] = {}
    for line, row in rows:
        if len(row) != len(header):
            parsed.errors[line] = [f"has {len(row)} fields but the header has {len(header)}"]
            continue
        values = {column: row[index].strip() for column, index in positions.items()}
        key = values[spec.key]
        if key:
            if key in first_line_of:
                duplicates.setdefault(key, [first_line_of[key]]).append(line)
            else:
                first_line_of[key] = line
        built, problems = _build(spec, tz, values)
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
                f"duplicate {spec.key} {_show(key)} (also on {where})"
            )
            parsed.records.pop(line, None)
    return parsed


@dataclass(frozen=True)
class StaffRef:
    """What validation needs to know about a stored member of staff."""

    role: str
    manager_id: str | None
    active: bool


@dataclass(frozen=True)
class Refs:
    """A snapshot of stored data the file's rows point at; keeps validation pure."""

    staff: Mapping[str, StaffRef] = field(default_factory=dict)
    plans: frozenset[str] = frozenset()


def _person_problem(column: str, staff_id: str, role: str, refs: Refs,
                    *, must_be_active: bool) -> str | None:
    person = refs.staff.get(staff_id)
    if person is None:
        return f"{column} {_show(staff_id)} is not a known member of staff"
    if person.role != role:
        return f"{column} {_show(staff_id)} is a {person.role}, not a {role}"
    if must_be_active and not person.active:
        return f"{column} {_show(staff_id)} is inactive"
    return None


def _staff_graph_problems(records: Mapping[int, StaffRecord], refs: Refs,
                          errors: Mapping[int, list[str]],
                          key_lines: Mapping[str, int]) -> dict[int, list[str]]:
    """Unknown managers and manager cycles, through stored rows too, until nothing changes.

    Rows found bad are taken out and the check repeats, because with `--skip-invalid` a
    skipped row falls back to its stored version (or to nothing) for the rows that point at it.
    """
    found: dict[int, list[str]] = {}
    valid = {line: rec for line, rec in records.items() if line not in errors}
    while True:
        managers: dict[str, str | None] = {sid: ref.manager_id for sid, ref in refs.staff.items()}
        managers.update({rec.staff_id: rec.manager_id for rec in valid.values()})
        bad: dict[int, str] = {}
        for line, rec in valid.items():
            boss = rec.manager_id
            if boss is not None and boss not in managers:
                if boss in key_lines:
                    bad[line] = f"manager_id {_show(boss)} is on invalid line {key_lines[boss]}"
                else:
                    bad[line] = f"manager_id {_show(boss)} is not a known member of staff"
        safe: set[str] = set()
        for line, rec in valid.items():
            if line in bad:
                continue
            path: list[str] = []
            visited: set[str] = set()
            current: str | None = rec.staff_id
            while current is not None and current in managers and current not in safe:
                if current in visited:
                    if current == rec.staff_id:  # back where we started: this row is on it
                        bad[line] = "manager cycle: " + " -> ".join([*path, current])
                    break
                visited.add(current)
                path.append(current)
                current = managers[current]
            else:
                safe.update(path)
        if not bad:
            return found
        for line, reason in bad.items():
            found.setdefault(line, []).append(reason)
            del valid[line]


def check_references(parsed: ParsedFile, refs: Refs) -> dict[int, list[str]]:
    """Problems that need other records: people, roles, plans, the manager hierarchy."""
    problems: dict[int, list[str]] = {}

    def add(line: int, reason: str | None) -> None:
        if reason is not None:
            problems.setdefault(line, []).append(reason)

    for line, rec in parsed.records.items():
        if isinstance(rec, PlanRecord):
            open_plan = rec.plan_end is None
            add(line, _person_problem("social_worker_id", rec.social_worker_id, "social_worker",
                                      refs, must_be_active=open_plan))
            add(line, _person_problem("chair_id", rec.chair_id, "iro", refs,
                                      must_be_active=open_plan))
        elif isinstance(rec, ConferenceRecord | AlertRecord):
            if rec.case_ref not in refs.plans:
                add(line, f"case_ref {_show(rec.case_ref)} is not a known plan "
                          "(import plans first)")
            if isinstance(rec, ConferenceRecord) and rec.chair_id is not None:
                add(line, _person_problem("chair_id", rec.chair_id, "iro", refs,
                                          must_be_active=False))
            if isinstance(rec, AlertRecord):
                add(line, _person_problem("raised_by", rec.raised_by, "iro", refs,
                                          must_be_active=False))
    staff = {line: rec for line, rec in parsed.records.items() if isinstance(rec, StaffRecord)}
    if staff:
        for line, reasons in _staff_graph_problems(
            staff, refs, parsed.errors, parsed.key_lines
        ).items():
            problems.setdefault(line, []).extend(reasons)
    return problems


@dataclass
class Validated:
    """The pure layer's verdict: good records in file order, and every bad row."""

    kind: str
    columns: frozenset[str]
    records: list[Record]
    errors: list[RowError]
    rows: int


def validate(parsed: ParsedFile, refs: Refs) -> Validated:
    """Combine row errors and reference errors; a row with any reason is not imported."""
    merged: dict[int, list[str]] = {line: list(r) for line, r in parsed.errors.items()}
    for line, reasons in check_references(parsed, refs).items():
        merged.setdefault(line, []).extend(reasons)
    errors = [RowError(line, "; ".join(reasons)) for line, reasons in sorted(merged.items())]
    records = [rec for line, rec in sorted(parsed.records.items()) if line not in merged]
    return Validated(parsed.kind, parsed.columns, records, errors, parsed.rows)


# --------------------------------------------------------------------------- write layer


@dataclass
class ImportReport:
    """What an import did (or, on a dry run, would do)."""

    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    ignored_columns: tuple[str, ...] = ()
    dry_run: bool = False
    case_refs: frozenset[str] = frozenset()
    sync: SyncResult | None = None

    @property
    def skipped(self) -> int:
        """Bad rows left out under `--skip-invalid`."""
        return len(self.errors)

    @property
    def changed(self) -> int:
        """Rows created or updated."""
        return self.created + self.updated

    def summary(self) -> str:
        """The one line the CLI prints, e.g. `plans: 3 created, 1 updated, 0 unchanged`."""
        text = (
            f"{self.kind}: {self.created} created, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        if self.skipped:
            text += f", {self.skipped} invalid row{'s' if self.skipped != 1 else ''} skipped"
        if self.dry_run:
            text += " (dry run: nothing written)"
        return text


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _load_refs(session: Session, parsed: ParsedFile) -> Refs:
    """Only what validation needs: all staff (small, and cycles need the whole chain) and,
    for conferences and alerts, which of the file's case refs are known plans."""
    staff_table = _table(Staff)
    staff = {
        row.staff_id: StaffRef(row.role, row.manager_id, bool(row.active))
        for row in session.execute(
            select(staff_table.c.staff_id, staff_table.c.role, staff_table.c.manager_id,
                   staff_table.c.active)
        )
    }
    plans: set[str] = set()
    if parsed.kind in ("conferences", "alerts"):
        wanted = sorted({
            rec.case_ref for rec in parsed.records.values()
            if isinstance(rec, ConferenceRecord | AlertRecord)
        })
        plan_table = _table(Plan)
        for chunk in _chunks(wanted):
            plans.update(session.execute(
                select(plan_table.c.case_ref).where(plan_table.c.case_ref.in_(chunk))
            ).scalars())
    return Refs(staff=staff, plans=frozenset(plans))


def _existing(session: Session, spec: Spec, keys: Sequence[str],
              columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    table = spec.table
    selected = [table.c[c] for c in columns]
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(keys):
        for row in session.execute(select(*selected).where(table.c[spec.key].in_(chunk))):
            values = dict(row._mapping)
            found[values[spec.key]] = values
    return found


def import_csv(
    session: Session,
    kind: str,
    data: str | bytes,
    policy: Policy,
    *,
    now: datetime,
    skip_invalid: bool = False,
    dry_run: bool = False,
    sync: Callable[..., SyncResult] = sync_obligations,
) -> ImportReport:
    """Validate a whole CSV file, then upsert it and resync (`sync`) in this transaction.

    Raises ImportRejected (and writes nothing) for a whole-file problem, or for bad rows
    unless `skip_invalid`. The caller commits; on a dry run nothing is ever written.
    """
    spec = spec_for(kind)
    parsed = parse_file(kind, data, tz=ZoneInfo(policy.timezone))
    refs = _load_refs(session, parsed)
    if kind == "plans" and parsed.records and not refs.staff:
        raise ImportRejected(
            kind, file_error="no staff imported yet: import staff first "
            "(irobot import staff FILE.csv), then plans"
        )
    verdict = validate(parsed, refs)
    if verdict.errors and not skip_invalid:
        raise ImportRejected(kind, errors=verdict.errors)
    report = ImportReport(kind=kind, rows=verdict.rows, errors=verdict.errors,
                          ignored_columns=parsed.ignored_columns, dry_run=dry_run)
    present = [c for c in spec.columns if c in verdict.columns]
    compared = [c for c in present if c != spec.key]
    record_fields = [f.name for f in fields(spec.record)]
    stored = _existing(session, spec, [getattr(r, spec.key) for r in verdict.records], present)
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    case_refs: set[str] = set()
    for rec in verdict.records:
        values = {name: getattr(rec, name) for name in record_fields}
        old = stored.get(values[spec.key])
        if old is None:
            inserts.append(values)
        elif all(old[c] == values[c] for c in compared):
            report.unchanged += 1
            continue
        else:
            updates.append({f"new_{c}": values[c] for c in present})
            if "case_ref" in old and old["case_ref"] != values.get("case_ref"):
                case_refs.add(old["case_ref"])
        if "case_ref" in values:
            case_refs.add(values["case_ref"])
    report.created, report.updated = len(inserts), len(updates)
    report.case_refs = frozenset(case_refs)
    if dry_run or not report.changed:
        logger.info("%s", report.summary())
        return report
    table = spec.table
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        statement = (
            update(table)
            .where(table.c[spec.key] == bindparam(f"new_{spec.key}"))
            .values({c: bindparam(f"new_{c}") for c in compared})
        )
        session.connection().execute(statement, updates)
    record(session, at=now, actor=SYSTEM, action="import", kind=kind, created=report.created,
           updated=report.updated, unchanged=report.unchanged, skipped=report.skipped)
    report.sync = sync(
        session, policy, now=now, case_refs=None if kind == "staff" else report.case_refs
    )
    logger.info("%s", report.summary())
    return report
