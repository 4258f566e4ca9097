"""`irobot tick`: placeholder until its issue lands."""

from __future__ import annotations

import argparse

from bot.context import AppContext, CommandError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """No options yet."""


def run(args: argparse.Namespace, ctx: AppContext) -> int:
    """Not built yet: say so plainly."""
    raise CommandError("this command is not available yet")
