"""Linking by invite over real HTTP: /start CODE, deep links, refusals, lock-out, no access."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from handlers import render
from models.buttons import Message
from models.invites import create_invite
from models.tables import Notification, Staff
from scheduler.notify import enqueue
from tests.auxil.chat import NOW, STRANGER, USERS, ChatHarness, running_bot, seed_case, seed_org

NEWCOMER = 6_123_457_001  # past 2**31, as real Telegram ids are


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Everyone linked except SW2, who has an invite waiting; the bot running."""
    with ctx.session() as session:
        seed_org(session, linked=[s for s in USERS if s != "SW2"])
        seed_case(session, ctx, social_worker="SW2")
    async with running_bot(ctx) as harness:
        yield harness


def invite(ctx: AppContext, staff_id: str = "SW2", *, days: int = 7) -> str:
    """A fresh invite code, as `irobot invite` prints it."""
    with ctx.session() as session:
        return create_invite(session, staff_id=staff_id, now=NOW, days=days).code


def linked_user(ctx: AppContext, staff_id: str) -> int | None:
    """The Telegram account a staff record is linked to."""
    with Session(ctx.engine) as session:
        staff = session.get(Staff, staff_id)
        return staff.telegram_user_id if staff else None


async def test_start_with_a_valid_code_links_the_account_and_opens_the_bot(
    chat: ChatHarness,
) -> None:
    code = invite(chat.ctx)
    [welcome] = await chat.send(NEWCOMER, f"/start {code}")
    assert welcome.text == render.start_text("linked", "Sean Walsh")
    assert linked_user(chat.ctx, "SW2") == NEWCOMER
    header, item = await chat.send(NEWCOMER, "/mine", expect=2)
    assert "(1)" in (header.text or "") and "CR-100" in (item.text or "")


async def test_linking_releases_reminders_held_for_want_of_a_chat(chat: ChatHarness) -> None:
    later = NOW + timedelta(days=1)
    with chat.ctx.session() as session:
        enqueue(
            session, key="held:1", recipient_id="SW2", kind="reminder", message=Message("x"),
            at=NOW, cal=chat.ctx.calendar, hours=chat.ctx.hours,
        )  # fmt: skip
        row = session.exec(select(Notification).where(Notification.key == "held:1")).one()
        row.next_attempt_at, row.last_error = later, "held: no linked chat"
    await chat.send(NEWCOMER, f"/start {invite(chat.ctx)}")
    with Session(chat.ctx.engine) as session:
        row = session.exec(select(Notification).where(Notification.key == "held:1")).one()
        assert row.next_attempt_at == NOW and row.status == "pending"


async def test_a_deep_link_arrives_as_the_same_command_and_links(chat: ChatHarness) -> None:
    code = invite(chat.ctx)
    # t.me/<bot>?start=CODE makes the app send "/start CODE" from the new chat.
    [welcome] = await chat.send(NEWCOMER, f"/start {code.lower()}")
    assert welcome.text is not None and welcome.text.startswith("Welcome, Sean Walsh")


async def test_a_used_code_is_refused_politely(chat: ChatHarness) -> None:
    code = invite(chat.ctx)
    await chat.send(NEWCOMER, f"/start {code}")
    [refusal] = await chat.send(NEWCOMER + 1, f"/start {code}")
    assert refusal.text == render.start_text("used")
    assert linked_user(chat.ctx, "SW2") == NEWCOMER


async def test_an_expired_code_is_refused_politely(chat: ChatHarness) -> None:
    code = invite(chat.ctx, days=1)
    chat.clock.now = NOW + timedelta(days=2)
    [refusal] = await chat.send(NEWCOMER, f"/start {code}")
    assert refusal.text == render.start_text("expired")
    assert linked_user(chat.ctx, "SW2") is None


async def test_five_wrong_codes_lock_the_account_out_for_an_hour(chat: ChatHarness) -> None:
    code = invite(chat.ctx)
    answers = []
    for attempt in range(5):
        [answer] = await chat.send(NEWCOMER, f"/start WRONGCODE{attempt}")
        answers.append(answer.text)
    assert answers[:4] == [render.start_text("wrong")] * 4
    assert answers[4] == render.start_text("locked")
    [still_locked] = await chat.send(NEWCOMER, f"/start {code}")
    assert still_locked.text == render.start_text("locked")
    assert linked_user(chat.ctx, "SW2") is None
    chat.clock.advance(hours=1, minutes=1)
    [welcome] = await chat.send(NEWCOMER, f"/start {code}")
    assert welcome.text is not None and welcome.text.startswith("Welcome")


async def test_many_accounts_guessing_pause_linking_for_a_minute_with_a_polite_line(
    chat: ChatHarness,
) -> None:
    code = invite(chat.ctx)
    for attempt in range(20):  # five accounts, four wrong codes each: none is locked out
        await chat.send(NEWCOMER + 1 + attempt // 4, f"/start WRONGCODE{attempt}")
    [paused] = await chat.send(NEWCOMER, f"/start {code}")
    assert paused.text == render.start_text("busy") == (
        "Too many attempts just now. Please try again in a minute."
    )
    assert linked_user(chat.ctx, "SW2") is None
    chat.clock.advance(seconds=61)
    [welcome] = await chat.send(NEWCOMER, f"/start {code}")
    assert welcome.text == render.start_text("linked", "Sean Walsh")


async def test_start_without_a_code_explains_how_to_link(chat: ChatHarness) -> None:
    [answer] = await chat.send(NEWCOMER, "/start")
    assert answer.text == render.start_text("no_code")


async def test_an_already_linked_person_is_told_so(chat: ChatHarness) -> None:
    [answer] = await chat.send(USERS["SW1"], "/start SOMECODE")
    assert answer.text == render.start_text("already", "Sally Webb")


async def test_anyone_not_linked_gets_the_short_answer_and_nothing_else(chat: ChatHarness) -> None:
    for text in ("/mine", "/help", "/team", "/alert CR-100", "hello", "done"):
        [answer] = await chat.send(STRANGER, text)
        assert answer.text == render.NOT_LINKED, text


async def test_an_unlinked_press_is_refused_with_the_same_answer(chat: ChatHarness) -> None:
    [answer] = await chat.send(STRANGER, "hello")
    reply = await chat.press(STRANGER, answer.message_id, "v1:sub:1:0", edits=False)
    assert reply.text == render.NOT_LINKED


async def test_a_person_made_inactive_loses_access_at_once(chat: ChatHarness) -> None:
    sw1 = USERS["SW1"]
    header, *_ = await chat.send(sw1, "/help")
    with chat.ctx.session() as session:
        staff = session.get(Staff, "SW1")
        assert staff is not None
        staff.active = False
    [answer] = await chat.send(sw1, "/mine")
    assert answer.text == render.NOT_LINKED
    reply = await chat.press(sw1, header.message_id, "v1:sub:1:0", edits=False)
    assert reply.text == render.NOT_LINKED
