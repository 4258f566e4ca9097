"""The one vocabulary: every code the system stores and every label a person reads for it.

Codes are what the database, the CSV files, the policy and the buttons carry; labels are how
a chat message, a digest, the demo or a report names them. Each list lives here once, so a
new theme or reason cannot be spelt one way in a button and another way in a reminder.
Sentences are the renderers' business; the names inside them come from here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal, NamedTuple, get_args

# -- obligations: what is owed ---------------------------------------------------------------

RCPC_REPORT = "rcpc_report"
ICPC_REPORT = "icpc_report"
QA_RESPONSE = "qa_response"
PLAN_REVIEW = "plan_review"
PLAN_FLAG = "plan_flag"
# Looked-after children and conferences held in time (issue 12).
LAC_REPORT = "lac_report"  # the social worker's report to the IRO before a looked-after review
LAC_DECISIONS = "lac_decisions"  # the IRO's decisions of a review, uploaded within 5 working days
LAC_RECORD = "lac_record"  # the IRO's full record of a review, within 20 working days
LAC_REVIEW_DUE = "lac_review_due"  # the next looked-after review: booked, then held in time
CONFERENCE_DUE = "conference_due"  # the next conference: ICPC after the strategy discussion, RCPCs
FAMILY_RECORD = "family_record"  # the conference record and plan to the family, by the chair
OBLIGATION_KINDS = (
    RCPC_REPORT, ICPC_REPORT, QA_RESPONSE, PLAN_REVIEW, PLAN_FLAG,
    LAC_REPORT, LAC_DECISIONS, LAC_RECORD, LAC_REVIEW_DUE, CONFERENCE_DUE, FAMILY_RECORD,
)  # fmt: skip
REPORT_KINDS = (RCPC_REPORT, ICPC_REPORT, LAC_REPORT)  # a social worker's report before a meeting
UPLOAD_KINDS = (LAC_DECISIONS, LAC_RECORD, FAMILY_RECORD)  # the IRO's own record after a meeting
MEETING_KINDS = (LAC_REVIEW_DUE, CONFERENCE_DUE)  # the next meeting: booked, then held in time
LAC_KINDS = (LAC_REPORT, LAC_DECISIONS, LAC_RECORD, LAC_REVIEW_DUE)
# The next meeting in a sentence ("the next looked-after review is due by ..."), and who owns it.
MEETING_LABELS = {
    LAC_REVIEW_DUE: "looked-after review",
    CONFERENCE_DUE: "child protection conference",
}
MEETING_OWNERS = {LAC_REVIEW_DUE: "the child's IRO", CONFERENCE_DUE: "the plan's chair"}
# Kinds whose closed history lives in the records alone: a closed one is never inserted.
RECORD_KINDS = (*LAC_KINDS, CONFERENCE_DUE, FAMILY_RECORD)

KIND_LABELS = {
    RCPC_REPORT: "RCPC report",
    ICPC_REPORT: "ICPC report",
    QA_RESPONSE: "QA alert response",
    PLAN_REVIEW: "9-month plan review",
    PLAN_FLAG: "plan length flag",
    LAC_REPORT: "LAC review report",
    LAC_DECISIONS: "LAC review decisions",
    LAC_RECORD: "LAC review record",
    LAC_REVIEW_DUE: "next LAC review",
    CONFERENCE_DUE: "next conference",
    FAMILY_RECORD: "conference record to the family",
}

# Obligation statuses.
OPEN = "open"
DONE = "done"
CANCELLED = "cancelled"

# How an obligation closed (its `outcome`), and the QA alert's own outcomes.
SUBMITTED = "submitted"
RESPONDED = "responded"
RESOLVED = "resolved"
CLOSED = "closed"
PLAN_ENDED = "plan_ended"
PLAN_CONTINUES = "plan_continues"
EXIT_PLAN = "exit_plan"
GONE = "record_removed"
MISSED = "missed"  # the conference took place without the report: nothing left to chase
NOT_RESOLVED = "not_resolved"  # the IRO found the response did not settle the concern
CHALLENGE = "challenge"  # past the last ladder stage: listed for the AD's challenge meeting

REVIEWED = "reviewed"  # the case system's export says the 9-month review was held
STOOD_DOWN = "stood_down"  # the conference was cancelled or stood down: no report is owed
UPLOADED = "uploaded"  # a review's decisions or record are on the case system
RECORD_SENT = "record_sent"  # the conference record and plan went to the family
MEETING_HELD = "meeting_held"  # the next conference or review took place
LEFT_CARE = "left_care"  # the child left care: nothing more is owed for that period

OUTCOME_LABELS = {
    SUBMITTED: "submitted",
    REVIEWED: "reviewed (recorded in the case system)",
    STOOD_DOWN: "conference stood down",
    UPLOADED: "uploaded",
    RECORD_SENT: "sent to the family",
    MEETING_HELD: "held",
    LEFT_CARE: "the child left care",
    PLAN_CONTINUES: "reviewed, plan continues",
    EXIT_PLAN: "reviewed, exit plan agreed",
    PLAN_ENDED: "plan ended",
    RESPONDED: "responded",
    RESOLVED: "resolved",
    MISSED: "the conference went ahead without it",
    CLOSED: "closed",
}

# What a person did to an item: the audit trail's action codes, and how a refused second
# press names the first ("Resolved by Jo Roberts at 8:06am").
ACT_SUBMITTED = "report_submitted"
ACT_MARKED_IN = "report_marked_in"
ACT_LATE = "report_late"
ACT_HELP = "help_requested"
ACT_CHASED = "report_chased"
ACT_STOOD_DOWN = "conference_stood_down"
ACT_RESPONDED = "qa_responded"
ACT_RESOLVED = "qa_resolved"
ACT_NOT_RESOLVED = "qa_not_resolved"
ACT_ESCALATED = "qa_escalate_requested"
ACT_ACKNOWLEDGED = "qa_acknowledged"
ACT_REVIEWED = "plan_reviewed"
ACT_UPLOADED = "record_uploaded"  # the IRO's decisions or record of a review
ACT_SENT = "record_sent"  # the chair's conference record and plan to the family
ACT_LABELS = {
    ACT_SUBMITTED: "Submitted",
    ACT_MARKED_IN: "Marked in",
    ACT_LATE: "Marked as late",
    ACT_HELP: "Help asked for",
    ACT_CHASED: "Chased",
    ACT_STOOD_DOWN: "Conference stood down",
    ACT_RESPONDED: "Responded",
    ACT_RESOLVED: "Resolved",
    ACT_NOT_RESOLVED: "Marked not resolved",
    ACT_ESCALATED: "Escalated",
    ACT_ACKNOWLEDGED: "Acknowledged",
    ACT_REVIEWED: "Review logged",
    ACT_UPLOADED: "Uploaded",
    ACT_SENT: "Sent to the family",
}
# The same acts as a digest line states them ("chased by Jo Roberts Mon 23 Nov").
ACT_PHRASES = {
    ACT_CHASED: "chased",
    ACT_MARKED_IN: "marked in",
    ACT_HELP: "help requested",
    ACT_LATE: "will be late",
    ACT_ACKNOWLEDGED: "acknowledged",
    ACT_STOOD_DOWN: "stood down",
}
# The acts that close an item: a press on a closed item names the one that closed it.
CLOSING_ACTS = (
    ACT_SUBMITTED, ACT_MARKED_IN, ACT_STOOD_DOWN, ACT_RESPONDED, ACT_RESOLVED, ACT_REVIEWED,
    ACT_UPLOADED, ACT_SENT,
)  # fmt: skip
# Closed by the engine from the records (an import), not by a press.
CASE_SYSTEM = "the case system"

# -- the outbox --------------------------------------------------------------------------------

PENDING = "pending"
SENDING = "sending"
SENT = "sent"
FAILED = "failed"
N_CANCELLED = "cancelled"

# Notification kinds (the outbox `kind` column).
N_REMINDER = "reminder"
N_DUE_TODAY = "due_today"
N_OVERDUE = "overdue"
N_ESCALATION = "escalation"
N_INFO = "info"
N_DIGEST = "digest"
N_CHART = "chart"
N_UNREACHABLE = "unreachable"
N_COVER = "cover"  # cover starts or ends: the cover and the person away are told once
N_BACKLOG = "backlog"  # what fell due before go-live, listed once to confirm
NUDGE_KINDS = (N_REMINDER, N_DUE_TODAY, N_OVERDUE)  # a newer one supersedes an unsent older one

# -- people ----------------------------------------------------------------------------------

Role = Literal[
    "social_worker",
    "iro",
    "team_manager",
    "service_manager",
    "head_of_service",
    "assistant_director",
    "safeguarding_manager",
    "admin",
]
ROLES: tuple[str, ...] = get_args(Role)
SOCIAL_WORKER = "social_worker"
IRO = "iro"
TEAM_MANAGER = "team_manager"
ASSISTANT_DIRECTOR = "assistant_director"
SAFEGUARDING_MANAGER = "safeguarding_manager"
ADMIN = "admin"  # business support: books reviews and conferences
MANAGER_ROLES = (
    "team_manager",
    "service_manager",
    "head_of_service",
    "assistant_director",
    "safeguarding_manager",
)

ROLE_LABELS = {
    "social_worker": "social worker",
    "iro": "IRO",
    "team_manager": "team manager",
    "service_manager": "service manager",
    "head_of_service": "head of service",
    "assistant_director": "assistant director",
    "safeguarding_manager": "safeguarding manager",
    "admin": "business support",
}


def role_label(role: str | None) -> str:
    """A role code as people say it (`team_manager` -> "team manager")."""
    return ROLE_LABELS.get(role or "", (role or "staff").replace("_", " "))


def is_manager(role: str) -> bool:
    """Managers see their span and act at escalation stages."""
    return role in MANAGER_ROLES


# Part-time staff: the weekdays they work (the staff CSV's `working_days`, e.g. `Mon,Tue,Wed`).
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri")


# -- records -----------------------------------------------------------------------------------

ICPC = "ICPC"
RCPC = "RCPC"
CONFERENCE_KINDS = (ICPC, RCPC)
REPORT_KIND_OF = {RCPC: RCPC_REPORT, ICPC: ICPC_REPORT}  # conference kind -> what is owed
CONFERENCE_OF = {report: kind for kind, report in REPORT_KIND_OF.items()}  # and back: "RCPC"

CONCERN = "concern"
POSITIVE = "positive"
ALERT_KINDS = (CONCERN, POSITIVE)
ALERT_KIND_LABELS = {CONCERN: "Concern", POSITIVE: "Positive"}
ALERT_LABEL = "QA alert"  # what IROs and managers call it (the worker owes a "QA alert response")

PLAN_CATEGORIES = ("neglect", "emotional", "physical", "sexual", "multiple")

# The two services an IRO reviews for: child protection plans and children in care.
CP = "cp"
LAC = "lac"
SERVICES = (CP, LAC)
SERVICE_LABELS = {CP: "child protection", LAC: "looked-after"}

# A conference's status in the export; "stood down" is how chat and the figures name a
# conference that will not go ahead on its date (cancelled in the export, or stood down in chat).
SCHEDULED = "scheduled"
HELD = "held"
CONFERENCE_STATUSES = (SCHEDULED, HELD, CANCELLED)
STOOD_DOWN_LABEL = "stood down"
REVIEW_LABEL = "looked-after review"  # what a report before a review is for ("the RCPC" for CP)


def meeting_word(kind: str) -> str:
    """The meeting an item belongs to, in a sentence: a (looked-after) review or a conference."""
    return "review" if kind in LAC_KINDS else "conference"


def meeting_name(kind: str) -> str:
    """The meeting an item belongs to, as its name: `ICPC`, `RCPC` or `looked-after review`."""
    if kind in LAC_KINDS:
        return REVIEW_LABEL
    return CONFERENCE_OF.get(kind, "conference")


class Label(NamedTuple):
    """A code's name on a button (`button`) and inside a sentence (`phrase`)."""

    button: str
    phrase: str


