"""The bot's own Telegram username, for invite links: asked of `getMe` once, then remembered.

The username is remembered in the audit trail (action `bot_identity`, with the bot's id, the
number before the token's colon), so no table is needed and a new token for another bot is
never given the old bot's name. `irobot check` and `irobot invite` ask when they have a token.
"""

from __future__ import annotations

import asyncio
import json
import logging

from sqlalchemy import select
from sqlmodel import col
from telegram import Bot
from telegram.error import TelegramError
from telegram.request import HTTPXRequest

from bot.context import AppContext
from models import audit
from models.tables import AuditEvent

logger = logging.getLogger(__name__)

ACTION = "bot_identity"
PLACEHOLDER = "<your_bot>"
TIMEOUT_SECONDS = 10.0


def bot_id(token: str) -> str:
    """The bot's numeric id: Telegram tokens are `<bot id>:<secret>`."""
    return token.partition(":")[0]


def remembered(ctx: AppContext, token: str) -> str | None:
    """The username last recorded for this token's bot, if any."""
    wanted = bot_id(token)
    with ctx.session() as session:
        rows = session.execute(
            select(col(AuditEvent.detail))
            .where(col(AuditEvent.action) == ACTION)
            .order_by(col(AuditEvent.id).desc())
            .limit(50)
        ).scalars()
        for detail in rows:
            try:
                data = json.loads(detail)
            except ValueError:
                continue
            if str(data.get("bot_id")) == wanted and data.get("username"):
                return str(data["username"])
    return None


def remember(ctx: AppContext, token: str, username: str) -> None:
    """Record the username unless it is already the latest one recorded for this bot."""
    if remembered(ctx, token) == username:
        return
    with ctx.session() as session:
        audit.record(session, at=ctx.clock(), actor=audit.SYSTEM, action=ACTION,
                     bot_id=bot_id(token), username=username)  # fmt: skip


async def get_me(token: str, api_url: str) -> str:
    """Ask the Bot API who this token belongs to; raises TelegramError when it cannot say."""
    request = HTTPXRequest(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
    async with Bot(token, base_url=api_url, request=request) as bot:  # initialising asks getMe
        return str(bot.username or "")


def username(ctx: AppContext) -> str | None:
    """The bot's username: remembered, or from `getMe` when a token is set; None without one."""
    token = ctx.settings.telegram_bot_token
    if not token:
        return None
    known = remembered(ctx, token)
    if known:
        return known
    try:
        name = asyncio.run(get_me(token, ctx.settings.telegram_api_url))
    except (TelegramError, OSError) as exc:
        logger.info("getMe failed, invite link left as %s: %s", PLACEHOLDER, exc)
        return None
    if name:
        remember(ctx, token, name)
    return name or None


def invite_link(name: str | None, code: str) -> str:
    """`https://t.me/<bot>?start=CODE`: one tap opens the chat with the code filled in."""
    return f"https://t.me/{name or PLACEHOLDER}?start={code}"
