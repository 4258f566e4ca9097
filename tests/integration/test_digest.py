"""Manager digests: what goes in (pure, table-tested) and when they are enqueued (database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import Session, select

from models.tables import Conference, Notification, Obligation, Plan, Staff
from models.vocabulary import (
    DONE,
    ICPC_REPORT,
    OPEN,
    PLAN_FLAG,
    PLAN_REVIEW,
    QA_RESPONSE,
    RCPC_REPORT,
)
from scheduler.calendar import WorkingCalendar
from scheduler.digest import build_digest, digest_pass, when
from scheduler.items import Item
from scheduler.org import Person
from scheduler.policy import Policy
from tests.conftest import Database

CAL = WorkingCalendar.england()
TODAY = date(2026, 12, 8)  # Tuesday
TM = Person("tm1", "Tina Manning", "team_manager", "sm1", "North")
SG = Person("sg1", "Sue Guard", "safeguarding_manager", "hos1", "IRO")


def at(y: int, m: int, d: int, hh: int = 18, mm: int = 0) -> datetime:
    """December is GMT: local wall-clock equals UTC."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


def item(
    n: int, kind: str = RCPC_REPORT, due: datetime | None = None, **extra: object
) -> Item:
    values: dict[str, object] = {
        "id": n,
        "subject_id": "",
        "kind": kind,
        "case_ref": f"CP-{n:04d}",
        "owner_id": "sw1",
        "owner_name": "Sam Wu",
        "due_at": due or at(2026, 12, 1),
    }
    values.update(extra)
    return Item(**values)  # type: ignore[arg-type]


def digest_text(manager: Person, items: list[Item], **kw: object) -> list[str]:
    return [m.text for m in build_digest(manager, items, today=TODAY, cal=CAL, **kw)]  # type: ignore[arg-type]


def test_nothing_late_means_no_digest_at_all() -> None:
    assert build_digest(TM, [], today=TODAY, cal=CAL) == []


def test_items_are_grouped_by_kind_in_a_fixed_order_oldest_first_with_counts() -> None:
    items = [
        item(1, QA_RESPONSE, at(2026, 12, 4), stage=2, owner_name="Kim Lee"),
        item(2, RCPC_REPORT, at(2026, 12, 7)),
        item(3, RCPC_REPORT, at(2026, 12, 2)),
        item(4, ICPC_REPORT, at(2026, 12, 7), stage=1, expected_on=date(2026, 12, 9)),
    ]
    (text,) = digest_text(TM, items)
    assert text.startswith("Digest for Tina Manning, Tue 8 Dec\n4 to follow up (2 escalated)")
    rcpc, icpc, qa = text.index("RCPC reports overdue: 2"), text.index("ICPC"), text.index("QA")
    assert rcpc < icpc < qa
    assert text.index("CP-0003") < text.index("CP-0002")  # oldest first
    assert "• CP-0003, Sam Wu\n  due Wed 2 Dec, 6pm · 4 working days late" in text
    assert (
        "ICPC reports overdue: 1\n• CP-0004, Sam Wu\n  due Mon 7 Dec, 6pm · 1 working day late"
        in text
    )
    assert "escalated · expected Wed 9 Dec" in text
    assert "• CP-0001, Kim Lee\n  due Fri 4 Dec, 6pm · 2 working days late · stage 2" in text


def test_lateness_counts_working_days_not_calendar_days() -> None:
    # due Thu 24 Dec; Fri 25 and Mon 28 are bank holidays, so Tue 29 is one working day on
    items = [item(1, due=at(2026, 12, 24))]
    messages = build_digest(TM, items, today=date(2026, 12, 29), cal=CAL)
    assert "1 working day late" in messages[0].text


def test_a_long_group_shows_the_ten_oldest_and_points_to_team_for_the_rest() -> None:
    items = [item(n, due=at(2026, 11, 1) + timedelta(hours=n)) for n in range(1, 26)]
    (text,) = digest_text(TM, items)
    assert "RCPC reports overdue: 25" in text
    assert text.count("• ") == 10
    assert "CP-0010" in text and "CP-0011" not in text
    assert text.rstrip().endswith("+15 more, see /team")


