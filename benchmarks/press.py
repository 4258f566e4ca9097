"""Button presses under load: update arrival -> committed state -> edited message.

Why: issue 13 sets the bars: at most 8 ms of the bot's CPU per press, and p95 under 50 ms
at 50 presses a second from 200 accounts, on SQLite and on PostgreSQL, with the curve at
10, 25, 50 and 100 presses a second; and, beyond one process, two `irobot run --webhook-url`
processes on one PostgreSQL database behind one reverse proxy handle at least 1.7 times the
presses of one, with nothing lost or doubled. Each press is a social worker tapping
*Submitted* on a report reminder: the heaviest common path (guarded claim, conference
record, obligation resync for the case, audit, commit, then answerCallbackQuery and
editMessageText), against the Bot API stand-in in its own process
(`python -m tests.auxil.botapi --no-limits`); the people press from another process.

The curve: the unmodified PTB application from `bot.app`, in this process, long-polling the
stand-in. Latency of one press = from just before the driver injects it into the stand-in to
the moment the stand-in receives the editMessageText for that message; the state is
committed before the edit is sent. "Bot CPU per press" is this process's CPU time over the
run (the bot, and this script's light polling of the stand-in's log) per press.

Beyond one process: N real `irobot run --webhook-url` processes (the first registers the
webhook, the others `--no-set-webhook`, one IROBOT_WEBHOOK_SECRET) on one PostgreSQL schema,
behind nginx (an `upstream` of their ports, loopback only) when it is installed, else a
small round-robin proxy in this script. The driver offers more presses than they can take;
the figure is presses completed per second, from the first press to the last edit. Their
CPU is read from /proc.

Every run checks every press in the database afterwards: obligation closed, report recorded,
one audit row each (nothing lost or done twice), and one edit per press at the stand-in.

Run:  python benchmarks/press.py [--rate 50] [--accounts 200] [--presses 1000] [--pg URL]
      python benchmarks/press.py --curve [--seconds 4] [--pg URL]
      python benchmarks/press.py --processes 1 2 --pg URL [--presses 1500] [--rate 400]
Exit status 1 when a bar is missed or any press is lost or recorded twice.
`--profile FILE` writes a cProfile of the in-process bot. Figures: benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import logging
import multiprocessing
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, func, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select
from telegram import Bot

from bot.app import build_application
from bot.context import AppContext
from bot.settings import Settings
from handlers.sender import build_markup
from models import buttons as cb
from models.db import make_engine, upgrade
from models.tables import AuditEvent, Conference, Obligation, Plan, Staff
from models.vocabulary import Action
from scheduler.policy import Policy
from scheduler.sync import sync_obligations

mp = multiprocessing.get_context("spawn")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.auxil.botapi import ControlClient, spawn_process  # noqa: E402

TOKEN = "123456:PRESS"
SECRET = "press-benchmark-shared-webhook-secret"
P95_BAR_MS = 50.0
CPU_BAR_MS = 8.0
SCALING_BAR = 1.7
LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 10, 0, tzinfo=LONDON).astimezone(UTC)  # a working Tuesday
FIRST_USER = 500_000
CURVE_RATES = (10.0, 25.0, 50.0, 100.0)
WEBHOOK_CONNECTIONS = 8
MACHINE_AT_END: list[tuple[float, float]] = []  # the machine's CPU when the last edit came


@dataclass
class PressFigures:
    """One run: the latencies, the CPU, and whether every press was applied exactly once."""

    backend: str
    processes: int  # 0: the bot in this process (long polling); N: N webhook processes
    presses: int
    rate: float
    seconds: float  # from the first press to the last edit
    p50: float
    p95: float
    p99: float
    cpu_ms: float  # the bot's CPU per press (all its processes)
    lost: int
    doubled: int
    stand_in_ms: float = 0.0  # the Bot API stand-in's CPU per press
    machine_busy: float = 0.0  # share of all cores busy during the run (0-1)

    @property
    def throughput(self) -> float:
        """Presses completed per second."""
        return (self.presses - self.lost) / self.seconds if self.seconds else 0.0

    @property
    def clean(self) -> bool:
        """Nothing lost, nothing applied twice."""
        return self.lost == 0 and self.doubled == 0


@contextmanager
def fresh_engine(
    pg_url: str | None, start_from: Path | None = None
) -> Iterator[tuple[Engine, str]]:
    """A migrated database, empty or a copy of the SQLite file `start_from` (the scale
    benchmark's service), and the URL a process would use to reach that same one."""
    if pg_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/press.db"
            if start_from is not None:
                shutil.copyfile(start_from, f"{tmp}/press.db")
            engine = make_engine(url)
            upgrade(engine)
            try:
                yield engine, url
            finally:
                engine.dispose()
        return
    schema = f"press_{uuid.uuid4().hex[:12]}"
    admin = make_engine(pg_url, pooled=False)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(str(make_url(pg_url).render_as_string(hide_password=False)), schema=schema)
    url = str(
        make_url(pg_url)
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    try:
        upgrade(engine)
        yield engine, url
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def seed(engine: Engine, policy: Policy, accounts: int, per_account: int) -> None:
    """Linked social workers under 20 team managers, each with cases and an RCPC next week."""
    managers = max(1, accounts // 10)
    with Session(engine) as session:
        session.add(Staff(staff_id="SM", name="Service Manager", role="service_manager"))
        for m in range(managers):
            session.add(
                Staff(staff_id=f"TM{m}", name=f"Team Manager {m}", role="team_manager",
                      manager_id="SM")
            )  # fmt: skip
        session.add(Staff(staff_id="IRO", name="Chair", role="iro"))
        for n in range(accounts):
            uid = FIRST_USER + n
            session.add(
                Staff(staff_id=f"SW{n}", name=f"Worker {n}", role="social_worker",
                      manager_id=f"TM{n % managers}", telegram_user_id=uid, chat_id=uid)
            )  # fmt: skip
            for k in range(per_account):
                case = f"CR-{n}-{k}"
                session.add(Plan(case_ref=case, social_worker_id=f"SW{n}", chair_id="IRO",
                                 plan_start=date(2026, 6, 1)))  # fmt: skip
                session.add(
                    Conference(conference_id=f"{case}-C", case_ref=case, kind="RCPC",
                               scheduled_for=datetime(2026, 12, 9 + k % 3, 10, tzinfo=UTC),
                               chair_id="IRO")
                )  # fmt: skip
        session.flush()
        sync_obligations(session, policy, now=NOW)
        session.commit()


def targets(engine: Engine) -> list[tuple[int, int, str]]:
    """(telegram user, obligation id, case) for every open report, in a fixed random order."""
    with Session(engine) as session:
        rows = session.exec(
            select(Staff.telegram_user_id, Obligation.id, Obligation.case_ref)
            .join(Staff, col(Staff.staff_id) == col(Obligation.owner_id))
            .where(Obligation.kind == "rcpc_report")
            .where(col(Staff.telegram_user_id).between(FIRST_USER, FIRST_USER + 999_999))
        ).all()
    result = [(int(u or 0), int(i or 0), str(c)) for u, i, c in rows]
    random.Random(4).shuffle(result)
    return result


def drive(control_base: str, presses: list[tuple[int, int, str]], rate: float,
          out: Connection) -> None:
    """In its own process: inject presses at a steady rate, noting when each one left.

    The schedule starts once this process is up, so its own start-up never bunches presses.
    """
    api = ControlClient(control_base)
    started: dict[tuple[int, int], float] = {}
    begin = time.monotonic() + 0.2
    for i, (user, message_id, data) in enumerate(presses):
        pause = begin + i / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        started[(user, message_id)] = time.monotonic()
        api.user_presses(user, message_id, data)
    out.send(started)
    out.close()


async def reminders_on_phones(
    api: ControlClient, chosen: list[tuple[int, int, str]]
) -> list[tuple[int, int, str]]:
    """Each reminder on its phone first (not timed, past any limiter): (user, message, data)."""
    presses = []
    async with Bot(TOKEN, base_url=api.base_url) as unpaced:
        for user, item_id, case in chosen:
            data = cb.encode(Action.SUBMITTED, item_id, 0)
            sent = await unpaced.send_message(
                user, f"⏰ {case}: RCPC report due", reply_markup=build_markup([[("Submitted",
                                                                                data)]])
            )  # fmt: skip
            presses.append((user, sent.message_id, data))
    return presses


async def press_and_wait(
    api: ControlClient, presses: list[tuple[int, int, str]], rate: float, log_start: int,
    settle: float = 15.0,
) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float], int]:
    """People press from another process; (press starts, first edit times, edits seen).

    The stand-in's log holds when each edit arrived, so it is read only once the driver is
    done: nothing in this process competes with the bot while the presses come in.
    """
    receive, send = mp.Pipe(duplex=False)
    driver = mp.Process(target=drive, args=(api.base_url, presses, rate, send))
    driver.start()
    while not receive.poll():  # noqa: ASYNC110 - a pipe, not an asyncio primitive
        await asyncio.sleep(0.1)
    started: dict[tuple[int, int], float] = receive.recv()
    driver.join()
    edits: dict[tuple[int, int], float] = {}
    done: set[int] = set()  # log entries read once finished (an entry is logged on arrival)
    seen, since = 0, log_start

    def read() -> None:
        nonlocal seen, since
        calls = api.log(since)
        in_flight = [c["seq"] for c in calls if c["status"] == 0]
        for call in calls:
            if call["status"] == 0 or call["seq"] in done:
                continue
            done.add(call["seq"])
            if call["method"].lower() == "editmessagetext" and call["status"] == 200:
                params = call["params"]
                seen += 1
                edits.setdefault((int(params["chat_id"]), int(params["message_id"])),
                                 call["mono"])  # fmt: skip
        since = min(in_flight) if in_flight else since + len(calls)

    deadline = time.monotonic() + settle
    while True:
        read()
        if len(edits) >= len(presses) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.25)
    MACHINE_AT_END.append(machine_busy())  # before the wait for doubles: an idle half second
    await asyncio.sleep(0.5)  # a press applied twice would edit twice: look for late doubles
    read()
    failed = [(c["method"], c["status"]) for c in api.log(log_start)
              if c["status"] not in (0, 200)]  # fmt: skip
    if failed:
        logging.getLogger(__name__).warning("calls refused by the stand-in: %s", failed[:10])
    return started, edits, seen


