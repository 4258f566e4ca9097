"""Standing a conference down through the real bot: the chair taps the button on the
"report missing" notice and a reason; nothing more is chased for that date."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session

from bot.context import AppContext
from models.tables import Conference
from tests.auxil.botapi import BotMessage
from tests.auxil.chat import (
    USERS,
    ChatHarness,
    button,
    london,
    obligation,
    running_bot,
    seed_case,
    seed_org,
)

IRO1 = USERS["IRO1"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Iris (IRO1) chairs CR-100's RCPC on Wed 9 Dec; its report is due Fri 4 Dec, 6pm."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    async with running_bot(ctx) as harness:
        yield harness


def labels(message: BotMessage | None) -> list[str]:
    """Every button label, in order."""
    assert message is not None
    return [label for row in message.buttons for label, _ in row]


async def test_the_chair_stands_the_conference_down_from_the_missing_report_notice(
    chat: ChatHarness,
) -> None:
    chat.clock.now = london(2026, 12, 4, 18)
    await chat.deliver()
    chat.clock.now = london(2026, 12, 7, 8)
    await chat.deliver()  # the notices held overnight go at opening time
    [notice] = [m for m in chat.sent_to("IRO1") if "has not arrived" in (m.text or "")]
    assert labels(notice) == ["Stand down conference"]
    await chat.press(IRO1, notice.message_id, button(notice, "Stand down conference"))
    reasons = chat.api.message(IRO1, notice.message_id)
    assert reasons is not None and (reasons.text or "").endswith(
        "Why will the conference not go ahead on its date?"
    )
    assert labels(reasons)[:2] == ["Not quorate", "Conference requested late"]
    await chat.press(IRO1, notice.message_id, button(reasons, "Not quorate"))
    done = chat.api.message(IRO1, notice.message_id)
    assert done is not None and (done.text or "").startswith(
        "📅 RCPC for case CR-100: stood down (not quorate). No report is due "
        "for that date. Told: Sally Webb"
    )
    with Session(chat.ctx.engine) as session:
        conference = session.get(Conference, "CR-100-C1")
        ob = obligation(session, "rcpc_report", "CR-100-C1")
    assert conference is not None and conference.stood_down_reason == "not_quorate"
    assert (ob.status, ob.outcome) == ("cancelled", "stood_down")
