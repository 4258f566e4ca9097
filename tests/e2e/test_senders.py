"""TelegramSender over real HTTP: buttons and photos arrive, each failure maps to its case.

The same sender replies, edits and answers taps for the chat handlers, through the bot's one
rate limiter (`handlers.ratelimit.RateLimiter`), which every bot `build_bot` makes carries.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from telegram import Bot
from telegram.error import NetworkError, TelegramError, TimedOut
from telegram.request import HTTPXRequest

from bot.settings import Settings
from handlers.ratelimit import RateLimiter
from handlers.sender import TelegramSender, build_bot, translate
from models.buttons import Message
from scheduler.pacing import Pacing
from scheduler.senders import (
    SendBadRequest,
    SendError,
    SendForbidden,
    SendRetryAfter,
    SendTransient,
    SendUnauthorized,
    SendUnknown,
)
from tests.auxil.botapi import BotApiStandIn

TOKEN = "123456:TEST"
# PTB 22 warns about retry_after's future type from inside its own RetryAfter constructor.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
BUTTONS = [[("Submitted", "sub:1:0:"), ("Will be late", "late:1:0:")], [("Need help", "help:1:0:")]]


@pytest.fixture
async def api() -> AsyncIterator[BotApiStandIn]:
    """The stand-in with Telegram's flood limits on."""
    async with BotApiStandIn(token=TOKEN) as server:
        yield server


def settings_for(api: BotApiStandIn, token: str = TOKEN) -> Settings:
    """Settings as production reads them, pointed at the stand-in."""
    return Settings(TELEGRAM_BOT_TOKEN=token, IROBOT_TELEGRAM_API_URL=api.base_url)


@pytest.fixture
async def sender(api: BotApiStandIn) -> AsyncIterator[TelegramSender]:
    """The production sender built from settings."""
    telegram = TelegramSender(build_bot(**settings_for(api).telegram()))
    yield telegram
    await telegram.close()


