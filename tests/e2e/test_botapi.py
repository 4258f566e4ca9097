"""The Bot API stand-in behaves like Telegram for an unmodified python-telegram-bot."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from tests.auxil.botapi import BotApiStandIn, spawn_process

TOKEN = "123456:TEST"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Submitted", callback_data="sub:1:0:"),
      InlineKeyboardButton("Will be late", callback_data="late:1:0:")]]
)


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """A stand-in with Telegram's limits on."""
    async with BotApiStandIn(token=TOKEN) as server:
        yield server


@pytest.fixture
async def bot(api: BotApiStandIn) -> AsyncIterator[Bot]:
    """A plain PTB Bot pointed at the stand-in."""
    request = HTTPXRequest(connection_pool_size=50, pool_timeout=5)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as b:
        yield b


def _seconds(err: RetryAfter) -> float:
    """retry_after in seconds, whether PTB gives an int or (opted in) a timedelta."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = err.retry_after
    return value if isinstance(value, int | float) else value.total_seconds()


def _app(api: BotApiStandIn) -> Application[Any, Any, Any, Any, Any, Any]:
    """An unmodified PTB application, as production builds it, with short timeouts."""
    return (
        Application.builder()
        .token(TOKEN)
        .base_url(api.base_url)
        .get_updates_read_timeout(3)
        .build()
    )


async def test_getme_returns_the_bot_user_named_by_the_token(bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == 123456
    assert me.is_bot


async def test_a_wrong_token_is_refused_as_unauthorized(api: BotApiStandIn) -> None:
    from telegram.error import InvalidToken

    other = Bot("999:WRONG", base_url=api.base_url)
    with pytest.raises(InvalidToken):
        await other.initialize()
    await other.shutdown()


async def test_long_polling_receives_a_message_injected_while_waiting(
    api: BotApiStandIn, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    api.user_sends(42, "hello", first_name="Sam")
    updates = await asyncio.wait_for(poll, 2)
    assert [u.message.text for u in updates if u.message] == ["hello"]
    assert updates[0].message is not None and updates[0].message.chat.id == 42


async def test_an_empty_long_poll_returns_nothing_after_its_timeout(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await bot.get_updates(timeout=1) == ()
    assert loop.time() - start >= 0.9


async def test_confirming_with_offset_drops_the_update(api: BotApiStandIn, bot: Bot) -> None:
    api.user_sends(42, "one")
    first = await bot.get_updates(timeout=0)
    again = await bot.get_updates(timeout=0)
    assert [u.update_id for u in first] == [u.update_id for u in again] == [1]
    assert await bot.get_updates(offset=first[-1].update_id + 1, timeout=0) == ()
    assert api.pending_updates() == []


async def test_limit_caps_how_many_updates_one_call_returns(api: BotApiStandIn, bot: Bot) -> None:
    for i in range(5):
        api.user_sends(42, f"m{i}")
    assert len(await bot.get_updates(limit=2, timeout=0)) == 2


async def test_updates_of_types_the_bot_did_not_allow_are_dropped(
    api: BotApiStandIn, bot: Bot
) -> None:
    sent = await bot.send_message(42, "pick", reply_markup=KEYBOARD)
    api.user_presses(42, sent.message_id, "sub:1:0:")
    api.user_sends(42, "text")
    updates = await bot.get_updates(timeout=0, allowed_updates=["message"])
    assert [u.message.text for u in updates if u.message] == ["text"]
    assert all(u.callback_query is None for u in updates)


async def test_a_command_carries_a_bot_command_entity(api: BotApiStandIn, bot: Bot) -> None:
    api.user_sends(42, "/start ABC123")
    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None
    assert update.message.text == "/start ABC123"
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")


async def test_message_ids_increase_per_chat_across_user_and_bot(
    api: BotApiStandIn, bot: Bot
) -> None:
    api.user_sends(7, "hi")
    a = await bot.send_message(7, "one")
    b = await bot.send_message(8, "other chat")
    c = await bot.send_message(7, "two")
    assert (a.message_id, c.message_id) == (2, 3)
    assert b.message_id == 1
    assert a.from_user is not None and a.from_user.id == 123456
    assert a.chat.type == "private"


async def test_the_transcript_shows_text_buttons_and_edits(api: BotApiStandIn, bot: Bot) -> None:
    sent = await bot.send_message(42, "Report due Mon 7 Dec, 6pm", reply_markup=KEYBOARD)
    await bot.edit_message_text("Submitted, thank you", chat_id=42, message_id=sent.message_id)
    (msg,) = api.messages(42)
    assert msg.text == "Submitted, thank you"
    assert msg.edited and msg.buttons == []
    assert msg.history == ["Report due Mon 7 Dec, 6pm", "Submitted, thank you"]


async def test_an_empty_keyboard_is_no_keyboard_and_text_is_trimmed(
    api: BotApiStandIn, bot: Bot
) -> None:
    sent = await bot.send_message(42, "  Report due  \n", reply_markup=InlineKeyboardMarkup([]))
    assert sent.text == "Report due" and sent.reply_markup is None
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_reply_markup(42, sent.message_id,
                                            reply_markup=InlineKeyboardMarkup([]))


async def test_the_transcript_reads_like_the_chat(api: BotApiStandIn, bot: Bot) -> None:
    api.user_sends(42, "/mine")
    await bot.send_message(42, "CP-1 report due Mon 7 Dec, 6pm", reply_markup=KEYBOARD)
    assert api.transcript(42) == (
        "#1 user: /mine\n"
        "#2 bot: CP-1 report due Mon 7 Dec, 6pm\n"
        "    [Submitted] | [Will be late]"
    )


async def test_a_reply_to_a_bot_message_carries_the_original(
    api: BotApiStandIn, bot: Bot
) -> None:
    sent = await bot.send_message(42, "RCPC report due", reply_markup=KEYBOARD)
    api.user_sends(42, "done", reply_to=sent.message_id)
    (update,) = await bot.get_updates(timeout=0)
    assert update.message is not None and update.message.reply_to_message is not None
    assert update.message.reply_to_message.message_id == sent.message_id
    assert update.message.reply_to_message.reply_markup == KEYBOARD


async def test_editing_to_identical_content_is_a_not_modified_bad_request(bot: Bot) -> None:
    sent = await bot.send_message(42, "same", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("same", chat_id=42, message_id=sent.message_id,
                                    reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=42, message_id=999)


async def test_a_blocked_person_gives_forbidden(api: BotApiStandIn, bot: Bot) -> None:
    api.block(42)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(42, "reminder")
    assert api.stats.rejected_403 == 1
    assert api.messages(42) == []


async def test_too_fast_to_one_chat_gives_retry_after(api: BotApiStandIn, bot: Bot) -> None:
    api.chat_rate = 0.2  # one token per 5 s, so a slow machine cannot refill mid-test
    for i in range(api.chat_burst):
        await bot.send_message(42, f"m{i}")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "one too many")
    assert 1 <= _seconds(caught.value) <= 5
    assert isinstance(api.calls("sendMessage")[-1].retry_after, int)
    assert api.stats.rejected_429 == 1
    assert api.stats.by_chat[42].rejected_429 == 1
    assert api.stats.by_chat[42].sent == api.chat_burst
    assert (api.stats.by_chat[42].min_gap or 0) < 1.0


async def test_one_message_a_second_to_a_chat_is_never_refused(api: BotApiStandIn) -> None:
    api.chat_burst = 1
    api.chat_rate = 20.0  # scaled: one message per 50 ms stands for one per second
    async with Bot(TOKEN, base_url=api.base_url) as bot:
        for i in range(5):
            await bot.send_message(42, f"m{i}")
            await asyncio.sleep(0.06)
    assert api.stats.rejected_429 == 0 and api.stats.sent == 5


async def test_waiting_the_retry_after_it_gave_is_enough(api: BotApiStandIn, bot: Bot) -> None:
    api.chat_burst = 1
    await bot.send_message(42, "first")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "too soon")
    await asyncio.sleep(_seconds(caught.value))
    assert await bot.send_message(42, "after waiting")


async def test_a_burst_of_forty_to_distinct_chats_hits_the_global_limit(
    api: BotApiStandIn, bot: Bot
) -> None:
    results = await asyncio.gather(
        *(bot.send_message(1000 + i, "hello") for i in range(40)), return_exceptions=True
    )
    rejected = [r for r in results if isinstance(r, RetryAfter)]
    assert rejected and all(_seconds(r) >= 1 for r in rejected)
    assert api.stats.sent + api.stats.rejected_429 == 40
    assert api.stats.rejected_429 == len(rejected)
    assert api.stats.peak_per_second <= 30


async def test_limits_can_be_turned_off_for_conversation_tests() -> None:
    async with BotApiStandIn(token=TOKEN, limits=False) as api, Bot(
        TOKEN, base_url=api.base_url, request=HTTPXRequest(connection_pool_size=50)
    ) as bot:
        await asyncio.gather(*(bot.send_message(42, f"m{i}") for i in range(40)))
        assert api.stats.sent == 40 and api.stats.rejected_429 == 0


async def test_injected_failures_hit_the_next_sends_and_change_nothing(
    api: BotApiStandIn, bot: Bot
) -> None:
    api.fail_next(2, status=502)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(42, "x")
    assert api.messages(42) == []
    await bot.send_message(42, "x")
    assert [c.status for c in api.calls("sendMessage")] == [502, 502, 200]


async def test_an_injected_429_carries_a_retry_after(api: BotApiStandIn, bot: Bot) -> None:
    api.fail_next(1, status=429)
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(42, "x")
    assert _seconds(caught.value) == 1
    assert api.messages(42) == []


async def test_failures_can_be_aimed_at_edits(api: BotApiStandIn, bot: Bot) -> None:
    sent = await bot.send_message(42, "before")
    api.fail_next(1, status=500, methods=["editMessageText"])
    await bot.send_message(42, "sends are unaffected")
    with pytest.raises(NetworkError):
        await bot.edit_message_text("after", chat_id=42, message_id=sent.message_id)
    await bot.edit_message_text("after", chat_id=42, message_id=sent.message_id)
    assert api.messages(42)[0].text == "after"


async def test_broken_html_is_refused_like_telegram_does(bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await bot.send_message(42, "<b>unclosed", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)parse entities"):
        await bot.send_message(42, "Smith & Jones", parse_mode="HTML")
    assert await bot.send_message(42, "<b>RCPC</b> &amp; ok", parse_mode="HTML")


async def test_unescaped_markdown_v2_is_refused_and_escaped_text_passes(bot: Bot) -> None:
    from telegram.helpers import escape_markdown

    with pytest.raises(BadRequest, match=r"(?i)reserved and must be escaped"):
        await bot.send_message(42, "Report for CP-1 due 7.12", parse_mode="MarkdownV2")
    text = "*" + escape_markdown("CP-1 (RCPC) due Mon 7 Dec, 6pm.", version=2) + "*"
    assert await bot.send_message(42, text, parse_mode="MarkdownV2")


async def test_oversized_callback_data_is_refused(bot: Bot) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="y" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(42, "too long", reply_markup=markup)


async def test_a_callback_query_can_be_answered_once_and_not_too_late(
    api: BotApiStandIn, bot: Bot
) -> None:
    sent = await bot.send_message(42, "pick", reply_markup=KEYBOARD)
    first = api.user_presses(42, sent.message_id, "sub:1:0:")
    assert await bot.answer_callback_query(first, text="ok")
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(first)
    api.callback_ttl = 0.0
    late = api.user_presses(42, sent.message_id, "forged")
    await asyncio.sleep(0.01)
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(late)
    assert api.callback_answers[first].text == "ok"


async def test_a_second_poller_terminates_the_first_with_conflict(
    api: BotApiStandIn, bot: Bot
) -> None:
    from telegram.error import Conflict

    first = asyncio.create_task(bot.get_updates(timeout=5))
    await api.wait_for(lambda: api.calls("getUpdates"))
    async with Bot(TOKEN, base_url=api.base_url) as other:
        assert await other.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)


async def test_a_webhook_receives_updates_with_its_secret(api: BotApiStandIn) -> None:
    app = _app(api)
    seen: list[str] = []

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None and update.message.text is not None
        seen.append(update.message.text)

    app.add_handler(MessageHandler(filters.TEXT, echo))
    port = _free_port()
    async with app:
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path="tg", secret_token="s3cret",
            webhook_url=f"http://127.0.0.1:{port}/tg",
        )
        await app.start()
        try:
            assert api.webhook["secret_token"] == "s3cret"
            api.user_sends(42, "via webhook")
            await api.wait_for(lambda: seen, timeout=5)
        finally:
            await app.updater.stop()
            await app.stop()
    assert seen == ["via webhook"]


async def test_a_webhook_that_is_down_gets_the_update_once_it_is_up(
    api: BotApiStandIn, bot: Bot
) -> None:
    from aiohttp import web
    from telegram.error import Conflict

    port = _free_port()
    await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="tok")
    sent = api.user_sends(42, "while down")
    await api.wait_for(lambda: api.webhook.get("last_error_message"))
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1 and info.last_error_message
    with pytest.raises(Conflict):
        await bot.get_updates(timeout=0)

    received: list[tuple[dict[str, Any], str | None]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((await request.json(),
                         request.headers.get("X-Telegram-Bot-Api-Secret-Token")))
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await api.wait_for(lambda: received, timeout=5)
        await api.wait_for(lambda: not api.pending_updates())
    finally:
        await runner.cleanup()
    assert received == [(sent, "tok")]


def _free_port() -> int:
    """An unused local port for PTB's webhook server."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_threaded_stand_in_serves_code_that_runs_its_own_loop() -> None:
    with BotApiStandIn.threaded(token=TOKEN) as api:

        async def tick() -> int:
            async with Bot(TOKEN, base_url=api.base_url) as bot:
                return (await bot.send_message(42, "from asyncio.run")).message_id

        assert asyncio.run(tick()) == 1
        api.user_sends(42, "reply", reply_to=1)
        assert api.pending_updates()[0]["message"]["reply_to_message"]["message_id"] == 1
        assert api.wait_until(lambda: api.pending_updates())
        assert api.last_message(42) is not None


