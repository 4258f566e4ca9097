"""`irobot run`: the bot (long polling, or a webhook) and the scheduler jobs in one process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import signal
from urllib.parse import urlparse

from telegram import Update

from bot.app import build_application
from bot.context import AppContext, CommandError
from bot.logs import redact_also

logger = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Polling by default; `--webhook-url URL --port N` serves a webhook instead."""
    parser.epilog = (
        "Needs TELEGRAM_BOT_TOKEN (from BotFather) in the environment or in .env. Only this "
        "command reads Telegram: without it running, no /start, button or reply is handled."
    )
    parser.add_argument(
        "--webhook-url",
        help="public HTTPS URL Telegram should POST updates to; the local server answers on "
        "the same path (https://bot.example.gov.uk/irobot/ -> http://ADDR:PORT/irobot/)",
    )
    parser.add_argument("--port", type=int, help="local port the webhook server listens on")
    parser.add_argument(
        "--listen", default="0.0.0.0", help="address the webhook server binds (default 0.0.0.0)"
    )
    parser.add_argument(
        "--no-set-webhook",
        action="store_true",
        help="serve the webhook without registering it with Telegram: another `irobot run` "
        "behind the same URL does; all of them need the same IROBOT_WEBHOOK_SECRET",
    )


def webhook_path(url: str) -> str:
    """The path part of the public URL: the local server answers on the same path."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise CommandError(f"--webhook-url must be an http(s) URL, got {url!r}")
    return parsed.path.lstrip("/")


def _preflight(ctx: AppContext) -> None:
    """One getMe before PTB starts, so a wrong token or URL is one line, not a traceback."""
    from telegram import Bot
    from telegram.error import InvalidToken, NetworkError, TelegramError

    async def check() -> None:
        async with Bot(str(ctx.settings.telegram_bot_token),
                       base_url=ctx.settings.telegram_api_url) as bot:  # fmt: skip
            await bot.get_me()

    api = ctx.settings.telegram_api_url
    try:
        asyncio.run(check())
    except InvalidToken:
        raise CommandError("Telegram refused TELEGRAM_BOT_TOKEN: check it with BotFather") from None
    except NetworkError as exc:
        raise CommandError(f"cannot reach the Telegram Bot API at {api}: {exc}") from None
    except TelegramError as exc:
        raise CommandError(f"Telegram Bot API at {api} said: {exc}") from None


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Start the bot and block until SIGINT/SIGTERM; a missing token is a one-line error."""
    if not ctx.settings.telegram_bot_token:
        raise CommandError(
            "TELEGRAM_BOT_TOKEN is not set: the bot needs its token to run; "
            "set TELEGRAM_BOT_TOKEN in the environment or in .env"
        )
    if args.port is not None and not args.webhook_url:
        raise CommandError("--port is only used with --webhook-url")
    if args.webhook_url and args.port is None:
        raise CommandError("--webhook-url needs --port (the local port to listen on)")
    if args.port is not None and not 0 < args.port < 65536:
        raise CommandError(f"--port must be between 1 and 65535, got {args.port}")
    if args.no_set_webhook and not args.webhook_url:
        raise CommandError("--no-set-webhook is only used with --webhook-url")
    if args.no_set_webhook and not ctx.settings.webhook_secret:
        raise CommandError(
            "--no-set-webhook needs IROBOT_WEBHOOK_SECRET: every process behind the webhook must "
            "accept the secret the registering one gave Telegram; set the same value for all"
        )
    path = webhook_path(args.webhook_url) if args.webhook_url else ""
    _preflight(ctx)
    app = build_application(ctx, jobs=True, register_webhook=not args.no_set_webhook)
    allowed = [Update.MESSAGE, Update.CALLBACK_QUERY]
    if args.webhook_url:
        # Shared by every process behind the URL if set, else fresh each start; PTB logs it
        # at debug level.
        secret = ctx.settings.webhook_secret or secrets.token_urlsafe(32)
        redact_also(secret)
        logger.info("serving webhook on %s:%s/%s", args.listen, args.port, path)
        app.run_webhook(
            listen=args.listen,
            port=args.port,
            url_path=path,
            webhook_url=args.webhook_url,
            secret_token=secret,
            allowed_updates=allowed,
            stop_signals=STOP_SIGNALS,
        )
    else:
        logger.info("long polling %s", ctx.settings.telegram_api_url)
        app.run_polling(allowed_updates=allowed, stop_signals=STOP_SIGNALS)
    logger.info("stopped")
    return 0
