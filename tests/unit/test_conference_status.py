"""When a conference counts as stood down, and who may stand it down: pure rules."""

from __future__ import annotations

from datetime import datetime

import pytest

from handlers.access import ItemState, role_of, state_allows
from models.records import ConferenceRecord
from models.vocabulary import OPEN, RCPC_REPORT, Action
from scheduler.derive import stood_down, stood_down_reason
from scheduler.org import Person
from tests.auxil.records import london

THURSDAY = london(2026, 12, 10, 10)


def conference(status: str = "scheduled", reason: str | None = None,
               stood_down_for: datetime | None = None, chat_reason: str | None = None,
               when: datetime = THURSDAY) -> ConferenceRecord:  # fmt: skip
    """CP-1's RCPC as the derivation reads it."""
    return ConferenceRecord("C1", "CP-1", "RCPC", when, "IRO1", None, status, reason,
                            stood_down_for, chat_reason)  # fmt: skip


@pytest.mark.parametrize(
    ("case", "record", "off", "why"),
    [
        ("scheduled", conference(), False, None),
        ("cancelled in the export", conference("cancelled", "not_quorate"), True, "not_quorate"),
        ("cancelled, no reason given", conference("cancelled"), True, None),
        ("stood down in chat for its date",
         conference(stood_down_for=THURSDAY, chat_reason="no_interpreter"), True,
         "no_interpreter"),
        ("stood down in chat, then the export moved the date",
         conference(stood_down_for=london(2026, 12, 3, 10), chat_reason="other"), False, "other"),
        ("stood down in chat, but the export says it was held",
         conference("held", stood_down_for=THURSDAY, chat_reason="other"), False, "other"),
        ("the export's cancellation reason wins over the chat's",
         conference("cancelled", "late_request", THURSDAY, "other"), True, "late_request"),
    ],
)  # fmt: skip
def test_a_conference_is_stood_down_for_its_date_by_the_export_or_by_chat(
    case: str, record: ConferenceRecord, off: bool, why: str | None
) -> None:
    assert stood_down(record) is off
    if off:
        assert stood_down_reason(record) == why


CHAIR = Person("IRO1", "Iris", "iro", "SGM1", "")
TM = Person("TM1", "Tara", "team_manager", "SM1", "")
SW = Person("SW1", "Sally", "social_worker", "TM1", "")


@pytest.mark.parametrize(
    ("actor", "action", "stage", "role", "allowed"),
    [
        (CHAIR, Action.STAND_DOWN, 0, "chair", True),
        (CHAIR, Action.STAND_DOWN_REASON, 1, "chair", True),
        (SW, Action.STAND_DOWN, 0, None, False),
        (TM, Action.STAND_DOWN, 1, None, False),  # the manager's way is Rearrange
        (TM, Action.REARRANGE, 1, "manager", True),
        (TM, Action.STAND_DOWN_REASON, 1, "manager", True),
        (TM, Action.STAND_DOWN_REASON, 0, "manager", False),  # not escalated yet
    ],
)
def test_the_chair_and_the_chasing_team_manager_may_stand_a_conference_down(
    actor: Person, action: str, stage: int, role: str | None, allowed: bool
) -> None:
    item = ItemState(RCPC_REPORT, "SW1", OPEN, stage, chair_id="IRO1")
    found = role_of(actor, action, item, [TM])
    assert found == role
    assert (found is not None and state_allows(found, action, item, stage)) is allowed
