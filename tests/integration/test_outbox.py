"""The outbox's insert-once contract on both backends."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, select

from models.buttons import Message, decode_keyboard, encode_keyboard
from models.outbox import cancel_pending
from models.tables import Notification
from models.vocabulary import N_CANCELLED
from scheduler.calendar import WorkingCalendar, WorkingHours
from scheduler.notify import enqueue
from tests.conftest import Database

CAL = WorkingCalendar.england()
HOURS = WorkingHours()
FRIDAY_EVENING = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)


def _enqueue(session: Session, key: str, obligation_id: int | None = None) -> bool:
    return enqueue(
        session,
        key=key,
        recipient_id="SW1",
        kind="reminder",
        message=Message("hi", [[("A", "a")]]),
        at=FRIDAY_EVENING,
        cal=CAL,
        hours=HOURS,
        obligation_id=obligation_id,
    )


def test_enqueue_says_true_once_and_false_for_the_same_key(database: Database) -> None:
    with Session(database.engine) as session:
        assert _enqueue(session, "k1") is True
        assert _enqueue(session, "k1") is False
        assert _enqueue(session, "k2") is True
        session.commit()
        assert len(session.exec(select(Notification)).all()) == 2


def test_an_evening_message_is_held_until_monday_morning(database: Database) -> None:
    with Session(database.engine) as session:
        _enqueue(session, "k1")
        row = session.exec(select(Notification)).one()
    assert row.not_before == datetime(2026, 12, 7, 8, 0, tzinfo=UTC)


def test_cancelling_touches_only_pending_rows_of_that_obligation(database: Database) -> None:
    with Session(database.engine) as session:
        _enqueue(session, "a", obligation_id=1)
        _enqueue(session, "b", obligation_id=2)
        assert cancel_pending(session, 1) == 1
        session.commit()
        statuses = {n.key: n.status for n in session.exec(select(Notification)).all()}
    assert statuses["a"] == N_CANCELLED and statuses["b"] != N_CANCELLED


def test_keyboards_survive_the_round_trip_through_json() -> None:
    keyboard = [[("Submitted", "v1:sub:1:0"), ("Will be late", "v1:late:1:0")]]
    assert decode_keyboard(encode_keyboard(keyboard)) == keyboard
    assert encode_keyboard(None) is None and decode_keyboard(None) is None