async def test_a_message_arrives_with_its_buttons_and_returns_telegrams_id(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    message_id = await sender.send(42, "RCPC report for CP-1 due Mon 7 Dec, 6pm", BUTTONS)

    [arrived] = api.messages(42)
    assert arrived.message_id == message_id
    assert arrived.text == "RCPC report for CP-1 due Mon 7 Dec, 6pm"
    assert arrived.buttons == BUTTONS


async def test_a_message_without_buttons_has_no_keyboard(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    await sender.send(42, "plain", None)

    assert api.messages(42)[0].buttons == []


async def test_a_photo_goes_through_send_photo_with_the_text_as_caption(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    await sender.send(42, "This week's chart", None, photo=b"\x89PNG\r\n\x1a\nchart")

    [arrived] = api.messages(42)
    assert arrived.photo and arrived.caption == "This week's chart"
    assert [c.method for c in api.calls() if c.chat_id == 42] == ["sendPhoto"]


async def test_a_person_who_blocked_the_bot_raises_forbidden(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    api.block(42)

    with pytest.raises(SendForbidden):
        await sender.send(42, "hello", None)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_server_error_is_transient(
    api: BotApiStandIn, sender: TelegramSender, status: int
) -> None:
    api.fail_next(1, status)

    with pytest.raises(SendTransient):
        await sender.send(42, "hello", None)
    assert api.messages(42) == []


async def test_a_bad_request_is_not_retried_as_transient(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    api.fail_next(1, 400, "Bad Request: can't parse entities: unexpected end tag")

    with pytest.raises(SendBadRequest, match=r"(?i)can't parse entities"):
        await sender.send(42, "hello", None)


@pytest.mark.parametrize(
    "answer",
    [
        "Bad Request: chat not found",
        "Bad Request: user not found",
        "Bad Request: PEER_ID_INVALID",
        "Bad Request: have no rights to send a message",
        "Bad Request: not enough rights to send text messages to the chat",
        "Forbidden: user is deactivated",
        "Forbidden: bot was kicked from the group chat",
    ],
)
async def test_every_answer_that_the_person_cannot_be_reached_raises_forbidden(
    api: BotApiStandIn, sender: TelegramSender, answer: str
) -> None:
    api.fail_next(1, 400 if answer.startswith("Bad") else 403, answer)

    with pytest.raises(SendForbidden):
        await sender.send(42, "hello", None)


async def test_a_reply_slower_than_the_timeout_is_unknown_and_the_message_did_arrive(
    api: BotApiStandIn,
) -> None:
    impatient = TelegramSender(build_bot(**settings_for(api).telegram(), timeout=0.3))
    api.delay(1.0)
    try:
        with pytest.raises(SendUnknown):
            await impatient.send(42, "hello", None)
    finally:
        await impatient.close()

    assert [m.text for m in api.messages(42)] == ["hello"]


async def test_an_unreadable_reply_is_unknown_and_the_message_did_arrive(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    api.garble_next(1)

    with pytest.raises(SendUnknown):
        await sender.send(42, "hello", None)
    assert [m.text for m in api.messages(42)] == ["hello"]


async def test_waiting_for_a_free_connection_too_long_is_transient_and_nothing_went(
    api: BotApiStandIn,
) -> None:
    request = HTTPXRequest(connection_pool_size=1, read_timeout=5, pool_timeout=0.2)
    one_line = TelegramSender(Bot(TOKEN, base_url=api.base_url, request=request))
    api.delay(1.0)
    try:
        first, second = await asyncio.gather(
            one_line.send(42, "first", None), one_line.send(43, "second", None),
            return_exceptions=True,
        )  # fmt: skip
    finally:
        await one_line.close()

    assert isinstance(first, int) and isinstance(second, SendTransient)
    assert api.messages(43) == []


def caused(exc: Exception, cause: BaseException) -> Exception:
    """`exc` raised from `cause`, as PTB raises its errors from httpx's."""
    exc.__cause__ = cause
    return exc


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (caused(TimedOut(), httpx.ReadTimeout("read")), SendUnknown),
        (TimedOut(), SendUnknown),
        (caused(TimedOut(), httpx.ConnectTimeout("connect")), SendTransient),
        (caused(TimedOut("Pool timeout"), httpx.PoolTimeout("pool")), SendTransient),
        (caused(TimedOut(), httpx.WriteTimeout("write")), SendTransient),
        (caused(NetworkError("httpx.ConnectError"), httpx.ConnectError("refused")), SendTransient),
        (caused(NetworkError("httpx.ReadError"), httpx.ReadError("reset")), SendUnknown),
        (
            caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("eof")),
            SendUnknown,
        ),
        (NetworkError("Bad Gateway"), SendTransient),
        (caused(NetworkError("Internal Server Error"), TelegramError("bad json")), SendTransient),
        (caused(NetworkError("Unknown error in HTTP implementation"), OSError()), SendUnknown),
        (TelegramError("Invalid server response"), SendUnknown),
        (KeyError("message_id"), SendUnknown),
        (SendTransient("kept"), SendTransient),
    ],
)
def test_what_ptb_raised_maps_on_whether_the_message_may_have_gone(
    raised: Exception, expected: type[SendError]
) -> None:
    assert type(translate(raised)) is expected


async def test_flood_control_raises_retry_after_with_the_servers_seconds(
    api: BotApiStandIn,
) -> None:
    greedy = RateLimiter(Pacing.unpaced())  # nothing paces: provoke Telegram's 429
    sender = TelegramSender(build_bot(**settings_for(api).telegram(), rate_limiter=greedy))
    try:
        with pytest.raises(SendRetryAfter) as caught:
            for _ in range(api.chat_burst + 1):
                await sender.send(42, "burst", None)
    finally:
        await sender.close()

    assert caught.value.seconds >= 1
    assert len(api.messages(42)) == api.chat_burst
    assert greedy.pacing.paused_until > greedy.pacing.now()  # and the whole bot waits


def paced(api: BotApiStandIn) -> tuple[TelegramSender, Pacing]:
    """The production sender whose bot's limiter runs on a simulated clock, and that pacing."""
    pacing = Pacing.virtual()
    bot = build_bot(**settings_for(api).telegram(), rate_limiter=RateLimiter(pacing))
    return TelegramSender(bot), pacing


def test_every_bot_build_bot_makes_passes_the_one_rate_limiter(api: BotApiStandIn) -> None:
    sender = TelegramSender(build_bot(**settings_for(api).telegram()))

    assert isinstance(sender.pacing, Pacing) and sender.pacing.per_second == 28


async def test_a_reply_is_edited_and_a_tap_answered_through_the_same_sender(
    api: BotApiStandIn, sender: TelegramSender
) -> None:
    message_id = await sender.reply(42, Message("Due Friday", [[("Submitted", "sub:1:0:")]]))
    query = api.user_presses(42, message_id, "sub:1:0:")

    await sender.edit(42, message_id, Message("Submitted, thank you"))
    await sender.answer(query, "Recorded.")

    [arrived] = api.messages(42)
    assert (arrived.text, arrived.buttons, arrived.edit_count) == ("Submitted, thank you", [], 1)
    assert api.callback_answers[query].text == "Recorded."
    with pytest.raises(SendBadRequest, match="not modified"):
        await sender.edit(42, message_id, Message("Submitted, thank you"))


async def test_replies_use_the_chats_burst_and_an_outbox_message_then_waits_its_turn(
    api: BotApiStandIn,
) -> None:
    api.set_limits(False)
    sender, pacing = paced(api)
    try:
        for n in range(3):
            await sender.reply(42, Message(f"reply {n}"))
        burst_took = pacing.now()
        await sender.send(42, "reminder", None)
    finally:
        await sender.close()

    assert burst_took < 0.1  # three replies at once (only the overall spacing between them)
    assert pacing.now() >= 3.1  # the reminder waited for the whole burst, plus its margin
    assert [m.text for m in api.messages(42)] == ["reply 0", "reply 1", "reply 2", "reminder"]


async def test_a_flood_wait_on_a_reply_is_waited_out_but_an_outbox_message_hands_it_back(
    api: BotApiStandIn,
) -> None:
    sender, pacing = paced(api)
    api.fail_next(1, 429)
    try:
        await sender.reply(42, Message("reply"))
        waited = pacing.now()
        api.fail_next(1, 429)
        with pytest.raises(SendRetryAfter):
            await sender.send(43, "reminder", None)
    finally:
        await sender.close()

    assert waited >= 1.0  # "retry after 1", on the simulated clock
    assert [m.text for m in api.messages(42)] == ["reply"] and api.messages(43) == []
    assert pacing.paused_until > pacing.now()  # the outbox's 429 still pauses the whole bot


async def test_a_wrong_token_is_unauthorized_not_a_message_failure(api: BotApiStandIn) -> None:
    wrong = TelegramSender(build_bot(**settings_for(api, token="999:WRONG").telegram()))
    try:
        with pytest.raises(SendUnauthorized):
            await wrong.send(42, "hello", None)
    finally:
        await wrong.close()


async def test_an_unreachable_server_is_transient() -> None:
    settings = Settings(TELEGRAM_BOT_TOKEN=TOKEN, IROBOT_TELEGRAM_API_URL="http://127.0.0.1:1/bot")
    down = TelegramSender(build_bot(**settings.telegram(), timeout=2))
    try:
        with pytest.raises(SendTransient):
            await down.send(42, "hello", None)
    finally:
        await down.close()


def test_building_a_bot_without_a_token_says_so() -> None:
    with pytest.raises(ValueError, match="TELEGRAM_BOT_TOKEN"):
        build_bot(token=None, api_url="http://127.0.0.1:1/bot")
