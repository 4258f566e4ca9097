"""The one Telegram sender: every message the bot sends goes through here, errors mapped once."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

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
from telegram.request import HTTPXRequest

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
        return SendRetryAfter(_retry_seconds(exc))
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


def _retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 returns int or timedelta depending on an opt-in; accept both quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class TelegramSender:
    """The production sender: one PTB `Bot`, errors mapped onto the dispatcher's cases."""

    def __init__(self, bot: Bot) -> None:
        self.bot = bot

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Send text (or a photo captioned with it) with inline buttons; return the message id."""
        markup = build_markup(keyboard)
        try:
            if photo is not None:
                message = await self.bot.send_photo(
                    chat_id=chat_id, photo=photo, caption=text, reply_markup=markup
                )
            else:
                message = await self.bot.send_message(
                    chat_id=chat_id, text=text, reply_markup=markup
                )
            message_id = int(message.message_id)
        except Exception as exc:
            raise translate(exc) from exc
        return message_id

    async def close(self) -> None:
        """Release the HTTP connection pool when the sender is done for good."""
        await self.bot.shutdown()


def file_url(api_url: str) -> str:
    """The file endpoint beside a Bot API base (`.../bot` -> `.../file/bot`)."""
    head, sep, _ = api_url.rpartition("/bot")
    return f"{head}/file/bot" if sep else api_url


def build_bot(
    *, token: str | None, api_url: str, pool_size: int = 32, timeout: float = 10.0
) -> Bot:
    """A PTB `Bot` for this token and Bot API base URL (the stand-in in tests)."""
    if not token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        pool_timeout=timeout,
    )
    return Bot(token=token, base_url=api_url, base_file_url=file_url(api_url), request=request)