# QA alert themes (seed 004's categories): the button an IRO taps, the phrase a reminder says.
THEMES = {
    "drift_and_delay": Label("Drift and delay", "drift and delay"),
    "report_late": Label("Report late or missing", "report late"),
    "statutory_duty": Label("Statutory duty not met", "statutory duty"),
    "plan_quality": Label("Plan not SMART", "plan quality"),
    "other": Label("Other", "other"),
}
THEME_CODES = tuple(THEMES)

# Why a report will be late (the "Will be late" buttons and `late <reason>` replies).
LATE_REASONS = {
    "illness": Label("Illness", "illness"),
    "workload": Label("Workload", "workload"),
    "awaiting_info": Label("Awaiting information", "awaiting information"),
    "family": Label("Family or personal", "family or personal"),
    "other": Label("Other", "other"),
}
LATE_REASON_CODES = tuple(LATE_REASONS)

# Why a conference did not go ahead on its date (seed 004's "out of date log"): the CSV
# `reason` of a cancelled conference and the buttons after "Stand down conference".
STAND_DOWN_REASONS = {
    "not_quorate": Label("Not quorate", "not quorate"),
    "late_request": Label("Conference requested late", "requested late"),
    "family_unable": Label("Parent or carer unable to attend", "parent or carer unable to attend"),
    "worker_absent": Label("Social worker ill or absent", "social worker ill or absent"),
    "chair_unavailable": Label("No chair or clerk available", "no chair or clerk available"),
    "no_interpreter": Label("No interpreter", "no interpreter"),
    "information": Label("Information missing", "information missing"),
    "other": Label("Other", "other"),
}
STAND_DOWN_REASON_CODES = tuple(STAND_DOWN_REASONS)


