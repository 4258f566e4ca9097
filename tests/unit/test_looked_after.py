"""Looked-after reviews and the chair's own records: what the records imply, by worked examples."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from models.records import CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.vocabulary import (
    CANCELLED,
    DONE,
    FAMILY_RECORD,
    HELD,
    LAC_DECISIONS,
    LAC_RECORD,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    LEFT_CARE,
    MISSED,
    OPEN,
    RECORD_SENT,
    STOOD_DOWN,
    SUBMITTED,
    UPLOADED,
)
from scheduler.derive import ObligationSpec, derive_looked_after, derive_obligations
from scheduler.policy import Policy
from tests.auxil.records import local_day_time, london

POLICY = Policy()
CHRISTMAS_CLOSURE = Policy(
    closure_days=(date(2026, 12, 29), date(2026, 12, 30), date(2026, 12, 31))
)
NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)
CARE = CareRecord("LAC-1", "sw1", "iro1", date(2025, 6, 2))


def _review(scheduled_for: datetime, **kw: object) -> ReviewRecord:
    return ReviewRecord("R-1", "LAC-1", scheduled_for, **kw)  # type: ignore[arg-type]


def _specs(review: ReviewRecord, policy: Policy = POLICY, care: CareRecord = CARE,
           now: datetime = NOW) -> dict[str, ObligationSpec]:  # fmt: skip
    specs = derive_looked_after([care], [review], policy, now=now)
    return {kind: spec for (kind, _), spec in specs.items()}


REPORT_DUE = [
    ("a Thursday review: Wednesday", london(2026, 12, 10, 10), POLICY, date(2026, 12, 9)),
    ("a Monday review: the Friday before", london(2026, 12, 14, 10), POLICY, date(2026, 12, 11)),
    ("after Easter 2027", london(2027, 3, 30, 10), POLICY, date(2027, 3, 25)),
    ("across Christmas 2026", london(2026, 12, 29, 10), POLICY, date(2026, 12, 24)),
    ("Christmas closure days", london(2027, 1, 4, 10), CHRISTMAS_CLOSURE, date(2026, 12, 24)),
    ("BST starts 29 Mar 2026", london(2026, 3, 30, 10), POLICY, date(2026, 3, 27)),
    ("BST ends 25 Oct 2026", london(2026, 10, 26, 10), POLICY, date(2026, 10, 23)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "review_at", "policy", "due_day"), REPORT_DUE)
def test_the_review_report_is_due_at_six_one_working_day_before(
    case: str, review_at: datetime, policy: Policy, due_day: date
) -> None:
    """Seed 004: the social worker's assessment is with the IRO 24 hours before the review."""
    spec = _specs(_review(review_at), policy, now=datetime(2026, 1, 5, tzinfo=UTC))[LAC_REPORT]
    assert (spec.owner_id, spec.status) == ("sw1", OPEN)
    assert local_day_time(spec.due_at) == (due_day, time(18))


UPLOADS_DUE = [
    ("held on a Wednesday", date(2026, 12, 2), POLICY, date(2026, 12, 9), date(2027, 1, 4)),
    ("held before Christmas", date(2026, 12, 22), POLICY, date(2026, 12, 31), date(2027, 1, 22)),
    ("Christmas closure days", date(2026, 12, 22), CHRISTMAS_CLOSURE, date(2027, 1, 6),
     date(2027, 1, 27)),
    ("across Easter 2027", date(2027, 3, 24), POLICY, date(2027, 4, 2), date(2027, 4, 23)),
    ("held on Good Friday 2027", date(2027, 3, 26), POLICY, date(2027, 4, 5), date(2027, 4, 26)),
    ("BST ends 25 Oct 2026", date(2026, 10, 23), POLICY, date(2026, 10, 30), date(2026, 11, 20)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "held_on", "policy", "decisions", "record"), UPLOADS_DUE)
def test_the_iros_decisions_and_record_are_due_5_and_20_working_days_after_the_review(
    case: str, held_on: date, policy: Policy, decisions: date, record: date
) -> None:
    """Seed 004: decisions uploaded within 5 working days, the full record within 20."""
    review = _review(london(held_on.year, held_on.month, held_on.day, 10), held_on=held_on,
                     status=HELD)  # fmt: skip
    specs = _specs(review, policy)
    for kind, day in ((LAC_DECISIONS, decisions), (LAC_RECORD, record)):
        spec = specs[kind]
        assert (spec.owner_id, spec.status) == ("iro1", OPEN)
        assert local_day_time(spec.due_at) == (day, time(18))


def test_a_review_not_yet_held_owes_no_decisions_or_record() -> None:
    """The IRO's own obligations start when the review is held."""
    assert set(_specs(_review(london(2026, 12, 10, 10)))) == {LAC_REPORT}


def test_the_reviews_own_iro_owns_the_uploads_over_the_period_in_care() -> None:
    """A review chaired by another IRO (cover, reallocation) is theirs to record."""
    review = _review(london(2026, 11, 2, 10), held_on=date(2026, 11, 2), iro_id="iro2")
    assert _specs(review)[LAC_RECORD].owner_id == "iro2"


CLOSES = [
    ("report received", {"report_received_at": datetime(2026, 12, 8, 12, tzinfo=UTC)},
     NOW, DONE, SUBMITTED),
    ("cancelled in the export", {"status": CANCELLED, "reason": "other"}, NOW, CANCELLED,
     STOOD_DOWN),
    ("stood down in chat for this date", {"stood_down_for": london(2026, 12, 10, 10),
     "stood_down_reason": "not_quorate"}, NOW, CANCELLED, STOOD_DOWN),
    ("held without it", {"held_on": date(2026, 12, 10), "status": HELD},
     datetime(2026, 12, 10, 15, tzinfo=UTC), CANCELLED, MISSED),
    ("the review has met", {}, datetime(2026, 12, 10, 11, tzinfo=UTC), CANCELLED, MISSED),
]  # fmt: skip


