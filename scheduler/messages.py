"""Pure renderers for reminders and escalations: case ref, what is due, deadline, role.

Nothing here reads the clock or the database, and nothing here can leak a child's
details: the only inputs are a case reference, kinds, instants, stage numbers and
staff names/roles.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from zoneinfo import ZoneInfo

from models import buttons as cb
from models.buttons import Button, Message
from models.vocabulary import (
    ADMIN,
    ALERT_LABEL,
    ASSISTANT_DIRECTOR,
    BUTTON_LABELS,
    FAMILY_RECORD,
    IRO,
    KIND_LABELS,
    LAC_KINDS,
    LATE_REASONS,
    MEETING_LABELS,
    MEETING_OWNERS,
    PLAN_FLAG,
    SAFEGUARDING_MANAGER,
    SOCIAL_WORKER,
    STAND_DOWN_REASONS,
    TEAM_MANAGER,
    THEMES,
    UPLOAD_KINDS,
    Action,
    button_label,
    escalate_label,
    meeting_name,
    meeting_word,
    reason_phrase,
    role_label,
    stand_down_phrase,
    theme_phrase,
)
from scheduler.calendar import LONDON
from scheduler.items import Item, Unallocated

logger = logging.getLogger(__name__)

# The names inside the sentences, from the one vocabulary.
_SW, _TM, _IRO = role_label(SOCIAL_WORKER), role_label(TEAM_MANAGER), role_label(IRO)
_SGM, _AD = role_label(SAFEGUARDING_MANAGER), role_label(ASSISTANT_DIRECTOR)
_ADMIN = role_label(ADMIN)
_ALERT = ALERT_LABEL
_SUBMITTED, _RESPONDED = BUTTON_LABELS[Action.SUBMITTED], BUTTON_LABELS[Action.RESPONDED]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def day_text(day: date) -> str:
    """`Mon 7 Dec`: short enough for a lock screen, unambiguous within a year."""
    return f"{_DAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]}"


def clock_text(moment: datetime, tz: ZoneInfo = LONDON) -> str:
    """`6pm` or `9:30am` on the authority's wall clock."""
    local = moment.astimezone(tz)
    hour = local.hour % 12 or 12
    suffix = "am" if local.hour < 12 else "pm"
    if local.minute:
        return f"{hour}:{local.minute:02d}{suffix}"
    return f"{hour}{suffix}"


def when_text(moment: datetime, tz: ZoneInfo = LONDON) -> str:
    """`Mon 7 Dec, 6pm` in Europe/London (BST or GMT as it falls)."""
    local = moment.astimezone(tz)
    return f"{day_text(local.date())}, {clock_text(local, tz)}"


def kind_label(kind: str, subject_id: str = "") -> str:
    """What is owed, in the words staff use."""
    if kind == PLAN_FLAG:
        months = subject_id.rpartition(":")[2]
        return f"{months}-month plan check" if months.isdigit() else "long plan check"
    return KIND_LABELS.get(kind, "item")


def item_title(item: Item) -> str:
    """`RCPC report for case CR-1`."""
    return f"{kind_label(item.kind, item.subject_id)} for case {item.case_ref}"

def _conference(item: Item, tz: ZoneInfo) -> str:
    """` (conference Thu 10 Dec, 10am)` or ` (review ...)` when the item has one."""
    if not item.conference_at:
        return ""
    return f" ({meeting_word(item.kind)} {when_text(item.conference_at, tz)})"


def _btn(action: Action, item: Item, stage: int) -> Button:
    """A button on this item (its kind names the meeting on a stand-down button)."""
    return cb.button(action, item.id, stage, kind=item.kind)


def owner_report_buttons(item: Item, stage: int | None = None) -> list[list[Button]]:
    """Submitted / Will be late / Need help on the social worker's report nudges."""
    at = item.stage if stage is None else stage
    return [
        [
            cb.button(Action.SUBMITTED, item.id, at),
            cb.button(Action.WILL_BE_LATE, item.id, at),
        ],
        [cb.button(Action.NEED_HELP, item.id, at)],
    ]


