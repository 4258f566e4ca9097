"""End-to-end chat helpers: a linked hierarchy, cases, and the real bot against the stand-in.

`running_bot(ctx)` starts the unmodified PTB application from `bot.app.build_application`
long-polling the Bot API stand-in over real HTTP; `ChatHarness` lets a test type and tap
as a person would and wait for what their phone would show. Reminders reach phones through
the real outbox: `deliver` runs the engine's scan and dispatch passes with the bot's sender.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from bot.app import TelegramApp, build_application
from bot.context import AppContext
from handlers.conversation import UseCases
from handlers.ratelimit import RateLimiter
from models.tables import Conference, Notification, Obligation, Plan, QaAlert, Staff
from scheduler.pacing import Pacing
from scheduler.sync import sync_obligations
from tests.auxil.botapi import BotApiStandIn, BotMessage, CallbackAnswer

LONDON = ZoneInfo("Europe/London")
TOKEN = "123456:TEST"

# Telegram user ids of the linked people (chat id == user id in a private chat). Real ids
# run past 2**31 (up to 52 bits), so these do too: a 32-bit column would refuse them.
USERS = {
    "AD1": 6_123_456_001,
    "HOS1": 6_123_456_002,
    "SM1": 6_123_456_003,
    "TM1": 6_123_456_004,
    "SW1": 6_123_456_005,
    "SW2": 6_123_456_006,
    "TM2": 6_123_456_007,
    "SW3": 6_123_456_008,
    "SGM1": 6_123_456_009,
    "IRO1": 6_123_456_010,
    "IRO2": 6_123_456_011,
}
STRANGER = 6_987_654_321  # a Telegram account nobody linked
GROUP_CHAT = -1_001_234_567_890  # a supergroup's chat id: negative and past 2**31 too

# (staff_id, role, manager) - SW1/SW2 under TM1, SW3 under TM2, both teams under SM1.
HIERARCHY = (
    ("AD1", "assistant_director", None),
    ("HOS1", "head_of_service", "AD1"),
    ("SM1", "service_manager", "HOS1"),
    ("TM1", "team_manager", "SM1"),
    ("SW1", "social_worker", "TM1"),
    ("SW2", "social_worker", "TM1"),
    ("TM2", "team_manager", "SM1"),
    ("SW3", "social_worker", "TM2"),
    ("SGM1", "safeguarding_manager", "AD1"),
    ("IRO1", "iro", "SGM1"),
    ("IRO2", "iro", "SGM1"),
)
NAMES = {
    "AD1": "Dana Adeyemi",
    "HOS1": "Hari Osei",
    "SM1": "Sam Mistry",
    "TM1": "Tara Morgan",
    "SW1": "Sally Webb",
    "SW2": "Sean Walsh",
    "TM2": "Tom Marsh",
    "SW3": "Sita Wren",
    "SGM1": "Grace Mensah",
    "IRO1": "Iris Rowe",
    "IRO2": "Ivan Reid",
}


def london(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An aware UTC instant from a London wall-clock time."""
    return datetime(year, month, day, hour, minute, tzinfo=LONDON).astimezone(UTC)


# Tuesday 1 December 2026, 10am: a working day, inside working hours.
NOW = london(2026, 12, 1, 10)


class Clock:
    """A controllable `now` the conversation reads instead of the wall clock."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        """The current test time."""
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move time forward (e.g. `days=3`)."""
        self.now += timedelta(**delta)
        return self.now


def seed_org(session: Session, *, linked: Iterable[str] | None = None) -> None:
    """The hierarchy above, every person linked to their Telegram account unless told."""
    chosen = set(USERS if linked is None else linked)
    for staff_id, role, manager in HIERARCHY:
        uid = USERS[staff_id] if staff_id in chosen else None
        session.add(
            Staff(
                staff_id=staff_id,
                name=NAMES[staff_id],
                role=role,
                manager_id=manager,
                team="North" if staff_id != "TM2" and manager != "TM2" else "South",
                telegram_user_id=uid,
                chat_id=uid,
                linked_at=NOW if uid else None,
            )
        )
    session.flush()


