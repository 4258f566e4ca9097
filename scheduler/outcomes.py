"""What happened to each outbox row of a dispatch pass, recorded and audited.

Each outcome is one short transaction that changes the row only while this worker still
holds its claim (`scheduler.claims.update_held`), so a worker whose claim lapsed never marks
a row another worker has taken over. A send whose outcome is unknown (no reply in time, an
unreadable reply, a sender bug) may have arrived: it is sent once more, audited as possibly
duplicated, and if that try is unknown too the row fails with reason `outcome_unknown`, for
`irobot report`, rather than risk a third copy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from models.audit import SYSTEM, record
from models.buttons import Message
from models.db import session_scope
from models.tables import Staff
from models.vocabulary import FAILED, PENDING, SENT, role_label
from scheduler.claims import (
    HOLD_RECHECK,
    MAX_ATTEMPTS,
    UNKNOWN_MARK,
    OutboxRow,
    backoff_seconds,
    noted,
    record_row,
    take_if_due,
    update_held,
)
from scheduler.notify import enqueue
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

UNREACHABLE_KIND = "unreachable"


@dataclass
class DispatchResult:
    """What one pass did; every claimed row ends in exactly one of the counters up to `deferred`.

    `claimed` counts the due rows this pass took on (those it had no time for are `deferred`,
    left pending untouched); `skipped` the due rows another worker took first; `outcome_unknown`
    those among `retried` and `failed` whose send may have arrived all the same.
    """

    claimed: int = 0
    sent: int = 0
    held: int = 0
    retried: int = 0
    rate_limited: int = 0
    failed: int = 0
    blocked: int = 0
    deferred: int = 0
    reclaimed: int = 0
    skipped: int = 0
    outcome_unknown: int = 0
    quiet: bool = False
    errors: list[str] = field(default_factory=list)


def why_unreachable(error: str) -> str:
    """Telegram's answer as a manager can read it: blocked, or why the chat cannot be reached."""
    if "blocked" in error.lower():
        return "the bot was blocked"
    detail = error.split(": ", 1)[-1] if error.startswith(("Bad Request", "Forbidden")) else error
    return f"their chat cannot be reached ({detail[:1].lower()}{detail[1:80]})"