def report_reminder(
    item: Item, working_days_before: int, *, days_before_conference: int, tz: ZoneInfo = LONDON
) -> Message:
    """The nudge before a conference report is due (`working_days_before` 0 = due today)."""
    what = kind_label(item.kind)
    if working_days_before == 0:
        head = f"⏰ {item.case_ref}: {what} due today, {clock_text(item.due_at, tz)}"
    else:
        head = f"⏰ {item.case_ref}: {what} due {when_text(item.due_at, tz)}"
    days = "working day" if days_before_conference == 1 else "working days"
    readers = "the IRO" if item.kind in LAC_KINDS else "parents and the chair"
    text = (
        f"{head}{_conference(item, tz)}. {days_before_conference} {days} before, "
        f"so {readers} can read it."
    )
    return Message(text, owner_report_buttons(item))


def report_overdue_owner(
    item: Item, *, stage: int = 1, manager_told: bool = True, tz: ZoneInfo = LONDON
) -> Message:
    """The social worker's notice at the deadline; their manager hears at the same time."""
    told = f" Your {_TM} has been told." if manager_told else ""
    text = (
        f"⚠️ {item.case_ref}: {kind_label(item.kind)} was due {when_text(item.due_at, tz)}"
        f" and has not arrived{_conference(item, tz)}.{told} If it is on its way, tap below."
    )
    return Message(text, owner_report_buttons(item, stage))


def promise_due(item: Item, *, tz: ZoneInfo = LONDON) -> Message:
    """The owner's nudge on the date they promised a late report."""
    assert item.expected_on is not None
    if item.kind in UPLOAD_KINDS:
        done = button_label(Action.SENT if item.kind == FAMILY_RECORD else Action.UPLOADED)
        return Message(
            f"⏰ {item.case_ref}: you said the {kind_label(item.kind)} would be done today, "
            f"{day_text(item.expected_on)}{_held(item, tz)}. Tap {done} once it is.",
            upload_buttons(item),
        )
    text = (
        f"⏰ {item.case_ref}: you said the {kind_label(item.kind)} would come today, "
        f"{day_text(item.expected_on)}{_conference(item, tz)}. Tap {_SUBMITTED} once it is sent."
    )
    return Message(text, owner_report_buttons(item))


def promise_missed(item: Item, *, owner_name: str, tz: ZoneInfo = LONDON) -> Message:
    """Their team manager's message the working day after a promised date, if still not in."""
    assert item.expected_on is not None
    if item.kind in UPLOAD_KINDS:
        return Message(
            f"📋 {item.case_ref}: {owner_name} said the {kind_label(item.kind)} would be done "
            f"{day_text(item.expected_on)}; it is not recorded as done{_held(item, tz)}. "
            "You are their manager."
        )
    text = (
        f"📋 {item.case_ref}: {owner_name} ({_SW}) said the {kind_label(item.kind)} "
        f"would come {day_text(item.expected_on)}; it is not in{_conference(item, tz)}. "
        f"You are their {_TM}."
    )
    keyboard = [
        [
            cb.button(Action.CHASED, item.id, item.stage),
            cb.button(Action.REPORT_IN, item.id, item.stage),
        ],
        [_btn(Action.REARRANGE, item, item.stage)],
    ]
    return Message(text, keyboard)


def late_note(expected_on: date | None, late_reason: str | None) -> str:
    """` They said it will come Wed 9 Dec (awaiting information).` or nothing."""
    if expected_on is None and late_reason is None:
        return ""
    reason = f" ({reason_phrase(late_reason)})" if late_reason else ""
    when = f" {day_text(expected_on)}" if expected_on else " late"
    return f" They said it will come{when}{reason}."


def report_overdue_manager(
    item: Item,
    *,
    owner_name: str,
    stage: int = 1,
    tz: ZoneInfo = LONDON,
    expected_on: date | None = None,
    late_reason: str | None = None,
) -> Message:
    """The team manager's one escalation: case, conference, whose report, three buttons."""
    text = (
        f"📋 {item.case_ref}: {kind_label(item.kind)} from {owner_name} ({_SW}) was due "
        f"{when_text(item.due_at, tz)} and is not in{_conference(item, tz)}."
        f"{late_note(expected_on, late_reason)} You are their {_TM}."
    )
    keyboard = [
        [
            cb.button(Action.CHASED, item.id, stage),
            cb.button(Action.REPORT_IN, item.id, stage),
        ],
        [_btn(Action.REARRANGE, item, stage)],
    ]
    return Message(text, keyboard)


