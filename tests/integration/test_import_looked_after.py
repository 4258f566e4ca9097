"""Importing children in care and their reviews, and the conferences' new columns (issue 12)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlmodel import Session, select

from handlers.csvfile import ImportRejected
from handlers.importing import ImportReport, import_csv
from models.tables import CarePeriod, Conference, Obligation, QaAlert, Review
from models.vocabulary import (
    LAC_DECISIONS,
    LAC_KINDS,
    LAC_RECORD,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    OPEN,
)
from scheduler.loaders import load_unallocated
from scheduler.policy import Policy
from scheduler.sync import sync_obligations
from tests.conftest import Database
from tests.integration.test_import import PLANS_CSV, STAFF_CSV, csv_of, errors_of

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CARE_HEADER = "case_ref,social_worker_id,iro_id,entered_on,left_on"
CARE_CSV = csv_of(
    CARE_HEADER,
    "LAC-1,SW1,IRO1,2026-01-05,2026-03-31",  # a first period in care
    "LAC-1,SW1,IRO1,2026-06-01,",  # the same child back in care: a second period
    "LAC-2,SW2,IRO2,2026-10-12,",
)
REVIEWS_HEADER = (
    "review_id,case_ref,scheduled_for,iro_id,status,held_on,decisions_uploaded_at,"
    "record_uploaded_at"
)


@pytest.fixture
def session(database: Database) -> Any:
    """A session on the test database with the staff file imported."""
    with Session(database.engine, expire_on_commit=False) as s:
        import_csv(s, "staff", STAFF_CSV, Policy(), now=NOW)
        s.commit()
        yield s


def load(session: Session, kind: str, data: str) -> ImportReport:
    """Import and commit, as `irobot import` does."""
    report = import_csv(session, kind, data, Policy(), now=NOW)
    session.commit()
    return report


def test_each_period_in_care_is_its_own_row_and_reimporting_changes_nothing(
    session: Session,
) -> None:
    assert load(session, "care", CARE_CSV).summary() == "care: 3 created, 0 updated, 0 unchanged"
    periods = session.exec(select(CarePeriod).order_by(CarePeriod.period_id)).all()
    assert [(p.period_id, p.entered_on, p.left_on) for p in periods] == [
        ("LAC-1@2026-01-05", date(2026, 1, 5), date(2026, 3, 31)),
        ("LAC-1@2026-06-01", date(2026, 6, 1), None),
        ("LAC-2@2026-10-12", date(2026, 10, 12), None),
    ]
    assert load(session, "care", CARE_CSV).summary() == "care: 0 created, 0 updated, 3 unchanged"
    left = CARE_CSV.replace("LAC-2,SW2,IRO2,2026-10-12,", "LAC-2,SW2,IRO2,2026-10-12,2026-11-20")
    assert load(session, "care", left).summary() == "care: 0 created, 1 updated, 2 unchanged"
    session.expire_all()
    period = session.get(CarePeriod, "LAC-2@2026-10-12")
    assert period is not None and period.left_on == date(2026, 11, 20)


def test_reviews_are_stored_with_their_times_in_utc(session: Session) -> None:
    load(session, "care", CARE_CSV)
    reviews = csv_of(
        REVIEWS_HEADER,
        "R1,LAC-2,2026-11-06 10:00,IRO2,held,2026-11-06,2026-11-10 15:00,",
        "R2,LAC-1,2026-12-03T14:00,,,,,",
    )
    assert load(session, "reviews", reviews).summary() == (
        "reviews: 2 created, 0 updated, 0 unchanged"
    )
    session.expire_all()
    held, booked = session.get(Review, "R1"), session.get(Review, "R2")
    assert held is not None and booked is not None
    assert (held.status, held.held_on, held.decisions_uploaded_at, held.record_uploaded_at) == (
        "held", date(2026, 11, 6), datetime(2026, 11, 10, 15, 0, tzinfo=UTC), None,
    )  # fmt: skip
    assert (booked.status, booked.iro_id, booked.scheduled_for) == (
        "scheduled", None, datetime(2026, 12, 3, 14, 0, tzinfo=UTC),
    )  # fmt: skip


def test_conferences_carry_the_strategy_discussion_and_the_record_sent_to_the_family(
    session: Session,
) -> None:
    load(session, "plans", PLANS_CSV)
    load(session, "conferences", csv_of(
        "conference_id,case_ref,kind,scheduled_for,strategy_on,record_sent_at",
        "C1,CP-1,ICPC,2026-03-02 10:00,2026-02-16,2026-03-06 12:00",
        "C2,CP-1,RCPC,2026-06-01 10:00,,",
    ))  # fmt: skip
    session.expire_all()
    icpc, rcpc = session.get(Conference, "C1"), session.get(Conference, "C2")
    assert icpc is not None and rcpc is not None
    assert (icpc.strategy_on, icpc.record_sent_at) == (
        date(2026, 2, 16), datetime(2026, 3, 6, 12, 0, tzinfo=UTC),
    )  # fmt: skip
    assert (rcpc.strategy_on, rcpc.record_sent_at) == (None, None)


def test_an_alert_may_be_about_a_child_in_care(session: Session) -> None:
    load(session, "care", CARE_CSV)
    load(session, "alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind,theme",
                                   "A1,LAC-2,IRO2,2026-11-02 11:00,concern,report_late"))
    alert = session.get(QaAlert, "A1")
    assert alert is not None and alert.case_ref == "LAC-2"


@pytest.mark.parametrize(
    ("kind", "data", "expected"),
    [
        ("care", csv_of(CARE_HEADER, "LAC-1,SW1,IRO1,2026-01-05,2025-12-31"),
         ["line 2: left_on is before entered_on"]),
        ("care", csv_of(CARE_HEADER, "LAC-1,SW1,TM1,2026-01-05,"),
         ["line 2: iro_id 'TM1' is a team_manager, not a iro"]),
        ("care", csv_of(CARE_HEADER, "LAC-1,SW1,IROX,2026-01-05,"),
         ["line 2: iro_id 'IROX' is inactive"]),
        ("care", csv_of(CARE_HEADER, "LAC-1,SW1,IRO1,2026-01-05,", "LAC-1,SW1,IRO1,2026-01-05,"),
         ["line 2: duplicate period (case_ref and entered_on) 'LAC-1@2026-01-05' (also on "
          "line 3)",
          "line 3: duplicate period (case_ref and entered_on) 'LAC-1@2026-01-05' (also on "
          "line 2)"]),
        ("reviews", csv_of("review_id,case_ref,scheduled_for", "R1,LAC-9,2026-12-03 10:00"),
         ["line 2: case_ref 'LAC-9' is not a known child in care (import care first)"]),
        ("reviews", csv_of("review_id,case_ref,scheduled_for,status,held_on",
                           "R1,LAC-1,2026-12-03 10:00,cancelled,2026-12-03"),
         ["line 2: held_on is given for a cancelled review"]),
        ("reviews", csv_of("review_id,case_ref,scheduled_for,iro_id",
                           "R1,LAC-1,2026-12-03 10:00,SW1"),
         ["line 2: iro_id 'SW1' is a social_worker, not a iro"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for,strategy_on",
                               "C1,CP-1,RCPC,2026-12-03 10:00,2026-11-20"),
         ["line 2: strategy_on is for an ICPC (the strategy discussion before it)"]),
        ("conferences", csv_of("conference_id,case_ref,kind,scheduled_for,strategy_on",
                               "C1,CP-1,ICPC,2026-12-03 10:00,2026-12-04"),
         ["line 2: strategy_on is after the conference"]),
        ("alerts", csv_of("alert_id,case_ref,raised_by,raised_at,kind",
                          "A1,LAC-9,IRO1,2026-11-02 11:00,concern"),
         ["line 2: case_ref 'LAC-9' is not a known plan or child in care (import plans or "
          "care first)"]),
    ],
)
def test_each_bad_row_is_refused_with_one_clear_reason(
    kind: str, data: str, expected: list[str]
) -> None:
    from dataclasses import replace

    from tests.integration.test_import import REFS

    refs = replace(REFS, cared=frozenset({"LAC-1"}))
    assert errors_of(kind, data, refs) == expected


def test_a_bad_row_in_a_care_file_writes_nothing(session: Session) -> None:
    bad = CARE_CSV + "LAC-3,SW1,IRO1,not-a-date,\n"
    with pytest.raises(ImportRejected) as caught:
        import_csv(session, "care", bad, Policy(), now=NOW)
    session.rollback()
    assert [str(e) for e in caught.value.errors] == [
        "line 5: entered_on: 'not-a-date' is not a date (expected YYYY-MM-DD)"
    ]
    assert session.exec(select(CarePeriod)).all() == []


def test_children_in_care_before_any_staff_are_refused_with_what_to_do(
    database: Database,
) -> None:
    with Session(database.engine) as session, pytest.raises(ImportRejected) as caught:
        import_csv(session, "care", CARE_CSV, Policy(), now=NOW)
    assert caught.value.file_error == (
        "no staff imported yet: import staff first (irobot import staff FILE.csv), then care"
    )


def _obligations(session: Session) -> list[tuple[str, str, str, str, str | None]]:
    """Every obligation of the looked-after side, as (kind, subject, owner, status, outcome)
    (but the next reviews: `tests/integration/test_meetings.py`)."""
    session.expire_all()
    rows = session.exec(select(Obligation).order_by(Obligation.kind, Obligation.subject_id)).all()
    return [(o.kind, o.subject_id, o.owner_id, o.status, o.outcome) for o in rows
            if o.kind in LAC_KINDS and o.kind != LAC_REVIEW_DUE]  # fmt: skip


def test_importing_reviews_derives_the_report_and_the_iros_uploads_through_the_one_engine(
    session: Session,
) -> None:
    """Care and reviews reach derivation: the worker's report, the IRO's decisions and record;
    closed history (already uploaded) is not stored as rows."""
    load(session, "care", CARE_CSV)
    reviews = csv_of(
        REVIEWS_HEADER,
        "R1,LAC-2,2026-11-06 10:00,IRO2,held,2026-11-06,2026-11-10 15:00,",
        "R2,LAC-1,2026-12-03T14:00,,,,,",
    )
    report = load(session, "reviews", reviews)
    # Two here, and LAC-2's next review (R1 held its first, closing that one's row).
    assert report.sync is not None and (report.sync.created, report.sync.closed) == (3, 1)
    assert _obligations(session) == [
        (LAC_RECORD, "R1", "IRO2", OPEN, None),
        (LAC_REPORT, "R2", "SW1", OPEN, None),
    ]
    uploaded = reviews.replace("2026-11-10 15:00,", "2026-11-10 15:00,2026-11-20 09:00")
    assert load(session, "reviews", uploaded).sync.closed == 1  # type: ignore[union-attr]
    assert _obligations(session) == [
        (LAC_RECORD, "R1", "IRO2", "done", "uploaded"),
        (LAC_REPORT, "R2", "SW1", OPEN, None),
    ]


def test_db_resync_keeps_the_looked_after_obligations(session: Session) -> None:
    """`irobot db resync` (a full sync) derives from care and reviews too: nothing moves."""
    load(session, "care", CARE_CSV)
    load(session, "reviews", csv_of(REVIEWS_HEADER, "R2,LAC-1,2026-12-03T14:00,,,,,"))
    result = sync_obligations(session, Policy(), now=NOW)
    assert (result.created, result.moved, result.closed) == (0, 0, 0)
    assert _obligations(session) == [(LAC_REPORT, "R2", "SW1", OPEN, None)]


def test_a_child_in_care_whose_worker_left_is_unallocated_like_a_plan(session: Session) -> None:
    """A leaver named in `care`: the case is listed unallocated; its report stays the leaver's
    item, routed to their last team manager by the one stand-in rule."""
    load(session, "staff", csv_of("staff_id,name,role,manager_id,team,active",
                                  "SW9,Sid Gone,social_worker,TM1,North,false"))  # fmt: skip
    load(session, "care", csv_of(CARE_HEADER, "LAC-9,SW9,IRO1,2026-06-01,"))
    load(session, "reviews", csv_of(REVIEWS_HEADER, "R9,LAC-9,2026-12-03T14:00,,,,,"))
    assert [(u.case_ref, u.worker_id, u.worker_name) for u in load_unallocated(session)] == [
        ("LAC-9", "SW9", "Sid Gone")
    ]
    assert [(u.case_ref) for u in load_unallocated(session, ["SW1"])] == []
    assert (LAC_REPORT, "R9", "SW9", OPEN, None) in _obligations(session)


def test_records_first_seen_long_after_their_deadline_are_listed_to_confirm_not_escalated(
    session: Session,
) -> None:
    """Years of held reviews in a first `reviews` import (after go-live): backlog to confirm;
    a review held last week is chased as usual."""
    later = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)  # go-live was NOW, 23 Nov 2026
    load(session, "care", CARE_CSV)
    reviews = csv_of(
        REVIEWS_HEADER,
        "R-OLD,LAC-2,2026-12-01 10:00,IRO2,held,2026-12-01,,",  # both due long before `later`
        "R-NEW,LAC-2,2027-01-26 10:00,IRO2,held,2027-01-26,,",  # decisions due Tue 2 Feb
    )
    import_csv(session, "reviews", reviews, Policy(), now=later)
    session.commit()
    session.expire_all()
    rows = session.exec(select(Obligation).where(Obligation.case_ref == "LAC-2")).all()
    owed = [(o.kind, o.subject_id, o.backlog) for o in rows if o.kind != LAC_REVIEW_DUE]
    assert sorted(owed) == [
        (LAC_DECISIONS, "R-NEW", False),
        (LAC_DECISIONS, "R-OLD", True),
        (LAC_RECORD, "R-NEW", False),
        (LAC_RECORD, "R-OLD", True),
    ]
