"""Banning many users at once with Discord's bulk-ban endpoint, one case each."""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.domain.access import moderate, require
from bot.domain.errors import LockdownError
from bot.domain.hierarchy import Participant, Refused, Scene, preflight
from bot.domain.lifecycle import Action
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case, NewCase
from bot.domain.ports import BulkBanResult, Clock, DiscordActions, DiscordFailure
from bot.domain.reasons import audit_reason, clean_reason
from bot.infra.events import CaseCreated, EventBus
from bot.services import actionlog
from bot.services.acting import MAX_DELETE_MESSAGE_SECONDS, ActionFailed, explain
from bot.services.config import ConfigService
from bot.services.modlog import ModLog
from bot.services.names import NameBook
from bot.services.recording import end_and_record
from db.engine import Database

#: Discord's bulk-ban endpoint takes at most this many users per request.
BULK_BAN_CHUNK = 200
#: Discord's error code when a bulk ban banned nobody (each user failed).
FAILED_TO_BAN_USERS = 500000
#: How many failed users a mass ban asks Discord about, one request each.
DIAGNOSED = 25


@dataclass(frozen=True, slots=True)
class MassBanRequest:
    """Many users to ban at once; `targets` maps each id to its member standing, if any."""

    guild_id: int
    guild_name: str
    owner_id: int
    actor: Participant
    actor_name: str
    bot: Participant
    targets: dict[int, Participant | None]
    reason: str | None = None
    delete_message_seconds: int = 0


@dataclass(frozen=True, slots=True)
class MassBanOutcome:
    banned: list[Case]
    failed: dict[int, str]  # user id -> why


class MassBanService:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        events: EventBus,
        modlog: ModLog,
        names: NameBook,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._metrics = metrics
        self._database = database
        self._discord = discord
        self._config = config
        self._clock = clock
        self._events = events
        self._modlog = modlog
        self._names = names

    async def check(self, request: MassBanRequest) -> None:
        """Refuse at once, before the confirmation, someone who may not ban at all,
        and a request Discord would refuse whole."""
        if not 0 <= request.delete_message_seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise ActionFailed("Messages can be deleted for up to 7 days.")
        clean_reason(request.reason)
        roles = (await self._config.get(request.guild_id)).moderator_role_ids
        require(moderate(Action.BAN), request.actor, roles)

    async def massban(self, request: MassBanRequest) -> MassBanOutcome:
        """Ban many users, 200 per request; one case each.

        Each target passes the same pre-flight check as a single ban; those that
        fail it are reported, not attempted. One log record says how it went.
        """
        started = time.perf_counter()
        try:
            outcome = await self._massban(request)
        except LockdownError as refusal:
            self._finished(request, "refused", started, refusal=refusal)
            raise
        except Exception:
            self._finished(request, "error", started)
            raise
        result = "failed" if not outcome.banned else "partial" if outcome.failed else "done"
        self._finished(
            request,
            result,
            started,
            case=outcome.banned[0].number if outcome.banned else None,
            banned=len(outcome.banned),
            failed=len(outcome.failed),
        )
        return outcome

    def _finished(
        self,
        request: MassBanRequest,
        outcome: str,
        started: float,
        *,
        case: int | None = None,
        refusal: LockdownError | None = None,
        banned: int | None = None,
        failed: int | None = None,
    ) -> None:
        actionlog.finished(
            self._metrics,
            action="massban",
            outcome=outcome,
            guild=request.guild_id,
            actor=request.actor.id,
            case=case,
            started=started,
            refusal=refusal,
            targets=len(request.targets),
            banned=banned,
            failed=failed,
        )

    async def _massban(self, request: MassBanRequest) -> MassBanOutcome:
        reason = clean_reason(request.reason)
        if not 0 <= request.delete_message_seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise ActionFailed("Messages can be deleted for up to 7 days.")
        self._names.remember(request.actor.id, request.actor_name)
        moderator_roles = (await self._config.get(request.guild_id)).moderator_role_ids
        failed: dict[int, str] = {}
        eligible: list[int] = []
        for user_id, member in request.targets.items():
            scene = Scene(request.owner_id, request.actor, request.bot, user_id, member)
            try:
                preflight(Action.BAN, scene, moderator_roles)
            except Refused as refusal:
                failed[user_id] = str(refusal)
                continue
            eligible.append(user_id)
        audit = audit_reason(request.actor_name, request.actor.id, reason)
        banned: list[Case] = []
        for start in range(0, len(eligible), BULK_BAN_CHUNK):
            chunk = eligible[start : start + BULK_BAN_CHUNK]
            try:
                result = await self._discord.bulk_ban(
                    request.guild_id,
                    chunk,
                    reason=audit,
                    delete_message_seconds=request.delete_message_seconds,
                )
            except DiscordFailure as failure:
                if failure.code != FAILED_TO_BAN_USERS:
                    failed.update(dict.fromkeys(chunk, explain(Action.BAN, failure)))
                    continue
                result = BulkBanResult(banned=[], failed=chunk)  # every one of them refused
            failed.update(await self._why_not_banned(request.guild_id, result.failed))
            recorded = await self._record_bans(request, result.banned, reason)
            for case in recorded:
                await self._events.publish(CaseCreated.of(case))
            banned += recorded
        if banned:
            first, last = banned[0], banned[-1]
            note = f"mass ban: {len(banned)} users, cases #{first.number} to #{last.number}"
            await self._modlog.post(first, note=note, moderator_name=request.actor_name)
        return MassBanOutcome(banned=banned, failed=failed)

    async def _why_not_banned(self, guild_id: int, user_ids: list[int]) -> dict[int, str]:
        """Discord's bulk ban says only which users failed: ask why, per id, for the
        first few (each costs a request); the rest get the general answer."""
        reasons: dict[int, str] = {}
        for index, user_id in enumerate(user_ids):
            reason = "Discord did not ban them"
            if index < DIAGNOSED:
                try:
                    if not await self._discord.user_exists(user_id):
                        reason = "Discord knows no user with this id"
                    elif await self._discord.is_banned(guild_id, user_id):
                        reason = "already banned"
                    else:
                        reason = "Discord refused: they may be above my highest role"
                except DiscordFailure:
                    pass
            reasons[user_id] = reason
        return reasons

    async def _record_bans(
        self, request: MassBanRequest, user_ids: list[int], reason: str | None
    ) -> list[Case]:
        now = self._clock.now()
        cases: list[Case] = []
        async with self._database.transaction() as uow:  # one transaction per request
            for user_id in user_ids:
                new = NewCase(
                    type=Action.BAN,
                    target_id=user_id,
                    moderator_id=request.actor.id,
                    created_at=now,
                    reason=reason,
                    state=Action.BAN.kind.confirmed_state,
                )
                recorded = await end_and_record(
                    uow,
                    request.guild_id,
                    new,
                    revoked_by=request.actor.id,
                    revoke_reason="superseded by a mass ban",
                )
                assert recorded is not None
                cases.append(recorded.case)
        self._metrics.case_recorded(Action.BAN.value, len(cases))
        return cases