def report_missing_chair(
    item: Item,
    *,
    owner_name: str,
    manager_name: str | None,
    tz: ZoneInfo = LONDON,
    expected_on: date | None = None,
    late_reason: str | None = None,
    stage: int = 1,
) -> Message:
    """Tells the chair the report for their conference is missing, and who is chasing."""
    chasing = (
        f" {manager_name} ({_TM}) has been asked to chase it."
        if manager_name
        else f" No {_TM} was found to chase it."
    )
    text = (
        f"ℹ️ {item.case_ref}: the {kind_label(item.kind)} from {owner_name} ({_SW}) "
        f"was due {when_text(item.due_at, tz)} and has not arrived{_conference(item, tz)}."
        f"{late_note(expected_on, late_reason)}{chasing} If the {meeting_word(item.kind)} "
        "cannot go ahead, stand it down below."
    )
    return Message(text, [[_btn(Action.STAND_DOWN, item, stage)]])


def qa_reminder(item: Item, *, tz: ZoneInfo = LONDON) -> Message:
    """The social worker's nudge on the morning a QA response is due."""
    theme = f" ({theme_phrase(item.theme, 'concern')})" if item.theme else ""
    text = (
        f"⏰ {item.case_ref}: the {_IRO}'s {_ALERT}{theme} needs your response as {_SW} "
        f"by today, {clock_text(item.due_at, tz)}. Tap {_RESPONDED} once you have replied."
    )
    return Message(text, [[cb.button(Action.RESPONDED, item.id, item.stage)]])


def qa_stage_holder(
    item: Item,
    *,
    stage: int,
    stages: int,
    role: str,
    owner_name: str,
    stage_due_at: datetime,
    tz: ZoneInfo = LONDON,
) -> Message:
    """The one message a ladder stage holder gets: Acknowledge / Responded / Resolved."""
    theme = f" ({theme_phrase(item.theme, 'concern')})" if item.theme else ""
    text = (
        f"🔺 {item.case_ref}: a {_ALERT}{theme} for {owner_name} ({_SW}) is not "
        f"resolved. It is now with you as {role_label(role)}, stage {stage} of {stages}. "
        f"Response due {when_text(stage_due_at, tz)}."
    )
    keyboard = [
        [
            cb.button(Action.ACKNOWLEDGE, item.id, stage),
            cb.button(Action.RESPONDED, item.id, stage),
        ],
        [cb.button(Action.RESOLVED, item.id, stage)],
    ]
    return Message(text, keyboard)


def qa_stage_reminder(
    item: Item, *, stages: int, stage_due_at: datetime, tz: ZoneInfo = LONDON
) -> Message:
    """The one reminder a stage holder who tapped Acknowledge gets, the working day before."""
    theme = f" ({theme_phrase(item.theme, 'concern')})" if item.theme else ""
    text = (
        f"⏰ {item.case_ref}: the {_ALERT}{theme} you acknowledged at stage {item.stage} of "
        f"{stages} needs your response by {when_text(stage_due_at, tz)}."
    )
    keyboard = [
        [
            cb.button(Action.RESPONDED, item.id, item.stage),
            cb.button(Action.RESOLVED, item.id, item.stage),
        ]
    ]
    return Message(text, keyboard)


def qa_iro_step(
    item: Item,
    *,
    stage: int,
    stages: int,
    role: str,
    holder_name: str,
    stage_due_at: datetime,
    ladder: tuple[str, ...],
    tz: ZoneInfo = LONDON,
) -> Message:
    """Tells the raising IRO of a ladder step; buttons to resolve or jump further up."""
    text = (
        f"ℹ️ {item.case_ref}: your {_ALERT} moved to stage {stage} of {stages}: "
        f"{holder_name} ({role_label(role)}), due {when_text(stage_due_at, tz)}."
    )
    keyboard: list[list[Button]] = [[cb.button(Action.RESOLVED, item.id, stage)]]
    for higher in range(stage + 1, stages + 1):
        label = escalate_label(higher, ladder[higher - 1])
        keyboard.append([(label, cb.encode(Action.ESCALATE, item.id, stage, str(higher)))])
    return Message(text, keyboard)


