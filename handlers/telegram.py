"""The python-telegram-bot layer: updates in, Bot API calls out, nothing else.

Each handler translates an update into one `Conversation` call (run in a worker thread,
because the database is synchronous) and the returned `Reply` into answerCallbackQuery,
editMessageText and sendMessage calls, all through the one `TelegramSender` (its error map)
and so through the bot's one rate limiter, which paces each chat and the bot as Telegram
demands and waits out a flood wait. A reply's messages go from a background task
(`Application.create_task`), in order and behind any earlier reply to the same chat, so the
handler and nobody else's update waits for the pauses. Expected Telegram errors are handled
where they occur; anything else reaches the one global error handler.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from telegram import Message as TgMessage
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ContextTypes, MessageHandler, filters

from handlers import render
from handlers.conversation import Conversation, Quoted, Reply
from handlers.sender import TelegramSender
from models.buttons import Message
from scheduler.pacing import Lines
from scheduler.senders import SendBadRequest, SendError, SendForbidden

logger = logging.getLogger(__name__)

CONVERSATION_KEY = "conversation"
SENDER_KEY = "telegram_sender"
LINES_KEY = "reply_lines"


def _conversation(context: ContextTypes.DEFAULT_TYPE) -> Conversation:
    """The conversation registered with this application."""
    conversation: Conversation = context.application.bot_data[CONVERSATION_KEY]
    return conversation


async def _call(
    context: ContextTypes.DEFAULT_TYPE, method: Callable[..., Reply], **kwargs: Any
) -> Reply:
    """Run one conversation step inline (the conversation says so), else in a thread.

    A press is mostly Python, so a worker thread buys little and adds GIL hand-overs to
    every press: on SQLite it doubled the press latency; on PostgreSQL at 50 presses/s the
    p95 is 11 ms inline against 26 ms in threads, and at 100/s threads fall behind
    (benchmarks/press.py). The price: while a row or SQLite's write lock is held elsewhere (a
    large import), the loop waits with the press; several processes behind one webhook
    (README) keep serving meanwhile.
    """
    if _conversation(context).inline:
        return method(**kwargs)
    return await asyncio.to_thread(method, **kwargs)


def _user_data(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    """Per-user scratch space (the /alert draft); a throwaway dict when there is no user."""
    data = context.user_data
    return data if data is not None else {}


def _sender(context: ContextTypes.DEFAULT_TYPE) -> TelegramSender:
    """The one Telegram sender, on this application's (rate limited) bot."""
    sender: TelegramSender = context.application.bot_data[SENDER_KEY]
    return sender


async def _send_in_line(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, messages: Sequence[Message]
) -> None:
    """Background: one reply's messages in order, after the chat's earlier replies.

    A blocked chat is logged, not an error; any other failure does not stop the rest, and
    the first is raised at the end for the error handler.
    """
    lines: Lines = context.application.bot_data[LINES_KEY]
    sender = _sender(context)
    failure: SendError | None = None
    async with lines.turn(chat_id):
        for message in messages:
            try:
                await sender.reply(chat_id, message)
            except SendForbidden:
                logger.info("chat %s has blocked the bot; reply not delivered", chat_id)
            except SendError as exc:
                logger.warning("reply to chat %s failed: %s", chat_id, exc)
                failure = failure or exc
    if failure is not None:
        raise failure


def _send_all(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, messages: Sequence[Message], update: object
) -> None:
    """Hand a reply to the background, so this handler does not wait for Telegram's pace."""
    if messages:
        context.application.create_task(
            _send_in_line(context, chat_id, list(messages)),
            update=update,
            name=f"reply-{chat_id}",
        )


async def _edit(
    context: ContextTypes.DEFAULT_TYPE, chat_id: int, message_id: int, message: Message
) -> bool:
    """Edit a message in place; False when it can no longer be edited (send it anew instead).

    "Not modified" (a double tap) is fine, and so is a chat that blocked the bot.
    """
    try:
        await _sender(context).edit(chat_id, message_id, message)
    except SendBadRequest as exc:
        text = str(exc).lower()
        if "not modified" in text:
            return True
        if "not found" in text or "can't be edited" in text:
            logger.info("message %s in chat %s can no longer be edited", message_id, chat_id)
            return False
        raise
    except SendForbidden:
        logger.info("chat %s has blocked the bot; edit not delivered", chat_id)
    return True


async def _answer(context: ContextTypes.DEFAULT_TYPE, query_id: str, text: str | None) -> None:
    """Stop the button's spinner; an expired query is not worth an error."""
    try:
        await _sender(context).answer(query_id, text)
    except (SendBadRequest, SendForbidden) as exc:
        logger.info("callback answer failed: %s", exc)


async def _apply(
    context: ContextTypes.DEFAULT_TYPE,
    update: Update,
    chat_id: int,
    reply: Reply,
    query_id: str | None,
) -> None:
    """Carry out a Reply: answer the press and edit at the same time, then send, paced.

    A message that can no longer be edited goes as a new one, first in the reply's line.
    """
    edit, message_id = reply.edit, reply.edit_message_id
    jobs: list[Awaitable[bool | None]] = []
    if query_id is not None:
        jobs.append(_answer(context, query_id, reply.answer))
    if edit is not None and message_id:
        jobs.append(_edit(context, chat_id, message_id, edit))
    done = await asyncio.gather(*jobs)
    messages = list(reply.send)
    if edit is not None and message_id and done[-1] is False:  # the edit is the last job
        messages.insert(0, edit)
    _send_all(context, chat_id, messages, update)


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
    await _apply(context, update, chat_id, reply, query.id)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one global error handler: full traceback to the log, a brief apology to the person."""
    logger.error("error while handling an update", exc_info=context.error)
    if not isinstance(update, Update):
        return
    sender = _sender(context)
    try:
        if update.callback_query is not None:
            await sender.answer(update.callback_query.id, render.ERROR)
        elif update.effective_chat is not None and update.effective_chat.type == "private":
            await sender.reply(update.effective_chat.id, Message(render.ERROR))
    except SendError:
        logger.warning("could not tell the person about the error", exc_info=True)


def register(app: Application[Any, Any, Any, Any, Any, Any], conversation: Conversation) -> None:
    """Attach the conversation's handlers and the global error handler to an application."""
    app.bot_data[CONVERSATION_KEY] = conversation
    app.bot_data[SENDER_KEY] = TelegramSender(app.bot)
    app.bot_data[LINES_KEY] = Lines()  # replies to one chat in order, one after another
    new = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(new & filters.COMMAND, on_command))
    app.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, on_text))
    app.add_handler(CallbackQueryHandler(on_press))
    app.add_handler(MessageHandler(new & ~filters.TEXT, on_other))
    app.add_error_handler(on_error)
