"""A big import resyncs its cases in chunks: the obligations come out exactly as in one go."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlmodel import Session

from handlers.importing import import_csv
from models.tables import Obligation
from scheduler.policy import Policy
from tests.conftest import Database
from tests.integration.test_import import STAFF_CSV

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def plans_csv(n: int) -> str:
    """`n` open plans started up to two years ago, so reviews and 18/24-month flags vary."""
    rows = [
        f"CP-{i:03d},SW{1 + i % 2},IRO{1 + i % 2},{date(2026, 11, 1) - timedelta(days=23 * i)},,"
        for i in range(n)
    ]
    return "case_ref,social_worker_id,chair_id,plan_start,plan_end,category\n" + "\n".join(rows)


def conferences_csv(n: int) -> str:
    """A conference per plan, some past (their reports closed as missed), some to come."""
    rows = [
        f"C-{i:03d},CP-{i:03d},{'ICPC' if i % 3 else 'RCPC'},"
        f"{NOW + timedelta(days=i % 40 - 10):%Y-%m-%d} 10:00,IRO1,"
        for i in range(n)
    ]
    return "conference_id,case_ref,kind,scheduled_for,chair_id,report_received_at\n" + "\n".join(
        rows
    )


def obligations_after(database: Database, policy: Policy, chunk: int) -> list[tuple[object, ...]]:
    """Import staff, plans and conferences with this resync chunk; the obligations made."""
    with Session(database.engine) as session:
        for kind, text in (("staff", STAFF_CSV), ("plans", plans_csv(30)),
                           ("conferences", conferences_csv(30))):  # fmt: skip
            import_csv(session, kind, text, policy, now=NOW, sync_chunk=chunk)
        rows = session.execute(
            select(Obligation.kind, Obligation.subject_id, Obligation.owner_id,
                   Obligation.due_at, Obligation.status, Obligation.stage,
                   Obligation.next_action_at, Obligation.outcome)  # type: ignore[call-overload]
        ).all()
        session.rollback()
    return sorted(tuple(r) for r in rows)


def test_a_resync_in_chunks_makes_the_same_obligations_as_one_in_a_single_go(
    database: Database, policy: Policy
) -> None:
    whole = obligations_after(database, policy, chunk=10_000)
    assert len(whole) > 50 and {row[0] for row in whole} >= {"plan_review", "plan_flag"}
    assert obligations_after(database, policy, chunk=7) == whole
