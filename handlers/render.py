"""Pure renderers for chat replies and edits: state in, text and buttons out.

Privacy: every text here is built from a case reference, what is due, a deadline and a
staff name or role. Nothing else about a case exists in the inputs, so nothing else can
leak into a chat.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from models import buttons as cb
from models.buttons import Button, Message
from models.vocabulary import (
    ACT_CHASED,
    ACT_HELP,
    ACT_LABELS,
    ACT_MARKED_IN,
    ACT_PHRASES,
    ADMIN,
    ALERT_KIND_LABELS,
    ALERT_KINDS,
    ALERT_LABEL,
    ASSISTANT_DIRECTOR,
    BUTTON_LABELS,
    CANCEL,
    CASE_SYSTEM,
    CHALLENGE,
    CLOSED,
    CONFIRM,
    DONE,
    END_ABSENCE,
    IRO,
    LAC_REPORT,
    MANAGER_ROLES,
    MEETING_KINDS,
    OPEN,
    OUTCOME_LABELS,
    PLAN_REVIEW,
    QA_RESPONSE,
    RECORD_SENT,
    REPORT_KINDS,
    RESOLVED,
    RESPONDED,
    REVIEW_OUTCOMES,
    SOCIAL_WORKER,
    STOOD_DOWN_LABEL,
    SUBMITTED,
    TEAM_MANAGER,
    THEMES,
    UPLOAD_KINDS,
    UPLOADED,
    Action,
    button_label,
    meeting_name,
    meeting_word,
    reason_phrase,
    role_label,
    stand_down_phrase,
)
from scheduler import messages as msg
from scheduler.items import Item, Unallocated
from scheduler.org import Person

if TYPE_CHECKING:  # the use case's results; rendering needs no database
    from handlers.cover import Covered, CoverResult
    from handlers.effects import ActionResult

MAX_TEXT = 4096
COVERING = "covering for"  # as /mine marks a covered person's items
MINE_LIMIT = 10

NOT_LINKED = "This bot is for linked staff. Ask your manager for an invite code."
PRIVATE_ONLY = "Please message me directly, not in a group."
UNKNOWN_COMMAND = "I don't know that command. Send /help to see what I can do."
ERROR = "Sorry, something went wrong. Please try again in a minute."
TEXT_HINT = (
    "Reply to a reminder with done, submitted or late <reason>, or tap its buttons. "
    "Send /help for more."
)
NOTE_WARNING = (
    "Please don't send notes here: no names or details about the child. "
    "The alert needs only the case reference and a theme, chosen by buttons."
)

REFUSALS = {
    "not_linked": NOT_LINKED,
    "not_allowed": "Sorry, that button isn't for you, so nothing was changed.",
    "stale": "That button is out of date, so nothing was changed. Send /mine for current ones.",
    "already": "Already recorded, nothing more to do.",
    "invalid": "Sorry, I couldn't use that button, so nothing was changed.",
    "not_found": "That item is no longer open. Send /mine for current ones.",
    "expired": "That draft has expired. Send /alert CASE_REF to start again.",
    "expired_cover": "That draft has expired. Send /cover to start again.",
}

def item_line(
    item: Item, tz: ZoneInfo, now: datetime | None = None, *, viewer: Collection[str] | None = None
) -> str:
    """One line for a list, from its reader's side (`viewer`: their id and whoever they act
    for; None: the owner's side). The owner reads their own deadline and, apart, that it is
    escalated and to whom; the stage holder reads their stage's deadline; anyone else in the
    span reads where it stands on the ladder."""
    owning = viewer is None or item.owner_id in viewer
    holder = item.holder
    holding = not owning and holder is not None and viewer is not None and holder.staff_id in viewer
    due = item.due_at if owning else item.deadline
    alert = item.kind == QA_RESPONSE and not owning  # the worker owes a response; others: the alert
    parts = [f"{ALERT_LABEL} for case {item.case_ref}" if alert else msg.item_title(item)]
    if holding and alert:
        parts.append(f"stage {item.stage}: your response due {msg.when_text(due, tz)}")
    else:
        parts.append(f"due {msg.when_text(due, tz)}")
    if item.kind in MEETING_KINDS:
        booked = item.conference_at
        parts.append(f"booked {msg.when_text(booked, tz)}" if booked else "not booked yet")
    if item.backlog:
        parts.append("to confirm (due before go-live)")
    elif now is not None and due <= now:
        parts.append("OVERDUE")
    if item.stage >= 1 and not (holding and alert):
        parts.append(_escalated(item, owning=owning, holding=holding))
    if item.expected_on:
        parts.append(f"expected {msg.day_text(item.expected_on)}")
    if item.owner_name:
        parts.append(item.owner_name)
    return " · ".join(parts)


def _escalated(item: Item, *, owning: bool, holding: bool) -> str:
    """Where an escalated item is now: to whom (and at which stage of a QA ladder)."""
    holder = item.holder
    if holding:
        return "escalated to you"
    if holder is None:
        return f"escalated (stage {item.stage})"
    who = f"{holder.name} ({role_label(holder.role)})"
    if item.kind != QA_RESPONSE:
        return f"escalated to {who}"
    return f"escalated to stage {item.stage}: {who}" if owning else f"stage {item.stage} with {who}"


def owner_keyboard(item: Item) -> list[list[Button]] | None:
    """The one-tap buttons the item's owner gets (same codes as the reminders)."""
    if item.status != OPEN:
        return None
    if item.kind in UPLOAD_KINDS:
        return msg.upload_buttons(item)
    if item.kind in REPORT_KINDS:
        return [
            [cb.button(Action.SUBMITTED, item.id, item.stage)],
            [
                cb.button(Action.WILL_BE_LATE, item.id, item.stage),
                cb.button(Action.NEED_HELP, item.id, item.stage),
            ],
        ]
    if item.kind == QA_RESPONSE:
        return [[cb.button(Action.RESPONDED, item.id, item.stage)]]
    if item.kind == PLAN_REVIEW:
        return [
            [cb.button(Action.REVIEW_CONTINUES, item.id, item.stage)],
            [
                cb.button(Action.REVIEW_EXIT, item.id, item.stage),
                cb.button(Action.REVIEW_ENDED, item.id, item.stage),
            ],
        ]
    return None


