"""`irobot db upgrade`: create or migrate the schema."""

from __future__ import annotations

import argparse

from bot.context import AppContext
from models.db import upgrade

NEEDS_CONTEXT_UPGRADE = False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`db upgrade` is the only action today; kept as a word so `db` can grow."""
    parser.add_argument("action", choices=["upgrade"], help="upgrade: create or migrate")


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Upgrade to the newest migration and say so."""
    upgrade(ctx.engine)
    print(f"database is up to date ({ctx.engine.url.render_as_string(hide_password=True)})")
    return 0