async def test_a_restarted_stand_in_keeps_its_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    async with BotApiStandIn(token=TOKEN, state_file=state) as api, Bot(
        TOKEN, base_url=api.base_url
    ) as bot:
        await bot.send_message(42, "first")
        api.user_sends(42, "unconfirmed")
    async with BotApiStandIn(token=TOKEN, state_file=state) as again, Bot(
        TOKEN, base_url=again.base_url
    ) as bot:
        (update,) = await bot.get_updates(timeout=0)
        assert update.message is not None and update.message.text == "unconfirmed"
        assert (await bot.send_message(42, "second")).message_id == 3
        assert [m.text for m in again.messages(42)] == ["first", "second"]
        assert again.user_sends(42, "next")["update_id"] == update.update_id + 1


async def test_a_slow_server_makes_the_client_time_out_but_still_delivers(
    api: BotApiStandIn,
) -> None:
    api.delay(0.5, methods=["sendMessage"])
    from telegram.error import TimedOut

    request = HTTPXRequest(read_timeout=0.1)
    async with Bot(TOKEN, base_url=api.base_url, request=request) as slow:
        with pytest.raises(TimedOut):
            await slow.send_message(42, "in flight")
    await api.wait_for(lambda: api.messages(42))


async def test_a_photo_upload_is_recorded(api: BotApiStandIn, bot: Bot) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    sent = await bot.send_photo(42, png, caption="Weekly chart")
    assert sent.photo and sent.caption == "Weekly chart"
    await bot.send_document(42, b"a,b\n1,2\n", filename="figures.csv")
    photo, document = api.messages(42)
    assert photo.photo and photo.photo_size == len(png)
    assert document.document and not document.photo
    assert api.transcript(42) == "#1 bot: [photo] Weekly chart\n#2 bot: [document]"