def test_a_digest_too_long_for_telegram_is_split_and_every_part_fits() -> None:
    long_name = "Alexandra Bartholomew-Montgomery-Featherstonehaugh"
    items = [
        item(k * 100 + n, kind, at(2026, 11, 2) + timedelta(days=n), owner_name=long_name)
        for k, kind in enumerate((RCPC_REPORT, ICPC_REPORT, QA_RESPONSE, PLAN_REVIEW))
        for n in range(1, 15)
    ]
    texts = digest_text(SG, items, limit=1500)
    assert len(texts) > 1
    assert all(len(t) <= 1500 for t in texts)
    assert texts[0].startswith(f"Digest for Sue Guard, Tue 8 Dec (1/{len(texts)})")
    joined = "\n".join(texts)
    for heading in ("RCPC", "ICPC", "QA concerns", "9-month reviews"):
        assert heading in joined
    assert joined.count("• ") == 40
    full = digest_text(SG, items)
    assert all(len(t) <= 4096 for t in full)


def test_plans_reaching_18_or_24_months_go_to_safeguarding_managers_for_four_weeks() -> None:
    flags = [
        item(1, PLAN_FLAG, at(2026, 11, 30, 8), subject_id="CP-0009:18", case_ref="CP-0009"),
        item(2, PLAN_FLAG, at(2026, 12, 1, 8), subject_id="CP-0009:24", case_ref="CP-0009"),
        # reached 18 months on Mon 9 Nov: 21 working days before Tue 8 Dec, listed no more
        item(3, PLAN_FLAG, at(2026, 11, 9, 8), subject_id="CP-0003:18", case_ref="CP-0003"),
        # reached 24 months on Tue 10 Nov: exactly 20 working days ago, still listed
        item(4, PLAN_FLAG, at(2026, 11, 10, 8), subject_id="CP-0004:24", case_ref="CP-0004"),
    ]
    assert build_digest(TM, flags, today=TODAY, cal=CAL) == []
    (text,) = digest_text(SG, flags)
    assert "Plans that reached 18 or 24 months lately: 2" in text
    assert "• CP-0009, chair Sam Wu\n  24 months on Tue 1 Dec" in text
    assert "CP-0004" in text and "CP-0003" not in text
    assert "2 plans newly at 18 or 24 months" in text


def test_a_one_item_digest_reads_exactly_like_this_with_no_child_details() -> None:
    assert digest_text(TM, [item(1)]) == [
        "Digest for Tina Manning, Tue 8 Dec\n"
        "1 to follow up (0 escalated)\n"
        "\n"
        "RCPC reports overdue: 1\n"
        "• CP-0001, Sam Wu\n"
        "  due Tue 1 Dec, 6pm · 5 working days late"
    ]


def test_deadlines_read_in_the_house_style_in_local_time() -> None:
    assert when(at(2026, 12, 7, 18), CAL) == "Mon 7 Dec, 6pm"
    assert when(datetime(2026, 6, 1, 8, 30, tzinfo=UTC), CAL) == "Mon 1 Jun, 9:30am"
    assert when(at(2025, 6, 27, 7), CAL, TODAY) == "Fri 27 Jun 2025, 8am"  # BST


def test_an_item_escalated_before_its_deadline_says_escalated_not_late() -> None:
    (text,) = digest_text(TM, [item(1, QA_RESPONSE, at(2026, 12, 10), stage=3)])
    assert "escalated, stage 3, due Thu 10 Dec, 6pm" in text
    assert "not yet due" not in text and "days late" not in text


# ---------------------------------------------------------------- digest_pass on a database