def theme_phrase(theme: str | None, default: str = "other") -> str:
    """A theme inside a sentence ("drift and delay")."""
    return THEMES[theme].phrase if theme in THEMES else default


def reason_phrase(reason: str | None) -> str:
    """A late reason inside a sentence ("awaiting information")."""
    return LATE_REASONS[reason].phrase if reason in LATE_REASONS else "other"


def stand_down_phrase(reason: str | None) -> str:
    """Why a conference was stood down, inside a sentence ("not quorate")."""
    return STAND_DOWN_REASONS[reason].phrase if reason in STAND_DOWN_REASONS else "reason not given"


# -- buttons: the action codes inside callback data --------------------------------------------


class Action(StrEnum):
    """What a button asks for; its value is the short code inside the callback data."""

    SUBMITTED = "sub"
    WILL_BE_LATE = "late"
    LATE_REASON = "lr"
    LATE_DATE = "ld"
    NEED_HELP = "help"
    RESPONDED = "resp"
    REVIEW_CONTINUES = "rvc"
    REVIEW_EXIT = "rvx"
    REVIEW_ENDED = "rve"
    ACKNOWLEDGE = "ack"
    RESOLVED = "res"
    NOT_RESOLVED = "nres"
    ESCALATE = "esc"
    CHASED = "chs"
    REPORT_IN = "rin"
    REARRANGE = "rar"
    STAND_DOWN = "sd"
    STAND_DOWN_REASON = "sdr"
    ALERT_DRAFT = "al"
    COVER = "cv"
    UPLOADED = "upl"
    SENT = "snt"


