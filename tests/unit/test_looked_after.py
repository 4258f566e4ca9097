"""Looked-after reviews and the chair's own records: what the records imply, by worked examples."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from models.records import AlertRecord, CareRecord, ConferenceRecord, PlanRecord, ReviewRecord
from models.vocabulary import (
    CANCELLED,
    CP,
    DONE,
    FAMILY_RECORD,
    HELD,
    LAC,
    LAC_DECISIONS,
    LAC_RECORD,
    LAC_REPORT,
    LAC_REVIEW_DUE,
    LEFT_CARE,
    MISSED,
    N_DUE_TODAY,
    N_REMINDER,
    OPEN,
    QA_RESPONSE,
    RECORD_SENT,
    STOOD_DOWN,
    SUBMITTED,
    UPLOADED,
)
from scheduler import deadlines
from scheduler.derive import ObligationSpec, derive_looked_after, derive_obligations
from scheduler.items import Item
from scheduler.org import Org, Person
from scheduler.policy import Policy, parse_policy
from scheduler.rules import decide
from tests.auxil.records import DEFAULT_CHAIN, local_day_time, london

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


# --- the rules: nudges and the manager's message, as for conference reports ------------------

ORG = Org.of(Person(sid, f"Name {sid}", role, mgr, "North") for sid, role, mgr in DEFAULT_CHAIN)


def _item(kind: str, due: datetime, owner: str, meeting: datetime, **kw: object) -> Item:
    return Item(id=7, kind=kind, subject_id="R-1", case_ref="LAC-1", owner_id=owner, due_at=due,
                chair_id="IRO1", conference_at=meeting, **kw)  # type: ignore[arg-type]  # fmt: skip


REPORT_NUDGES = [
    ("the working day before it is due", london(2026, 12, 8, 8), N_REMINDER, "remind:1"),
    ("the morning it is due", london(2026, 12, 9, 8), N_DUE_TODAY, "remind:0"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "now", "kind", "what"), REPORT_NUDGES)
def test_the_social_worker_is_nudged_about_the_review_report_like_a_conference_report(
    case: str, now: datetime, kind: str, what: str
) -> None:
    """Review Thu 10 Dec: due Wed 9 Dec 6pm; nudges Tue 8 and Wed 9 at 8am."""
    due = london(2026, 12, 9, 18)
    item = _item(LAC_REPORT, due, "SW1", london(2026, 12, 10, 10))
    decision = decide(item, ORG, POLICY, now)
    (note,) = decision.notifications
    assert (note.recipient_id, note.kind) == ("SW1", kind) and f":{what}:" in note.key
    assert "review Thu 10 Dec, 10am" in note.message.text and "the IRO" in note.message.text
    labels = [label for row in note.message.keyboard or [] for label, _ in row]
    assert labels == ["Submitted", "Will be late", "Need help"]


def test_a_missing_review_report_goes_to_the_team_manager_and_the_iro_can_stand_it_down() -> None:
    """At the deadline: the worker, ONE team manager message, the IRO told with a stand-down."""
    due = london(2026, 12, 9, 18)
    item = _item(LAC_REPORT, due, "SW1", london(2026, 12, 10, 10))
    decision = decide(item, ORG, POLICY, due)
    by = {n.recipient_id: n for n in decision.notifications}
    assert set(by) == {"SW1", "TM1", "IRO1"}
    assert decision.stage_change is not None and decision.stage_change.to_stage == 1
    iro_labels = [label for row in by["IRO1"].message.keyboard or [] for label, _ in row]
    tm_labels = [label for row in by["TM1"].message.keyboard or [] for label, _ in row]
    assert iro_labels == ["Stand down review"]
    assert "Review to be rearranged" in tm_labels
    assert "If the review cannot go ahead" in by["IRO1"].message.text


UPLOAD_NUDGES = [
    ("decisions, 2 working days before", LAC_DECISIONS, london(2026, 12, 7, 8), "IRO1",
     N_REMINDER, "Uploaded"),
    ("decisions, the morning due", LAC_DECISIONS, london(2026, 12, 9, 8), "IRO1", N_DUE_TODAY,
     "Uploaded"),
    ("record, the morning due", LAC_RECORD, london(2026, 12, 9, 8), "IRO1", N_DUE_TODAY,
     "Uploaded"),
    ("family record, the morning due", FAMILY_RECORD, london(2026, 12, 9, 8), "IRO1",
     N_DUE_TODAY, "Sent"),
]  # fmt: skip


@pytest.mark.parametrize(("case", "kind", "now", "to", "note_kind", "done"), UPLOAD_NUDGES)
def test_the_chair_is_nudged_about_their_own_record_with_one_tap_to_close_it(
    case: str, kind: str, now: datetime, to: str, note_kind: str, done: str
) -> None:
    """Policy `remind_working_days_before_due` = [2, 0]: Mon 7 and Wed 9 for Wed 9 Dec."""
    item = _item(kind, london(2026, 12, 9, 18), "IRO1", london(2026, 12, 2, 10))
    (note,) = decide(item, ORG, POLICY, now).notifications
    assert (note.recipient_id, note.kind) == (to, note_kind)
    labels = [label for row in note.message.keyboard or [] for label, _ in row]
    assert labels == [done, "Will be late"]
    assert "held Wed 2 Dec" in note.message.text


def test_an_overdue_record_goes_to_the_iros_manager_once() -> None:
    """The IRO's line manager (here the safeguarding manager) is the team manager stage."""
    due = london(2026, 12, 9, 18)
    item = _item(LAC_RECORD, due, "IRO1", london(2026, 12, 2, 10))
    decision = decide(item, ORG, POLICY, due)
    assert sorted(n.recipient_id for n in decision.notifications) == ["IRO1", "SGM1"]
    assert decision.stage_change is not None and decision.stage_change.holder_id == "SGM1"
    again = decide(replace(item, stage=1), ORG, POLICY, due + timedelta(days=3))
    assert again.notifications == () and again.next_action_at is None


