"""The one Telegram sender: every message the bot sends or edits goes through here, one error map.

Dispatch sends through it as the `scheduler.senders.Sender` port (`send`, in the limiter's
outbox lane); the chat handlers reply, edit and answer taps through it (`reply`, `edit`,
`answer`). Every call goes through the bot's one rate limiter (`handlers.ratelimit`) when
the bot has it, and every failure comes back as one of the port's `SendError` cases.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import ExtBot
from telegram.request import HTTPXRequest

from handlers.ratelimit import RateLimiter, retry_seconds
from models.buttons import Message
from scheduler.pacing import OUTBOX, REPLY, Lane, Pacing
from scheduler.senders import (
    Keyboard,
    SendBadRequest,
    SendError,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
    SendUnknown,
)

logger = logging.getLogger(__name__)


def build_markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """Rows of (label, callback data) as Telegram's inline keyboard."""
    if not keyboard:
        return None
    rows = [[InlineKeyboardButton(text, callback_data=data) for text, data in r] for r in keyboard]
    return InlineKeyboardMarkup(rows)


# Telegram's answers (400 as well as 403) meaning the bot cannot reach this person at all.
UNREACHABLE_ANSWERS = (
    "chat not found",
    "user not found",
    "user is deactivated",
    "bot was blocked",
    "bot was kicked",
    "not enough rights",
    "have no rights to send",
    "peer_id_invalid",
    "bot can't initiate conversation",
)
# Where httpx gave up before the request could have reached Telegram: safe to send again.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteTimeout,
    httpx.WriteError,
    httpx.ProxyError,
    httpx.UnsupportedProtocol,
    httpx.LocalProtocolError,
)


def is_unreachable(description: str) -> bool:
    """Whether Telegram's error text says the person cannot be reached (not the message's fault)."""
    text = description.lower()
    return any(answer in text for answer in UNREACHABLE_ANSWERS)


def translate(exc: Exception) -> SendError:
    """Map what PTB raised onto the dispatcher's cases, by whether the message may have gone.

    A read timeout, a dropped connection after the request went, an unreadable reply or any
    exception nobody expected is `SendUnknown`; only failures PTB ties to the connection, the
    pool or the upload, and error answers from Telegram (5xx), are `SendTransient`.
    """
    cause = exc.__cause__
    if isinstance(exc, SendError):
        return exc
    if isinstance(exc, RetryAfter):
        return SendRetryAfter(retry_seconds(exc))
    if isinstance(exc, Forbidden):
        return SendForbidden(str(exc))
    if isinstance(exc, InvalidToken):
        return SendUnauthorized(str(exc))
    if isinstance(exc, BadRequest):  # a NetworkError subclass: before it
        return SendForbidden(str(exc)) if is_unreachable(str(exc)) else SendBadRequest(str(exc))
    if isinstance(exc, ChatMigrated):
        return SendBadRequest(str(exc))
    if isinstance(exc, TimedOut):
        if isinstance(cause, _NOT_SENT):
            return SendTransient(f"{type(cause).__name__}: {exc}")
        return SendUnknown(f"no reply in time: {exc}")
    if isinstance(exc, NetworkError):
        if cause is None or isinstance(cause, (TelegramError, *_NOT_SENT)):
            return SendTransient(str(exc) or type(exc).__name__)  # an answer, or no connection
        return SendUnknown(str(exc) or type(exc).__name__)  # e.g. the reply was cut off
    return SendUnknown(f"{type(exc).__name__}: {exc}")  # unreadable reply or a surprise


class TelegramSender:
    """The production sender: one PTB `Bot`, errors mapped onto the dispatcher's cases.

    `pacing` is the bot's rate limiter's, for the dispatcher to plan with; None for a bot
    without our limiter (a plain `Bot` in a test), which then sends unpaced.
    """

    def __init__(self, bot: Bot) -> None:
        self.bot = bot
        limiter = bot.rate_limiter if isinstance(bot, ExtBot) else None
        self.pacing: Pacing | None = limiter.pacing if isinstance(limiter, RateLimiter) else None

    def _lane(self, lane: Lane) -> dict[str, Any]:
        """The limiter's lane for one call (PTB refuses `rate_limit_args` without a limiter)."""
        return {"rate_limit_args": lane} if self.pacing is not None else {}

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Send an outbox message (or a photo captioned with it); return the message id."""
        return await self._send(chat_id, text, keyboard, photo, OUTBOX)

    async def reply(self, chat_id: int, message: Message) -> int:
        """Send a chat reply: the chat's burst allowed, a flood wait waited out."""
        return await self._send(chat_id, message.text, message.keyboard, None, REPLY)

    async def _send(
        self, chat_id: int, text: str, keyboard: Keyboard | None, photo: bytes | None, lane: Lane
    ) -> int:
        """One sendMessage or sendPhoto in a lane, its failure translated."""
        markup = build_markup(keyboard)
        try:
            if photo is not None:
                message = await self.bot.send_photo(
                    chat_id=chat_id, photo=photo, caption=text, reply_markup=markup,
                    **self._lane(lane),
                )  # fmt: skip
            else:
                message = await self.bot.send_message(
                    chat_id=chat_id, text=text, reply_markup=markup, **self._lane(lane)
                )
            message_id = int(message.message_id)
        except Exception as exc:
            raise translate(exc) from exc
        return message_id

    async def edit(self, chat_id: int, message_id: int, message: Message) -> None:
        """Replace a message's text and buttons in place."""
        try:
            await self.bot.edit_message_text(
                message.text,
                chat_id=chat_id,
                message_id=message_id,
                reply_markup=build_markup(message.keyboard),
                **self._lane(REPLY),
            )
        except Exception as exc:
            raise translate(exc) from exc

    async def answer(self, query_id: str, text: str | None) -> None:
        """Answer a tap (stops the button's spinner), with a short notice when there is one."""
        try:
            await self.bot.answer_callback_query(query_id, text or None, **self._lane(REPLY))
        except Exception as exc:
            raise translate(exc) from exc

    async def close(self) -> None:
        """Release the HTTP connection pool when the sender is done for good."""
        await self.bot.shutdown()


def file_url(api_url: str) -> str:
    """The file endpoint beside a Bot API base (`.../bot` -> `.../file/bot`)."""
    head, sep, _ = api_url.rpartition("/bot")
    return f"{head}/file/bot" if sep else api_url


def build_bot(
    *,
    token: str | None,
    api_url: str,
    pool_size: int = 32,
    timeout: float = 10.0,
    rate_limiter: RateLimiter | None = None,
) -> ExtBot[Lane]:
    """A PTB bot for this token and Bot API base URL (the stand-in in tests), rate limited.

    Every request passes `rate_limiter` (a fresh one on the real clock by default): tick
    and worker get the same limits as `irobot run`.
    """
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        pool_timeout=timeout,
    )
    return ExtBot(
        token=token,
        base_url=api_url,
        base_file_url=file_url(api_url),
        request=request,
        rate_limiter=rate_limiter if rate_limiter is not None else RateLimiter(),
    )