@pytest.mark.parametrize(("case", "fields", "now", "status", "outcome"), CLOSES)
def test_the_review_report_closes_with_its_record(
    case: str, fields: dict[str, object], now: datetime, status: str, outcome: str
) -> None:
    """Received, stood down, or the review went ahead: nothing left to chase."""
    spec = _specs(_review(london(2026, 12, 10, 10), **fields), now=now)[LAC_REPORT]
    assert (spec.status, spec.outcome) == (status, outcome)


def test_a_review_after_the_child_left_care_owes_no_report() -> None:
    """Leaving care ends the period: nothing more is owed for it."""
    left = CareRecord("LAC-1", "sw1", "iro1", date(2025, 6, 2), left_on=date(2026, 12, 4))
    spec = _specs(_review(london(2026, 12, 10, 10)), care=left)[LAC_REPORT]
    assert (spec.status, spec.outcome) == (CANCELLED, LEFT_CARE)


def test_uploads_close_when_the_export_says_they_are_on_the_case_system() -> None:
    """The case system's upload times close the IRO's obligations."""
    at = datetime(2026, 12, 3, 12, tzinfo=UTC)
    review = _review(london(2026, 12, 2, 10), held_on=date(2026, 12, 2), status=HELD,
                     decisions_uploaded_at=at)  # fmt: skip
    specs = _specs(review)
    decisions = specs[LAC_DECISIONS]
    assert (decisions.status, decisions.outcome) == (DONE, UPLOADED)
    assert specs[LAC_RECORD].status == OPEN


def test_a_review_of_a_child_not_in_care_owes_nothing() -> None:
    """No period in care, nobody to owe a report."""
    assert derive_looked_after([], [_review(london(2026, 12, 10, 10))], POLICY, now=NOW) == {}


def test_child_protection_records_alone_derive_what_they_did_before() -> None:
    """`care=` and `reviews=` default to empty: the CP derivation is unchanged."""
    plan = PlanRecord("CP-1", "sw1", "iro1", date(2026, 6, 1))
    conf = ConferenceRecord("C-1", "CP-1", "RCPC", london(2026, 12, 10, 10))
    alone = derive_obligations([plan], [conf], [], POLICY, now=NOW)
    both = derive_obligations([plan], [conf], [], POLICY, now=NOW, care=[CARE],
                              reviews=[_review(london(2026, 12, 10, 10))])  # fmt: skip
    assert both == {
        **alone,
        (LAC_REPORT, "R-1"): both[(LAC_REPORT, "R-1")],
        (LAC_REVIEW_DUE, "LAC-1>20250602"): both[(LAC_REVIEW_DUE, "LAC-1>20250602")],
    }  # the child's next review is owed too (`derive_meetings`)


FAMILY_DUE = [
    ("held on a Thursday", london(2026, 12, 10, 10), POLICY, date(2026, 12, 17)),
    ("held before Christmas", london(2026, 12, 21, 10), POLICY, date(2026, 12, 30)),
    ("Christmas closure days", london(2026, 12, 21, 10), CHRISTMAS_CLOSURE, date(2027, 1, 5)),
    ("BST ends 25 Oct 2026", london(2026, 10, 22, 10), POLICY, date(2026, 10, 29)),
]  # fmt: skip


@pytest.mark.parametrize(("case", "held_at", "policy", "due_day"), FAMILY_DUE)
def test_the_record_to_the_family_is_the_chairs_within_5_working_days_of_the_conference(
    case: str, held_at: datetime, policy: Policy, due_day: date
) -> None:
    """Seed 004: the conference record and plan reach the family within 5 working days."""
    plan = PlanRecord("CP-1", "sw1", "chair1", date(2026, 6, 1))
    conf = ConferenceRecord("C-1", "CP-1", "RCPC", held_at, status=HELD,
                            report_received_at=held_at)  # fmt: skip
    spec = derive_obligations([plan], [conf], [], policy, now=NOW)[(FAMILY_RECORD, "C-1")]
    assert (spec.owner_id, spec.status) == ("chair1", OPEN)
    assert local_day_time(spec.due_at) == (due_day, time(18))


def test_the_record_to_the_family_closes_when_the_export_says_it_was_sent() -> None:
    """`record_sent_at` in the conferences CSV closes it."""
    plan = PlanRecord("CP-1", "sw1", "chair1", date(2026, 6, 1))
    sent = datetime(2026, 12, 11, 12, tzinfo=UTC)
    conf = ConferenceRecord("C-1", "CP-1", "RCPC", london(2026, 12, 10, 10), chair_id="chair2",
                            status=HELD, record_sent_at=sent)  # fmt: skip
    spec = derive_obligations([plan], [conf], [], POLICY, now=NOW)[(FAMILY_RECORD, "C-1")]
    assert (spec.owner_id, spec.status, spec.outcome, spec.done_at) == (
        "chair2", DONE, RECORD_SENT, sent
    )


def test_a_conference_not_yet_held_owes_the_family_nothing_yet() -> None:
    """Only a held conference has a record to send."""
    plan = PlanRecord("CP-1", "sw1", "chair1", date(2026, 6, 1))
    conf = ConferenceRecord("C-1", "CP-1", "RCPC", london(2026, 12, 10, 10))
    assert (FAMILY_RECORD, "C-1") not in derive_obligations([plan], [conf], [], POLICY, now=NOW)
