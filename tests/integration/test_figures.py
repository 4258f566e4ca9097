"""Timeliness figures: checked against a small caseload whose answers were worked by hand.

The caseload (December 2026, two teams) is written twice: as plain rows for the pure
functions, and as database records for the loader. Both must give EXPECTED, which was
computed by hand from the England calendar (Fri 25 and Mon 28 Dec 2026, Fri 1 Jan 2027
are bank holidays).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session

from models.tables import (
    AuditEvent,
    CarePeriod,
    Conference,
    Notification,
    Obligation,
    Plan,
    QaAlert,
    Review,
    Staff,
)
from models.vocabulary import CANCELLED, DONE, FAILED, OPEN, PENDING, PLAN_REVIEW, QA_RESPONSE, SENT
from scheduler.caseload import (
    AlertRow,
    CareRow,
    Caseload,
    ConferenceRow,
    NotificationRow,
    PlanRow,
    ReviewRow,
    StaffRow,
    load_caseload,
)
from scheduler.figures import (
    SERVICE,
    Figures,
    Rate,
    Rules,
    add_months,
    day_start,
    figures_by_team,
    qa_deadline,
    report_deadline,
    report_rate,
    weekly_series,
)
from scheduler.policy import Policy
from tests.conftest import Database

POLICY = Policy()
RULES = Rules.of(POLICY)
CAL = RULES.cal
START = day_start(date(2026, 12, 1), CAL)
END = day_start(date(2027, 1, 1), CAL)
NOW = datetime(2027, 1, 4, 12, 0, tzinfo=UTC)


def at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    """December and January are GMT, so local wall-clock equals UTC here."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# case ref -> (team, social worker)
NORTH, SOUTH = "North", "South"
CASES = {
    "PL1": (NORTH, "sw1"),
    "PL2": (NORTH, "sw1"),
    "PL6": (NORTH, "sw1"),
    "PL7": (NORTH, "sw1"),
    "PL3": (SOUTH, "sw2"),
    "PL4": (SOUTH, "sw2"),
    "PL5": (SOUTH, "sw2"),
    "PL8": (SOUTH, "sw2"),
    "LA1": (SOUTH, "sw2"),  # looked-after children: a period in care each, no plan
    "LA2": (NORTH, "sw1"),
    "LA3": (NORTH, "sw1"),
}

