"""`irobot check`: the go-live check, one line per item (`ok`, `warn`, `FAIL`) saying what to do.

It reads and asks, never writes (beyond remembering the bot's username for invite links): it
does not create or migrate the schema, send a message or touch the webhook. The exit status
is 1 when anything would stop the service (a FAIL); warnings alone exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

import httpx
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import col
from telegram import Bot, WebhookInfo
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.request import HTTPXRequest

from bot import identity
from bot.context import AppContext, build_context
from bot.settings import Settings
from models.db import is_empty, make_engine, revisions, schema_problem
from models.tables import Plan, Staff
from scheduler.policy import Policy, PolicyError, load_policy

logger = logging.getLogger(__name__)

BUILDS_OWN_CONTEXT = True  # a broken database or policy is a FAIL line, not the end
OK, WARN, FAIL = "ok", "warn", "FAIL"
TIMEOUT_SECONDS = 10.0
SHOW_UNLINKED = 8
TOKEN_HINT = "set TELEGRAM_BOT_TOKEN in the environment or in .env"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`--webhook-url` to check the public URL too; without it, polling is assumed."""
    parser.add_argument(
        "--webhook-url",
        metavar="URL",
        help="the public URL given to `irobot run --webhook-url`: checks it reaches the bot",
    )
    parser.epilog = (
        "Exit status 1 when any line is FAIL (the service would not work), else 0. Reads "
        "only: it creates, migrates and sends nothing."
    )


@dataclass
class Line:
    """One checked item: status, what, and what to do."""

    status: str
    item: str
    text: str

    def __str__(self) -> str:
        return f"{self.status:<4} {self.item}: {self.text}"


@dataclass
class Report:
    """Every line in order; failed when any is FAIL."""

    lines: list[Line] = field(default_factory=list)

    def add(self, status: str, item: str, text: str) -> Line:
        """Record and print at once, so a slow item shows what came before it."""
        line = Line(status, item, text)
        self.lines.append(line)
        print(line, flush=True)
        return line

    @property
    def failed(self) -> bool:
        """Whether anything would stop the service."""
        return any(line.status == FAIL for line in self.lines)


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Check each item in the order an officer would fix them; 1 if any FAIL."""
    report = Report()
    check_settings(report, settings)
    policy = check_policy(report, settings)
    engine = check_database(report, settings)
    ctx = None
    if engine is not None and policy is not None:
        ctx = build_context(settings, policy=policy, engine=engine, upgrade=False)
        check_records(report, ctx)
    check_telegram(report, settings, ctx, args.webhook_url)
    if ctx is not None:
        check_unlinked(report, ctx)
        check_first_morning(report, ctx)
    else:
        report.add(WARN, "first morning", "not previewed: fix the database and policy first")
    if engine is not None:
        engine.dispose()
    return 1 if report.failed else 0


# --------------------------------------------------------------------------- local items


def check_settings(report: Report, settings: Settings) -> None:
    """Where the settings came from, and the token's presence (never its value)."""
    env = Path.cwd() / ".env"
    source = f"the environment and {env}" if env.exists() else "the environment (no .env here)"
    database = make_url(settings.database_url).render_as_string(hide_password=True)
    report.add(OK, "settings", f"read from {source}; IROBOT_DATABASE_URL {database}")
    if not settings.telegram_bot_token:
        report.add(FAIL, "token", f"TELEGRAM_BOT_TOKEN is not set: {TOKEN_HINT}")


def check_policy(report: Report, settings: Settings) -> Policy | None:
    """The policy file parses (or the defaults are in use), with its headline timescales."""
    try:
        policy = load_policy(settings.policy_path)
    except PolicyError as exc:
        report.add(FAIL, "policy", f"{exc}: fix the file named by IROBOT_POLICY")
        return None
    where = settings.policy_path or "built-in defaults (IROBOT_POLICY not set)"
    report.add(
        OK,
        "policy",
        f"{where}: RCPC report {policy.rcpc_report.due_working_days_before} and ICPC "
        f"{policy.icpc_report.due_working_days_before} working days before, QA ladder of "
        f"{len(policy.qa_alert.ladder)} stages, working hours {policy.delivery.working_hours}, "
        f"{len(policy.closure_days)} closure days, audit kept {policy.audit.retention_months} "
        "months",
    )
    return policy


