"""The slash commands as Discord will receive them: names, descriptions and
options within Discord's rules, so a sync is never refused at start-up.

The commands are read from the cog classes (discord.py collects them when a
class is created), so no cog is constructed and nothing connects to Discord.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

from discord import app_commands
from discord.ext import commands

import cogs
from bot.discord_side import client

AppCommand = app_commands.Command[Any, ..., Any] | app_commands.Group

#: Discord's rule is `^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$` for slash commands,
#: and it refuses upper case where a lower-case form exists; ours are plain ASCII.
NAME = re.compile(r"[-_a-z0-9]{1,32}")
MAX_DESCRIPTION = 100
MAX_TOP_LEVEL = 100  # global slash commands per application
MAX_CHILDREN = 25  # subcommands and subgroups per group
MAX_OPTIONS = 25
MAX_CHOICES = 25
MAX_CHOICE_NAME = 100
#: What discord.py sends when no description was written (Discord accepts it).
PLACEHOLDER = "…"
#: Options still showing the placeholder. Shrink this as they get a description;
#: the test fails if a new one appears or a listed one is fixed.
UNWRITTEN = {
    "/config moderator-role add role",
    "/config moderator-role remove role",
    "/feature enable name",
    "/feature disable name",
}


def cog_classes() -> list[type[commands.Cog]]:
    """The client's `COGS`, and any other cog in the `cogs` package (one the client
    might add by hand in `setup_hook`)."""
    found: list[type[commands.Cog]] = list(client.COGS)
    for module_info in pkgutil.iter_modules(cogs.__path__):
        module = importlib.import_module(f"{cogs.__name__}.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            defined_here = cls.__module__ == module.__name__
            if defined_here and issubclass(cls, commands.Cog) and cls not in found:
                found.append(cls)
    return found


def top_level(cog: type[commands.Cog]) -> list[AppCommand]:
    """What `add_cog` puts in the tree for `cog`, without constructing it."""
    if cog.__cog_is_app_commands_group__:
        # A GroupCog's group is built per instance: `__new__` builds it without
        # running `__init__`, which would want the cog's dependencies.
        group = cog.__new__(cog).app_command
        assert group is not None
        return [group]
    return list(cog.__cog_app_commands__)


def tree() -> list[tuple[str, AppCommand]]:
    """Every top-level command with the name of the cog that defines it."""
    return [(cog.__name__, command) for cog in cog_classes() for command in top_level(cog)]


def walk() -> Iterator[AppCommand]:
    """Every command and group, nested ones included."""
    for _, command in tree():
        yield command
        if isinstance(command, app_commands.Group):
            yield from command.walk_commands()


def commands_with_options() -> Iterator[app_commands.Command[Any, ..., Any]]:
    for command in walk():
        if isinstance(command, app_commands.Command):
            yield command


def fail_on(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


def test_the_tree_is_read_from_the_cogs_the_client_registers() -> None:
    """Guards the other tests against passing on an empty tree."""
    assert client.COGS, "the client registers no cogs"
    assert all(issubclass(cog, commands.Cog) for cog in client.COGS)
    assert tree(), "no slash commands found in the cogs"
    assert any(isinstance(command, app_commands.Group) for command in walk())


def test_no_two_top_level_commands_share_a_name() -> None:
    owners: dict[str, list[str]] = {}
    for cog, command in tree():
        owners.setdefault(command.name, []).append(cog)
    fail_on(
        [
            f"/{name} is defined more than once (in {', '.join(where)})"
            for name, where in owners.items()
            if len(where) > 1
        ]
    )
    assert len(owners) <= MAX_TOP_LEVEL, f"{len(owners)} top-level commands, at most 100"


def test_no_two_commands_of_a_group_share_a_name() -> None:
    problems = []
    for group in walk():
        if not isinstance(group, app_commands.Group):
            continue
        names = Counter(child.name for child in group.commands)
        problems += [
            f"/{group.qualified_name} has {n} children named {name!r}"
            for name, n in names.items()
            if n > 1
        ]
        if len(group.commands) > MAX_CHILDREN:
            problems.append(
                f"/{group.qualified_name} has {len(group.commands)} subcommands and "
                f"subgroups, at most {MAX_CHILDREN}"
            )
    fail_on(problems)


def named_and_described(what: str, name: str, description: str) -> list[str]:
    problems = []
    if not NAME.fullmatch(name):
        problems.append(f"{what}: name {name!r} is not 1-32 of lower-case a-z, 0-9, - and _")
    if not 1 <= len(description) <= MAX_DESCRIPTION:
        problems.append(f"{what}: description has {len(description)} characters, 1-100 allowed")
    return problems


def test_commands_and_groups_have_valid_names_and_descriptions() -> None:
    problems = []
    for command in walk():
        problems += named_and_described(
            f"/{command.qualified_name}", command.name, command.description
        )
    fail_on(problems)


def test_options_and_choices_fit_discords_limits() -> None:
    problems = []
    for command in commands_with_options():
        where = f"/{command.qualified_name}"
        options = command.parameters
        if len(options) > MAX_OPTIONS:
            problems.append(f"{where} has {len(options)} options, at most {MAX_OPTIONS}")
        names = Counter(option.name for option in options)
        problems += [
            f"{where} has {n} options named {name!r}" for name, n in names.items() if n > 1
        ]
        for option in options:
            problems += named_and_described(
                f"{where} {option.name}", option.name, option.description
            )
            if len(option.choices) > MAX_CHOICES:
                problems.append(
                    f"{where} {option.name} has {len(option.choices)} choices, "
                    f"at most {MAX_CHOICES}"
                )
            problems += [
                f"{where} {option.name}: choice {choice.name!r} is not 1-100 characters"
                for choice in option.choices
                if not 1 <= len(choice.name) <= MAX_CHOICE_NAME
            ]
    fail_on(problems)


def test_required_options_come_before_optional_ones() -> None:
    """Discord refuses the tree otherwise. discord.py 2 sorts a callback's options
    so today; this checks the order it will send (`parameters` is that order)."""
    problems = []
    for command in commands_with_options():
        optional_seen: str | None = None
        for option in command.parameters:
            if not option.required:
                optional_seen = optional_seen or option.name
            elif optional_seen is not None:
                problems.append(
                    f"/{command.qualified_name}: required option {option.name!r} comes after "
                    f"optional {optional_seen!r}"
                )
    fail_on(problems)


def test_descriptions_are_written_not_discord_py_placeholders() -> None:
    unwritten = {
        f"/{command.qualified_name}" for command in walk() if command.description == PLACEHOLDER
    }
    unwritten |= {
        f"/{command.qualified_name} {option.name}"
        for command in commands_with_options()
        for option in command.parameters
        if option.description == PLACEHOLDER
    }
    new, fixed = sorted(unwritten - UNWRITTEN), sorted(UNWRITTEN - unwritten)
    assert not new, f"describe these (discord.py would send {PLACEHOLDER!r}): {new}"
    assert not fixed, f"described now, remove from UNWRITTEN: {fixed}"
