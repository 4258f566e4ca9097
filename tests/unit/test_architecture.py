"""The house rules no import contract can see: pure rules never read the clock."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PURE = [
    "scheduler/calendar.py",
    "scheduler/policy.py",
    "scheduler/org.py",
    "scheduler/rules.py",
    "scheduler/messages.py",
    "scheduler/derive.py",
    "scheduler/deadlines.py",
    "scheduler/timescales.py",
    "scheduler/items.py",
    "models/vocabulary.py",
    "models/buttons.py",
    "handlers/parse.py",
    "handlers/access.py",
    "handlers/render.py",
]
CLOCK_CALLS = {("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("time", "time"),
               ("time", "monotonic"), ("datetime", "today")}  # fmt: skip


def clock_reads(source: str) -> list[str]:
    """Every `datetime.now()`-like call in a module's source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
            if (name, node.func.attr) in CLOCK_CALLS:
                found.append(f"line {node.lineno}: {name}.{node.func.attr}()")
    return found


@pytest.mark.parametrize("module", PURE)
def test_a_pure_module_never_reads_the_clock(module: str) -> None:
    assert clock_reads((ROOT / module).read_text(encoding="utf-8")) == []


def test_the_clock_check_does_see_a_clock_read() -> None:
    assert clock_reads("from datetime import datetime\nx = datetime.now()\n") == [
        "line 2: datetime.now()"
    ]