def _sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL, None for anything else (or memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(str(parsed.database))


def check_database(report: Report, settings: Settings) -> Engine | None:
    """Reachable and at this version's revision; the engine when it can be used."""
    file = _sqlite_file(settings.database_url)
    if file is not None and not file.exists():
        report.add(FAIL, "database", f"{file} does not exist: run `irobot db upgrade` to "
                   "create it, then import staff (or fix IROBOT_DATABASE_URL)")  # fmt: skip
        return None
    engine = make_engine(settings.database_url, pooled=False)
    try:
        if is_empty(engine):
            report.add(FAIL, "database", "reachable but empty: run `irobot db upgrade`, then "
                       "import staff, plans and conferences")  # fmt: skip
            engine.dispose()
            return None
        problem = schema_problem(engine)
        current, _ = revisions(engine)
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0][:200]
        report.add(FAIL, "database", f"cannot connect ({reason}): check IROBOT_DATABASE_URL, "
                   "that the server is running and that the role may log in")  # fmt: skip
        engine.dispose()
        return None
    if problem:
        report.add(FAIL, "database", problem)
        engine.dispose()
        return None
    report.add(OK, "database", f"reachable, schema at revision {current} (this version's)")
    return engine


def check_records(report: Report, ctx: AppContext) -> None:
    """Staff first, then plans: the order the nightly import must keep."""
    with ctx.session() as session:
        staff = session.execute(
            select(func.count(col(Staff.staff_id))).where(col(Staff.active).is_(True))
        ).scalar_one()
        plans = session.execute(
            select(func.count(col(Plan.case_ref))).where(col(Plan.plan_end).is_(None))
        ).scalar_one()
    if not staff:
        report.add(FAIL, "records", "no active staff: import staff first "
                   "(irobot import staff staff.csv), then plans and conferences")  # fmt: skip
    elif not plans:
        report.add(WARN, "records", f"{staff} active staff but no open plans: "
                   "irobot import plans plans.csv, then conferences")  # fmt: skip
    else:
        report.add(OK, "records", f"{staff} active staff, {plans} open plans")


# --------------------------------------------------------------------------- Telegram


async def _ask_telegram(token: str, api_url: str) -> tuple[str, int, WebhookInfo]:
    request = HTTPXRequest(connect_timeout=TIMEOUT_SECONDS, read_timeout=TIMEOUT_SECONDS)
    async with Bot(token, base_url=api_url, request=request) as bot:  # initialising asks getMe
        hook = await bot.get_webhook_info()
        return str(bot.username or ""), int(bot.id), hook


def check_telegram(
    report: Report, settings: Settings, ctx: AppContext | None, webhook_url: str | None
) -> None:
    """The token is accepted by getMe (and the bot's name), then the webhook if one is used."""
    token, api = settings.telegram_bot_token, settings.telegram_api_url
    if not token:
        if webhook_url:
            report.add(FAIL, "webhook", f"not checked without a token: {TOKEN_HINT}")
        return
    try:
        name, bot_id, hook = asyncio.run(_ask_telegram(token, api))
    except InvalidToken:
        report.add(FAIL, "token", "Telegram refused TELEGRAM_BOT_TOKEN: copy it again from "
                   "BotFather (/mybots, API Token) into .env")  # fmt: skip
        return
    except NetworkError as exc:
        report.add(FAIL, "token", f"cannot reach the Telegram Bot API at {api} ({exc}): allow "
                   "outbound HTTPS from this server (proxy, firewall)")  # fmt: skip
        return
    except TelegramError as exc:
        report.add(FAIL, "token", f"the Telegram Bot API at {api} said: {exc}")
        return
    report.add(OK, "token", f"accepted by getMe: the bot is @{name} (id {bot_id}); invite "
               f"links read https://t.me/{name}?start=CODE")  # fmt: skip
    if ctx is not None and name:
        identity.remember(ctx, token, name)
    check_webhook(report, hook, webhook_url)


