"""The bot token never reaches a log line: unit tests of the filter, then real processes."""

from __future__ import annotations

import io
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.context import AppContext
from bot.logs import REDACTED, RedactSecrets, configure_logging
from models.buttons import Message
from scheduler.notify import enqueue
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.chat import USERS, seed_org
from tests.conftest import Database
from tests.e2e.test_run import env_for, free_port, stop

# Shaped like a real token (bot id, colon, 35 characters) and found nowhere else.
TOKEN = "6123456789:AAH-redactMe_q7Zx9Lk2Vb8Nc4Tf6Yp1Ws3"
ENCODED = "6123456789%3AAAH-redactMe_q7Zx9Lk2Vb8Nc4Tf6Yp1Ws3"
URL = f"https://api.telegram.org/bot{TOKEN}/getUpdates"
SW1 = USERS["SW1"]


def emit(secrets: list[str], msg: str, *args: object, exc: BaseException | None = None) -> str:
    """What a handler carrying the filter writes for one log call."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    # A logger outside the hierarchy: pytest (9.2+) attaches its capture handler to every
    # registered non-propagating logger, and that handler fails the test on a bad format.
    log = logging.Logger("tests.logs")
    log.addHandler(handler)
    try:
        if exc is not None:
            try:
                raise exc
            except BaseException:
                log.exception(msg, *args)
        else:
            log.warning(msg, *args)
    finally:
        log.removeHandler(handler)
    return stream.getvalue()


def test_the_token_in_a_message_is_replaced() -> None:
    out = emit([TOKEN], f"HTTP Request: POST {URL}")
    assert TOKEN not in out
    assert f"POST https://api.telegram.org/bot{REDACTED}/getUpdates" in out


def test_the_token_inside_an_argument_is_replaced_whatever_its_type() -> None:
    out = emit([TOKEN], 'HTTP Request: %s %s "%s"', "POST", httpx.URL(URL), "HTTP/1.1 200 OK")
    assert TOKEN not in out
    assert f"bot{REDACTED}/getUpdates" in out and "HTTP/1.1 200 OK" in out


def test_the_token_in_an_exception_traceback_is_replaced() -> None:
    out = emit([TOKEN], "request to %s failed", "getMe", exc=RuntimeError(f"cannot open {URL}"))
    assert TOKEN not in out
    assert "Traceback (most recent call last)" in out
    assert f"RuntimeError: cannot open https://api.telegram.org/bot{REDACTED}/getUpdates" in out


def test_the_url_encoded_token_is_replaced_in_upper_and_lower_case() -> None:
    out = emit([TOKEN], "redirect to %s and %s", ENCODED, ENCODED.replace("%3A", "%3a"))
    assert ENCODED not in out and ENCODED.replace("%3A", "%3a") not in out
    assert out.count(REDACTED) == 2


def test_the_token_in_a_stack_dump_is_replaced() -> None:
    record = logging.LogRecord("httpx", logging.DEBUG, __file__, 1, "here", None, None)
    record.stack_info = f'Stack (most recent call last):\n  get("{URL}")'
    assert RedactSecrets([TOKEN]).filter(record) is True
    assert record.stack_info == f'Stack (most recent call last):\n  get("{URL}")'.replace(
        TOKEN, REDACTED
    )


def test_a_line_without_a_secret_is_written_unchanged() -> None:
    out = emit([TOKEN], "sent %d of %d to %s", 3, 4, "chat 42")
    assert out == "WARNING tests.logs: sent 3 of 4 to chat 42\n"


def test_arguments_that_do_not_fit_the_message_are_still_redacted_not_dumped() -> None:
    out = emit([TOKEN], "two %s %s", URL)
    assert TOKEN not in out and REDACTED in out


def test_no_secrets_means_no_change_and_empty_secrets_are_ignored() -> None:
    assert "a:b" in emit([], "a:b") and "a:b" in emit([""], "a:b")


@pytest.fixture
def root_handlers() -> Iterator[list[logging.Handler]]:
    """Two handlers on the root logger, restored afterwards, as a process would have."""
    root = logging.getLogger()
    saved, saved_level = root.handlers[:], root.level
    ours: list[logging.Handler] = [logging.StreamHandler(io.StringIO()) for _ in range(2)]
    root.handlers = list(ours)
    try:
        yield ours
    finally:
        root.handlers, root.level = saved, saved_level


def test_configure_logging_puts_one_redactor_on_every_root_handler(
    root_handlers: list[logging.Handler],
) -> None:
    configure_logging(verbose=True, secrets=["old-token"])
    configure_logging(verbose=True, secrets=[TOKEN])
    logging.getLogger("httpx").warning("HTTP Request: POST %s", URL)
    for handler in root_handlers:
        assert [type(f) for f in handler.filters] == [RedactSecrets]
        assert isinstance(handler, logging.StreamHandler)
        written = handler.stream.getvalue()
        assert REDACTED in written and TOKEN not in written


# ---------------------------------------------------------------- real processes


@pytest.fixture
def api() -> Iterator[BotApiStandIn]:
    """The stand-in on its own thread, answering only to this test's token."""
    with BotApiStandIn.threaded(token=TOKEN, limits=False) as stand_in:
        yield stand_in


