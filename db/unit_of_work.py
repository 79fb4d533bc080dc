"""A unit of work: one connection and the repositories that share it."""

from __future__ import annotations

from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncConnection

from db.repositories.audit import AuditRepository
from db.repositories.cases import CaseRepository
from db.repositories.features import FeatureFlagRepository
from db.repositories.guilds import GuildRepository, MemberRepository, UserRepository
from db.repositories.policies import PolicyRepository
from db.repositories.settings import SettingRepository
from db.repositories.state import BotStateRepository


class UnitOfWork:
    """Repositories over one connection; `Database` opens and closes it.

    Repositories are created on first use, so a unit of work that records one
    case builds one repository.
    """

    def __init__(self, connection: AsyncConnection) -> None:
        self.connection = connection

    @cached_property
    def cases(self) -> CaseRepository:
        return CaseRepository(self.connection)

    @cached_property
    def guilds(self) -> GuildRepository:
        return GuildRepository(self.connection)

    @cached_property
    def members(self) -> MemberRepository:
        return MemberRepository(self.connection)

    @cached_property
    def users(self) -> UserRepository:
        return UserRepository(self.connection)

    @cached_property
    def settings(self) -> SettingRepository:
        return SettingRepository(self.connection)

    @cached_property
    def policies(self) -> PolicyRepository:
        return PolicyRepository(self.connection)

    @cached_property
    def features(self) -> FeatureFlagRepository:
        return FeatureFlagRepository(self.connection)

    @cached_property
    def audit(self) -> AuditRepository:
        return AuditRepository(self.connection)

    @cached_property
    def state(self) -> BotStateRepository:
        return BotStateRepository(self.connection)
