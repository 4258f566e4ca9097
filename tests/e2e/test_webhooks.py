"""Several `irobot run --webhook-url` processes behind one URL: one registers, all answer."""

from __future__ import annotations

import argparse
import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.commands import run as run_command
from bot.context import AppContext, CommandError
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.chat import TOKEN, seed_org
from tests.conftest import Database
from tests.e2e.test_run import SW1, env_for, free_port, start, stop

SECRET = "shared-secret-for-every-webhook-process-0123456789"


@pytest.fixture
def api() -> Iterator[BotApiStandIn]:
    """The stand-in on its own thread, so the bot processes can reach it over HTTP."""
    with BotApiStandIn.threaded(token=TOKEN, limits=False) as stand_in:
        yield stand_in


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    """Everyone linked; no cases needed to talk to the bot."""
    with ctx.session() as session:
        seed_org(session)
    return ctx


def wait_for_server(url: str, timeout: float = 20) -> int:
    """Until something answers at `url` (an unsigned POST: 403 from a webhook server)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.post(url, json={"update_id": 1}, timeout=2).status_code
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_a_second_process_serves_the_webhook_without_registering_it(
    api: BotApiStandIn, seeded: AppContext, database: Database, tmp_path: Path
) -> None:
    serving, registering = free_port(), free_port()
    url = f"http://127.0.0.1:{serving}/telegram/hook"  # what Telegram posts to
    env = env_for(database, api.base_url) | {"IROBOT_WEBHOOK_SECRET": SECRET}
    quiet = start(
        ["--webhook-url", url, "--port", str(serving), "--listen", "127.0.0.1",
         "--no-set-webhook"],
        env, tmp_path,
    )  # fmt: skip
    loud = None
    try:
        assert wait_for_server(url) == 403  # up, and refusing what lacks the secret
        assert api.calls("setWebhook") == []
        # The registering process listens elsewhere; Telegram posts to the URL it registers.
        loud = start(
            ["--webhook-url", url, "--port", str(registering), "--listen", "127.0.0.1"],
            env, tmp_path,
        )  # fmt: skip
        assert api.wait_until(lambda: api.webhook.get("url"), timeout=20) == url
        assert api.webhook.get("secret_token") == SECRET
        api.user_sends(SW1, "/help")
        api.wait_until(
            lambda: any("Sally Webb" in (m.text or "") for m in api.messages(SW1)), timeout=20
        )
        assert [c.status for c in api.calls("setWebhook")] == [200]
    finally:
        codes = [stop(process)[0] for process in (quiet, loud) if process is not None]
    assert codes == [0, 0]


def test_serving_without_registering_needs_the_shared_secret(ctx: AppContext) -> None:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    args = parser.parse_args(
        ["--webhook-url", "https://example.org/hook", "--port", "8444", "--no-set-webhook"]
    )
    needs = re.escape("--no-set-webhook needs IROBOT_WEBHOOK_SECRET")
    with pytest.raises(CommandError, match=needs):
        run_command.run(args, ctx)


def test_serving_without_registering_is_only_for_a_webhook(ctx: AppContext) -> None:
    parser = argparse.ArgumentParser()
    run_command.add_arguments(parser)
    shared = dataclasses.replace(ctx, settings=ctx.settings.model_copy(
        update={"webhook_secret": SECRET}))  # fmt: skip
    with pytest.raises(CommandError, match="only used with --webhook-url"):
        run_command.run(parser.parse_args(["--no-set-webhook"]), shared)