def seed_case(
    session: Session,
    ctx: AppContext,
    case_ref: str = "CR-100",
    *,
    social_worker: str = "SW1",
    chair: str = "IRO1",
    plan_start: date = date(2026, 6, 1),
    conference_at: datetime | None = None,
    conference_kind: str = "RCPC",
    now: datetime = NOW,
) -> str:
    """A plan and (by default) an RCPC next week; the engine derives the obligations."""
    session.add(
        Plan(
            case_ref=case_ref,
            social_worker_id=social_worker,
            chair_id=chair,
            plan_start=plan_start,
        )
    )
    conference_id = f"{case_ref}-C1"
    session.add(
        Conference(
            conference_id=conference_id,
            case_ref=case_ref,
            kind=conference_kind,
            scheduled_for=conference_at or london(2026, 12, 9, 10),
            chair_id=chair,
        )
    )
    session.flush()
    sync_obligations(session, ctx.policy, now=now, case_refs={case_ref})
    return conference_id


def seed_alert(
    session: Session,
    ctx: AppContext,
    alert_id: str = "A-1",
    *,
    case_ref: str = "CR-100",
    raised_by: str = "IRO1",
    raised_at: datetime | None = None,
    now: datetime = NOW,
) -> str:
    """A concern raised by an IRO on an existing case; the engine starts its clock."""
    session.add(
        QaAlert(
            alert_id=alert_id,
            case_ref=case_ref,
            raised_by=raised_by,
            raised_at=raised_at or now,
            kind="concern",
            theme="drift_and_delay",
        )
    )
    session.flush()
    sync_obligations(session, ctx.policy, now=now, case_refs={case_ref})
    return alert_id


def obligation(session: Session, kind: str, subject_id: str) -> Obligation:
    """The one obligation of this kind for this subject."""
    return session.exec(
        select(Obligation).where(Obligation.kind == kind).where(Obligation.subject_id == subject_id)
    ).one()


def fresh(ctx: AppContext, model: type[Any], key: Any) -> Any:
    """A record as committed now (a new session, so nothing cached)."""
    with Session(ctx.engine) as session:
        return session.get(model, key)


def domain_state(ctx: AppContext) -> dict[str, list[tuple[Any, ...]]]:
    """Every record a chat action may change, to prove that bad input changed nothing."""
    tables: dict[str, tuple[type[Any], tuple[str, ...]]] = {
        "obligation": (
            Obligation,
            (
                "id",
                "status",
                "stage",
                "outcome",
                "late_reason",
                "expected_on",
                "help_requested_at",
                "version",
                "due_at",
            ),
        ),
        "conference": (Conference, ("conference_id", "report_received_at")),
        "alert": (QaAlert, ("alert_id", "responded_at", "closed_at", "outcome")),
        "plan": (Plan, ("case_ref", "plan_end")),
        "staff": (Staff, ("staff_id", "telegram_user_id", "active")),
        "notification": (Notification, ("key", "status")),
    }
    state: dict[str, list[tuple[Any, ...]]] = {}
    with Session(ctx.engine) as session:
        for name, (model, cols) in tables.items():
            rows = session.exec(select(*(getattr(model, c) for c in cols))).all()
            state[name] = sorted((tuple(r) for r in rows), key=repr)
    return state


