"""/mine, /help, /team, reviews, unknown commands, and errors handled where they occur."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from handlers import render
from handlers.conversation import UseCases
from handlers.ratelimit import RateLimiter
from models.tables import AuditEvent, Plan
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

SW1, SW3, TM1, TM2, IRO1 = USERS["SW1"], USERS["SW3"], USERS["TM1"], USERS["TM2"], USERS["IRO1"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally (SW1) has two cases, Sita (SW3, other team) one; the bot running."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx, "CR-200", conference_at=london(2026, 12, 16, 10))
        seed_case(session, ctx, "CR-100")
        seed_case(session, ctx, "CR-300", social_worker="SW3")
    async with running_bot(ctx) as harness:
        yield harness


async def test_mine_lists_open_items_soonest_first_each_with_its_buttons(
    chat: ChatHarness,
) -> None:
    header, first, second = await chat.send(SW1, "/mine", expect=3)
    assert header.text == "Your open items, soonest first (2):"
    assert (first.text or "").startswith("RCPC report for case CR-100 · due Fri 4 Dec, 6pm")
    assert (second.text or "").startswith("RCPC report for case CR-200 · due Fri 11 Dec, 6pm")
    await chat.press(SW1, second.message_id, button(second, "Submitted"))
    with Session(chat.ctx.engine) as session:
        assert obligation(session, "rcpc_report", "CR-200-C1").status == "done"
        assert obligation(session, "rcpc_report", "CR-100-C1").status == "open"


async def test_mine_shows_nothing_of_anyone_elses_cases(chat: ChatHarness) -> None:
    messages = await chat.send(SW3, "/mine", expect=2)
    text = " ".join(m.text or "" for m in messages)
    assert "CR-300" in text and "CR-100" not in text and "CR-200" not in text


async def test_a_text_reply_to_a_mine_item_acts_on_it(chat: ChatHarness) -> None:
    _, first, _ = await chat.send(SW1, "/mine", expect=3)
    [confirmation] = await chat.send(SW1, "done", reply_to=first.message_id)
    assert "CR-100" in (confirmation.text or "") and "submitted" in (confirmation.text or "")


async def test_a_text_reply_still_works_once_a_tap_has_replaced_the_buttons(
    chat: ChatHarness,
) -> None:
    _, first, _ = await chat.send(SW1, "/mine", expect=3)
    await chat.press(SW1, first.message_id, button(first, "Need help"))
    assert chat.api.message(SW1, first.message_id).buttons == []  # type: ignore[union-attr]
    [confirmation] = await chat.send(SW1, "submited", reply_to=first.message_id)
    assert "CR-100" in (confirmation.text or "") and "submitted" in (confirmation.text or "")


async def test_help_fits_the_persons_role(chat: ChatHarness) -> None:
    for user, expected, absent in (
        (SW1, "late <reason>", "/team"),
        (IRO1, "/alert CASE_REF", "/team"),
        (TM1, "/team", "/alert"),
    ):
        [answer] = await chat.send(user, "/help")
        assert expected in (answer.text or "") and absent not in (answer.text or "")


async def test_team_lists_overdue_items_in_the_managers_span_only(chat: ChatHarness) -> None:
    [nothing] = await chat.send(TM1, "/team")
    assert nothing.text == "Nothing overdue or escalated in your team. 🎉"
    chat.clock.now = london(2026, 12, 7, 9)  # CR-100 and CR-300 reports are overdue now
    [listing] = await chat.send(TM1, "/team")
    text = listing.text or ""
    assert "CR-100" in text and "OVERDUE" in text and "Sally Webb" in text
    assert "CR-300" not in text and "CR-200" not in text
    [other_team] = await chat.send(TM2, "/team")
    assert "CR-300" in (other_team.text or "") and "CR-100" not in (other_team.text or "")
    [not_a_manager] = await chat.send(SW1, "/team")
    assert "for managers" in (not_a_manager.text or "")


async def test_an_unknown_command_gets_a_short_hint(chat: ChatHarness) -> None:
    [hint] = await chat.send(SW1, "/whatever now")
    assert hint.text == render.UNKNOWN_COMMAND


async def test_an_emoji_on_its_own_gets_the_hint(chat: ChatHarness) -> None:
    [hint] = await chat.send(SW1, "👍")
    assert hint.text == render.TEXT_HINT


async def test_the_chair_logs_the_nine_month_review_with_one_tap(chat: ChatHarness) -> None:
    chat.clock.now = london(2027, 3, 1, 9)  # plan_start 1 Jun 2026 + 9 months
    await chat.deliver()
    review = next(m for m in chat.sent_to("IRO1") if m.buttons and "CR-100" in (m.text or ""))
    await chat.press(IRO1, review.message_id, button(review, "Exit plan agreed"))
    edited = chat.api.message(IRO1, review.message_id)
    assert edited is not None and "reviewed, exit plan agreed" in (edited.text or "")
    with Session(chat.ctx.engine) as session:
        ob = obligation(session, "plan_review", "CR-100")
        assert (ob.status, ob.outcome) == ("done", "exit_plan")


async def test_plan_ended_at_review_ends_the_plan(chat: ChatHarness) -> None:
    _, review, *_ = await chat.send(IRO1, "/mine", expect=2)
    assert "9-month plan review" in (review.text or "")
    case = (review.text or "").split("case ")[1].split(" ")[0]
    await chat.press(IRO1, review.message_id, button(review, "Plan ended"))
    with Session(chat.ctx.engine) as session:
        plan = session.get(Plan, case)
        assert plan is not None and plan.plan_end == date(2026, 12, 1)


def broken(*_args: object, **_kwargs: object) -> Any:
    """A use case that fails unexpectedly, with internals in its message."""
    raise RuntimeError("database exploded at obligation 42 SELECT * FROM secret")


async def test_an_unexpected_error_gets_a_brief_apology_and_no_internals(ctx: AppContext) -> None:
    with ctx.session() as session:
        seed_org(session)
    async with running_bot(ctx, use_cases=UseCases(open_items=broken)) as chat:
        [apology] = await chat.send(SW1, "/mine")
        assert apology.text == render.ERROR
        [still_works] = await chat.send(SW1, "/help")
        assert "Sally Webb" in (still_works.text or "")


async def test_a_press_that_fails_unexpectedly_is_answered_briefly(ctx: AppContext) -> None:
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx, "CR-100")
    async with running_bot(ctx, use_cases=UseCases(press=broken)) as chat:
        _, first = await chat.send(SW1, "/mine", expect=2)
        answer = await chat.press(SW1, first.message_id, button(first, "Submitted"), edits=False)
        assert answer.text == render.ERROR


@pytest.mark.parametrize("data", ["v1:sub:²:0", "v1:sub:1:³", "v1:sub:१:0", "v1:sub:1:0:x\n"])
async def test_a_press_with_unicode_digits_is_refused_politely_and_audited(
    chat: ChatHarness, data: str
) -> None:
    _, first, _ = await chat.send(SW1, "/mine", expect=3)
    before = domain_state(chat.ctx)
    answer = await chat.press(SW1, first.message_id, data, edits=False)
    assert answer.text == render.REFUSALS["invalid"]
    assert domain_state(chat.ctx) == before
    with Session(chat.ctx.engine) as session:
        refused = session.exec(
            select(AuditEvent).where(AuditEvent.action == "press_refused")
        ).all()
    assert [(e.actor, json.loads(e.detail)["reason"]) for e in refused] == [("SW1", "invalid")]


async def test_pressing_the_same_step_twice_is_not_an_error(chat: ChatHarness) -> None:
    _, first, _ = await chat.send(SW1, "/mine", expect=3)
    late = button(first, "Will be late")
    await chat.press(SW1, first.message_id, late)
    reasons = chat.api.message(SW1, first.message_id)
    # The same edit again: Telegram answers "message is not modified"; the bot shrugs.
    answer = await chat.press(SW1, first.message_id, late, edits=False)
    assert answer.text is None
    await chat.api.wait_for(
        lambda: any(
            c.method.lower() == "editmessagetext" and c.status == 400
            for c in chat.api.calls("editMessageText")
        )
    )
    assert chat.api.message(SW1, first.message_id) == reasons
    assert all(m.text != render.ERROR for m in chat.bot_messages(SW1))


async def test_a_person_who_blocked_the_bot_is_not_an_error(chat: ChatHarness) -> None:
    chat.api.block(SW1)
    chat.api.user_sends(SW1, "/help")
    await chat.api.wait_for(lambda: any(c.status == 403 for c in chat.api.calls("sendMessage")))
    chat.api.unblock(SW1)
    [answer] = await chat.send(SW1, "/help")
    assert "Sally Webb" in (answer.text or "")


def five_cases(ctx: AppContext) -> None:
    """Sally (SW1) has five cases, so /mine answers in six messages."""
    with ctx.session() as session:
        seed_org(session)
        for n, day in enumerate((9, 10, 11, 14, 15), start=1):
            seed_case(session, ctx, f"CR-10{n}", conference_at=london(2026, 12, day, 10))


@pytest.fixture
async def busy(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally (SW1) has five cases; the stand-in enforces Telegram's flood limits."""
    five_cases(ctx)
    async with running_bot(ctx, limits=True) as harness:
        yield harness