# (id, case, kind, scheduled_for, report_received_at) and why, by hand:
CONFERENCES = [
    # due Mon 7 Dec 18:00 (3 working days before Thu 10 Dec): in a minute early
    ("R1", "PL1", "RCPC", at(2026, 12, 10), at(2026, 12, 7, 17, 59)),
    # a minute late
    ("R2", "PL2", "RCPC", at(2026, 12, 10), at(2026, 12, 7, 18, 1)),
    # Tue 29 Dec: back over Mon 28 and Fri 25 (bank holidays) to Tue 22 Dec 18:00: late
    ("R3", "PL7", "RCPC", at(2026, 12, 29), at(2026, 12, 24, 9, 0)),
    # never received: late
    ("R4", "PL3", "RCPC", at(2026, 12, 14), None),
    # after the period: not counted
    ("R5", "PL4", "RCPC", at(2027, 1, 6), None),
    # before the period: not counted
    ("R6", "PL4", "RCPC", at(2026, 11, 30), None),
    # due Thu 10 Dec 18:00, in on Wed 9 Dec: in time
    ("R7", "PL5", "RCPC", at(2026, 12, 15), at(2026, 12, 9, 10, 0)),
    # ICPC Wed 16 Dec: due Tue 15 Dec 18:00, in at 16:00: in time
    ("I1", "PL1", "ICPC", at(2026, 12, 16, 14, 0), at(2026, 12, 15, 16, 0)),
    # ICPC Tue 29 Dec: due Thu 24 Dec 18:00, in Mon 28 Dec: late
    ("I2", "PL3", "ICPC", at(2026, 12, 29), at(2026, 12, 28, 9, 0)),
]
# Held, as the export says (the others have not happened yet, or are before the period):
HELD_IDS = {"R1", "R2", "R3", "R4", "R7", "I1", "I2"}
# ICPCs' strategy discussions: I1 within 15 working days (due Mon 21 Dec), I2 not (due Tue 22
# Dec, held Tue 29 Dec)
STRATEGY = {"I1": date(2026, 11, 30), "I2": date(2026, 12, 1)}
# RCPCs held in timescale (the first within 3 months of the ICPC, or of the plan's start when
# the export has no ICPC): R2 (PL2 from 15 Jan: due 15 Apr) and R3 (PL7 from 1 Apr: due 1 Jul)
# late; R7 (PL5 from 1 Oct: due 1 Jan 2027) in time; R1 and R4 come before their case's ICPC
# (I1, I2) and belong to no chain
# The record and plan to the family, due by close of the 5th working day after the conference:
RECORD_SENT = {
    "R1": at(2026, 12, 17, 18, 0),  # Thu 10 Dec -> Thu 17 Dec 18:00: on the minute, in time
    "R2": at(2026, 12, 17, 18, 1),  # a minute late
    "R3": at(2027, 1, 4, 9, 0),  # Tue 29 Dec -> Wed 6 Jan (over Fri 1 Jan): in time, counted
    # R4 Mon 14 Dec -> Mon 21 Dec, never sent: late
    "R7": at(2026, 12, 23, 9, 0),  # Tue 15 Dec -> Tue 22 Dec: a day late
    "I1": at(2026, 12, 23, 17, 0),  # Wed 16 Dec -> Wed 23 Dec 18:00: in time
    # I2 Tue 29 Dec -> Wed 6 Jan, not sent at NOW: window still open, not counted
}
# Conferences that did not go ahead: no report counted, one stood down each, by reason.
# (id, case, scheduled_for, export status, export reason, stood down in chat for, chat reason)
STOOD_DOWN = [
    # cancelled in the export: not quorate (North)
    ("S1", "PL2", at(2026, 12, 17), "cancelled", "not_quorate", None, None),
    # stood down in chat for its date: the social worker was ill (South)
    ("S2", "PL5", at(2026, 12, 21), "scheduled", None, at(2026, 12, 21), "worker_absent"),
]

# (id, case, kind, raised_at, responded_at, closed_at, obligation stage, audited to_stages)
ALERTS = [
    # due Tue 8 Dec 18:00, answered 17:00: in time
    ("A1", "PL1", "concern", at(2026, 12, 1), at(2026, 12, 8, 17, 0), None, 0, []),
    # due Tue 29 Dec 18:00 (skips the two bank holidays), answered Wed 30: late; stage 1
    ("A2", "PL2", "concern", at(2026, 12, 18, 11, 0), at(2026, 12, 30), None, 1, []),
    # never answered: late; climbed the whole ladder
    ("A3", "PL3", "concern", at(2026, 12, 2), None, None, 4, [1, 2, 3, 4]),
    # closed by the IRO the next day: counts as answered in time
    ("A4", "PL4", "concern", at(2026, 12, 3), None, at(2026, 12, 4), 0, []),
    # IRO went straight to stage 3; answered on the last day: in time; stage back to 0
    ("A5", "PL5", "concern", at(2026, 12, 7), at(2026, 12, 14, 10, 0), None, 0, [3]),
    # raised Thu 31 Dec, due Fri 8 Jan: still open at NOW, so not yet in the rate
    ("A6", "PL7", "concern", at(2026, 12, 31), None, None, 0, []),
    # positive alerts need no answer and are not counted
    ("P1", "PL4", "positive", at(2026, 12, 2), None, None, 0, []),
    # a looked-after child's case (South): answered the next day, in time
    ("A7", "LA1", "concern", at(2026, 12, 9), at(2026, 12, 10), None, 0, []),
]
THEMES = {"A1": "drift_and_delay", "A2": "report_late", "A3": "drift_and_delay",
          "P1": "plan_quality", "A7": "statutory_duty"}  # fmt: skip

