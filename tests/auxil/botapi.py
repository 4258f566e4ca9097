"""A local Telegram Bot API stand-in over real HTTP, for end-to-end tests and benchmarks.

Why: the conversation, the dispatcher and the crash tests must talk to an *unmodified*
python-telegram-bot over real HTTP, against a server that behaves like Telegram where it
matters (long polling with offsets, per-chat and global flood limits, 400/403/429/5xx with
the right HTTP status), while a test injects what people type and reads what they saw.

In-process use (pytest-asyncio; the server runs in the test's event loop)::

    async with BotApiStandIn(token="123456:TEST") as api:
        app = Application.builder().token("123456:TEST").base_url(api.base_url).build()
        update = api.user_sends(42, "/start CODE")          # queued for getUpdates
        msg = await api.wait_for(lambda: api.last_message(42))
        qid = api.user_presses(42, msg.message_id, "sub:1:0:")
        await api.wait_for(lambda: qid in api.callback_answers)
        print(api.transcript(42))                           # the chat as a person sees it

``api.base_url`` is ``http://127.0.0.1:PORT/bot`` (IROBOT_TELEGRAM_API_URL); PTB appends the
token, so requests arrive at ``/bot<TOKEN>/<method>`` (method names case-insensitive).
Parameters are accepted as JSON, as a url-encoded form or as multipart (PTB sends forms whose
non-string values are JSON-encoded).  A wrong token gets 401, an unknown method 404.

Code that runs its own event loop (e.g. ``bot.cli.main(["tick"])`` calling ``asyncio.run``)
can use ``with BotApiStandIn.threaded(token=...) as api:``: the server runs in a background
thread and every control method is marshalled onto it (block with ``api.wait_until``; the
async ``api.wait_for`` also works from another loop).

As a separate process (for tests that SIGKILL a real ``irobot run``/``irobot tick``), from
the repository root::

    python -m tests.auxil.botapi --port 0 --token 123456:TEST [--state-file F] [--no-limits]

prints ``READY http://127.0.0.1:PORT/bot`` on stdout once listening and stops on SIGTERM.
``spawn_process(token, state_file=..., limits=...)`` does this and returns a synchronous
``ControlClient`` (a context manager; ``close()`` ends the process).  The HTTP control
endpoints (JSON in and out; also served by the in-process stand-in):

    POST /_control/user_sends     {"user_id", "text", "reply_to"?, "first_name"?} -> update
    POST /_control/user_presses   {"user_id", "message_id", "data"} -> {"callback_query_id"}
    GET  /_control/messages?chat_id=N[&include_user=1] -> [BotMessage fields, ...]
    GET  /_control/transcript?chat_id=N      -> plain text, as ``api.transcript``
    GET  /_control/chats                     -> [chat_id, ...]
    GET  /_control/log[?since=I]             -> [CallRecord fields, ...] every call in order
    GET  /_control/stats                     -> Stats fields ("by_chat" keys are strings)
    GET  /_control/callback_answers          -> {query_id: CallbackAnswer fields}
    GET  /_control/pending_updates           -> [update, ...] not yet confirmed by offset
    POST /_control/block {"chat_id"} | /_control/unblock {"chat_id"}
    POST /_control/fail_next {"n", "status"?, "description"?, "methods"?}
    POST /_control/delay {"seconds", "methods"?}
    POST /_control/garble_next {"n", "methods"?}
    POST /_control/limits {"enabled"}

With ``--state-file`` (or ``state_file=``) the whole state (messages, log, stats, pending
updates, ids) is written there as JSON at most 0.2 s after every change and on exit, and
loaded at start-up if present, so the stand-in itself can be restarted and a finished run
inspected offline.

Semantics worth knowing:
- Message ids increase per chat, shared by the person's and the bot's messages (as Telegram).
  Chats are private: chat_id == user_id.  Sent and edited text is trimmed like Telegram does.
- Limits (on by default; ``limits=False`` or ``set_limits(False)`` turns them off): per chat a
  token bucket of ``chat_burst`` (3) messages refilled at ``chat_rate`` (1)/s; overall at most
  ``global_rate`` (30) messages in any ``global_window`` (1.0) s.  Only sendMessage/sendPhoto
  count, and a refused call uses no capacity.  Refusals are 429 with an integer
  ``retry_after`` >= 1 after which the same call is accepted.  ``stats`` also records
  ``peak_per_second`` and per chat ``min_gap``, so a pacing claim can be checked even with a
  burst allowance (or with limits off).
- Checks like Telegram's: empty or > 4096-character text, captions > 1024, callback_data over
  64 bytes, > 100 buttons, broken HTML / MarkdownV2 / Markdown for that ``parse_mode``, reply
  to a missing message, edits of missing/foreign messages, "message is not modified",
  answering a callback query twice or after ``callback_ttl`` (15) s.
- ``block(chat)`` makes sends and edits to that chat 403 "Forbidden: bot was blocked by the
  user"; ``strict_chats=True`` also refuses chats that never wrote to the bot (403).
- ``fail_next(n, status)`` makes the next n send calls (or n calls of ``methods``) fail with
  that status *without* taking effect.
- ``delay(s)`` holds the *response* after the call took effect: a client that times out has
  still sent the message, as with the real service (the "one message in flight" duplicate).
  getUpdates is only delayed when named in ``methods``.
- ``garble_next(n)`` makes the next n send calls (or n calls of ``methods``) take effect but
  answer 200 with a body that is not JSON, like a proxy in the way: the client cannot tell
  whether the message went.
- A second concurrent getUpdates terminates the first one with 409 Conflict, like Telegram;
  getUpdates while a webhook is set is 409 too.  With a webhook set, pending updates are
  POSTed to it in order (with ``X-Telegram-Bot-Api-Secret-Token``), each retried with capped
  backoff until it gets a 2xx, so a restarted webhook process receives what it missed.
- ``allowed_updates`` (getUpdates/setWebhook) is remembered like Telegram does; updates of
  other types are dropped, so a bot that forgets ``callback_query`` never sees presses.
- ``user_presses`` does not check the data against the message's buttons, so forged and stale
  presses can be tested; the message must be a bot message in that person's chat.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import asdict, dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
from aiohttp import BodyPartReader, web

log = logging.getLogger(__name__)

T = TypeVar("T")
Buttons = list[list[tuple[str, str]]]

SEND_METHODS = frozenset({"sendmessage", "sendphoto", "senddocument"})
EDIT_METHODS = frozenset({"editmessagetext", "editmessagereplymarkup", "editmessagecaption"})
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)
QUERY_INVALID = (
    "Bad Request: query is too old and response timeout expired or query ID is invalid"
)
_STRING_FIELDS = frozenset(
    {"text", "caption", "parse_mode", "callback_query_id", "url", "secret_token", "action",
     "inline_message_id", "photo", "business_connection_id", "message_effect_id"}
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_HTML_TAGS = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "span", "tg-spoiler", "a",
     "code", "pre", "blockquote", "tg-emoji"}
)


class ApiError(Exception):
    """A Bot API error answer: raised inside a method, turned into an ok:false response."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


