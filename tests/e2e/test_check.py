"""`irobot check`, invite links that name the bot, and a go-live preview that shows managers
their digests before they link: against the Bot API stand-in and a real database."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import text

from bot.cli import main
from bot.commands.check import Report, check_first_morning, first_morning
from bot.commands.invite import qr_text
from bot.commands.tick import format_preview, preview
from bot.context import AppContext
from models.db import HEAD_REVISION, make_engine, upgrade
from tests.auxil.botapi import BotApiStandIn
from tests.auxil.chat import TOKEN, seed_case, seed_org
from tests.auxil.records import london
from tests.conftest import Database

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def api() -> Iterator[BotApiStandIn]:
    """The stand-in on its own thread: `check` runs its own event loop."""
    with BotApiStandIn.threaded(token=TOKEN, limits=False) as stand_in:
        yield stand_in


@pytest.fixture
def env(database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The CLI on the test database, in a folder without a `.env`, no token yet."""
    monkeypatch.chdir(tmp_path)
    for name in ("TELEGRAM_BOT_TOKEN", "IROBOT_TELEGRAM_API_URL", "IROBOT_POLICY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IROBOT_DATABASE_URL", database.url)
    return monkeypatch


@pytest.fixture
def ready(ctx: AppContext, env: pytest.MonkeyPatch, api: BotApiStandIn) -> AppContext:
    """Everyone linked, one open plan, the token and Bot API set: a service ready to go."""
    with ctx.session() as session:
        seed_org(session)
        seed_case(session, ctx)
    env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    env.setenv("IROBOT_TELEGRAM_API_URL", api.base_url)
    return ctx