def holder_keyboard(item: Item) -> list[list[Button]] | None:
    """The buttons the holder of an escalated item's stage gets (as on their escalation)."""
    if item.status != OPEN or item.stage < 1:
        return None
    if item.kind == QA_RESPONSE:
        return [
            [
                cb.button(Action.ACKNOWLEDGE, item.id, item.stage),
                cb.button(Action.RESPONDED, item.id, item.stage),
            ],
            [cb.button(Action.RESOLVED, item.id, item.stage)],
        ]
    if item.kind in REPORT_KINDS:
        return [
            [
                cb.button(Action.CHASED, item.id, item.stage),
                cb.button(Action.REPORT_IN, item.id, item.stage),
            ],
            [cb.button(Action.REARRANGE, item.id, item.stage, kind=item.kind)],
        ]
    return None


def item_message(
    item: Item, tz: ZoneInfo, now: datetime, *, viewer: Collection[str] | None = None
) -> Message:
    """An open item with its buttons, as `/mine` shows it: the owner's, or the stage holder's."""
    if viewer is None or item.owner_id in viewer:
        keyboard = owner_keyboard(item)
    else:
        keyboard = holder_keyboard(item)
    return Message(item_line(item, tz, now, viewer=viewer), keyboard)


def late_reason_message(item: Item, tz: ZoneInfo) -> Message:
    """Step 2 of Will be late: why, from a short list (no free text about the case)."""
    rows = msg.late_reason_buttons(item)
    text = f"{msg.item_title(item)}, due {msg.when_text(item.due_at, tz)}.\nWhy will it be late?"
    return Message(text, rows)


