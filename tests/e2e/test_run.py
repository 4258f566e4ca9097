"""`irobot run` as a real process: polling or webhook, jobs in-process, clean stop on SIGTERM."""

from __future__ import annotations

import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.app import build_application, set_commands
from bot.commands import run as run_command
from bot.context import AppContext, CommandError
from models.buttons import Message
from scheduler.notify import enqueue
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.chat import TOKEN, USERS, seed_org
from tests.conftest import Database

SW1 = USERS["SW1"]


def env_for(database: Database, api_url: str, token: str = TOKEN) -> dict[str, str]:
    """The process environment a local authority would set, pointed at the test systems."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IROBOT_", "TELEGRAM_"))}
    env.update(
        IROBOT_DATABASE_URL=database.url,
        IROBOT_TELEGRAM_API_URL=api_url,
        TELEGRAM_BOT_TOKEN=token,
    )
    return env


@pytest.fixture
def api() -> Iterator[BotApiStandIn]:
    """The stand-in on its own thread, so the bot process can reach it over HTTP."""
    with BotApiStandIn.threaded(token=TOKEN, limits=False) as stand_in:
        yield stand_in


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    """Everyone linked; no cases needed to talk to the bot."""
    with ctx.session() as session:
        seed_org(session)
    return ctx


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """`irobot run ...` in a fresh process (cwd without a stray .env)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(process: subprocess.Popen[str]) -> tuple[int, float]:
    """SIGTERM, then how it exited and how long it took."""
    began = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return code, time.monotonic() - began


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_run_polls_answers_sends_due_messages_and_stops_on_sigterm(
    api: BotApiStandIn, seeded: AppContext, database: Database, tmp_path: Path
) -> None:
    with seeded.session() as session:
        enqueue(
            session, key="test:due-now", recipient_id="SW1", kind="info",
            message=Message("ℹ️ a message already due"), at=seeded_now(), cal=seeded.calendar,
            hours=seeded.hours, quiet_hours=False,
        )  # fmt: skip
    policy = tmp_path / "policy.toml"
    policy.write_text('[delivery]\nworking_hours = "always"\n', encoding="utf-8")
    env = env_for(database, api.base_url) | {"IROBOT_POLICY": str(policy)}
    process = start([], env, tmp_path)
    try:
        api.user_sends(SW1, "/help")
        api.wait_until(
            lambda: any("Sally Webb" in (m.text or "") for m in api.messages(SW1)), timeout=20
        )
        # The scheduler's dispatch job runs in the same process and delivers the outbox.
        api.wait_until(
            lambda: any(m.text == "ℹ️ a message already due" for m in api.messages(SW1)),
            timeout=20,
        )
        assert [c.status for c in api.calls("setMyCommands")] == [200]
        assert [c["command"] for c in api.commands] == ["mine", "help", "alert", "team", "cover",
                                                    "start"]
    finally:
        code, took = stop(process)
    assert code == 0 and took < 10
    assert "Traceback" not in (process.stderr.read() if process.stderr else "")


def seeded_now() -> datetime:
    """The real clock: the running bot's jobs read it too."""
    return datetime.now(UTC)


async def test_a_failing_command_menu_is_logged_not_fatal(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_application(ctx)  # ctx points at http://127.0.0.1:1/bot: nothing listens
    await set_commands(app)
    assert any("setMyCommands failed" in r.getMessage() for r in caplog.records)


def test_run_serves_a_webhook_with_a_secret_token(
    api: BotApiStandIn, seeded: AppContext, database: Database, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/telegram/hook"
    process = start(
        ["--webhook-url", url, "--port", str(port), "--listen", "127.0.0.1"],
        env_for(database, api.base_url),
        tmp_path,
    )
    try:
        hook = api.wait_until(lambda: api.webhook.get("url"), timeout=20)
        assert hook == url
        secret = api.webhook.get("secret_token")
        assert secret and len(secret) >= 32
        # Telegram's POST carries the secret: answered.
        api.user_sends(SW1, "/help")
        api.wait_until(
            lambda: any("Sally Webb" in (m.text or "") for m in api.messages(SW1)), timeout=20
        )
        # Anyone else's POST to the same URL is turned away.
        forged = httpx.post(url, json={"update_id": 999, "message": {}}, timeout=5)
        assert forged.status_code == 403
    finally:
        code, _ = stop(process)
    assert code == 0


def test_run_without_a_token_fails_with_one_line(database: Database, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env_for(database, "http://127.0.0.1:1/bot", token=""),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "irobot: TELEGRAM_BOT_TOKEN is not set: the bot needs its token to run; "
        "set TELEGRAM_BOT_TOKEN in the environment or in .env"
    ]


def test_run_with_an_unreachable_bot_api_fails_with_one_line(
    database: Database, tmp_path: Path
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        env=env_for(database, "http://127.0.0.1:9/bot"),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("irobot: cannot reach the Telegram Bot API at http://127.0.0.1:9/bot")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "8443"], "--port is only used with --webhook-url"),
        (["--webhook-url", "https://example.org/hook"], "--webhook-url needs --port"),
        (["--webhook-url", "not a url", "--port", "8443"], "--webhook-url must be an http(s) URL"),
        (["--webhook-url", "https://example.org/hook", "--port", "0"], "--port must be between"),
    ],
)
def test_run_refuses_half_a_webhook_configuration(
    ctx: AppContext, args: list[str], message: str
) -> None:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    with pytest.raises(CommandError, match=re.escape(message)):
        run_command.run(parser.parse_args(args), ctx)
