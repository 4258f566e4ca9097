"""`irobot demo`: the real engine over a synthetic caseload, deterministic for a seed."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.demo import _digest
from bot.demo.runner import run_simulation
from bot.demo.script import answer
from models.db import make_engine, upgrade
from scheduler.policy import Policy


def _demo(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> str:
    db = tmp_path / name / "demo.db"
    code = main(["demo", "--days", "2", "--seed", "3", "--start", "2026-12-03", "--db", str(db)])
    out = capsys.readouterr().out
    assert code == 0
    return out


def test_the_demo_shows_phones_buttons_taps_figures_and_a_chart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _demo(tmp_path, capsys, "a")
    assert "working day 1 of 2" in out
    assert "working day 2 of 2" in out
    assert "social worker" in out and "team manager" in out
    assert "[Submitted]" in out and "taps [" in out
    assert "Timeliness" in out
    # the figures section: meetings in timescale, caseloads per IRO, and what each column means
    assert "Meetings held in timescale, and their records" in out
    assert "Caseload per IRO, weighted:" in out and "\nLegend\n" in out
    chart = tmp_path / "a" / "irobot-demo-chart.png"
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_the_same_seed_gives_the_same_transcript(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def normalised(text: str) -> str:
        return text.split("Weekly chart:")[0]  # what follows names the temporary folder

    first = normalised(_demo(tmp_path, capsys, "a"))
    second = normalised(_demo(tmp_path, capsys, "b"))
    assert first == second


def test_columns_a_case_system_export_carries_never_reach_the_demo_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _demo(tmp_path, capsys, "a")
    stored = (tmp_path / "a" / "demo.db").read_bytes()
    assert b"REDACTED-NAME" not in stored
    assert "REDACTED-NAME" not in out


def test_the_demo_refuses_to_overwrite_an_existing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "exists.db"
    db.write_bytes(b"")
    assert main(["demo", "--db", str(db)]) == 1
    assert "exists already" in capsys.readouterr().err


def test_the_demo_shows_a_cover_acting_a_leavers_case_unallocated_and_a_conference_stood_down(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = " ".join(_demo(tmp_path, capsys, "a").replace("│", " ").split())  # panels wrap
    assert "You are covering for" in out and "↪️ Covering for" in out
    assert "away until" in out and "taps [Submitted] → ✅ RCPC report for case CP-1002" in out
    assert "who has left (their cases are unallocated)" in out
    assert "12 unallocated cases" in out  # the leaver's team manager's digest
    assert "taps [Stand down conference] → [Not quorate] → 📅 RCPC for case CP-1003" in out


Delivery = tuple[str, str, tuple[str, ...]]


def _simulate(tmp_path: Path, name: str, *, looked_after: bool, days: int = 3) -> list[Delivery]:
    """Demo days (three) straight from the runner: (person, text, replies) of each delivery."""
    db = tmp_path / f"{name}.db"
    engine = make_engine(f"sqlite:///{db}")
    upgrade(engine)
    result = run_simulation(engine=engine, policy=Policy(), db_path=db, start=date(2026, 11, 23),
                            days=days, seed=7, reply=answer, digest=_digest,
                            looked_after=looked_after)  # fmt: skip
    engine.dispose()
    return [
        (result.people[e.chat_id].staff_id, e.text, tuple(e.replies))
        for day in result.days for e in day.delivered
    ]  # fmt: skip


def test_children_in_care_add_to_the_transcript_and_change_nothing_else(
    tmp_path: Path,
) -> None:
    """A review report nudge and an IRO's record reminder, each answered; every other phone
    receives and does exactly what it did without them (the README's transcripts hold)."""
    with_lac = _simulate(tmp_path, "with", looked_after=True)
    without = _simulate(tmp_path, "without", looked_after=False)
    lac = [d for d in with_lac if "LAC-" in d[1]]
    counts = "IRO caseloads (weighted"  # the chart's caption counts the IROs: 2 more of them
    assert [d for d in with_lac if d not in lac and counts not in d[1]] == [
        d for d in without if counts not in d[1]
    ]
    texts = " ".join(text for _, text, _ in lac)
    assert "LAC review report due" in texts and "LAC review record due" in texts
    assert all(replies for _, _, replies in lac)  # Submitted, Uploaded


def test_a_review_not_yet_booked_reaches_its_iro_and_business_support_once(
    tmp_path: Path,
) -> None:
    """LAC-2008's next review falls due in the demo's third week and nobody has booked it:
    ten working days before, its IRO and business support are told, with nothing to tap."""
    told = [(who, text, replies) for who, text, replies in _simulate(
        tmp_path, "unbooked", looked_after=True, days=6) if "not booked yet" in text]  # fmt: skip
    assert sorted(who for who, _, _ in told) == ["ADM1", "IRO6"]
    assert all(t.startswith("📅 LAC-2008: the next looked-after review is due by Fri 11 Dec")
               for _, t, _ in told)  # fmt: skip
    assert all(replies == () for _, _, replies in told)
