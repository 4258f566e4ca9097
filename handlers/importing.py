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
- An open plan's chair must be active; its social worker may have left (the case is then
  unallocated: its items go to their last team manager). A conference's `chair_id` and an
  alert's `raised_by` must be IROs (possibly former ones, for history).
- Local times that do not exist or happen twice at a clock change must carry an offset.
- Rows are never deleted: a record missing from a later file stays as it was.
- A file over `MAX_FILE_MB` is refused whole. Within it a cell may be any size: a long note in
  a dropped column never rejects a file; the columns kept have their own length limits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlmodel import Session

from handlers.csvcells import show
from handlers.csvfile import ImportRejected, ParsedFile, RowError, Spec, parse_file, spec_for
from models.audit import SYSTEM, record
from models.bulk import chunks, insert_rows, table_of
from models.golive import mark_golive
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
from models.tables import CarePeriod, Plan
from scheduler.loaders import load_org
from scheduler.org import Person
from scheduler.policy import Policy
from scheduler.sync import SyncResult, look_again, sync_obligations

logger = logging.getLogger(__name__)

# A big import resyncs its cases this many at a time: memory then follows the chunk, not the
# file (200,000 plans at once peaked over 500 MB); each chunk reads the span its cases cover.
SYNC_CHUNK = 20_000

@dataclass(frozen=True)
class Refs:
    """A snapshot of stored data the file's rows point at; keeps validation pure."""

    staff: Mapping[str, Person] = field(default_factory=dict)
    plans: frozenset[str] = frozenset()
    cared: frozenset[str] = frozenset()  # case refs with a period in care


def _person_problem(column: str, staff_id: str, role: str, refs: Refs,
                    *, must_be_active: bool) -> str | None:
    person = refs.staff.get(staff_id)
    if person is None:
        return f"{column} {show(staff_id)} is not a known member of staff"
    if person.role != role:
        return f"{column} {show(staff_id)} is a {person.role}, not a {role}"
    if must_be_active and not person.active:
        return f"{column} {show(staff_id)} is inactive"
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
                    bad[line] = f"manager_id {show(boss)} is on invalid line {key_lines[boss]}"
                else:
                    bad[line] = f"manager_id {show(boss)} is not a known member of staff"
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


def _absence_problem(rec: AbsenceRecord, refs: Refs) -> str | None:
    """Who is away must be known; who covers must be known and still here."""
    if rec.staff_id not in refs.staff:
        return f"staff_id {show(rec.staff_id)} is not a known member of staff"
    if rec.cover_id is None:
        return None
    cover = refs.staff.get(rec.cover_id)
    if cover is None:
        return f"cover_id {show(rec.cover_id)} is not a known member of staff"
    if not cover.active:
        return f"cover_id {show(rec.cover_id)} is inactive"
    return None


def check_references(parsed: ParsedFile, refs: Refs) -> dict[int, list[str]]:
    """Problems that need other records: people, roles, plans, the manager hierarchy."""
    problems: dict[int, list[str]] = {}

    def add(line: int, reason: str | None) -> None:
        if reason is not None:
            problems.setdefault(line, []).append(reason)

    for line, rec in parsed.records.items():
        if isinstance(rec, PlanRecord):
            open_plan = rec.plan_end is None
            # A leaver named as the worker is not an error: the case is unallocated and its
            # items go to their last team manager until the export names someone else.
            add(line, _person_problem("social_worker_id", rec.social_worker_id, "social_worker",
                                      refs, must_be_active=False))
            add(line, _person_problem("chair_id", rec.chair_id, "iro", refs,
                                      must_be_active=open_plan))
        elif isinstance(rec, CareRecord):
            # As in plans: a leaver named as the worker leaves the case unallocated.
            add(line, _person_problem("social_worker_id", rec.social_worker_id, "social_worker",
                                      refs, must_be_active=False))
            add(line, _person_problem("iro_id", rec.iro_id, "iro", refs,
                                      must_be_active=rec.left_on is None))
        elif isinstance(rec, ReviewRecord):
            if rec.case_ref not in refs.cared:
                add(line, f"case_ref {show(rec.case_ref)} is not a known child in care "
                          "(import care first)")
            if rec.iro_id is not None:
                add(line, _person_problem("iro_id", rec.iro_id, "iro", refs,
                                          must_be_active=False))
        elif isinstance(rec, ConferenceRecord):
            if rec.case_ref not in refs.plans:
                add(line, f"case_ref {show(rec.case_ref)} is not a known plan "
                          "(import plans first)")
            if rec.chair_id is not None:
                add(line, _person_problem("chair_id", rec.chair_id, "iro", refs,
                                          must_be_active=False))
        elif isinstance(rec, AlertRecord):
            if rec.case_ref not in refs.plans and rec.case_ref not in refs.cared:
                add(line, f"case_ref {show(rec.case_ref)} is not a known plan "
                          "or child in care (import plans or care first)")
            add(line, _person_problem("raised_by", rec.raised_by, "iro", refs,
                                      must_be_active=False))
        elif isinstance(rec, AbsenceRecord):
            add(line, _absence_problem(rec, refs))
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


