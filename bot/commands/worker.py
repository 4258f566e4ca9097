"""`irobot worker`: the scheduler jobs without the conversation, once or until stopped.

A bigger service runs extra workers beside `irobot run` (the only process that reads
Telegram's updates); they share the outbox safely. SIGTERM stops a loop cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

from bot.context import AppContext, CommandError
from scheduler.jobs import run_once


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Once (like a tick) or a loop (like the jobs inside `irobot run`)."""
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--once", action="store_true", help="one scan + dispatch pass, then exit")
    mode.add_argument(
        "--loop", action="store_true", help="run the scan, dispatch and digest jobs until stopped"
    )


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Check the token, then run once or until SIGINT/SIGTERM."""
    if not ctx.settings.telegram_bot_token:
        raise CommandError(
            "TELEGRAM_BOT_TOKEN is not set: a worker sends messages and needs the bot's token; "
            "set TELEGRAM_BOT_TOKEN in the environment or in .env"
        )
    return asyncio.run(_once(ctx) if args.once else _loop(ctx))


async def _once(ctx: AppContext) -> int:
    sender = ctx.sender()
    try:
        _, result = await run_once(
            ctx, sender, now=ctx.clock(), lease_seconds=ctx.settings.dispatch_lease_seconds
        )
    finally:
        await sender.close()
    print(f"sent {result.sent}, held {result.held}, failed {result.failed}")
    return 0


async def _loop(ctx: AppContext) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sender = ctx.sender()
    jobs = ctx.jobs(sender).start()
    print("READY", flush=True)
    try:
        await stop.wait()
    finally:
        await jobs.stop()
        await sender.close()
    return 0
