"""One-time invite codes that link a Telegram account to a staff record.

Only a SHA-256 hash of a code is stored; codes are random (about 49 bits), so a hash without
salt cannot be reversed by guessing, and five wrong codes lock a Telegram account out for an
hour. Many accounts guessing together meet a service-wide limit: 20 wrong codes in any minute
pause every `/start` until that minute has passed (counted from the audit trail, so no table
and no migration). The code itself never reaches the audit trail or the log.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.audit import SYSTEM, record
from models.tables import AuditEvent, Invite, LinkAttempt, Staff

logger = logging.getLogger(__name__)

# No 0/O, 1/I/L: easy to read aloud and type on a phone; valid in a /start deep link.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
DEFAULT_DAYS = 7
MAX_DAYS = 90
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(hours=1)
LOCKOUT = timedelta(hours=1)
SERVICE_MAX_FAILURES = 20  # wrong codes from all accounts together ...
SERVICE_WINDOW = timedelta(seconds=60)  # ... in any window this long
_WRONG_CODE_MARK = '"wrong_code": true'  # in the audit detail, JSON as `record` writes it


class InviteError(ValueError):
    """An invite that cannot be created; the message is one line for the CLI."""


@dataclass(frozen=True)
class CreatedInvite:
    """The plain code, shown once to whoever runs `irobot invite`, and when it stops working."""

    code: str
    staff_id: str
    staff_name: str
    expires_at: datetime
    invite_id: int
    superseded: int
    already_linked: bool


class RedeemOutcome(StrEnum):
    """Why a `/start CODE` worked or did not; the handler words the reply."""

    LINKED = "linked"
    NO_CODE = "no_code"
    WRONG_CODE = "wrong_code"
    USED = "used"
    EXPIRED = "expired"
    LOCKED = "locked"
    BUSY = "busy"  # the service-wide limit: every account waits out the minute
    ACCOUNT_LINKED_ELSEWHERE = "account_linked_elsewhere"
    STAFF_INACTIVE = "staff_inactive"


@dataclass(frozen=True)
class RedeemResult:
    """The outcome, who was linked (on success) and until when a locked account must wait."""

    outcome: RedeemOutcome
    staff_id: str | None = None
    locked_until: datetime | None = None

    @property
    def ok(self) -> bool:
        """True only when the account is now linked."""
        return self.outcome is RedeemOutcome.LINKED


def new_code() -> str:
    """A fresh random code from the unambiguous alphabet."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalise(code: str) -> str:
    """What people type: any case, spaces or dashes; the same code either way."""
    return "".join(ch for ch in code.upper() if ch not in " -_\t")


def hash_code(code: str) -> str:
    """The only form of a code we keep."""
    return hashlib.sha256(normalise(code).encode("utf-8")).hexdigest()


def _well_formed(code: str) -> bool:
    return len(code) == CODE_LENGTH and all(ch in ALPHABET for ch in code)


