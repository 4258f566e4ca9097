"""Invites: single-use, expiring, hashed codes, and the wrong-code lock-out on redemption."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import Session, select

from models.invites import (
    ALPHABET,
    CODE_LENGTH,
    SERVICE_MAX_FAILURES,
    InviteError,
    RedeemOutcome,
    create_invite,
    new_code,
    normalise,
    redeem_invite,
)
from models.tables import AuditEvent, Invite, LinkAttempt, Staff
from tests.conftest import Database

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
DEEP_LINK_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
USER, CHAT = 6_123_455_001, 6_123_455_001  # real Telegram ids run past 2**31


@pytest.fixture
def session(database: Database) -> Iterator[Session]:
    """Two active people and one who has left."""
    with Session(database.engine, expire_on_commit=False) as s:
        s.add(Staff(staff_id="SW1", name="Sam Worker", role="social_worker", manager_id="TM1"))
        s.add(Staff(staff_id="SW2", name="Sue Worker", role="social_worker", manager_id="TM1"))
        s.add(Staff(staff_id="OLD", name="Old Hand", role="social_worker", active=False))
        s.commit()
        yield s


def invite(session: Session, staff_id: str = "SW1", *, at: datetime = NOW, days: int = 7) -> str:
    """Create and commit an invite; returns the plain code."""
    code = create_invite(session, staff_id=staff_id, now=at, days=days).code
    session.commit()
    return code


def redeem(session: Session, code: str, *, user: int = USER, at: datetime = NOW,
           chat: int = CHAT) -> RedeemOutcome:
    """Redeem and commit, as the /start handler will."""
    result = redeem_invite(session, code=code, telegram_user_id=user, chat_id=chat, now=at)
    session.commit()
    return result.outcome


def audit_text(session: Session) -> str:
    """Everything the audit trail holds, to look for leaked codes."""
    return repr([(e.actor, e.action, e.detail) for e in session.exec(select(AuditEvent)).all()])


# --------------------------------------------------------------------- creating


def test_a_code_is_ten_unambiguous_characters_usable_as_a_deep_link(session: Session) -> None:
    code = invite(session)
    assert len(code) == CODE_LENGTH == 10
    assert set(code) <= set(ALPHABET)
    assert not set(code) & set("01OIL")
    assert DEEP_LINK_PAYLOAD.fullmatch(code)


@given(st.integers(min_value=0, max_value=50))
def test_every_generated_code_is_a_valid_start_payload(_: int) -> None:
    assert DEEP_LINK_PAYLOAD.fullmatch(new_code())


def test_only_the_hash_of_the_code_is_stored_with_a_seven_day_expiry(session: Session) -> None:
    code = invite(session)
    [stored] = session.exec(select(Invite)).all()
    assert stored.code_hash == hashlib.sha256(code.encode()).hexdigest()
    assert code not in repr(stored.model_dump())
    assert stored.expires_at == NOW + timedelta(days=7)
    assert stored.staff_id == "SW1" and stored.used_at is None


def test_the_expiry_can_be_chosen_in_days(session: Session) -> None:
    invite(session, days=2)
    [stored] = session.exec(select(Invite)).all()
    assert stored.expires_at == NOW + timedelta(days=2)


@pytest.mark.parametrize(
    ("staff_id", "days", "message"),
    [
        ("NOBODY", 7, "no member of staff with id 'NOBODY'"),
        ("OLD", 7, "OLD is inactive"),
        ("SW1", 0, "--days must be between 1 and 90"),
        ("SW1", 366, "--days must be between 1 and 90"),
    ],
)
def test_an_invite_for_someone_unknown_or_inactive_is_refused(
    session: Session, staff_id: str, days: int, message: str
) -> None:
    with pytest.raises(InviteError, match=re.escape(message)):
        create_invite(session, staff_id=staff_id, now=NOW, days=days)
    assert session.exec(select(Invite)).all() == []


def test_a_new_invite_makes_earlier_unused_codes_stop_working(session: Session) -> None:
    first = invite(session)
    second = invite(session, at=NOW + timedelta(minutes=5))
    assert redeem(session, first, at=NOW + timedelta(minutes=6)) is RedeemOutcome.EXPIRED
    assert redeem(session, second, at=NOW + timedelta(minutes=6)) is RedeemOutcome.LINKED


def test_creating_an_invite_is_audited_without_the_code(session: Session) -> None:
    code = invite(session)
    assert "invite_created" in audit_text(session)
    assert code not in audit_text(session)


# --------------------------------------------------------------------- redeeming


def test_a_good_code_links_the_account_once_and_is_then_used_up(session: Session) -> None:
    code = invite(session)
    result = redeem_invite(session, code=code, telegram_user_id=USER, chat_id=CHAT + 776, now=NOW)
    session.commit()
    assert result.ok and result.staff_id == "SW1"
    staff = session.get(Staff, "SW1")
    assert staff is not None
    assert (staff.telegram_user_id, staff.chat_id, staff.linked_at) == (USER, CHAT + 776, NOW)
    [stored] = session.exec(select(Invite)).all()
    assert (stored.used_at, stored.used_by) == (NOW, USER)
    assert redeem(session, code, user=USER + 998) is RedeemOutcome.USED
    assert session.get(Staff, "SW1").telegram_user_id == USER  # type: ignore[union-attr]


def test_a_code_typed_in_lower_case_with_spaces_still_works(session: Session) -> None:
    code = invite(session)
    typed = f" {code[:5].lower()} {code[5:].lower()} "
    assert normalise(typed) == code
    assert redeem(session, typed) is RedeemOutcome.LINKED


def test_an_expired_code_is_refused(session: Session) -> None:
    code = invite(session, days=1)
    assert redeem(session, code, at=NOW + timedelta(days=1)) is RedeemOutcome.EXPIRED
    assert session.get(Staff, "SW1").telegram_user_id is None  # type: ignore[union-attr]


@pytest.mark.parametrize("wrong", ["ABCDEFGHJK", "abc", "x" * 200, "ΩΩΩΩΩΩΩΩΩΩ", "2345678"])
def test_a_wrong_code_is_refused_and_counted(session: Session, wrong: str) -> None:
    invite(session)
    assert redeem(session, wrong) is RedeemOutcome.WRONG_CODE
    attempt = session.get(LinkAttempt, USER)
    assert attempt is not None and attempt.failures == 1


def test_an_empty_start_is_refused_without_counting(session: Session) -> None:
    assert redeem(session, "   ") is RedeemOutcome.NO_CODE
    assert session.get(LinkAttempt, USER) is None


def test_five_wrong_codes_in_an_hour_lock_the_account_out_for_an_hour(session: Session) -> None:
    code = invite(session)
    outcomes = [redeem(session, "WRONGCODE2", at=NOW + timedelta(minutes=n)) for n in range(5)]
    assert outcomes == [RedeemOutcome.WRONG_CODE] * 4 + [RedeemOutcome.LOCKED]
    locked_at = NOW + timedelta(minutes=4)
    assert redeem(session, code, at=locked_at + timedelta(minutes=59)) is RedeemOutcome.LOCKED
    assert session.get(Staff, "SW1").telegram_user_id is None  # type: ignore[union-attr]
    assert redeem(session, code, at=locked_at + timedelta(hours=1)) is RedeemOutcome.LINKED
    assert session.get(LinkAttempt, USER) is None


def test_the_lock_out_holds_one_account_and_not_another(session: Session) -> None:
    code = invite(session)
    for n in range(5):
        redeem(session, "WRONGCODE2", at=NOW + timedelta(minutes=n))
    assert redeem(session, code, user=USER + 1, at=NOW + timedelta(minutes=6)) is (
        RedeemOutcome.LINKED)


def test_wrong_codes_spread_over_more_than_an_hour_do_not_lock(session: Session) -> None:
    code = invite(session)
    outcomes = [redeem(session, "WRONGCODE2", at=NOW + timedelta(minutes=20 * n))
                for n in range(6)]
    assert RedeemOutcome.LOCKED not in outcomes
    assert redeem(session, code, at=NOW + timedelta(minutes=121)) is RedeemOutcome.LINKED


def test_an_account_linked_to_someone_else_cannot_take_a_second_identity(
    session: Session,
) -> None:
    assert redeem(session, invite(session, "SW1")) is RedeemOutcome.LINKED
    other = invite(session, "SW2")
    assert redeem(session, other) is RedeemOutcome.ACCOUNT_LINKED_ELSEWHERE
    assert session.get(Staff, "SW2").telegram_user_id is None  # type: ignore[union-attr]
    assert redeem(session, other, user=USER + 7) is RedeemOutcome.LINKED


def test_a_fresh_invite_moves_a_link_to_a_new_phone(session: Session) -> None:
    assert redeem(session, invite(session)) is RedeemOutcome.LINKED
    assert redeem(session, invite(session), user=USER + 1, chat=42) is RedeemOutcome.LINKED
    staff = session.get(Staff, "SW1")
    assert staff is not None and (staff.telegram_user_id, staff.chat_id) == (USER + 1, 42)


def test_a_code_for_someone_who_has_since_left_is_refused(session: Session) -> None:
    code = invite(session)
    staff = session.get(Staff, "SW1")
    assert staff is not None
    staff.active = False
    session.add(staff)
    session.commit()
    assert redeem(session, code) is RedeemOutcome.STAFF_INACTIVE


def test_every_link_and_refusal_is_audited_and_no_code_ever_is(session: Session) -> None:
    code = invite(session)
    redeem(session, "WRONGCODE2")
    redeem(session, code, at=NOW + timedelta(days=8))
    redeem(session, code)
    redeem(session, code, user=USER + 1)
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()  # type: ignore[arg-type]
    assert [e.action for e in events] == [
        "invite_created", "link_refused", "link_refused", "staff_linked", "link_refused"
    ]
    reasons = [json.loads(e.detail)["reason"] for e in events if e.action == "link_refused"]
    assert reasons == ["wrong_code", "expired", "used"]
    text = audit_text(session)
    assert code not in text and "WRONGCODE2" not in text
    assert hashlib.sha256(code.encode()).hexdigest() not in text


# --------------------------------------------------------------------- many accounts at once


def guess_from_many_accounts(session: Session, count: int, *, start: datetime = NOW,
                             every: timedelta = timedelta(seconds=1)) -> list[RedeemOutcome]:
    """One wrong code from each of `count` fresh accounts, `every` apart (four each at most)."""
    return [
        redeem(session, "WRONGCODE2", user=USER + 100 + n // 4, at=start + n * every)
        for n in range(count)
    ]


def test_twenty_wrong_codes_in_a_minute_across_accounts_pause_every_start(
    session: Session,
) -> None:
    code = invite(session)
    outcomes = guess_from_many_accounts(session, SERVICE_MAX_FAILURES)
    assert set(outcomes) == {RedeemOutcome.WRONG_CODE}  # no account reached its own lock-out
    # 20 wrong codes by NOW+19s: the next attempt, even with the right code, waits
    assert redeem(session, code, user=USER, at=NOW + timedelta(seconds=30)) is RedeemOutcome.BUSY
    assert session.get(Staff, "SW1").telegram_user_id is None  # type: ignore[union-attr]
    assert session.get(LinkAttempt, USER) is None  # a paused attempt is not a wrong code
    busy = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()  # type: ignore[union-attr]
    assert busy is not None and busy.action == "link_refused"
    assert json.loads(busy.detail)["reason"] == "busy"
    assert code not in audit_text(session)


def test_the_pause_ends_a_minute_after_the_guessing_even_if_attempts_continue(
    session: Session,
) -> None:
    code = invite(session)
    guess_from_many_accounts(session, SERVICE_MAX_FAILURES)
    for second in range(20, 60, 5):  # the guesser keeps trying: refused, and not counted
        at = NOW + timedelta(seconds=second)
        assert redeem(session, "WRONGCODE3", user=USER + 900, at=at) is RedeemOutcome.BUSY
    # the first wrong code was at NOW: a minute later only 19 are within the last minute
    assert redeem(session, code, at=NOW + timedelta(seconds=60)) is RedeemOutcome.LINKED


def test_wrong_codes_below_the_service_rate_never_pause_anyone(session: Session) -> None:
    code = invite(session)
    outcomes = guess_from_many_accounts(session, 60, every=timedelta(seconds=4))  # 15 a minute
    assert RedeemOutcome.BUSY not in outcomes
    assert redeem(session, code, at=NOW + timedelta(seconds=240)) is RedeemOutcome.LINKED