async def test_commands_and_webhook_housekeeping_work(api: BotApiStandIn, bot: Bot) -> None:
    await bot.set_my_commands([("mine", "My open items"), ("help", "What I can do")])
    assert [c.command for c in await bot.get_my_commands()] == ["mine", "help"]
    assert await bot.delete_webhook()
    assert (await bot.get_webhook_info()).url == ""
    assert await bot.send_chat_action(42, "typing")
    sent = await bot.send_message(42, "bye")
    assert await bot.delete_message(42, sent.message_id)
    assert api.messages(42)[0].deleted


async def test_an_unknown_method_is_a_404_that_names_the_stand_in(bot: Bot) -> None:
    from telegram.error import EndPointNotFound, InvalidToken

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    with pytest.raises(InvalidToken, match="not implemented by the stand-in"):
        await bot.get_chat_administrators(42)


async def test_update_timestamps_measure_the_bots_reaction_time(
    api: BotApiStandIn, bot: Bot
) -> None:
    update = api.user_sends(42, "hi")
    (got,) = await bot.get_updates(timeout=0)
    reply = await bot.send_message(42, "hello")
    sent_at = api.calls("sendMessage")[-1].mono
    assert api.injected_at[got.update_id] <= api.delivered_at[update["update_id"]] <= sent_at
    assert api.calls("sendMessage")[-1].message_id == reply.message_id


