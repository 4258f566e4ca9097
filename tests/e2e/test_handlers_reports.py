"""A report reminder reaches the social worker's phone; one tap or a text reply settles it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date

import pytest
from sqlmodel import Session

from bot.context import AppContext
from handlers import render
from models import buttons as cb
from models.tables import Conference, Obligation
from models.vocabulary import Action
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

SW1, SW2, TM1, IRO1 = USERS["SW1"], USERS["SW2"], USERS["TM1"], USERS["IRO1"]
REMINDER_DAY = london(2026, 12, 2, 9)  # Wed 2 Dec: 2 working days before Fri 4 Dec, 6pm


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """One case with an RCPC on Wed 9 Dec; the bot running on the reminder's morning."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    async with running_bot(ctx) as harness:
        harness.clock.now = REMINDER_DAY
        yield harness


async def reminder(chat: ChatHarness) -> BotMessage:
    """Run the engine and return the reminder that reached Sally's phone."""
    assert await chat.deliver() == 1
    [message] = chat.sent_to("SW1")
    assert message.chat_id == SW1 and message.buttons
    return message


def report(ctx: AppContext) -> Obligation:
    """Sally's RCPC report obligation as committed."""
    with Session(ctx.engine) as session:
        return obligation(session, "rcpc_report", "CR-100-C1")


async def test_tapping_submitted_records_the_report_and_edits_the_reminder(
    chat: ChatHarness,
) -> None:
    message = await reminder(chat)
    answer = await chat.press(SW1, message.message_id, button(message, "Submitted"))
    assert answer.text == "Recorded."
    edited = chat.api.message(SW1, message.message_id)
    assert edited is not None and edited.buttons == []
    assert edited.text == (
        "✅ RCPC report for case CR-100, due Fri 4 Dec, 6pm: submitted. Recorded."
    )
    with Session(chat.ctx.engine) as session:
        conference = session.get(Conference, "CR-100-C1")
        assert conference is not None and conference.report_received_at == REMINDER_DAY
    assert report(chat.ctx).status == "done"


async def test_a_double_tap_records_once_and_says_so(chat: ChatHarness) -> None:
    message = await reminder(chat)
    data = button(message, "Submitted")
    await chat.press(SW1, message.message_id, data)
    state = domain_state(chat.ctx)
    again = await chat.press(SW1, message.message_id, data, edits=False)
    assert again.text == "Submitted by you at 9am. Nothing more to do."
    assert domain_state(chat.ctx) == state


async def test_will_be_late_walks_reason_then_date_and_tells_manager_and_chair(
    chat: ChatHarness,
) -> None:
    message = await reminder(chat)
    mid = message.message_id
    await chat.press(SW1, mid, button(message, "Will be late"))
    reasons = chat.api.message(SW1, mid)
    assert reasons is not None and "Why will it be late?" in (reasons.text or "")
    await chat.press(SW1, mid, button(reasons, "Awaiting information"))
    dates = chat.api.message(SW1, mid)
    assert dates is not None
    assert [label for row in dates.buttons for label, _ in row] == [
        "Mon 7 Dec", "Tue 8 Dec", "Wed 9 Dec", "Thu 10 Dec", "Fri 11 Dec",
    ]  # fmt: skip (due Fri 4 Dec: late means after it)
    await chat.press(SW1, mid, button(dates, "Mon 7 Dec"))
    final = chat.api.message(SW1, mid)
    assert final is not None and final.buttons == []
    assert "will be late (awaiting information), expected Mon 7 Dec" in (final.text or "")
    ob = report(chat.ctx)
    assert (ob.late_reason, ob.expected_on, ob.status) == (
        "awaiting_info",
        date(2026, 12, 7),
        "open",
    )
    assert await chat.deliver() == 2
    for person in ("TM1", "IRO1"):
        [note] = chat.sent_to(person)
        assert "will be late (awaiting information). Expected Mon 7 Dec" in (note.text or "")


async def test_need_help_reaches_the_team_manager(chat: ChatHarness) -> None:
    message = await reminder(chat)
    await chat.press(SW1, message.message_id, button(message, "Need help"))
    edited = chat.api.message(SW1, message.message_id)
    assert edited is not None and "Tara Morgan has been told" in (edited.text or "")
    assert await chat.deliver() == 1
    [note] = chat.sent_to("TM1")
    assert note.text == (
        "🙋 Sally Webb asks for help with the RCPC report for case CR-100, due Fri 4 Dec, 6pm."
    )