def stand_down_reason_message(item: Item, tz: ZoneInfo) -> Message:
    """Stand down, step 2: why the conference (review) will not go ahead (the out-of-date log's
    reasons)."""
    return Message(
        f"{msg.item_title(item)}, due {msg.when_text(item.due_at, tz)}.\n"
        f"Why will the {meeting_word(item.kind)} not go ahead on its date?",
        msg.stand_down_buttons(item),
    )


def late_date_message(
    item: Item, reason: str, days: Sequence[date], tz: ZoneInfo, *, recorded: bool = False
) -> Message:
    """Step 3 of Will be late: the new expected date, one of the next working days; once the
    reason is `recorded` (a typed `late sick`), one message says so and asks the date."""
    rows = msg.late_date_buttons(item, reason, list(days))
    head = f"{msg.item_title(item)}, due {msg.when_text(item.due_at, tz)}"
    if recorded:
        text = (
            f"🕒 {head}: will be late ({reason_phrase(reason)}). Recorded.\n"
            "When do you expect to send it? Tap the day."
        )
    else:
        text = f"{head}: late ({reason_phrase(reason)}).\nWhen do you expect to send it?"
    return Message(text, rows)


def action_text(result: ActionResult, tz: ZoneInfo, now: datetime) -> str:
    """What a press or a reply did, for the person who made it: the item's new state written
    for their role, or why nothing changed (naming who acted first, and when)."""
    if not result.ok or result.item is None:
        return refusal_text(result, tz, now)
    text = result_text(result.item, result.code, tz, who=result.told, reason=result.reason,
                       role=result.role, holder=result.holder)  # fmt: skip
    return f"{text} ({COVERING} {result.covering})" if result.covering else text


def refusal_text(result: ActionResult, tz: ZoneInfo, now: datetime) -> str:
    """Why a press changed nothing; a repeat says who did it first, and when."""
    settled = result.settled
    if result.code != "already" or settled is None:
        return REFUSALS.get(result.code, REFUSALS["invalid"])
    clock = msg.clock_text(settled.at, tz)
    day = settled.at.astimezone(tz).date()
    at = f"at {clock}" if day == now.astimezone(tz).date() else f"on {msg.day_text(day)} at {clock}"
    if not settled.by:
        outcome = OUTCOME_LABELS.get(settled.act, OUTCOME_LABELS[CLOSED])
        return f"Already recorded from {CASE_SYSTEM} {at}: {outcome}. Nothing more to do."
    by = "you" if settled.by_you else settled.by
    return f"{ACT_LABELS.get(settled.act, 'Recorded')} by {by} {at}. Nothing more to do."


def _recorded(told: str) -> str:
    """`Recorded.`, and who was told (someone's cover, if they are away)."""
    return f"Recorded. Told: {told}." if told else "Recorded."