def verify(engine: Engine) -> tuple[int, int]:
    """(reports closed, audit rows of submitted reports) in the database."""
    with Session(engine) as session:
        done = session.exec(
            select(func.count()).select_from(Obligation)
            .where(Obligation.kind == "rcpc_report").where(Obligation.status == "done")
        ).one()  # fmt: skip
        audited = session.exec(
            select(func.count()).select_from(AuditEvent)
            .where(AuditEvent.action == "report_submitted")
        ).one()  # fmt: skip
    return int(done), int(audited)


def figures(
    backend: str, processes: int, rate: float, presses: int,
    started: dict[tuple[int, int], float], edits: dict[tuple[int, int], float], seen: int,
    done: int, audited: int, cpu: float,
) -> PressFigures:
    """Latency percentiles, losses and doubles of one run."""
    latencies = sorted((edits[k] - started[k]) * 1000 for k in started if k in edits)
    if not latencies:
        latencies = [float("inf")]
    span = (max(edits.values()) - min(started.values())) if edits else 0.0
    lost = presses - min(len(edits), done, audited)
    if lost:
        logging.getLogger(__name__).warning(
            "%d presses, %d edited, %d closed, %d audited", presses, len(edits), done, audited)
        missing = [k for k in started if k not in edits][:5]
        logging.getLogger(__name__).warning("no edit seen for (chat, message) %s", missing)
    doubled = max(0, seen - len(edits)) + max(0, done - presses) + max(0, audited - presses)
    pick = lambda q: latencies[int(q * (len(latencies) - 1))]  # noqa: E731
    return PressFigures(backend, processes, presses, rate, span, statistics.median(latencies),
                        pick(0.95), pick(0.99), cpu * 1000 / presses, lost, doubled)  # fmt: skip