TUESDAY = at(2026, 12, 8, 9, 0)
MONDAY = at(2026, 12, 7, 9, 0)
STAFF = [
    ("ad1", "Ada Director", "assistant_director", None, "Directorate"),
    ("hos1", "Hal Head", "head_of_service", "ad1", "Safeguarding"),
    ("sm1", "Sid Service", "service_manager", "hos1", "Locality"),
    ("tm1", "Tina Manning", "team_manager", "sm1", "North"),
    ("tm2", "Tom Marsh", "team_manager", "sm1", "South"),
    ("sw1", "Sam Wu", "social_worker", "tm1", "North"),
    ("sw2", "Kim Lee", "social_worker", "tm2", "South"),
    ("sg1", "Sue Guard", "safeguarding_manager", "hos1", "IRO"),
    ("iro1", "Ira Olu", "iro", "sg1", "IRO"),
]


def _ob(n: int, kind: str, owner: str, due: datetime, **extra: object) -> Obligation:
    values: dict[str, object] = {
        "kind": kind,
        "subject_id": extra.pop("subject_id", f"S{n}"),
        "case_ref": f"CP-{n:04d}",
        "owner_id": owner,
        "due_at": due,
        "status": OPEN,
        "created_at": at(2026, 9, 1),
        "updated_at": at(2026, 9, 1),
    }
    values.update(extra)
    return Obligation(**values)  # type: ignore[arg-type]


def seed(database: Database, *, unlinked: tuple[str, ...] = ()) -> None:
    with Session(database.engine) as session:
        for n, (sid, name, role, manager, team) in enumerate(STAFF):
            session.add(
                Staff(
                    staff_id=sid,
                    name=name,
                    role=role,
                    manager_id=manager,
                    team=team,
                    chat_id=None if sid in unlinked else 1000 + n,
                )
            )
        session.add_all(
            [
                _ob(1, RCPC_REPORT, "sw1", at(2026, 12, 2)),  # late
                _ob(2, QA_RESPONSE, "sw2", at(2026, 12, 1), stage=2),  # escalated
                _ob(3, PLAN_REVIEW, "iro1", at(2026, 11, 20, 8)),  # late
                _ob(4, PLAN_FLAG, "iro1", at(2026, 12, 1, 8), subject_id="CP-0004:18"),
                _ob(5, RCPC_REPORT, "sw1", at(2026, 12, 10)),  # not due yet
                _ob(6, RCPC_REPORT, "sw2", at(2026, 12, 1), status=DONE),  # done
            ]
        )
        session.commit()


def digests(database: Database) -> dict[str, str]:
    with Session(database.engine) as session:
        rows = session.exec(select(Notification).where(Notification.kind == "digest")).all()
    return {r.recipient_id: r.text for r in rows}


def test_each_manager_gets_one_digest_of_their_own_span(database: Database, policy: Policy) -> None:
    seed(database)
    with Session(database.engine) as session:
        created = digest_pass(session, policy, now=TUESDAY)
        session.commit()
    got = digests(database)
    assert created == 6 == len(got)
    assert "CP-0001" in got["tm1"] and "CP-0002" not in got["tm1"]
    assert "CP-0002" in got["tm2"] and "CP-0001" not in got["tm2"]
    assert all(c in got["sm1"] for c in ("CP-0001", "CP-0002")) and "CP-0003" not in got["sm1"]
    for boss in ("hos1", "ad1"):
        assert all(c in got[boss] for c in ("CP-0001", "CP-0002", "CP-0003"))
        assert "CP-0004" not in got[boss]
    assert "CP-0003" in got["sg1"] and "CP-0004" in got["sg1"] and "CP-0001" not in got["sg1"]
    assert all("CP-0005" not in t and "CP-0006" not in t for t in got.values())
    with Session(database.engine) as session:
        keys = set(session.exec(select(Notification.key)).all())
    assert "digest:tm1:2026-12-08" in keys


