"""The figures' own rules, pure: working-day windows, weighted caseloads, the chart's weeks,
and the report's text (state in, text out)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from bot.commands.report import render_caseloads, render_table
from models.vocabulary import REPORT_COLUMNS
from scheduler.caseload import (
    AlertRow,
    CareRow,
    Caseload,
    ConferenceRow,
    PlanRow,
    StaffRow,
)
from scheduler.deadlines import qa_due_on
from scheduler.figures import (
    SERVICE,
    Figures,
    IroCaseload,
    Rate,
    Rules,
    caseload_summary,
    iro_caseloads,
    period_series,
    timescale_rate,
    upload_rate,
    within_working_days,
)
from scheduler.policy import Policy, parse_policy
from scheduler.timescales import Verdict

RULES = Rules.of(Policy())
ALWAYS = Rules.of(parse_policy({"delivery": {"working_hours": "always"}}))


def utc(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "moment", "n", "inside"),
    [
        # Wed 2 Dec 2026 + 5 working days = Wed 9 Dec, close of hours 18:00 (GMT = UTC)
        (date(2026, 12, 2), utc(2026, 12, 9, 18, 0), 5, True),
        (date(2026, 12, 2), utc(2026, 12, 9, 18, 1), 5, False),
        # Sat 12 Dec after Fri 11 Dec, the 7th working day: past a 5-day window
        (date(2026, 12, 2), utc(2026, 12, 12, 9), 5, False),
        # the weekend before the 5th working day is still inside
        (date(2026, 12, 3), utc(2026, 12, 5, 9), 5, True),
        # Christmas: Wed 23 Dec + 5 = Thu 24, Tue 29, Wed 30, Thu 31, Mon 4 Jan (Fri 25,
        # Mon 28 Dec and Fri 1 Jan are bank holidays)
        (date(2026, 12, 23), utc(2027, 1, 4, 17, 59), 5, True),
        (date(2026, 12, 23), utc(2026, 12, 28, 10), 5, True),  # a bank holiday, inside
        (date(2026, 12, 23), utc(2027, 1, 5, 9), 5, False),
        # 20 working days from Wed 2 Dec 2026: Mon 4 Jan 2027
        (date(2026, 12, 2), utc(2027, 1, 4, 18, 0), 20, True),
        (date(2026, 12, 2), utc(2027, 1, 5, 8, 0), 20, False),
        # BST: Fri 27 Mar 2026 + 1 = Mon 30 Mar (clocks went forward Sun 29), 18:00 BST = 17:00 UTC
        (date(2026, 3, 27), utc(2026, 3, 30, 17, 0), 1, True),
        (date(2026, 3, 27), utc(2026, 3, 30, 17, 1), 1, False),
        # BST ends Sun 25 Oct 2026: Fri 23 + 1 = Mon 26 Oct, 18:00 GMT = 18:00 UTC
        (date(2026, 10, 23), utc(2026, 10, 26, 18, 0), 1, True),
        (date(2026, 10, 23), utc(2026, 10, 26, 18, 1), 1, False),
        # Easter 2026: Thu 2 Apr + 1 = Tue 7 Apr (Good Friday and Easter Monday)
        (date(2026, 4, 2), utc(2026, 4, 6, 20), 1, True),
        (date(2026, 4, 2), utc(2026, 4, 7, 17, 0), 1, True),
        (date(2026, 4, 2), utc(2026, 4, 7, 17, 1), 1, False),
        # done before the day itself: inside
        (date(2026, 12, 2), utc(2026, 11, 30), 5, True),
    ],
)
def test_a_window_of_n_working_days_closes_at_the_end_of_hours_on_the_nth(
    day: date, moment: datetime, n: int, inside: bool
) -> None:
    assert within_working_days(day, moment, n, RULES) is inside


@pytest.mark.parametrize("n", [1, 5, 20])
def test_the_window_agrees_with_the_engines_deadline_every_day_of_a_christmas_and_bst_year(
    n: int,
) -> None:
    for rules in (RULES, ALWAYS):
        day = date(2026, 3, 20)
        while day < date(2027, 1, 10):
            deadline = qa_due_on(day, n, rules.cal, rules.hours)
            assert within_working_days(day, deadline, n, rules), (day, n)
            assert not within_working_days(day, deadline + timedelta(minutes=1), n, rules)
            day += timedelta(days=3)


def test_an_upload_still_inside_its_window_is_not_counted_until_it_is_done_or_late() -> None:
    held = date(2026, 12, 2)  # decisions due Wed 9 Dec 18:00
    items = [(held, None), (held, utc(2026, 12, 3))]
    assert upload_rate(items, 5, RULES, now=utc(2026, 12, 9, 17)) == Rate(1, 1)
    assert upload_rate(items, 5, RULES, now=utc(2026, 12, 9, 18, 1)) == Rate(1, 2)
    # a window that closed before go-live is backlog, not measured
    assert upload_rate(items, 5, RULES, now=utc(2027, 1, 4), since=utc(2026, 12, 10)) == Rate()


def test_a_meeting_counts_in_the_period_it_was_held_unless_due_before_go_live() -> None:
    verdicts = [
        Verdict("C1", "RCPC", 1, date(2026, 11, 30), date(2026, 12, 1)),  # late, held in period
        Verdict("C2", "RCPC", 1, date(2026, 12, 10), date(2026, 12, 10)),  # on its last day
        Verdict("C3", "RCPC", 2, date(2026, 12, 20), date(2027, 1, 1)),  # held after the period
        Verdict("C4", "RCPC", 2, date(2026, 12, 20)),  # not held yet
    ]
    rate = timescale_rate(verdicts, first=date(2026, 12, 1), end=date(2027, 1, 1))
    assert rate == Rate(1, 2)
    since = timescale_rate(verdicts, first=date(2026, 12, 1), end=date(2027, 1, 1),
                           since=date(2026, 12, 1))  # C1 fell due before go-live  # fmt: skip
    assert since == Rate(1, 1)


def _plans(chair: str, n: int, start: date = date(2026, 1, 5)) -> list[PlanRow]:
    return [PlanRow(f"{chair}-P{i}", start, None, chair_id=chair) for i in range(n)]


def _care(iro: str, n: int, start: date = date(2026, 1, 5)) -> list[CareRow]:
    return [CareRow(f"{iro}-C{i}", start, None, iro_id=iro) for i in range(n)]


@pytest.mark.parametrize(
    ("cp", "lac", "weighted", "band"),
    [
        (50, 0, 50.0, "within"),  # the Handbook's bottom
        (49, 0, 49.0, "under"),
        (40, 20, 70.0, "within"),  # 40 + 20 x 1.5: the top
        (41, 20, 71.0, "over"),
        (0, 47, 70.5, "over"),  # a looked-after case counts 1.5
        (60, 34, 111.0, "over"),  # seed 004's average of 110 weighted cases
    ],
)
def test_a_caseload_is_weighted_and_read_against_the_handbook_range(
    cp: int, lac: int, weighted: float, band: str
) -> None:
    rows = Caseload(plans=tuple(_plans("i1", cp)), care=tuple(_care("i1", lac)),
                    staff=(StaffRow("i1", "Ira", "iro", "IRO"),))  # fmt: skip
    (load,) = iro_caseloads(rows, RULES, as_of=date(2026, 12, 1))
    assert (load.cp, load.lac, load.weighted, load.band) == (cp, lac, weighted, band)


def test_a_child_in_care_with_a_plan_counts_once_and_closed_cases_not_at_all() -> None:
    plans = (PlanRow("X1", date(2026, 1, 5), None, chair_id="i1"),  # also in care: once, as LAC
             PlanRow("X2", date(2026, 1, 5), date(2026, 6, 1), chair_id="i1"),  # ended
             PlanRow("X3", date(2027, 1, 5), None, chair_id="i1"))  # not started  # fmt: skip
    care = (CareRow("X1", date(2026, 3, 1), None, iro_id="i2"),
            CareRow("X4", date(2025, 3, 1), date(2026, 11, 30), iro_id="i2"),  # left
            CareRow("X5", date(2026, 12, 1), date(2026, 12, 1), iro_id="i2"))  # one day, today
    staff = (StaffRow("i1", "Ann", "iro", "IRO"), StaffRow("i2", "Bea", "iro", "IRO"),
             StaffRow("i3", "Cy", "iro", "IRO"), StaffRow("i4", "Di", "iro", "IRO", active=False))
    rows = Caseload(plans=plans, care=care, staff=staff)  # fmt: skip
    loads = iro_caseloads(rows, RULES, as_of=date(2026, 12, 1))
    assert [(c.staff_id, c.cp, c.lac, c.weighted) for c in loads] == [
        ("i2", 0, 2, 3.0), ("i1", 0, 0, 0.0), ("i3", 0, 0, 0.0),
    ]  # fmt: skip  (an inactive IRO with no cases is not listed)


def test_the_weights_and_the_range_come_from_the_policy() -> None:
    policy = parse_policy(
        {"caseload": {"weights": {"cp": 1.0, "lac": 2.0}, "handbook_range": [2, 3]}}
    )
    rules = Rules.of(policy)
    rows = Caseload(plans=tuple(_plans("i1", 1)), care=tuple(_care("i1", 1)))
    (load,) = iro_caseloads(rows, rules, as_of=date(2026, 12, 1))
    assert (load.weighted, load.band) == (3.0, "within")
    assert iro_caseloads(rows, replace(rules, handbook_range=(1, 2)),
                         as_of=date(2026, 12, 1))[0].band == "over"  # fmt: skip


def test_the_charts_weeks_are_the_tables_period_with_cut_and_running_weeks_marked() -> None:
    confs = tuple(
        ConferenceRow(f"R{d}", "RCPC", utc(2026, 11, d, 10), utc(2026, 11, d - 7))
        for d in (9, 16, 18, 30)
    )
    alerts = (AlertRow("A1", utc(2026, 11, 4), utc(2026, 11, 5)),  # before the period
              AlertRow("P1", utc(2026, 11, 17), None, kind="positive"))  # needs no answer
    rows = Caseload(conferences=confs, alerts=alerts)  # fmt: skip
    # Thu 5 Nov to Tue 1 Dec (the first day not included), now Tue 1 Dec
    points = period_series(rows, RULES, now=utc(2026, 12, 1, 9), start_day=date(2026, 11, 5),
                           end_day=date(2026, 12, 1))  # fmt: skip
    assert [p.week_start for p in points] == [
        date(2026, 11, 2), date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23),
        date(2026, 11, 30),
    ]  # fmt: skip
    assert [p.partial for p in points] == [True, False, False, False, True]
    assert [p.rcpc.total for p in points] == [0, 1, 2, 0, 1]
    assert all(p.qa == Rate() for p in points)
    # the current week, while it runs, is partial even inside the period
    running = period_series(rows, RULES, now=utc(2026, 11, 18, 9), start_day=date(2026, 11, 9),
                            end_day=date(2026, 11, 30))  # fmt: skip
    assert [p.partial for p in running] == [False, True, True]


def _figures(team: str, **extra: object) -> Figures:
    return Figures(team=team, qa_stages=(7, 2, 0, 0), qa_raised=14, **extra)  # type: ignore[arg-type]


def test_the_legend_under_the_table_explains_every_column_and_cell_form() -> None:
    rows = [
        _figures("North", plans_9=9, plans_9_reviewed=4, lac_records=Rate(21, 23),
                 alerts_by_service=(("cp", "concern", 3), ("cp", "positive", 1))),
        _figures(SERVICE, lac_records=Rate(23, 23)),
    ]  # fmt: skip
    text = render_table(rows, "Timeliness", RULES, caseloads=[])
    table, legend = text.split("\nLegend\n")
    assert "14, 7/2/0/0" in table and "9 (4)" in table
    assert "91% (21/23) <95%" in table and "100% (23/23)" in table
    assert "3/1" in table
    for key, (top, bottom, _) in REPORT_COLUMNS.items():
        name = " ".join(p for p in (top, bottom) if p).format(
            rcpc=3, icpc=1, qa=5, stages="1/2/3/4", decisions=5, record=20, family=5, strategy=15
        )
        assert f"  {name}: " in legend, key
    for form in ("9m (reviewed): 9 (4) = 9 open plans had passed 9 months",
                 "18m: open plans that had passed 18 months",
                 "24m: open plans that had passed 24 months",
                 "14, 7/2/0/0 = 14 concerns raised; 7 reached stage 1",
                 "< 95% = below the policy's target"):  # fmt: skip
        assert form in " ".join(legend.split()), form


def test_the_caseload_table_names_who_is_over_the_range() -> None:
    loads = [IroCaseload("i1", "Ira Olu", "IRO", 60, 34, 111.0, "over"),
             IroCaseload("i2", "Bo Ek", "IRO", 30, 20, 60.0, "within", active=False)]  # fmt: skip
    text = render_caseloads(loads, RULES)
    assert text.startswith("Caseload per IRO, weighted: 1 of 2 over the Handbook's 70\n")
    lines = text.splitlines()
    assert lines[3].split() == ["IRO", "cases", "cases", "caseload", "50-70"]
    assert lines[5].split() == ["Ira", "Olu", "60", "34", "111", "over"]
    assert lines[6].split() == ["Bo", "Ek", "(left)", "30", "20", "60", "within"]


def test_the_safeguarding_managers_caption_names_who_is_over_the_range_in_one_line() -> None:
    def load(n: int, weighted: float, band: str) -> IroCaseload:
        return IroCaseload(f"i{n}", f"IRO {n}", "IRO", 0, 0, weighted, band)

    loads = [load(n, 80 - n, "over") for n in range(7)] + [load(9, 60, "within")]
    assert caseload_summary(loads, RULES) == (
        "IRO caseloads (weighted, Handbook 50-70): 7 of 8 over 70: IRO 0 80, IRO 1 79, IRO 2 78, "
        "IRO 3 77, IRO 4 76 and 2 more (irobot report)."
    )
    assert caseload_summary(loads[-1:], RULES) == (
        "IRO caseloads (weighted, Handbook 50-70): none of 1 over 70."
    )
