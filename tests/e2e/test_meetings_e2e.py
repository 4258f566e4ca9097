"""A looked-after review not booked, end to end: the real scan and dispatch, through the stand-in.

Nobody books it, so ten working days before it is due the IRO's phone and business support's
phone each get one message (case reference, due date, role; no buttons), however often the
engine runs; the day it is overdue, the safeguarding manager's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta

import pytest

from bot.context import AppContext
from models.records import period_key
from models.tables import CarePeriod, Obligation, Staff
from models.vocabulary import LAC_REVIEW_DUE
from scheduler.sync import sync_obligations
from tests.auxil.chat import NOW, ChatHarness, Clock, london, obligation, running_bot, seed_org

ADMIN_USER = 6_123_456_020  # business support's Telegram account


@pytest.fixture
async def chat(ctx: AppContext) -> AsyncIterator[ChatHarness]:
    """Iris (IRO1) reviews a child who came into care on Mon 2 Nov; Ada (ADM1) is the
    reviewing service's business support; the bot runs on a clock we move."""
    with ctx.session() as session:
        seed_org(session)
        session.add(Staff(staff_id="ADM1", name="Ada Mills", role="admin", manager_id="SGM1",
                          team="North", telegram_user_id=ADMIN_USER, chat_id=ADMIN_USER,
                          linked_at=NOW))  # fmt: skip
        session.add(CarePeriod(period_id=period_key("LAC-7", date(2026, 11, 2)),
                               case_ref="LAC-7", social_worker_id="SW1", iro_id="IRO1",
                               entered_on=date(2026, 11, 2)))  # fmt: skip
        session.flush()
        sync_obligations(session, ctx.policy, now=london(2026, 11, 2, 12), case_refs={"LAC-7"})
    async with running_bot(ctx, clock=Clock()) as harness:
        yield harness


async def run_days(chat: ChatHarness, first: date, days: int) -> None:
    """The engine twice at 9am and twice at 3pm each day: reruns must change nothing."""
    for n in range(days):
        day = first + timedelta(days=n)
        for hour in (9, 9, 15, 15):
            chat.clock.now = london(day.year, day.month, day.day, hour)
            await chat.deliver()


def _review(chat: ChatHarness) -> Obligation:
    with chat.ctx.session() as session:
        return obligation(session, LAC_REVIEW_DUE, "LAC-7>20261102")


async def test_a_review_not_booked_reaches_the_iros_and_business_supports_phones_once(
    chat: ChatHarness,
) -> None:
    await run_days(chat, date(2026, 11, 12), 5)  # to Mon 16 Nov, 10 working days before
    ob = _review(chat)
    iro = chat.sent_to("IRO1", ob)
    admin = chat.sent_to("ADM1", ob)
    assert [m.text for m in iro] == [
        "📅 LAC-7: the next looked-after review is due by Mon 30 Nov and is not booked yet. "
        "You are the child's IRO: please have it booked in the case system. Business support "
        "has been told too."
    ]
    assert len(admin) == 1 and admin[0].chat_id == ADMIN_USER
    assert "LAC-7" in (admin[0].text or "") and "Mon 30 Nov" in (admin[0].text or "")
    assert "business support" in (admin[0].text or "")
    assert iro[0].buttons == [] and admin[0].buttons == []  # booking comes from the export
    assert chat.sent_to("SGM1", ob) == []


async def test_the_safeguarding_manager_hears_once_the_day_the_review_is_overdue(
    chat: ChatHarness,
) -> None:
    await run_days(chat, date(2026, 11, 16), 15)  # to Mon 30 Nov, 3pm: not overdue yet
    ob = _review(chat)
    assert chat.sent_to("SGM1", ob) == []
    await run_days(chat, date(2026, 12, 1), 2)  # overdue at 6pm: the next working morning
    manager = chat.sent_to("SGM1", ob)
    assert len(manager) == 1, [m.text for m in manager]
    assert (manager[0].text or "").startswith(
        "📋 LAC-7: the looked-after review due by Mon 30 Nov has not been held."
    )
    assert len(chat.sent_to("IRO1", ob)) == 1 and len(chat.sent_to("ADM1", ob)) == 1
