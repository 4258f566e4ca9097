"""`irobot report`: the timeliness figures managers report to scrutiny, from live data.

Period: `--from` (first day included) and `--to` (first day NOT included), local dates.
Defaults: `--to` is tomorrow (so today counts) and `--from` is 12 months before `--to`.
So `--from 2026-04-01 --to 2027-04-01` is the financial year 2026/27.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from bot.context import AppContext, CommandError
from models.tables import QaAlert, Staff
from models.vocabulary import STAND_DOWN_REASON_CODES, stand_down_phrase
from scheduler.caseload import NOT_GIVEN, Caseload, load_caseload
from scheduler.figures import (
    SERVICE,
    Figures,
    Rules,
    add_months,
    day_start,
    figures_by_team,
    week_start,
    weekly_series,
)
from scheduler.policy import Policy

logger = logging.getLogger(__name__)

CSV_COLUMNS = (
    "team",
    "rcpc_in_time",
    "rcpc_due",
    "rcpc_pct",
    "icpc_in_time",
    "icpc_due",
    "icpc_pct",
    "qa_in_time",
    "qa_due",
    "qa_pct",
    "qa_raised",
)


def _date(value: str | date | None, option: str) -> date | None:
    """A local date from the command line (or a caller's `date`); one-line error if bad."""
    if value is None or isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{option} {value!r} is not a date (YYYY-MM-DD)") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Period, team, output format, chart file and the challenge list."""
    parser.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        help="first day included, YYYY-MM-DD (default: 12 months before --to)",
    )
    parser.add_argument(
        "--to",
        dest="end",
        metavar="DATE",
        help="first day NOT included (default: tomorrow, so today counts)",
    )
    parser.add_argument("--team", help="only this team (as in the staff import)")
    parser.add_argument(
        "--format",
        choices=("table", "csv"),
        default="table",
        help="table for a terminal (default) or csv on stdout for spreadsheets",
    )
    parser.add_argument(
        "--chart",
        metavar="FILE.png",
        help="also write the weekly chart (12 weeks up to --to) of the service or --team",
    )
    parser.add_argument(
        "--challenge",
        action="store_true",
        help="list QA alerts past the last ladder stage (AD's challenge meeting) instead",
    )


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value: str) -> str:
    """A name or id as inert text: Excel runs a cell starting `=`, `+`, `-` or `@` as a formula.

    The OWASP CSV-injection rule: prefix such a cell with `'`. Only for text columns: our
    numeric columns hold numbers a spreadsheet must still sum (a negative one stays negative).
    """
    return f"'{value}" if value.startswith(FORMULA_STARTS) else value


def csv_rows(figures: Sequence[Figures], ladder_len: int) -> list[list[str]]:
    """Header plus one row per team: plain numbers a spreadsheet can sum."""
    header = list(CSV_COLUMNS)
    header += [f"qa_reached_stage_{n}" for n in range(1, ladder_len + 1)]
    header += [
        "qa_past_last_stage",
        "plans_open",
        "plans_9_months",
        "plans_9_months_reviewed",
        "plans_18_months",
        "plans_24_months",
        "notifications_failed",
        "notifications_held",
        "conferences_due",
        "conferences_stood_down",
        "conferences_stood_down_pct",
    ]
    reasons = [*STAND_DOWN_REASON_CODES, NOT_GIVEN]
    header += [f"stood_down_{code}" for code in reasons]
    rows = [header]
    for f in figures:
        row = [text_cell(f.team)]
        for rate in (f.rcpc, f.icpc, f.qa):
            row += [str(rate.met), str(rate.total), _pct(rate.pct)]
        row.append(str(f.qa_raised))
        row += [str(n) for n in f.qa_stages]
        row += [
            str(v)
            for v in (
                f.qa_past_ladder,
                f.plans_open,
                f.plans_9,
                f.plans_9_reviewed,
                f.plans_18,
                f.plans_24,
                f.notifications_failed,
                f.notifications_held,
            )
        ]
        row += [str(f.stood_down.total), str(f.stood_down.met), _pct(f.stood_down.pct)]
        by_reason = dict(f.stood_down_reasons)
        row += [str(by_reason.get(code, 0)) for code in reasons]
        rows.append(row)
    return rows