async def test_an_unmodified_application_handles_a_command_and_a_button_press(
    api: BotApiStandIn,
) -> None:
    api.set_limits(False)
    pressed: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_chat is not None
        await context.bot.send_message(update.effective_chat.id, f"args={context.args}",
                                       reply_markup=KEYBOARD)

    async def press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None and query.data is not None
        pressed.append(query.data)
        await query.answer("Noted")
        await query.edit_message_text("Submitted")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        await update.message.reply_text("echo", do_quote=True)

    app = _app(api)
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(press))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=1)
        await app.start()
        try:
            api.user_sends(42, "/start CODE1")
            msg = await api.wait_for(lambda: api.last_message(42))
            assert msg.text == "args=['CODE1']"
            assert msg.buttons == [[("Submitted", "sub:1:0:"), ("Will be late", "late:1:0:")]]
            qid = api.user_presses(42, msg.message_id, "sub:1:0:")
            answer = await api.wait_for(lambda: api.callback_answers.get(qid))
            assert answer.text == "Noted"
            await api.wait_for(lambda: msg.edited)
            assert msg.text == "Submitted" and msg.buttons == []
            api.user_sends(42, "hi")
            reply = await api.wait_for(
                lambda: [m for m in api.messages(42) if m.text == "echo"])
            assert reply[0].reply_to is not None
        finally:
            await app.updater.stop()
            await app.stop()
    assert pressed == ["sub:1:0:"]
    assert api.pending_updates() == []


