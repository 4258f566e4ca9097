"""Looked-after reviews through the chat: the worker's report, the IRO's own records (issue 12)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime

import pytest
from sqlmodel import Session, select

from bot.context import AppContext
from handlers import render
from models.tables import CarePeriod, Conference, Obligation, Plan, Review
from models.vocabulary import FAMILY_RECORD, LAC_RECORD, LAC_REPORT
from scheduler.sync import sync_obligations
from tests.auxil.chat import (
    NOW,
    USERS,
    ChatHarness,
    button,
    domain_state,
    fresh,
    london,
    obligation,
    running_bot,
    seed_org,
)

SW1, TM1, IRO1, SGM1 = USERS["SW1"], USERS["TM1"], USERS["IRO1"], USERS["SGM1"]
REVIEW_AT = london(2026, 12, 10, 10)  # Thu 10 Dec: the report is due Wed 9 Dec, 6pm
HELD_ON = date(2026, 11, 12)  # a review held Thu 12 Nov: the record is due Thu 10 Dec, 6pm


def seed_child_in_care(session: Session, ctx: AppContext, *, now: datetime = NOW) -> None:
    """LAC-7 in care since June with Sally (social worker) and Iris (IRO): a review held in
    November (decisions uploaded, the record not yet) and the next booked for 10 Dec."""
    session.add(CarePeriod(period_id="LAC-7@2026-06-01", case_ref="LAC-7", social_worker_id="SW1",
                           iro_id="IRO1", entered_on=date(2026, 6, 1)))  # fmt: skip
    # Booked for Wed 11 Nov, held the day after: messages name the day it was held.
    session.add(Review(review_id="R-HELD", case_ref="LAC-7", scheduled_for=london(2026, 11, 11, 10),
                       status="held", held_on=HELD_ON,
                       decisions_uploaded_at=london(2026, 11, 16, 12)))  # fmt: skip
    session.add(Review(review_id="R-NEXT", case_ref="LAC-7", scheduled_for=REVIEW_AT))
    session.flush()
    sync_obligations(session, ctx.policy, now=now, case_refs={"LAC-7"})


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """A child in care with a review next week; the bot running."""
    with ctx.session() as session:
        seed_org(session)
        seed_child_in_care(session, ctx)
    async with running_bot(ctx) as harness:
        yield harness


def item(ctx: AppContext, kind: str, subject: str) -> Obligation:
    """One obligation as committed."""
    with Session(ctx.engine) as session:
        return obligation(session, kind, subject)


async def test_the_review_report_nudge_reaches_the_worker_and_submitted_settles_it(
    chat: ChatHarness,
) -> None:
    """Tue 8 Dec 9am: the nudge for the report due Wed 9 Dec; one tap records it."""
    chat.clock.now = london(2026, 12, 8, 9)
    assert await chat.deliver() == 2  # and the IRO's record reminder
    [message] = chat.sent_to("SW1")
    assert message.chat_id == SW1
    assert message.text == (
        "⏰ LAC-7: LAC review report due Wed 9 Dec, 6pm (review Thu 10 Dec, 10am). "
        "1 working day before, so the IRO can read it."
    )
    submitted = button(message, "Submitted")
    answer = await chat.press(SW1, message.message_id, submitted)
    assert answer.text == "Recorded."
    edited = chat.api.message(SW1, message.message_id)
    assert edited is not None and edited.buttons == []
    assert edited.text == (
        "✅ LAC review report for case LAC-7, due Wed 9 Dec, 6pm: submitted. Recorded."
    )
    review = fresh(chat.ctx, Review, "R-NEXT")
    assert review.report_received_at == london(2026, 12, 8, 9)
    assert item(chat.ctx, LAC_REPORT, "R-NEXT").status == "done"
    state = domain_state(chat.ctx)
    again = await chat.press(SW1, message.message_id, submitted, edits=False)
    assert again.text == "Submitted by you at 9am. Nothing more to do."
    assert domain_state(chat.ctx) == state


async def test_a_missing_review_report_reaches_the_manager_and_the_iro_may_stand_it_down(
    chat: ChatHarness,
) -> None:
    """Due Wed 9 Dec 6pm, heard Thu 8am (quiet hours): worker, team manager, IRO; the IRO's
    Stand down review closes it."""
    chat.clock.now = london(2026, 12, 10, 8)
    await chat.deliver()
    [to_iro] = chat.sent_to("IRO1", item(chat.ctx, LAC_REPORT, "R-NEXT"))
    assert "If the review cannot go ahead" in (to_iro.text or "")
    assert chat.sent_to("TM1", item(chat.ctx, LAC_REPORT, "R-NEXT"))
    await chat.press(IRO1, to_iro.message_id, button(to_iro, "Stand down review"))
    reasons = chat.api.message(IRO1, to_iro.message_id)
    assert reasons is not None and "Why will the review not go ahead" in (reasons.text or "")
    await chat.press(IRO1, to_iro.message_id, button(reasons, "Not quorate"))
    done = chat.api.message(IRO1, to_iro.message_id)
    assert done is not None
    assert (done.text or "").startswith("📅 looked-after review for case LAC-7: stood down")
    ob = item(chat.ctx, LAC_REPORT, "R-NEXT")
    assert (ob.status, ob.outcome) == ("cancelled", "stood_down")
    assert fresh(chat.ctx, Review, "R-NEXT").stood_down_reason == "not_quorate"


async def test_a_typed_done_submits_the_review_report(chat: ChatHarness) -> None:
    """`done` in reply to the nudge means Submitted."""
    chat.clock.now = london(2026, 12, 8, 9)
    await chat.deliver()
    [message] = chat.sent_to("SW1")
    await chat.send(SW1, "done", reply_to=message.message_id)
    assert fresh(chat.ctx, Review, "R-NEXT").report_received_at == london(2026, 12, 8, 9)


async def test_the_iros_record_reminder_and_uploaded_closes_it(chat: ChatHarness) -> None:
    """Thu 10 Dec 8am: the record of the 12 Nov review is due today; Uploaded records it."""
    chat.clock.now = london(2026, 12, 10, 8)
    await chat.deliver()
    [message] = chat.sent_to("IRO1", item(chat.ctx, LAC_RECORD, "R-HELD"))
    assert message.text == (
        "⏰ LAC-7: LAC review record due today, 6pm (review held Thu 12 Nov). "
        "As IRO, tap Uploaded once it is done."
    )
    assert [label for row in message.buttons for label, _ in row] == ["Uploaded", "Will be late"]
    answer = await chat.press(IRO1, message.message_id, button(message, "Uploaded"))
    assert answer.text == "Recorded."
    edited = chat.api.message(IRO1, message.message_id)
    assert edited is not None and edited.text == (
        "✅ LAC review record for case LAC-7, due Thu 10 Dec, 6pm: uploaded. Recorded."
    )
    assert fresh(chat.ctx, Review, "R-HELD").record_uploaded_at == london(2026, 12, 10, 8)
    ob = item(chat.ctx, LAC_RECORD, "R-HELD")
    assert (ob.status, ob.outcome) == ("done", "uploaded")


async def test_an_overdue_record_goes_to_the_iros_manager_and_late_asks_a_date(
    chat: ChatHarness,
) -> None:
    """Due Thu 10 Dec 6pm, heard Fri 8am: the IRO and their manager; Will be late walks
    reason then date."""
    chat.clock.now = london(2026, 12, 11, 8)
    await chat.deliver()
    ob = item(chat.ctx, LAC_RECORD, "R-HELD")
    [to_iro] = chat.sent_to("IRO1", ob)
    [to_manager] = chat.sent_to("SGM1", ob)
    assert "You are their manager." in (to_manager.text or "")
    mid = to_iro.message_id
    await chat.press(IRO1, mid, button(to_iro, "Will be late"))
    reasons = chat.api.message(IRO1, mid)
    assert reasons is not None
    await chat.press(IRO1, mid, button(reasons, "Workload"))
    dates = chat.api.message(IRO1, mid)
    assert dates is not None
    await chat.press(IRO1, mid, button(dates, "Mon 14 Dec"))
    ob = item(chat.ctx, LAC_RECORD, "R-HELD")
    assert (ob.late_reason, ob.expected_on) == ("workload", date(2026, 12, 14))


async def test_the_chair_sends_the_conference_record_to_the_family_with_one_tap(
    ctx: AppContext,
) -> None:
    """A held RCPC: the chair's record and plan to the family; Sent closes it."""
    with ctx.session() as session:
        seed_org(session)
        session.add(Plan(case_ref="CR-9", social_worker_id="SW1", chair_id="IRO1",
                         plan_start=date(2026, 6, 1)))  # fmt: skip
        session.add(Conference(conference_id="CR-9-C1", case_ref="CR-9", kind="RCPC",
                               scheduled_for=london(2026, 12, 3, 10), chair_id="IRO1",
                               status="held", report_received_at=london(2026, 11, 30, 9)))
        session.flush()
        sync_obligations(session, ctx.policy, now=london(2026, 12, 3, 15), case_refs={"CR-9"})
    async with running_bot(ctx) as chat:
        chat.clock.now = london(2026, 12, 10, 8)  # due today, Thu 10 Dec
        await chat.deliver()
        [message] = chat.sent_to("IRO1", item(ctx, FAMILY_RECORD, "CR-9-C1"))
        assert "As chair, tap Sent" in (message.text or "")
        await chat.press(IRO1, message.message_id, button(message, "Sent"))
        conference = fresh(ctx, Conference, "CR-9-C1")
        assert conference.record_sent_at == london(2026, 12, 10, 8)
        assert item(ctx, FAMILY_RECORD, "CR-9-C1").status == "done"