# Periods in care: (case, entered_on, left_on, IRO)
CARE = [
    ("LA1", date(2026, 10, 1), None, "iro2"),
    ("LA2", date(2025, 1, 1), date(2026, 11, 15), "iro1"),  # left before the period
    ("LA3", date(2026, 11, 1), None, "iro1"),
]
# Looked-after reviews in timescale (held as `scheduler.timescales` says: held_on, or its date
# come and not stood down): LA1 from 1 Oct: V5 20 Nov (first, due Thu 29 Oct: late, before
# the period), V1 2 Dec (second, due 20 Feb) and V2 16 Dec (due 2 Jun) in time; LA3 from 1 Nov:
# V3 22 Dec (first, due Fri 27 Nov) late, V6 23 Dec (its date has come) in time
# Looked-after reviews: (id, case, scheduled_for, status, held_on, reason, decisions, record)
REVIEWS = [
    # held Wed 2 Dec: decisions by Wed 9 Dec 18:00 (in, on the minute); record by Mon 4 Jan
    # 18:00 (20 working days over Fri 25, Mon 28 Dec and Fri 1 Jan), in on 30 Dec: in time
    ("V1", "LA1", at(2026, 12, 2), "held", date(2026, 12, 2), None,
     at(2026, 12, 9, 18, 0), at(2026, 12, 30, 18, 0)),
    # held, but no held_on: the export has not said when, so no decisions or record are owed
    # (as the IRO's obligations are derived); it counts as held for the timescale
    ("V2", "LA1", at(2026, 12, 16), "held", None, None, None, None),
    # held Tue 22 Dec: decisions due Thu 31 Dec 18:00, in at 09:00; record not yet due
    ("V3", "LA3", at(2026, 12, 22), "scheduled", date(2026, 12, 22), None,
     at(2026, 12, 31, 9, 0), None),
    # cancelled: owes nothing
    ("V4", "LA1", at(2026, 12, 21), "cancelled", None, "family_unable", None, None),
    # before the period
    ("V5", "LA1", at(2026, 11, 20), "held", date(2026, 11, 20), None, None, None),
    # no held_on: owes no decisions or record; its date has come, so held for the timescale
    ("V6", "LA3", at(2026, 12, 23), "scheduled", None, None, None, None),
]

# (case, plan_start, plan_end, 9-month review logged on)
PLANS = [
    ("PL1", date(2026, 3, 31), None, None),  # 9 months on 31 Dec: counts, not reviewed
    ("PL2", date(2026, 1, 15), None, date(2026, 10, 20)),  # 9m, reviewed
    ("PL6", date(2025, 1, 1), date(2026, 11, 30), None),  # ended before: not open
    ("PL7", date(2026, 4, 1), None, None),  # 9 months on 1 Jan 2027: not yet
    ("PL3", date(2025, 6, 30), None, date(2026, 4, 1)),  # 18 months on 30 Dec
    ("PL4", date(2024, 12, 31), None, None),  # 24 months on 31 Dec
    ("PL5", date(2026, 10, 1), None, None),  # open, under 9 months
    ("PL8", date(2025, 2, 28), date(2026, 12, 31), None),  # ends on the last day: not open
]

# (recipient, status, created_at)
NOTIFICATIONS = [
    ("sw1", FAILED, at(2026, 12, 5)),  # North: failed in the period
    ("sw2", FAILED, at(2026, 11, 20)),  # before the period: not counted
    ("sw2", PENDING, at(2026, 12, 20)),  # South: held, sw2 has no chat
    ("sw1", SENT, at(2026, 12, 20)),  # sent: nothing to report
]

