"""QA alerts by message: an IRO raises one by buttons, the worker responds, the IRO logs it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from handlers import render
from models.tables import Obligation, QaAlert
from tests.auxil.botapi import BotMessage
from tests.auxil.chat import (
    USERS,
    ChatHarness,
    button,
    domain_state,
    running_bot,
    seed_case,
    seed_org,
)

SW1, TM1, IRO1, IRO2 = USERS["SW1"], USERS["TM1"], USERS["IRO1"], USERS["IRO2"]


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """One case chaired by Iris (IRO1), Sally's (SW1) case; the bot running."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    async with running_bot(ctx) as harness:
        yield harness


def alerts(ctx: AppContext) -> list[QaAlert]:
    """Every alert on record."""
    with Session(ctx.engine) as session:
        return list(session.exec(select(QaAlert)))


async def raise_concern(chat: ChatHarness, theme: str = "Plan not SMART") -> BotMessage:
    """Iris walks /alert through kind, theme and confirm; returns the final message."""
    [step] = await chat.send(IRO1, "/alert CR-100")
    assert step.text == "New QA alert on case CR-100. Is it a concern or a positive alert?"
    await chat.press(IRO1, step.message_id, button(step, "Concern"))
    themes = chat.api.message(IRO1, step.message_id)
    assert [label for row in themes.buttons for label, _ in row] == [  # type: ignore[union-attr]
        "Drift and delay", "Report late or missing", "Statutory duty not met",
        "Plan not SMART", "Other", "Cancel",
    ]  # fmt: skip
    await chat.press(IRO1, step.message_id, button(themes, theme))
    confirm = chat.api.message(IRO1, step.message_id)
    await chat.press(IRO1, step.message_id, button(confirm, "Confirm"))
    done = chat.api.message(IRO1, step.message_id)
    assert done is not None
    return done


async def test_an_iro_raises_a_concern_by_buttons_and_the_clock_starts(chat: ChatHarness) -> None:
    done = await raise_concern(chat)
    assert done.buttons == []
    assert done.text == (
        "✅ Recorded: concern alert on case CR-100 (plan not smart). The social worker and "
        "team manager will be told. The response is due Tue 8 Dec, 6pm."
    )
    [alert] = alerts(chat.ctx)
    assert (alert.case_ref, alert.raised_by, alert.kind, alert.theme) == (
        "CR-100", "IRO1", "concern", "plan_quality",
    )  # fmt: skip
    assert await chat.deliver() == 2
    [to_worker] = chat.sent_to("SW1")
    [to_manager] = chat.sent_to("TM1")
    assert "Iris Rowe (IRO) raised a QA alert on case CR-100: plan not smart" in (
        to_worker.text or ""
    )
    assert "for Sally Webb (social worker)" in (to_manager.text or "")
    assert button(to_worker, "Responded")


async def test_a_positive_alert_needs_no_response(chat: ChatHarness) -> None:
    [step] = await chat.send(IRO1, "/alert CR-100")
    await chat.press(IRO1, step.message_id, button(step, "Positive"))
    themes = chat.api.message(IRO1, step.message_id)
    await chat.press(IRO1, step.message_id, button(themes, "Other"))
    await chat.press(
        IRO1, step.message_id, button(chat.api.message(IRO1, step.message_id), "Confirm")
    )
    done = chat.api.message(IRO1, step.message_id)
    assert done is not None and "positive alert" in (done.text or "")
    with Session(chat.ctx.engine) as session:
        assert session.exec(select(Obligation).where(Obligation.kind == "qa_response")).all() == []


async def test_responded_then_resolved_closes_the_alert(chat: ChatHarness) -> None:
    await raise_concern(chat)
    await chat.deliver()
    [to_worker] = chat.sent_to("SW1")
    await chat.press(SW1, to_worker.message_id, button(to_worker, "Responded"))
    edited = chat.api.message(SW1, to_worker.message_id)
    assert edited is not None
    assert "responded. Iris Rowe (IRO) will log the outcome." in (edited.text or "")
    assert await chat.deliver() == 1
    ask = [m for m in chat.sent_to("IRO1") if m.buttons][-1]
    assert "Sally Webb has responded to your QA alert on case CR-100" in (ask.text or "")
    await chat.press(IRO1, ask.message_id, button(ask, "Resolved"))
    [alert] = alerts(chat.ctx)
    assert alert.closed_at is not None and alert.outcome == "resolved"
    closed = chat.api.message(IRO1, ask.message_id)
    assert closed is not None
    assert closed.text == "✅ Your QA alert on case CR-100: resolved and closed."