@pytest.fixture
async def flooded(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Sally (SW1) has five cases; the bot's limiter on a simulated clock, so waits are instant."""
    five_cases(ctx)
    async with running_bot(ctx) as harness:
        yield harness


async def test_mine_with_five_items_arrives_whole_and_in_order_within_flood_limits(
    busy: ChatHarness,
) -> None:
    api = busy.api
    api.user_sends(SW1, "/mine")
    await api.wait_for(lambda: len(busy.bot_messages(SW1)) >= 1)
    api.user_sends(SW1, "/help")  # asked while the list is still arriving: it comes after it
    api.user_sends(TM1, "/help")  # someone else is answered meanwhile, not after the pauses
    await api.wait_for(lambda: busy.bot_messages(TM1))
    assert len(busy.bot_messages(SW1)) < 7
    await api.wait_for(lambda: len(busy.bot_messages(SW1)) >= 7, timeout=15)
    header, *items, help_text = busy.bot_messages(SW1)
    assert header.text == "Your open items, soonest first (5):"
    assert [(m.text or "").split(" · ")[0] for m in items] == [
        f"RCPC report for case CR-10{n}" for n in range(1, 6)
    ]
    for item in items:
        button(item, "Submitted")
    assert "/mine" in (help_text.text or "")
    assert all(m.text != render.ERROR for m in busy.bot_messages(SW1))
    stats = api.stats.chat(SW1)
    assert (stats.sent, stats.rejected_429) == (7, 0)


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_a_flood_wait_from_telegram_is_waited_out_and_the_message_still_arrives(
    flooded: ChatHarness,
) -> None:
    limiter = flooded.app.bot.rate_limiter
    assert isinstance(limiter, RateLimiter)
    began = limiter.pacing.now()
    flooded.api.fail_next(2, 429)  # "retry after 1", twice: the burst and its first retry
    flooded.api.user_sends(SW1, "/mine")
    await flooded.api.wait_for(lambda: len(flooded.bot_messages(SW1)) >= 6, timeout=15)
    header, *items = flooded.bot_messages(SW1)
    assert header.text == "Your open items, soonest first (5):" and len(items) == 5
    assert all(m.text != render.ERROR for m in flooded.bot_messages(SW1))
    assert flooded.api.stats.injected_failures == 2
    assert limiter.pacing.now() - began >= 2.0  # both waits of 1 s, on the simulated clock


async def test_each_person_reads_the_deadline_that_is_theirs_on_an_escalated_alert(
    ctx: AppContext,
) -> None:
    """The worker's /mine keeps their own response date and says, apart, who has it now;
    the team manager holding stage 1 finds it in /mine with the stage buttons and its date."""
    from scheduler.escalation import escalate
    from tests.auxil.chat import seed_alert

    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx, "CR-100", conference_at=london(2027, 1, 20, 10))
        alert_id = seed_alert(session, ctx, raised_at=london(2026, 11, 20, 11))  # due Fri 27 Nov
        ob = obligation(session, "qa_response", alert_id)
        assert ob.id is not None
        assert escalate(session, ctx.policy, ob.id, from_stage=0, to_stage=1,
                        now=london(2026, 11, 30, 9), actor="test")  # fmt: skip
        session.refresh(ob)
        stage_due = ob.stage_due_at
    assert stage_due is not None
    async with running_bot(ctx) as chat:
        _, worker, _report = await chat.send(SW1, "/mine", expect=3)
        assert worker.text == (
            "QA alert response for case CR-100 · due Fri 27 Nov, 6pm · OVERDUE · "
            "escalated to stage 1: Tara Morgan (team manager)"
        )
        assert [label for row in worker.buttons for label, _ in row] == ["Responded"]
        _, held = await chat.send(TM1, "/mine", expect=2)
        due = render.msg.when_text(stage_due, ctx.policy.calendar().tz)
        assert held.text == (
            f"QA alert for case CR-100 · stage 1: your response due {due} · Sally Webb"
        )
        await chat.press(TM1, held.message_id, button(held, "Acknowledge"))
        [team] = await chat.send(TM1, "/team")
        assert f"stage 1: your response due {due}" in (team.text or "")
        [above] = await chat.send(USERS["SM1"], "/team")
        assert f"due {due} · stage 1 with Tara Morgan (team manager) · Sally Webb" in (
            above.text or ""
        )
