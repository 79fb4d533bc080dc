"""The layers stay honest: each package imports only what sits below it.

bot/domain   pure: no discord.py, SQLAlchemy, Redis or db
db/          models, sessions, repositories (may use the domain)
bot/services use cases: no discord.py
cogs/        Discord adapters: never the database
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FORBIDDEN = {
    "bot/domain": ("discord", "sqlalchemy", "redis", "asyncpg", "aiosqlite", "db", "bot.infra",
                   "bot.services", "bot.discord_side", "cogs"),
    "bot/services": ("discord", "cogs", "bot.discord_side"),
    "bot/infra": ("discord", "cogs", "bot.discord_side", "bot.services", "db"),
    "db": ("discord", "redis", "cogs", "bot.services", "bot.infra", "bot.discord_side"),
    "cogs": ("db", "sqlalchemy", "redis", "asyncpg", "aiosqlite"),
}  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any depth (inside functions too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def violations(package: str, banned: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for module in imported_modules(path):
            if any(module == b or module.startswith(b + ".") for b in banned):
                found.append(f"{path.relative_to(ROOT)} imports {module}")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert violations(package, FORBIDDEN[package]) == []


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The walker must find imports anywhere in a file, or the test above proves nothing."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from sqlalchemy import select\n    import redis.asyncio\n")
    assert imported_modules(sample) >= {"sqlalchemy", "redis.asyncio"}