def qa_challenge(item: Item, *, stages: int) -> Message:
    """Tells the IRO (and the AD) the concern is listed for the challenge meeting."""
    text = (
        f"📌 {item.case_ref}: the {_ALERT} is still not resolved after stage {stages} of "
        f"{stages}. It is listed for the {_AD}'s challenge meeting."
    )
    return Message(text, None)


def review_due(item: Item, *, plan_start: date | None, tz: ZoneInfo = LONDON) -> Message:
    """The chair's 9-month review nudge with the three outcomes as buttons."""
    since = f" (plan started {day_text(plan_start)})" if plan_start else ""
    text = (
        f"🗓 {item.case_ref}: {kind_label(item.kind)} due "
        f"{day_text(item.due_at.astimezone(tz).date())}"
        f"{since}. As chair, log the outcome when you have reviewed it."
    )
    keyboard = [
        [cb.button(Action.REVIEW_CONTINUES, item.id, item.stage)],
        [cb.button(Action.REVIEW_EXIT, item.id, item.stage)],
        [cb.button(Action.REVIEW_ENDED, item.id, item.stage)],
    ]
    return Message(text, keyboard)


def review_escalation(
    item: Item, *, chair_name: str, stage: int = 1, tz: ZoneInfo = LONDON
) -> Message:
    """The safeguarding manager hears of a 9-month review not logged in 5 working days."""
    text = (
        f"📋 {item.case_ref}: the {kind_label(item.kind)} was due "
        f"{day_text(item.due_at.astimezone(tz).date())} and {chair_name} (chair) has not "
        f"logged it in 5 working days. You are their {_SGM}."
    )
    return Message(text, None)


def plan_flag(item: Item, *, months: int, tz: ZoneInfo = LONDON) -> Message:
    """One informational note to the chair when a plan reaches 18 or 24 months."""
    text = (
        f"ℹ️ {item.case_ref}: the plan reached {months} months on "
        f"{day_text(item.due_at.astimezone(tz).date())}. It is listed for the "
        f"{_SGM}; nothing to do here."
    )
    return Message(text, None)


def positive_alert(case_ref: str, *, role: str) -> Message:
    """Passes on an IRO's positive QA alert: recognition, no response needed."""
    text = (
        f"🌟 {case_ref}: the {_IRO} raised a positive {_ALERT} recognising good practice "
        f"on this case. Shared with you as {role_label(role)}; nothing to do. Thank you."
    )
    return Message(text, None)


def cover(
    message: Message, *, absent_name: str, absent_role: str, until: date | None = None
) -> Message:
    """Marks a message for whoever acts for someone away or gone; the buttons work for them."""
    why = f"away until {day_text(until)}" if until else "who has left (their cases are unallocated)"
    text = f"↪️ Covering for {absent_name} ({role_label(absent_role)}), {why}:\n{message.text}"
    return Message(text, message.keyboard)


def covering_started(
    *, absent_name: str, absent_role: str, until: date, open_items: int, set_by: str | None
) -> Message:
    """Tells the cover, once, that they act for someone from now on."""
    who = f" ({set_by} arranged it)" if set_by else ""
    items = f"{open_items} open item{'s' if open_items != 1 else ''}"
    return Message(
        f"🔁 You are covering for {absent_name} ({role_label(absent_role)}) until "
        f"{day_text(until)}{who}. Their reminders come to you marked \"covering for "
        f"{absent_name}\", with the same buttons. They have {items}: send /mine to see them."
    )


def away_started(*, cover_name: str, until: date) -> Message:
    """Tells the person away, once, who acts for them (they may read it when back)."""
    return Message(
        f"🔁 You are recorded as away until {day_text(until)}. {cover_name} covers your "
        "reminders meanwhile; whatever is still open comes back to you on your return."
    )


