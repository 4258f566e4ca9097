"""SQLModel tables: the records imported from the case system and the engine's state."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from models.types import UTCDateTime
from models.vocabulary import OPEN, PENDING, SCHEDULED


def _ts(*, nullable: bool = True, index: bool = False) -> Column:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def _telegram_id(*, unique: bool = False) -> Column:
    """Telegram user and chat ids reach 52 bits: a 32-bit INTEGER refuses them on PostgreSQL."""
    return Column(BigInteger(), nullable=True, unique=unique)


class Staff(SQLModel, table=True):
    """A member of staff; linked to one Telegram account by a one-time invite."""

    staff_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    role: str = Field(max_length=32, index=True)
    manager_id: str | None = Field(default=None, max_length=64, index=True)
    team: str = Field(default="", max_length=100, index=True)
    active: bool = Field(default=True)
    telegram_user_id: int | None = Field(default=None, sa_column=_telegram_id(unique=True))
    chat_id: int | None = Field(default=None, sa_column=_telegram_id())
    reachable: bool = Field(default=True)
    working_days: str | None = Field(default=None, max_length=40)  # `Mon,Tue,Wed`; None: all
    linked_at: datetime | None = Field(default=None, sa_column=_ts())
    unreachable_since: datetime | None = Field(default=None, sa_column=_ts())


class Plan(SQLModel, table=True):
    """A child protection plan, known only by its case reference."""

    case_ref: str = Field(primary_key=True, max_length=64)
    social_worker_id: str = Field(max_length=64, index=True)
    chair_id: str = Field(max_length=64, index=True)
    plan_start: date
    plan_end: date | None = None
    category: str | None = Field(default=None, max_length=32)
    reviewed_on: date | None = None  # the 9-month review, as the case system recorded it


class Conference(SQLModel, table=True):
    """An Initial or Review Child Protection Conference."""

    conference_id: str = Field(primary_key=True, max_length=64)
    case_ref: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=8)
    scheduled_for: datetime = Field(sa_column=_ts(nullable=False))
    chair_id: str | None = Field(default=None, max_length=64)
    report_received_at: datetime | None = Field(default=None, sa_column=_ts())
    status: str = Field(
        default=SCHEDULED, max_length=16, sa_column_kwargs={"server_default": SCHEDULED}
    )
    reason: str | None = Field(default=None, max_length=32)
    # Stood down in chat, for this date only: an export that moves the date revives it.
    stood_down_for: datetime | None = Field(default=None, sa_column=_ts())
    stood_down_reason: str | None = Field(default=None, max_length=32)
    strategy_on: date | None = None  # an ICPC's strategy discussion
    record_sent_at: datetime | None = Field(default=None, sa_column=_ts())  # to the family


class CarePeriod(SQLModel, table=True):
    """One period in care of a looked-after child, known only by its case reference."""

    __tablename__ = "care"

    period_id: str = Field(primary_key=True, max_length=80)  # `CASE@entered_on`
    case_ref: str = Field(max_length=64, index=True)
    social_worker_id: str = Field(max_length=64, index=True)
    iro_id: str = Field(max_length=64, index=True)
    entered_on: date
    left_on: date | None = None


class Review(SQLModel, table=True):
    """A looked-after review: the report before it, the decisions and record after it."""

    review_id: str = Field(primary_key=True, max_length=64)
    case_ref: str = Field(max_length=64, index=True)
    scheduled_for: datetime = Field(sa_column=_ts(nullable=False, index=True))
    iro_id: str | None = Field(default=None, max_length=64)
    status: str = Field(
        default=SCHEDULED, max_length=16, sa_column_kwargs={"server_default": SCHEDULED}
    )
    reason: str | None = Field(default=None, max_length=32)
    report_received_at: datetime | None = Field(default=None, sa_column=_ts())
    held_on: date | None = None
    decisions_uploaded_at: datetime | None = Field(default=None, sa_column=_ts())
    record_uploaded_at: datetime | None = Field(default=None, sa_column=_ts())
    # Stood down in chat, for this date only: an export that moves the date revives it.
    stood_down_for: datetime | None = Field(default=None, sa_column=_ts())
    stood_down_reason: str | None = Field(default=None, max_length=32)


class QaAlert(SQLModel, table=True):
    """A Quality Assurance alert raised by an IRO: a concern or a positive."""

    alert_id: str = Field(primary_key=True, max_length=64)
    case_ref: str = Field(max_length=64, index=True)
    raised_by: str = Field(max_length=64, index=True)
    raised_at: datetime = Field(sa_column=_ts(nullable=False))
    kind: str = Field(max_length=16)
    theme: str | None = Field(default=None, max_length=32)
    responded_at: datetime | None = Field(default=None, sa_column=_ts())
    closed_at: datetime | None = Field(default=None, sa_column=_ts())
    outcome: str | None = Field(default=None, max_length=32)


class Absence(SQLModel, table=True):
    """Leave or sickness: while it runs, whatever would go to the person goes to their cover."""

    absence_id: str = Field(primary_key=True, max_length=64)
    staff_id: str = Field(max_length=64, index=True)
    starts_on: date
    ends_on: date = Field(index=True)  # the last day away
    cover_id: str | None = Field(default=None, max_length=64)  # None: their team manager
    ended_at: datetime | None = Field(default=None, sa_column=_ts())  # ended early in chat
    cover_told_at: datetime | None = Field(default=None, sa_column=_ts())
    return_told_at: datetime | None = Field(default=None, sa_column=_ts(index=True))


class GoLive(SQLModel, table=True):
    """When the service first imported: what fell due before it is backlog to confirm."""

    __tablename__ = "golive"

    id: int = Field(default=1, primary_key=True)
    at: datetime = Field(sa_column=_ts(nullable=False))


class Invite(SQLModel, table=True):
    """A single-use link code; only its hash is kept."""

    id: int | None = Field(default=None, primary_key=True)
    staff_id: str = Field(max_length=64, index=True)
    code_hash: str = Field(max_length=128, unique=True)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    expires_at: datetime = Field(sa_column=_ts(nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=_ts())
    used_by: int | None = Field(default=None, sa_column=_telegram_id())


class LinkAttempt(SQLModel, table=True):
    """Wrong-code counter per Telegram account, for the one-hour lock-out."""

    telegram_user_id: int = Field(
        sa_column=Column(BigInteger(), primary_key=True, autoincrement=False)
    )
    failures: int = Field(default=0)
    first_failure_at: datetime | None = Field(default=None, sa_column=_ts())
    locked_until: datetime | None = Field(default=None, sa_column=_ts())


class Obligation(SQLModel, table=True):
    """Who owes what by when: the single shape every deadline takes for the engine."""

    __table_args__ = (
        UniqueConstraint("kind", "subject_id", name="uq_obligation_kind_subject"),
        Index("ix_obligation_status_next", "status", "next_action_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32, index=True)
    subject_id: str = Field(max_length=80)
    case_ref: str = Field(max_length=64, index=True)
    owner_id: str = Field(max_length=64, index=True)
    due_at: datetime = Field(sa_column=_ts(nullable=False))
    status: str = Field(default=OPEN, max_length=16)
    stage: int = Field(default=0)
    stage_due_at: datetime | None = Field(default=None, sa_column=_ts())
    next_action_at: datetime | None = Field(default=None, sa_column=_ts())
    done_at: datetime | None = Field(default=None, sa_column=_ts())
    outcome: str | None = Field(default=None, max_length=32)
    late_reason: str | None = Field(default=None, max_length=32)
    expected_on: date | None = None
    help_requested_at: datetime | None = Field(default=None, sa_column=_ts())
    acknowledged_stage: int | None = None  # the stage holder tapped Acknowledge at this stage
    backlog: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    version: int = Field(default=0)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))


class Notification(SQLModel, table=True):
    """The outbox: one row per message to one person, created once per unique key."""

    __table_args__ = (
        Index("ix_notification_status_next", "status", "next_attempt_at"),
        Index("ix_notification_chat_message", "chat_id", "telegram_message_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    obligation_id: int | None = Field(default=None, index=True)
    recipient_id: str = Field(max_length=64, index=True)
    kind: str = Field(max_length=32)
    text: str
    keyboard: str | None = None
    photo: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    status: str = Field(default=PENDING, max_length=16)
    not_before: datetime = Field(sa_column=_ts(nullable=False))
    next_attempt_at: datetime = Field(sa_column=_ts(nullable=False))
    attempts: int = Field(default=0)
    claimed_by: str | None = Field(default=None, max_length=80)
    claimed_at: datetime | None = Field(default=None, sa_column=_ts())
    chat_id: int | None = Field(default=None, sa_column=_telegram_id())
    telegram_message_id: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    sent_at: datetime | None = Field(default=None, sa_column=_ts())


class AuditEvent(SQLModel, table=True):
    """Append-only trail of every reminder, reply and escalation (the IRO's footprint)."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_ts(nullable=False, index=True))
    actor: str = Field(max_length=80)
    action: str = Field(max_length=64, index=True)
    obligation_id: int | None = Field(default=None, index=True)
    notification_id: int | None = None
    case_ref: str | None = Field(default=None, max_length=64)
    detail: str = Field(default="{}")


class AuditPurgeGate(SQLModel, table=True):
    """SQLite's door for `irobot audit purge`: while a row exists the audit DELETE trigger yields.

    The purge inserts the row and deletes it again inside its one transaction, so no other
    statement ever sees the door open. PostgreSQL uses a transaction-local setting instead
    (`SET LOCAL irobot.purge = 'on'`); the table exists there too, empty, so both databases
    have one schema.
    """

    __tablename__ = "audit_purge_gate"

    id: int = Field(primary_key=True)


class DailyPass(SQLModel, table=True):
    """The last local day a once-a-day pass ran, so one process a day does it, not every scan."""

    __tablename__ = "daily_pass"

    name: str = Field(primary_key=True, max_length=32)
    day: date
