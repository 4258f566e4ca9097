"""The local policy file (TOML): timescales with the seeds' defaults, validated on load."""

from __future__ import annotations

import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from models.vocabulary import LAC, Role
from scheduler.calendar import WorkingCalendar, WorkingHours

NonNegDays = Annotated[int, Field(ge=0, le=365)]
PosDays = Annotated[int, Field(ge=1, le=365)]
Months = Annotated[int, Field(ge=1, le=60)]


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the offending key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _parse_clock(value: str, key: str) -> time:
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{key} must be HH:MM, got {value!r}") from exc


class Delivery(_Strict):
    """When messages may reach phones."""

    working_hours: str = "08:00-18:00"
    digest_time: str = "08:30"
    scan_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 60

    @field_validator("working_hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        if value == "always":
            return value
        start, sep, end = value.partition("-")
        if not sep:
            raise ValueError('must be "HH:MM-HH:MM" or "always"')
        if _parse_clock(start, "start") >= _parse_clock(end, "end"):
            raise ValueError("start must be before end")
        return value

    @field_validator("digest_time")
    @classmethod
    def _digest(cls, value: str) -> str:
        _parse_clock(value, "digest_time")
        return value

    def hours(self) -> WorkingHours:
        """The quiet-hours window as a value object."""
        if self.working_hours == "always":
            return WorkingHours(start=None, end=None)
        start, _, end = self.working_hours.partition("-")
        return WorkingHours(start=_parse_clock(start, "start"), end=_parse_clock(end, "end"))

    def digest_clock(self) -> time:
        """Local time of the daily digest."""
        return _parse_clock(self.digest_time, "digest_time")


class ReportRule(_Strict):
    """When a conference report is due and when to nudge about it (RCPC defaults)."""

    due_working_days_before: NonNegDays = 3
    remind_working_days_before_due: tuple[NonNegDays, ...] = (2, 0)


class IcpcReportRule(ReportRule):
    """The Initial conference report: 1 working day before (seed 004)."""

    due_working_days_before: NonNegDays = 1
    remind_working_days_before_due: tuple[NonNegDays, ...] = (1, 0)


class QaAlertRule(_Strict):
    """The response window and the management ladder for a concern."""

    response_working_days: Annotated[int, Field(ge=1, le=365)] = 5
    ladder: tuple[Role, ...] = (
        "team_manager",
        "service_manager",
        "head_of_service",
        "assistant_director",
    )

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_ladder(value)


def _check_ladder(value: tuple[str, ...]) -> tuple[str, ...]:
    """At least one stage, each role once."""
    if not value:
        raise ValueError("needs at least one stage")
    repeated = sorted({role for role in value if value.count(role) > 1})
    if repeated:
        raise ValueError(f"{repeated[0]!r} appears more than once: a role may appear once")
    return value


class PlanReviewRule(_Strict):
    """The 9-month review and the longer-plan flags."""

    after_months: Annotated[int, Field(ge=1, le=120)] = 9
    also_flag_months: tuple[Annotated[int, Field(ge=1, le=240)], ...] = (18, 24)


class CpConferenceRule(_Strict):
    """Conferences held in time (Working Together; seeds 000-004) and the record to the family."""

    icpc_within_working_days: PosDays = 15  # of the strategy discussion
    first_review_within_months: Months = 3  # of the ICPC
    then_every_months: Months = 6
    record_within_working_days: PosDays = 5  # the record and plan to the family
    booked_working_days_before: NonNegDays = 10  # not booked by then: the chair and admin hear
    remind_working_days_before_due: tuple[NonNegDays, ...] = (2, 0)  # the record's nudges


class LacReviewRule(_Strict):
    """Looked-after reviews (reg. 33; seed 004: report 24 hours before, decisions in 5 working
    days, the record in 20) and, optionally, the looked-after service's own QA ladder."""

    first_within_working_days: PosDays = 20  # of entering care
    first_within_days: NonNegDays = 0  # calendar days instead (e.g. 28); 0: working days
    second_within_months: Months = 3
    then_every_months: Months = 6
    booked_working_days_before: NonNegDays = 10  # not booked by then: the IRO and admin hear
    report_due_working_days_before: NonNegDays = 1
    report_remind_working_days_before_due: tuple[NonNegDays, ...] = (1, 0)
    decisions_within_working_days: PosDays = 5
    record_within_working_days: PosDays = 20
    record_target_pct: Annotated[int, Field(ge=0, le=100)] = 95  # of records in time (seed 004)
    remind_working_days_before_due: tuple[NonNegDays, ...] = (2, 0)  # decisions and record
    ladder: tuple[Role, ...] = ()  # empty: the QA ladder of [qa_alert]

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return _check_ladder(value) if value else value

    @model_validator(mode="after")
    def _one_first_review_rule(self) -> LacReviewRule:
        both = {"first_within_working_days", "first_within_days"} <= self.model_fields_set
        if both and self.first_within_days:
            raise ValueError(
                "set first_within_working_days or first_within_days, not both"
            )
        return self


class CaseloadWeights(_Strict):
    """How much one case counts on an IRO's caseload (seed 004: looked-after 1.5, CP 1)."""

    cp: Annotated[float, Field(ge=0, le=10)] = 1.0
    lac: Annotated[float, Field(ge=0, le=10)] = 1.5


class CaseloadRule(_Strict):
    """Weighted caseloads per IRO, against the IRO Handbook's range (50-70)."""

    weights: CaseloadWeights = CaseloadWeights()
    handbook_range: tuple[Annotated[int, Field(ge=0, le=1000)], ...] = (50, 70)

    @field_validator("handbook_range")
    @classmethod
    def _range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) != 2 or value[0] > value[1]:
            raise ValueError("must be [low, high] with low <= high, e.g. [50, 70]")
        return value


