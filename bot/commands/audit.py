"""`irobot audit export|purge`: one child's footprint as CSV, and retention of whole months.

The trail is append-only in the database itself (triggers refuse UPDATE and DELETE). The
purge is the one door: inside its own transaction it opens the gate (PostgreSQL: `SET LOCAL
irobot.purge = 'on'`; SQLite: a row in `audit_purge_gate`, removed again before commit),
deletes the months before `--before`, and records itself in the same transaction.
"""

from __future__ import annotations

import argparse
import csv
import getpass
import io
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from sqlalchemy import delete, func, or_, select, text
from sqlmodel import Session, col

from bot.commands.report import text_cell
from bot.context import AppContext, CommandError
from models import audit
from models.tables import AuditEvent, AuditPurgeGate, Obligation, Plan
from scheduler.calendar import WorkingCalendar

logger = logging.getLogger(__name__)

EXPORT_COLUMNS = ("at", "actor", "action", "detail")
PURGE_ACTION = "audit_purge"
EXPORT_ACTION = "audit_export"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`export --case CASE_REF [--out FILE]` and `purge --before DATE [--dry-run]`."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export_help = (
        "one child's audit trail (the IRO's footprint) as CSV: at, actor, action, detail"
    )
    export = actions.add_parser("export", help=export_help, description=export_help)
    export.add_argument("--case", required=True, metavar="CASE_REF", help="e.g. CP-1042")
    export.add_argument(
        "--out", metavar="FILE", help="write the CSV here (readable by you only); default stdout"
    )
    purge_help = (
        "retention: remove whole months of audit rows before DATE, which must be the first "
        "of a month and older than the policy's [audit] retention_months; the purge is audited"
    )
    purge = actions.add_parser("purge", help=purge_help, description=purge_help)
    purge.add_argument("--before", required=True, metavar="YYYY-MM-01", help="e.g. 2019-01-01")
    purge.add_argument(
        "--dry-run", action="store_true", help="say what would be removed; remove nothing"
    )


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Export or purge; either way one summary line, a failure is one line on stderr."""
    if args.action == "export":
        return export(ctx, case_ref=args.case.strip(), out=args.out)
    return purge(ctx, before=parse_month_start(args.before), dry_run=args.dry_run)


# --------------------------------------------------------------------------- export


def case_events(session: Session, case_ref: str) -> list[AuditEvent]:
    """Every event naming the case, or one of its obligations, oldest first."""
    obligations = select(col(Obligation.id)).where(col(Obligation.case_ref) == case_ref)
    return list(
        session.execute(
            select(AuditEvent)
            .where(
                or_(
                    col(AuditEvent.case_ref) == case_ref,
                    col(AuditEvent.obligation_id).in_(obligations),
                )
            )
            .order_by(col(AuditEvent.at), col(AuditEvent.id))
        ).scalars()
    )


def export_rows(events: Sequence[AuditEvent], cal: WorkingCalendar) -> list[list[str]]:
    """Header and one row per event, local time with its offset, every cell inert text."""
    rows = [list(EXPORT_COLUMNS)]
    for event in events:
        at = cal.local(event.at).isoformat(timespec="seconds")
        rows.append([text_cell(value) for value in (at, event.actor, event.action, event.detail)])
    return rows


def _csv(rows: Sequence[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


def _write_private(path: Path, content: str) -> None:
    """Create or replace the file readable by its owner only: it names staff and a case."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            file.write(content)
    except OSError as exc:
        raise CommandError(f"--out {path}: cannot write it ({exc.strerror or exc})") from None


def export(ctx: AppContext, *, case_ref: str, out: str | None) -> int:
    """Write the case's events as CSV; the export itself is recorded (who looked, when)."""
    if not case_ref:
        raise CommandError("--case needs a case reference, e.g. --case CP-1042")
    with ctx.session() as session:
        events = case_events(session, case_ref)
        known = session.get(Plan, case_ref) is not None
    if not events and not known:
        raise CommandError(
            f"no plan and no audit events for case {case_ref!r}: check the case reference"
        )
    content = _csv(export_rows(events, ctx.calendar))
    if out:
        _write_private(Path(out), content)
        print(f"{len(events)} audit events for {case_ref} written to {out}", file=sys.stderr)
    else:
        sys.stdout.write(content)
        sys.stdout.flush()
    with ctx.session() as session:
        audit.record(session, at=ctx.clock(), actor=_operator(), action=EXPORT_ACTION,
                     case_ref=case_ref, events=len(events), to=out or "stdout")  # fmt: skip
    return 0