async def test_an_iro_raises_a_qa_alert_on_a_child_in_care_exactly_as_on_a_cp_case(
    chat: ChatHarness,
) -> None:
    """`/alert LAC-7`: the care period's social worker answers, their team manager is told."""
    chat.clock.now = london(2026, 12, 1, 10)
    [step] = await chat.send(IRO1, "/alert LAC-7")
    assert step.text == "New QA alert on case LAC-7. Is it a concern or a positive alert?"
    await chat.press(IRO1, step.message_id, button(step, "Concern"))
    themes = chat.api.message(IRO1, step.message_id)
    assert themes is not None
    await chat.press(IRO1, step.message_id, button(themes, "Drift and delay"))
    confirm = chat.api.message(IRO1, step.message_id)
    assert confirm is not None
    await chat.press(IRO1, step.message_id, button(confirm, "Confirm"))
    done = chat.api.message(IRO1, step.message_id)
    assert done is not None and (done.text or "").startswith(
        "✅ Recorded: concern alert on case LAC-7 (drift and delay)."
    )
    with Session(chat.ctx.engine) as session:
        [ob] = [o for o in session.exec(select(Obligation)) if o.kind == "qa_response"]
        assert (ob.case_ref, ob.owner_id, ob.status) == ("LAC-7", "SW1", "open")
    await chat.deliver()
    [to_worker] = chat.sent_to("SW1", ob)
    [to_manager] = chat.sent_to("TM1", ob)
    assert "raised a QA alert on case LAC-7" in (to_worker.text or "")
    assert button(to_worker, "Responded")
    assert "for Sally Webb (social worker)" in (to_manager.text or "")