ACTIONS = frozenset(action.value for action in Action)

BUTTON_LABELS: dict[str, str] = {
    Action.SUBMITTED: "Submitted",
    Action.WILL_BE_LATE: "Will be late",
    Action.NEED_HELP: "Need help",
    Action.RESPONDED: "Responded",
    Action.REVIEW_CONTINUES: "Reviewed: plan continues",
    Action.REVIEW_EXIT: "Exit plan agreed",
    Action.REVIEW_ENDED: "Plan ended",
    Action.ACKNOWLEDGE: "Acknowledge",
    Action.RESOLVED: "Resolved",
    Action.NOT_RESOLVED: "Not resolved: escalate",
    Action.CHASED: "Chased",
    Action.REPORT_IN: "Report in",
    Action.REARRANGE: "Conference to be rearranged",
    Action.STAND_DOWN: "Stand down conference",
    Action.UPLOADED: "Uploaded",
    Action.SENT: "Sent",
}
# The IRO's buttons to jump the ladder: "Escalate to stage 2: service manager".
ESCALATE_LABEL = "Escalate to stage {stage}: {role}"


def escalate_label(stage: int, role: str) -> str:
    """The button that sends a QA alert straight to `stage`, held by `role`."""
    return ESCALATE_LABEL.format(stage=stage, role=role_label(role))


# Ending someone's absence early, from /cover.
END_ABSENCE = "End the absence now"
# A looked-after review's buttons name the review, not a conference.
REVIEW_BUTTON_LABELS: dict[str, str] = {
    Action.REARRANGE: "Review to be rearranged",
    Action.STAND_DOWN: "Stand down review",
}


def button_label(action: str, kind: str = "") -> str:
    """The label of a button on an item of this kind (a review's stand-down names the review)."""
    if kind in LAC_KINDS and action in REVIEW_BUTTON_LABELS:
        return REVIEW_BUTTON_LABELS[action]
    return BUTTON_LABELS[action]


def done_action(kind: str) -> str | None:
    """The button a `done` reply means on an item of this kind, if any."""
    if kind in REPORT_KINDS:
        return Action.SUBMITTED
    if kind == FAMILY_RECORD:
        return Action.SENT
    if kind in UPLOAD_KINDS:
        return Action.UPLOADED
    return None

# The /alert draft's own buttons (its kind and theme buttons use the labels above).
CONFIRM, CANCEL = "Confirm", "Cancel"