def result_text(
    item: Item,
    code: str,
    tz: ZoneInfo,
    *,
    who: str = "",
    reason: str = "",
    role: str = "owner",
    holder: Person | None = None,
) -> str:
    """The new state of an item after an action, replacing the reminder (no buttons), in the
    words of whoever acted: the worker's report or response, the manager's or the chair's
    item from that worker, the IRO's own alert."""
    if item.kind == QA_RESPONSE:
        return _alert_result(item, code, tz, who=who, role=role, holder=holder)
    title = msg.item_title(item)
    if role != "owner" and item.owner_name:
        title += f" from {item.owner_name}"
    due = msg.when_text(item.due_at, tz)
    if code == "late":
        reason = reason_phrase(item.late_reason)
        when = f", expected {msg.day_text(item.expected_on)}" if item.expected_on else ""
        return f"🕒 {title}, due {due}: will be late ({reason}){when}. {_recorded(who)}"
    if code in REVIEW_OUTCOMES.values():
        return f"✅ {title}: {OUTCOME_LABELS[code]}. Recorded."
    if code == "stood_down":  # the chair's or the manager's: the conference, not the report
        conference = meeting_name(item.kind)
        return (
            f"📅 {conference} for case {item.case_ref}: {STOOD_DOWN_LABEL} "
            f"({stand_down_phrase(reason)}). No report is due for that date."
            f"{f' Told: {who}.' if who else ''}"
        )
    chased = ACT_PHRASES[ACT_CHASED]
    lines = {
        "submitted": f"✅ {title}, due {due}: {OUTCOME_LABELS[SUBMITTED]}. Recorded.",
        UPLOADED: f"✅ {title}, due {due}: {OUTCOME_LABELS[UPLOADED]}. Recorded.",
        RECORD_SENT: f"✅ {title}, due {due}: {OUTCOME_LABELS[RECORD_SENT]}. Recorded.",
        "report_in": f"✅ {title}, due {due}: {ACT_PHRASES[ACT_MARKED_IN]}. {_recorded(who)}",
        "help": f"🙋 {title}, due {due}: {ACT_PHRASES[ACT_HELP]}."
        + (f" {who} has been told." if who else " Please also contact your manager."),
        "chased": f"📞 {title}, due {due}: {chased}. Recorded. Your digest shows it as "
        f"{chased} until it is in.",
    }
    return lines.get(code, f"✅ {title}: recorded.")


def _alert_result(
    item: Item, code: str, tz: ZoneInfo, *, who: str, role: str, holder: Person | None
) -> str:
    """A QA alert after a press: the worker's response, the stage holder's stage, the IRO's
    own alert (each names the alert once)."""
    iro = f"{who} ({role_label(IRO)})" if who else f"The {role_label(IRO)}"
    if role == "owner":
        title = msg.item_title(item)
        if code == "responded":
            return f"✅ {title}: {OUTCOME_LABELS[RESPONDED]}. {iro} will log the outcome."
        return f"✅ {title}: recorded."
    if role == "raiser":
        title = f"Your {ALERT_LABEL} on case {item.case_ref}"
        if code == "escalated" and item.outcome == CHALLENGE:
            return (
                f"📌 {title}: past the last stage, listed for the "
                f"{role_label(ASSISTANT_DIRECTOR)}'s challenge meeting."
            )
        if code == "escalated":
            stage_due = msg.when_text(item.deadline, tz)
            with_whom = f", with {holder.name} ({role_label(holder.role)})" if holder else ""
            return f"⬆️ {title}: escalated to stage {item.stage}{with_whom}, due {stage_due}."
        if code == "resolved":
            return f"✅ {title}: {OUTCOME_LABELS[RESOLVED]} and closed."
        return f"✅ {title}: recorded."
    owner = f" for {item.owner_name} ({role_label(SOCIAL_WORKER)})" if item.owner_name else ""
    title = f"{ALERT_LABEL} on case {item.case_ref}{owner}"
    if code == "acknowledged":
        return (
            f"👍 {title}: acknowledged at stage {item.stage}. Your response is due "
            f"{msg.when_text(item.deadline, tz)}.{f' Told: {who}.' if who else ''}"
        )
    if code == "responded":
        return (
            f"✅ {title}: your response at stage {item.stage} is recorded. "
            f"{iro} will log the outcome."
        )
    if code == "resolved":
        return (
            f"✅ {title}: {OUTCOME_LABELS[RESOLVED]} and closed at stage {item.stage}."
            f"{f' Told: {who}.' if who else ''}"
        )
    return f"✅ {title}: recorded."


def mine_messages(
    items: Sequence[Item], tz: ZoneInfo, now: datetime, *, viewer: Collection[str] | None = None
) -> list[Message]:
    """`/mine`: a header, then each open item (soonest first) with its own buttons, each read
    from `viewer`'s side (their own items, and those escalated to them)."""
    if not items:
        return [Message("You have no open items. 🎉")]
    shown = items[:MINE_LIMIT]
    header = f"Your open items, soonest first ({len(items)}):"
    if len(items) > len(shown):
        header += f" showing the first {len(shown)}."
    return [Message(header), *(item_message(item, tz, now, viewer=viewer) for item in shown)]