async def test_an_alert_is_refused_for_a_child_who_has_left_care(chat: ChatHarness) -> None:
    """A period in care that has ended is no open case: one clear line, nothing recorded."""
    with chat.ctx.session() as session:
        period = session.get(CarePeriod, "LAC-7@2026-06-01")
        assert period is not None
        period.left_on = date(2026, 11, 30)
        session.add(period)
    chat.clock.now = london(2026, 12, 1, 10)
    state = domain_state(chat.ctx)
    [refused] = await chat.send(IRO1, "/alert LAC-7")
    assert refused.text == render.alert_refusal("no_plan")
    assert domain_state(chat.ctx) == state


async def test_an_iro_types_late_sick_to_their_record_reminder_and_picks_a_date(
    chat: ChatHarness,
) -> None:
    """`late sick` on the IRO's own record: one message records it and asks the date."""
    chat.clock.now = london(2026, 12, 10, 8)
    await chat.deliver()
    [message] = chat.sent_to("IRO1", item(chat.ctx, LAC_RECORD, "R-HELD"))
    [dates] = await chat.send(IRO1, "late sick", reply_to=message.message_id)
    assert "will be late (illness). Recorded.\nWhen do you expect" in (dates.text or "")
    await chat.press(IRO1, dates.message_id, button(dates, "Mon 14 Dec"))
    ob = item(chat.ctx, LAC_RECORD, "R-HELD")
    assert (ob.late_reason, ob.expected_on, ob.status) == ("illness", date(2026, 12, 14), "open")
    chat.clock.now = london(2026, 12, 11, 8)  # past the deadline: the manager hears once more
    await chat.deliver()
    told, overdue = (m.text or "" for m in chat.sent_to("SGM1", ob))  # at the press, at 6pm
    assert "will be late (illness). Expected Mon 14 Dec." in told
    assert "They said it will come Mon 14 Dec (illness)." in overdue
