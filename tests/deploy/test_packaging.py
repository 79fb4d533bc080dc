"""Deployment files agree with the code: no Docker engine runs here, so parse them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from sqlalchemy import make_url

from bot.settings import DEFAULT_DATABASE_URL, Settings
from db.migrate import ROOT
from tests.deploy.files import arguments_of, compose, dockerfile_stages, image_cmd, image_commands

SETTING_NAMES = {name.upper() for name in Settings.model_fields}
#: What compose substitutes into its file: `${NAME}`, `${NAME:-default}`, `${NAME:?error}`.
COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)")
#: Patch (Python) or minor (PostgreSQL, Redis) releases: a rebuild never jumps a minor.
PINNED = {
    "python": re.compile(r"^python:3\.11\.\d+-slim$"),
    "postgres": re.compile(r"^postgres:16\.\d+$"),
    "redis": re.compile(r"^redis:7\.\d+$"),
}


def compose_variables() -> set[str]:
    return set(COMPOSE_VARIABLE.findall((ROOT / "docker-compose.yml").read_text()))


def test_compose_runs_the_bot_on_postgres_16_and_redis_7() -> None:
    services = compose()["services"]
    assert set(services) == {"bot", "postgres", "redis"}
    assert PINNED["postgres"].match(services["postgres"]["image"])
    assert PINNED["redis"].match(services["redis"]["image"])
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"


def test_every_image_is_pinned_to_a_minor_version() -> None:
    stages = dockerfile_stages()
    names = {stage[0].arguments.split()[0] for stage in stages}
    images = names | {
        service["image"] for service in compose()["services"].values() if "image" in service
    }
    assert len(images) == 3, images  # one Python for both stages
    for image in images:
        assert PINNED[image.split(":")[0]].match(image), f"{image} is not pinned to a minor"


def test_the_bot_waits_for_healthy_services_and_migrates_first() -> None:
    bot = compose()["services"]["bot"]
    assert bot["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }
    migrate, run = image_commands()
    assert migrate == ["lockdown", "db", "upgrade"]
    assert run == ["lockdown", "run"] == image_cmd()


def test_the_bot_is_healthy_when_ready_on_its_http_port() -> None:
    bot = compose()["services"]["bot"]
    port = bot["environment"]["HTTP_PORT"]
    assert re.fullmatch(r"\$\{HTTP_PORT:-\d+\}", port), port
    test = bot["healthcheck"]["test"]
    # The slim image has no curl: Python's urlopen, which fails on anything but 2xx.
    assert test[:3] == ["CMD", "python", "-c"]
    assert "urllib.request.urlopen(" in test[3]
    assert "os.environ['HTTP_PORT']" in test[3]
    assert "/readyz" in test[3]
    assert bot["healthcheck"]["start_period"]  # shards take a while to connect


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


def test_env_example_documents_every_setting_and_every_compose_variable() -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    keys = [line.split("=", 1)[0] for line in lines if re.match(r"^[A-Z_]+=", line)]
    assert {"DISCORD_TOKEN", "POSTGRES_PASSWORD", "HTTP_PORT"} <= compose_variables()
    assert sorted(keys) == sorted(SETTING_NAMES | compose_variables())
    for index, line in enumerate(lines):
        if re.match(r"^[A-Z_]+=", line) and not lines[index - 1].startswith("#"):
            # a key may share the comment of the key right above it
            assert re.match(r"^[A-Z_]+=", lines[index - 1]), f"{line} has no comment"


def test_the_image_runs_as_a_non_root_user_who_can_write_the_default_sqlite_file() -> None:
    final = dockerfile_stages()[-1]
    user = arguments_of(final, "USER")[-1]
    assert user not in {"root", "0"}
    runs = " && ".join(arguments_of(final, "RUN"))
    assert re.search(rf"useradd [^&]*\b{user}\b", runs), "the user is created"
    workdir = arguments_of(final, "WORKDIR")[-1]
    database = make_url(DEFAULT_DATABASE_URL).database
    assert database is not None
    assert (Path(workdir) / database).parent == Path(workdir)  # ./lockdown.db
    assert re.search(rf"chown {user}(:{user})? {re.escape(workdir)}(\s|$)", runs), (
        f"{user} cannot write {workdir}, where the default SQLite file goes"
    )


def test_the_image_builds_from_every_source_the_package_needs() -> None:
    """`pip install .` in the build stage sees only what was copied in."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    directories = {
        setuptools["package-dir"].get(package, package.replace(".", "/")).split("/")[0]
        for package in setuptools["packages"]
    }
    copied = {
        source
        for arguments in arguments_of(dockerfile_stages()[0], "COPY")
        for source in arguments.split()[:-1]
    }
    assert directories | {"pyproject.toml", "README.md"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not directories & set(ignored)


def test_the_package_list_is_complete() -> None:
    """The packages are listed (pyproject.toml says why): a new one must be added there."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("bot", "db", "cogs")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found <= set(setuptools["packages"]), "add the new package to pyproject.toml"
    assert setuptools["package-dir"] == {"db.migrations": "migrations"}


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