EXPECTED = {
    NORTH: Figures(
        team=NORTH,
        rcpc=Rate(1, 3),
        icpc=Rate(1, 1),
        qa=Rate(1, 2),
        qa_raised=3,
        qa_stages=(1, 0, 0, 0),
        plans_open=3,
        plans_9=2,
        plans_9_reviewed=1,
        plans_18=0,
        plans_24=0,
        notifications_failed=1,
        notifications_held=0,
        stood_down=Rate(1, 5),  # S1 of R1, R2, R3, I1, S1
        stood_down_reasons=(("not_quorate", 1),),
        family_records=Rate(3, 4),  # R1, R3, I1 in time; R2 late
        lac_decisions=Rate(1, 1),  # V3
        lac_records=Rate(0, 0),  # V3's not yet due
        children_in_care=1,  # LA3 (LA2 left in November)
        lac_reviews=Rate(1, 2),  # V3 late, V6 in time
        icpc_held=Rate(1, 1),  # I1
        rcpc_held=Rate(0, 2),  # R2, R3
        alerts_by_service=(("cp", "concern", 3),),
        alerts_by_theme=(("drift_and_delay", "concern", 1), ("not_given", "concern", 1),
                         ("report_late", "concern", 1)),
    ),
    SOUTH: Figures(
        team=SOUTH,
        rcpc=Rate(1, 2),
        icpc=Rate(0, 1),
        qa=Rate(3, 4),
        qa_raised=4,
        qa_stages=(2, 2, 2, 1),
        plans_open=3,
        plans_9=2,
        plans_9_reviewed=1,
        plans_18=2,
        plans_24=1,
        notifications_failed=0,
        notifications_held=1,
        stood_down=Rate(1, 4),  # S2 of R4, R7, I2, S2
        stood_down_reasons=(("worker_absent", 1),),
        family_records=Rate(0, 2),  # R4 never sent, R7 late; I2 not yet due
        lac_decisions=Rate(1, 1),  # V1 (V2 has no held_on, V4 cancelled, V5 before)
        lac_records=Rate(1, 1),  # V1
        children_in_care=1,  # LA1
        lac_reviews=Rate(2, 2),  # V1, V2
        icpc_held=Rate(0, 1),  # I2
        rcpc_held=Rate(1, 1),  # R7
        qa_positive=1,  # P1
        alerts_by_service=(("cp", "concern", 3), ("cp", "positive", 1), ("lac", "concern", 1)),
        alerts_by_theme=(("drift_and_delay", "concern", 1), ("not_given", "concern", 2),
                         ("plan_quality", "positive", 1), ("statutory_duty", "concern", 1)),
    ),
    SERVICE: Figures(
        team=SERVICE,
        rcpc=Rate(2, 5),
        icpc=Rate(1, 2),
        qa=Rate(4, 6),
        qa_raised=7,
        qa_stages=(3, 2, 2, 1),
        plans_open=6,
        plans_9=4,
        plans_9_reviewed=2,
        plans_18=2,
        plans_24=1,
        notifications_failed=1,
        notifications_held=1,
        stood_down=Rate(2, 9),
        stood_down_reasons=(("not_quorate", 1), ("worker_absent", 1)),
        family_records=Rate(3, 6),
        lac_decisions=Rate(2, 2),
        lac_records=Rate(1, 1),
        children_in_care=2,
        lac_reviews=Rate(3, 4),
        icpc_held=Rate(1, 2),
        rcpc_held=Rate(1, 3),
        qa_positive=1,
        alerts_by_service=(("cp", "concern", 6), ("cp", "positive", 1), ("lac", "concern", 1)),
        alerts_by_theme=(("drift_and_delay", "concern", 2), ("not_given", "concern", 3),
                         ("plan_quality", "positive", 1), ("report_late", "concern", 1),
                         ("statutory_duty", "concern", 1)),
    ),
}