def check_webhook(report: Report, hook: WebhookInfo, webhook_url: str | None) -> None:
    """Polling: no webhook should be set. Webhook: the URL must reach a running bot."""
    if not webhook_url:
        if hook.url:
            report.add(WARN, "webhook", f"Telegram has a webhook set ({hook.url}) but no "
                       "--webhook-url was given: `irobot run` without --webhook-url removes it "
                       "and polls; pass --webhook-url to check it instead")  # fmt: skip
        else:
            report.add(OK, "updates", "long polling (no webhook set): `irobot run` must be "
                       "running for /start, buttons and replies")  # fmt: skip
        return
    parsed = urlparse(webhook_url)
    if parsed.scheme != "https":
        report.add(WARN, "webhook", f"{webhook_url} is not HTTPS: Telegram delivers only to "
                   "https:// URLs (ports 443, 80, 88 or 8443)")  # fmt: skip
    report.add(*_probe(webhook_url))
    if hook.url and hook.url != webhook_url:
        report.add(WARN, "webhook", f"Telegram's webhook is {hook.url}, not {webhook_url}: "
                   "`irobot run --webhook-url` sets it on start")  # fmt: skip
    if hook.last_error_message:
        when = f" at {hook.last_error_date:%Y-%m-%d %H:%M} UTC" if hook.last_error_date else ""
        report.add(WARN, "webhook", f"Telegram's last delivery failed{when}: "
                   f"{hook.last_error_message}")  # fmt: skip


def _probe(url: str) -> tuple[str, str, str]:
    """POST an unsigned update: a running bot refuses it with 403, anything else is a fault."""
    try:
        answer = httpx.post(url, json={"update_id": 0}, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return FAIL, "webhook", (
            f"cannot reach {url} ({type(exc).__name__}: {exc}): check DNS, the firewall, the "
            "certificate and that nginx is running"
        )
    status = answer.status_code
    if status == 403:
        return OK, "webhook", f"{url} reaches the bot (an update without the secret is refused)"
    if status in (502, 503, 504):
        return FAIL, "webhook", (
            f"{url} answers {status} from the proxy: start `irobot run --webhook-url {url} "
            "--port 8443 --listen 127.0.0.1` (systemctl start irobot)"
        )
    if status == 404:
        return FAIL, "webhook", (
            f"{url} answers 404: the proxy's location and `irobot run --webhook-url` must name "
            "the same path (e.g. location /irobot/ and https://HOST/irobot/)"
        )
    if 200 <= status < 300:
        return FAIL, "webhook", (
            f"{url} accepted an update without the secret token: something other than "
            "`irobot run` answers there"
        )
    return FAIL, "webhook", f"{url} answers {status}: expected 403 from `irobot run`"


# --------------------------------------------------------------------------- people and morning


def check_unlinked(report: Report, ctx: AppContext) -> None:
    """Who would get nothing because they have not used their invite yet."""
    with ctx.session() as session:
        rows = session.execute(
            select(col(Staff.staff_id), col(Staff.name))
            .where(col(Staff.active).is_(True))
            .where(col(Staff.chat_id).is_(None))
            .order_by(col(Staff.staff_id))
        ).all()
        total = int(session.execute(
            select(func.count(col(Staff.staff_id))).where(col(Staff.active).is_(True))
        ).scalar_one())  # fmt: skip
    if not rows:
        if total:
            report.add(OK, "linked", f"all {total} active staff are linked")
        return
    shown = ", ".join(f"{staff_id} {name}" for staff_id, name in rows[:SHOW_UNLINKED])
    more = f" and {len(rows) - SHOW_UNLINKED} more" if len(rows) > SHOW_UNLINKED else ""
    report.add(WARN, "linked", f"{len(rows)} of {total} active staff not linked yet ({shown}"
               f"{more}): `irobot invite STAFF_ID` for each; their reminders wait")  # fmt: skip


def first_morning(ctx: AppContext, now: datetime) -> datetime:
    """The next working day's digest time, today's if it is still to come."""
    cal, clock = ctx.calendar, ctx.policy.delivery.digest_clock()
    local = cal.local(now)
    day = local.date()
    if not cal.is_working_day(day) or local.time() >= clock:
        day = cal.next_working_day(day + timedelta(days=1))
    return cal.at(day, clock)


def check_first_morning(report: Report, ctx: AppContext, now: datetime | None = None) -> None:
    """What the next morning would send, counted from the real preview (`tick --dry-run`)."""
    from bot.commands.tick import preview

    at = first_morning(ctx, now or ctx.clock())
    result = preview(ctx, at=at)
    local = ctx.calendar.local(at)
    when = f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"
    messages = sum(len(person.messages) for person in result.people)
    waiting = sum(len(p.messages) for p in result.people if not p.linked)
    command = f"`irobot tick --dry-run --at {local:%Y-%m-%dT%H:%M}`"
    if not messages:
        report.add(OK, "first morning", f"{when}: nothing would be sent ({command} previews)")
        return
    held = f", {waiting} of them to people not linked yet" if waiting else ""
    report.add(OK, "first morning", f"{when}: {messages} messages to {len(result.people)} "
               f"people{held}; {command} shows each")  # fmt: skip