def _load_refs(session: Session, parsed: ParsedFile) -> Refs:
    """Only what validation needs: all staff (small, and cycles need the whole chain) and,
    for conferences and alerts, which of the file's case refs are known plans."""
    staff = load_org(session).people
    plans: set[str] = set()
    cared: set[str] = set()
    wanted = sorted({
        rec.case_ref for rec in parsed.records.values()
        if isinstance(rec, ConferenceRecord | AlertRecord | ReviewRecord)
    })
    for kinds, table, found in (
        (("conferences", "alerts"), table_of(Plan), plans),
        (("alerts", "reviews"), table_of(CarePeriod), cared),
    ):
        if parsed.kind not in kinds:
            continue
        for chunk in chunks(wanted):
            found.update(session.execute(
                select(table.c.case_ref).where(table.c.case_ref.in_(chunk))
            ).scalars())
    return Refs(staff=staff, plans=frozenset(plans), cared=frozenset(cared))


def _existing(session: Session, spec: Spec, keys: Sequence[str],
              columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    table = spec.table
    selected = [table.c[c] for c in columns]
    found: dict[str, dict[str, Any]] = {}
    for chunk in chunks(keys):
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
    sync_chunk: int = SYNC_CHUNK,
) -> ImportReport:
    """Validate a whole CSV file, then upsert it and resync (`sync`) in this transaction.

    Raises ImportRejected (and writes nothing) for a whole-file problem, or for bad rows
    unless `skip_invalid`. The caller commits; on a dry run nothing is ever written.
    The resync takes `sync_chunk` cases at a time (memory follows the chunk, not the file).
    """
    spec = spec_for(kind)
    parsed = parse_file(kind, data, tz=ZoneInfo(policy.timezone))
    refs = _load_refs(session, parsed)
    if kind in ("plans", "care") and parsed.records and not refs.staff:
        raise ImportRejected(
            kind, file_error="no staff imported yet: import staff first "
            f"(irobot import staff FILE.csv), then {kind}"
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
    new_days: set[str] = set()  # staff whose working days changed: their nudges move
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
            if "working_days" in present and old["working_days"] != values["working_days"]:
                new_days.add(values[spec.key])
            if "case_ref" in old and old["case_ref"] != values.get("case_ref"):
                case_refs.add(old["case_ref"])
        if "case_ref" in values:
            case_refs.add(values["case_ref"])
    report.created, report.updated = len(inserts), len(updates)
    report.case_refs = frozenset(case_refs)
    if dry_run or not report.changed:
        logger.info("%s", report.summary())
        return report
    del parsed, verdict, stored  # every record is in `inserts` or `updates` now: free the rest
    table = spec.table
    insert_rows(session, table, record_fields, [tuple(row.values()) for row in inserts])
    if updates:
        statement = (
            update(table)
            .where(table.c[spec.key] == bindparam(f"new_{spec.key}"))
            .values({c: bindparam(f"new_{c}") for c in compared})
        )
        session.connection().execute(statement, updates)
    del inserts, updates
    record(session, at=now, actor=SYSTEM, action="import", kind=kind, created=report.created,
           updated=report.updated, unchanged=report.unchanged, skipped=report.skipped)
    mark_golive(session, now)
    report.sync = _sync_in_chunks(
        sync, session, policy, now=now, chunk=sync_chunk,
        case_refs=None if kind == "staff" else report.case_refs,
    )  # fmt: skip
    if new_days:
        look_again(session, new_days, now=now)
    logger.info("%s", report.summary())
    return report


def _sync_in_chunks(
    sync: Callable[..., SyncResult],
    session: Session,
    policy: Policy,
    *,
    now: datetime,
    chunk: int,
    case_refs: frozenset[str] | None,
) -> SyncResult:
    """`sync` for these cases, `chunk` at a time when there are many (the totals summed).

    Each case's obligations follow from its own records, so syncing the cases in parts is
    the same as syncing them at once; only the memory differs.
    """
    if case_refs is None or len(case_refs) <= chunk:
        return sync(session, policy, now=now, case_refs=case_refs)
    ordered = sorted(case_refs)
    total = SyncResult()
    for start in range(0, len(ordered), chunk):
        part = sync(session, policy, now=now, case_refs=ordered[start : start + chunk])
        for name, value in vars(part).items():
            setattr(total, name, getattr(total, name) + value)
    return total
