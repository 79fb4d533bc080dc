"""Deployment files agree with the code: no Docker engine runs here, so parse them."""

from __future__ import annotations

import re
import tomllib

import yaml

from bot.settings import Settings
from db.migrate import ROOT

SETTING_NAMES = {name.upper() for name in Settings.model_fields}


def compose() -> dict[str, object]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def test_compose_runs_the_bot_on_postgres_16_and_redis_7() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert set(services) == {"bot", "postgres", "redis"}
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"


def test_the_bot_waits_for_healthy_services_and_migrates_first() -> None:
    bot = compose()["services"]["bot"]  # type: ignore[index]
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    command = " ".join(bot["command"])
    assert command.index("lockdown db upgrade") < command.index("lockdown run")


def test_postgres_keeps_its_data_in_a_named_volume() -> None:
    document = compose()
    volumes = document["services"]["postgres"]["volumes"]  # type: ignore[index]
    named = {v.split(":")[0] for v in volumes}
    assert named == set(document["volumes"])  # type: ignore[arg-type]
    assert any(v.endswith(":/var/lib/postgresql/data") for v in volumes)


def test_bot_environment_names_are_settings_and_urls_reach_the_services() -> None:
    environment = compose()["services"]["bot"]["environment"]  # type: ignore[index]
    assert set(environment) <= SETTING_NAMES
    assert environment["DATABASE_URL"].startswith("postgresql://")
    assert "@postgres:5432/" in environment["DATABASE_URL"]
    assert environment["REDIS_URL"].startswith("redis://redis:6379")


def test_env_example_documents_every_setting() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)]
    assert sorted(keys) == sorted(SETTING_NAMES)
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line) and not lines[index - 1].startswith("#"):
            # a key may share the comment of the key right above it
            assert re.match(r"^[A-Z_]+=", lines[index - 1]), f"{line} has no comment"


def test_dockerfile_runs_as_a_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.M)
    assert users
    assert users[-1] not in {"root", "0"}
    assert 'CMD ["lockdown", "run"]' in dockerfile


def test_pyproject_pins_the_stack_and_the_console_script() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    dependencies = " ".join(project["dependencies"])
    for package in ("discord.py>=2.7", "SQLAlchemy", "aiosqlite", "asyncpg", "alembic", "redis"):
        assert package in dependencies
    assert "pydantic-settings" in dependencies
    dev = " ".join(project["optional-dependencies"]["dev"])
    for package in ("pytest", "pytest-asyncio", "pytest-alembic", "hypothesis", "ruff", "mypy"):
        assert package in dev
    assert project["scripts"]["lockdown"] == "bot.cli:main"


def test_readme_starts_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:15]
    commands = [line.strip() for line in head if line.strip().startswith("make ")]
    assert commands == ["make run", "make test"]