def team_messages(
    items: Sequence[Item],
    tz: ZoneInfo,
    now: datetime,
    *,
    unallocated: Sequence[Unallocated] = (),
    viewer: Collection[str] = (),
) -> list[Message]:
    """`/team`: overdue and escalated items in the manager's span (read from `viewer`'s
    side: what is with them shows their stage's deadline), then the cases whose social
    worker has left, split to fit Telegram."""
    if not items and not unallocated:
        return [Message("Nothing overdue or escalated in your team. 🎉")]
    lines = []
    if items:
        lines.append(f"Overdue or escalated in your span ({len(items)}):")
        lines += [f"• {item_line(item, tz, now, viewer=viewer)}" for item in items]
    if unallocated:
        lines.append(f"{msg.UNALLOCATED_HEADING} ({len(unallocated)}):")
        lines += [f"• {msg.unallocated_line(case)}" for case in unallocated]
    return [Message(chunk) for chunk in chunk_lines(lines)]


def chunk_lines(lines: Sequence[str], limit: int = MAX_TEXT) -> list[str]:
    """Join lines into as few messages as fit Telegram's length limit, never splitting a line."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = line[:limit]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            chunks.append(current)
            current = line
        else:
            current = candidate
    if current:
        chunks.append(current)
    return chunks


def _taps(*actions: str) -> str:
    """`Submitted, Will be late or Need help`: button labels as a sentence names them."""
    labels = [BUTTON_LABELS[action] for action in actions]
    return labels[0] if len(labels) == 1 else f"{', '.join(labels[:-1])} or {labels[-1]}"


def help_text(role: str, name: str) -> str:
    """What this person can do, for their role."""
    lines = [f"Hello {name} ({role_label(role)}). I remind you of deadlines."]
    lines.append("• /mine: your open items, soonest first, with their buttons.")
    if role == SOCIAL_WORKER:
        taps = _taps(Action.SUBMITTED, Action.WILL_BE_LATE, Action.NEED_HELP)
        lines.append(f"• Tap {taps} on a report reminder.")
        lines.append(
            "• Or reply to a reminder: done, submitted, or late <reason> (e.g. late sick)."
        )
        lines.append(f"• Tap {_taps(Action.RESPONDED)} on a {ALERT_LABEL} once you have responded.")
    if role == IRO:
        lines.append(f"• /alert CASE_REF: raise a {ALERT_LABEL} (concern or positive) by buttons.")
        lines.append(f"• After a response, tap {_taps(Action.RESOLVED, Action.NOT_RESOLVED)}.")
        lines.append("• Log 9-month plan reviews with one tap on the reminder.")
        lines.append(f"• A conference that cannot go ahead: tap {_taps(Action.STAND_DOWN)}.")
        lines.append(
            f"• A looked-after review that cannot go ahead: tap "
            f"{button_label(Action.STAND_DOWN, LAC_REPORT)}."
        )
        lines.append(
            f"• Your own records after a review or conference: tap "
            f"{button_label(Action.UPLOADED)} or {button_label(Action.SENT)} (or reply done)."
        )
    if role == ADMIN:
        lines.append(
            "• When a child's next review or conference is due and not booked yet, you are told"
            " (case reference and due date): book it in the case system."
        )
    if role in MANAGER_ROLES:
        lines.append("• /mine also lists what is escalated to you, with your stage's deadline.")
        lines.append("• /team: overdue and escalated items in your span, and who holds each.")
        lines.append("• /cover: someone in your span is away: who covers, until when.")
        taps = _taps(Action.ACKNOWLEDGE, Action.RESPONDED, Action.RESOLVED, Action.CHASED)
        lines.append(f"• Escalations come with buttons: {taps}.")
    lines.append("Messages carry only case references and deadlines: never names or details.")
    return "\n".join(lines)


def start_text(result: str, name: str = "") -> str:
    """The answer to /start CODE for each way linking can go."""
    return {
        "linked": f"Welcome, {name}. You're linked. Send /mine for your open items or /help.",
        "already": f"You're already linked as {name}. Send /help to see what I can do.",
        "no_code": "Hello. To link your account, send /start followed by your invite code.",
        "locked": "Too many wrong codes. Please try again in an hour.",
        "busy": "Too many attempts just now. Please try again in a minute.",
        "used": "That code has already been used. Ask your manager for a new one.",
        "expired": "That code has expired. Ask your manager for a new one.",
        "inactive": NOT_LINKED,
    }.get(result, "That code isn't valid. Please check it or ask your manager for a new one.")


def alert_kind_message(case_ref: str, nonce: int) -> Message:
    """/alert step 1: a concern or a positive alert?"""
    return Message(
        f"New {ALERT_LABEL} on case {case_ref}. Is it a concern or a positive alert?",
        [
            [
                (ALERT_KIND_LABELS[kind], cb.encode(Action.ALERT_DRAFT, nonce, 0, f"k.{kind}"))
                for kind in ALERT_KINDS
            ],
            [(CANCEL, cb.encode(Action.ALERT_DRAFT, nonce, 0, "x"))],
        ],
    )


def alert_theme_message(case_ref: str, kind: str, nonce: int) -> Message:
    """/alert step 2: the theme, from the fixed list."""
    rows = [
        [(label, cb.encode(Action.ALERT_DRAFT, nonce, 0, f"t.{code}"))]
        for code, label in ((code, t.button) for code, t in THEMES.items())
    ]
    rows.append([(CANCEL, cb.encode(Action.ALERT_DRAFT, nonce, 0, "x"))])
    return Message(f"{ALERT_KIND_LABELS[kind]} alert on case {case_ref}. Which theme?", rows)


def alert_confirm_message(case_ref: str, kind: str, theme: str, nonce: int) -> Message:
    """/alert step 3: check before recording."""
    return Message(
        f"Raise a {ALERT_KIND_LABELS[kind].lower()} alert on case {case_ref}, "
        f"theme: {THEMES[theme].button.lower()}?",
        [
            [
                (CONFIRM, cb.encode(Action.ALERT_DRAFT, nonce, 0, "ok")),
                (CANCEL, cb.encode(Action.ALERT_DRAFT, nonce, 0, "x")),
            ]
        ],
    )


def alert_recorded_text(
    case_ref: str, kind: str, theme: str, due_at: datetime | None, tz: ZoneInfo
) -> str:
    """/alert done: what was recorded and what happens next."""
    theme_label = THEMES[theme].button.lower()
    what = f"{ALERT_KIND_LABELS[kind].lower()} alert on case {case_ref} ({theme_label})"
    if kind == "positive":
        return f"✅ Recorded: {what}. The {role_label(SOCIAL_WORKER)} will be told."
    due = f" The response is due {msg.when_text(due_at, tz)}." if due_at else ""
    who = f"{role_label(SOCIAL_WORKER)} and {role_label(TEAM_MANAGER)}"
    return f"✅ Recorded: {what}. The {who} will be told.{due}"


def alert_refusal(reason: str) -> str:
    """Why /alert could not start, without confirming whether a case exists."""
    return {
        "not_iro": f"Only {role_label(IRO)}s can raise {ALERT_LABEL}s.",
        "usage": "Send /alert followed by the case reference, e.g. /alert CR12345.",
        "no_plan": "I can't find an open plan or a child in care with that reference.",
        "cancelled": "Alert cancelled. Nothing was recorded.",
    }.get(reason, "Sorry, that didn't work. Nothing was recorded.")


# -- /cover ------------------------------------------------------------------------------

MAX_COVER_BUTTONS = 30


def _cover_button(label: str, nonce: int, arg: str) -> Button:
    """One step of the /cover draft (the nonce keeps an old draft's buttons from acting)."""
    return label, cb.encode(Action.COVER, nonce, 0, arg)


def cover_people_message(people: Sequence[Covered], nonce: int, *, searched: bool) -> Message:
    """/cover step 1: who is away (or back)? People in the manager's span, by name."""
    if not people:
        text = (
            "Nobody in your span matches that. Send /cover to list everyone."
            if searched else "There is nobody in your span to set cover for."
        )  # fmt: skip
        return Message(text)
    shown = people[:MAX_COVER_BUTTONS]
    rows: list[list[Button]] = []
    for n, entry in enumerate(shown):
        label = entry.person.name
        if entry.away is not None:
            label += f" · away until {msg.day_text(entry.away.ends_on)}"
        rows.append([_cover_button(label, nonce, f"p.{n}")])
    rows.append([_cover_button(CANCEL, nonce, "x")])
    text = "Cover: who is away? Tap the person (or someone away, to end it early)."
    if len(people) > len(shown):
        text += f" Showing {len(shown)} of {len(people)}: send /cover and part of a name."
    return Message(text, rows)


def cover_away_message(entry: Covered, nonce: int) -> Message:
    """/cover step 2 for someone away already: end it now?"""
    assert entry.away is not None
    who = f"; {entry.cover_name} covers" if entry.cover_name else ""
    return Message(
        f"{entry.person.name} is away until {msg.day_text(entry.away.ends_on)}{who}. "
        f"{END_ABSENCE}? What is still open returns to them.",
        [[_cover_button(END_ABSENCE, nonce, "e")], [_cover_button(CANCEL, nonce, "x")]],
    )


def cover_until_message(name: str, days: Sequence[date], nonce: int) -> Message:
    """/cover step 2: the last day away, from today to three weeks ahead."""
    rows = [[_cover_button(msg.day_text(day), nonce, f"u.{day:%Y%m%d}")] for day in days]
    rows.append([_cover_button(CANCEL, nonce, "x")])
    return Message(f"{name}: away until when? Tap the last day away.", rows)


def cover_who_message(
    name: str, until: date, candidates: Sequence[Person], nonce: int
) -> Message:
    """/cover step 3: who acts for them (their team manager first)."""
    rows = [
        [_cover_button(f"{p.name} ({role_label(p.role)})", nonce, f"c.{n}")]
        for n, p in enumerate(candidates)
    ]
    rows.append([_cover_button(CANCEL, nonce, "x")])
    return Message(f"{name} away until {msg.day_text(until)}. Who covers?", rows)


def cover_result_text(result: CoverResult) -> str:
    """/cover done, or why nothing changed."""
    if result.ok and result.code == "ended":
        return (
            f"✅ {result.name} is back: their open items are with them again. "
            "You and they have both been told."
        )
    if result.ok and result.until is not None:
        return (
            f"✅ Recorded: {result.name} is away until {msg.day_text(result.until)}; "
            f"{result.cover_name} covers, with the same buttons. Both have been told."
        )
    return {
        "not_manager": "/cover is for managers. Send /mine for your own items.",
        "not_in_span": "That person is not in your span, so nothing was changed.",
        "already_away": "They are recorded as away already. Send /cover to end it first.",
        "not_away": "They are not away now, so nothing was changed.",
        "cancelled": "Cover unchanged. Nothing was recorded.",
    }.get(result.code, "Sorry, I couldn't use that, so nothing was changed.")


def closed_text(item: Item) -> str:
    """What a stale reminder shows once its item has closed."""
    outcome = OUTCOME_LABELS.get(item.outcome or "", "closed")
    state = outcome if item.status == DONE else "no longer needed"
    return f"{msg.item_title(item)}: {state}."