def hand_caseload() -> Caseload:
    """The caseload as the plain rows the pure functions take."""
    team = {"sw1": NORTH, "sw2": SOUTH}
    return Caseload(
        conferences=tuple(
            ConferenceRow(cid, kind, when, got, CASES[case][1], "iro1", CASES[case][0],
                          case_ref=case, record_sent_at=RECORD_SENT.get(cid),
                          strategy_on=STRATEGY.get(cid),
                          status="held" if cid in HELD_IDS else "scheduled")
            for cid, case, kind, when, got in CONFERENCES
        )
        + tuple(
            ConferenceRow(
                cid,
                "RCPC",
                when,
                None,
                CASES[case][1],
                "iro1",
                CASES[case][0],
                reason if status == "cancelled" else chat_reason,
                case_ref=case,
            )
            for cid, case, when, status, reason, _chat, chat_reason in STOOD_DOWN
        ),
        alerts=tuple(
            AlertRow(
                aid,
                raised,
                min((m for m in (resp, closed) if m), default=None),
                max([stage, *history]),
                CASES[case][1],
                "iro1",
                CASES[case][0],
                kind,
                THEMES.get(aid),
                "lac" if case.startswith("LA") else "cp",
            )
            for aid, case, kind, raised, resp, closed, stage, history in ALERTS
        ),
        plans=tuple(
            PlanRow(case, start, end, reviewed, CASES[case][1], "iro1", CASES[case][0])
            for case, start, end, reviewed in PLANS
        ),
        notifications=tuple(
            NotificationRow(who, status, created, status == PENDING, team[who])
            for who, status, created in NOTIFICATIONS
            if status in (FAILED, PENDING)
        ),
        care=tuple(
            CareRow(case, entered, left, CASES[case][1], iro, CASES[case][0])
            for case, entered, left, iro in CARE
        ),
        reviews=tuple(
            ReviewRow(rid, case, when, held_on, decided, recorded,
                      reason if status == "cancelled" else None,
                      "iro2" if case == "LA1" else "iro1", CASES[case][1], CASES[case][0],
                      status)
            for rid, case, when, status, held_on, reason, decided, recorded in REVIEWS
        ),
        staff=(StaffRow("iro1", "Ira Olu", "iro", "IRO"), StaffRow("iro2", "Bo Ek", "iro", "IRO")),
    )


def test_the_figures_match_the_hand_computation_per_team_and_for_the_service() -> None:
    result = figures_by_team(hand_caseload(), RULES, start=START, end=END, now=NOW)
    assert [f.team for f in result] == [NORTH, SOUTH, SERVICE]
    for figures in result:
        assert figures == EXPECTED[figures.team], figures.team


def test_one_team_can_be_asked_for_alone() -> None:
    result = figures_by_team(hand_caseload(), RULES, start=START, end=END, now=NOW, team=SOUTH)
    assert result == [EXPECTED[SOUTH]]


@pytest.mark.parametrize(
    ("conference", "days", "deadline"),
    [
        (at(2026, 12, 10), 3, at(2026, 12, 7, 18)),  # Thu -> Mon
        (at(2026, 12, 29), 3, at(2026, 12, 22, 18)),  # across Christmas bank holidays
        (at(2026, 12, 16, 14), 1, at(2026, 12, 15, 18)),  # ICPC: the day before
        (at(2026, 12, 14), 1, at(2026, 12, 11, 18)),  # Monday -> Friday
        # BST: Thu 4 Jun 2026 10:00 local; due Mon 1 Jun 18:00 BST = 17:00 UTC
        (datetime(2026, 6, 4, 9, 0, tzinfo=UTC), 3, datetime(2026, 6, 1, 17, 0, tzinfo=UTC)),
    ],
)
def test_a_report_is_due_at_close_of_day_n_working_days_before(
    conference: datetime, days: int, deadline: datetime
) -> None:
    assert report_deadline(conference, days, RULES) == deadline


@pytest.mark.parametrize(
    ("raised", "deadline"),
    [
        (at(2026, 12, 1), at(2026, 12, 8, 18)),
        (at(2026, 12, 18, 11), at(2026, 12, 29, 18)),
        (at(2026, 12, 31), at(2027, 1, 8, 18)),
    ],
)
def test_a_concern_must_be_answered_by_close_of_the_fifth_working_day(
    raised: datetime, deadline: datetime
) -> None:
    assert qa_deadline(raised, RULES) == deadline