@dataclass
class ChatHarness:
    """A running bot plus the people's side of the conversation."""

    api: BotApiStandIn
    app: TelegramApp
    ctx: AppContext
    clock: Clock
    worker: int = 0
    seen: dict[int, int] = field(default_factory=dict)

    def bot_messages(self, user_id: int) -> list[BotMessage]:
        """What the bot has sent to this person (current state of each message)."""
        return [m for m in self.api.messages(user_id) if not m.deleted]

    async def send(
        self, user_id: int, text: str, *, reply_to: int | None = None, expect: int = 1
    ) -> list[BotMessage]:
        """Type a message; returns the `expect` new messages the bot sends back."""
        before = len(self.bot_messages(user_id))
        self.api.user_sends(user_id, text, reply_to=reply_to)
        await self.api.wait_for(lambda: len(self.bot_messages(user_id)) >= before + expect)
        await asyncio.sleep(0.02)  # let any further message land before we look
        return self.bot_messages(user_id)[before:]

    async def press(
        self, user_id: int, message_id: int, data: str, *, edits: bool = True
    ) -> CallbackAnswer:
        """Tap a button; waits for the answer and (when expected) the message's edit."""
        target = self.api.message(user_id, message_id)
        edits_before = target.edit_count if target else 0
        query_id = self.api.user_presses(user_id, message_id, data)
        answer = await self.api.wait_for(lambda: self.api.callback_answers.get(query_id))
        if edits:
            await self.api.wait_for(
                lambda: (m := self.api.message(user_id, message_id)) and m.edit_count > edits_before
            )
        return answer

    async def deliver(self) -> int:
        """Run the engine once at the clock's time: scan, then dispatch through this bot."""
        from handlers.sender import TelegramSender
        from scheduler.jobs import run_once

        self.worker += 1
        _, result = await run_once(
            self.ctx, TelegramSender(self.app.bot), now=self.clock(),
            worker_id=f"test-{self.worker}", digest=False,
        )  # fmt: skip
        return int(result.sent)

    def sent_to(self, staff_id: str, ob: Obligation | None = None) -> list[BotMessage]:
        """The reminders the outbox delivered to one person (optionally for one item)."""
        with Session(self.ctx.engine) as session:
            stmt = select(Notification).where(Notification.recipient_id == staff_id)
            if ob is not None:
                stmt = stmt.where(Notification.obligation_id == ob.id)
            rows = session.exec(stmt.order_by(Notification.id)).all()  # type: ignore[arg-type]
        result = []
        for row in rows:
            if row.chat_id is not None and row.telegram_message_id is not None:
                message = self.api.message(row.chat_id, row.telegram_message_id)
                if message is not None:
                    result.append(message)
        return result


def button(message: BotMessage | None, label: str) -> str:
    """The callback data behind a button label."""
    assert message is not None
    for row in message.buttons:
        for text, data in row:
            if text == label:
                return data
    raise AssertionError(f"no button {label!r} in {message.buttons}")


def with_api(ctx: AppContext, api: BotApiStandIn) -> AppContext:
    """The same context with the Bot API base pointed at the stand-in."""
    settings = ctx.settings.model_copy(update={"telegram_api_url": api.base_url})
    return AppContext(settings=settings, policy=ctx.policy, engine=ctx.engine)


@asynccontextmanager
async def running_bot(
    ctx: AppContext,
    *,
    clock: Clock | None = None,
    limits: bool = False,
    use_cases: UseCases | None = None,
) -> AsyncIterator[ChatHarness]:
    """The stand-in and the real application long-polling it, stopped cleanly afterwards.

    With `limits` the stand-in enforces Telegram's flood limits and the bot's rate limiter
    paces on the real clock, as in production; without, the stand-in has no limits and the
    limiter paces on a simulated clock (`Pacing.virtual()`), so tests about other things do
    not wait out one-message-a-second pauses.
    """
    clock = clock or Clock()
    async with BotApiStandIn(token=TOKEN, limits=limits) as api:
        bot_ctx = with_api(ctx, api)
        limiter = None if limits else RateLimiter(Pacing.virtual())
        app = build_application(bot_ctx, clock=clock, use_cases=use_cases, rate_limiter=limiter)
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=1)
            try:
                yield ChatHarness(api, app, bot_ctx, clock)
            finally:
                await app.updater.stop()
                await app.stop()
