"""`irobot db upgrade` creates or migrates the schema; `irobot db resync` re-derives deadlines."""

from __future__ import annotations

import argparse
from datetime import datetime

from bot.context import AppContext
from models import audit
from models.db import revisions, upgrade
from scheduler.sync import sync_obligations

UPGRADE_HELP = (
    "create the schema, or migrate it to this version's; the only command that migrates a "
    "database holding data (stop the service and back up first)"
)
RESYNC_HELP = (
    "recompute every deadline from the records and the policy now in force: run it after "
    "changing the policy file's timescales"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Each action its own sub-parser, so `irobot db upgrade --help` speaks of upgrade only."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("upgrade", help=UPGRADE_HELP, description=UPGRADE_HELP)
    actions.add_parser("resync", help=RESYNC_HELP, description=RESYNC_HELP)


def run(args: argparse.Namespace, ctx: AppContext, *, now: datetime | None = None) -> int:
    """Upgrade, or resync every obligation with the policy now in force, and say so."""
    if args.action == "upgrade":
        before, head = revisions(ctx.engine)
        upgrade(ctx.engine)
        if before == head:
            change = "nothing to do"
        else:
            change = f"migrated from {before}" if before else "created"
        where = ctx.engine.url.render_as_string(hide_password=True)
        print(f"database is up to date at revision {head} ({change}): {where}")
        return 0
    now = now or ctx.clock()
    with ctx.session() as session:
        result = sync_obligations(session, ctx.policy, now=now)
        audit.record(session, at=now, actor=audit.SYSTEM, action="resync",
                     created=result.created, moved=result.moved, closed=result.closed)  # fmt: skip
    print(
        f"resynced with the current policy: {result.created} created, {result.moved} moved, "
        f"{result.closed} closed, {result.cancelled_notifications} pending reminders cancelled"
    )
    return 0