def test_running_the_pass_again_the_same_day_sends_nothing_twice(
    database: Database, policy: Policy
) -> None:
    seed(database)
    for minutes in (0, 1, 300):
        with Session(database.engine) as session:
            digest_pass(session, policy, now=TUESDAY + timedelta(minutes=minutes))
            session.commit()
    assert len(digests(database)) == 6
    with Session(database.engine) as session:
        assert session.exec(select(Notification)).all().__len__() == 6


@pytest.mark.parametrize(
    "moment",
    [
        at(2026, 12, 8, 8, 29),  # before the digest time
        at(2026, 12, 12, 9, 0),  # Saturday
        at(2026, 12, 28, 9, 0),  # bank holiday (Boxing Day substitute)
        at(2026, 12, 8, 18, 0),  # after closing: it would land beside tomorrow's
        at(2026, 12, 8, 23, 30),
    ],
)
def test_no_digest_before_the_digest_time_after_closing_or_on_a_non_working_day(
    database: Database, policy: Policy, moment: datetime
) -> None:
    seed(database)
    with Session(database.engine) as session:
        assert digest_pass(session, policy, now=moment) == 0


def test_managers_without_a_linked_chat_are_skipped(database: Database, policy: Policy) -> None:
    seed(database, unlinked=("tm1", "ad1"))
    with Session(database.engine) as session:
        digest_pass(session, policy, now=TUESDAY)
        session.commit()
    assert set(digests(database)) == {"tm2", "sm1", "hos1", "sg1"}


def test_the_first_working_day_of_the_week_also_brings_the_chart(
    database: Database, policy: Policy
) -> None:
    seed(database)
    with Session(database.engine) as session:
        session.add(
            Plan(case_ref="CP-0100", social_worker_id="sw1", chair_id="iro1",
                 plan_start=date(2026, 6, 1))
        )  # fmt: skip
        for n in range(6):
            when_ = at(2026, 10, 1, 10) + timedelta(weeks=n)
            session.add(
                Conference(conference_id=f"C{n}", case_ref="CP-0100", kind="RCPC",
                           scheduled_for=when_, report_received_at=when_ - timedelta(days=n))
            )  # fmt: skip
        session.commit()
        digest_pass(session, policy, now=MONDAY)
        session.commit()
    with Session(database.engine) as session:
        charts = session.exec(select(Notification).where(Notification.kind == "chart")).all()
    recipients = {c.recipient_id for c in charts}
    # sw1's managers, and the safeguarding line above iro1 (the chair); not tm2's team
    assert recipients == {"tm1", "sm1", "hos1", "ad1", "sg1"}
    chart = next(c for c in charts if c.recipient_id == "tm1")
    assert chart.key == "chart:tm1:2026-W50"
    assert chart.photo is not None and chart.photo.startswith(b"\x89PNG")
    assert "IRO caseloads" not in chart.text
    # the safeguarding manager's caption adds their IROs' weighted caseloads, in one line
    guard = next(c for c in charts if c.recipient_id == "sg1")
    assert guard.text.splitlines()[1] == (
        "IRO caseloads (weighted, Handbook 50-70): none of 1 over 70."
    )
    with Session(database.engine) as session:
        assert digest_pass(session, policy, now=MONDAY + timedelta(hours=1)) == 0


def test_no_chart_on_a_tuesday(database: Database, policy: Policy) -> None:
    seed(database)
    with Session(database.engine) as session:
        digest_pass(session, policy, now=TUESDAY)
        session.commit()
        assert not session.exec(select(Notification).where(Notification.kind == "chart")).all()


def test_the_chart_comes_on_tuesday_when_monday_is_a_bank_holiday(
    database: Database, policy: Policy
) -> None:
    seed(database)
    with Session(database.engine) as session:
        session.add(
            Plan(case_ref="CP-0100", social_worker_id="sw1", chair_id="iro1",
                 plan_start=date(2026, 6, 1))
        )  # fmt: skip
        session.add(
            Conference(conference_id="C1", case_ref="CP-0100", kind="ICPC",
                       scheduled_for=at(2026, 12, 16, 10), report_received_at=None)
        )  # fmt: skip
        session.commit()
        # Tue 29 Dec 2026 follows the Mon 28 Dec bank holiday
        digest_pass(session, policy, now=at(2026, 12, 29, 9, 0))
        session.commit()
        keys = set(session.exec(select(Notification.key)).all())
    assert "chart:tm1:2026-W53" in keys


