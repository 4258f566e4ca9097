"""`irobot import KIND FILE.csv`: nightly CSV exports into the database, all or nothing."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from bot.context import AppContext, CommandError
from handlers import csvfile
from handlers.csvfile import KINDS, ImportRejected
from handlers.importing import import_csv

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The INTERFACE.md options: kind, file, --dry-run, --skip-invalid."""
    parser.add_argument("kind", choices=KINDS, help="what the file holds")
    parser.add_argument("file", help="a UTF-8 CSV file with a header row ('-' for stdin)")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="validate and report what would change; write nothing",
    )
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="import the good rows and list the bad ones (default: reject the whole file)",
    )


def _too_big(name: str) -> CommandError:
    """Found by size or by reading one byte too many: a huge mistake must not fill the memory."""
    return CommandError(f"{name}: rejected, {csvfile.TOO_BIG}; nothing written")


def _read(name: str) -> bytes:
    """Bytes as they are on disk: the importer decides about encodings and BOMs."""
    limit = csvfile.MAX_FILE_BYTES
    try:
        if name == "-":
            data = sys.stdin.buffer.read(limit + 1)
        elif Path(name).stat().st_size > limit:
            raise _too_big(name)
        else:
            with Path(name).open("rb") as file:  # bounded: a pipe or device has no size
                data = file.read(limit + 1)
    except FileNotFoundError:
        raise CommandError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CommandError(f"{name}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise CommandError(f"{name}: cannot read it ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise _too_big(name)
    return data


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Import one file; bad rows go to stderr, the one-line summary to stdout.

    Dropped columns are logged by the importer (visible with `irobot -v`).
    """
    data = _read(args.file)
    now = ctx.clock()
    try:
        with ctx.session() as session:
            report = import_csv(
                session,
                args.kind,
                data,
                ctx.policy,
                now=now,
                skip_invalid=args.skip_invalid,
                dry_run=args.dry_run,
            )
    except ImportRejected as exc:
        for error in exc.errors:
            print(error, file=sys.stderr)
        raise CommandError(f"{args.file}: rejected, {exc}; nothing written") from None
    for error in report.errors:
        print(error, file=sys.stderr)
    print(report.summary())
    return 0
