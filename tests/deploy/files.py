"""The deployment files, read as Docker would: no Docker engine runs here."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from db.migrate import ROOT


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY...
    arguments: str


def dockerfile_stages() -> list[list[Instruction]]:
    """The Dockerfile's instructions, continuation lines joined, split into stages
    (each starting with its FROM)."""
    logical: list[str] = []
    pending = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += stripped.removesuffix("\\").strip() + " "
        if not stripped.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    stages: list[list[Instruction]] = []
    for text in logical:
        keyword, _, arguments = text.partition(" ")
        instruction = Instruction(keyword.upper(), arguments.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def arguments_of(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.arguments for i in stage if i.keyword == keyword]


def image_cmd() -> list[str]:
    """The final image's CMD, in exec form."""
    (cmd,) = arguments_of(dockerfile_stages()[-1], "CMD")
    parsed = json.loads(cmd)
    assert isinstance(parsed, list)
    return [str(part) for part in parsed]


def image_commands() -> tuple[list[str], list[str]]:
    """What the bot's container runs, in order: the migration, then the bot.

    Compose runs `sh -c "MIGRATE && exec RUN"`; RUN is also the image's own CMD.
    The wheel test (test_installed.py) runs exactly these.
    """
    command = compose()["services"]["bot"]["command"]
    assert command[:2] == ["sh", "-c"], command
    assert len(command) == 3, command
    migrate, run = command[2].split(" && ")
    assert run.startswith("exec "), "the bot replaces the shell, so it gets the signals"
    return shlex.split(migrate), shlex.split(run.removeprefix("exec "))
