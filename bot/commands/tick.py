"""`irobot tick`: one scan and dispatch pass now (cron-friendly), or a preview that writes nothing.

`--at T --dry-run` runs the scan (and the digest check) as of T inside a transaction that is
rolled back, and prints per person what would go out at T, or at the next opening of working
hours when T is outside them. `--at` is refused without `--dry-run`: a sending tick always
runs at the current time, so it can never send a message early or backdate the audit trail.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from bot.context import AppContext, CommandError
from bot.golive import unlinked_digests
from models.buttons import decode_keyboard
from models.tables import Notification, Staff
from models.vocabulary import PENDING, role_label
from scheduler.calendar import WorkingCalendar
from scheduler.dispatch import DispatchResult
from scheduler.jobs import digest_in, run_once, scan_in

logger = logging.getLogger(__name__)

UNLINKED = "not linked yet: the digest starts once they link"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--dry-run` previews; `--at` picks the preview's moment (refused when sending)."""
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print, per person, what would be sent; send and record nothing",
    )
    parser.add_argument(
        "--at",
        metavar="ISO8601",
        help=(
            "preview as of this moment (e.g. 2026-12-07T09:00; no offset = Europe/London local "
            "time). Only with --dry-run: a sending tick always uses the current time"
        ),
    )


def parse_at(value: str, cal: WorkingCalendar) -> datetime:
    """An ISO 8601 date or date-time; without an offset it is the authority's local time."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--at: not an ISO 8601 date or date-time: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=cal.tz)
    return moment.astimezone(UTC)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session whose every change, even a `commit()` inside it, is undone at the end.

    The outer transaction is begun explicitly at the driver level: with pysqlite a SAVEPOINT
    outside a transaction would start one, and releasing it would really commit.
    """
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN")
        else:
            connection.begin()
        session = Session(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield session
        finally:
            session.close()
            connection.rollback()


@dataclass
class Planned:
    """One message the preview found, with who gets it."""

    text: str
    buttons: list[list[str]]
    photo: bool
    note: str = ""


@dataclass
class Recipient:
    """A recipient in the preview."""

    name: str
    role: str
    linked: bool
    reachable: bool
    messages: list[Planned] = field(default_factory=list)


@dataclass
class Preview:
    """What would go out at `send_at` after scanning as of `at`."""

    at: datetime
    send_at: datetime
    people: list[Recipient]


def preview(ctx: AppContext, *, at: datetime) -> Preview:
    """Scan as of `at` in a rolled-back transaction and collect what would be sent then."""
    send_at = ctx.hours.next_opening(at, ctx.calendar)
    with rolled_back(ctx.engine) as session:
        scan_in(session, ctx.policy, now=at)
        digest_in(session, ctx.policy, now=at)
        session.flush()
        rows = session.execute(
            select(Notification, Staff)
            .join(Staff, col(Staff.staff_id) == col(Notification.recipient_id), isouter=True)
            .where(col(Notification.status) == PENDING)
            .where(col(Notification.not_before) <= send_at)
            .order_by(col(Staff.name), col(Notification.not_before), col(Notification.id))
        ).all()
        people: dict[str, Recipient] = {}
        for note, staff in rows:
            person = people.get(note.recipient_id)
            if person is None:
                person = Recipient(
                    name=staff.name if staff else f"unknown recipient {note.recipient_id}",
                    role=role_label(staff.role) if staff else "",
                    linked=bool(staff and staff.chat_id is not None and staff.active),
                    reachable=bool(staff and staff.reachable),
                )
                people[note.recipient_id] = person
            keyboard = decode_keyboard(note.keyboard) or []
            person.messages.append(
                Planned(
                    text=note.text,
                    buttons=[[label for label, _ in row] for row in keyboard],
                    photo=note.photo is not None,
                )
            )
        for digest in unlinked_digests(session, ctx.policy, at=at):
            staff = session.get(Staff, digest.staff_id)
            if staff is None:
                continue
            person = people.setdefault(
                staff.staff_id,
                Recipient(name=staff.name, role=role_label(staff.role), linked=False,
                       reachable=bool(staff.reachable)),
            )  # fmt: skip
            person.messages.append(
                Planned(text=digest.text, buttons=digest.buttons, photo=False, note=UNLINKED)
            )
    return Preview(at=at, send_at=send_at, people=list(people.values()))


def _when(moment: datetime, cal: WorkingCalendar) -> str:
    local = cal.local(moment)
    return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"


def format_preview(result: Preview, cal: WorkingCalendar) -> str:
    """Per person: name, role, and each message with its buttons like `[Submitted]`."""
    when = _when(result.send_at, cal)
    total = sum(len(p.messages) for p in result.people)
    lines = []
    if result.send_at != result.at:
        lines.append(f"{_when(result.at, cal)} is outside working hours; next opening: {when}.")
    if not total:
        lines.append(f"Nothing would be sent at {when}.")
        return "\n".join(lines)
    noun = "message" if total == 1 else "messages"
    people = "person" if len(result.people) == 1 else "people"
    lines.append(f"Would be sent at {when}: {total} {noun} to {len(result.people)} {people}.")
    for person in result.people:
        status = ""
        if not person.linked:
            status = " - not linked to Telegram: held until they link"
        elif not person.reachable:
            status = " - has blocked the bot: would not be delivered"
        role = f" ({person.role})" if person.role else ""
        lines.append("")
        lines.append(f"{person.name}{role}{status}")
        for message in person.messages:
            body = message.text.splitlines() or [""]
            lines.append(f"  - {body[0]}")
            lines.extend(f"    {line}".rstrip() for line in body[1:])
            if message.photo:
                lines.append("    (with a chart image)")
            if message.note:
                lines.append(f"    ({message.note})")
            for row in message.buttons:
                lines.append("    " + " ".join(f"[{label}]" for label in row))
    return "\n".join(lines)


def _summary(result: DispatchResult) -> str:
    if result.quiet:
        return "tick: outside working hours, nothing sent"
    retrying = result.retried + result.rate_limited
    return (
        f"tick: sent {result.sent}, held {result.held}, retrying {retrying}, failed "
        f"{result.failed}, blocked {result.blocked}, left for later {result.deferred}"
    )


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Preview, or one real scan and dispatch pass with the configured bot."""
    if args.dry_run:
        at = parse_at(args.at, ctx.calendar) if args.at else ctx.clock()
        print(format_preview(preview(ctx, at=at), ctx.calendar))
        return 0
    if args.at:
        raise CommandError("--at needs --dry-run: a sending tick always runs at the current time")
    if not ctx.settings.telegram_bot_token:
        raise CommandError(
            "TELEGRAM_BOT_TOKEN is not set: a sending tick needs it (--dry-run previews "
            "without); set TELEGRAM_BOT_TOKEN in the environment or in .env"
        )
    result = asyncio.run(_tick(ctx))
    print(_summary(result))
    if result.errors:
        raise CommandError(result.errors[0])
    return 0


async def _tick(ctx: AppContext) -> DispatchResult:
    sender = ctx.sender()
    try:
        _, result = await run_once(
            ctx, sender, now=ctx.clock(), lease_seconds=ctx.settings.dispatch_lease_seconds
        )
    finally:
        await sender.close()
    return result