class Outcomes:
    """One pass's bookkeeping: each row's outcome recorded, counted and audited.

    `stamp` gives the wall-clock instant of the pass's current pacing time (rules never
    read the clock); `blocked` collects the people found unreachable during the pass.
    """

    def __init__(
        self,
        engine: Engine,
        policy: Policy,
        *,
        now: datetime,
        worker_id: str,
        stamp: Callable[[], datetime],
    ) -> None:
        self.engine = engine
        self.cal = policy.calendar()
        self.hours = policy.hours()
        self.now = now
        self.worker_id = worker_id
        self.stamp = stamp
        self.result = DispatchResult()
        self.blocked: set[str] = set()

    # -- before sending -------------------------------------------------------------------

    def hold(self, session: Session, row: OutboxRow, reason: str) -> None:
        """Keep the row pending and look again later; audit only the first time it is held."""
        taken = take_if_due(
            session,
            row.id,
            now=self.stamp(),
            next_attempt_at=self.now + HOLD_RECHECK,
            last_error=reason,
        )
        if taken is None:
            self.result.skipped += 1
            return
        if row.last_error != reason:
            record_row(session, row, "message_held", at=self.now, reason=reason)
        self.result.held += 1

    def fail(
        self, session: Session, row: OutboxRow, error: str, reason: str, *, held: bool
    ) -> bool:
        """Give up on one row for good; it stays in the table for `irobot report`.

        `held` says this worker claimed the row; otherwise it must still be pending and due.
        Returns False, auditing nothing, when the row is no longer this pass's to change.
        """
        values: dict[str, Any] = {
            "status": FAILED,
            "claimed_by": None,
            "last_error": error[:500],
            "attempts": row.attempts,
        }
        if held:
            done = update_held(session, [row.id], self.worker_id, **values) > 0
        else:
            done = take_if_due(session, row.id, now=self.stamp(), **values) is not None
        if not done:
            logger.warning("notification %s changed hands before it could be failed", row.id)
            return False
        record_row(
            session,
            row,
            "message_failed",
            at=self.stamp(),
            kind=row.kind,
            reason=reason,
            error=error[:200],
            attempts=row.attempts,
        )
        return True

    def fail_blocked(self, session: Session, row: OutboxRow) -> None:
        """A message to someone who blocked the bot or cannot be reached: fail it unsent."""
        error = "blocked: recipient blocked the bot or cannot be reached"
        if self.fail(session, row, error, "blocked", held=False):
            self.result.blocked += 1
        else:
            self.result.skipped += 1

    def fail_blocked_now(self, row: OutboxRow) -> None:
        """`fail_blocked` in a transaction of its own, from the sending loop."""
        with session_scope(self.engine) as session:
            self.fail_blocked(session, row)

    def release(self, row: OutboxRow) -> None:
        """Hand a claimed row back to the queue untouched: it was never sent."""
        with session_scope(self.engine) as session:
            update_held(
                session, [row.id], self.worker_id, status=PENDING, claimed_by=None, claimed_at=None
            )
        self.result.deferred += 1

    # -- after sending --------------------------------------------------------------------

    def sent(self, row: OutboxRow, message_id: int) -> None:
        """Mark the row sent with Telegram's ids and put the send in the audit trail.

        Only while this worker still holds it: if another worker took it over (this one's
        claim lapsed), the send is audited as possibly duplicated instead of marking the row.
        """
        sent_at = self.stamp()
        with session_scope(self.engine) as session:
            done = update_held(
                session,
                [row.id],
                self.worker_id,
                status=SENT,
                chat_id=row.chat_id,
                telegram_message_id=message_id,
                sent_at=sent_at,
                attempts=row.attempts + 1,
                claimed_by=None,
                last_error=None,
            )
            if not done:
                logger.warning(
                    "notification %s was taken over while this worker sent it: it may arrive twice",
                    row.id,
                )
            record_row(
                session,
                row,
                "message_sent" if done else "message_possibly_duplicated",
                at=sent_at,
                kind=row.kind,
                chat_id=row.chat_id,
                message_id=message_id,
                **({} if done else {"previous": "sent after another worker took the row over"}),
            )
        self.result.sent += 1

    def retry_after(self, row: OutboxRow, seconds: float) -> None:
        """429 is Telegram pacing us, not the message's fault: wait as told, no attempt used."""
        with session_scope(self.engine) as session:
            update_held(
                session,
                [row.id],
                self.worker_id,
                status=PENDING,
                claimed_by=None,
                claimed_at=None,
                next_attempt_at=self.stamp() + timedelta(seconds=seconds),
                last_error=noted(row, f"429: retry after {seconds:g} s"),
            )
        self.result.rate_limited += 1

    def bad_request(self, row: OutboxRow, error: str) -> None:
        """400: this message can never go as it is; fail it without retrying."""
        with session_scope(self.engine) as session:
            row.attempts += 1
            self.fail(session, row, f"bad request: {error}", "bad_request", held=True)
        self.result.failed += 1

    def back_off(self, session: Session, row: OutboxRow, last_error: str) -> None:
        """Hand the row back to the queue for another try after the backoff its attempts earn."""
        update_held(
            session,
            [row.id],
            self.worker_id,
            status=PENDING,
            claimed_by=None,
            claimed_at=None,
            attempts=row.attempts,
            next_attempt_at=self.stamp() + timedelta(seconds=backoff_seconds(row.attempts)),
            last_error=last_error,
        )

    def transient(self, row: OutboxRow, error: str) -> None:
        """Back off exponentially; after MAX_ATTEMPTS the row fails visibly."""
        row.attempts += 1
        with session_scope(self.engine) as session:
            if row.attempts >= MAX_ATTEMPTS:
                self.fail(session, row, f"gave up: {error}", "gave_up", held=True)
                self.result.failed += 1
                return
            self.back_off(session, row, noted(row, error))
        logger.info("notification %s: transient failure %d (%s)", row.id, row.attempts, error)
        self.result.retried += 1

    def unknown(self, row: OutboxRow, error: str) -> None:
        """It may have arrived: send it once more, after a backoff, but never a third time."""
        row.attempts += 1
        self.result.outcome_unknown += 1
        again = (row.last_error or "").startswith(UNKNOWN_MARK)
        with session_scope(self.engine) as session:
            if again or row.attempts >= MAX_ATTEMPTS:
                self.fail(session, row, f"{UNKNOWN_MARK}{error}", "outcome_unknown", held=True)
                self.result.failed += 1
                logger.warning("notification %s failed: outcome unknown again (%s)", row.id, error)
                return
            self.back_off(session, row, f"{UNKNOWN_MARK}{error}"[:500])
        logger.warning("notification %s: outcome unknown (%s); sending once more", row.id, error)
        self.result.retried += 1

    def forbidden(self, row: OutboxRow, error: str) -> None:
        """Blocked, gone or not allowed: mark the person unreachable, stop, tell their manager."""
        self.blocked.add(row.recipient_id)
        stamp = self.stamp()
        row.attempts += 1
        with session_scope(self.engine) as session:
            self.fail(session, row, f"blocked: {error}", "blocked", held=True)
            person = session.get(Staff, row.recipient_id)
            if person is not None and person.reachable:
                person.reachable = False
                person.unreachable_since = stamp
                session.add(person)
                record(
                    session,
                    at=stamp,
                    actor=SYSTEM,
                    action="staff_unreachable",
                    staff_id=person.staff_id,
                    error=error[:200],
                )
                self._tell_manager(session, person, stamp, error)
        self.result.blocked += 1

    def _tell_manager(self, session: Session, person: Staff, stamp: datetime, error: str) -> None:
        """One message to the line manager per person per day, by a unique outbox key."""
        if not person.manager_id:
            logger.warning("%s cannot be reached and has no line manager to tell", person.staff_id)
            return
        day = self.cal.local(stamp).date().isoformat()
        text = (
            f"{person.name} ({role_label(person.role)}) can no longer receive IRObot "
            f"messages: Telegram reports {why_unreachable(error)}. Their reminders are "
            "stopped until they open the bot again. Please make sure they still see their "
            "deadlines."
        )
        enqueue(
            session,
            key=f"unreachable:{person.staff_id}:{day}",
            recipient_id=person.manager_id,
            kind=UNREACHABLE_KIND,
            message=Message(text=text),
            at=stamp,
            cal=self.cal,
            hours=self.hours,
        )
