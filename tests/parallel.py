"""How the suite shares a machine with itself under pytest-xdist (`-n 2`).

Most tests wait (on a bot subprocess, an expiry, Discord's 2 s ready delay), so
two workers run them side by side. Three rules keep that safe:

- Tests that share a module-scoped fixture of the suite (an emulator with its
  bot, a cluster of bot processes) go to one worker, per module and value of
  its module-scoped parameters, so the fixture is built once (`shared_fixture_group`).
- Tests marked `xdist_group(...)` go to one worker, one after another: bots on the
  shared Redis (`lockdown:events`) hear each other's events.
- A test marked `alone` runs while no other test of the run does: its timing has
  too little slack to share two cores (`Turns`). The other worker finishes its
  current test, then waits.

End-to-end tests are handed out first, then the quick ones, then `alone` tests
(`slow_first`).

Without xdist none of this changes anything: tests run one at a time anyway.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import pytest

#: Set by the controlling pytest process for its workers: the directory of `Turns`.
TURNS_DIRECTORY = "LOCKDOWN_TEST_TURNS"
SHARED_SCOPES = frozenset({"package", "module", "class"})
#: Tests that wait on bot processes; the installed-wheel test also builds and installs.
END_TO_END = ("tests/e2e/", "tests/deploy/test_installed.py")


def shared_fixture_group(item: pytest.Item) -> str | None:
    """The group `<module>:<module-scoped params>` for a test that uses a module-
    or class-scoped fixture of the suite's own (not a plugin's), else None."""
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return None
    shared = sorted(
        name
        for name, definitions in info.name2fixturedefs.items()
        if definitions
        and definitions[-1].scope in SHARED_SCOPES
        and definitions[-1].baseid  # "" for plugins' fixtures
    )
    if not shared:
        return None
    params = getattr(getattr(item, "callspec", None), "params", {})
    values = [str(params[name]) for name in shared if name in params]
    module = item.nodeid.split("::", 1)[0]
    # No "[", "]" or "@": pytest-xdist takes a node id ending in "]" for ungrouped.
    return ":".join([module, *values]).translate(str.maketrans("[]@", "()_"))


def slow_first(items: list[pytest.Item]) -> None:
    """End-to-end tests first (each waits seconds on a bot), then the quick ones to
    fill the gaps, and `alone` tests last, when the other worker is between quick
    tests: with `--no-loadscope-reorder` pytest-xdist hands out groups in this
    order. A stable sort: the order within each part stays pytest's."""
    items.sort(
        key=lambda item: (
            item.get_closest_marker("alone") is not None,
            not item.nodeid.startswith(END_TO_END),
        )
    )


class Turns:
    """A readers-writer lock between the workers of one run (two flock()ed files).

    Every test holds the room shared; an `alone` test holds it exclusively. The
    gate keeps new tests from starting while an `alone` test waits for the room,
    so it is not starved by the other worker's stream of tests.
    """

    def __init__(self, directory: Path) -> None:
        self._gate = (directory / "gate").open("a")
        self._room = (directory / "room").open("a")

    @contextmanager
    def hold(self, *, alone: bool) -> Iterator[None]:
        if alone:
            fcntl.flock(self._gate, fcntl.LOCK_EX)
            try:
                with self._locked(self._room, fcntl.LOCK_EX):
                    yield
            finally:
                fcntl.flock(self._gate, fcntl.LOCK_UN)
        else:
            with self._locked(self._gate, fcntl.LOCK_SH):
                pass  # an alone test waiting or running goes first
            with self._locked(self._room, fcntl.LOCK_SH):
                yield

    @staticmethod
    @contextmanager
    def _locked(file: IO[str], operation: int) -> Iterator[None]:
        fcntl.flock(file, operation)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


def worker_turns() -> Turns | None:
    """This worker's `Turns`, or None outside a pytest-xdist worker."""
    directory = os.environ.get(TURNS_DIRECTORY)
    if not directory or "PYTEST_XDIST_WORKER" not in os.environ:
        return None
    return Turns(Path(directory))