@dataclass
class BotMessage:
    """Current state of one message in a chat, as a test wants to read it."""

    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    text: str | None = None
    caption: str | None = None
    buttons: Buttons = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    reply_to: int | None = None
    edited: bool = False
    edit_count: int = 0
    edit_date: int | None = None
    photo: bool = False
    document: bool = False
    photo_size: int = 0  # bytes of the uploaded photo or document
    deleted: bool = False
    history: list[str | None] = field(default_factory=list)


@dataclass
class CallRecord:
    """One Bot API call as the server saw it (in arrival order)."""

    seq: int
    at: float  # wall clock, time.time()
    mono: float  # time.monotonic(), for rate measurements
    method: str
    chat_id: int | None
    params: dict[str, Any]
    status: int = 0
    description: str | None = None
    retry_after: int | None = None
    message_id: int | None = None


@dataclass
class CallbackAnswer:
    """What the bot answered to one callback query."""

    query_id: str
    text: str | None
    show_alert: bool
    at: float


@dataclass
class ChatStats:
    """Per-chat counters for benchmarks and flood tests."""

    sent: int = 0
    rejected_429: int = 0
    min_gap: float | None = None  # smallest time between two accepted sends, seconds
    last_sent: float | None = None  # monotonic time of the last accepted send


@dataclass
class Stats:
    """Counters over the stand-in's lifetime (send methods only, except ``calls``)."""

    calls: int = 0
    sent: int = 0
    edited: int = 0
    rejected_429: int = 0
    rejected_403: int = 0
    injected_failures: int = 0
    peak_per_second: int = 0  # most sends accepted within any one-second window
    by_chat: dict[int, ChatStats] = field(default_factory=dict)

    def chat(self, chat_id: int) -> ChatStats:
        """Counters of one chat, created on first use."""
        return self.by_chat.setdefault(chat_id, ChatStats())


class _HtmlChecker(HTMLParser):
    """Rejects HTML Telegram would refuse (unknown or unbalanced tags)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.error: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Only Telegram's tag set may open."""
        if tag not in _HTML_TAGS and self.error is None:
            self.error = f"Unsupported start tag \"{tag}\""
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        """End tags must close the innermost open tag."""
        if (not self.stack or self.stack[-1] != tag) and self.error is None:
            self.error = f"Unexpected end tag \"{tag}\""
        elif self.stack:
            self.stack.pop()


def _check_html(text: str) -> None:
    """Raise 400 "can't parse entities" like Telegram does for broken HTML."""
    if re.search(r"<(?![a-zA-Z/])", text):
        raise ApiError(400, "Bad Request: can't parse entities: unescaped '<'")
    if re.search(r"&(?!(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);)", text):
        raise ApiError(400, "Bad Request: can't parse entities: unsupported or bare '&'")
    checker = _HtmlChecker()
    checker.feed(text)
    checker.close()
    if checker.error is None and checker.stack:
        checker.error = f"Can't find end tag corresponding to start tag \"{checker.stack[-1]}\""
    if checker.error:
        raise ApiError(400, f"Bad Request: can't parse entities: {checker.error}")


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")


def _check_markdown_v2(text: str) -> None:
    """Raise 400 for MarkdownV2 Telegram refuses: a reserved character left unescaped.

    Formatting markers must pair up; code spans and link URLs are exempt, as in Telegram.
    """
    counts = {"*": 0, "_": 0, "~": 0, "|": 0}
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = text.find(fence, i + len(fence))
            if end < 0:
                raise ApiError(400, f"Bad Request: can't parse entities: Can't find end of "
                                    f"Code entity at byte offset {i}")
            i = end + len(fence)
            continue
        if ch == "]" and text.startswith("](", i):
            end = text.find(")", i + 2)
            if end < 0:
                raise ApiError(400, "Bad Request: can't parse entities: Can't find end of a "
                                    "URL")
            i = end + 1
            continue
        if ch in counts:
            counts[ch] += 1
        elif ch == ">" and (i == 0 or text[i - 1] == "\n"):
            pass  # block quotation
        elif ch in _MDV2_RESERVED and ch != "[":
            raise ApiError(400, f"Bad Request: can't parse entities: Character '{ch}' is "
                                f"reserved and must be escaped with the preceding '\\'")
        i += 1
    for marker, count in counts.items():
        if count % 2:
            raise ApiError(400, f"Bad Request: can't parse entities: Can't find end of the "
                                f"entity starting with '{marker}'")


def _check_markdown(text: str) -> None:
    """Raise 400 for legacy Markdown whose entity markers do not pair up."""
    stripped = re.sub(r"\\.", "", text)
    for marker in ("*", "_", "`"):
        if stripped.count(marker) % 2:
            raise ApiError(400, f"Bad Request: can't parse entities: Can't find end of the "
                                f"entity starting with '{marker}'")