def _operator() -> str:
    """Who ran the command, as the server knows them."""
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (KeyError, OSError):  # no login name for this uid (a container)
        return f"cli:uid {os.getuid()}"


# --------------------------------------------------------------------------- purge


def parse_month_start(value: str) -> date:
    """A YYYY-MM-DD date on the first of a month: the purge removes whole months only."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise CommandError(
            f"--before: {value!r} is not a date: write YYYY-MM-DD, e.g. --before 2019-01-01"
        ) from None
    if day.day != 1:
        first = day.replace(day=1)
        raise CommandError(
            f"--before {day}: the purge removes whole months, so give the first of a month "
            f"(e.g. --before {first})"
        )
    return day


def months_before(day: date, months: int) -> date:
    """The first of the month `months` months before `day`'s month."""
    index = day.year * 12 + (day.month - 1) - months
    return date(index // 12, index % 12 + 1, 1)


def latest_allowed(today: date, retention_months: int) -> date:
    """The latest `--before` that removes nothing younger than the retention period."""
    return months_before(today, retention_months)


@dataclass(frozen=True)
class PurgeResult:
    """What a purge removed (or, on a dry run, would remove)."""

    before: date
    removed: int
    oldest: datetime | None


def _open_gate(session: Session) -> None:
    """Let this transaction's DELETEs through the append-only trigger, and nobody else's."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL irobot.purge = 'on'"))
    else:
        session.add(AuditPurgeGate(id=1))
        session.flush()


def _close_gate(session: Session) -> None:
    """PostgreSQL's setting ends with the transaction; SQLite's row goes before the commit."""
    if session.get_bind().dialect.name != "postgresql":
        session.execute(delete(AuditPurgeGate))


def purge_before(
    session: Session, *, before: date, cal: WorkingCalendar, retention_months: int,
    now: datetime, actor: str, dry_run: bool = False,
) -> PurgeResult:  # fmt: skip
    """Remove every event before local midnight starting `before`, and record the purge."""
    cutoff = datetime.combine(before, time(0), tzinfo=cal.tz).astimezone(UTC)
    older = col(AuditEvent.at) < cutoff
    count, oldest = session.execute(
        select(func.count(col(AuditEvent.id)), func.min(col(AuditEvent.at))).where(older)
    ).one()
    result = PurgeResult(before=before, removed=int(count), oldest=oldest)
    if dry_run:
        return result
    if count:
        _open_gate(session)
        session.execute(delete(AuditEvent).where(older))
        _close_gate(session)
    audit.record(session, at=now, actor=actor, action=PURGE_ACTION, before=before.isoformat(),
                 removed=result.removed, retention_months=retention_months)  # fmt: skip
    return result


def purge(ctx: AppContext, *, before: date, dry_run: bool, now: datetime | None = None) -> int:
    """Refuse a date inside the retention window; otherwise remove (or count) and say so."""
    now = now or ctx.clock()
    months = ctx.policy.audit.retention_months
    limit = latest_allowed(ctx.calendar.local(now).date(), months)
    if before > limit:
        raise CommandError(
            f"--before {before} is inside the {months}-month retention period (the policy's "
            f"[audit] retention_months): the latest allowed is --before {limit}"
        )
    with ctx.session() as session:
        result = purge_before(session, before=before, cal=ctx.calendar, retention_months=months,
                              now=now, actor=_operator(), dry_run=dry_run)  # fmt: skip
    since = ""
    if result.oldest is not None:
        since = f", the oldest from {ctx.calendar.local(result.oldest).date()}"
    if dry_run:
        print(f"would remove {result.removed} audit events from before {before}{since} "
              "(dry run: nothing removed)")  # fmt: skip
    else:
        print(f"removed {result.removed} audit events from before {before}{since}; "
              "the purge is recorded in the trail")  # fmt: skip
    return 0