async def test_not_resolved_escalates_to_the_team_manager_who_acknowledges(
    chat: ChatHarness,
) -> None:
    await raise_concern(chat)
    await chat.deliver()
    [to_worker] = chat.sent_to("SW1")
    await chat.press(SW1, to_worker.message_id, button(to_worker, "Responded"))
    await chat.deliver()
    ask = [m for m in chat.sent_to("IRO1") if m.buttons][-1]
    await chat.press(IRO1, ask.message_id, button(ask, "Not resolved: escalate"))
    escalated = chat.api.message(IRO1, ask.message_id)
    assert escalated is not None and "escalated to stage 1" in (escalated.text or "")
    await chat.deliver()
    stage = [m for m in chat.sent_to("TM1") if m.buttons][-1]
    assert "stage 1 of 4" in (stage.text or "")
    await chat.press(TM1, stage.message_id, button(stage, "Acknowledge"))
    acknowledged = chat.api.message(TM1, stage.message_id)
    assert acknowledged is not None and "acknowledged at stage 1" in (acknowledged.text or "")
    await chat.deliver()
    assert any(
        "Tara Morgan acknowledged it at stage 1" in (m.text or "") for m in chat.sent_to("IRO1")
    )


async def test_only_iros_may_raise_alerts_and_only_on_known_open_plans(chat: ChatHarness) -> None:
    [refused] = await chat.send(SW1, "/alert CR-100")
    assert refused.text == render.alert_refusal("not_iro")
    [unknown] = await chat.send(IRO1, "/alert NO-SUCH-CASE")
    assert unknown.text == render.alert_refusal("no_plan")
    [usage] = await chat.send(IRO1, "/alert")
    assert usage.text == render.alert_refusal("usage")
    assert alerts(chat.ctx) == []


async def test_any_iro_of_the_service_may_raise_an_alert_on_a_case_they_do_not_chair(
    chat: ChatHarness,
) -> None:
    [step] = await chat.send(IRO2, "/alert CR-100")  # Iris chairs CR-100; Ivan covers today
    await chat.press(IRO2, step.message_id, button(step, "Concern"))
    themes = chat.api.message(IRO2, step.message_id)
    await chat.press(IRO2, step.message_id, button(themes, "Drift and delay"))
    confirm = chat.api.message(IRO2, step.message_id)
    await chat.press(IRO2, step.message_id, button(confirm, "Confirm"))
    [alert] = alerts(chat.ctx)
    assert (alert.case_ref, alert.raised_by, alert.kind) == ("CR-100", "IRO2", "concern")


async def test_a_note_during_an_alert_is_warned_against_and_never_stored(chat: ChatHarness) -> None:
    await chat.send(IRO1, "/alert CR-100")
    state = domain_state(chat.ctx)
    [warning] = await chat.send(IRO1, "Mother says the child missed school again")
    assert warning.text == render.NOTE_WARNING
    warned, step = await chat.send(IRO1, "/alert CR-100 the child J Smith", expect=2)
    assert warned.text == render.NOTE_WARNING and step.buttons
    assert domain_state(chat.ctx) == state


async def test_cancel_records_nothing_and_an_old_draft_button_has_expired(
    chat: ChatHarness,
) -> None:
    [step] = await chat.send(IRO1, "/alert CR-100")
    concern = button(step, "Concern")
    await chat.press(IRO1, step.message_id, button(step, "Cancel"))
    cancelled = chat.api.message(IRO1, step.message_id)
    assert cancelled is not None and cancelled.text == render.alert_refusal("cancelled")
    answer = await chat.press(IRO1, step.message_id, concern, edits=False)
    assert answer.text == render.REFUSALS["expired"]
    assert alerts(chat.ctx) == []


async def test_confirming_twice_records_one_alert(chat: ChatHarness) -> None:
    [step] = await chat.send(IRO1, "/alert CR-100")
    await chat.press(IRO1, step.message_id, button(step, "Concern"))
    themes = chat.api.message(IRO1, step.message_id)
    await chat.press(IRO1, step.message_id, button(themes, "Drift and delay"))
    confirm = button(chat.api.message(IRO1, step.message_id), "Confirm")
    await chat.press(IRO1, step.message_id, confirm)
    again = await chat.press(IRO1, step.message_id, confirm, edits=False)
    assert again.text == render.REFUSALS["expired"]
    assert len(alerts(chat.ctx)) == 1