def covering_ended(*, absent_name: str, open_items: int) -> Message:
    """Tells the cover, once, that the person is back and takes their items again."""
    return Message(
        f"↩️ {absent_name} is back: their open items ({open_items}) are theirs again. "
        "Thank you for covering."
    )


def back_from_absence(*, cover_name: str, open_items: int) -> Message:
    """Tells the person back, once, that what is still open is theirs again."""
    return Message(
        f"↩️ Welcome back. {cover_name} covered while you were away; your open items "
        f"({open_items}) are with you again: send /mine to see them."
    )


UNALLOCATED_HEADING = f"Unallocated cases, their {_SW} has left"


def unallocated_line(case: Unallocated) -> str:
    """`CP-1042 · was Sally Webb`: the case and who held it (in /team and the digest)."""
    return f"{case.case_ref} · was {case.worker_name}"


def late_reason_buttons(item: Item) -> list[list[Button]]:
    """Will be late, step 2: why (one code per button)."""
    return [
        [(label.button, cb.encode(Action.LATE_REASON, item.id, item.stage, reason))]
        for reason, label in LATE_REASONS.items()
    ]


def late_date_buttons(item: Item, reason: str, days: list[date]) -> list[list[Button]]:
    """Will be late, step 3: which of the next working days the report will come."""
    return [
        [(day_text(day), cb.encode(Action.LATE_DATE, item.id, item.stage, f"{reason}.{day:%Y%m%d}"))]  # noqa: E501
        for day in days
    ]


# --- messages a chat action sends to someone else -------------------------------------


def help_request_message(item: Item, owner_name: str, tz: ZoneInfo) -> Message:
    """To the team manager when a social worker taps Need help."""
    return Message(
        f"🙋 {owner_name} asks for help with the {item_title(item)}, "
        f"due {when_text(item.due_at, tz)}."
    )


def late_notice_message(
    item: Item, owner_name: str, tz: ZoneInfo, *, for_chair: bool = False
) -> Message:
    """To the chair and team manager when a report will be late, with the new date; the chair
    may stand the conference down from it."""
    reason = reason_phrase(item.late_reason)
    when = f" Expected {day_text(item.expected_on)}." if item.expected_on else ""
    keyboard = [[_btn(Action.STAND_DOWN, item, item.stage)]] if for_chair else None
    return Message(
        f"🕒 {owner_name}: the {item_title(item)}, due {when_text(item.due_at, tz)}, "
        f"will be late ({reason}).{when}",
        keyboard,
    )


def outcome_request_message(item: Item, responder: str) -> Message:
    """To the raising IRO after a response: log the outcome with one tap."""
    return Message(
        f"💬 {responder} has responded to your {_ALERT} on case {item.case_ref}. Is it resolved?",
        [
            [
                cb.button(Action.RESOLVED, item.id, item.stage),
                cb.button(Action.NOT_RESOLVED, item.id, item.stage),
            ]
        ],
    )


def alert_raised_message(
    item: Item,
    iro_name: str,
    theme: str,
    tz: ZoneInfo,
    *,
    for_owner: bool = False,
    owner: str = "",
) -> Message:
    """A new concern: the social worker gets Responded; their team manager is informed."""
    about = THEMES[theme].button.lower() if theme in THEMES else "other"
    due = when_text(item.due_at, tz)
    if for_owner:
        return Message(
            f"🔔 {iro_name} ({_IRO}) raised a {_ALERT} on case {item.case_ref}: {about}. "
            f"Please respond by {due}, then tap {_RESPONDED}.",
            [[cb.button(Action.RESPONDED, item.id, item.stage)]],
        )
    return Message(
        f"🔔 {iro_name} ({_IRO}) raised a {_ALERT} on case {item.case_ref} for {owner} "
        f"({_SW}): {about}. Response due {due}."
    )


def alert_update_message(item: Item, code: str, who: str) -> Message:
    """To the raising IRO (or the worker) when someone else moves their alert on."""
    what = {
        "acknowledged": f"acknowledged it at stage {item.stage}",
        "resolved": "marked it resolved; the alert is closed",
        "responded": "recorded a response",
    }.get(code, "updated it")
    return Message(f"ℹ️ {_ALERT} on case {item.case_ref}: {who} {what}.")


