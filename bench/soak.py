"""A soak: moderation actions while the bot is SIGKILLed and the database goes away.

Target (issue "never half-done"): after 1,000 moderation actions on each backend,
with the bot killed at random points and the database unavailable for stretches,
Discord's state and the case log agree for every member: banned on Discord if and
only if an active ban case, timed out if and only if an active mute case; no case
recorded twice; every DM that names a case names one that happened, or was taken
back; nothing left pending.

    python -m bench.soak --actions 1000 --backend sqlite --seed 7

The real bot runs as a subprocess against the Discord emulator, on a fresh
database migrated by Alembic; see `tests/e2e/soak_support.py` for what the
workers, the chaos and the checks do. The same soak runs at a reduced size in
the suite (`tests/e2e/test_soak.py`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from bench.common import BACKENDS, fresh_database
from tests.e2e.soak_support import KILL_MODES, SoakPlan, SoakResult, run_soak
from tests.emulator import DiscordEmulator

__all__ = ["KILL_MODES", "SoakPlan", "main", "run_backend"]


async def run_backend(backend: str, plan: SoakPlan) -> SoakResult:
    async with fresh_database(backend) as url, DiscordEmulator() as emulator:
        result = await run_soak(emulator, backend, url, plan, progress=_print)
        if emulator.internal_errors:
            result.disagreements.append(f"the emulator failed: {emulator.internal_errors!r}")
    return result


def save_logs(directory: Path, backend: str, result: SoakResult) -> None:
    """Every bot process's output, and every command with its outcome (JSON lines)."""
    directory.mkdir(parents=True, exist_ok=True)
    for number, output in enumerate(result.bot_outputs, 1):
        (directory / f"{backend}-{number}.log").write_text(output + "\n")
    with (directory / f"{backend}-commands.jsonl").open("w") as commands:
        for c in result.commands:
            options = {k: v for k, v in c.options.items() if k not in ("user", "member")}
            row = {
                "index": c.index, "command": c.name, "target": c.target.username,
                "options": options, "generation": c.generation, "sent_at": round(c.sent_at, 3),
                "answered_at": round(c.answered_at, 3), "outcome": c.outcome, "reply": c.text,
            }  # fmt: skip
            commands.write(json.dumps(row) + "\n")


def _print(line: str) -> None:
    print(line, flush=True)


async def main(
    plan: SoakPlan, backends: list[str], *, logs: Path | None = None, timeline: bool = False
) -> int:
    """Soak each backend in turn; 1 if any disagreed. With `logs`, every bot
    process's output goes to `<logs>/<backend>-<n>.log`."""
    print(f"soak  seed {plan.seed} (rerun with --seed {plan.seed})", flush=True)
    failed = 0
    for backend in backends:
        result = await run_backend(backend, plan)
        print(result.table(), flush=True)
        if timeline:
            for at, what in result.chaos:
                print(f"soak  {at:8.2f} s  {what}", flush=True)
            for text in result.remarks:  # members behind an observation worth a look
                print(text.replace("---", "--- (observed)", 1), flush=True)
        for text in result.stories:  # what happened to each member that disagreed
            print(text, flush=True)
        if logs is not None:
            save_logs(logs, backend, result)
        failed += bool(result.disagreements)
    return 1 if failed else 0


def _parse() -> Any:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=1_000)
    parser.add_argument("--backend", choices=BACKENDS, action="append")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--concurrency", type=int, default=5)
    parser.add_argument("--members", type=int, default=60)
    parser.add_argument("--kills", type=int, default=None, help="default: one per 60 actions")
    parser.add_argument("--outages", type=int, default=None, help="default: one per 120 actions")
    parser.add_argument(
        "--kill-mode",
        choices=KILL_MODES,
        action="append",
        help="the ways to kill, taken in turn (default: all of them)",
    )
    parser.add_argument("--settle-seconds", type=float, default=4.0)
    parser.add_argument(
        "--warp-leases",
        action="store_true",
        help="expire dead processes' member leases at each restart instead of waiting 90 s",
    )
    parser.add_argument("--logs", type=Path, default=None, help="directory for the bots' output")
    parser.add_argument("--timeline", action="store_true", help="print the chaos timeline")
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse()
    soak_plan = SoakPlan(
        actions=args.actions,
        seed=args.seed if args.seed is not None else secrets.randbelow(1_000_000),
        concurrency=args.concurrency,
        members=args.members,
        kills=args.kills,
        outages=args.outages,
        settle_seconds=args.settle_seconds,
        warp_leases=args.warp_leases,
        kill_modes=tuple(args.kill_mode or KILL_MODES),
    )
    sys.exit(
        asyncio.run(
            main(soak_plan, args.backend or list(BACKENDS), logs=args.logs, timeline=args.timeline)
        )
    )