def test_a_report_whose_deadline_has_not_passed_is_not_counted_yet() -> None:
    row = ConferenceRow("R", "RCPC", at(2026, 12, 10), None)
    assert report_rate([row], "RCPC", RULES, now=at(2026, 12, 7, 17, 0)) == Rate(0, 0)
    assert report_rate([row], "RCPC", RULES, now=at(2026, 12, 7, 18, 0)) == Rate(0, 1)


def test_an_empty_period_has_no_percentage_rather_than_zero() -> None:
    assert Rate().pct is None
    assert Rate().show() == "–"
    assert Rate(1, 4).show() == "25% (1/4)"


def test_months_are_added_with_the_end_of_month_clamped() -> None:
    assert add_months(date(2026, 5, 31), 9) == date(2027, 2, 28)
    assert add_months(date(2026, 3, 31), 9) == date(2026, 12, 31)
    assert add_months(date(2027, 1, 1), -12) == date(2026, 1, 1)


def test_the_weekly_series_buckets_by_the_week_of_the_conference_and_the_alert() -> None:
    points = weekly_series(hand_caseload(), RULES, now=NOW, last_week=date(2026, 12, 28), weeks=5)
    assert [p.week_start for p in points] == [
        date(2026, 11, 30),
        date(2026, 12, 7),
        date(2026, 12, 14),
        date(2026, 12, 21),
        date(2026, 12, 28),
    ]
    # week of 30 Nov: R6 (late) only; A1, A3, A4 raised then
    assert points[0].rcpc == Rate(0, 1) and points[0].qa == Rate(2, 3)
    # week of 7 Dec: R1 in, R2 late; A5 and A7 in time
    assert points[1].rcpc == Rate(1, 2) and points[1].qa == Rate(2, 2)
    # week of 14 Dec: R4 late, R7 in; I1 in; A2 late
    assert (points[2].rcpc, points[2].icpc, points[2].qa) == (Rate(1, 2), Rate(1, 1), Rate(0, 1))
    assert points[3] == type(points[3])(date(2026, 12, 21))
    # week of 28 Dec: R3 late, I2 late; A6 not yet due
    assert (points[4].rcpc, points[4].icpc, points[4].qa) == (Rate(0, 1), Rate(0, 1), Rate(0, 0))


# ---------------------------------------------------------------- the loader, both backends


