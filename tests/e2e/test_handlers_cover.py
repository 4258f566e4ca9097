"""/cover through the real bot: a manager sets cover by buttons, the cover acts on the
reminder with the same buttons, the manager ends it and both people are told once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from models.tables import Absence, AuditEvent, Notification, Obligation
from tests.auxil.botapi import BotMessage
from tests.auxil.chat import (
    USERS,
    ChatHarness,
    button,
    domain_state,
    london,
    obligation,
    running_bot,
    seed_case,
    seed_org,
)

SW1, SW2, TM1, TM2 = USERS["SW1"], USERS["SW2"], USERS["TM1"], USERS["TM2"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally (SW1) has a case whose report is due Fri 4 Dec; the bot running on Tue 1 Dec."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    async with running_bot(ctx) as harness:
        yield harness


def labels(message: BotMessage | None) -> list[str]:
    """Every button label, in order."""
    assert message is not None
    return [label for row in message.buttons for label, _ in row]


async def set_cover(chat: ChatHarness, who: str, until: str, cover: str) -> BotMessage:
    """Tara (TM1) walks /cover through who, until when and who covers."""
    [step] = await chat.send(TM1, "/cover")
    assert labels(step) == ["Sally Webb", "Sean Walsh", "Cancel"]
    await chat.press(TM1, step.message_id, button(step, who))
    await chat.press(TM1, step.message_id, button(chat.api.message(TM1, step.message_id), until))
    covers = chat.api.message(TM1, step.message_id)
    await chat.press(TM1, step.message_id, button(covers, cover))
    done = chat.api.message(TM1, step.message_id)
    assert done is not None
    return done


async def test_a_manager_sets_cover_and_the_cover_acts_on_the_reminder_with_its_buttons(
    chat: ChatHarness,
) -> None:
    [step] = await chat.send(TM1, "/cover")
    await chat.press(TM1, step.message_id, button(step, "Sally Webb"))
    until = chat.api.message(TM1, step.message_id)
    assert until is not None and until.text == "Sally Webb: away until when? Tap the last day away."
    assert labels(until)[:3] == ["Tue 1 Dec", "Wed 2 Dec", "Thu 3 Dec"]
    await chat.press(TM1, step.message_id, button(until, "Fri 4 Dec"))
    covers = chat.api.message(TM1, step.message_id)
    assert covers is not None and covers.text == "Sally Webb away until Fri 4 Dec. Who covers?"
    assert labels(covers) == ["Tara Morgan (team manager)", "Sean Walsh (social worker)", "Cancel"]
    await chat.press(TM1, step.message_id, button(covers, "Sean Walsh (social worker)"))
    done = chat.api.message(TM1, step.message_id)
    assert done is not None and done.text == (
        "✅ Recorded: Sally Webb is away until Fri 4 Dec; Sean Walsh covers, with the same "
        "buttons. Both have been told."
    )

    chat.clock.now = london(2026, 12, 2, 8)  # the "due Fri 4 Dec" reminder falls due
    await chat.deliver()
    [told, reminder] = chat.sent_to("SW2")
    assert (told.text or "").startswith("🔁 You are covering for Sally Webb (social worker)")
    assert (reminder.text or "").startswith(
        "↪️ Covering for Sally Webb (social worker), away until Fri 4 Dec:\n⏰ CR-100"
    )
    assert not [m for m in chat.sent_to("SW1") if "⏰" in (m.text or "")]
    await chat.press(SW2, reminder.message_id, button(reminder, "Submitted"))
    edited = chat.api.message(SW2, reminder.message_id)
    assert edited is not None and edited.text == (
        "✅ RCPC report for case CR-100, due Fri 4 Dec, 6pm: submitted. Recorded. "
        "(covering for Sally Webb)"
    )
    with Session(chat.ctx.engine) as session:
        assert obligation(session, "rcpc_report", "CR-100-C1").status == "done"
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "report_submitted")
        ).one()
    assert event.actor == "SW2" and '"covering_for": "SW1"' in event.detail


async def test_the_cover_sees_the_covered_items_in_mine(chat: ChatHarness) -> None:
    await set_cover(chat, "Sally Webb", "Fri 4 Dec", "Sean Walsh (social worker)")
    header, item = await chat.send(SW2, "/mine", expect=2)
    assert header.text == "Your open items, soonest first (1):"
    assert (item.text or "").endswith("covering for Sally Webb")
    await chat.press(SW2, item.message_id, button(item, "Need help"))
    with Session(chat.ctx.engine) as session:
        ob = obligation(session, "rcpc_report", "CR-100-C1")
        asked = session.exec(
            select(Notification.text).where(Notification.recipient_id == "TM1")
        ).all()
    assert ob.help_requested_at is not None
    assert asked == ["🙋 Sean Walsh asks for help with the RCPC report for case CR-100, "
                     "due Fri 4 Dec, 6pm."]  # fmt: skip


async def test_ending_an_absence_early_returns_the_items_and_tells_both_once(
    chat: ChatHarness,
) -> None:
    await set_cover(chat, "Sally Webb", "Fri 4 Dec", "Sean Walsh (social worker)")
    chat.clock.now = london(2026, 12, 2, 10)
    [step] = await chat.send(TM1, "/cover")
    assert labels(step)[0] == "Sally Webb · away until Fri 4 Dec"
    await chat.press(TM1, step.message_id, button(step, "Sally Webb · away until Fri 4 Dec"))
    question = chat.api.message(TM1, step.message_id)
    assert question is not None and question.text == (
        "Sally Webb is away until Fri 4 Dec; Sean Walsh covers. End the absence now? What is "
        "still open returns to them."
    )
    await chat.press(TM1, step.message_id, button(question, "End the absence now"))
    done = chat.api.message(TM1, step.message_id)
    assert done is not None and done.text == (
        "✅ Sally Webb is back: their open items are with them again. You and they have both "
        "been told."
    )
    for _ in range(2):
        await chat.deliver()
    back = [m.text or "" for m in chat.sent_to("SW1") if (m.text or "").startswith("↩️")]
    thanks = [m.text or "" for m in chat.sent_to("SW2") if (m.text or "").startswith("↩️")]
    assert back == ["↩️ Welcome back. Sean Walsh covered while you were away; your open items "
                    "(1) are with you again: send /mine to see them."]  # fmt: skip
    assert thanks == ["↩️ Sally Webb is back: their open items (1) are theirs again. Thank you "
                      "for covering."]  # fmt: skip
    chat.clock.now = london(2026, 12, 2, 11)
    await chat.deliver()  # the reminder now goes to Sally herself
    assert any("⏰ CR-100" in (m.text or "") for m in chat.sent_to("SW1"))


async def test_cover_is_refused_to_a_social_worker_and_outside_a_managers_span(
    chat: ChatHarness,
) -> None:
    [refused] = await chat.send(SW1, "/cover")
    assert refused.text == "/cover is for managers. Send /mine for your own items."
    [tm2] = await chat.send(TM2, "/cover")
    assert labels(tm2) == ["Sita Wren", "Cancel"]
    before = domain_state(chat.ctx)
    forged = button(tm2, "Sita Wren").replace(":p.0", ":p.7")
    answer = await chat.press(TM2, tm2.message_id, forged, edits=False)
    assert answer.text == "Sorry, I couldn't use that button, so nothing was changed."
    await chat.send(TM2, "/cover")  # a fresh draft: the first message's buttons are stale
    stale = await chat.press(TM2, tm2.message_id, button(tm2, "Sita Wren"), edits=False)
    assert stale.text == "That draft has expired. Send /cover to start again."
    assert domain_state(chat.ctx) == before
    with Session(chat.ctx.engine) as session:
        assert session.exec(select(Absence)).all() == []
        assert session.exec(select(Obligation).where(Obligation.owner_id == "SW3")).all() == []