def create_invite(
    session: Session, *, staff_id: str, now: datetime, days: int = DEFAULT_DAYS
) -> CreatedInvite:
    """A single-use code for an active member of staff; earlier unused codes stop working."""
    if not 1 <= days <= MAX_DAYS:
        raise InviteError(f"--days must be between 1 and {MAX_DAYS}, got {days}")
    staff = session.get(Staff, staff_id)
    if staff is None:
        raise InviteError(f"no member of staff with id {staff_id!r}")
    if not staff.active:
        raise InviteError(f"{staff_id} is inactive: reactivate them by import first")
    superseded = int(
        session.execute(
            update(Invite)
            .where(col(Invite.staff_id) == staff_id)
            .where(col(Invite.used_at).is_(None))
            .where(col(Invite.expires_at) > now)
            .values(expires_at=now)
        ).rowcount  # type: ignore[attr-defined]
    )
    code = new_code()
    invite = Invite(
        staff_id=staff_id,
        code_hash=hash_code(code),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(invite)
    session.flush()
    assert invite.id is not None
    record(session, at=now, actor=SYSTEM, action="invite_created", staff_id=staff_id,
           invite_id=invite.id, expires_at=invite.expires_at, superseded=superseded)
    logger.info("invite %s created for %s", invite.id, staff_id)
    return CreatedInvite(
        code=code,
        staff_id=staff_id,
        staff_name=staff.name,
        expires_at=invite.expires_at,
        invite_id=invite.id,
        superseded=superseded,
        already_linked=staff.telegram_user_id is not None,
    )


def _refuse(
    session: Session,
    outcome: RedeemOutcome,
    *,
    telegram_user_id: int,
    now: datetime,
    invite: Invite | None = None,
    locked_until: datetime | None = None,
    wrong_code: bool = False,
) -> RedeemResult:
    """Audit a refusal (never the code) and hand back the reason."""
    staff_id = invite.staff_id if invite is not None else None
    record(session, at=now, actor=f"tg:{telegram_user_id}", action="link_refused",
           reason=outcome.value, telegram_user_id=telegram_user_id, staff_id=staff_id,
           invite_id=invite.id if invite is not None else None, locked_until=locked_until,
           wrong_code=wrong_code)
    logger.info("link refused for telegram user %s: %s", telegram_user_id, outcome.value)
    return RedeemResult(outcome, staff_id=staff_id, locked_until=locked_until)


def _count_failure(session: Session, attempt: LinkAttempt | None, telegram_user_id: int,
                   now: datetime) -> datetime | None:
    """One more wrong code; returns the lock-out end when this one tips the account over."""
    if attempt is None:
        attempt = LinkAttempt(telegram_user_id=telegram_user_id)
        session.add(attempt)
    if attempt.first_failure_at is None or now - attempt.first_failure_at >= FAILURE_WINDOW:
        attempt.failures = 0
        attempt.first_failure_at = now
    attempt.failures += 1
    if attempt.failures >= MAX_FAILURES:
        attempt.locked_until = now + LOCKOUT
        attempt.failures = 0
        attempt.first_failure_at = None
        return attempt.locked_until
    return None


def service_busy(session: Session, now: datetime) -> bool:
    """Too many wrong codes across all accounts in the last minute: guessing is paused.

    Only wrong codes count, not the refusals while paused, so the pause ends at most a
    minute after the guessing does and a correct code then works again.
    """
    recent = session.execute(
        select(func.count())
        .select_from(AuditEvent)
        .where(col(AuditEvent.action) == "link_refused")
        .where(col(AuditEvent.at) > now - SERVICE_WINDOW)
        .where(col(AuditEvent.at) <= now)
        .where(col(AuditEvent.detail).contains(_WRONG_CODE_MARK, autoescape=True))
    ).scalar_one()
    return int(recent) >= SERVICE_MAX_FAILURES


def redeem_invite(
    session: Session, *, code: str, telegram_user_id: int, chat_id: int, now: datetime
) -> RedeemResult:
    """Link this Telegram account to the invite's staff record, or say why not (audited).

    Wrong codes count towards the lock-out; used or expired real codes do not (they are
    refused, and reveal nothing an attacker could use). The caller commits.
    """
    attempt = session.get(LinkAttempt, telegram_user_id)
    if attempt is not None and attempt.locked_until is not None and attempt.locked_until > now:
        return _refuse(session, RedeemOutcome.LOCKED, telegram_user_id=telegram_user_id,
                       now=now, locked_until=attempt.locked_until)
    cleaned = normalise(code)
    if not cleaned:
        return _refuse(session, RedeemOutcome.NO_CODE, telegram_user_id=telegram_user_id, now=now)
    if service_busy(session, now):  # the code is not even looked at: no guess is tested
        return _refuse(session, RedeemOutcome.BUSY, telegram_user_id=telegram_user_id, now=now)
    invite = (
        session.exec(select(Invite).where(Invite.code_hash == hash_code(cleaned))).first()
        if _well_formed(cleaned)
        else None
    )
    if invite is None:
        locked_until = _count_failure(session, attempt, telegram_user_id, now)
        outcome = RedeemOutcome.LOCKED if locked_until else RedeemOutcome.WRONG_CODE
        return _refuse(session, outcome, telegram_user_id=telegram_user_id, now=now,
                       locked_until=locked_until, wrong_code=True)

    def refuse(outcome: RedeemOutcome) -> RedeemResult:
        return _refuse(session, outcome, telegram_user_id=telegram_user_id, now=now,
                       invite=invite)

    if invite.used_at is not None:
        return refuse(RedeemOutcome.USED)
    if invite.expires_at <= now:
        return refuse(RedeemOutcome.EXPIRED)
    staff = session.get(Staff, invite.staff_id)
    if staff is None or not staff.active:
        return refuse(RedeemOutcome.STAFF_INACTIVE)
    holder = session.exec(
        select(Staff).where(Staff.telegram_user_id == telegram_user_id)
    ).first()
    if holder is not None and holder.staff_id != staff.staff_id:
        return refuse(RedeemOutcome.ACCOUNT_LINKED_ELSEWHERE)
    claimed = session.execute(
        update(Invite)
        .where(col(Invite.id) == invite.id)
        .where(col(Invite.used_at).is_(None))
        .values(used_at=now, used_by=telegram_user_id)
    ).rowcount  # type: ignore[attr-defined]
    if claimed != 1:  # someone else redeemed it between our read and now
        return refuse(RedeemOutcome.USED)
    previous = staff.telegram_user_id
    staff.telegram_user_id = telegram_user_id
    staff.chat_id = chat_id
    staff.linked_at = now
    staff.reachable = True
    staff.unreachable_since = None
    session.add(staff)
    if attempt is not None:
        session.delete(attempt)
    session.flush()
    record(session, at=now, actor=staff.staff_id, action="staff_linked",
           telegram_user_id=telegram_user_id, invite_id=invite.id,
           previous_telegram_user_id=previous)
    logger.info("staff %s linked to telegram user %s", staff.staff_id, telegram_user_id)
    return RedeemResult(RedeemOutcome.LINKED, staff_id=staff.staff_id)
