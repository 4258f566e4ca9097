"""`irobot db upgrade` creates or migrates the schema; `irobot db resync` re-derives deadlines."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.context import AppContext
from models import audit
from models.db import upgrade
from scheduler.obligations import sync_obligations


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`upgrade` for the schema; `resync` after changing the policy's timescales."""
    parser.add_argument(
        "action",
        choices=["upgrade", "resync"],
        help="upgrade: create or migrate the schema; resync: recompute every deadline from "
        "the records and the current policy (run it after changing the policy file)",
    )


def run(args: argparse.Namespace, ctx: AppContext, *, now: datetime | None = None) -> int:
    """Upgrade, or resync every obligation with the policy now in force, and say so."""
    if args.action == "upgrade":
        upgrade(ctx.engine)
        print(f"database is up to date ({ctx.engine.url.render_as_string(hide_password=True)})")
        return 0
    now = now or datetime.now(UTC)
    with ctx.session() as session:
        result = sync_obligations(session, ctx.policy, now=now)
        audit.record(session, at=now, actor=audit.SYSTEM, action="resync",
                     created=result.created, moved=result.moved, closed=result.closed)  # fmt: skip
    print(
        f"resynced with the current policy: {result.created} created, {result.moved} moved, "
        f"{result.closed} closed, {result.cancelled_notifications} pending reminders cancelled"
    )
    return 0