@pytest.fixture
def seeded(ctx: AppContext, tmp_path: Path) -> Path:
    """Everyone linked, one message already due; returns a policy that sends at any hour."""
    with ctx.session() as session:
        seed_org(session)
        enqueue(
            session, key="test:due-now", recipient_id="SW1", kind="info",
            message=Message("ℹ️ a message already due"), at=datetime.now(UTC),
            cal=ctx.calendar, hours=ctx.hours, quiet_hours=False,
        )  # fmt: skip
    policy = tmp_path / "policy.toml"
    policy.write_text('[delivery]\nworking_hours = "always"\n', encoding="utf-8")
    return policy


def test_a_verbose_bot_run_logs_hundreds_of_requests_and_never_the_token(
    api: BotApiStandIn, seeded: Path, database: Database, tmp_path: Path
) -> None:
    env = env_for(database, api.base_url, token=TOKEN) | {"IROBOT_POLICY": str(seeded)}
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out_path.open("w") as out, err_path.open("w") as err:  # files: a pipe could fill up
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "-v", "run"],
            env=env, cwd=tmp_path, stdout=out, stderr=err, text=True,
        )  # fmt: skip
        try:
            api.user_sends(SW1, "/help")
            api.wait_until(
                lambda: any("Sally Webb" in (m.text or "") for m in api.messages(SW1)), timeout=20
            )
            api.wait_until(
                lambda: any(m.text == "ℹ️ a message already due" for m in api.messages(SW1)),
                timeout=20,
            )
        finally:
            stop(process)
    output = out_path.read_text() + err_path.read_text()
    assert len(output.splitlines()) > 20
    assert " DEBUG " in output and "getUpdates" in output
    assert f"/bot{REDACTED}/getUpdates" in output  # httpx logged the URL, redacted
    assert TOKEN not in output and ENCODED not in output
    assert TOKEN.split(":", 1)[1] not in output  # not even the secret half on its own


def test_a_verbose_webhook_run_logs_neither_the_token_nor_the_webhook_secret(
    api: BotApiStandIn, seeded: Path, database: Database, tmp_path: Path
) -> None:
    env = env_for(database, api.base_url, token=TOKEN) | {"IROBOT_POLICY": str(seeded)}
    port = free_port()
    out_path, err_path = tmp_path / "stdout.log", tmp_path / "stderr.log"
    with out_path.open("w") as out, err_path.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "-v", "run", "--webhook-url",
             f"http://127.0.0.1:{port}/hook", "--port", str(port), "--listen", "127.0.0.1"],
            env=env, cwd=tmp_path, stdout=out, stderr=err, text=True,
        )  # fmt: skip
        try:
            secret = api.wait_until(lambda: api.webhook.get("secret_token"), timeout=20)
            api.user_sends(SW1, "/help")
            api.wait_until(
                lambda: any("Sally Webb" in (m.text or "") for m in api.messages(SW1)), timeout=20
            )
        finally:
            stop(process)
    output = out_path.read_text() + err_path.read_text()
    assert " DEBUG " in output and "setWebhook" in output
    assert TOKEN not in output and ENCODED not in output
    assert str(secret) not in output


def test_the_scheduler_process_logs_without_the_token_and_still_delivers(
    api: BotApiStandIn, seeded: Path, database: Database, tmp_path: Path
) -> None:
    env = env_for(database, api.base_url, token=TOKEN) | {"IROBOT_POLICY": str(seeded)}
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-v", "worker", "--once"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "sent 1, held 0, failed 0" in result.stdout
    assert [m.text for m in api.messages(SW1)] == ["ℹ️ a message already due"]
    assert f"/bot{REDACTED}/sendMessage" in output
    assert TOKEN not in output and ENCODED not in output


def test_a_bad_setting_is_still_one_line_on_stderr_though_settings_now_load_first(
    database: Database, tmp_path: Path
) -> None:
    env = env_for(database, "http://127.0.0.1:9/bot", token=TOKEN)
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "-v", "run"],
        env=env | {"IROBOT_DISPATCH_INTERVAL_SECONDS": "often"},
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert line == "irobot: IROBOT_DISPATCH_INTERVAL_SECONDS: not a number"