def _utf16_len(text: str) -> int:
    """Telegram measures entity offsets and lengths in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


class BotApiStandIn:
    """The stand-in server and its control API (see the module docstring)."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        limits: bool = True,
        chat_rate: float = 1.0,
        chat_burst: int = 3,
        global_rate: int = 30,
        global_window: float = 1.0,
        strict_chats: bool = False,
        callback_ttl: float = 15.0,
        bot_username: str = "irobot_test_bot",
        state_file: str | os.PathLike[str] | None = None,
        webhook_connections: int = 1,
    ) -> None:
        self.token = token
        # Updates POSTed to a webhook at once: 1 (in order, one at a time: the tests) or, like
        # Telegram's `max_connections`, several (benchmarks with several bot processes).
        self.webhook_connections = max(1, webhook_connections)
        self.host = host
        self.port = port
        self.limits = limits
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.global_rate = global_rate
        self.global_window = global_window
        self.strict_chats = strict_chats
        self.callback_ttl = callback_ttl
        head = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(head) if head.isdigit() else 123456,
            "is_bot": True,
            "first_name": "IRObot",
            "username": bot_username,
            "can_join_groups": False,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.state_file = Path(state_file) if state_file else None

        self.sent_log: list[CallRecord] = []
        self.callback_answers: dict[str, CallbackAnswer] = {}
        self.callback_queries: dict[str, dict[str, Any]] = {}
        self.stats = Stats()
        self.commands: list[dict[str, Any]] = []
        self.webhook: dict[str, Any] = {}
        self.blocked: set[int] = set()
        self.users: dict[int, dict[str, Any]] = {}
        self.allowed_updates: list[str] | None = None
        self.injected_at: dict[int, float] = {}  # update_id -> monotonic time injected
        self.delivered_at: dict[int, float] = {}  # update_id -> first handed to the bot

        self._chats: dict[int, dict[int, BotMessage]] = {}
        self._next_id: dict[int, int] = {}
        self._updates: list[dict[str, Any]] = []
        self._last_update_id = 0
        self._last_query = 0
        self._buckets: dict[int, tuple[float, float]] = {}
        self._window: deque[float] = deque()
        self._accepted: deque[float] = deque()
        self._fail: list[tuple[int, str, frozenset[str]]] = []
        self._query_times: dict[str, float] = {}
        self._delay = 0.0
        self._delay_methods: frozenset[str] | None = None
        self._garble: list[frozenset[str]] = []
        self._poll_generation = 0
        self._changed = asyncio.Event()
        self._closing = False
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._save_handle: asyncio.TimerHandle | None = None
        self._webhook_task: asyncio.Task[None] | None = None
        self._method_table: (
            dict[str, Callable[[dict[str, Any], CallRecord], Awaitable[Any]]] | None
        ) = None
        if self.state_file and self.state_file.exists():
            self._load_state()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """What IROBOT_TELEGRAM_API_URL / PTB's ``base_url`` should be set to."""
        return f"http://{self.host}:{self.port}/bot"

    @property
    def control_url(self) -> str:
        """Root of the HTTP control endpoints."""
        return f"http://{self.host}:{self.port}/_control"

    async def start(self) -> None:
        """Bind the port (0 picks a free one) and start serving in the running loop."""
        self._loop = asyncio.get_running_loop()
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_route("*", "/_control/{action}", self._handle_control)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        self._closing = False
        log.debug("Bot API stand-in listening on %s", self.base_url)

    async def stop(self) -> None:
        """Release long polls, flush the state file and close the server."""
        self._closing = True
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._save_handle is not None:
            self._save_handle.cancel()
            self._save_handle = None
        self.save_state()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotApiStandIn:
        """Start serving for the duration of the block."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop serving."""
        await self.stop()

    @classmethod
    @contextlib.contextmanager
    def threaded(cls, token: str = "123456:TEST", **kwargs: Any) -> Iterator[BotApiStandIn]:
        """Serve from a background thread, for code under test that runs its own event loop."""
        api = cls(token, **kwargs)
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        errors: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(api.start())
            except BaseException as exc:  # pragma: no cover - surfaced below
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="botapi-standin", daemon=True)
        api._thread = thread
        thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        try:
            yield api
        finally:
            asyncio.run_coroutine_threadsafe(api.stop(), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop thread (directly when already there)."""
        if self._thread is None or threading.current_thread() is self._thread:
            return fn()
        assert self._loop is not None

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    # ------------------------------------------------------------------ control API

    def user_sends(
        self,
        user_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Inject a private-chat message from a person; returns the Update dict queued.

        The person's name is remembered from the first call that gives one ("Test" until then).
        """
        return self._on_loop(
            lambda: self._user_sends(user_id, text, reply_to, first_name, last_name, username)
        )

    def _user_sends(
        self,
        user_id: int,
        text: str,
        reply_to: int | None,
        first_name: str | None,
        last_name: str | None,
        username: str | None,
    ) -> dict[str, Any]:
        user = self._remember_user(user_id, first_name, last_name, username)
        message_id = self._new_message_id(user_id)
        now = int(time.time())
        msg: dict[str, Any] = {
            "message_id": message_id,
            "from": user,
            "chat": self._chat_dict(user_id),
            "date": now,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            msg["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        if reply_to is not None:
            target = self._chats.get(user_id, {}).get(reply_to)
            if target is None:
                raise ValueError(f"no message {reply_to} in chat {user_id} to reply to")
            msg["reply_to_message"] = self._message_dict(target, nested=False)
        record = BotMessage(chat_id=user_id, message_id=message_id, date=now, from_bot=False,
                            text=text, reply_to=reply_to)
        self._chats.setdefault(user_id, {})[message_id] = record
        return self._push_update({"message": msg})

    def user_presses(self, user_id: int, message_id: int, data: str) -> str:
        """Inject a button press on a bot message in that person's chat; returns the query id.

        The data is not checked against the message's buttons, so forged presses can be tested.
        """
        return self._on_loop(lambda: self._user_presses(user_id, message_id, data))

    def _user_presses(self, user_id: int, message_id: int, data: str) -> str:
        target = self._chats.get(user_id, {}).get(message_id)
        if target is None or not target.from_bot or target.deleted:
            raise ValueError(f"no bot message {message_id} in chat {user_id} to press")
        user = self._remember_user(user_id, None, None, None)
        self._last_query += 1
        query_id = f"{user_id}{self._last_query:06d}"
        query = {
            "id": query_id,
            "from": user,
            "message": self._message_dict(target),
            "chat_instance": str(-abs(user_id) * 31 - 7),
            "data": data,
        }
        self.callback_queries[query_id] = query
        self._query_times[query_id] = time.monotonic()
        self._push_update({"callback_query": query})
        return query_id

    def messages(self, chat_id: int, *, include_user: bool = False) -> list[BotMessage]:
        """The bot's messages in a chat (current state, oldest first; deleted ones flagged)."""
        return self._on_loop(
            lambda: [
                m for m in self._chats.get(chat_id, {}).values() if include_user or m.from_bot
            ]
        )

    def last_message(self, chat_id: int) -> BotMessage | None:
        """The bot's newest non-deleted message in a chat, or None."""
        live = [m for m in self.messages(chat_id) if not m.deleted]
        return live[-1] if live else None

    def message(self, chat_id: int, message_id: int) -> BotMessage | None:
        """One message's current state by id."""
        return self._on_loop(lambda: self._chats.get(chat_id, {}).get(message_id))

    def transcript(self, chat_id: int) -> str:
        """The chat as a person would read it (current state), for failure messages and demos."""
        lines = []
        for m in self.messages(chat_id, include_user=True):
            who = "bot" if m.from_bot else "user"
            kind = "photo" if m.photo else "document"
            body = m.text if m.text is not None else f"[{kind}] {m.caption or ''}".rstrip()
            flags = "".join(f" ({f})" for f, on in (("edited", m.edited), ("deleted", m.deleted))
                            if on)
            reply = f" [reply to {m.reply_to}]" if m.reply_to else ""
            lines.append(f"#{m.message_id} {who}{reply}{flags}: {body}")
            lines.extend("    " + " | ".join(f"[{label}]" for label, _ in row) for row in m.buttons)
        return "\n".join(lines)

    def chats(self) -> list[int]:
        """Every chat the bot has sent to or received from."""
        return self._on_loop(lambda: list(self._chats))

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a getUpdates offset."""
        return self._on_loop(lambda: list(self._updates))

    def calls(self, method: str | None = None) -> list[CallRecord]:
        """The call log, optionally only one method (case-insensitive)."""
        want = method.lower() if method else None
        return self._on_loop(
            lambda: [c for c in self.sent_log if want is None or c.method.lower() == want]
        )

    def block(self, chat_id: int) -> None:
        """The person blocked the bot: sends to them get 403."""
        self._on_loop(lambda: self.blocked.add(chat_id))

    def unblock(self, chat_id: int) -> None:
        """The person unblocked the bot."""
        self._on_loop(lambda: self.blocked.discard(chat_id))

    def fail_next(
        self,
        n: int,
        status: int = 502,
        description: str | None = None,
        methods: list[str] | None = None,
    ) -> None:
        """The next n calls of ``methods`` (default: sends) fail with ``status``, no effect."""
        text = description or {
            400: "Bad Request",
            403: "Forbidden: bot was blocked by the user",
            429: "Too Many Requests: retry after 1",
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
            504: "Gateway Timeout",
        }.get(status, f"Error {status}")
        which = frozenset(m.lower() for m in methods) if methods else SEND_METHODS
        self._on_loop(lambda: self._fail.extend([(status, text, which)] * n))

    def delay(self, seconds: float, methods: list[str] | None = None) -> None:
        """Hold every response (or those of ``methods``) this long after the call took effect."""

        def apply() -> None:
            self._delay = seconds
            self._delay_methods = frozenset(m.lower() for m in methods) if methods else None

        self._on_loop(apply)

    def garble_next(self, n: int, methods: list[str] | None = None) -> None:
        """The next n calls of ``methods`` (default: sends) take effect, then answer garbage."""
        which = frozenset(m.lower() for m in methods) if methods else SEND_METHODS
        self._on_loop(lambda: self._garble.extend([which] * n))

    def set_limits(self, enabled: bool) -> None:
        """Turn the flood limits on or off at run time."""
        self._on_loop(lambda: setattr(self, "limits", enabled))

    async def wait_for(
        self, predicate: Callable[[], T | None], timeout: float = 5.0  # noqa: ASYNC109
    ) -> T:
        """Await until ``predicate()`` is truthy (checked after every change); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        foreign = loop is not self._loop
        while True:
            value = self._on_loop(predicate) if foreign else predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s")
            if foreign:
                await asyncio.sleep(min(remaining, 0.01))
                continue
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), min(remaining, 0.05))

    def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Blocking ``wait_for`` for threaded mode and synchronous tests."""
        deadline = time.monotonic() + timeout
        while True:
            value = self._on_loop(predicate)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(0.01)

    # ------------------------------------------------------------------ internals

    def _notify(self) -> None:
        """Wake every waiter (long polls and wait_for) and schedule a state save."""
        self._changed.set()
        self._changed = asyncio.Event()
        if self.state_file is not None and self._save_handle is None and self._loop is not None:
            self._save_handle = self._loop.call_later(0.2, self._flush_state)

    def _flush_state(self) -> None:
        """Debounced writer for the state file."""
        self._save_handle = None
        self.save_state()

    def _remember_user(
        self, user_id: int, first_name: str | None, last_name: str | None, username: str | None
    ) -> dict[str, Any]:
        user = self.users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or "Test",
            "language_code": "en",
        }
        if first_name:
            user["first_name"] = first_name
        if last_name:
            user["last_name"] = last_name
        if username:
            user["username"] = username
        self.users[user_id] = user
        return dict(user)

    def _chat_dict(self, chat_id: int) -> dict[str, Any]:
        user = self.users.get(chat_id, {})
        chat: dict[str, Any] = {"id": chat_id, "type": "private",
                                "first_name": user.get("first_name", "Test")}
        if "last_name" in user:
            chat["last_name"] = user["last_name"]
        if "username" in user:
            chat["username"] = user["username"]
        return chat

    def _new_message_id(self, chat_id: int) -> int:
        nxt = self._next_id.get(chat_id, 1)
        self._next_id[chat_id] = nxt + 1
        return nxt

    def _push_update(self, body: dict[str, Any]) -> dict[str, Any]:
        self._last_update_id += 1
        update = {"update_id": self._last_update_id, **body}
        self.injected_at[self._last_update_id] = time.monotonic()
        self._updates.append(update)
        self._notify()
        return update

    def _start_webhook_worker(self) -> None:
        """Deliver pending updates to the webhook in order, one at a time, like Telegram."""
        if self._webhook_task is not None and not self._webhook_task.done():
            return
        self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_worker())

    async def _webhook_worker(self) -> None:
        """POST the oldest pending update until it is accepted; retry with capped backoff."""
        if self.webhook_connections > 1:
            await self._parallel_webhook_worker()
            return
        failures = 0
        async with httpx.AsyncClient(timeout=10) as client:
            while self.webhook.get("url") and not self._closing:
                self._drop_disallowed()
                if not self._updates:
                    changed = self._changed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 1.0)
                    continue
                update = self._updates[0]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                try:
                    res = await client.post(self.webhook["url"], json=update, headers=headers)
                    error = None if res.status_code < 300 else f"Wrong response: {res.status_code}"
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {exc!r}"
                if error is None:
                    failures = 0
                    self.delivered_at.setdefault(update["update_id"], time.monotonic())
                    self._updates = [u for u in self._updates if u is not update]
                    self._notify()
                    continue
                failures += 1
                self.webhook["last_error_message"] = error
                self.webhook["last_error_date"] = int(time.time())
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))

    async def _parallel_webhook_worker(self) -> None:
        """Up to `webhook_connections` POSTs at once, oldest pending update first, each retried."""
        in_flight: set[int] = set()

        async def connection(client: httpx.AsyncClient) -> None:
            failures = 0
            while self.webhook.get("url") and not self._closing:
                self._drop_disallowed()
                update = next((u for u in self._updates if u["update_id"] not in in_flight), None)
                if update is None:
                    changed = self._changed
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), 1.0)
                    continue
                in_flight.add(update["update_id"])
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                try:
                    res = await client.post(self.webhook["url"], json=update, headers=headers)
                    error = None if res.status_code < 300 else f"Wrong response: {res.status_code}"
                except httpx.HTTPError as exc:
                    error = f"Connection failed: {exc!r}"
                in_flight.discard(update["update_id"])
                if error is None:
                    failures = 0
                    self.delivered_at.setdefault(update["update_id"], time.monotonic())
                    self._updates = [u for u in self._updates if u is not update]
                    self._notify()
                    continue
                failures += 1
                self.webhook["last_error_message"] = error
                self.webhook["last_error_date"] = int(time.time())
                await asyncio.sleep(min(2.0, 0.05 * 2**failures))

        limits = httpx.Limits(max_connections=self.webhook_connections)
        async with httpx.AsyncClient(timeout=10, limits=limits) as client:
            await asyncio.gather(*(connection(client) for _ in range(self.webhook_connections)))

    def _message_dict(self, m: BotMessage, *, nested: bool = True) -> dict[str, Any]:
        """The Telegram Message object for a stored message (valid for PTB's de_json)."""
        out: dict[str, Any] = {
            "message_id": m.message_id,
            "date": m.date,
            "chat": self._chat_dict(m.chat_id),
            "from": dict(self.bot_user) if m.from_bot else dict(self.users.get(
                m.chat_id, {"id": m.chat_id, "is_bot": False, "first_name": "Test"})),
        }
        if m.text is not None:
            out["text"] = m.text
        fid = f"file-{m.chat_id}-{m.message_id}"
        if m.photo:
            out["photo"] = [{"file_id": fid, "file_unique_id": fid, "width": 800,
                             "height": 600, "file_size": m.photo_size}]
        if m.document:
            out["document"] = {"file_id": fid, "file_unique_id": fid, "file_size": m.photo_size}
        if (m.photo or m.document) and m.caption is not None:
            out["caption"] = m.caption
        if m.reply_markup is not None and "inline_keyboard" in m.reply_markup:
            out["reply_markup"] = m.reply_markup
        if m.edit_date is not None:
            out["edit_date"] = m.edit_date
        if m.reply_to is not None and nested:
            target = self._chats.get(m.chat_id, {}).get(m.reply_to)
            if target is not None:
                out["reply_to_message"] = self._message_dict(target, nested=False)
        return out

    # ------------------------------------------------------------------ HTTP: Bot API

    async def _handle_api(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        now_mono = time.monotonic()
        record = CallRecord(seq=len(self.sent_log), at=time.time(), mono=now_mono,
                            method=method, chat_id=None, params={})
        self.sent_log.append(record)
        self.stats.calls += 1
        try:
            params = await self._read_params(request)
            record.params = {k: v for k, v in params.items() if not isinstance(v, bytes)}
            with contextlib.suppress(ValueError, TypeError):
                record.chat_id = int(params["chat_id"]) if "chat_id" in params else None
            if token != self.token:
                raise ApiError(401, "Unauthorized")
            handler = self._methods().get(method.lower())
            if handler is None:
                log.warning("stand-in: Bot API method %s is not implemented", method)
                raise ApiError(404, f"Not Found: method {method} is not implemented by the "
                                    f"stand-in (tests/auxil/botapi.py)")
            result = await handler(params, record)
            body: dict[str, Any] = {"ok": True, "result": result}
            record.status = 200
        except ApiError as err:
            body = {"ok": False, "error_code": err.status, "description": err.description}
            if err.retry_after is not None:
                body["parameters"] = {"retry_after": err.retry_after}
            record.status = err.status
            record.description = err.description
            record.retry_after = err.retry_after
        except Exception as exc:  # a stand-in bug must surface, not hang the client
            log.exception("stand-in failed on %s", method)
            record.status = 500
            record.description = f"Internal Server Error: {exc!r}"
            body = {"ok": False, "error_code": 500, "description": record.description}
        self._notify()
        name = method.lower()
        if self._delay > 0 and (
            name in self._delay_methods
            if self._delay_methods is not None
            else name != "getupdates"
        ):
            await asyncio.sleep(self._delay)
        if record.status == 200:
            for i, which in enumerate(self._garble):
                if name in which:
                    del self._garble[i]
                    return web.Response(status=200, content_type="text/html",
                                        text="<html><body>upstream proxy error</body></html>")
        return web.json_response(body, status=record.status)

    async def _read_params(self, request: web.Request) -> dict[str, Any]:
        """Parameters from the query string, a JSON body, a form or multipart."""
        params: dict[str, Any] = dict(request.query)
        if not request.can_read_body:
            return params
        ctype = request.content_type
        if ctype == "application/json":
            try:
                data = await request.json()
            except ValueError as exc:
                raise ApiError(400, "Bad Request: can't parse JSON") from exc
            if isinstance(data, dict):
                params.update(data)
        elif ctype == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename:
                    params[part.name] = bytes(await part.read())
                else:
                    params[part.name] = await part.text()
        else:
            post = await request.post()
            for key, value in post.items():
                params[key] = value.file.read() if isinstance(value, web.FileField) else value
        return {
            k: v if k in _STRING_FIELDS or not isinstance(v, str) else _as_json(v)
            for k, v in params.items()
        }

    def _methods(self) -> dict[str, Callable[[dict[str, Any], CallRecord], Awaitable[Any]]]:
        if self._method_table is None:
            self._method_table = self._method_handlers()
        return self._method_table

    def _method_handlers(
        self,
    ) -> dict[str, Callable[[dict[str, Any], CallRecord], Awaitable[Any]]]:
        return {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "deletewebhook": self._delete_webhook,
            "setwebhook": self._set_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "getchat": self._get_chat,
            "setchatmenubutton": self._true,
            "setmydescription": self._true,
            "setmyshortdescription": self._true,
            "setmyname": self._true,
            "editmessagetext": self._edit_text,
            "editmessagecaption": self._edit_caption,
            "editmessagereplymarkup": self._edit_markup,
            "answercallbackquery": self._answer_callback,
            "deletemessage": self._delete_message,
            "sendchataction": self._true,
            "close": self._true,
            "logout": self._true,
        }

    async def _true(self, params: dict[str, Any], record: CallRecord) -> bool:
        return True

    async def _get_chat(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        if chat_id not in self.users and chat_id not in self._chats:
            raise ApiError(400, "Bad Request: chat not found")
        return {**self._chat_dict(chat_id), "accent_color_id": 0, "max_reaction_count": 11}

    async def _get_me(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        return dict(self.bot_user)

    async def _get_updates(
        self, params: dict[str, Any], record: CallRecord
    ) -> list[dict[str, Any]]:
        if self.webhook.get("url"):
            raise ApiError(409, "Conflict: can't use getUpdates method while webhook is active; "
                                "use deleteWebhook to delete the webhook first")
        self._remember_allowed(params)
        offset = _as_int(params.get("offset"), 0)
        limit = max(1, min(100, _as_int(params.get("limit"), 100)))
        timeout = max(0.0, float(_as_json(params.get("timeout")) or 0))
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._drop_disallowed()
        while not self._updates and not self._closing:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(409, "Conflict: terminated by other getUpdates request; make "
                                    "sure that only one bot instance is running")
            self._drop_disallowed()
        batch = self._updates[:limit]
        now = time.monotonic()
        for update in batch:
            self.delivered_at.setdefault(update["update_id"], now)
        return batch

    def _remember_allowed(self, params: dict[str, Any]) -> None:
        """Telegram keeps the last allowed_updates given; an empty list means the default."""
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            self.allowed_updates = [str(a) for a in allowed] or None

    def _drop_disallowed(self) -> None:
        """Updates of types the bot did not ask for are never delivered (as in Telegram)."""
        if self.allowed_updates is None:
            return
        allowed = set(self.allowed_updates)
        self._updates = [u for u in self._updates if allowed & u.keys()]

    async def _delete_webhook(self, params: dict[str, Any], record: CallRecord) -> bool:
        self.webhook = {}
        if _as_bool(params.get("drop_pending_updates")):
            self._updates.clear()
        return True

    async def _set_webhook(self, params: dict[str, Any], record: CallRecord) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return await self._delete_webhook(params, record)
        if not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        self._remember_allowed(params)
        self._drop_disallowed()
        self.webhook = {"url": url, "secret_token": secret}
        if _as_bool(params.get("drop_pending_updates")):
            self._updates.clear()
        self._start_webhook_worker()
        return True

    async def _get_webhook_info(
        self, params: dict[str, Any], record: CallRecord
    ) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("last_error_date", "last_error_message"):
            if key in self.webhook:
                info[key] = self.webhook[key]
        return info

    async def _set_my_commands(self, params: dict[str, Any], record: CallRecord) -> bool:
        commands = _as_json(params.get("commands"))
        if not isinstance(commands, list) or len(commands) > 100:
            raise ApiError(400, "Bad Request: commands must be a list of at most 100")
        for c in commands:
            if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(str(c.get("description", ""))) <= 256:
                raise ApiError(400, "Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands = commands
        return True

    async def _get_my_commands(
        self, params: dict[str, Any], record: CallRecord
    ) -> list[dict[str, Any]]:
        return list(self.commands)

    async def _delete_my_commands(self, params: dict[str, Any], record: CallRecord) -> bool:
        self.commands = []
        return True

    # -- sending

    def _target_chat(self, params: dict[str, Any]) -> int:
        raw = params.get("chat_id")
        if raw is None or raw == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        try:
            return int(_as_json(raw))
        except (TypeError, ValueError) as exc:
            raise ApiError(400, "Bad Request: chat not found") from exc

    def _gate_send(self, chat_id: int, record: CallRecord) -> None:
        """Apply injected failures, blocks and flood limits, in Telegram's order."""
        self._take_failure(record.method)
        if chat_id in self.blocked:
            self.stats.rejected_403 += 1
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if self.strict_chats and chat_id not in self.users:
            self.stats.rejected_403 += 1
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        if not self.limits:
            return
        now = record.mono
        window = self._window
        while window and window[0] <= now - self.global_window:
            window.popleft()
        tokens, last = self._buckets.get(chat_id, (float(self.chat_burst), now))
        tokens = min(float(self.chat_burst), tokens + (now - last) * self.chat_rate)
        if tokens < 1.0:
            wait = (1.0 - tokens) / self.chat_rate
            self._reject_429(chat_id, wait)
        if len(window) >= self.global_rate:
            self._reject_429(chat_id, window[0] + self.global_window - now)
        self._buckets[chat_id] = (tokens - 1.0, now)
        window.append(now)

    def _take_failure(self, method: str) -> None:
        """Raise the first injected failure aimed at this method, if any."""
        wanted = method.lower()
        for i, (status, text, which) in enumerate(self._fail):
            if wanted in which:
                del self._fail[i]
                self.stats.injected_failures += 1
                raise ApiError(status, text, retry_after=1 if status == 429 else None)

    def _reject_429(self, chat_id: int, wait: float) -> None:
        self.stats.rejected_429 += 1
        self.stats.chat(chat_id).rejected_429 += 1
        retry = max(1, math.ceil(wait))
        raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)

    def _parse_markup(self, params: dict[str, Any]) -> tuple[dict[str, Any] | None, Buttons]:
        markup = _as_json(params.get("reply_markup"))
        if markup is None or markup == "":
            return None, []
        if not isinstance(markup, dict):
            raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup, []
        buttons: Buttons = []
        if not isinstance(rows, list):
            raise ApiError(400, "Bad Request: field \"inline_keyboard\" must be an Array")
        if not any(rows):
            return None, []  # an empty inline keyboard is no keyboard, as in Telegram
        if sum(len(row) if isinstance(row, list) else 0 for row in rows) > 100:
            raise ApiError(400, "Bad Request: reply markup is too long")
        for row in rows:
            if not isinstance(row, list):
                raise ApiError(400, "Bad Request: inline keyboard rows must be Arrays")
            out_row: list[tuple[str, str]] = []
            for b in row:
                if not isinstance(b, dict) or not str(b.get("text", "")):
                    raise ApiError(400, "Bad Request: BUTTON_TEXT_INVALID")
                if "callback_data" in b:
                    data = str(b["callback_data"])
                    if not 1 <= len(data.encode()) <= 64:
                        raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
                elif "url" in b:
                    data = str(b["url"])
                else:
                    raise ApiError(400, "Bad Request: can't find field \"callback_data\"")
                out_row.append((str(b["text"]), data))
            buttons.append(out_row)
        return markup, buttons

    def _check_text(self, text: str, parse_mode: str | None, *, caption: bool = False) -> None:
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if caption and _utf16_len(text) > 1024:
            raise ApiError(400, "Bad Request: message caption is too long")
        if _utf16_len(text) > 4096:
            raise ApiError(400, "Bad Request: message is too long")
        mode = (parse_mode or "").lower()
        if mode == "html":
            _check_html(text)
        elif mode == "markdownv2":
            _check_markdown_v2(text)
        elif mode == "markdown":
            _check_markdown(text)

    def _reply_target(self, chat_id: int, params: dict[str, Any]) -> int | None:
        reply_to = params.get("reply_to_message_id")
        allow = _as_bool(params.get("allow_sending_without_reply"))
        rp = _as_json(params.get("reply_parameters"))
        if isinstance(rp, dict) and rp.get("message_id") is not None:
            reply_to = rp["message_id"]
            allow = allow or bool(rp.get("allow_sending_without_reply"))
        if reply_to is None or reply_to == "":
            return None
        rid = _as_int(reply_to, 0)
        existing = self._chats.get(chat_id, {}).get(rid)
        if existing is None or existing.deleted:
            if allow:
                return None
            raise ApiError(400, "Bad Request: message to be replied not found")
        return rid

    def _store_sent(self, chat_id: int, record: CallRecord, message: BotMessage) -> None:
        self._chats.setdefault(chat_id, {})[message.message_id] = message
        self.stats.sent += 1
        per_chat = self.stats.chat(chat_id)
        per_chat.sent += 1
        now = record.mono
        if per_chat.last_sent is not None:
            gap = now - per_chat.last_sent
            per_chat.min_gap = gap if per_chat.min_gap is None else min(per_chat.min_gap, gap)
        per_chat.last_sent = now
        accepted = self._accepted
        accepted.append(now)
        while accepted and accepted[0] <= now - 1.0:
            accepted.popleft()
        self.stats.peak_per_second = max(self.stats.peak_per_second, len(accepted))
        record.message_id = message.message_id

    async def _send_message(
        self, params: dict[str, Any], record: CallRecord
    ) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode") or None
        self._check_text(text, parse_mode)
        text = text.strip()  # Telegram trims surrounding whitespace
        markup, buttons = self._parse_markup(params)
        reply_to = self._reply_target(chat_id, params)
        self._gate_send(chat_id, record)
        msg = BotMessage(chat_id=chat_id, message_id=self._new_message_id(chat_id),
                         date=int(time.time()), from_bot=True, text=text, buttons=buttons,
                         reply_markup=markup, parse_mode=parse_mode, reply_to=reply_to,
                         history=[text])
        self._store_sent(chat_id, record, msg)
        return self._message_dict(msg)

    async def _send_photo(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        return self._send_file(params, record, "photo")

    async def _send_document(
        self, params: dict[str, Any], record: CallRecord
    ) -> dict[str, Any]:
        return self._send_file(params, record, "document")

    def _send_file(self, params: dict[str, Any], record: CallRecord, kind: str) -> dict[str, Any]:
        chat_id = self._target_chat(params)
        photo = params.get(kind)
        if photo is None or photo == "":
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        if isinstance(photo, str) and photo.startswith("attach://"):
            photo = params.get(photo.removeprefix("attach://"))
        size = len(photo) if isinstance(photo, (bytes, str)) else 0
        if kind == "photo" and isinstance(photo, bytes) and size > 10 * 1024 * 1024:
            raise ApiError(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")
        caption = params.get("caption")
        parse_mode = params.get("parse_mode") or None
        if caption is not None:
            caption = str(caption)
            if caption:
                self._check_text(caption, parse_mode, caption=True)
            caption = caption.strip()
        markup, buttons = self._parse_markup(params)
        reply_to = self._reply_target(chat_id, params)
        self._gate_send(chat_id, record)
        msg = BotMessage(chat_id=chat_id, message_id=self._new_message_id(chat_id),
                         date=int(time.time()), from_bot=True, caption=caption, buttons=buttons,
                         reply_markup=markup, parse_mode=parse_mode, reply_to=reply_to,
                         photo=kind == "photo", document=kind == "document",
                         photo_size=size, history=[caption])
        self._store_sent(chat_id, record, msg)
        return self._message_dict(msg)

    def _edit_target(self, params: dict[str, Any]) -> BotMessage:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: inline messages are not supported by the stand-in")
        chat_id = self._target_chat(params)
        if chat_id in self.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        mid = _as_int(params.get("message_id"), 0)
        if not mid:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        target = self._chats.get(chat_id, {}).get(mid)
        if target is None or target.deleted:
            raise ApiError(400, "Bad Request: message to edit not found")
        if not target.from_bot:
            raise ApiError(400, "Bad Request: message can't be edited")
        return target

    def _apply_edit(
        self, target: BotMessage, record: CallRecord, *, text: str | None, caption: str | None,
        markup: dict[str, Any] | None, buttons: Buttons, parse_mode: str | None,
    ) -> dict[str, Any]:
        new_text = target.text if text is None else text
        new_caption = target.caption if caption is None else caption
        if (new_text == target.text and new_caption == target.caption
                and (markup or None) == (target.reply_markup or None)):
            raise ApiError(400, NOT_MODIFIED)
        self._take_failure(record.method)
        target.text, target.caption = new_text, new_caption
        target.reply_markup, target.buttons = markup, buttons
        if parse_mode is not None:
            target.parse_mode = parse_mode
        target.edited = True
        target.edit_count += 1
        target.edit_date = int(time.time())
        target.history.append(new_text if text is not None else new_caption)
        self.stats.edited += 1
        record.message_id = target.message_id
        return self._message_dict(target)

    async def _edit_text(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        target = self._edit_target(params)
        if target.text is None:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text = str(params.get("text") or "")
        parse_mode = params.get("parse_mode") or None
        self._check_text(text, parse_mode)
        text = text.strip()
        markup, buttons = self._parse_markup(params)
        return self._apply_edit(target, record, text=text, caption=None, markup=markup,
                                buttons=buttons, parse_mode=parse_mode)

    async def _edit_caption(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        target = self._edit_target(params)
        if not (target.photo or target.document):
            raise ApiError(400, "Bad Request: there is no caption in the message to edit")
        caption = str(params.get("caption") or "")
        parse_mode = params.get("parse_mode") or None
        if caption:
            self._check_text(caption, parse_mode, caption=True)
        caption = caption.strip()
        markup, buttons = self._parse_markup(params)
        return self._apply_edit(target, record, text=None, caption=caption, markup=markup,
                                buttons=buttons, parse_mode=parse_mode)

    async def _edit_markup(self, params: dict[str, Any], record: CallRecord) -> dict[str, Any]:
        target = self._edit_target(params)
        markup, buttons = self._parse_markup(params)
        return self._apply_edit(target, record, text=None, caption=None, markup=markup,
                                buttons=buttons, parse_mode=None)

    async def _answer_callback(self, params: dict[str, Any], record: CallRecord) -> bool:
        qid = str(params.get("callback_query_id") or "")
        if qid not in self.callback_queries or qid in self.callback_answers:
            raise ApiError(400, QUERY_INVALID)
        asked = self._query_times.get(qid)
        if asked is not None and record.mono - asked > self.callback_ttl:
            raise ApiError(400, QUERY_INVALID)
        text = params.get("text")
        if text is not None and len(str(text)) > 200:
            raise ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        self.callback_answers[qid] = CallbackAnswer(
            query_id=qid, text=None if text is None else str(text),
            show_alert=_as_bool(params.get("show_alert")), at=time.time())
        return True

    async def _delete_message(self, params: dict[str, Any], record: CallRecord) -> bool:
        chat_id = self._target_chat(params)
        mid = _as_int(params.get("message_id"), 0)
        target = self._chats.get(chat_id, {}).get(mid)
        if target is None or target.deleted:
            raise ApiError(400, "Bad Request: message to delete not found")
        target.deleted = True
        record.message_id = mid
        return True

    # ------------------------------------------------------------------ HTTP: control

    async def _handle_control(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        body: dict[str, Any] = {}
        if request.can_read_body:
            try:
                body = await request.json()
            except ValueError:
                return web.json_response({"error": "body must be JSON"}, status=400)
        q = request.query
        try:
            result: Any
            if action == "user_sends":
                result = self._user_sends(
                    int(body["user_id"]), str(body["text"]),
                    None if body.get("reply_to") is None else int(body["reply_to"]),
                    body.get("first_name"), body.get("last_name"),
                    body.get("username"))
            elif action == "user_presses":
                result = {"callback_query_id": self._user_presses(
                    int(body["user_id"]), int(body["message_id"]), str(body["data"]))}
            elif action == "messages":
                chat = int(q["chat_id"])
                result = [asdict(m) for m in self._chats.get(chat, {}).values()
                          if m.from_bot or q.get("include_user")]
            elif action == "transcript":
                return web.Response(text=self.transcript(int(q["chat_id"])))
            elif action == "chats":
                result = list(self._chats)
            elif action == "log":
                since = int(q.get("since", 0))
                result = [asdict(c) for c in self.sent_log[since:]]
            elif action == "stats":
                result = asdict(self.stats)
            elif action == "callback_answers":
                result = {k: asdict(v) for k, v in self.callback_answers.items()}
            elif action == "pending_updates":
                result = list(self._updates)
            elif action == "block":
                self.blocked.add(int(body["chat_id"]))
                result = True
            elif action == "unblock":
                self.blocked.discard(int(body["chat_id"]))
                result = True
            elif action == "fail_next":
                self.fail_next(int(body["n"]), int(body.get("status", 502)),
                               body.get("description"), body.get("methods"))
                result = True
            elif action == "delay":
                self.delay(float(body["seconds"]), body.get("methods"))
                result = True
            elif action == "garble_next":
                self.garble_next(int(body["n"]), body.get("methods"))
                result = True
            elif action == "limits":
                self.limits = bool(body["enabled"])
                result = True
            else:
                return web.json_response({"error": f"unknown control {action}"}, status=404)
        except (KeyError, ValueError, TypeError) as exc:
            return web.json_response({"error": repr(exc)}, status=400)
        self._notify()
        return web.json_response(result)

    # ------------------------------------------------------------------ state file

    def snapshot(self) -> dict[str, Any]:
        """Everything worth keeping, as JSON-ready data."""
        return {
            "messages": {str(c): [asdict(m) for m in ms.values()] for c, ms in self._chats.items()},
            "next_id": {str(c): n for c, n in self._next_id.items()},
            "updates": self._updates,
            "users": {str(k): v for k, v in self.users.items()},
            "callback_queries": self.callback_queries,
            "callback_answers": {k: asdict(v) for k, v in self.callback_answers.items()},
            "log": [asdict(c) for c in self.sent_log],
            "stats": asdict(self.stats),
            "commands": self.commands,
            "blocked": sorted(self.blocked),
            "allowed_updates": self.allowed_updates,
            "injected_at": {str(k): v for k, v in self.injected_at.items()},
            "update_id": self._last_update_id,
            "query_id": self._last_query,
        }

    def save_state(self) -> None:
        """Write the state file atomically (no-op without one)."""
        if self.state_file is None:
            return
        data = self.snapshot()
        tmp = self.state_file.with_suffix(self.state_file.suffix + ".tmp")
        tmp.write_text(json.dumps(data, default=str))
        tmp.replace(self.state_file)

    def _load_state(self) -> None:
        assert self.state_file is not None
        data = json.loads(self.state_file.read_text())
        for chat, items in data.get("messages", {}).items():
            self._chats[int(chat)] = {
                m["message_id"]: BotMessage(**{**m, "buttons": [
                    [tuple(b) for b in row] for row in m.get("buttons", [])]})
                for m in items
            }
        self._next_id = {int(c): n for c, n in data.get("next_id", {}).items()}
        self._updates = list(data.get("updates", []))
        self.users = {int(k): v for k, v in data.get("users", {}).items()}
        self.callback_queries = dict(data.get("callback_queries", {}))
        self.callback_answers = {k: CallbackAnswer(**v)
                                 for k, v in data.get("callback_answers", {}).items()}
        self.sent_log = [CallRecord(**c) for c in data.get("log", [])]
        stats = data.get("stats", {})
        by_chat = {int(k): ChatStats(**v) for k, v in stats.pop("by_chat", {}).items()}
        self.stats = Stats(**stats, by_chat=by_chat)
        self.commands = list(data.get("commands", []))
        self.blocked = set(data.get("blocked", []))
        self.allowed_updates = data.get("allowed_updates")
        self._last_update_id = int(data.get("update_id", 0))
        self._last_query = int(data.get("query_id", 0))


# ---------------------------------------------------------------------- helpers


def _as_json(value: Any) -> Any:
    """Decode a form value PTB JSON-encoded (non-strings); leave plain strings alone."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _as_int(value: Any, default: int) -> int:
    """Integer parameter from JSON or form, or a 400 when it is not one."""
    if value is None or value == "":
        return default
    try:
        return int(_as_json(value))
    except (TypeError, ValueError) as exc:
        raise ApiError(400, f"Bad Request: expected an Integer, got {value!r}") from exc


def _as_bool(value: Any) -> bool:
    """Boolean parameter from JSON (true) or form ("true")."""
    decoded = _as_json(value)
    return bool(decoded) if not isinstance(decoded, str) else decoded.lower() == "true"


# ---------------------------------------------------------------------- other processes


class ControlClient:
    """Synchronous client for the HTTP control endpoints of a stand-in in another process."""

    def __init__(self, base_url: str, process: subprocess.Popen[str] | None = None) -> None:
        self.base_url = base_url
        root = base_url.removesuffix("/bot")
        self.control_url = f"{root}/_control"
        self.process = process
        self._http = httpx.Client(timeout=10)

    def _get(self, action: str, **query: Any) -> Any:
        res = self._http.get(f"{self.control_url}/{action}", params=query)
        res.raise_for_status()
        return res.json()

    def _post(self, action: str, body: dict[str, Any]) -> Any:
        res = self._http.post(f"{self.control_url}/{action}", json=body)
        res.raise_for_status()
        return res.json()

    def user_sends(self, user_id: int, text: str, *, reply_to: int | None = None,
                   first_name: str | None = None) -> dict[str, Any]:
        """Inject a message from a person."""
        return dict(self._post("user_sends", {"user_id": user_id, "text": text,
                                              "reply_to": reply_to, "first_name": first_name}))

    def user_presses(self, user_id: int, message_id: int, data: str) -> str:
        """Inject a button press; returns the callback query id."""
        body = {"user_id": user_id, "message_id": message_id, "data": data}
        return str(self._post("user_presses", body)["callback_query_id"])

    def messages(self, chat_id: int) -> list[dict[str, Any]]:
        """The bot's messages in a chat, as dicts with BotMessage's fields."""
        return list(self._get("messages", chat_id=chat_id))

    def transcript(self, chat_id: int) -> str:
        """The chat as a person would read it."""
        res = self._http.get(f"{self.control_url}/transcript", params={"chat_id": chat_id})
        res.raise_for_status()
        return res.text

    def log(self, since: int = 0) -> list[dict[str, Any]]:
        """Bot API calls from index ``since`` on, as dicts with CallRecord's fields."""
        return list(self._get("log", since=since))

    def stats(self) -> dict[str, Any]:
        """Counters (``by_chat`` keys are strings in JSON)."""
        return dict(self._get("stats"))

    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates the bot has not confirmed yet."""
        return list(self._get("pending_updates"))

    def callback_answers(self) -> dict[str, Any]:
        """Answers to callback queries by query id."""
        return dict(self._get("callback_answers"))

    def block(self, chat_id: int) -> None:
        """Make sends to that chat fail with 403."""
        self._post("block", {"chat_id": chat_id})

    def unblock(self, chat_id: int) -> None:
        """Undo ``block``."""
        self._post("unblock", {"chat_id": chat_id})

    def fail_next(self, n: int, status: int = 502, description: str | None = None) -> None:
        """Make the next n send calls fail (with Telegram's ``description`` if given)."""
        body: dict[str, Any] = {"n": n, "status": status}
        if description is not None:
            body["description"] = description
        self._post("fail_next", body)

    def garble_next(self, n: int) -> None:
        """Make the next n send calls take effect but answer an unreadable body."""
        self._post("garble_next", {"n": n})

    def delay(self, seconds: float) -> None:
        """Hold every response this long."""
        self._post("delay", {"seconds": seconds})

    def set_limits(self, enabled: bool) -> None:
        """Turn flood limits on or off."""
        self._post("limits", {"enabled": enabled})

    def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
        """Poll ``predicate`` until truthy; return its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"condition not met within {timeout}s")
            time.sleep(0.02)

    def __enter__(self) -> ControlClient:
        """Use as ``with spawn_process(...) as client:``."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop the process on the way out."""
        self.close()

    def close(self) -> None:
        """Close the HTTP client and end the process if we started it."""
        self._http.close()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def spawn_process(
    token: str = "123456:TEST",
    *,
    port: int = 0,
    state_file: str | os.PathLike[str] | None = None,
    limits: bool = True,
    cwd: str | os.PathLike[str] | None = None,
    webhook_connections: int = 1,
) -> ControlClient:
    """Start the stand-in as a subprocess; returns a client (``close()`` stops it)."""
    cmd = [sys.executable, "-m", "tests.auxil.botapi", "--port", str(port), "--token", token]
    if state_file is not None:
        cmd += ["--state-file", str(state_file)]
    if not limits:
        cmd.append("--no-limits")
    if webhook_connections > 1:
        cmd += ["--webhook-connections", str(webhook_connections)]
    root = cwd or Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        proc.kill()
        raise RuntimeError(f"stand-in did not start: {line!r}")
    return ControlClient(line.removeprefix("READY "), proc)


async def _serve(args: argparse.Namespace) -> None:
    """Run until SIGTERM/SIGINT."""
    import signal

    api = BotApiStandIn(args.token, host=args.host, port=args.port, limits=not args.no_limits,
                        state_file=args.state_file, webhook_connections=args.webhook_connections)
    await api.start()
    print(f"READY {api.base_url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await api.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line entry point: ``python -m tests.auxil.botapi``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--token", default="123456:TEST")
    parser.add_argument("--state-file", default=None)
    parser.add_argument("--no-limits", action="store_true")
    parser.add_argument("--webhook-connections", type=int, default=1,
                        help="POSTs to a webhook at once (1: in order, one at a time)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