async def in_process(
    pg_url: str | None, rate: float, presses: int, accounts: int, profile: str | None = None,
    start_from: Path | None = None,
) -> PressFigures:
    """The PTB application in this process, long polling the stand-in; one rate."""
    policy = Policy()
    per_account = -(-presses // accounts)
    api = spawn_process(TOKEN, limits=False, cwd=ROOT)
    try:
        with fresh_engine(pg_url, start_from) as (engine, url):
            seed(engine, policy, accounts, per_account)
            chosen = targets(engine)[:presses]
            done_before, audited_before = verify(engine)  # a service's rows beside (scale.py)
            settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, IROBOT_DATABASE_URL=url,
                                IROBOT_TELEGRAM_API_URL=api.base_url)  # fmt: skip
            ctx = AppContext(settings=settings, policy=policy, engine=engine)
            app = build_application(ctx, clock=lambda: NOW)
            pressed = await reminders_on_phones(api, chosen)
            async with app:
                log_start = len(api.log())
                await app.start()
                assert app.updater is not None
                await app.updater.start_polling(poll_interval=0, timeout=10)
                profiler = cProfile.Profile(time.process_time) if profile else None
                cpu0 = time.process_time()
                if profiler:
                    profiler.enable()
                started, edits, seen = await press_and_wait(api, pressed, rate, log_start)
                cpu = time.process_time() - cpu0
                if profiler and profile:
                    profiler.disable()
                    profiler.dump_stats(profile)
                await app.updater.stop()
                await app.stop()
            done, audited = verify(engine)
            return figures(engine.dialect.name, 0, rate, len(pressed), started, edits, seen,
                           done - done_before, audited - audited_before, cpu)  # fmt: skip
    finally:
        api.close()


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine_busy() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks) - idle) / hz, sum(ticks) / hz


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def reverse_proxy(port: int, upstreams: list[int]) -> Iterator[str]:
    """nginx on loopback with an `upstream` of the bot ports, or this script's own proxy."""
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )
    if nginx is None:
        with python_proxy(port, upstreams):
            yield "a round-robin proxy in the benchmark"
        return
    with tempfile.TemporaryDirectory() as tmp:
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in upstreams)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(f"""
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    upstream irobot {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://irobot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Telegram-Bot-Api-Secret-Token $http_x_telegram_bot_api_secret_token;
        }}
    }}
}}
""")
        proc = subprocess.Popen([nginx, "-p", tmp, "-c", str(conf), "-g", "daemon off;"],
                                stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            wait_for_port(port)
            yield f"nginx ({nginx})"
        finally:
            proc.terminate()
            proc.wait(10)


@contextmanager
def python_proxy(port: int, upstreams: list[int]) -> Iterator[None]:
    """A tiny HTTP/1.1 round-robin proxy (one request per connection) in a child process."""
    proc = mp.Process(target=_serve_proxy, args=(port, upstreams), daemon=True)
    proc.start()
    try:
        wait_for_port(port)
        yield
    finally:
        proc.terminate()
        proc.join(5)


def _serve_proxy(port: int, upstreams: list[int]) -> None:
    """Forward each request whole to the next upstream in turn and relay its answer."""
    turn = iter(range(10**12))

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(Exception):
            head = await reader.readuntil(b"\r\n\r\n")
            length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
            body = await reader.readexactly(length)
            up_port = upstreams[next(turn) % len(upstreams)]
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", up_port)
            lines = [line for line in head.split(b"\r\n")
                     if not line.lower().startswith(b"connection:")]  # fmt: skip
            up_writer.write(b"\r\n".join(lines[:-2]) + b"\r\nConnection: close\r\n\r\n" + body)
            await up_writer.drain()
            writer.write(await up_reader.read())
            await writer.drain()
            up_writer.close()
        writer.close()

    async def serve() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    """Until something accepts connections on the loopback port."""
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"nothing listens on port {port}")
        time.sleep(0.1)


