"""Scripted people: how the demo's staff answer their phones, through the real actions."""

from __future__ import annotations

import random
from datetime import date, datetime

from sqlmodel import Session

from bot.demo.caseload import AWAY_CASE, LAC_PREFIX, STOOD_DOWN_CASE
from bot.demo.transcript import Delivered
from handlers import actions, effects, render
from models import buttons as cb
from models.tables import Staff
from models.vocabulary import LATE_REASONS, STAND_DOWN_REASONS, Action
from scheduler import messages as msg
from scheduler.deadlines import late_days
from scheduler.policy import Policy

# For each button a person might press: how likely a demo person is to press it.
# Whatever is left over is "ignored", which is what makes the ladders climb.
WEIGHTS: dict[str, float] = {
    Action.SUBMITTED: 0.45,
    Action.WILL_BE_LATE: 0.15,
    Action.NEED_HELP: 0.03,
    Action.RESPONDED: 0.30,
    Action.ACKNOWLEDGE: 0.35,
    Action.RESOLVED: 0.35,
    Action.NOT_RESOLVED: 0.2,
    Action.CHASED: 0.45,
    Action.REPORT_IN: 0.25,
    Action.REARRANGE: 0.1,
    Action.STAND_DOWN: 0.1,
    Action.REVIEW_CONTINUES: 0.6,
    Action.REVIEW_EXIT: 0.15,
    Action.REVIEW_ENDED: 0.05,
}
LATE_REASON = "awaiting_info"
STAND_DOWN_REASON = "not_quorate"


def _choose(buttons: list[tuple[str, cb.Callback]], rng: random.Random) -> tuple[str, cb.Callback]:
    """Pick one button by weight, or nothing (`ignore`) with the remaining probability."""
    roll = rng.random()
    for label, callback in buttons:
        roll -= WEIGHTS.get(callback.action, 0.0)
        if roll < 0:
            return label, callback
    return "", cb.Callback(Action.SUBMITTED, 0, 0)


def _late_date(policy: Policy, now: datetime, due_at: datetime) -> date:
    """The demo's promised date: the second working day offered."""
    return late_days(policy.calendar(), now, due_at)[1]


def _scripted(
    entry: Delivered, pressable: list[tuple[str, cb.Callback]]
) -> tuple[str, cb.Callback] | None:
    """The demo's fixed moments: the cover submits the report of the colleague they cover,
    the stood-down case's report never comes: its chair stands the conference down; for
    children in care the worker submits their report and the IRO uploads their record."""
    if STOOD_DOWN_CASE in entry.text:
        chosen = [(label, c) for label, c in pressable if c.action == Action.STAND_DOWN]
        return chosen[0] if chosen else ("", cb.Callback(Action.SUBMITTED, 0, 0))
    if LAC_PREFIX in entry.text:  # a child in care: the report is sent, the record uploaded
        done = (Action.SUBMITTED, Action.UPLOADED, Action.SENT)
        chosen = [(label, c) for label, c in pressable if c.action in done]
        return chosen[0] if chosen else None
    if entry.text.startswith("↪️ Covering for") and AWAY_CASE in entry.text:
        chosen = [(label, c) for label, c in pressable if c.action == Action.SUBMITTED]
        return chosen[0] if chosen else None
    return None


def answer(
    session: Session,
    policy: Policy,
    person: Staff,
    entry: Delivered,
    now: datetime,
    rng: random.Random,
) -> str | None:
    """Maybe press one of the message's buttons; returns what the person saw, for the transcript."""
    pressable: list[tuple[str, cb.Callback]] = []
    for row in entry.buttons or []:
        for label, data in row:
            decoded = cb.decode(data)
            if decoded is not None:
                pressable.append((label, decoded))
    label, callback = _scripted(entry, pressable) or _choose(pressable, rng)
    if not label:
        return None
    result = actions.press(session, policy, actor=person, callback=callback, now=now)
    if result.ok and result.code == effects.ASK_REASON:
        reason_press = cb.Callback(
            Action.LATE_REASON, callback.item_id, callback.stage, LATE_REASON
        )
        result = actions.press(session, policy, actor=person, callback=reason_press, now=now)
        if result.ok and result.code == effects.ASK_DATE:
            assert result.item is not None
            day = _late_date(policy, now, result.item.due_at)
            arg = f"{LATE_REASON}.{day:%Y%m%d}"
            date_press = cb.Callback(Action.LATE_DATE, callback.item_id, callback.stage, arg)
            result = actions.press(session, policy, actor=person, callback=date_press, now=now)
            label = f"{label}] → [{LATE_REASONS[LATE_REASON].button}] → [{msg.day_text(day)}"
    if result.ok and result.code == effects.ASK_STAND_DOWN:
        why = STAND_DOWN_REASON
        reason_press = cb.Callback(Action.STAND_DOWN_REASON, callback.item_id, callback.stage, why)
        result = actions.press(session, policy, actor=person, callback=reason_press, now=now)
        label = f"{label}] → [{STAND_DOWN_REASONS[why].button}"
    shown = render.action_text(result, policy.calendar().tz, now)
    when = f"{policy.calendar().local(now):%H:%M}"
    return f"{when} taps [{label}] → {shown.splitlines()[0]}"
