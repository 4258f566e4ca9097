"""`irobot report`: the timeliness figures managers report to scrutiny, from live data.

Period: `--from` (first day included) and `--to` (first day NOT included), local dates.
Defaults: `--to` is tomorrow (so today counts) and `--from` is 12 months before `--to`.
So `--from 2026-04-01 --to 2027-04-01` is the financial year 2026/27.
"""

from __future__ import annotations

import argparse
import csv
import gc
import logging
import sys
import textwrap
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session, col

from bot.context import AppContext, CommandError
from models.tables import QaAlert, Staff
from models.vocabulary import (
    ALERT_KINDS,
    CASELOAD_BANDS,
    CASELOAD_COLUMNS,
    CONCERN,
    CP,
    LAC,
    POSITIVE,
    REPORT_COLUMNS,
    REPORT_NOTES,
    STAND_DOWN_REASON_CODES,
    THEME_CODES,
    stand_down_phrase,
    theme_phrase,
)
from scheduler.caseload import NOT_GIVEN, Caseload, load_caseload
from scheduler.figures import (
    SERVICE,
    Figures,
    IroCaseload,
    Rate,
    Rules,
    add_months,
    as_of_day,
    count_of,
    day_start,
    figures_by_team,
    iro_caseloads,
    period_series,
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
        help="also write the weekly chart of the same period (--from/--to), service or --team",
    )
    parser.add_argument(
        "--caseload",
        action="store_true",
        help="only the weighted caseload per IRO on the period's last day (table or csv)",
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


# Added after the columns above (INTERFACE.md: additions only); each says what it counts.
MORE_CSV_COLUMNS = (
    "lac_decisions_in_time",
    "lac_decisions_due",
    "lac_decisions_pct",
    "lac_records_in_time",
    "lac_records_due",
    "lac_records_pct",
    "lac_records_target_pct",
    "family_records_in_time",
    "family_records_due",
    "family_records_pct",
    "lac_reviews_in_timescale",
    "lac_reviews_held",
    "lac_reviews_in_timescale_pct",
    "icpc_in_timescale",
    "icpc_held",
    "icpc_in_timescale_pct",
    "rcpc_in_timescale",
    "rcpc_held",
    "rcpc_in_timescale_pct",
    "children_in_care",
    "alerts_concern_cp",
    "alerts_positive_cp",
    "alerts_concern_lac",
    "alerts_positive_lac",
)


def csv_rows(
    figures: Sequence[Figures], ladder_len: int, target_pct: int = 95
) -> list[list[str]]:
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
    header += list(MORE_CSV_COLUMNS)
    themes = [*THEME_CODES, NOT_GIVEN]
    header += [f"alerts_{kind}_theme_{theme}" for theme in themes for kind in ALERT_KINDS]
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
        for rate in (f.lac_decisions, f.lac_records):
            row += [str(rate.met), str(rate.total), _pct(rate.pct)]
        row.append(str(target_pct))
        for rate in (f.family_records, f.lac_reviews, f.icpc_held, f.rcpc_held):
            row += [str(rate.met), str(rate.total), _pct(rate.pct)]
        row.append(str(f.children_in_care))
        row += [
            str(count_of(f.alerts_by_service, service, kind))
            for service in (CP, LAC)
            for kind in ALERT_KINDS
        ]
        row += [
            str(count_of(f.alerts_by_theme, theme, kind))
            for theme in themes
            for kind in ALERT_KINDS
        ]
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


def _heads(columns: dict[str, tuple[str, str, str]], keys: Sequence[str],
           values: dict[str, object]) -> list[tuple[str, str]]:  # fmt: skip
    """Two-line headings from the vocabulary, the policy's numbers filled in."""
    return [
        (columns[k][0].format(**values), columns[k][1].format(**values)) for k in keys
    ]


def _legend(columns: dict[str, tuple[str, str, str]], keys: Sequence[str],
            values: dict[str, object]) -> list[str]:  # fmt: skip
    """One line per column: its heading, then what it counts (wrapped for a terminal)."""
    lines = []
    for k in keys:
        top, bottom, meaning = (part.format(**values) for part in columns[k])
        name = " ".join(part for part in (top, bottom) if part)
        lines += textwrap.wrap(
            f"{name}: {meaning}", width=100, initial_indent="  ", subsequent_indent="      "
        )
    return lines


def _values(rules: Rules) -> dict[str, object]:
    low, high = rules.handbook_range
    return {
        "rcpc": rules.rcpc_days,
        "icpc": rules.icpc_days,
        "qa": rules.qa_days,
        "stages": "/".join(str(n) for n in range(1, rules.ladder_len + 1)),
        "decisions": rules.decisions_days,
        "record": rules.record_days,
        "target": rules.record_target_pct,
        "family": rules.family_record_days,
        "strategy": rules.icpc_within_days,
        "cp": f"{rules.cp_weight:g}",
        "lac": f"{rules.lac_weight:g}",
        "low": low,
        "high": high,
    }


MAIN_KEYS = ("team", "rcpc", "icpc", "qa", "qa_raised", "plans", "plans_9", "plans_18",
             "plans_24", "failed", "held", "stood_down")  # fmt: skip
MORE_KEYS = ("team", "lac_reviews", "lac_decisions", "lac_records", "icpc_held", "rcpc_held",
             "family_records")  # fmt: skip
ALERT_KEYS = ("team", "in_care", "alerts_cp", "alerts_lac")
CASELOAD_KEYS = ("iro", "cp", "lac", "weighted", "band")


def _against_target(rate: Rate, target: int) -> str:
    """`91% (21/23) <95%` when below the policy's target."""
    pct = rate.pct
    return rate.show() + (f" <{target}%" if pct is not None and pct < target else "")


def _by_kind(counts: Sequence[tuple[str, str, int]], first: str) -> str:
    return f"{count_of(counts, first, CONCERN)}/{count_of(counts, first, POSITIVE)}"


def render_caseloads(caseloads: Sequence[IroCaseload], rules: Rules) -> str:
    """The weighted caseload per IRO, heaviest first, read against the Handbook's range."""
    values = _values(rules)
    rows = [
        [
            c.name + ("" if c.active else " (left)"),
            str(c.cp),
            str(c.lac),
            f"{c.weighted:g}",
            CASELOAD_BANDS[c.band],
        ]
        for c in caseloads
    ]
    over = sum(1 for c in caseloads if c.band == "over")
    high = rules.handbook_range[1]
    title = f"Caseload per IRO, weighted: {over} of {len(caseloads)} over the Handbook's {high}"
    return f"{title}\n\n{text_table(_heads(CASELOAD_COLUMNS, CASELOAD_KEYS, values), rows)}"


def render_table(
    figures: Sequence[Figures],
    title: str,
    rules: Rules,
    caseloads: Sequence[IroCaseload] | None = None,
) -> str:
    """The figures as terminal tables (one row per team, the service last below a rule), the
    caseload per IRO and, under them, a legend saying what every column counts."""
    values = _values(rules)
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
    more = [
        [
            f.team,
            f.lac_reviews.show(),
            f.lac_decisions.show(),
            _against_target(f.lac_records, rules.record_target_pct),
            f.icpc_held.show(),
            f.rcpc_held.show(),
            f.family_records.show(),
        ]
        for f in figures
    ]
    alerts = [
        [
            f.team,
            str(f.children_in_care),
            _by_kind(f.alerts_by_service, CP),
            _by_kind(f.alerts_by_service, LAC),
        ]
        for f in figures
    ]
    has_service = bool(figures) and figures[-1].team == SERVICE and len(figures) > 1
    parts = [
        title,
        text_table(_heads(REPORT_COLUMNS, MAIN_KEYS, values), rows, bold_last=has_service),
    ]
    total = figures[-1] if figures else None
    if total is not None and total.stood_down_reasons:
        why = ", ".join(
            f"{stand_down_phrase(code) if code != NOT_GIVEN else 'reason not given'} {n}"
            for code, n in sorted(total.stood_down_reasons, key=lambda r: (-r[1], r[0]))
        )
        parts.append(f"Stood down, by reason ({total.team}): {why}")
    parts.append(
        "Meetings held in timescale, and their records\n\n"
        + text_table(_heads(REPORT_COLUMNS, MORE_KEYS, values), more, bold_last=has_service)
    )
    parts.append(
        "Children in care and QA alerts, by service\n\n"
        + text_table(_heads(REPORT_COLUMNS, ALERT_KEYS, values), alerts, bold_last=has_service)
    )
    if total is not None and total.alerts_by_theme:
        text = f"QA alerts by theme ({total.team}): " + _themes(total.alerts_by_theme)
        parts.append("\n".join(textwrap.wrap(text, width=100, subsequent_indent="  ")))
    keys = MAIN_KEYS + MORE_KEYS[1:] + ALERT_KEYS[1:]
    legend = ["Legend", *_legend(REPORT_COLUMNS, keys, values)]
    if caseloads is not None:
        parts.append(render_caseloads(caseloads, rules))
        legend += _legend(CASELOAD_COLUMNS, CASELOAD_KEYS, values)
    legend += textwrap.wrap(REPORT_NOTES, width=100, initial_indent="  ",
                            subsequent_indent="  ")  # fmt: skip
    parts.append("\n".join(legend))
    return "\n\n".join(parts)


def _themes(counts: Sequence[tuple[str, str, int]]) -> str:
    """`drift and delay 12 concerns, 3 positive; ...`, every theme with an alert."""
    themes = sorted({t for t, _, _ in counts}, key=lambda t: (t == NOT_GIVEN, t))
    out = []
    for theme in themes:
        name = "theme not given" if theme == NOT_GIVEN else theme_phrase(theme)
        concern, positive = count_of(counts, theme, CONCERN), count_of(counts, theme, POSITIVE)
        out.append(f"{name} {concern} concern{'s' if concern != 1 else ''}, {positive} positive")
    return "; ".join(out)


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


CASELOAD_CSV = ("iro_id", "iro", "team", "cp_cases", "lac_cases", "weighted_caseload",
                "handbook_low", "handbook_high", "handbook_band")  # fmt: skip


def caseload_csv_rows(loads: Sequence[IroCaseload], rules: Rules) -> list[list[str]]:
    """Header plus one row per IRO: cases by service, the weighted sum, the Handbook band."""
    low, high = rules.handbook_range
    return [list(CASELOAD_CSV)] + [
        [text_cell(c.staff_id), text_cell(c.name), text_cell(c.team), str(c.cp), str(c.lac),
         f"{c.weighted:g}", str(low), str(high), c.band]
        for c in loads
    ]  # fmt: skip


def _print_caseloads(loads: Sequence[IroCaseload], rules: Rules, fmt: str) -> None:
    if fmt == "csv":
        csv.writer(sys.stdout).writerows(caseload_csv_rows(loads, rules))
        return
    legend = ["Legend", *_legend(CASELOAD_COLUMNS, CASELOAD_KEYS, _values(rules))]
    print(f"{render_caseloads(loads, rules)}\n\n" + "\n".join(legend))


def _period(args: argparse.Namespace, today: date) -> tuple[date, date]:
    end = _date(args.end, "--to") or today + timedelta(days=1)
    start = _date(args.start, "--from") or add_months(end, -12)
    if start >= end:
        raise CommandError(f"--from {start} must be before --to {end}")
    return start, end


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A year's figures build some 50,000 rows, none of them in a reference cycle: the cyclic
    collector's passes over them were a tenth of the report (`benchmarks/scale.py`)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def run(args: argparse.Namespace, ctx: AppContext, *, now: datetime | None = None) -> int:
    """Compute and print the figures (and write the chart); 0 on success."""
    with _collector_paused():
        return _run(args, ctx, now=now)


def _run(args: argparse.Namespace, ctx: AppContext, *, now: datetime | None = None) -> int:
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
        caseload = load_caseload(session, ctx.policy, start=start, end=end, now=now, history=True)
    loads = iro_caseloads(caseload, rules, as_of=as_of_day(end, now, rules))
    if args.team is not None:
        loads = [c for c in loads if c.team == args.team]
    if getattr(args, "caseload", False):
        _print_caseloads(loads, rules, args.format)
        return 0
    figures = figures_by_team(caseload, rules, start=start, end=end, now=now, team=args.team)
    if args.format == "csv":
        csv.writer(sys.stdout).writerows(
            csv_rows(figures, rules.ladder_len, rules.record_target_pct)
        )
    else:
        title = f"Timeliness {start_day:%-d %b %Y} to {end_day - timedelta(days=1):%-d %b %Y}"
        print(render_table(figures, title, rules, loads))
    if args.chart:
        _write_chart(Path(args.chart), caseload, rules, args.team, (start_day, end_day), now)
    return 0


def _write_chart(
    path: Path,
    caseload: Caseload,
    rules: Rules,
    team: str | None,
    period: tuple[date, date],
    now: datetime,
) -> None:
    """The weekly chart of the table's own period (one period for both)."""
    from scheduler.chart import render_chart  # matplotlib only when asked

    rows = caseload.for_team(team) if team else caseload
    points = period_series(rows, rules, now=now, start_day=period[0], end_day=period[1])
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