def start_bots(
    n: int, env: dict[str, str], hook: str, cwd: Path, *, register: bool
) -> list[tuple[subprocess.Popen[str], int]]:
    """`irobot run --webhook-url` processes; with `register`, the first sets the webhook."""
    bots = []
    for i in range(n):
        port = free_port()
        extra = [] if register and i == 0 else ["--no-set-webhook"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "run", "--webhook-url", hook, "--port", str(port),
             "--listen", "127.0.0.1", *extra],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, text=True,
            stderr=(cwd / f"bot-{port}.log").open("w"),
        )  # fmt: skip
        bots.append((proc, port))
    return bots


async def behind_proxy(
    pg_url: str, processes: int, presses: int, rate: float, accounts: int
) -> tuple[PressFigures, str]:
    """N webhook processes on one PostgreSQL schema behind one proxy; offered `rate`/s."""
    policy = Policy()
    per_account = -(-presses // accounts)
    # Telegram POSTs to a webhook over up to `max_connections` (PTB asks for 40) at once.
    api = spawn_process(TOKEN, limits=False, cwd=ROOT, webhook_connections=WEBHOOK_CONNECTIONS)
    bots: list[tuple[subprocess.Popen[str], int]] = []
    try:
        with fresh_engine(pg_url) as (engine, url), tempfile.TemporaryDirectory() as tmp:
            seed(engine, policy, accounts, per_account)
            chosen = targets(engine)[:presses]
            pressed = await reminders_on_phones(api, chosen)
            proxy_port = free_port()
            hook = f"http://127.0.0.1:{proxy_port}/telegram/hook"
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("IROBOT_", "TELEGRAM_"))}  # fmt: skip
            env |= {"IROBOT_DATABASE_URL": url, "IROBOT_TELEGRAM_API_URL": api.base_url,
                    "TELEGRAM_BOT_TOKEN": TOKEN, "IROBOT_WEBHOOK_SECRET": SECRET,
                    "PYTHONPATH": str(ROOT)}  # fmt: skip
            policy_file = Path(tmp) / "policy.toml"  # the jobs may run: nothing is due anyway
            policy_file.write_text("", encoding="utf-8")
            env["IROBOT_POLICY"] = str(policy_file)
            upstreams = []
            for proc, port in start_bots(1, env, hook, Path(tmp), register=True):
                bots.append((proc, port))
                upstreams.append(port)
            wait_for_port(upstreams[0])
            api.wait_until(lambda: api.stats() and _webhook_set(api), timeout=30)
            for proc, port in start_bots(processes - 1, env, hook, Path(tmp), register=False):
                bots.append((proc, port))
                upstreams.append(port)
            for port in upstreams:
                wait_for_port(port)
            with reverse_proxy(proxy_port, upstreams) as proxy:
                await asyncio.sleep(1.0)  # the processes' first scan/digest passes settle
                log_start = len(api.log())
                assert api.process is not None
                cpu0 = sum(cpu_seconds(p.pid) for p, _ in bots)
                api0, (busy0, total0) = cpu_seconds(api.process.pid), machine_busy()
                started, edits, seen = await press_and_wait(api, pressed, rate, log_start)
                cpu = sum(cpu_seconds(p.pid) for p, _ in bots) - cpu0
                api_cpu = cpu_seconds(api.process.pid) - api0
                busy1, total1 = MACHINE_AT_END.pop()
            done, audited = verify(engine)
            result = figures("postgresql", processes, rate, len(pressed), started, edits, seen,
                             done, audited, cpu)  # fmt: skip
            result.stand_in_ms = api_cpu * 1000 / len(pressed)
            report_errors(Path(tmp))
            result.machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else 0.0
            return result, proxy
    finally:
        for proc, _ in bots:
            proc.send_signal(signal.SIGTERM)
        for proc, _ in bots:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        api.close()