class AuditRule(_Strict):
    """How long the audit trail is kept before `irobot audit purge` may remove whole months."""

    retention_months: Annotated[int, Field(ge=1, le=1200)] = 84


class Policy(_Strict):
    """Every timescale the engine uses; defaults from the seeds (INTERFACE.md)."""

    timezone: str = "Europe/London"
    closure_days: tuple[date, ...] = ()
    delivery: Delivery = Delivery()
    rcpc_report: ReportRule = ReportRule()
    icpc_report: IcpcReportRule = IcpcReportRule()
    qa_alert: QaAlertRule = QaAlertRule()
    plan_review: PlanReviewRule = PlanReviewRule()
    cp_conference: CpConferenceRule = CpConferenceRule()
    lac_review: LacReviewRule = LacReviewRule()
    caseload: CaseloadRule = CaseloadRule()
    audit: AuditRule = AuditRule()

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    def calendar(self) -> WorkingCalendar:
        """The working-day calendar this policy implies."""
        return WorkingCalendar(
            closure_days=frozenset(self.closure_days), tz=ZoneInfo(self.timezone)
        )

    def hours(self) -> WorkingHours:
        """The quiet-hours window this policy implies."""
        return self.delivery.hours()

    def report_rule(self, conference_kind: str) -> ReportRule:
        """The rule for an ICPC or RCPC report."""
        return self.icpc_report if conference_kind.upper() == "ICPC" else self.rcpc_report

    def lac_report_rule(self) -> ReportRule:
        """The social worker's report before a looked-after review, as a report rule."""
        return ReportRule(
            due_working_days_before=self.lac_review.report_due_working_days_before,
            remind_working_days_before_due=self.lac_review.report_remind_working_days_before_due,
        )

    def ladder(self, service: str = "cp") -> tuple[str, ...]:
        """The QA ladder of a service: the looked-after service's own, if the policy gives one."""
        if service == LAC and self.lac_review.ladder:
            return self.lac_review.ladder
        return self.qa_alert.ladder


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(file)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        msg = _what_to_do(err, msg)
        parts.append(f"{key}: {msg}")
    return "; ".join(parts)


_DATE_EXAMPLE = "closure_days = [2026-12-29, 2026-12-30]"


def _what_to_do(err: ErrorDetails, msg: str) -> str:
    """The message with the bad value echoed and the form it should take."""
    loc, value = err["loc"], err.get("input")
    if loc and loc[0] == "closure_days":
        if len(loc) > 1:
            return f"{value!r} is not a date: write dates as YYYY-MM-DD, e.g. {_DATE_EXAMPLE}"
        return f"must be a list of YYYY-MM-DD dates, e.g. {_DATE_EXAMPLE}"
    if err["type"] == "literal_error":
        allowed = err.get("ctx", {}).get("expected", "")
        return f"{value!r} is not one of {allowed}"
    return msg.removeprefix("Value error, ")


def parse_policy(data: dict[str, object]) -> Policy:
    """Validate a decoded policy; raises PolicyError naming every bad key."""
    try:
        return Policy.model_validate(data, strict=False)
    except ValidationError as exc:
        raise PolicyError(f"invalid policy: {_describe(exc)}") from None


def load_policy(path: str | Path | None) -> Policy:
    """The built-in defaults, or the file at `path` merged over them."""
    if path is None:
        return Policy()
    file = Path(path)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(f"policy file not found: {file}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise PolicyError(f"policy file {file} is not valid TOML: {exc}") from None
    return parse_policy(data)
