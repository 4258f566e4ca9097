"""The policy file: defaults from the seeds, and refusals that name the key."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from scheduler.policy import Policy, PolicyError, load_policy, parse_policy

FULL_EXAMPLE = """
timezone = "Europe/London"
closure_days = [2026-12-29, 2026-12-30]

[delivery]
working_hours = "09:00-17:00"
digest_time = "08:30"
scan_interval_seconds = 30

[rcpc_report]
due_working_days_before = 5
remind_working_days_before_due = [2, 0]

[icpc_report]
due_working_days_before = 2
remind_working_days_before_due = [1, 0]

[qa_alert]
response_working_days = 5
ladder = ["team_manager", "head_of_service"]

[plan_review]
after_months = 9
also_flag_months = [18, 24]
"""


def test_defaults_come_from_the_seeds() -> None:
    policy = load_policy(None)
    assert policy.rcpc_report.due_working_days_before == 3
    assert policy.icpc_report.due_working_days_before == 1
    assert policy.qa_alert.response_working_days == 5
    assert policy.qa_alert.ladder == (
        "team_manager",
        "service_manager",
        "head_of_service",
        "assistant_director",
    )
    assert policy.plan_review.after_months == 9
    assert policy.plan_review.also_flag_months == (18, 24)
    assert policy.hours().start == time(8, 0)
    assert policy.closure_days == ()


def test_a_full_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "policy.toml"
    path.write_text(FULL_EXAMPLE)
    policy = load_policy(path)
    assert policy.rcpc_report.due_working_days_before == 5
    assert policy.qa_alert.ladder == ("team_manager", "head_of_service")
    assert not policy.calendar().is_working_day(date(2026, 12, 29))
    assert policy.hours().end == time(17, 0)


def test_one_key_overrides_and_the_rest_keep_defaults() -> None:
    policy = parse_policy({"rcpc_report": {"due_working_days_before": 5}})
    assert policy.rcpc_report.due_working_days_before == 5
    assert policy.rcpc_report.remind_working_days_before_due == (2, 0)
    assert policy.icpc_report == Policy().icpc_report


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"colour": "red"}, "colour: unknown key"),
        ({"delivery": {"working_hour": "08:00-18:00"}}, "delivery.working_hour: unknown key"),
        ({"rcpc_report": {"due_working_days_before": -1}}, "rcpc_report.due_working_days_before"),
        (
            {"rcpc_report": {"due_working_days_before": "three"}},
            "rcpc_report.due_working_days_before",
        ),
        ({"qa_alert": {"ladder": ["team_manager", "chief_wizard"]}}, "qa_alert.ladder"),
        ({"qa_alert": {"ladder": []}}, "qa_alert.ladder"),
        ({"qa_alert": {"response_working_days": 0}}, "qa_alert.response_working_days"),
        ({"delivery": {"working_hours": "18:00-08:00"}}, "delivery.working_hours"),
        ({"delivery": {"digest_time": "half past eight"}}, "delivery.digest_time"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"closure_days": ["not a date"]}, "closure_days"),
        ({"plan_review": {"after_months": 0}}, "plan_review.after_months"),
    ],
)
def test_bad_values_are_refused_with_the_key_named(data: dict[str, object], named: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy(data)
    assert named in str(raised.value)


def test_a_missing_or_broken_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[delivery\n")
    with pytest.raises(PolicyError, match="not valid TOML"):
        load_policy(broken)


# --- issue 12: conferences held in time, looked-after reviews, weighted caseloads ---------


def test_the_new_sections_default_to_the_seeds_and_the_regulations() -> None:
    policy = Policy()
    assert (policy.cp_conference.icpc_within_working_days,
            policy.cp_conference.first_review_within_months,
            policy.cp_conference.then_every_months,
            policy.cp_conference.record_within_working_days) == (15, 3, 6, 5)  # fmt: skip
    lac = policy.lac_review
    assert (lac.first_within_working_days, lac.first_within_days, lac.second_within_months,
            lac.then_every_months, lac.report_due_working_days_before,
            lac.decisions_within_working_days, lac.record_within_working_days) == (
        20, 0, 3, 6, 1, 5, 20,
    )  # fmt: skip
    assert (policy.caseload.weights.cp, policy.caseload.weights.lac) == (1.0, 1.5)
    assert policy.caseload.handbook_range == (50, 70)


def test_the_looked_after_service_uses_the_qa_ladder_unless_it_has_its_own() -> None:
    assert Policy().ladder("lac") == Policy().ladder("cp") == Policy().qa_alert.ladder
    own = parse_policy({"lac_review": {"ladder": ["team_manager", "head_of_service"]}})
    assert own.ladder("lac") == ("team_manager", "head_of_service")
    assert own.ladder("cp") == Policy().qa_alert.ladder


def test_the_first_review_may_be_counted_in_calendar_days_like_leicestershire_s_28() -> None:
    policy = parse_policy({"lac_review": {"first_within_days": 28}})
    assert policy.lac_review.first_within_days == 28


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"lac_review": {"first_within_days": 28, "first_within_working_days": 20}},
         "invalid policy: lac_review: set first_within_working_days or first_within_days, "
         "not both"),
        ({"lac_review": {"ladder": ["team_manager", "team_manager"]}},
         "invalid policy: lac_review.ladder: 'team_manager' appears more than once"),
        ({"lac_review": {"record_within_working_days": 0}},
         "invalid policy: lac_review.record_within_working_days: Input should be greater than"),
        ({"cp_conference": {"icpc_within_working_days": "fifteen"}},
         "invalid policy: cp_conference.icpc_within_working_days:"),
        ({"caseload": {"weights": {"cp": 1, "lac": 1.5, "lac_plus": 2}}},
         "invalid policy: caseload.weights.lac_plus: unknown key"),
        ({"caseload": {"handbook_range": [70, 50]}},
         "invalid policy: caseload.handbook_range: must be [low, high] with low <= high"),
    ],
)
def test_a_bad_value_in_the_new_sections_is_refused_naming_its_key(
    data: dict[str, object], message: str
) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(data)
    assert str(caught.value).startswith(message)