def test_the_stand_in_runs_as_a_separate_process(tmp_path: Path) -> None:
    import httpx

    state = tmp_path / "state.json"
    client = spawn_process(TOKEN, state_file=state)
    try:
        update = client.user_sends(42, "/start CODE")
        base = client.base_url + TOKEN
        got = httpx.post(f"{base}/getUpdates", json={"timeout": 0}).json()
        assert got["result"][0]["update_id"] == update["update_id"]
        sent = httpx.post(f"{base}/sendMessage", data={"chat_id": "42", "text": "hi"}).json()
        assert sent["ok"] and sent["result"]["message_id"] == 2
        assert [m["text"] for m in client.messages(42)] == ["hi"]
        assert [c["method"] for c in client.log()] == ["getUpdates", "sendMessage"]
        client.block(43)
        blocked = httpx.post(f"{base}/sendMessage", json={"chat_id": 43, "text": "x"})
        assert blocked.status_code == 403 and blocked.json()["error_code"] == 403
        client.fail_next(1, status=503)
        assert httpx.post(f"{base}/sendMessage", json={"chat_id": 42, "text": "y"}).status_code \
            == 503
        qid = client.user_presses(42, 2, "sub:1:0:")
        assert client.pending_updates()[-1]["callback_query"]["id"] == qid
        assert client.stats()["rejected_403"] == 1
    finally:
        client.close()
    assert '"hi"' in state.read_text()