def report_errors(folder: Path) -> None:
    """Log the first errors each bot process logged, if any."""
    for log in folder.glob("bot-*.log"):
        errors = [line for line in log.read_text().splitlines() if "ERROR" in line]
        if errors:
            logging.getLogger(__name__).warning("%s: %s", log.name, errors[:3])


def _webhook_set(api: ControlClient) -> bool:
    """Whether the registering process has called setWebhook yet."""
    return any(c["method"].lower() == "setwebhook" and c["status"] == 200 for c in api.log())


def describe(f: PressFigures) -> str:
    """One line per run."""
    where = "in process" if f.processes == 0 else f"{f.processes} webhook process(es)"
    return (f"{f.backend} {where}: {f.presses} presses at {f.rate:g}/s offered, "
            f"{f.throughput:.1f}/s done; latency ms p50 {f.p50:.1f}, p95 {f.p95:.1f}, "
            f"p99 {f.p99:.1f}; bot CPU {f.cpu_ms:.1f} ms/press; lost {f.lost}, "
            f"doubled {f.doubled}" + (f"; stand-in CPU {f.stand_in_ms:.1f} ms/press, machine "
            f"{f.machine_busy:.0%} busy" if f.processes else ""))  # fmt: skip


def curve(pg_url: str | None, seconds: float = 4.0, accounts: int = 200,
          rates: tuple[float, ...] = CURVE_RATES) -> list[PressFigures]:  # fmt: skip
    """One run per rate, each `seconds` long, each on a fresh database."""
    return [asyncio.run(in_process(pg_url, rate, int(rate * seconds), accounts)) for rate in rates]