def report_notice_message(item: Item, code: str, who: str, tz: ZoneInfo) -> Message:
    """To the chair when a manager records the report in."""
    return Message(
        f"ℹ️ {item_title(item)}, due {when_text(item.due_at, tz)}: {who} says the report is in."
    )


def stood_down_message(item: Item, who: str, reason: str, tz: ZoneInfo) -> Message:
    """To the social worker, the chair and the team manager: that date is off, nothing owed."""
    when = f" on {when_text(item.conference_at, tz)}" if item.conference_at else ""
    conference = meeting_name(item.kind)
    return Message(
        f"📅 {item.case_ref}: the {conference}{when} is stood down "
        f"({stand_down_phrase(reason)}), {who} says. No report is due for that date; a new "
        "date comes with the next import."
    )


# --- the chair's own record after a meeting: the IRO's uploads, the record to the family --


def upload_buttons(item: Item, stage: int | None = None) -> list[list[Button]]:
    """Uploaded (Sent, for the family's record) / Will be late on the chair's own record."""
    at = item.stage if stage is None else stage
    done = Action.SENT if item.kind == FAMILY_RECORD else Action.UPLOADED
    return [[_btn(done, item, at), _btn(Action.WILL_BE_LATE, item, at)]]


def _held(item: Item, tz: ZoneInfo) -> str:
    """` (review held Thu 10 Dec)` when the item has its meeting's date."""
    if not item.conference_at:
        return ""
    return f" ({meeting_word(item.kind)} held {day_text(item.conference_at.astimezone(tz).date())})"


def upload_reminder(item: Item, working_days_before: int, *, tz: ZoneInfo = LONDON) -> Message:
    """The chair's nudge before their own record of a meeting is due (0 = due today)."""
    what = kind_label(item.kind)
    if working_days_before == 0:
        head = f"⏰ {item.case_ref}: {what} due today, {clock_text(item.due_at, tz)}"
    else:
        head = f"⏰ {item.case_ref}: {what} due {when_text(item.due_at, tz)}"
    role = "chair" if item.kind == FAMILY_RECORD else role_label(IRO)
    done = button_label(Action.SENT if item.kind == FAMILY_RECORD else Action.UPLOADED)
    text = f"{head}{_held(item, tz)}. As {role}, tap {done} once it is done."
    return Message(text, upload_buttons(item))


def upload_overdue_owner(
    item: Item, *, stage: int = 1, manager_told: bool = True, tz: ZoneInfo = LONDON
) -> Message:
    """The chair's notice at the deadline of their own record; their manager hears too."""
    told = " Your manager has been told." if manager_told else ""
    text = (
        f"⚠️ {item.case_ref}: {kind_label(item.kind)} was due {when_text(item.due_at, tz)}"
        f"{_held(item, tz)} and is not recorded as done.{told} If it is done, tap below."
    )
    return Message(text, upload_buttons(item, stage))


def upload_overdue_manager(
    item: Item, *, owner_name: str, tz: ZoneInfo = LONDON, expected_on: date | None = None,
    late_reason: str | None = None,
) -> Message:
    """The chair's manager hears, once, that their own record of a meeting is overdue."""
    role = "chair" if item.kind == FAMILY_RECORD else role_label(IRO)
    text = (
        f"📋 {item.case_ref}: {kind_label(item.kind)} from {owner_name} ({role}) was due "
        f"{when_text(item.due_at, tz)}{_held(item, tz)} and is not recorded as done."
        f"{late_note(expected_on, late_reason)} You are their manager."
    )
    return Message(text)


def stand_down_buttons(item: Item) -> list[list[Button]]:
    """Why the conference will not go ahead: one reason code per button (no free text)."""
    return [
        [(label.button, cb.encode(Action.STAND_DOWN_REASON, item.id, item.stage, reason))]
        for reason, label in STAND_DOWN_REASONS.items()
    ]


# --- the next meeting: booked, then held in time ----------------------------------------


