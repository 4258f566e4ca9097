"""The python-telegram-bot layer: updates in, Bot API calls out, nothing else.

Each handler translates an update into one `Conversation` call (run in a worker thread,
because the database is synchronous) and the returned `Reply` into answerCallbackQuery,
editMessageText and sendMessage calls. Replies of several messages (/mine, /team) are paced
per chat as Telegram demands: what the chat's allowance permits goes at once from the
handler, the rest from a background task (`Application.create_task`), so nobody else's
update waits for the pauses. Expected Telegram errors are handled where they occur (a flood
wait is waited out and that one send retried); anything else reaches the one global error
handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram import (
    Message as TgMessage,
)
from telegram.error import BadRequest, Forbidden, RetryAfter, TelegramError
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from handlers import render
from handlers.conversation import Conversation, Quoted, Reply
from handlers.pacing import ChatPacer, retry_seconds
from models.buttons import Button, Message

logger = logging.getLogger(__name__)

CONVERSATION_KEY = "conversation"
PACER_KEY = "chat_pacer"
SEND_ATTEMPTS = 3  # one send waits out at most this many flood waits before giving up


def markup(keyboard: Sequence[Sequence[Button]] | None) -> InlineKeyboardMarkup | None:
    """Rows of (label, callback data) as Telegram's inline keyboard."""
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(label, callback_data=data) for label, data in row]
            for row in keyboard
        ]
    )


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    """The conversation registered with this application."""
    conversation: Conversation = context.application.bot_data[CONVERSATION_KEY]
    return conversation


async def _call(
    context: ContextTypes.DEFAULT_TYPE, method: Callable[..., Reply], **kwargs: Any
) -> Reply:
    """Run one conversation step: inline on SQLite (one writer anyway), else in a thread.

    SQLite serialises writers, so a worker thread buys no parallelism there and only adds
    GIL hand-overs to every press (it doubled the press latency in benchmarks/press.py); a
    server database gets real concurrency from threads. The price on SQLite: while another
    process holds the write lock (a large import), the loop waits with the press.
    """
    if _conversation(context).inline:
        return method(**kwargs)
    return await asyncio.to_thread(method, **kwargs)


