"""The `irobot` console script: parses arguments and hands each command its context."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from types import ModuleType

logger = logging.getLogger(__name__)

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("bot.commands.demo", "run a synthetic caseload through the real engine, no token"),
    "run": (
        "bot.commands.run",
        "start the bot (needs TELEGRAM_BOT_TOKEN): long polling or a webhook, plus the jobs",
    ),
    "db": (
        "bot.commands.db",
        "`db upgrade` creates or migrates the schema (back up first); `db resync` recomputes "
        "deadlines after a policy change",
    ),
    "import": (
        "bot.commands.importing",
        "import staff, plans, conferences, alerts or absences from CSV",
    ),
    "invite": ("bot.commands.invite", "create a one-time link code for a member of staff"),
    "tick": (
        "bot.commands.tick",
        "one scan and dispatch pass, then exit; sends only (no /start, buttons or replies: "
        "those need `irobot run`); --dry-run previews",
    ),
    "worker": (
        "bot.commands.worker",
        "the scheduler jobs without the chat: --once, or --loop beside `irobot run`",
    ),
    "report": ("bot.commands.report", "timeliness figures as a table or CSV"),
    "check": ("bot.commands.check", "the go-live check: one line per item, ok / warn / FAIL"),
    "audit": ("bot.commands.audit", "one child's audit trail as CSV; purge months past retention"),
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(COMMANDS[name][0])


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """Every sub-command; only `only`'s module is imported for its options (start-up time)."""
    parser = argparse.ArgumentParser(prog="irobot", description="IRObot: CP plan reminders.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at debug level")
    parser.add_argument("--version", action="version", version=f"irobot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if only is None or name == only:
            _load(name).add_arguments(command_parser)
    return parser


def _version() -> str:
    """The installed distribution's version (what `pip install` put there)."""
    try:
        return metadata.version("irobot")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _fail(message: str, code: int = 1) -> int:
    print(f"irobot: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 success, 1 failure, 2 usage)."""
    words = list(sys.argv[1:] if argv is None else argv)
    chosen = next((word for word in words if word in COMMANDS), "")
    parser = build_parser(only=chosen)
    args = parser.parse_args(words)
    # Imported once the arguments are known: `irobot --help` needs none of them.
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from bot.context import CommandError, build_context
    from bot.logs import configure_logging
    from bot.settings import Settings, describe
    from scheduler.policy import PolicyError

    try:
        settings = Settings()  # first: logging must know the token before anything logs
    except ValidationError as exc:
        return _fail(describe(exc))  # `IROBOT_X: what is wrong`, one line
    except Exception as exc:  # e.g. an unreadable .env: still one line, never a traceback
        return _fail(f"invalid settings ({type(exc).__name__}): {_one_line(exc)}")
    configure_logging(
        verbose=args.verbose,
        secrets=[settings.telegram_bot_token or "", settings.webhook_secret or ""],
    )
    module = _load(args.command)
    try:
        if getattr(module, "BUILDS_OWN_CONTEXT", False):
            return int(module.run(args, settings))
        # `db upgrade` is the one command that migrates a database holding data.
        migrating = args.command == "db" and getattr(args, "action", None) == "upgrade"
        ctx = build_context(settings, upgrade=not migrating)
        return int(module.run(args, ctx))
    except CommandError as exc:
        return _fail(str(exc))
    except PolicyError as exc:
        return _fail(str(exc))
    except ValidationError as exc:
        return _fail(describe(exc))  # `IROBOT_X: what is wrong`, one line
    except SQLAlchemyError as exc:
        logger.debug("database error", exc_info=True)
        return _fail(f"database error: {_one_line(exc.orig if hasattr(exc, 'orig') else exc)}")
    except BrokenPipeError:
        # `irobot tick --dry-run | head`: the reader left; say nothing more.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # the CLI promises one line on stderr, never a traceback
        if _is_telegram_error(exc):
            logger.debug("Telegram error", exc_info=True)
            return _fail(f"Telegram Bot API: {type(exc).__name__}: {_one_line(exc)}")
        logger.debug("unexpected error", exc_info=True)
        return _fail(f"unexpected error ({type(exc).__name__}): {_one_line(exc)}; -v for details")


def _is_telegram_error(exc: BaseException) -> bool:
    """A PTB error, checked without importing PTB: a command that never loaded it raised none."""
    module = sys.modules.get("telegram.error")
    return module is not None and isinstance(exc, module.TelegramError)


def _one_line(exc: object) -> str:
    """The first line of an error, trimmed: the CLI's contract is one line on stderr."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else "")[:200]


if __name__ == "__main__":
    sys.exit(main())