def _meeting_due(item: Item, tz: ZoneInfo) -> str:
    """`Fri 12 Mar`: the last day in timescale (the obligation falls due at its close)."""
    return day_text(item.due_at.astimezone(tz).date())


def meeting_not_booked(item: Item, *, admins_told: bool, tz: ZoneInfo = LONDON) -> Message:
    """The IRO or chair: the next review or conference is due soon and no date is booked."""
    told = f" {_ADMIN.capitalize()} has been told too." if admins_told else ""
    text = (
        f"📅 {item.case_ref}: the next {MEETING_LABELS[item.kind]} is due by "
        f"{_meeting_due(item, tz)} and is not booked yet. You are {MEETING_OWNERS[item.kind]}: "
        f"please have it booked in the case system.{told}"
    )
    return Message(text, None)


def meeting_not_booked_admin(
    item: Item, *, owner_name: str, owner_role: str, tz: ZoneInfo = LONDON
) -> Message:
    """Business support: the same, so the date can be booked (told once per meeting)."""
    text = (
        f"📅 {item.case_ref}: the next {MEETING_LABELS[item.kind]} is due by "
        f"{_meeting_due(item, tz)} and is not booked yet ({owner_name}, {role_label(owner_role)}, "
        f"has been told). You are their {_ADMIN}: please book it in the case system."
    )
    return Message(text, None)


def meeting_overdue(item: Item, *, owner_name: str, tz: ZoneInfo = LONDON) -> Message:
    """The safeguarding manager: the meeting was not held by its due day."""
    booked = (
        f"It is booked for {when_text(item.conference_at, tz)}."
        if item.conference_at is not None
        else "No date is booked."
    )
    text = (
        f"📋 {item.case_ref}: the {MEETING_LABELS[item.kind]} due by {_meeting_due(item, tz)} "
        f"has not been held. {booked} {owner_name} is {MEETING_OWNERS[item.kind]}. "
        f"You are their {_SGM}."
    )
    return Message(text, None)


# --- go-live: what fell due before the first import ------------------------------------

BACKLOG_LINES = 15


def backlog_owner(items: list[Item], *, went_live: date, tz: ZoneInfo = LONDON) -> Message:
    """To each owner, once: what fell due before go-live, to confirm, not chased as overdue."""
    shown = sorted(items, key=lambda i: (i.due_at, i.case_ref))[:BACKLOG_LINES]
    lines = [
        f"📋 Before IRObot started on {day_text(went_live)}, {len(items)} of your items had "
        "already fallen due. They are not chased as overdue: please confirm each (log it, or "
        "tap its buttons in /mine) so the record is right."
    ]
    for item in shown:
        due = item.due_at.astimezone(tz).date()
        year = f" {due.year}" if due.year != went_live.year else ""
        lines.append(f"• {item_title(item)}, due {day_text(due)}{year}")
    if len(items) > len(shown):
        lines.append(f"+{len(items) - len(shown)} more: send /mine")
    return Message("\n".join(lines))


def backlog_summary(
    items: list[Item], *, names: dict[str, str], went_live: date
) -> Message:
    """To the safeguarding manager, once: how much backlog, of what, with whom."""
    kinds: dict[str, int] = {}
    owners: dict[str, int] = {}
    for item in items:
        label = kind_label(item.kind, item.subject_id)
        kinds[label] = kinds.get(label, 0) + 1
        owners[item.owner_id] = owners.get(item.owner_id, 0) + 1
    what = ", ".join(f"{label} {n}" for label, n in sorted(kinds.items()))
    who = sorted(owners.items(), key=lambda kv: (-kv[1], names.get(kv[0], kv[0])))
    top = ", ".join(f"{names.get(sid, sid)} {n}" for sid, n in who[:BACKLOG_LINES])
    more = f" and {len(who) - BACKLOG_LINES} more" if len(who) > BACKLOG_LINES else ""
    return Message(
        f"📋 Backlog to confirm from before IRObot started on {day_text(went_live)}: "
        f"{len(items)} item{'s' if len(items) != 1 else ''} ({what}). With: {top}{more}. "
        "Each has their own list; none is escalated as overdue."
    )