def _user_data(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    """Per-user scratch space (the /alert draft); a throwaway dict when there is no user."""
    data = context.user_data
    return data if data is not None else {}


def _pacer(context: ContextTypes.DEFAULT_TYPE) -> ChatPacer:
    """The per-chat pacer shared by every handler of this application."""
    pacer: ChatPacer = context.application.bot_data[PACER_KEY]
    return pacer


async def _send(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, message: Message, *, wait: bool = True
) -> None:
    """Send one message (already counted by the pacer); a blocked chat is logged, not an error.

    A flood wait (429) is waited out and this one send retried, unless `wait` is off (the
    handler then hands the message to the background instead of sleeping).
    """
    pacer = _pacer(context)
    for attempt in range(1, SEND_ATTEMPTS + 1):
        started = pacer.clock()
        try:
            await context.bot.send_message(
                chat_id, message.text, reply_markup=markup(message.keyboard)
            )
        except RetryAfter as exc:
            seconds = retry_seconds(exc)
            pacer.hold(chat_id, seconds)
            if not wait or attempt == SEND_ATTEMPTS:
                raise
            logger.info("flood control in chat %s: retrying in %.1fs", chat_id, seconds)
            await asyncio.sleep(seconds)
            pacer.take(chat_id)
            continue
        except Forbidden:
            logger.info("chat %s has blocked the bot; reply not delivered", chat_id)
        else:
            pacer.settle(chat_id, started)
        return


async def _drain(context: ContextTypes.DEFAULT_TYPE, chat_id: int) -> None:
    """Background: send a chat's queued messages in order, one per allowance, then stop."""
    pacer = _pacer(context)
    failure: TelegramError | None = None
    try:
        while queue := pacer.queues.get(chat_id):
            delay = pacer.wait(chat_id)
            if delay > 0:
                await asyncio.sleep(delay)
                continue
            message = queue.popleft()
            pacer.take(chat_id)
            try:
                await _send(context, chat_id, message)
            except TelegramError as exc:  # the rest still go; the first failure is reported
                logger.warning("queued message to chat %s failed: %s", chat_id, exc)
                failure = failure or exc
    finally:
        pacer.draining.discard(chat_id)
        left = pacer.queues.pop(chat_id, None)
        if left:
            logger.warning("%d queued message(s) to chat %s not sent", len(left), chat_id)
    if failure is not None:
        raise failure


def _start_drain(context: ContextTypes.DEFAULT_TYPE, chat_id: int, update: object) -> None:
    """One background sender per chat with queued messages."""
    pacer = _pacer(context)
    if pacer.busy(chat_id) and chat_id not in pacer.draining:
        pacer.draining.add(chat_id)
        context.application.create_task(
            _drain(context, chat_id), update=update, name=f"paced-replies-{chat_id}"
        )


async def _send_all(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, messages: Sequence[Message], update: object
) -> None:
    """Send in order at Telegram's pace without making this handler sleep.

    The chat's burst allowance goes now; the rest (and anything behind an earlier reply
    still queued) is sent by a background task, so the person gets every message and
    other people's updates are not held up by the pauses.
    """
    if not messages:
        return
    pacer = _pacer(context)
    now = pacer.split(chat_id, list(messages))
    try:
        for i, message in enumerate(now):
            try:
                await _send(context, chat_id, message, wait=False)
            except RetryAfter:
                pacer.requeue(chat_id, now[i:])
                break
    finally:
        _start_drain(context, chat_id, update)


async def _edit(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int, message: Message
) -> None:
    """Edit a message in place; "not modified" (a double tap) and vanished messages are fine."""
    try:
        await context.bot.edit_message_text(
            message.text,
            chat_id=chat_id,
            message_id=message_id,
            reply_markup=markup(message.keyboard),
        )
    except BadRequest as exc:
        text = str(exc).lower()
        if "not modified" in text:
            return
        if "not found" in text or "can't be edited" in text:
            logger.info("message %s in chat %s can no longer be edited", message_id, chat_id)
            _pacer(context).take(chat_id)
            await _send(context, chat_id, message)
            return
        raise
    except Forbidden:
        logger.info("chat %s has blocked the bot; edit not delivered", chat_id)


async def _answer(query: CallbackQuery, text: str | None) -> None:
    """Stop the button's spinner; an expired query is not worth an error."""
    try:
        await query.answer(text or None)
    except BadRequest as exc:
        logger.info("callback answer failed: %s", exc)


async def _apply(
    context: ContextTypes.DEFAULT_TYPE,
    update: Update,
    chat_id: int,
    reply: Reply,
    query: CallbackQuery | None,
) -> None:
    """Carry out a Reply: answer the press and edit at the same time, then send, paced."""
    jobs = []
    if query is not None:
        jobs.append(_answer(query, reply.answer))
    if reply.edit is not None and reply.edit_message_id:
        jobs.append(_edit(context, chat_id, reply.edit_message_id, reply.edit))
    if jobs:
        await asyncio.gather(*jobs)
    await _send_all(context, chat_id, reply.send, update)


def _quoted(message: TgMessage, bot_id: int) -> Quoted | None:
    """What a text replies to, with the replied message's buttons (ours only)."""
    original = message.reply_to_message
    if original is None:
        return None
    from_bot = original.from_user is not None and original.from_user.id == bot_id
    data: list[str] = []
    if from_bot and original.reply_markup is not None:
        for row in original.reply_markup.inline_keyboard:
            data.extend(str(b.callback_data) for b in row if isinstance(b.callback_data, str))
    return Quoted(original.message_id, from_bot, tuple(data))


async def on_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/start, /help, /mine, /alert, /team and unknown commands."""
    message, user, chat = update.message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or not message.text:
        return
    head, *args = message.text.split()
    name, _, mention = head[1:].partition("@")
    if mention and mention.lower() != (context.bot.username or "").lower():
        return
    reply = await _call(
        context,
        _conversation(context).command,
        user_id=user.id,
        chat_id=chat.id,
        chat_type=chat.type,
        name=name.lower(),
        args=args,
        user_data=_user_data(context),
    )
    await _apply(context, update, chat.id, reply, None)


async def on_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Typed text, usually a reply to a reminder."""
    message, user, chat = update.message, update.effective_user, update.effective_chat
    if message is None or user is None or chat is None or message.text is None:
        return
    reply = await _call(
        context,
        _conversation(context).text,
        user_id=user.id,
        chat_id=chat.id,
        chat_type=chat.type,
        text=message.text,
        quoted=_quoted(message, context.bot.id),
        user_data=_user_data(context),
    )
    await _apply(context, update, chat.id, reply, None)


async def on_other(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Photos, stickers, voice notes: a hint, never stored."""
    user, chat = update.effective_user, update.effective_chat
    if update.message is None or user is None or chat is None:
        return
    reply = await _call(context, _conversation(context).other, user_id=user.id, chat_type=chat.type)
    await _apply(context, update, chat.id, reply, None)


async def on_press(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A tap on an inline button."""
    query = update.callback_query
    if query is None:
        return
    message = query.message
    chat = message.chat if message is not None else None
    chat_id = chat.id if chat is not None else query.from_user.id
    reply = await _call(
        context,
        _conversation(context).press,
        user_id=query.from_user.id,
        chat_id=chat_id,
        chat_type=chat.type if chat is not None else "private",
        message_id=message.message_id if message is not None else None,
        data=query.data if isinstance(query.data, str) else None,
        user_data=_user_data(context),
    )
    await _apply(context, update, chat_id, reply, query)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one global error handler: full traceback to the log, a brief apology to the person."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(render.ERROR)
        elif update.effective_chat is not None and update.effective_chat.type == "private":
            await context.bot.send_message(update.effective_chat.id, render.ERROR)
    except TelegramError:
        logger.warning("could not tell the person about the error", exc_info=True)


def register(app: Application[Any, Any, Any, Any, Any, Any], conversation: Conversation) -> None:
    """Attach the conversation's handlers and the global error handler to an application."""
    app.bot_data[CONVERSATION_KEY] = conversation
    app.bot_data.setdefault(PACER_KEY, ChatPacer())
    new = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(new & filters.COMMAND, on_command))
    app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_press))
    app.add_handler(MessageHandler(new & ~filters.TEXT, on_other))
    app.add_error_handler(on_error)