def seed(session: Session) -> None:
    """The same caseload as database records, shaped as the engine leaves them."""
    session.add_all(
        [
            Staff(staff_id="sw1", name="Sam Wu", role="social_worker", team=NORTH, chat_id=11),
            Staff(staff_id="sw2", name="Kim Lee", role="social_worker", team=SOUTH),
            Staff(staff_id="iro1", name="Ira Olu", role="iro", team="IRO", chat_id=13),
            Staff(staff_id="iro2", name="Bo Ek", role="iro", team="IRO"),
        ]
    )
    for case, entered, left, iro in CARE:
        session.add(CarePeriod(period_id=f"{case}@{entered}", case_ref=case, entered_on=entered,
                               left_on=left, social_worker_id=CASES[case][1], iro_id=iro))
    for rid, case, when, status, held_on, reason, decided, recorded in REVIEWS:
        session.add(Review(review_id=rid, case_ref=case, scheduled_for=when, status=status,
                           held_on=held_on, reason=reason, decisions_uploaded_at=decided,
                           record_uploaded_at=recorded))  # fmt: skip
    for case, start, end, reviewed in PLANS:
        session.add(
            Plan(
                case_ref=case,
                social_worker_id=CASES[case][1],
                chair_id="iro1",
                plan_start=start,
                plan_end=end,
            )
        )
        if reviewed is not None:
            session.add(
                _obligation(
                    PLAN_REVIEW,
                    case,
                    case,
                    "iro1",
                    status=DONE,
                    done_at=datetime(reviewed.year, reviewed.month, reviewed.day, 11, tzinfo=UTC),
                )
            )
    # a cancelled review (plan ended) is not a logged review
    session.add(_obligation(PLAN_REVIEW, "PL4", "PL4", "iro1", status=CANCELLED))
    for cid, case, kind, when, got in CONFERENCES:
        session.add(
            Conference(
                conference_id=cid,
                case_ref=case,
                kind=kind,
                scheduled_for=when,
                report_received_at=got,
                chair_id="iro1",
                record_sent_at=RECORD_SENT.get(cid),
                strategy_on=STRATEGY.get(cid),
                status="held" if cid in HELD_IDS else "scheduled",
            )
        )
    for cid, case, when, status, reason, chat, chat_reason in STOOD_DOWN:
        session.add(
            Conference(
                conference_id=cid, case_ref=case, kind="RCPC", scheduled_for=when,
                chair_id="iro1", status=status, reason=reason, stood_down_for=chat,
                stood_down_reason=chat_reason,
            )
        )  # fmt: skip
    session.flush()
    for aid, case, kind, raised, resp, closed, stage, history in ALERTS:
        session.add(
            QaAlert(
                alert_id=aid,
                case_ref=case,
                raised_by="iro1",
                raised_at=raised,
                kind=kind,
                theme=THEMES.get(aid),
                responded_at=resp,
                closed_at=closed,
            )
        )
        if kind != "concern":
            continue
        ob = _obligation(QA_RESPONSE, aid, case, CASES[case][1], stage=stage)
        session.add(ob)
        session.flush()
        for to_stage in history:
            session.add(
                AuditEvent(
                    at=raised,
                    actor="system",
                    action="escalated",
                    obligation_id=ob.id,
                    case_ref=case,
                    detail=json.dumps({"from_stage": to_stage - 1, "to_stage": to_stage}),
                )
            )
    for n, (who, status, created) in enumerate(NOTIFICATIONS):
        session.add(
            Notification(
                key=f"n{n}",
                recipient_id=who,
                kind="reminder",
                text="x",
                status=status,
                not_before=created,
                next_attempt_at=created,
                created_at=created,
            )
        )
    session.commit()


def _obligation(kind: str, subject: str, case: str, owner: str, **extra: object) -> Obligation:
    values: dict[str, object] = {
        "kind": kind,
        "subject_id": subject,
        "case_ref": case,
        "owner_id": owner,
        "due_at": at(2026, 12, 1),
        "status": OPEN,
        "created_at": at(2026, 11, 1),
        "updated_at": at(2026, 11, 1),
    }
    values.update(extra)
    return Obligation(**values)  # type: ignore[arg-type]


def test_the_loader_reads_the_same_figures_from_the_database(database: Database) -> None:
    with Session(database.engine) as session:
        seed(session)
    with Session(database.engine) as session:
        rows = load_caseload(session, POLICY, start=START, end=END, now=NOW, history=True)
    result = figures_by_team(rows, RULES, start=START, end=END, now=NOW)
    assert {f.team: f for f in result} == EXPECTED


def _in_care(session: Session, case_ref: str, entered_on: date, held: list[date]) -> None:
    """A child in care since `entered_on`, with a review held on each of `held`."""
    session.add(CarePeriod(period_id=f"{case_ref}@{entered_on}", case_ref=case_ref,
                           social_worker_id="sw1", iro_id="iro1", entered_on=entered_on))
    for n, day in enumerate(held):
        session.add(Review(review_id=f"{case_ref}-r{n}", case_ref=case_ref, iro_id="iro1",
                           scheduled_for=at(day.year, day.month, day.day), held_on=day))


