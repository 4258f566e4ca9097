"""`irobot db`: upgrade, and resync after the policy's timescales change."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.commands import db
from bot.context import AppContext
from models.tables import Obligation
from models.vocabulary import RCPC_REPORT
from scheduler.policy import parse_policy
from scheduler.sync import sync_obligations
from tests.auxil.records import add_conference, add_plan, london, org_chart

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def test_resync_moves_deadlines_when_the_policy_changes(
    ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.session() as session:
        org_chart(session)
        add_plan(session)
        add_conference(session)  # RCPC Thu 10 Dec 10am: due Mon 7 Dec (3 working days)
        session.flush()
        sync_obligations(session, ctx.policy, now=NOW)
    ctx.policy = parse_policy({"rcpc_report": {"due_working_days_before": 5}})
    assert db.run(argparse.Namespace(action="resync"), ctx, now=NOW) == 0
    assert "1 moved" in capsys.readouterr().out
    with ctx.session() as session:
        ob = session.exec(select(Obligation).where(Obligation.kind == RCPC_REPORT)).one()
    assert ob.due_at == london(2026, 12, 3, 18)  # Thu 3 Dec: 5 working days before


def test_upgrade_says_the_database_is_up_to_date(
    ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    assert db.run(argparse.Namespace(action="upgrade"), ctx) == 0
    assert "up to date" in capsys.readouterr().out