def test_a_record_promised_for_a_day_is_nudged_that_morning() -> None:
    """Will be late with a date: that morning the IRO, the working day after their manager."""
    item = _item(LAC_DECISIONS, london(2026, 12, 9, 18), "IRO1", london(2026, 12, 2, 10),
                 stage=1, expected_on=date(2026, 12, 11), late_reason="workload")  # fmt: skip
    (note,) = decide(item, ORG, POLICY, london(2026, 12, 11, 8)).notifications
    assert note.recipient_id == "IRO1" and "Uploaded" in note.message.text
    (late,) = decide(item, ORG, POLICY, london(2026, 12, 14, 8)).notifications[1:]
    assert late.recipient_id == "SGM1"


@pytest.mark.parametrize(
    ("kind", "days", "first"),
    [
        (LAC_REPORT, 1, date(2026, 12, 23)),  # review Tue 29 Dec: due Thu 24, nudged Wed 23
        (LAC_DECISIONS, 5, date(2026, 12, 29)),  # held Tue 22: due Thu 31, nudged Tue 29
        (LAC_RECORD, 20, date(2027, 1, 20)),  # held Tue 22: due Fri 22 Jan, nudged Wed 20
        (FAMILY_RECORD, 5, date(2026, 12, 29)),
    ],
)
def test_first_nudges_skip_christmas_and_are_at_opening_hours(
    kind: str, days: int, first: date
) -> None:
    """First action = opening of hours on the first nudge day, across Christmas 2026."""
    cal, hours = POLICY.calendar(), POLICY.hours()
    if kind == LAC_REPORT:
        due = deadlines.report_due_on(date(2026, 12, 29), days, cal, hours)
    else:
        due = deadlines.upload_due_on(date(2026, 12, 22), days, cal, hours)
    at = deadlines.first_action_at(kind, due, POLICY, cal, hours)
    assert local_day_time(at) == (first, time(8))


# --- QA alerts on a looked-after child's case -------------------------------------------

LAC_LADDER = parse_policy({"lac_review": {"ladder": ["service_manager", "assistant_director"]}})


@pytest.mark.parametrize(
    ("policy", "service", "holder", "stages"),
    [
        (POLICY, LAC, "TM1", 4),  # no ladder of its own: the QA ladder
        (LAC_LADDER, LAC, "SM1", 2),  # the looked-after service's own ladder
        (LAC_LADDER, CP, "TM1", 4),  # a CP case keeps the QA ladder
    ],
)
def test_an_unanswered_concern_climbs_the_ladder_of_its_service(
    policy: Policy, service: str, holder: str, stages: int
) -> None:
    """Policy.ladder("lac"): a looked-after case climbs its service's ladder, if it has one."""
    due = london(2026, 12, 8, 18)
    item = Item(id=9, kind=QA_RESPONSE, subject_id="A-1", case_ref="LAC-1", owner_id="SW1",
                due_at=due, stage_due_at=due, raised_by="IRO1", service=service)  # fmt: skip
    decision = decide(item, ORG, policy, due)
    assert decision.stage_change is not None and decision.stage_change.holder_id == holder
    to_holder = next(n for n in decision.notifications if n.recipient_id == holder)
    assert f"stage 1 of {stages}" in to_holder.message.text


def test_a_concern_on_a_child_in_care_is_the_care_periods_social_workers() -> None:
    """No CP plan: the child in care's (latest period's) social worker answers it."""
    alert = AlertRecord("A-1", "LAC-1", "IRO1", london(2026, 12, 1, 10), "concern")
    later = CareRecord("LAC-1", "sw2", "iro1", date(2026, 9, 1))
    specs = derive_obligations([], [], [alert], POLICY, now=NOW, care=[later, CARE])
    spec = specs[(QA_RESPONSE, "A-1")]
    assert (spec.owner_id, spec.status) == ("sw2", OPEN)
    assert derive_obligations([], [], [alert], POLICY, now=NOW) == {}