def test_a_spent_chart_budget_leaves_the_other_charts_for_the_next_pass(
    database: Database, policy: Policy
) -> None:
    seed(database)
    with Session(database.engine) as session:
        session.add(
            Plan(case_ref="CP-0100", social_worker_id="sw1", chair_id="iro1",
                 plan_start=date(2026, 6, 1))
        )  # fmt: skip
        session.add(
            Conference(conference_id="C1", case_ref="CP-0100", kind="RCPC",
                       scheduled_for=at(2026, 11, 26, 10), report_received_at=None)
        )  # fmt: skip
        session.commit()
    counts = []
    for minutes in (0, 1, 2):
        with Session(database.engine) as session:
            digest_pass(session, policy, now=MONDAY + timedelta(minutes=minutes),
                        chart_budget_seconds=0.0)  # fmt: skip
            session.commit()
            charts = session.exec(select(Notification).where(Notification.kind == "chart")).all()
            counts.append(len(charts))
    assert counts == [1, 2, 3]
    assert len(digests(database)) == 6  # the digests all went on the first pass


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        # stage 1 of the QA ladder, its own window running to Mon 14 Dec: not late
        (
            {"stage": 1, "stage_due_at": at(2026, 12, 14)},
            "• CP-0001, Sam Wu\n  escalated, stage 1, due Mon 14 Dec, 6pm",
        ),
        # the stage holder's deadline is today: still not late
        (
            {"stage": 2, "stage_due_at": at(2026, 12, 8)},
            "• CP-0001, Sam Wu\n  escalated, stage 2, due Tue 8 Dec, 6pm",
        ),
        # the stage holder's own deadline passed: late relative to it, not the original
        (
            {"stage": 1, "stage_due_at": at(2026, 12, 4)},
            "• CP-0001, Sam Wu\n  due Fri 4 Dec, 6pm · 2 working days late · stage 1",
        ),
        # no stage deadline recorded: the original deadline
        ({"stage": 1}, "• CP-0001, Sam Wu\n  due Fri 30 Oct, 6pm · 27 working days late · stage 1"),
    ],
)
def test_an_escalated_concern_shows_its_current_stage_deadline_not_the_original(
    extra: dict[str, object], expected: str
) -> None:
    (text,) = digest_text(TM, [item(1, QA_RESPONSE, at(2026, 10, 30), **extra)])
    assert expected in text
    if "stage_due_at" in extra:
        assert "30 Oct" not in text


def test_escalated_concerns_are_ordered_by_the_deadline_their_holder_works_to() -> None:
    items = [
        item(1, QA_RESPONSE, at(2026, 10, 30), stage=2, stage_due_at=at(2026, 12, 14)),
        item(2, QA_RESPONSE, at(2026, 11, 20), stage=1, stage_due_at=at(2026, 12, 1)),
    ]
    (text,) = digest_text(TM, items)
    assert text.index("CP-0002") < text.index("CP-0001")


# ---------------------------------------------------------------- issue 15: a line is the state


def test_a_digest_line_says_what_already_happened_to_the_item() -> None:
    """Late with a reason and a date, help asked, chased by the manager (or their cover)."""
    from models.vocabulary import ACT_CHASED, ACT_LATE
    from scheduler.items import Act

    acts = (
        Act(ACT_LATE, "Sam Wu", at(2026, 12, 2, 9)),
        Act(ACT_CHASED, "Alex Brown", at(2026, 12, 7, 10), covering_for="Tina Manning"),
    )
    late = item(1, stage=1, late_reason="illness", expected_on=date(2026, 12, 9),
                help_requested_at=at(2026, 12, 1, 9), acts=acts)  # fmt: skip
    (text,) = digest_text(TM, [late])
    assert text.endswith(
        "• CP-0001, Sam Wu\n"
        "  due Tue 1 Dec, 6pm · 5 working days late · escalated · will be late (illness), "
        "expected Wed 9 Dec · help requested Tue 1 Dec · chased by Alex Brown (covering for Tina "
        "Manning) Mon 7 Dec"
    )


