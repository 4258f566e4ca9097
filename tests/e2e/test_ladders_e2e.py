"""Each ladder walked end to end: the real scan and dispatch, through the stand-in, by the clock.

Nobody answers, so the items climb. Every stage holder's phone must get exactly one message
for their stage, however often the engine runs, and the IRO must hear of every step.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from models.tables import Notification, Obligation
from models.vocabulary import PLAN_REVIEW, QA_RESPONSE
from scheduler.escalation import challenge_list
from tests.auxil.chat import (
    ChatHarness,
    Clock,
    london,
    obligation,
    running_bot,
    seed_alert,
    seed_case,
    seed_org,
)

LADDER = ("TM1", "SM1", "HOS1", "AD1")


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally's (SW1) case chaired by Iris (IRO1); the bot running on a clock we move."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx, plan_start=date(2026, 3, 1), conference_at=london(2027, 3, 1, 10))
    async with running_bot(ctx, clock=Clock()) as harness:
        yield harness


async def run_days(chat: ChatHarness, first: date, days: int) -> None:
    """Run the engine twice at 9am and twice at 3pm every day: reruns must change nothing."""
    for n in range(days):
        day = first + timedelta(days=n)
        for hour in (9, 9, 15, 15):
            chat.clock.now = london(day.year, day.month, day.day, hour)
            await chat.deliver()


def texts(chat: ChatHarness, staff_id: str, ob: Obligation) -> list[str]:
    """What this person's phone shows about this item."""
    return [m.text or "" for m in chat.sent_to(staff_id, ob)]


async def test_an_unanswered_concern_climbs_every_stage_to_the_challenge_meeting(
    chat: ChatHarness,
) -> None:
    with chat.ctx.session() as session:
        seed_alert(session, chat.ctx, raised_at=london(2026, 12, 1, 10))
    await run_days(chat, date(2026, 12, 1), 45)  # 4 stages x 5 working days, plus Christmas

    with Session(chat.ctx.engine) as session:
        ob = obligation(session, QA_RESPONSE, "A-1")
        listed = [item.alert_id for item in challenge_list(session)]
    assert ob.stage == len(LADDER)
    assert listed == ["A-1"]
    for stage, holder in enumerate(LADDER, start=1):
        mine = [
            m for m in chat.sent_to(holder, ob)
            if "now with you as" in (m.text or "") and f"stage {stage} of 4" in (m.text or "")
        ]  # fmt: skip
        assert len(mine) == 1, (holder, texts(chat, holder, ob))
        [message] = mine
        labels = [label for row in message.buttons for label, _ in row]
        assert labels == ["Acknowledge", "Responded", "Resolved"]
    told = texts(chat, "IRO1", ob)
    for stage in range(1, len(LADDER) + 1):
        assert any(f"stage {stage} of 4" in t for t in told), told
    assert any("challenge" in t.lower() for t in told), told
    assert any("challenge meeting" in t for t in texts(chat, "AD1", ob))


async def test_a_review_not_logged_in_five_working_days_goes_to_the_safeguarding_manager(
    chat: ChatHarness,
) -> None:
    # The plan started 1 Mar 2026: its 9-month review falls due Tue 1 Dec 2026.
    await run_days(chat, date(2026, 12, 1), 12)
    with Session(chat.ctx.engine) as session:
        ob = obligation(session, PLAN_REVIEW, "CR-100")
    chair = chat.sent_to("IRO1", ob)
    assert chair, "the chair was never reminded"
    labels = [label for row in chair[0].buttons for label, _ in row]
    assert labels[0] == "Reviewed: plan continues"
    manager = texts(chat, "SGM1", ob)
    assert len(manager) == 1, manager
    assert "CR-100" in manager[0]
    with Session(chat.ctx.engine) as session:
        sent = session.exec(
            select(Notification.sent_at)
            .where(Notification.recipient_id == "SGM1")
            .where(Notification.obligation_id == ob.id)
        ).one()
    assert sent is not None
    # Due Tue 1 Dec; 5 working days later is Tue 8 Dec, 6pm, held to the next morning.
    assert chat.ctx.calendar.local(sent).date() == date(2026, 12, 9)
