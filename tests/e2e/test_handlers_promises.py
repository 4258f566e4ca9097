"""Promises through the real bot: a worker promises a late report for a date by buttons, is
nudged that morning, and their team manager hears the day after and acts with a tap."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session

from bot.context import AppContext
from tests.auxil.chat import (
    USERS,
    ChatHarness,
    button,
    london,
    obligation,
    running_bot,
    seed_alert,
    seed_case,
    seed_org,
)

SW1, TM1 = USERS["SW1"], USERS["TM1"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally's (SW1) CR-100 report is due Fri 4 Dec, 6pm (conference Wed 9 Dec, 10am)."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    async with running_bot(ctx) as harness:
        yield harness


async def test_a_promised_report_is_nudged_on_its_date_and_the_manager_acts_the_day_after(
    chat: ChatHarness,
) -> None:
    chat.clock.now = london(2026, 12, 4, 8)
    await chat.deliver()
    [reminder] = [m for m in chat.sent_to("SW1") if m.buttons]
    await chat.press(SW1, reminder.message_id, button(reminder, "Will be late"))
    reasons = chat.api.message(SW1, reminder.message_id)
    await chat.press(SW1, reminder.message_id, button(reasons, "Awaiting information"))
    dates = chat.api.message(SW1, reminder.message_id)
    await chat.press(SW1, reminder.message_id, button(dates, "Mon 7 Dec"))

    chat.clock.now = london(2026, 12, 7, 8)
    await chat.deliver()
    nudge = [m for m in chat.sent_to("SW1") if "you said" in (m.text or "")]
    assert [m.text for m in nudge] == [
        "⏰ CR-100: you said the RCPC report would come today, Mon 7 Dec (conference Wed 9 "
        "Dec, 10am). Tap Submitted once it is sent."
    ]
    assert not [m for m in chat.sent_to("TM1") if "said the RCPC report" in (m.text or "")]

    chat.clock.now = london(2026, 12, 8, 8)
    await chat.deliver()
    [chase] = [m for m in chat.sent_to("TM1") if "said the RCPC report" in (m.text or "")]
    assert (chase.text or "").startswith(
        "📋 CR-100: Sally Webb (social worker) said the RCPC report would come Mon 7 Dec; it "
        "is not in"
    )
    await chat.press(TM1, chase.message_id, button(chase, "Report in"))
    with Session(chat.ctx.engine) as session:
        assert obligation(session, "rcpc_report", "CR-100-C1").status == "done"


async def test_a_stage_holder_who_acknowledges_is_reminded_the_working_day_before(
    chat: ChatHarness,
) -> None:
    with chat.ctx.session() as session:  # raised Mon 23 Nov: due Mon 30 Nov, 6pm
        seed_alert(session, chat.ctx, raised_at=london(2026, 11, 23, 11),
                   now=london(2026, 11, 23, 12))  # fmt: skip
    chat.clock.now = london(2026, 11, 30, 18)
    await chat.deliver()
    chat.clock.now = london(2026, 12, 1, 8)
    await chat.deliver()  # stage 1 for Tara (TM1): due Mon 7 Dec, 6pm
    [stage] = [m for m in chat.sent_to("TM1") if "stage 1 of 4" in (m.text or "")]
    await chat.press(TM1, stage.message_id, button(stage, "Acknowledge"))
    chat.clock.now = london(2026, 12, 3, 9)
    await chat.deliver()
    assert not [m for m in chat.sent_to("TM1") if (m.text or "").startswith("⏰")]
    chat.clock.now = london(2026, 12, 4, 8)
    await chat.deliver()
    [reminder] = [m for m in chat.sent_to("TM1") if (m.text or "").startswith("⏰")]
    assert reminder.text == (
        "⏰ CR-100: the QA alert (drift and delay) you acknowledged at stage 1 of 4 needs your "
        "response by Mon 7 Dec, 6pm."
    )
    await chat.press(TM1, reminder.message_id, button(reminder, "Responded"))
    with Session(chat.ctx.engine) as session:
        assert obligation(session, "qa_response", "A-1").status == "done"