def check(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    """Exit status and the lines printed (stdout and stderr together, as a terminal shows)."""
    code = main(["check", *argv])
    out, err = capsys.readouterr()
    return code, out.splitlines() + err.splitlines()


def line(lines: list[str], item: str) -> str:
    """The one line about `item`."""
    [found] = [text for text in lines if text[5:].startswith(f"{item}:")]
    return found


# --------------------------------------------------------------------------- the check


def test_a_ready_service_gets_ok_on_every_line_and_exit_status_0(
    ready: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = check(capsys)

    assert code == 0, lines
    assert [text[:4] for text in lines] == ["ok  "] * len(lines)
    assert [text[5:].split(":")[0] for text in lines] == [
        "settings", "policy", "database", "records", "token", "updates", "linked",
        "first morning",
    ]  # fmt: skip
    assert "the bot is @irobot_test_bot" in line(lines, "token")
    assert "schema at revision" in line(lines, "database")


def test_a_missing_token_fails_saying_where_to_set_it(
    ctx: AppContext, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "token") == (
        "FAIL token: TELEGRAM_BOT_TOKEN is not set: set TELEGRAM_BOT_TOKEN in the environment "
        "or in .env"
    )


def test_a_token_telegram_refuses_fails_saying_to_copy_it_again_from_botfather(
    ready: AppContext, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("TELEGRAM_BOT_TOKEN", "999999:WRONG")

    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "token").startswith("FAIL token: Telegram refused TELEGRAM_BOT_TOKEN: "
                                           "copy it again from BotFather")  # fmt: skip


def test_an_unreachable_bot_api_fails_saying_to_allow_outbound_https(
    ready: AppContext, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("IROBOT_TELEGRAM_API_URL", "http://127.0.0.1:9/bot")

    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "token").startswith("FAIL token: cannot reach the Telegram Bot API at "
                                           "http://127.0.0.1:9/bot")  # fmt: skip
    assert line(lines, "token").endswith("allow outbound HTTPS from this server (proxy, firewall)")


def test_a_database_behind_this_version_fails_saying_back_up_then_upgrade(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(old, "0002")
    with old.begin() as conn:
        conn.execute(text("INSERT INTO staff (staff_id, name, role, team, active, reachable) "
                          "VALUES ('SW1', 'Sam', 'social_worker', 'North', 1, 1)"))  # fmt: skip
    old.dispose()
    env.setenv("IROBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'old.db'}")

    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "database").startswith(
        "FAIL database: the database schema is at revision 0002, this version needs "
        f"{HEAD_REVISION}: back up, then run `irobot db upgrade`"
    )


def test_a_missing_sqlite_file_fails_and_is_not_created_by_the_check(
    env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env.setenv("IROBOT_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")

    code, lines = check(capsys)

    assert code == 1
    assert "run `irobot db upgrade` to create it" in line(lines, "database")
    assert not (tmp_path / "none.db").exists()


def test_a_broken_policy_fails_naming_the_key_and_the_file_to_fix(
    ready: AppContext, env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('closure_days = ["29/12/2026"]\n', encoding="utf-8")
    env.setenv("IROBOT_POLICY", str(policy))

    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "policy").startswith(
        "FAIL policy: invalid policy: closure_days.0: '29/12/2026' is not a date: write dates "
        "as YYYY-MM-DD"
    )


def test_no_staff_fails_saying_import_staff_first(
    ctx: AppContext, env: pytest.MonkeyPatch, api: BotApiStandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    env.setenv("IROBOT_TELEGRAM_API_URL", api.base_url)

    code, lines = check(capsys)

    assert code == 1
    assert line(lines, "records").startswith("FAIL records: no active staff: import staff first")


def test_staff_not_linked_yet_are_a_warning_naming_them_and_the_invite_command(
    ctx: AppContext, env: pytest.MonkeyPatch, api: BotApiStandIn,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    with ctx.session() as session:
        seed_org(session, linked=[s for s in ("AD1", "HOS1", "SM1", "TM1", "SW1", "SW2", "TM2",
                                                "SW3", "SGM1") if s != "SW2"])  # fmt: skip
        seed_case(session, ctx)
    env.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    env.setenv("IROBOT_TELEGRAM_API_URL", api.base_url)

    code, lines = check(capsys)

    assert code == 0
    assert line(lines, "linked") == (
        "warn linked: 3 of 11 active staff not linked yet (IRO1 Iris Rowe, IRO2 Ivan Reid, "
        "SW2 Sean Walsh): `irobot invite STAFF_ID` for each; their reminders wait"
    )


def test_the_first_morning_is_the_next_working_days_digest_time() -> None:
    from bot.settings import Settings
    from scheduler.policy import Policy

    fake = AppContext(settings=Settings(), policy=Policy(), engine=None)  # type: ignore[arg-type]
    assert first_morning(fake, london(2026, 12, 4, 7)) == london(2026, 12, 4, 8, 30)  # Fri
    assert first_morning(fake, london(2026, 12, 4, 9)) == london(2026, 12, 7, 8, 30)  # -> Mon
    assert first_morning(fake, london(2026, 12, 24, 9)) == london(2026, 12, 29, 8, 30)  # Xmas


def test_the_first_morning_counts_reminders_and_unlinked_managers_digests(
    ctx: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.session() as session:
        seed_org(session, linked=["SW1", "IRO1"])
        seed_case(session, ctx)  # RCPC Wed 9 Dec 10am: report due Fri 4 Dec, 6pm

    check_first_morning(Report(), ctx, now=london(2026, 12, 7, 7))  # Mon 7 Dec, before 08:30

    [text] = capsys.readouterr().out.splitlines()
    assert text.startswith("ok   first morning: Mon 7 Dec 2026, 08:30: ")
    assert "of them to people not linked yet" in text
    assert text.endswith("`irobot tick --dry-run --at 2026-12-07T08:30` shows each")


# --------------------------------------------------------------------------- webhook


class _Answer(BaseHTTPRequestHandler):
    """Answers every POST with the server's chosen status (a proxy, or a running bot)."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads the check's lines, not an access log."""


@pytest.fixture
def webhook() -> Iterator[ThreadingHTTPServer]:
    """A local HTTP server at /irobot/ whose answer the test sets."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.status = 403  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (403, "ok   webhook: {url} reaches the bot"),
        (502, "FAIL webhook: {url} answers 502 from the proxy: start `irobot run --webhook-url"),
        (404, "FAIL webhook: {url} answers 404: the proxy's location"),
        (200, "FAIL webhook: {url} accepted an update without the secret token"),
    ],
)
def test_a_webhook_url_is_probed_and_each_fault_says_what_to_do(
    ready: AppContext, webhook: ThreadingHTTPServer, capsys: pytest.CaptureFixture[str],
    status: int, expected: str,
) -> None:  # fmt: skip
    webhook.status = status  # type: ignore[attr-defined]
    url = f"http://127.0.0.1:{webhook.server_address[1]}/irobot/"

    code, lines = check(capsys, "--webhook-url", url)

    webhook_lines = [text for text in lines if text[5:].startswith("webhook:")]
    assert webhook_lines[0].startswith("warn webhook: ") and "not HTTPS" in webhook_lines[0]
    assert webhook_lines[1].startswith(expected.format(url=url))
    assert code == (0 if status == 403 else 1)


def test_an_unreachable_webhook_url_fails(
    ready: AppContext, capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = check(capsys, "--webhook-url", "https://127.0.0.1:9/irobot/")

    assert code == 1
    assert line(lines, "webhook").startswith("FAIL webhook: cannot reach https://127.0.0.1:9/")


def test_polling_with_a_webhook_still_set_at_telegram_is_a_warning(
    ready: AppContext, api: BotApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    api.webhook = {"url": "https://old.example.gov.uk/hook"}

    code, lines = check(capsys)

    assert code == 0
    assert line(lines, "webhook").startswith(
        "warn webhook: Telegram has a webhook set (https://old.example.gov.uk/hook)"
    )


# --------------------------------------------------------------------------- invite links


def test_an_invite_names_the_bot_from_getme_and_remembers_it_for_the_next(
    ready: AppContext, api: BotApiStandIn, env: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    assert main(["invite", "SW1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"They open https://t.me/irobot_test_bot?start={out[-1]} " in out[1]
    assert len(api.calls("getMe")) == 1

    env.setenv("IROBOT_TELEGRAM_API_URL", "http://127.0.0.1:9/bot")  # Telegram out of reach
    assert main(["invite", "SW2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"https://t.me/irobot_test_bot?start={out[-1]}" in out[1]


def test_an_invite_with_qr_prints_the_real_link_as_a_code_a_phone_can_scan(
    ready: AppContext, api: BotApiStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["invite", "SW1", "--qr"]) == 0
    out = capsys.readouterr().out.splitlines()
    link = f"https://t.me/irobot_test_bot?start={out[-1]}"
    assert link in out[1]
    code = qr_text(link).splitlines()
    assert out[2 : 2 + len(code)] == code  # the very matrix of this link, in block characters
    assert "█" in code[0] and len(code) > 15
    assert qr_text(link) != qr_text(link + "X")


def test_an_invite_without_a_token_says_how_to_build_the_link(
    ctx: AppContext, env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with ctx.session() as session:
        seed_org(session, linked=[])

    assert main(["invite", "SW1"]) == 0

    out = capsys.readouterr().out.splitlines()
    assert f"https://t.me/<your_bot>?start={out[-1]}" in out[1]
    assert out[2] == (
        "Put your bot's username (from BotFather) in place of <your_bot>; with "
        "TELEGRAM_BOT_TOKEN set, irobot fills it in itself."
    )


# --------------------------------------------------------------------------- tick --dry-run


def people(shown: str) -> dict[str, str]:
    """A preview's blocks by their heading line (a person; messages are indented)."""
    blocks: dict[str, str] = {}
    heading = ""
    for row in shown.splitlines()[1:]:
        if row and not row.startswith(" "):
            heading = row
        if heading:
            blocks[heading] = f"{blocks.get(heading, '')}{row}\n"
    return blocks


def test_a_dry_run_shows_unlinked_managers_the_digest_they_will_get(ctx: AppContext) -> None:
    with ctx.session() as session:
        seed_org(session, linked=["SW1", "SM1"])
        seed_case(session, ctx)  # report due Fri 4 Dec, 6pm: overdue on Monday

    shown = people(format_preview(preview(ctx, at=london(2026, 12, 7, 9)), ctx.calendar))

    tara = shown["Tara Morgan (team manager) - not linked to Telegram: held until they link"]
    assert "Digest for Tara Morgan, Mon 7 Dec" in tara
    assert "RCPC reports overdue: 1" in tara
    assert "(not linked yet: the digest starts once they link)" in tara
    assert any(name.startswith("Dana Adeyemi (assistant director)") for name in shown)
    sam = shown["Sam Mistry (service manager)"]  # linked: the real digest, once, no mark
    assert sam.count("Digest for Sam Mistry") == 1 and "not linked yet" not in sam

