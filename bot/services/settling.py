"""Settling intents a crash or an outage left pending, so Discord and the record agree.

Every action records a pending case before it asks Discord, then confirms it
or marks it failed. A process that dies in between, or a database that fails
at the confirmation, leaves the case pending. A case pending for longer than
any action takes (its member's lease ran out) is settled by asking Discord
what is true now: is the user banned, is the member timed out. What Discord
shows becomes the record. Where it shows nothing (the ban is not there, the
member came back after a kick), the audit log says whether the bot's own
entry naming the case exists: then the action happened and was undone since,
and its case closes; else it never happened, is marked failed and the DM
announcing it is taken back. Only this sweep settles a pending case, always
under the member's lease, so nothing acts on the member while it looks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from bot.domain.lifecycle import Action, CaseState
from bot.domain.models import Case
from bot.domain.ports import Clock, DiscordActions, DiscordFailure
from bot.domain.shards import ShardScope
from bot.infra.events import CaseCreated, EventBus
from bot.services import enforcement
from bot.services.config import ConfigService
from bot.services.locks import LEASE, MemberBusy, MemberLocks
from bot.services.modlog import ModLog
from bot.services.recording import confirm_case
from db.engine import Database

log = logging.getLogger(__name__)

#: A pending case older than this has no action in flight any more.
STALE_AFTER = LEASE + timedelta(seconds=30)
BATCH = 100


class IntentSettler:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        scope: Callable[[], ShardScope],
        events: EventBus,
        modlog: ModLog,
        locks: MemberLocks,
        stale_after: timedelta = STALE_AFTER,
    ) -> None:
        self.stale_after = stale_after
        self._locks = locks
        self._database = database
        self._discord = discord
        self._config = config
        self._clock = clock
        self._scope = scope
        self._events = events
        self._modlog = modlog

    async def settle_stale(self) -> int:
        """Settle every stale pending case of the owned guilds; how many were settled."""
        settled = 0
        before = self._clock.now() - self.stale_after
        async with self._database.autocommit() as uow:
            stale = await uow.timers.stale_intents(self._scope(), before=before, limit=BATCH)
        for intent in stale:
            async with self._database.autocommit() as uow:
                case = await uow.cases.get(intent.guild_id, intent.number)
            if case is None or case.state is not CaseState.PENDING:
                continue
            try:
                # An action on this member still running holds the lease: wait for it,
                # so what Discord shows is final when it is read.
                async with self._locks.hold(case.guild_id, case.target_id):
                    settled += await self.settle(case)
            except MemberBusy:
                continue  # tried again at the next sweep
        return settled

    async def settle(self, case: Case) -> bool:
        """Confirm or fail one pending case from what Discord shows now; False when
        Discord could not tell (it is tried again at the next sweep)."""
        try:
            shown = await self._shown(case)
            happened = shown is True or await self._discord.in_audit_log(
                case.guild_id, case.target_id, case.type.kind.leaves, f"case #{case.number}:",
                since=case.created_at,
            )  # fmt: skip
        except DiscordFailure as failure:
            log.warning("could not settle case #%s in %s: %s", case.number, case.guild_id, failure)
            return False
        if happened:
            lifted = "undone on Discord before it was confirmed" if shown is False else None
            recorded = await confirm_case(
                self._database,
                case,
                revoked_by=case.moderator_id,
                revoke_reason=f"superseded by a {case.type.value}",
                at=self._clock.now(),
                lifted_since=lifted if case.type.kind.stays_active else None,
            )
            if recorded is None:
                return False
            log.warning(
                "case #%s in guild %s was applied but left pending; confirmed (%s)",
                case.number,
                case.guild_id,
                recorded.case.state.value,
            )
            await self._events.publish(CaseCreated.of(recorded.case))
            await self._modlog.post(recorded.case, note="confirmed after an interruption")
            return True
        # The DM first: a crash in between leaves the case pending, to be settled again.
        await enforcement.take_back_dm(self._discord, case, None)
        async with self._database.autocommit() as uow:
            failed = await uow.cases.settle(case.guild_id, case.number, CaseState.FAILED)
        if failed is None:
            return False
        log.warning(
            "case #%s in guild %s never happened on Discord; marked failed",
            case.number,
            case.guild_id,
        )
        return True

    async def _shown(self, case: Case) -> bool | None:
        """Whether Discord shows the case's action in effect now; None if it cannot
        tell (a kick: the member may have come back; a mute of a member who left)."""
        guild, user = case.guild_id, case.target_id
        match case.type:
            case Action.BAN:
                return await self._discord.is_banned(guild, user)
            case Action.UNBAN:
                return not await self._discord.is_banned(guild, user)
            case Action.MUTE:
                member = await self._discord.membership(guild, user)
                if member is None:
                    return None  # re-applied when they come back, if it happened
                role = (await self._config.get(guild)).mute_role_id
                return member.muted(self._clock.now(), role)
            case Action.UNMUTE:
                member = await self._discord.membership(guild, user)
                return member is None or member.timed_out_until is None
            case Action.KICK | Action.SOFTBAN:
                return None  # only the audit log can tell
            case Action.WARN | Action.NOTE | Action.PARDON:
                return True  # nothing to ask Discord: the record is the action
