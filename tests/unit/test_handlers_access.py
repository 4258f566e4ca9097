"""Who may press what: the pure rules every press is re-checked against."""

from __future__ import annotations

import pytest

from handlers.access import ItemState, role_of, state_allows
from models.vocabulary import DONE, OPEN, PLAN_REVIEW, QA_RESPONSE, RCPC_REPORT, Action
from scheduler.org import Person


def Actor(staff_id: str, role: str, *, active: bool = True) -> Person:
    """Someone pressing a button: only who they are, their role and whether active matter."""
    return Person(staff_id, staff_id, role, None, "", active)


SW = Actor("SW1", "social_worker")
OTHER_SW = Actor("SW2", "social_worker")
TM = Actor("TM1", "team_manager")
OTHER_TM = Actor("TM2", "team_manager")
IRO = Actor("IRO1", "iro")
OTHER_IRO = Actor("IRO2", "iro")
CHAIN = [TM, Actor("SM1", "service_manager"), Actor("AD1", "assistant_director")]

REPORT = ItemState(RCPC_REPORT, "SW1", OPEN, 0)
ESCALATED_REPORT = ItemState(RCPC_REPORT, "SW1", OPEN, 1)
ALERT = ItemState(QA_RESPONSE, "SW1", OPEN, 0, raiser_id="IRO1")
REVIEW = ItemState(PLAN_REVIEW, "IRO1", OPEN, 0)


@pytest.mark.parametrize(
    ("actor", "action", "item", "role"),
    [
        (SW, Action.SUBMITTED, REPORT, "owner"),
        (SW, Action.LATE_DATE, REPORT, "owner"),
        (OTHER_SW, Action.SUBMITTED, REPORT, None),
        (TM, Action.SUBMITTED, REPORT, None),
        (TM, Action.REPORT_IN, ESCALATED_REPORT, "manager"),
        (OTHER_TM, Action.REPORT_IN, ESCALATED_REPORT, None),
        (SW, Action.REPORT_IN, ESCALATED_REPORT, None),
        (SW, Action.RESPONDED, ALERT, "owner"),
        (SW, Action.RESOLVED, ALERT, None),
        (IRO, Action.RESOLVED, ALERT, "raiser"),
        (IRO, Action.NOT_RESOLVED, ALERT, "raiser"),
        (OTHER_IRO, Action.RESOLVED, ALERT, None),
        (TM, Action.ACKNOWLEDGE, ALERT, "manager"),
        (IRO, Action.REVIEW_CONTINUES, REVIEW, "owner"),
        (OTHER_IRO, Action.REVIEW_ENDED, REVIEW, None),
        (SW, Action.REVIEW_ENDED, REVIEW, None),
        (SW, Action.REVIEW_CONTINUES, REPORT, None),
        (IRO, Action.SUBMITTED, ALERT, None),
    ],
)
def test_each_action_has_one_kind_of_presser(
    actor: Person, action: str, item: ItemState, role: str | None
) -> None:
    assert role_of(actor, action, item, CHAIN) == role


def test_an_inactive_person_may_do_nothing_at_all() -> None:
    away = Actor("SW1", "social_worker", active=False)
    assert role_of(away, Action.SUBMITTED, REPORT, CHAIN) is None


def test_an_inactive_manager_in_the_chain_may_not_act_for_it() -> None:
    chain = [Actor("TM1", "team_manager", active=False)]
    assert role_of(TM, Action.REPORT_IN, ESCALATED_REPORT, chain) is None


def test_a_stale_stage_or_a_closed_item_refuses_the_press() -> None:
    assert state_allows("owner", Action.SUBMITTED, REPORT, 0)
    assert not state_allows("owner", Action.SUBMITTED, ESCALATED_REPORT, 0)
    closed = ItemState(RCPC_REPORT, "SW1", DONE, 0)
    assert not state_allows("owner", Action.SUBMITTED, closed, 0)


def test_manager_buttons_work_only_once_the_item_is_escalated() -> None:
    assert not state_allows("manager", Action.REPORT_IN, REPORT, 0)
    assert state_allows("manager", Action.REPORT_IN, ESCALATED_REPORT, 1)


def test_the_iro_may_log_an_outcome_after_a_response_until_the_alert_is_closed() -> None:
    answered = ItemState(QA_RESPONSE, "SW1", DONE, 0, raiser_id="IRO1", alert_responded=True)
    closed = ItemState(
        QA_RESPONSE, "SW1", DONE, 0, raiser_id="IRO1", alert_responded=True, alert_closed=True
    )
    assert state_allows("raiser", Action.RESOLVED, answered, 0)
    assert state_allows("raiser", Action.NOT_RESOLVED, answered, 0)
    assert not state_allows("raiser", Action.RESOLVED, closed, 0)
