"""The values the rules take and give: an obligation as a frozen `Item`, and their decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from models.buttons import Message
from models.vocabulary import CP, OPEN
from scheduler.org import Person


@dataclass(frozen=True, slots=True)
class Act:
    """One thing a person did to an item (from the audit trail), for the line a digest shows."""

    act: str  # an audit action code (`ACT_LABELS`)
    by: str  # the name of whoever did it
    at: datetime
    covering_for: str = ""  # the name of whoever they acted for, when covering
    stage: int = 0
    reason: str = ""  # a stand-down's reason code


@dataclass(frozen=True, slots=True)
class Item:
    """The one view of an obligation: the row plus the record fields rules and renderers need.

    The scan's rules, the chat's renderers, `/mine`, `/team` and the digests all read this;
    `owner_name` is filled where a list shows whose item it is.
    """

    id: int
    kind: str
    subject_id: str
    case_ref: str
    owner_id: str
    due_at: datetime
    stage: int = 0
    stage_due_at: datetime | None = None
    next_action_at: datetime | None = None
    outcome: str | None = None
    version: int = 0
    chair_id: str | None = None
    raised_by: str | None = None
    conference_at: datetime | None = None
    theme: str | None = None
    plan_start: date | None = None
    expected_on: date | None = None
    late_reason: str | None = None
    status: str = OPEN
    owner_name: str = ""
    backlog: bool = False  # fell due before go-live: listed once "to confirm", never chased
    acknowledged_stage: int | None = None  # the stage holder tapped Acknowledge at this stage
    help_requested_at: datetime | None = None  # the owner tapped Need help
    holder: Person | None = None  # who holds an escalated item's current stage, where listed
    acts: tuple[Act, ...] = ()  # what people did to it, oldest first, where a digest shows it
    service: str = CP  # `lac` for a looked-after child's case: its QA ladder is the service's

    @property
    def deadline(self) -> datetime:
        """The deadline its current holder works to: an escalated stage has its own."""
        if self.stage >= 1 and self.stage_due_at is not None:
            return self.stage_due_at
        return self.due_at


@dataclass(frozen=True, slots=True)
class Unallocated:
    """An open case whose social worker has left: listed for their last team manager."""

    case_ref: str
    worker_id: str
    worker_name: str


@dataclass(frozen=True, slots=True)
class Notify:
    """One message to enqueue, once per key, and the audit action it is recorded under."""

    key: str
    recipient_id: str
    kind: str
    message: Message
    audit: str
    redirected_from: str | None = None
    days: frozenset[int] | None = None  # a part-timer's working days: a nudge waits for one


@dataclass(frozen=True, slots=True)
class StageChange:
    """A guarded move of `stage` (applied only if the row is still at `from_stage`)."""

    from_stage: int
    to_stage: int
    stage_due_at: datetime | None
    holder_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """What is due now for one obligation and when to look at it again."""

    notifications: tuple[Notify, ...] = ()
    stage_change: StageChange | None = None
    next_action_at: datetime | None = None
    challenge: bool = False
    undeliverable: tuple[str, ...] = field(default=())
    close: str | None = None  # close the obligation with this outcome (nothing left to do)
    backlog: bool = False  # list it "to confirm" for its owner and the safeguarding manager
