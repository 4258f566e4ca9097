"""A leaver's case through the real bot: their last team manager sees it unallocated in
/team and /mine, gets its reminders marked so, and acts on them with the same buttons."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session

from bot.context import AppContext
from models.tables import Staff
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

TM1, TM2 = USERS["TM1"], USERS["TM2"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally (SW1) has left; her case CR-100 (report due Fri 4 Dec) is still open."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
        leaver = session.get(Staff, "SW1")
        assert leaver is not None
        leaver.active = False
    async with running_bot(ctx) as harness:
        yield harness


async def test_team_lists_the_unallocated_case_for_the_leavers_manager_only(
    chat: ChatHarness,
) -> None:
    [listing] = await chat.send(TM1, "/team")
    assert (listing.text or "").endswith(
        "Unallocated cases, their social worker has left (1):\n• CR-100 · was Sally Webb"
    )
    [other] = await chat.send(TM2, "/team")
    assert other.text == "Nothing overdue or escalated in your team. 🎉"
    _, item = await chat.send(TM1, "/mine", expect=2)
    assert (item.text or "").endswith("unallocated: Sally Webb has left")


async def test_the_leavers_team_manager_gets_the_reminder_and_taps_submitted(
    chat: ChatHarness,
) -> None:
    chat.clock.now = london(2026, 12, 2, 8)
    await chat.deliver()
    [reminder] = [m for m in chat.sent_to("TM1") if m.buttons]
    assert (reminder.text or "").startswith(
        "↪️ Covering for Sally Webb (social worker), who has left (their cases are "
        "unallocated):\n⏰ CR-100: RCPC report due Fri 4 Dec, 6pm"
    )
    await chat.press(TM1, reminder.message_id, button(reminder, "Submitted"))
    with Session(chat.ctx.engine) as session:
        assert obligation(session, "rcpc_report", "CR-100-C1").status == "done"
