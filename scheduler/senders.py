"""How the dispatcher reaches a phone: a small `Sender` protocol and its Telegram implementation."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from typing import Protocol

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

from bot.settings import Settings

logger = logging.getLogger(__name__)

Keyboard = list[list[tuple[str, str]]]


class SendError(Exception):
    """Base of every delivery failure the dispatcher knows how to handle."""


class SendRetryAfter(SendError):
    """Telegram's 429: wait `seconds` before sending anything else."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"flood control: retry after {seconds:g} s")
        self.seconds = float(seconds)


class SendTransient(SendError):
    """A timeout, network failure or 5xx: the same message may succeed later."""


class SendForbidden(SendError):
    """403: the person blocked the bot (or deleted their account); retrying cannot help."""


class SendBadRequest(SendError):
    """400: this message can never be delivered as it is (chat not found, bad markup)."""


class SendUnauthorized(SendError):
    """401/404 on the bot token: nothing can be sent, so stop the pass without blaming the row."""


class Sender(Protocol):
    """Anything that can put one message (optionally a photo) in one chat."""

    async def send(
        self,
        chat_id: int,
        text: str,
        keyboard: Keyboard | None,
        photo: bytes | None = None,
    ) -> int:
        """Deliver and return Telegram's message id; raise a `SendError` subclass on failure."""
        ...


def build_markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """Rows of (label, callback data) as Telegram's inline keyboard."""
    if not keyboard:
        return None
    rows = [[InlineKeyboardButton(text, callback_data=data) for text, data in r] for r in keyboard]
    return InlineKeyboardMarkup(rows)


def _retry_seconds(exc: RetryAfter) -> float:
    """PTB 22 returns int or timedelta depending on an opt-in; accept both quietly."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class TelegramSender:
    """The production sender: one PTB `Bot`, errors mapped onto the dispatcher's four cases."""

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
        except RetryAfter as exc:
            raise SendRetryAfter(_retry_seconds(exc)) from exc
        except Forbidden as exc:
            raise SendForbidden(str(exc)) from exc
        except InvalidToken as exc:
            raise SendUnauthorized(str(exc)) from exc
        except (BadRequest, ChatMigrated) as exc:  # BadRequest subclasses NetworkError: first
            raise SendBadRequest(str(exc)) from exc
        except (TimedOut, NetworkError) as exc:
            raise SendTransient(str(exc) or type(exc).__name__) from exc
        except TelegramError as exc:  # anything else PTB reports (e.g. 409, odd replies): retry
            raise SendTransient(str(exc)) from exc
        return int(message.message_id)

    async def close(self) -> None:
        """Release the HTTP connection pool when the sender is done for good."""
        await self.bot.shutdown()


def build_bot(settings: Settings, *, pool_size: int = 32, timeout: float = 10.0) -> Bot:
    """A PTB `Bot` for the configured token and Bot API base URL (the stand-in in tests)."""
    if not settings.telegram_bot_token:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    request = HTTPXRequest(
        connection_pool_size=pool_size,
        connect_timeout=timeout,
        read_timeout=timeout,
        write_timeout=timeout,
        pool_timeout=timeout,
    )
    base = settings.telegram_api_url
    file_base = base[: -len("/bot")] + "/file/bot" if base.endswith("/bot") else base
    return Bot(
        token=settings.telegram_bot_token, base_url=base, base_file_url=file_base, request=request
    )