def text_table(
    headers: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[str]],
    *,
    left: Collection[int] = (0,),
    bold_last: bool = False,
) -> str:
    """Aligned plain-text columns: two header lines, a rule, the rows; numbers to the right.

    Plain text rather than rich's Table: an authority has a couple of hundred teams and
    rich takes ~0.4 s to lay them out; this takes milliseconds and pipes cleanly.
    """
    cells = [[top, bottom] for top, bottom in headers]
    widths = [
        max(len(top), len(bottom), *(len(row[n]) for row in rows))
        for n, (top, bottom) in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        parts = [
            value.ljust(width) if n in left else value.rjust(width)
            for n, (value, width) in enumerate(zip(values, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    out = [line([c[0] for c in cells]), line([c[1] for c in cells]), rule]
    body = [line(row) for row in rows]
    if bold_last and body:
        body.insert(len(body) - 1, rule)
    return "\n".join(out + body)


def render_table(figures: Sequence[Figures], title: str, rules: Rules) -> str:
    """The figures as a terminal table: one row per team, the service last below a rule."""
    stages = "/".join(str(n) for n in range(1, rules.ladder_len + 1))
    headers = [
        ("", "Team"),
        ("RCPC report", f"{rules.rcpc_days} wd before"),
        ("ICPC report", f"{rules.icpc_days} wd before"),
        ("QA answered", f"in {rules.qa_days} wd"),
        ("QA raised,", f"stage {stages}"),
        ("Plans", "open"),
        ("9m", "(reviewed)"),
        ("", "18m"),
        ("", "24m"),
        ("Msgs", "failed"),
        ("Msgs", "held"),
        ("Conferences", "stood down"),
    ]
    rows = []
    for f in figures:
        reached = "/".join(str(n) for n in f.qa_stages)
        if f.qa_past_ladder:
            reached += f" +{f.qa_past_ladder}"
        rows.append(
            [
                f.team,
                f.rcpc.show(),
                f.icpc.show(),
                f.qa.show(),
                f"{f.qa_raised}, {reached}",
                str(f.plans_open),
                f"{f.plans_9} ({f.plans_9_reviewed})",
                str(f.plans_18),
                str(f.plans_24),
                str(f.notifications_failed),
                str(f.notifications_held),
                f.stood_down.show(),
            ]
        )
    notes = (
        "wd = working days · QA stage n: reached stage n or beyond · "
        "held: recipient has not linked Telegram yet\nstood down: did not go ahead on its "
        "date (not counted in report timeliness)"
    )
    total = figures[-1] if figures else None
    if total is not None and total.stood_down_reasons:
        why = ", ".join(
            f"{stand_down_phrase(code) if code != NOT_GIVEN else 'reason not given'} {n}"
            for code, n in sorted(total.stood_down_reasons, key=lambda r: (-r[1], r[0]))
        )
        notes += f"\nStood down, by reason ({total.team}): {why}"
    has_service = bool(figures) and figures[-1].team == SERVICE and len(figures) > 1
    return f"{title}\n\n{text_table(headers, rows, bold_last=has_service)}\n\n{notes}"


@dataclass(frozen=True)
class ChallengeRow:
    """One alert for the challenge meeting: ids, dates, stage and the worker's name."""

    alert_id: str
    case_ref: str
    raised_on: date
    listed_on: date
    stage: int
    worker: str
    team: str
    working_days_open: int


def challenge_rows(
    session: Session, policy: Policy, now: datetime, *, team: str | None = None
) -> list[ChallengeRow]:
    """The engine's challenge list with dates and names resolved: case refs and staff only."""
    from scheduler.escalation import challenge_list  # the engine decides what is listed

    cal = policy.calendar()
    items = challenge_list(session)
    raised: dict[str, datetime] = {
        alert_id: raised_at
        for alert_id, raised_at in session.execute(
            select(col(QaAlert.alert_id), col(QaAlert.raised_at)).where(
                col(QaAlert.alert_id).in_([i.alert_id for i in items])
            )
        )
    }
    staff: dict[str, tuple[str, str]] = {
        staff_id: (name, staff_team)
        for staff_id, name, staff_team in session.execute(
            select(col(Staff.staff_id), col(Staff.name), col(Staff.team))
        )
    }
    today = cal.local(now).date()
    rows = []
    for item in items:
        name, worker_team = staff.get(item.owner_id, (item.owner_id, ""))
        if team is not None and worker_team != team:
            continue
        raised_on = cal.local(raised.get(item.alert_id, item.due_at)).date()
        rows.append(
            ChallengeRow(
                alert_id=item.alert_id,
                case_ref=item.case_ref,
                raised_on=raised_on,
                listed_on=cal.local(item.listed_at).date(),
                stage=item.stage,
                worker=name,
                team=worker_team,
                working_days_open=cal.count_working_days(raised_on, today),
            )
        )
    return sorted(rows, key=lambda r: (r.raised_on, r.alert_id))


def _print_challenge(rows: Sequence[ChallengeRow], fmt: str) -> None:
    header = ["alert_id", "case_ref", "raised_on", "listed_on", "stage", "social_worker",
              "team", "working_days_open"]  # fmt: skip
    values = [
        [r.alert_id, r.case_ref, r.raised_on.isoformat(), r.listed_on.isoformat(), str(r.stage),
         r.worker, r.team, str(r.working_days_open)]
        for r in rows
    ]  # fmt: skip
    if fmt == "csv":
        text_columns = (0, 1, 5, 6)  # alert_id, case_ref, social_worker, team
        cells = [
            [text_cell(v) if n in text_columns else v for n, v in enumerate(row)] for row in values
        ]
        csv.writer(sys.stdout).writerows([header, *cells])
        return
    headers = [
        ("", "Alert"),
        ("", "Case"),
        ("", "Raised"),
        ("", "Listed"),
        ("", "Stage"),
        ("Social", "worker"),
        ("", "Team"),
        ("Working", "days open"),
    ]
    print(f"QA alerts past the last stage, for the challenge meeting: {len(rows)}\n")
    if values:
        print(text_table(headers, values, left=(0, 1, 2, 3, 5, 6)))


def _period(args: argparse.Namespace, today: date) -> tuple[date, date]:
    end = _date(args.end, "--to") or today + timedelta(days=1)
    start = _date(args.start, "--from") or add_months(end, -12)
    if start >= end:
        raise CommandError(f"--from {start} must be before --to {end}")
    return start, end


def run(args: argparse.Namespace, ctx: AppContext, *, now: datetime | None = None) -> int:
    """Compute and print the figures (and write the chart); 0 on success."""
    now = now or ctx.clock()
    cal = ctx.calendar
    rules = Rules.of(ctx.policy)
    if args.chart and not Path(args.chart).parent.is_dir():
        raise CommandError(f"cannot write chart: no folder {Path(args.chart).parent}")
    with ctx.session() as session:
        if args.challenge:
            rows = challenge_rows(session, ctx.policy, now, team=args.team)
            _print_challenge(rows, args.format)
            return 0
        start_day, end_day = _period(args, cal.local(now).date())
        start, end = day_start(start_day, cal), day_start(end_day, cal)
        if args.team is not None:
            known = set(session.execute(select(col(Staff.team)).distinct()).scalars())
            if args.team not in known:
                raise CommandError(f"unknown team {args.team!r}")
        last_week = week_start(end_day - timedelta(days=1))
        chart_start = day_start(last_week - timedelta(weeks=11), cal)
        load_from = min(start, chart_start) if args.chart else start
        caseload = load_caseload(session, ctx.policy, start=load_from, end=end, now=now)
    figures = figures_by_team(caseload, rules, start=start, end=end, now=now, team=args.team)
    if args.format == "csv":
        csv.writer(sys.stdout).writerows(csv_rows(figures, rules.ladder_len))
    else:
        title = f"Timeliness {start_day:%-d %b %Y} to {end_day - timedelta(days=1):%-d %b %Y}"
        print(render_table(figures, title, rules))
    if args.chart:
        _write_chart(Path(args.chart), caseload, rules, args.team, last_week, now)
    return 0


def _write_chart(
    path: Path, caseload: Caseload, rules: Rules, team: str | None, last_week: date, now: datetime
) -> None:
    from scheduler.chart import render_chart  # matplotlib only when asked

    rows = caseload.for_team(team) if team else caseload
    points = weekly_series(rows, rules, now=now, last_week=last_week)
    png = render_chart(
        points,
        span_name=team or "The whole service",
        rcpc_days=rules.rcpc_days,
        icpc_days=rules.icpc_days,
        qa_days=rules.qa_days,
    )
    try:
        path.write_bytes(png)
    except OSError as exc:
        raise CommandError(f"cannot write chart to {path}: {exc.strerror}") from None
    print(f"chart written to {path}", file=sys.stderr)