def scaling(
    pg_url: str, processes: tuple[int, ...] = (1, 2), presses: int = 1500, rate: float = 400.0,
    accounts: int = 200,
) -> tuple[list[PressFigures], str]:
    """Throughput of 1 and 2 webhook processes, offered more than they can take."""
    runs, proxy = [], ""
    for n in processes:
        figures_n, proxy = asyncio.run(behind_proxy(pg_url, n, presses, rate, accounts))
        runs.append(figures_n)
    return runs, proxy


def main() -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=None, help="presses offered per second")
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--presses", type=int, default=None)
    parser.add_argument("--pg", help="PostgreSQL URL (default: a temporary SQLite file)")
    parser.add_argument("--curve", action="store_true", help="10, 25, 50 and 100 presses/s")
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each curve run")
    parser.add_argument("--processes", type=int, nargs="+", help="webhook processes (--pg)")
    parser.add_argument("--profile", help="write a cProfile of the bot process to this file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.processes:
        if not args.pg:
            parser.error("--processes needs --pg: several processes share one PostgreSQL")
        runs, proxy = scaling(args.pg, tuple(args.processes), args.presses or 1500,
                              args.rate or 400.0, args.accounts)  # fmt: skip
        print(f"behind {proxy}:")
        for f in runs:
            print("  " + describe(f))
        ratio = runs[-1].throughput / runs[0].throughput
        ok = all(f.clean for f in runs) and (len(runs) < 2 or ratio >= SCALING_BAR)
        print(f"  {runs[-1].processes} vs {runs[0].processes} process(es): {ratio:.2f}x "
              f"({'met' if ok else 'MISSED'}: >= {SCALING_BAR:g}x, nothing lost or doubled)")
        return 0 if ok else 1
    if args.curve:
        runs = curve(args.pg, args.seconds, args.accounts)
    else:
        runs = [asyncio.run(in_process(args.pg, args.rate or 50.0, args.presses or 1000,
                                       args.accounts, args.profile))]  # fmt: skip
    ok = True
    for f in runs:
        print(describe(f))
        if f.rate <= 50:
            ok = ok and f.p95 < P95_BAR_MS and f.cpu_ms <= CPU_BAR_MS and f.clean
    print("PASS" if ok else f"FAIL (bars up to 50/s: p95 < {P95_BAR_MS:g} ms, "
          f"<= {CPU_BAR_MS:g} ms CPU per press, nothing lost or doubled)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
