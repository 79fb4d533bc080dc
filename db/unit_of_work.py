"""A unit of work: one connection, opened on first use, and the repositories sharing it."""

from __future__ import annotations

from contextlib import AsyncExitStack
from functools import cached_property
from types import TracebackType
from typing import Any

from sqlalchemy import Executable, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from db.repositories._sql import outages_as_domain_errors
from db.repositories.cases import CaseRepository
from db.repositories.changes import ChangeRepository
from db.repositories.features import FeatureFlagRepository
from db.repositories.guilds import GuildRepository, MemberRepository, UserRepository
from db.repositories.locks import MemberLockRepository
from db.repositories.policies import PolicyRepository
from db.repositories.retention import DepartedGuilds
from db.repositories.settings import SettingRepository
from db.repositories.state import BotStateRepository
from db.repositories.timers import TimerQueue


class UnitOfWork:
    """Repositories over one connection; `Database` opens and closes the unit.

    The connection is opened when a repository first needs it, and repositories
    are created on first use, so a unit of work that records one case builds
    one repository and, outside a transaction, borrows a bare driver connection
    for just that statement (see `CaseRepository.create`).
    """

    def __init__(self, engine: AsyncEngine, *, transactional: bool) -> None:
        self.engine = engine
        self.transactional = transactional
        self.dialect = engine.dialect.name
        self._connection: AsyncConnection | None = None
        self._stack = AsyncExitStack()

    @property
    def opened(self) -> bool:
        return self._connection is not None

    async def connection(self) -> AsyncConnection:
        """The unit's connection (in a transaction, if it is transactional)."""
        if self._connection is None:
            opening = self.engine.begin() if self.transactional else self.engine.connect()
            with outages_as_domain_errors():
                self._connection = await self._stack.enter_async_context(opening)
        return self._connection

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | None = None
    ) -> Result[Any]:
        connection = await self.connection()
        with outages_as_domain_errors():
            return await connection.execute(statement, parameters)

    async def __aenter__(self) -> UnitOfWork:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Commit (or roll back, on an error) and give the connection back."""
        with outages_as_domain_errors():
            await self._stack.__aexit__(kind, error, traceback)

    @cached_property
    def cases(self) -> CaseRepository:
        return CaseRepository(self)

    @cached_property
    def guilds(self) -> GuildRepository:
        return GuildRepository(self)

    @cached_property
    def members(self) -> MemberRepository:
        return MemberRepository(self)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self)

    @cached_property
    def settings(self) -> SettingRepository:
        return SettingRepository(self)

    @cached_property
    def policies(self) -> PolicyRepository:
        return PolicyRepository(self)

    @cached_property
    def features(self) -> FeatureFlagRepository:
        return FeatureFlagRepository(self)

    @cached_property
    def changes(self) -> ChangeRepository:
        return ChangeRepository(self)

    @cached_property
    def locks(self) -> MemberLockRepository:
        return MemberLockRepository(self)

    @cached_property
    def state(self) -> BotStateRepository:
        return BotStateRepository(self)

    @cached_property
    def timers(self) -> TimerQueue:
        """Pending expiries and renewals across the guilds of this process's shards."""
        return TimerQueue(self)

    @cached_property
    def departed(self) -> DepartedGuilds:
        """Guilds the bot left: the retention job's one cross-guild read."""
        return DepartedGuilds(self)