def test_ten_years_of_a_childs_meetings_are_read_as_the_few_their_timescales_count_from(
    database: Database,
) -> None:
    """A child in care since 2016 and on a plan since 2021 has a meeting in December: the
    report keeps the reviews and conferences its verdict counts from, not the decade, and
    nothing of a plan or a period in care that ended years ago."""
    with Session(database.engine) as session:
        held = [date(2016, 1, 25), date(2016, 4, 20)]
        while held[-1] < date(2026, 6, 1):
            held.append(add_months(held[-1], 6))
        held.append(date(2026, 12, 8))  # in the period, on the day after the last plus 6 months
        _in_care(session, "LAC-9", date(2016, 1, 4), held)
        # A child whose reviews lapsed: the last two held were in 2022 and 2023, long before
        # the 13 months the report looks at first.
        lapsed = [date(2016, 1, 25), date(2020, 5, 4), date(2022, 5, 3), date(2023, 5, 2),
                  date(2026, 12, 9)]  # fmt: skip
        _in_care(session, "LAC-8", date(2016, 1, 4), lapsed)
        # A child in care since September 2025: its first review was before those 13 months,
        # and only with it is November's the second (the next due 6 months on, not 3).
        newly = [date(2025, 9, 22), date(2025, 11, 20), date(2026, 12, 10)]
        _in_care(session, "LAC-7", date(2025, 9, 1), newly)
        # One dated before the period but held in it does not count towards the two before:
        # August's is needed to make November's the second (and the second is not late).
        late = [date(2025, 8, 20), date(2025, 11, 10), date(2026, 12, 21)]
        _in_care(session, "LAC-6", date(2025, 8, 4), late)
        session.add(Review(review_id="LAC-6-moved", case_ref="LAC-6", iro_id="iro1",
                           scheduled_for=at(2026, 11, 25), held_on=date(2026, 12, 3)))  # fmt: skip
        session.add(Plan(case_ref="CP-9", social_worker_id="sw1", chair_id="c1",
                         plan_start=date(2021, 3, 1)))  # fmt: skip
        confs = [("ICPC", date(2021, 3, 1))] + [
            ("RCPC", add_months(date(2021, 6, 1), 6 * k)) for k in range(12)
        ]  # 1 Jun 2021 ... 1 Jun 2026, then 1 Dec 2026 in the period
        for n, (kind, day) in enumerate(confs):
            session.add(Conference(conference_id=f"c{n}", case_ref="CP-9", kind=kind,
                                   scheduled_for=at(day.year, day.month, day.day),
                                   strategy_on=date(2021, 2, 15) if kind == "ICPC" else None))
        session.add(Plan(case_ref="CP-OLD", social_worker_id="sw1", chair_id="c1",
                         plan_start=date(2017, 1, 2), plan_end=date(2018, 1, 2)))  # fmt: skip
        session.add(CarePeriod(period_id="LAC-OLD@2017-01-02", case_ref="LAC-OLD",
                               social_worker_id="sw1", iro_id="iro1",
                               entered_on=date(2017, 1, 2), left_on=date(2018, 1, 2)))  # fmt: skip
        session.commit()
    with Session(database.engine) as session:
        rows = load_caseload(session, POLICY, start=START, end=END, now=NOW, history=True)
    assert sorted(r.held_on for r in rows.reviews if r.case_ref == "LAC-9") == [
        held[-3], held[-2], date(2026, 12, 8),
    ]  # the last two before (the next is counted from the last, the 3rd on), December's
    assert sorted(r.held_on for r in rows.reviews if r.case_ref == "LAC-8") == lapsed[-3:]
    assert sorted(r.held_on for r in rows.reviews if r.case_ref == "LAC-7") == newly
    assert sorted(r.held_on for r in rows.reviews if r.case_ref == "LAC-6") == sorted(
        [*late, date(2026, 12, 3)]
    )
    assert sorted(c.conference_id for c in rows.conferences) == ["c0", "c11", "c12"]
    assert [p.case_ref for p in rows.plans] == ["CP-9"]
    assert sorted(k.case_ref for k in rows.care) == ["LAC-6", "LAC-7", "LAC-8", "LAC-9"]
    [figures] = [f for f in figures_by_team(rows, RULES, start=START, end=END, now=NOW)
                 if f.team == SERVICE]  # fmt: skip
    assert (figures.lac_reviews, figures.rcpc_held) == (Rate(2, 5), Rate(1, 1))  # late: 6, 7, 8
