"""Show the demo transcript in a terminal: one phone per person, day by day."""

from __future__ import annotations

import contextlib
import io
from collections import defaultdict
from datetime import time

from rich.console import Console, Group
from rich.panel import Panel
from rich.rule import Rule
from rich.text import Text

from bot.demo.runner import DemoDay, DemoResult
from bot.demo.transcript import Delivered
from models.tables import Staff
from models.vocabulary import ROLE_LABELS

ROLE_LABEL = {**ROLE_LABELS, "iro": "IRO / chair"}
ROLE_ORDER = list(ROLE_LABEL)


def _buttons(entry: Delivered) -> Text:
    text = Text("   ")
    for row in entry.buttons or []:
        for label, _ in row:
            text.append(f"[{label}]", style="bold cyan")
            text.append(" ")
    return text


FOLD_AFTER_LINES = 8
FIGURES_LOOKBACK_DAYS = 42  # the figures also count the alerts raised before the demo began


def _fold(text: str) -> str:
    """Long digests are shown folded: the phone has them whole, the terminal needs the gist."""
    lines = text.splitlines()
    if len(lines) <= FOLD_AFTER_LINES:
        return text
    hidden = len(lines) - FOLD_AFTER_LINES + 1
    return "\n".join([*lines[: FOLD_AFTER_LINES - 1], f"… ({hidden} more lines on the phone)"])


def _message(entry: Delivered, local_time: str) -> Group:
    parts: list[Text] = []
    head = Text(f"{local_time}  ", style="dim")
    if entry.photo:
        head.append("🖼  [chart] ", style="magenta")
    head.append(_fold(entry.text))
    parts.append(head)
    if entry.buttons:
        parts.append(_buttons(entry))
    for reply in entry.replies:
        parts.append(Text(f"   ↳ {reply}", style="green"))
    return Group(*parts)


def person_label(staff: Staff) -> str:
    """`Alex Brown · social worker · North`: who holds this phone."""
    return f"{staff.name} · {ROLE_LABEL.get(staff.role, staff.role)} · {staff.team}"


def render_day(console: Console, result: DemoResult, demo_day: DemoDay, index: int) -> None:
    """Print one day: a panel per person who received anything, in role order."""
    cal = result.policy.calendar()
    console.print(
        Rule(f"[bold]{demo_day.day:%a %-d %b %Y}[/]  ·  working day {index} of {len(result.days)}")
    )
    if not demo_day.delivered:
        console.print(Text("  (nothing due: no phone buzzes today)", style="dim"))
        return
    per_person: dict[int, list[Delivered]] = defaultdict(list)
    for entry in demo_day.delivered:
        per_person[entry.chat_id].append(entry)

    def order(chat_id: int) -> tuple[int, str]:
        staff = result.people.get(chat_id)
        if staff is None:
            return (99, str(chat_id))
        return (ROLE_ORDER.index(staff.role) if staff.role in ROLE_ORDER else 98, staff.staff_id)

    for chat_id in sorted(per_person, key=order):
        staff = result.people.get(chat_id)
        title = person_label(staff) if staff else f"chat {chat_id}"
        body = [_message(entry, f"{cal.local(entry.at):%H:%M}") for entry in per_person[chat_id]]
        console.print(
            Panel(
                Group(*body),
                title=f"📱 {title}",
                title_align="left",
                border_style="blue",
                expand=True,
            )
        )


def render_summary(console: Console, result: DemoResult, *, elapsed: float) -> None:
    """The totals, the figures for the simulated period (via `irobot report`), the chart."""
    import argparse
    from datetime import timedelta

    from bot.commands import report
    from bot.context import build_context
    from bot.settings import Settings

    delivered = [entry for day in result.days for entry in day.delivered]
    by_role: dict[str, int] = defaultdict(int)
    for entry in delivered:
        staff = result.people.get(entry.chat_id)
        by_role[ROLE_LABEL.get(staff.role, staff.role) if staff else "?"] += 1
    taps = sum(len(entry.replies) for entry in delivered)
    console.print(Rule("[bold]After the simulated days"))
    roles = ", ".join(
        f"{n} to {_plural(role)}" for role, n in sorted(by_role.items(), key=lambda x: -x[1])
    )
    console.print(f"{len(delivered)} messages delivered ({roles}); {taps} answered with a tap.")
    last = result.days[-1].day if result.days else result.started
    end_of_demo = result.policy.calendar().at(last, time_of_day(19))
    chart = result.db_path.parent / "irobot-demo-chart.png"
    args = argparse.Namespace(
        challenge=False,
        start=result.started - timedelta(days=FIGURES_LOOKBACK_DAYS),
        end=last + timedelta(days=1),
        team=None,
        format="table",
        chart=str(chart),
    )
    settings = Settings(IROBOT_DATABASE_URL=f"sqlite:///{result.db_path}")
    ctx = build_context(settings, policy=result.policy, engine=result.engine, upgrade=False)
    with contextlib.redirect_stderr(io.StringIO()):  # the path is printed just below
        report.run(args, ctx, now=end_of_demo)
    console.print(f"Weekly chart: {chart}")
    console.print(
        f"Demo database: {result.db_path}\n(explore it: export IROBOT_DATABASE_URL=sqlite:///"
        f"{result.db_path}; irobot report --team North; irobot tick --dry-run --at "
        f"{last + timedelta(days=3):%Y-%m-%d}T08:30)"
    )
    console.print(Text(f"Finished in {elapsed:.1f} s.", style="dim"))


def _plural(role: str) -> str:
    """`heads of service`, `team managers`: the summary line reads as English (business
    support is a service, not a person, and stays as it is)."""
    if role.endswith("support"):
        return role
    head, sep, tail = role.partition(" of ")
    return f"{head}s{sep}{tail}" if sep else f"{role}s"


def time_of_day(hour: int) -> time:
    """A wall-clock hour as a time."""
    return time(hour, 0)
