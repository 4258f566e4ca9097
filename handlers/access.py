"""Who may press which button on which item, and when: pure rules, re-checked on every press.

A button is only a claim ("I am allowed to do X to item N at stage S"); these rules decide
from the current record, so a forged, forwarded or stale button changes nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Literal

from models.vocabulary import (
    FAMILY_RECORD,
    ICPC_REPORT,
    LAC_DECISIONS,
    LAC_RECORD,
    LAC_REPORT,
    OPEN,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
    Action,
    is_manager,
)
from scheduler.org import Person

Role = Literal["owner", "manager", "raiser", "chair"]

# Which actions each kind of item accepts, and from whom.
_REPORT_OWNER = frozenset(
    {Action.SUBMITTED, Action.WILL_BE_LATE, Action.LATE_REASON, Action.LATE_DATE, Action.NEED_HELP}
)
_LATE = frozenset({Action.WILL_BE_LATE, Action.LATE_REASON, Action.LATE_DATE})
OWNER_ACTIONS: dict[str, frozenset[str]] = {
    RCPC_REPORT: _REPORT_OWNER,
    ICPC_REPORT: _REPORT_OWNER,
    LAC_REPORT: _REPORT_OWNER,
    # The chair's own record after a meeting: Uploaded (Sent) / Will be late.
    LAC_DECISIONS: _LATE | {Action.UPLOADED},
    LAC_RECORD: _LATE | {Action.UPLOADED},
    FAMILY_RECORD: _LATE | {Action.SENT},
    QA_RESPONSE: frozenset({Action.RESPONDED}),
    PLAN_REVIEW: frozenset({Action.REVIEW_CONTINUES, Action.REVIEW_EXIT, Action.REVIEW_ENDED}),
}
_REPORT_MANAGER = frozenset(
    {Action.CHASED, Action.REPORT_IN, Action.REARRANGE, Action.STAND_DOWN_REASON}
)
MANAGER_ACTIONS: dict[str, frozenset[str]] = {
    RCPC_REPORT: _REPORT_MANAGER,
    ICPC_REPORT: _REPORT_MANAGER,
    LAC_REPORT: _REPORT_MANAGER,
    QA_RESPONSE: frozenset({Action.ACKNOWLEDGE, Action.RESPONDED, Action.RESOLVED}),
}
RAISER_ACTIONS: dict[str, frozenset[str]] = {
    QA_RESPONSE: frozenset({Action.RESOLVED, Action.NOT_RESOLVED, Action.ESCALATE}),
}
# The conference's chair may stand it down (with a reason) while its report is awaited.
_CHAIR_REPORT = frozenset({Action.STAND_DOWN, Action.STAND_DOWN_REASON})
# The looked-after review's IRO stands a review down the same way.
CHAIR_ACTIONS: dict[str, frozenset[str]] = {
    RCPC_REPORT: _CHAIR_REPORT, ICPC_REPORT: _CHAIR_REPORT, LAC_REPORT: _CHAIR_REPORT,
}


@dataclass(frozen=True)
class ItemState:
    """What the rules need to know about the item pressed on."""

    kind: str
    owner_id: str
    status: str
    stage: int
    raiser_id: str | None = None  # the IRO who raised a QA alert
    chair_id: str | None = None  # who chairs the conference a report is for
    alert_closed: bool = False
    alert_responded: bool = False


def role_of(
    actor: Person,
    action: str,
    item: ItemState,
    chain: Sequence[Person],
    acting_for: Collection[str] = frozenset(),
) -> Role | None:
    """In which capacity `actor` may take `action` on `item`, or None if in none at all.

    `chain` is the owner's managers, nearest first; `acting_for` the people the actor acts for
    right now (away, or gone), whose capacities are theirs too: the cover presses the same
    buttons. The raising IRO outranks the other capacities for Resolved, because only they
    log the outcome of their own alert.
    """
    if not actor.active:
        return None

    def holds(staff_id: str | None) -> bool:
        return staff_id is not None and (staff_id == actor.staff_id or staff_id in acting_for)

    if holds(item.raiser_id) and action in RAISER_ACTIONS.get(item.kind, frozenset()):
        return "raiser"
    if holds(item.chair_id) and action in CHAIR_ACTIONS.get(item.kind, frozenset()):
        return "chair"
    if holds(item.owner_id) and action in OWNER_ACTIONS.get(item.kind, frozenset()):
        return "owner"
    if action in MANAGER_ACTIONS.get(item.kind, frozenset()) and any(
        is_manager(m.role)
        and ((m.staff_id == actor.staff_id and m.active) or m.staff_id in acting_for)
        for m in chain
    ):
        return "manager"
    return None


def state_allows(role: Role, action: str, item: ItemState, pressed_stage: int) -> bool:
    """True when the item is still at the stage the button was made for and still open to it."""
    if pressed_stage != item.stage:
        return False
    if role == "raiser":
        # The IRO may close or escalate their alert at any time until it is closed.
        if item.alert_closed:
            return False
        if action == Action.NOT_RESOLVED:
            return item.alert_responded or item.status == OPEN
        return True
    if item.status != OPEN:
        return False
    if role == "manager":
        return item.stage >= 1
    return True
