"""Build the unmodified PTB Application the same way for `irobot run` and the tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, Updater

from bot.context import AppContext, CommandError
from handlers.conversation import Conversation, UseCases
from handlers.ratelimit import RateLimiter
from handlers.sender import build_bot, file_url
from handlers.telegram import SENDER_KEY, register
from scheduler.jobs import Jobs

logger = logging.getLogger(__name__)

CONCURRENT_UPDATES = 8

BOT_COMMANDS = (
    ("mine", "Your open items, soonest first"),
    ("help", "What you can do here"),
    ("alert", "IROs: raise a QA alert, e.g. /alert CR12345"),
    ("team", "Managers: overdue and escalated items in your span"),
    ("cover", "Managers: someone is away: who covers, until when"),
    ("start", "Link your account with an invite code"),
)

TelegramApp = Application[Any, Any, Any, Any, Any, Any]


class ServeOnlyUpdater(Updater):
    """A webhook server that never calls setWebhook: another process on the same URL did.

    PTB sets the webhook in `_bootstrap` at every start; with several processes behind one
    URL only one may (README: several webhook processes), and the rest share its secret.
    """

    async def _bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """Leave the webhook as the registering process set it."""
        logger.info("webhook left as registered by another process (--no-set-webhook)")


async def set_commands(app: TelegramApp) -> None:
    """Best effort: the command menu helps people but must never stop the bot starting."""
    try:
        await app.bot.set_my_commands([BotCommand(name, text) for name, text in BOT_COMMANDS])
    except (TelegramError, OSError) as exc:
        logger.warning("setMyCommands failed (continuing without a command menu): %s", exc)


def build_application(
    ctx: AppContext,
    *,
    clock: Callable[[], datetime] | None = None,
    use_cases: UseCases | None = None,
    jobs: bool = False,
    concurrent_updates: int = CONCURRENT_UPDATES,
    rate_limiter: RateLimiter | None = None,
    register_webhook: bool = True,
) -> TelegramApp:
    """The bot: token and Bot API base from the settings, our handlers, optional jobs.

    Every request of the bot, replies and the dispatch job's alike, passes one rate limiter
    (`rate_limiter`, by default a fresh one on the real clock; tests pass a simulated one).
    `register_webhook=False`: a webhook server that leaves setWebhook to another process.
    """
    token = ctx.settings.telegram_bot_token
    if not token:
        raise CommandError("TELEGRAM_BOT_TOKEN is not set")

    running: list[Jobs] = []

    async def post_init(app: TelegramApp) -> None:
        await set_commands(app)
        if jobs:
            running.append(ctx.jobs(app.bot_data[SENDER_KEY]).start())
            logger.info("scheduler jobs started")

    async def post_stop(app: TelegramApp) -> None:
        # Updates have stopped; the bot is still up, so a dispatch in flight can finish.
        while running:
            await running.pop().stop()

    limiter = rate_limiter if rate_limiter is not None else RateLimiter()
    builder: ApplicationBuilder[Any, Any, Any, Any, Any, Any] = ApplicationBuilder()
    if register_webhook:
        builder = (
            builder.token(token)
            .base_url(ctx.settings.telegram_api_url)
            .base_file_url(file_url(ctx.settings.telegram_api_url))
            .rate_limiter(limiter)
        )
    else:
        bot = build_bot(**ctx.settings.telegram(), rate_limiter=limiter)
        builder = builder.updater(ServeOnlyUpdater(bot=bot, update_queue=asyncio.Queue()))
    app: TelegramApp = (
        builder.concurrent_updates(concurrent_updates)
        .post_init(post_init)
        .post_stop(post_stop)
        .build()
    )
    register(app, Conversation(ctx, clock=clock, use_cases=use_cases))
    return app
