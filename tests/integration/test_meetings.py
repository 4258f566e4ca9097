"""The next review or conference through sync and scan: not booked, booked, held, overdue, ended."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import Session

from handlers import lists, render
from models.golive import mark_golive
from models.records import period_key
from models.tables import CarePeriod, Conference, Obligation, Plan, Review
from models.vocabulary import (
    CANCELLED,
    CONFERENCE_DUE,
    DONE,
    HELD,
    LAC_REVIEW_DUE,
    LEFT_CARE,
    MEETING_HELD,
    OPEN,
    PLAN_ENDED,
)
from scheduler.loaders import load_bookings
from scheduler.policy import Policy
from scheduler.scan import scan_pass
from scheduler.sync import sync_obligations
from tests.auxil.records import (
    add_plan,
    add_staff,
    change,
    local_day_time,
    london,
    notifications,
    obligation,
    org_chart,
)
from tests.conftest import Database

SYNC_AT = london(2026, 11, 2, 12)
PERIOD = period_key("LAC-1", date(2026, 11, 2))
FIRST = "LAC-1>20261102"  # the first review, counted from entering care on Mon 2 Nov


def _service(session: Session, *, entered_on: date = date(2026, 11, 2)) -> None:
    """The default hierarchy, business support under the safeguarding manager, a child in care."""
    org_chart(session)
    add_staff(session, "ADM1", "admin", "SGM1", name="Ada Mills")
    add_staff(session, "ADM2", "admin", "TM1", name="Abe Moss", team="South")  # not the IRO's
    session.add(CarePeriod(
        period_id=period_key("LAC-1", entered_on), case_ref="LAC-1", social_worker_id="SW1",
        iro_id="IRO1", entered_on=entered_on,
    ))  # fmt: skip
    session.flush()


def _review(session: Session, review_id: str, when: tuple[int, int, int, int]) -> None:
    session.add(Review(review_id=review_id, case_ref="LAC-1", scheduled_for=london(*when)))
    session.flush()


def _texts(session: Session, recipient: str) -> list[str]:
    return [n.text for n in notifications(session, recipient)]


def test_a_review_not_booked_ten_working_days_before_it_is_due_tells_the_iro_and_business_support(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        sync_obligations(session, policy, now=SYNC_AT)
        ob = obligation(session, LAC_REVIEW_DUE, FIRST)
        early = scan_pass(session, policy, now=london(2026, 11, 13, 17))  # Friday before
        first = scan_pass(session, policy, now=london(2026, 11, 16, 8))  # 10 working days before
        again = scan_pass(session, policy, now=london(2026, 11, 17, 9))
        session.commit()
        iro, admin = _texts(session, "IRO1"), _texts(session, "ADM1")
        other = _texts(session, "ADM2")
    assert (ob.owner_id, ob.status) == ("IRO1", OPEN)
    assert local_day_time(ob.due_at) == (date(2026, 11, 30), time(18))  # 20 working days
    assert (early.queued, first.queued, again.queued) == (0, 2, 0)
    assert iro == [
        "📅 LAC-1: the next looked-after review is due by Mon 30 Nov and is not booked yet. "
        "You are the child's IRO: please have it booked in the case system. Business support "
        "has been told too."
    ]
    assert admin == [
        "📅 LAC-1: the next looked-after review is due by Mon 30 Nov and is not booked yet "
        "(Name IRO1, IRO, has been told). You are their business support: please book it in "
        "the case system."
    ]
    assert other == []  # another team's admin under another manager: not theirs


def test_a_booked_review_needs_nothing_until_it_meets_then_the_next_one_is_owed(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        _review(session, "R1", (2026, 11, 26, 10))
        sync_obligations(session, policy, now=SYNC_AT)
        told = scan_pass(session, policy, now=london(2026, 11, 16, 8))
        met = scan_pass(session, policy, now=london(2026, 11, 26, 10, 30))
        session.commit()
        first = obligation(session, LAC_REVIEW_DUE, FIRST)
        second = obligation(session, LAC_REVIEW_DUE, "LAC-1>20261126")
        sent = notifications(session)
    assert told.queued == 0 and sent == []
    assert (first.status, first.outcome) == (DONE, MEETING_HELD)
    assert second.status == OPEN  # within 3 months of the first: Fri 26 Feb 2027
    assert local_day_time(second.due_at) == (date(2027, 2, 26), time(18))
    assert met.closed == 2  # this row, and the worker's report for R1 that never came


def test_a_review_not_held_by_its_due_day_goes_to_the_safeguarding_manager_once(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        sync_obligations(session, policy, now=SYNC_AT)
        scan_pass(session, policy, now=london(2026, 11, 16, 8))
        before = scan_pass(session, policy, now=london(2026, 11, 30, 17, 59))
        late = scan_pass(session, policy, now=london(2026, 11, 30, 18))
        after = scan_pass(session, policy, now=london(2026, 12, 1, 9))
        session.commit()
        ob = obligation(session, LAC_REVIEW_DUE, FIRST)
        manager = _texts(session, "SGM1")
    assert (before.queued, late.queued, after.queued) == (0, 1, 0)
    assert ob.stage == 1 and ob.status == OPEN
    assert manager == [
        "📋 LAC-1: the looked-after review due by Mon 30 Nov has not been held. No date is "
        "booked. Name IRO1 is the child's IRO. You are their safeguarding manager."
    ]


def test_a_review_booked_after_its_due_day_is_late_and_the_manager_is_told_its_date(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        _review(session, "R1", (2026, 12, 3, 14))
        sync_obligations(session, policy, now=SYNC_AT)
        assert scan_pass(session, policy, now=london(2026, 11, 16, 8)).queued == 0  # booked
        scan_pass(session, policy, now=london(2026, 11, 30, 18))
        scan_pass(session, policy, now=london(2026, 12, 3, 15))  # it met, late
        session.commit()
        manager = _texts(session, "SGM1")
        first = obligation(session, LAC_REVIEW_DUE, FIRST)
    assert len(manager) == 1 and "It is booked for Thu 3 Dec, 2pm." in manager[0]
    assert (first.status, first.outcome) == (DONE, MEETING_HELD)


def test_a_child_leaving_care_cancels_the_next_review_and_its_unsent_notices(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        sync_obligations(session, policy, now=SYNC_AT)
        queued = scan_pass(session, policy, now=london(2026, 11, 16, 8)).queued  # not sent yet
        change(session, CarePeriod, PERIOD, left_on=date(2026, 11, 13))  # the export, late
        sync_obligations(session, policy, now=london(2026, 11, 16, 8, 1), case_refs={"LAC-1"})
        session.commit()
        ob = obligation(session, LAC_REVIEW_DUE, FIRST)
        statuses = {n.status for n in notifications(session)}
    assert (ob.status, ob.outcome) == (CANCELLED, LEFT_CARE)
    assert queued == 2 and statuses == {"cancelled"}


def test_a_conference_not_booked_tells_the_chair_and_an_ended_plan_owes_none(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        add_plan(session, "CP-1", plan_start=date(2026, 10, 1))
        session.add(Conference(conference_id="I1", case_ref="CP-1", kind="ICPC",
                               scheduled_for=london(2026, 10, 1, 10), status=HELD,
                               strategy_on=date(2026, 9, 17),
                               # its record went to the family: the chair owes only the booking
                               record_sent_at=london(2026, 10, 6, 12)))  # fmt: skip
        session.flush()
        sync_obligations(session, policy, now=SYNC_AT)
        ob = obligation(session, CONFERENCE_DUE, "CP-1>20261001")
        due_at = ob.due_at
        scan_pass(session, policy, now=london(2026, 12, 16, 7))
        scan_pass(session, policy, now=london(2026, 12, 16, 8))
        told = [(n.recipient_id, n.created_at) for n in notifications(session)
                if n.obligation_id == ob.id]  # fmt: skip
        change(session, Plan, "CP-1", plan_end=date(2026, 12, 17))
        sync_obligations(session, policy, now=london(2026, 12, 17, 9), case_refs={"CP-1"})
        session.commit()
        chair = [t for t in _texts(session, "IRO1") if "CP-1" in t]
        session.expire_all()
        ended = session.get(Obligation, ob.id)
    # The first RCPC: within 3 months of the ICPC on 1 Oct, so by Fri 1 Jan (a bank holiday).
    assert local_day_time(due_at) == (date(2027, 1, 1), time(18))
    assert told == [("IRO1", london(2026, 12, 16, 8)), ("ADM1", london(2026, 12, 16, 8))]
    assert chair == [
        "📅 CP-1: the next child protection conference is due by Fri 1 Jan and is not booked "
        "yet. You are the plan's chair: please have it booked in the case system. Business "
        "support has been told too."
    ]
    assert ended is not None and (ended.status, ended.outcome) == (CANCELLED, PLAN_ENDED)


def test_a_review_that_fell_due_before_go_live_is_backlog_and_never_chased(
    database: Database, policy: Policy
) -> None:
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session, entered_on=date(2026, 9, 1))  # first review due Tue 29 Sep
        mark_golive(session, london(2026, 11, 20, 9))
        sync_obligations(session, policy, now=london(2026, 11, 20, 9))
        for day in (20, 23, 24, 30):
            scan_pass(session, policy, now=london(2026, 11, day, 9))
        session.commit()
        ob = obligation(session, LAC_REVIEW_DUE, "LAC-1>20260901")
        keys = [n.key for n in notifications(session)]
    assert ob.backlog and ob.stage == 0
    assert not [k for k in keys if ":unbooked:" in k or ":stage:1:" in k], keys


@pytest.mark.parametrize(
    ("days_before", "told_on"),
    [(10, date(2026, 11, 16)), (5, date(2026, 11, 23)), (0, date(2026, 11, 30))],
)
def test_how_long_before_not_booked_is_told_is_the_policys(
    database: Database, days_before: int, told_on: date
) -> None:
    policy = Policy.model_validate({"lac_review": {"booked_working_days_before": days_before}})
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        sync_obligations(session, policy, now=SYNC_AT)
        ob = obligation(session, LAC_REVIEW_DUE, FIRST)
    assert ob.next_action_at is not None
    assert local_day_time(ob.next_action_at) == (told_on, time(8))


def test_a_meeting_counts_as_booked_after_its_anchor_day_in_the_policys_timezone(
    database: Database,
) -> None:
    """The subject `LAC-1>20261201` names a day in the policy's timezone: a review at 3am UTC
    on 2 Dec is booked after it in London, but still on 1 Dec in New York."""
    with Session(database.engine) as session:
        session.add(Review(review_id="R-1", case_ref="LAC-1",
                           scheduled_for=datetime(2026, 12, 2, 3, 0, tzinfo=UTC)))  # fmt: skip
        session.flush()
        wanted = [(LAC_REVIEW_DUE, "LAC-1>20261201", "LAC-1")]
        london_tz, new_york = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
        assert load_bookings(session, wanted, tz=london_tz) == {
            (LAC_REVIEW_DUE, "LAC-1>20261201"): datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
        }
        assert load_bookings(session, wanted, tz=new_york) == {}


def test_the_iros_and_the_managers_lists_say_whether_the_next_review_is_booked_and_when(
    database: Database, policy: Policy
) -> None:
    tz = policy.calendar().tz
    with Session(database.engine, expire_on_commit=False) as session:
        _service(session)
        sync_obligations(session, policy, now=SYNC_AT)
        before = lists.open_items(session, "IRO1", now=london(2026, 11, 16, 9), tz=tz)
        overdue = lists.team_items(session, "SGM1", london(2026, 12, 1, 9), policy=policy)
        _review(session, "R1", (2026, 11, 26, 10))
        after = lists.open_items(session, "IRO1", now=london(2026, 11, 16, 9), tz=tz)
    [unbooked], [booked] = before, after
    [late] = [i for i in overdue if i.kind == LAC_REVIEW_DUE]
    assert render.item_line(late, tz, london(2026, 12, 1, 9), viewer={"SGM1"}).startswith(
        "next LAC review for case LAC-1 · due Mon 30 Nov, 6pm · not booked yet · OVERDUE"
    )  # the line manager's /team says so too
    assert render.item_line(unbooked, tz) == (
        "next LAC review for case LAC-1 · due Mon 30 Nov, 6pm · not booked yet"
    )
    assert render.item_line(booked, tz) == (
        "next LAC review for case LAC-1 · due Mon 30 Nov, 6pm · booked Thu 26 Nov, 10am"
    )