async def test_a_text_reply_to_the_reminder_acts_on_that_item(chat: ChatHarness) -> None:
    message = await reminder(chat)
    [confirmation] = await chat.send(SW1, "submited", reply_to=message.message_id)
    assert "submitted. Recorded." in (confirmation.text or "")
    edited = chat.api.message(SW1, message.message_id)
    assert edited is not None and edited.buttons == [] and edited.text == confirmation.text
    assert report(chat.ctx).outcome == "submitted"
    [again] = await chat.send(SW1, "Done.", reply_to=message.message_id)
    assert again.text == "Submitted by you at 9am. Nothing more to do."


async def test_late_with_a_typed_reason_records_it_and_offers_dates(chat: ChatHarness) -> None:
    message = await reminder(chat)
    [dates] = await chat.send(SW1, "LATE sick", reply_to=message.message_id)
    assert "will be late (illness). Recorded.\nWhen do you expect" in (dates.text or "")
    assert len(dates.buttons) == 5
    untouched = chat.api.message(SW1, message.message_id)  # one message answers, nothing else
    assert untouched is not None and untouched.text == message.text
    assert report(chat.ctx).late_reason == "illness"
    await chat.press(SW1, dates.message_id, button(dates, "Tue 8 Dec"))
    assert report(chat.ctx).expected_on == date(2026, 12, 8)


async def test_an_unrecognised_reply_gets_the_buttons_again_and_a_hint(chat: ChatHarness) -> None:
    message = await reminder(chat)
    state = domain_state(chat.ctx)
    [again] = await chat.send(SW1, "what does this mean?", reply_to=message.message_id)
    assert (again.text or "").startswith("I didn't catch that.")
    assert [label for row in again.buttons for label, _ in row] == [
        "Submitted", "Will be late", "Need help",
    ]  # fmt: skip
    assert domain_state(chat.ctx) == state


async def test_text_that_replies_to_nothing_gets_a_one_line_hint(chat: ChatHarness) -> None:
    [hint] = await chat.send(SW1, "done")
    assert hint.text == render.TEXT_HINT


async def test_someone_elses_button_is_refused_and_changes_nothing(chat: ChatHarness) -> None:
    message = await reminder(chat)
    [own] = await chat.send(SW2, "/help")
    state = domain_state(chat.ctx)
    for who in (SW2, TM1, IRO1):
        [own] = await chat.send(who, "/help")
        forged = await chat.press(who, own.message_id, button(message, "Submitted"), edits=False)
        assert forged.text == render.REFUSALS["not_allowed"]
    assert domain_state(chat.ctx) == state
    assert report(chat.ctx).status == "open"


async def test_forged_button_data_is_refused_politely(chat: ChatHarness) -> None:
    [own] = await chat.send(SW1, "/help")
    state = domain_state(chat.ctx)
    forged = ("v1:sub:1:0:x", "v2:sub:1:0", "v1:nope:1:0", "garbage", "v1:sub:-1:0",
              "v1:ld:4:0:sick.2026")  # fmt: skip
    for data in forged:
        answer = await chat.press(SW1, own.message_id, data, edits=False)
        assert answer.text in (render.REFUSALS["invalid"], render.REFUSALS["not_allowed"]), data
    assert domain_state(chat.ctx) == state


async def test_the_team_manager_acts_on_the_overdue_escalation(chat: ChatHarness) -> None:
    chat.clock.now = london(2026, 12, 7, 9)  # Mon 7 Dec: the report is overdue
    await chat.deliver()
    [escalation] = chat.sent_to("TM1")
    [stale_owner_button] = [m for m in chat.sent_to("SW1") if m.buttons]
    await chat.press(TM1, escalation.message_id, button(escalation, "Chased"))
    edited = chat.api.message(TM1, escalation.message_id)
    assert edited is not None and "chased. Recorded." in (edited.text or "")
    [again] = await chat.send(TM1, "/team")
    assert "CR-100" in (again.text or "") and "escalated to you" in (again.text or "")
    # The worker's own buttons still work at the escalated stage.
    await chat.press(SW1, stale_owner_button.message_id, button(stale_owner_button, "Submitted"))
    assert report(chat.ctx).status == "done"
    answer = await chat.press(
        TM1, again.message_id, cb.encode(Action.REPORT_IN, report(chat.ctx).id or 0, 1), edits=False
    )
    assert answer.text == "Submitted by Sally Webb at 9am. Nothing more to do."