REVIEW_OUTCOMES: dict[str, str] = {
    Action.REVIEW_CONTINUES: PLAN_CONTINUES,
    Action.REVIEW_EXIT: EXIT_PLAN,
    Action.REVIEW_ENDED: PLAN_ENDED,
}


# -- `irobot report`: column headings (two lines) and what each column counts (the legend) -----
# `{rcpc}` etc. are the policy's working days, filled in by the renderer.

REPORT_COLUMNS: dict[str, tuple[str, str, str]] = {
    "team": ("", "Team", "the team of the case's social worker; Service: every team"),
    "rcpc": ("RCPC report", "{rcpc} wd before",
             "RCPC reports received by the close of working hours {rcpc} working days before the "
             "conference, "
             "of those due: 93% (28/30) = 28 of 30 in time"),
    "icpc": ("ICPC report", "{icpc} wd before",
             "the same for ICPC reports, {icpc} working day(s) before"),
    "qa": ("QA answered", "in {qa} wd",
           "QA concerns answered (or closed) within {qa} working days, of those whose "
           "window has closed"),
    "qa_raised": ("QA raised,", "stage {stages}",
                  "14, 7/2/0/0 = 14 concerns raised; 7 reached stage 1 of the ladder or beyond, "
                  "2 stage 2, ...; +N = N past the last stage (the AD's challenge list)"),
    "plans": ("Plans", "open", "CP plans open on the last day of the period (or today)"),
    "plans_9": ("9m", "(reviewed)",
                "9 (4) = 9 open plans had passed 9 months, 4 of them with the 9-month review "
                "held"),
    "plans_18": ("", "18m", "open plans that had passed 18 months"),
    "plans_24": ("", "24m", "open plans that had passed 24 months (also counted in 18m)"),
    "failed": ("Msgs", "failed", "messages Telegram refused, created in the period"),
    "held": ("Msgs", "held", "messages waiting for someone who has not linked Telegram yet"),
    "stood_down": ("Conferences", "stood down",
                   "conferences that did not go ahead on their date, of those whose date "
                   "came (not counted in report timeliness)"),
    "lac_reviews": (
        "LAC reviews",
        "in timescale",
        "looked-after reviews held in the period by their due date: the first within "
        "[lac_review] first_within_working_days of entering care, the second 3 months after, "
        "then every 6 months",
    ),
    "icpc_held": (
        "ICPC held",
        "{strategy} wd of SD",
        "ICPCs held within {strategy} working days of the strategy discussion (SD, the "
        "export's strategy_on), of those held in the period",
    ),
    "rcpc_held": (
        "RCPC held",
        "in timescale",
        "RCPCs held by their due date: the first within 3 months of the ICPC, then every 6 "
        "months",
    ),
    "lac_decisions": ("LAC decisions", "in {decisions} wd",
                      "looked-after reviews held whose decisions were uploaded within "
                      "{decisions} working days, of those whose window has closed"),
    "lac_records": ("LAC record", "in {record} wd",
                    "the same for the full review record, within {record} working days; "
                    "< {target}% = below the policy's target"),
    "family_records": ("Family record", "in {family} wd",
                       "conference records and plans sent to the family within {family} "
                       "working days of a conference the export says was held"),
    "in_care": ("Children", "in care", "children in care on the last day of the period"),
    "alerts_cp": ("QA alerts CP", "concern/pos",
                  "3/1 = 3 concerns and 1 positive alert raised on child protection cases"),
    "alerts_lac": ("QA alerts LAC", "concern/pos",
                   "the same on looked-after cases (a case with a period in care)"),
}
REPORT_NOTES = (
    "wd = working days (Mon-Fri, not bank holidays or closure days); – = nothing was due; "
    "a rate counts only items whose deadline had passed (or that were done already)"
)
CASELOAD_COLUMNS: dict[str, tuple[str, str, str]] = {
    "iro": ("", "IRO", "an IRO (or chair) with open cases, or any active IRO"),
    "cp": ("CP", "cases", "children on a CP plan they chair (not in care)"),
    "lac": ("LAC", "cases", "children in care whose IRO they are"),
    "weighted": ("Weighted", "caseload", "CP x {cp} + LAC x {lac} (policy [caseload] weights)"),
    "band": ("IRO Handbook", "{low}-{high}",
             "over / within / under the IRO Handbook's range (policy handbook_range)"),
}
CASELOAD_BANDS = {"over": "over", "within": "within", "under": "under"}