def test_a_digest_line_names_the_stage_acknowledged_and_a_cover_acting_for_the_owner() -> None:
    from models.vocabulary import ACT_ACKNOWLEDGED
    from scheduler.items import Act

    ack = Act(ACT_ACKNOWLEDGED, "Tina Manning", at(2026, 12, 7, 9), stage=1)
    acked = item(2, QA_RESPONSE, at(2026, 12, 10), stage=1, acknowledged_stage=1, acts=(ack,))
    (text,) = digest_text(TM, [acked], covers={"sw1": "Alex Brown"})
    assert text.endswith(
        "  escalated, stage 1, due Thu 10 Dec, 6pm · acknowledged at stage 1 by Tina Manning "
        "Mon 7 Dec · Alex Brown covering for Sam Wu"
    )


def test_an_item_stood_down_since_the_last_digest_gets_its_last_line() -> None:
    from models.vocabulary import ACT_STOOD_DOWN, CANCELLED
    from scheduler.items import Act

    act = Act(ACT_STOOD_DOWN, "Ira Olu", at(2026, 12, 7, 11), reason="not_quorate")
    stood = item(3, stage=1, status=CANCELLED, outcome="stood_down", acts=(act,))
    (text,) = digest_text(TM, [], stood_down=[stood])
    assert text == (
        "Digest for Tina Manning, Tue 8 Dec\n"
        "1 stood down\n"
        "\n"
        "Stood down since the last digest: 1\n"
        "• CP-0003, Sam Wu\n"
        "  RCPC stood down (not quorate) by Ira Olu Mon 7 Dec"
    )


def test_the_pass_reads_who_chased_and_what_was_stood_down_from_the_audit_trail(
    database: Database, policy: Policy
) -> None:
    """Chased by the manager's cover yesterday; a late report stood down yesterday morning."""
    from models.audit import record
    from models.vocabulary import ACT_CHASED, ACT_STOOD_DOWN, CANCELLED

    seed(database)
    with Session(database.engine) as session:
        late = session.exec(select(Obligation).where(Obligation.case_ref == "CP-0001")).one()
        stood = _ob(7, RCPC_REPORT, "sw1", at(2026, 12, 1), stage=1, status=CANCELLED,
                    outcome="stood_down", done_at=at(2026, 12, 7, 11))  # fmt: skip
        old = _ob(8, RCPC_REPORT, "sw1", at(2026, 11, 27), stage=1, status=CANCELLED,
                  outcome="stood_down", done_at=at(2026, 12, 4, 11))  # before the last digest
        session.add_all([stood, old])
        session.flush()
        record(session, at=at(2026, 12, 7, 10), actor="sm1", action=ACT_CHASED,
               obligation_id=late.id, case_ref="CP-0001", stage=1, covering_for="tm1")
        record(session, at=at(2026, 12, 7, 11), actor="iro1", action=ACT_STOOD_DOWN,
               obligation_id=stood.id, case_ref="CP-0007", stage=1, reason="not_quorate")
        digest_pass(session, policy, now=TUESDAY)
        session.commit()
    text = digests(database)["tm1"]
    assert "chased by Sid Service (covering for Tina Manning) Mon 7 Dec" in text
    assert (
        "Stood down since the last digest: 1\n"
        "• CP-0007, Sam Wu\n"
        "  RCPC stood down (not quorate) by Ira Olu Mon 7 Dec"
    ) in text
    assert "CP-0008" not in text
