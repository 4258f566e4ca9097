"""Start-up: `irobot --help`, a `tick` with nothing to do, and `irobot demo`, as whole processes.

Why: issue 13 sets the budgets on the 2-core box: `irobot --help` under 0.4 s and a tick with
nothing to do under 1 s (a command imports only what it needs; a current schema is checked
with one SELECT, without alembic), and `irobot demo` under 5 s with the same transcript.
A bare `python -c pass` is timed beside them: the interpreter's own share.
Each figure is the median wall time of several runs (the demo: of two), in a clean
environment (no `.env`, a fresh SQLite file, a Bot API URL nobody answers: a tick with
nothing due never calls it).

Run:  python benchmarks/startup.py [--runs 5]
Figures: benchmarks/RESULTS.md (python -m benchmarks).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HELP_BUDGET = 0.4
TICK_BUDGET = 1.0
DEMO_BUDGET = 5.0
DEMO_START = "2026-11-23"


@dataclass
class StartupFigures:
    """Median seconds of each command."""

    bare_python: float
    help: float
    tick: float
    demo: float


def irobot() -> list[str]:
    """The installed console script, or the module when run from a checkout."""
    script = shutil.which("irobot")
    return [script] if script else [sys.executable, "-m", "bot.cli"]


def median_run(command: list[str], env: dict[str, str], cwd: Path, runs: int) -> float:
    """Median wall time of `command` (which must succeed)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)  # fmt: skip
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(runs: int = 5, demo_runs: int = 2) -> StartupFigures:
    """Time the four commands in a clean temporary directory."""
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("IROBOT_", "TELEGRAM_"))}
        env |= {
            "IROBOT_DATABASE_URL": f"sqlite:///{cwd / 'tick.db'}",
            "IROBOT_TELEGRAM_API_URL": "http://127.0.0.1:9/bot",
            "TELEGRAM_BOT_TOKEN": "123456:STARTUP",
        }
        cli = irobot()
        subprocess.run([*cli, "db", "upgrade"], env=env, cwd=cwd, check=True,
                       capture_output=True)  # fmt: skip
        bare = median_run([sys.executable, "-c", "pass"], env, cwd, runs)
        helped = median_run([*cli, "--help"], env, cwd, runs)
        ticked = median_run([*cli, "tick"], env, cwd, runs)
        demo = median_run([*cli, "demo", "--start", DEMO_START], env, cwd, demo_runs)
    return StartupFigures(bare, helped, ticked, demo)


def main(argv: list[str] | None = None) -> int:
    """Measure and print against the budgets."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    f = measure(args.runs)
    checks = [("irobot --help", f.help, HELP_BUDGET), ("irobot tick, nothing to do", f.tick,
              TICK_BUDGET), (f"irobot demo --start {DEMO_START}", f.demo, DEMO_BUDGET)]  # fmt: skip
    print(f"python -c pass: {f.bare_python:.2f} s")
    for label, seconds, budget in checks:
        verdict = "met" if seconds < budget else "MISSED"
        print(f"{label}: {seconds:.2f} s ({verdict}: < {budget:g} s)")
    return 0 if all(seconds < budget for _, seconds, budget in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
