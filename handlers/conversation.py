"""The conversation without Telegram: one update in, what to answer/edit/send out.

Every entry point here takes plain values (user id, chat id, text or callback data), opens
one unit of work, checks who is asking, calls one function in `handlers.actions` and
renders with `handlers.render`. The PTB layer (`handlers.telegram`) only translates updates
into these calls and the returned `Reply` into Bot API calls; tests and the fuzzer call
these entry points directly too.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable, MutableMapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from handlers import actions, alerts, cover, effects, lists, render
from handlers.parse import parse_reply
from models import buttons as cb
from models.audit import record
from models.buttons import Message
from models.invites import RedeemOutcome, redeem_invite
from models.tables import Obligation, Staff
from models.vocabulary import ALERT_KINDS, OPEN, THEME_CODES, Action, is_manager
from scheduler.deadlines import cover_until_days, late_days
from scheduler.dispatch import release_held
from scheduler.items import Item, Unallocated
from scheduler.org import Person
from scheduler.runtime import Runtime

logger = logging.getLogger(__name__)

DRAFT_KEY = "alert_draft"
COVER_KEY = "cover_draft"
ITEMS_KEY = "edited_items"  # message id -> item id, for replies to messages without buttons
REMEMBERED = 200
MAX_CASE_REF = 64
COMMANDS = ("start", "help", "mine", "alert", "team", "cover")


def remember(user_data: MutableMapping[str, Any], message_id: int, item_id: int) -> None:
    """Note which item an edited message shows (the newest few hundred per person)."""
    items = user_data.setdefault(ITEMS_KEY, {})
    if not isinstance(items, dict):
        return
    items.pop(message_id, None)
    items[message_id] = item_id
    while len(items) > REMEMBERED:
        items.pop(next(iter(items)))


@dataclass(frozen=True)
class UseCases:
    """The use cases a chat update may call: production's by default, a fake in a test.

    Passed in through the composition root (`bot.app.build_application`), so a test of the
    error path hands over a failing use case instead of monkeypatching a module.
    """

    press: Callable[..., effects.ActionResult] = actions.press
    reply: Callable[..., effects.ActionResult] = actions.reply
    open_items: Callable[..., list[Item]] = lists.open_items
    acting_for: Callable[..., set[str]] = lists.acting_for
    team_items: Callable[..., list[Item]] = lists.team_items
    unallocated_cases: Callable[..., list[Unallocated]] = lists.unallocated_cases
    item_for_message: Callable[..., int | None] = lists.item_for_message
    alert_refusal: Callable[..., str | None] = alerts.alert_refusal
    raise_alert: Callable[..., alerts.AlertResult] = alerts.raise_alert
    cover_span: Callable[..., list[cover.Covered]] = cover.cover_span
    cover_candidates: Callable[..., list[Person]] = cover.cover_candidates
    set_cover: Callable[..., cover.CoverResult] = cover.set_cover
    end_cover: Callable[..., cover.CoverResult] = cover.end_cover


@dataclass
class Reply:
    """What to do in Telegram: answer the press, edit a message, send new messages."""

    answer: str | None = None
    edit: Message | None = None
    edit_message_id: int | None = None
    send: list[Message] = field(default_factory=list)


@dataclass(frozen=True)
class Quoted:
    """The message a text replies to: its id, whether the bot sent it, and its buttons."""

    message_id: int
    from_bot: bool
    callback_data: tuple[str, ...] = ()


def _text(text: str) -> Reply:
    """A reply that just sends one plain message."""
    return Reply(send=[Message(text)])


def _day(text: str) -> date | None:
    """`20261204` from a /cover button, or None."""
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


class Conversation:
    """Turns chat input into checked actions; holds only the context and a clock."""

    def __init__(
        self,
        ctx: Runtime,
        clock: Callable[[], datetime] | None = None,
        use_cases: UseCases | None = None,
    ) -> None:
        self.ctx = ctx
        self.use = use_cases or UseCases()
        self.clock = clock or ctx.clock
        self.tz = ctx.policy.calendar().tz
        # SQLite has one writer at a time and its busy handler sleeps in growing steps, so
        # concurrent updates queue here instead of backing off inside the driver.
        sqlite = ctx.engine.dialect.name == "sqlite"
        self._serial: AbstractContextManager[Any] = threading.Lock() if sqlite else nullcontext()
        # The PTB layer calls us on the event loop itself, on PostgreSQL too: a press is mostly
        # Python (ORM, rules), so a worker thread buys little and its GIL hand-overs cost CPU
        # and the tail (benchmarks/press.py on PostgreSQL, back to back: 50/s p95 26 ms, 8.5 ms
        # CPU a press in threads, 11 ms and 7.4 ms inline; 100/s: 87/s done in threads, all
        # inline). More presses than one process takes go to more processes (README).
        self.inline = True

    # -- lookups -----------------------------------------------------------------------

    @staticmethod
    def linked(session: Session, user_id: int) -> Staff | None:
        """The active staff record linked to this Telegram account, or None (no access)."""
        staff = session.exec(select(Staff).where(Staff.telegram_user_id == user_id)).first()
        return staff if staff is not None and staff.active else None

    # -- commands ----------------------------------------------------------------------

    def command(
        self,
        *,
        user_id: int,
        chat_id: int,
        chat_type: str,
        name: str,
        args: Sequence[str],
        user_data: MutableMapping[str, Any],
    ) -> Reply:
        """`/start`, `/help`, `/mine`, `/alert`, `/team`, `/cover`, or anything else (a hint)."""
        if chat_type != "private":
            return _text(render.PRIVATE_ONLY)
        now = self.clock()
        with self._serial, self.ctx.session() as session:
            if name == "start":
                return self._start(session, user_id, chat_id, args, now)
            staff = self.linked(session, user_id)
            if staff is None:
                return _text(render.NOT_LINKED)
            if name == "help":
                return _text(render.help_text(staff.role, staff.name))
            if name == "mine":
                items = self.use.open_items(session, staff.staff_id, now=now, tz=self.tz,
                                            policy=self.ctx.policy)  # fmt: skip
                viewer = self.use.acting_for(session, staff.staff_id, now=now, tz=self.tz)
                return Reply(send=render.mine_messages(items, self.tz, now, viewer=viewer))
            if name == "team":
                if not is_manager(staff.role):
                    return _text("/team is for managers. Send /mine for your own items.")
                items = self.use.team_items(session, staff.staff_id, now, policy=self.ctx.policy)
                cases = self.use.unallocated_cases(session, staff.staff_id)
                return Reply(send=render.team_messages(items, self.tz, now, unallocated=cases,
                                                       viewer={staff.staff_id}))  # fmt: skip
            if name == "alert":
                return self._alert_start(session, staff, args, user_data, now)
            if name == "cover":
                return self._cover_start(session, staff, args, user_data, now)
            return _text(render.UNKNOWN_COMMAND)

    def _start(
        self, session: Session, user_id: int, chat_id: int, args: Sequence[str], now: datetime
    ) -> Reply:
        """Link this account with an invite code (a deep link arrives as the same command)."""
        current = session.exec(select(Staff).where(Staff.telegram_user_id == user_id)).first()
        if current is not None and current.active:
            release_held(session, current.staff_id, now=now)  # a fresh /start: unblocked us
            return _text(render.start_text("already", current.name))
        if not args:
            return _text(render.start_text("no_code"))
        result = redeem_invite(
            session, code=" ".join(args)[:100], telegram_user_id=user_id, chat_id=chat_id, now=now
        )
        if result.ok:
            staff = session.get(Staff, result.staff_id) if result.staff_id else None
            if staff is not None:
                release_held(session, staff.staff_id, now=now)  # waiting reminders go now
            return _text(render.start_text("linked", staff.name if staff else ""))
        outcome = {
            RedeemOutcome.LOCKED: "locked",
            RedeemOutcome.BUSY: "busy",
            RedeemOutcome.USED: "used",
            RedeemOutcome.EXPIRED: "expired",
            RedeemOutcome.STAFF_INACTIVE: "inactive",
            RedeemOutcome.NO_CODE: "no_code",
        }.get(result.outcome, "wrong")
        return _text(render.start_text(outcome))

    # -- /alert ------------------------------------------------------------------------

    def _alert_start(
        self,
        session: Session,
        staff: Staff,
        args: Sequence[str],
        user_data: MutableMapping[str, Any],
        now: datetime,
    ) -> Reply:
        """Check the IRO may raise an alert on this case, then ask concern or positive."""
        if staff.role != "iro":
            return _text(render.alert_refusal("not_iro"))
        if not args or len(args[0]) > MAX_CASE_REF:
            return _text(render.alert_refusal("usage"))
        case_ref = args[0].strip()
        refusal = self.use.alert_refusal(
            session, self.ctx.policy, actor=staff, case_ref=case_ref, now=now
        )
        if refusal:
            record(session, at=now, actor=staff.staff_id, action="alert_refused", reason=refusal)
            return _text(render.alert_refusal(refusal))
        nonce = secrets.randbelow(10**12)
        user_data[DRAFT_KEY] = {
            "nonce": nonce,
            "case_ref": case_ref,
            "alert_id": f"TG-{now:%Y%m%d}-{secrets.token_hex(4).upper()}",
            "kind": None,
            "theme": None,
        }
        messages = [render.alert_kind_message(case_ref, nonce)]
        if len(args) > 1:
            messages.insert(0, Message(render.NOTE_WARNING))
        return Reply(send=messages)

    def _alert_press(
        self,
        session: Session,
        staff: Staff,
        press: cb.Callback,
        message_id: int,
        user_data: MutableMapping[str, Any],
        now: datetime,
    ) -> Reply:
        """One step of the alert draft: kind, theme, confirm or cancel."""
        draft = user_data.get(DRAFT_KEY)
        if not isinstance(draft, dict) or draft.get("nonce") != press.item_id:
            return Reply(answer=render.REFUSALS["expired"])
        case_ref = str(draft["case_ref"])
        arg = press.arg
        if arg == "x":
            user_data.pop(DRAFT_KEY, None)
            return self._edit(message_id, render.alert_refusal("cancelled"))
        if arg.startswith("k.") and arg[2:] in ALERT_KINDS:
            draft["kind"] = arg[2:]
            message = render.alert_theme_message(case_ref, arg[2:], press.item_id)
            return Reply(edit=message, edit_message_id=message_id)
        if arg.startswith("t.") and arg[2:] in THEME_CODES and draft.get("kind"):
            draft["theme"] = arg[2:]
            message = render.alert_confirm_message(case_ref, draft["kind"], arg[2:], press.item_id)
            return Reply(edit=message, edit_message_id=message_id)
        if arg == "ok" and draft.get("kind") and draft.get("theme"):
            result = self.use.raise_alert(
                session,
                self.ctx.policy,
                actor=staff,
                alert_id=str(draft["alert_id"]),
                case_ref=case_ref,
                kind=str(draft["kind"]),
                theme=str(draft["theme"]),
                now=now,
            )
            user_data.pop(DRAFT_KEY, None)
            if not result.ok:
                return self._edit(message_id, render.alert_refusal(result.code))
            text = render.alert_recorded_text(
                case_ref, str(draft["kind"]), str(draft["theme"]), result.due_at, self.tz
            )
            return Reply(answer="Recorded.", edit=Message(text), edit_message_id=message_id)
        return Reply(answer=render.REFUSALS["invalid"])

    # -- /cover ------------------------------------------------------------------------

    def _cover_start(
        self,
        session: Session,
        staff: Staff,
        args: Sequence[str],
        user_data: MutableMapping[str, Any],
        now: datetime,
    ) -> Reply:
        """A manager's span by name (or those matching the words after /cover), as buttons."""
        if not is_manager(staff.role):
            return _text(render.cover_result_text(cover.CoverResult(False, "not_manager")))
        search = " ".join(args)[:100].strip()
        people = self.use.cover_span(
            session, self.ctx.policy, actor=staff, now=now, search=search
        )[: render.MAX_COVER_BUTTONS]
        nonce = secrets.randbelow(10**12)
        user_data[COVER_KEY] = {
            "nonce": nonce,
            "people": [entry.person.staff_id for entry in people],
            "who": None,
            "until": None,
            "covers": [],
        }
        return Reply(send=[render.cover_people_message(people, nonce, searched=bool(search))])

    def _cover_press(
        self,
        session: Session,
        staff: Staff,
        press: cb.Callback,
        message_id: int,
        user_data: MutableMapping[str, Any],
        now: datetime,
    ) -> Reply:
        """One step of the /cover draft: who, end now, until when, who covers, or cancel."""
        draft = user_data.get(COVER_KEY)
        if not isinstance(draft, dict) or draft.get("nonce") != press.item_id:
            return Reply(answer=render.REFUSALS["expired_cover"])
        policy = self.ctx.policy
        kind, _, value = press.arg.partition(".")
        people, covers = draft.get("people") or [], draft.get("covers") or []
        who = draft.get("who")
        if press.arg == "x":
            user_data.pop(COVER_KEY, None)
            cancelled = cover.CoverResult(False, "cancelled")
            return self._edit(message_id, render.cover_result_text(cancelled))
        if kind == "p" and value.isdigit() and int(value) < len(people):
            found = self.use.cover_span(session, policy, actor=staff, now=now)
            entry = next((e for e in found if e.person.staff_id == people[int(value)]), None)
            if entry is None:
                refused = cover.CoverResult(False, "not_in_span")
                return self._edit(message_id, render.cover_result_text(refused))
            draft.update(who=entry.person.staff_id, name=entry.person.name, until=None, covers=[])
            if entry.away is not None:
                edit = render.cover_away_message(entry, press.item_id)
            else:
                days = cover_until_days(self.ctx.calendar, self.ctx.calendar.local(now).date())
                edit = render.cover_until_message(entry.person.name, days, press.item_id)
            return Reply(edit=edit, edit_message_id=message_id)
        if press.arg == "e" and who:
            result = self.use.end_cover(session, policy, actor=staff, staff_id=who, now=now)
            user_data.pop(COVER_KEY, None)
            return self._cover_done(message_id, result)
        if kind == "u" and who:
            until = _day(value)
            if until is None or not cover.valid_until(policy, now, until):
                return Reply(answer=render.REFUSALS["invalid"])
            candidates = self.use.cover_candidates(
                session, policy, actor=staff, staff_id=who, now=now
            )
            draft.update(until=until.isoformat(), covers=[p.staff_id for p in candidates])
            edit = render.cover_who_message(str(draft.get("name")), until, candidates,
                                            press.item_id)  # fmt: skip
            return Reply(edit=edit, edit_message_id=message_id)
        chosen = int(value) if kind == "c" and value.isdigit() else len(covers)
        if who and draft.get("until") and chosen < len(covers):
            result = self.use.set_cover(
                session, policy, actor=staff, staff_id=who, now=now,
                until=date.fromisoformat(str(draft["until"])), cover_id=covers[chosen],
            )  # fmt: skip
            user_data.pop(COVER_KEY, None)
            return self._cover_done(message_id, result)
        return Reply(answer=render.REFUSALS["invalid"])

    def _cover_done(self, message_id: int, result: cover.CoverResult) -> Reply:
        """The pressed message becomes the outcome, buttons gone."""
        text = render.cover_result_text(result)
        return Reply(answer="Recorded." if result.ok else "", edit=Message(text),
                     edit_message_id=message_id)  # fmt: skip

    # -- button presses ----------------------------------------------------------------

    def press(
        self,
        *,
        user_id: int,
        chat_id: int,
        chat_type: str,
        message_id: int | None,
        data: str | None,
        user_data: MutableMapping[str, Any],
    ) -> Reply:
        """A tap on an inline button: decode, check who and what, act once, show the result."""
        if chat_type != "private":
            return Reply(answer=render.PRIVATE_ONLY)
        try:
            return self._press(user_id, message_id, data, user_data)
        except effects.ActionConflict:
            logger.warning("press lost a race after changing the record; rolled back")
            return Reply(answer=render.REFUSALS["stale"])

    def _press(
        self,
        user_id: int,
        message_id: int | None,
        data: str | None,
        user_data: MutableMapping[str, Any],
    ) -> Reply:
        """The press in one unit of work (rolled back whole on a conflict)."""
        now = self.clock()
        decoded = cb.decode(data)
        with self._serial, self.ctx.session() as session:
            staff = self.linked(session, user_id)
            actor = staff.staff_id if staff else f"tg:{user_id}"
            if decoded is None or staff is None:
                code = "invalid" if staff is not None else "not_linked"
                effects.refuse(session, actor=actor, code=code, now=now, button="press")
                return Reply(answer=render.REFUSALS[code])
            if decoded.action == Action.ALERT_DRAFT:
                return self._alert_press(session, staff, decoded, message_id or 0, user_data, now)
            if decoded.action == Action.COVER:
                return self._cover_press(session, staff, decoded, message_id or 0, user_data, now)
            result = self.use.press(
                session, self.ctx.policy, actor=staff, callback=decoded, now=now
            )
            if result.ok and result.item is not None and message_id:
                remember(user_data, message_id, result.item.id)
            return self._result_reply(result, message_id, now)

    def _result_reply(
        self, result: effects.ActionResult, message_id: int | None, now: datetime
    ) -> Reply:
        """Render an action's result as an edit of the pressed message plus a short answer."""
        if not result.ok or result.item is None:
            return Reply(answer=render.refusal_text(result, self.tz, now))
        item = result.item
        if result.code == effects.ASK_REASON:
            return Reply(edit=render.late_reason_message(item, self.tz), edit_message_id=message_id)
        if result.code == effects.ASK_DATE:
            days = late_days(self.ctx.calendar, now, item.due_at)
            message = render.late_date_message(item, result.reason, days, self.tz)
            return Reply(edit=message, edit_message_id=message_id)
        if result.code == effects.ASK_STAND_DOWN:
            message = render.stand_down_reason_message(item, self.tz)
            return Reply(edit=message, edit_message_id=message_id)
        text = render.action_text(result, self.tz, now)
        return Reply(answer="Recorded.", edit=Message(text), edit_message_id=message_id)

    @staticmethod
    def _edit(message_id: int, text: str) -> Reply:
        """Replace the pressed message with plain text, no buttons."""
        return Reply(answer="", edit=Message(text), edit_message_id=message_id)

    # -- text --------------------------------------------------------------------------

    def text(
        self,
        *,
        user_id: int,
        chat_id: int,
        chat_type: str,
        text: str,
        quoted: Quoted | None,
        user_data: MutableMapping[str, Any],
    ) -> Reply:
        """A typed message: a reply to a reminder acts on it; anything else gets a hint."""
        if chat_type != "private":
            return Reply()
        try:
            return self._text(user_id, chat_id, text, quoted, user_data)
        except effects.ActionConflict:
            logger.warning("reply lost a race after changing the record; rolled back")
            return _text(render.REFUSALS["stale"])

    def _text(
        self,
        user_id: int,
        chat_id: int,
        text: str,
        quoted: Quoted | None,
        user_data: MutableMapping[str, Any],
    ) -> Reply:
        """The text reply in one unit of work (rolled back whole on a conflict)."""
        now = self.clock()
        with self._serial, self.ctx.session() as session:
            staff = self.linked(session, user_id)
            if staff is None:
                return _text(render.NOT_LINKED)
            item_id = self._quoted_item(session, chat_id, quoted, user_data)
            if item_id is None or quoted is None:
                if isinstance(user_data.get(DRAFT_KEY), dict):
                    return _text(render.NOTE_WARNING)
                return _text(render.TEXT_HINT)
            intent = parse_reply(text)
            if intent is None:
                return self._again(session, staff, item_id, now)
            result = self.use.reply(
                session, self.ctx.policy, actor=staff, obligation_id=item_id, intent=intent, now=now
            )
            if not result.ok and result.code == effects.UNRECOGNISED:
                return self._again(session, staff, item_id, now)
            return self._text_result(result, quoted.message_id, now)

    def _quoted_item(
        self,
        session: Session,
        chat_id: int,
        quoted: Quoted | None,
        user_data: MutableMapping[str, Any],
    ) -> int | None:
        """Which item the replied-to message is about.

        A delivered reminder is found through the outbox; a `/mine` message through its
        buttons or, once a tap has replaced them, through the ids remembered at that tap.
        """
        if quoted is None:
            return None
        found = self.use.item_for_message(session, chat_id, quoted.message_id)
        if found is not None or not quoted.from_bot:
            return found
        for data in quoted.callback_data:
            decoded = cb.decode(data)
            if decoded is not None and decoded.action != Action.ALERT_DRAFT:
                return decoded.item_id
        items = user_data.get(ITEMS_KEY)
        return items.get(quoted.message_id) if isinstance(items, dict) else None

    def _again(self, session: Session, staff: Staff, item_id: int, now: datetime) -> Reply:
        """Unrecognised reply: the item's buttons again (to its owner only) and a hint."""
        hint = "I didn't catch that. Tap a button, or reply done, submitted or late <reason>."
        ob = session.get(Obligation, item_id)
        if ob is None or ob.owner_id != staff.staff_id or ob.status != OPEN:
            return _text(render.TEXT_HINT)
        item = effects.view(ob)
        keyboard = render.owner_keyboard(item)
        return Reply(send=[Message(f"{hint}\n{render.item_line(item, self.tz, now)}", keyboard)])

    def _text_result(self, result: effects.ActionResult, quoted_id: int, now: datetime) -> Reply:
        """A text reply's result: edit the reminder to its new state and confirm below it;
        `late <reason>` gets one message saying what was recorded and asking the date."""
        if not result.ok or result.item is None:
            return _text(render.refusal_text(result, self.tz, now))
        item = result.item
        if result.code == effects.ASK_REASON:
            return Reply(send=[render.late_reason_message(item, self.tz)])
        if result.code == effects.ASK_DATE:
            days = late_days(self.ctx.calendar, now, item.due_at)
            return Reply(send=[render.late_date_message(item, result.reason, days, self.tz,
                                                        recorded=True)])  # fmt: skip
        text = render.action_text(result, self.tz, now)
        return Reply(edit=Message(text), edit_message_id=quoted_id, send=[Message(text)])

    def other(self, *, user_id: int, chat_type: str) -> Reply:
        """Stickers, photos, voice notes: nothing to act on; a hint (or the linking answer)."""
        if chat_type != "private":
            return Reply()
        with self._serial, self.ctx.session() as session:
            staff = self.linked(session, user_id)
        return _text(render.TEXT_HINT if staff else render.NOT_LINKED)
