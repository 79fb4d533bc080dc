"""Carrying out one moderation action: check, tell the member, act on Discord, record, announce.

Every action follows the same order, so it lives in one place (`ActingService.act`):
pre-flight checks before any Discord call; the DM before a ban or kick (a bot
cannot DM someone it shares no guild with); the Discord action; the case; the
mod-log post. A failed Discord call records nothing. Moderators' commands,
the escalation ladder and (later) automod all come through here.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.domain.config import GuildConfig
from bot.domain.durations import format_duration
from bot.domain.errors import DatabaseUnavailable, LockdownError
from bot.domain.hierarchy import Scene, preflight
from bot.domain.lifecycle import Action, CaseState
from bot.domain.metrics import NO_METRICS, Metrics
from bot.domain.models import Case, NewCase
from bot.domain.ports import Clock, DiscordActions, DiscordFailure, SentDm
from bot.domain.reasons import NO_REASON, audit_reason, clean_reason
from bot.infra.events import CaseCreated, EventBus
from bot.infra.limits import RateLimiter
from bot.services import actionlog, enforcement
from bot.services.config import ConfigService
from bot.services.locks import MemberLocks
from bot.services.modlog import ModLog
from bot.services.names import NameBook
from bot.services.recording import confirm_case
from db.engine import Database

log = logging.getLogger(__name__)

#: The most messages a ban may delete, in seconds (7 days).
MAX_DELETE_MESSAGE_SECONDS = 7 * 86_400


class ActionFailed(LockdownError):
    """Discord did not carry the action out; its case, if one was recorded, failed."""

    def __init__(self, message: str, *, case_number: int | None = None) -> None:
        super().__init__(message)
        self.case_number = case_number


class AlreadyDone(LockdownError):
    """The action would change nothing; the message names the case in force."""


class RecordedLater(LockdownError):
    """Discord carried the action out but the database could not confirm it yet."""

    def __init__(self, message: str, *, case_number: int) -> None:
        super().__init__(message)
        self.case_number = case_number


class TooManyActions(LockdownError):
    """The anti-nuke limit: one moderator banned or kicked too much too fast."""


@dataclass(frozen=True, slots=True)
class ActionRequest:
    """One moderator's request, as plain values (the cog builds it from the interaction)."""

    guild_id: int
    guild_name: str
    action: Action
    scene: Scene
    actor_name: str
    target_name: str
    reason: str | None = None
    duration: timedelta | None = None
    delete_message_seconds: int = 0
    related_number: int | None = None  # the case that triggered this one (escalation)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened, for the reply: the case, the DM, and what it replaced."""

    case: Case
    dm_delivered: bool | None
    replaced: Case | None = None
    modlog_posted: bool = False
    escalations: tuple[Outcome, ...] = ()  # actions the escalation ladder took
    escalation_failures: tuple[str, ...] = ()
    still_in_force: tuple[Case, ...] = ()  # punishments a pardon did not lift


class ActingService:
    def __init__(
        self,
        database: Database,
        discord: DiscordActions,
        config: ConfigService,
        clock: Clock,
        *,
        limiter: RateLimiter,
        events: EventBus,
        modlog: ModLog,
        names: NameBook,
        locks: MemberLocks,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._database = database
        self._metrics = metrics
        self._locks = locks
        self._discord = discord
        self._config = config
        self._clock = clock
        self._limiter = limiter
        # Every recorded case is announced; the guild's timer loop listens for expiries.
        self._events = events
        self._modlog = modlog
        self._names = names

    async def act(self, request: ActionRequest) -> Outcome:
        """Carry out one action end to end; raises a `LockdownError` with a clear message.

        The case is recorded as pending before anything is sent to Discord (a
        database that cannot take it refuses the command before anything
        happens), then confirmed, or marked failed if Discord refused. Actions
        on one member run one at a time. Every outcome is logged (`actionlog`) and
        counted.
        """
        started = time.perf_counter()
        try:
            outcome = await self._act(request)
        except RecordedLater as pending:
            self._finished(request, "pending", started, refusal=pending)
            raise
        except ActionFailed as failure:
            failed = "failed" if failure.case_number is not None else "refused"
            self._finished(request, failed, started, refusal=failure)
            raise
        except LockdownError as refusal:
            self._finished(request, "refused", started, refusal=refusal)
            raise
        except Exception:
            self._finished(request, "error", started)
            raise
        self._finished(request, "done", started, case=outcome.case.number)
        return outcome

    def _finished(
        self,
        request: ActionRequest,
        outcome: str,
        started: float,
        *,
        case: int | None = None,
        refusal: LockdownError | None = None,
    ) -> None:
        actionlog.finished(
            self._metrics,
            action=request.action.value,
            outcome=outcome,
            guild=request.guild_id,
            actor=request.scene.actor.id,
            target=request.scene.target_id,
            case=case if case is not None else getattr(refusal, "case_number", None),
            started=started,
            refusal=refusal,
        )

    async def _act(self, request: ActionRequest) -> Outcome:
        reason = clean_reason(request.reason)
        config = await self._config.get(request.guild_id)
        preflight(request.action, request.scene, config.moderator_role_ids)
        if not 0 <= request.delete_message_seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise ActionFailed("Messages can be deleted for up to 7 days.")
        if request.action is Action.MUTE and request.duration is None:
            raise ActionFailed("A mute needs a duration.")
        await self._check_pace(request, config)
        self._names.remember(request.scene.actor.id, request.actor_name)
        self._names.remember(request.scene.target_id, request.target_name)
        async with self._locks.hold(request.guild_id, request.scene.target_id):
            return await self._act_alone(request, config, reason)

    async def _act_alone(
        self, request: ActionRequest, config: GuildConfig, reason: str | None
    ) -> Outcome:
        kind = request.action.kind
        now = self._clock.now()
        duration = request.duration
        if request.action is Action.WARN and config.warn_expiry_seconds:
            duration = timedelta(seconds=config.warn_expiry_seconds)
        expires_at = now + duration if duration else None
        await self._refuse_if_redundant(request, expires_at)
        intent = await self._record_intent(request, reason, now, expires_at)

        notify = (
            kind.dm_setting is not None
            and config.dm_on(kind.dm_setting)
            and request.scene.target is not None  # only members can be reached
        )
        sent: SentDm | None = None
        if notify and kind.dm_first:
            sent = await self._notify(request, intent, config.appeal_text)
        try:
            await self._apply(request, config, intent, now, expires_at)
        except DiscordFailure as failure:
            await self._fail(intent, sent)
            raise ActionFailed(
                explain(request.action, failure), case_number=intent.number
            ) from None
        if notify and not kind.dm_first:
            sent = await self._notify(request, intent, None)

        dm_delivered = None if not notify else sent is not None
        try:
            recorded = await confirm_case(
                self._database,
                intent,
                revoked_by=request.scene.actor.id,
                revoke_reason=f"superseded by a {request.action.value}",
                at=now,
                dm_delivered=dm_delivered,
                dm_channel_id=sent.channel_id if sent else None,
                dm_message_id=sent.message_id if sent else None,
                renew_at=(
                    enforcement.first_renewal(config, expires_at, now)
                    if request.action is Action.MUTE
                    else None
                ),
            )
        except DatabaseUnavailable:
            raise RecordedLater(
                f"{kind.past_tense} {request.target_name} on Discord, but the database is "
                f"unavailable, so case #{intent.number} is still pending; it will be "
                "confirmed when the database is back.",
                case_number=intent.number,
            ) from None
        if recorded is None:  # settled meanwhile by reconciliation: read what it decided
            async with self._database.autocommit() as uow:
                case = await uow.cases.require(request.guild_id, intent.number)
            replaced = None
        else:
            case, replaced = recorded.case, recorded.ended
        await self._events.publish(CaseCreated.of(case))
        posted = await self._modlog.post(
            case,
            dm_delivered=dm_delivered,
            target_name=request.target_name,
            moderator_name=request.actor_name,
        )
        return Outcome(
            case=case, dm_delivered=dm_delivered, replaced=replaced, modlog_posted=posted
        )

    async def _refuse_if_redundant(
        self, request: ActionRequest, expires_at: datetime | None
    ) -> None:
        """A permanent ban of someone already banned for good changes nothing: say so,
        with the case, instead of recording it again. (A ban with a different end
        replaces the one in force.)"""
        if request.action is not Action.BAN or expires_at is not None:
            return
        async with self._database.autocommit() as uow:
            current = await uow.cases.active(request.guild_id, request.scene.target_id, Action.BAN)
        if current is not None and current.expires_at is None:
            raise AlreadyDone(f"{request.target_name} is already banned (case #{current.number}).")

    async def _record_intent(
        self,
        request: ActionRequest,
        reason: str | None,
        now: datetime,
        expires_at: datetime | None,
    ) -> Case:
        """The durable record made before any Discord call: a pending case."""
        intent = NewCase(
            type=request.action,
            target_id=request.scene.target_id,
            moderator_id=request.scene.actor.id,
            created_at=now,
            reason=reason,
            expires_at=expires_at,
            state=CaseState.PENDING,
            related_number=request.related_number,
        )
        async with self._database.autocommit() as uow:
            recorded = await uow.cases.create(request.guild_id, intent)
        self._metrics.case_recorded(request.action.value)
        return recorded

    async def _fail(self, intent: Case, sent: SentDm | None) -> None:
        """Discord refused: a DM that already told the member is taken back (or, if it
        cannot be deleted, corrected), then the case is kept as failed. In this order,
        a crash in between leaves the case pending, and settling it takes the DM back
        again (finding none); the other order could leave a failed case's DM behind."""
        if sent is not None:
            await enforcement.take_back_dm(self._discord, intent, sent)
        try:
            async with self._database.autocommit() as uow:
                await uow.cases.settle(
                    intent.guild_id,
                    intent.number,
                    CaseState.FAILED,
                    dm_channel_id=sent.channel_id if sent else None,
                    dm_message_id=sent.message_id if sent else None,
                )
        except DatabaseUnavailable:
            log.warning(
                "case #%s in guild %s failed on Discord but stays pending until "
                "reconciliation: the database is unavailable",
                intent.number,
                intent.guild_id,
            )

    async def report_burst(self, guild_id: int, user_id: int, command: str) -> None:
        """Alert the moderators and keep it in the change log: someone ran /`command`
        faster than the command pace allows."""
        await self._modlog.alert(
            guild_id,
            f"Anti-nuke: {await self._names.name(user_id)} (`{user_id}`) is running "
            f"/{command} faster than the command pace allows; it was refused.",
        )
        async with self._database.autocommit() as uow:
            await uow.changes.add(
                guild_id,
                actor_id=user_id,
                action="antinuke.burst",
                entity="command",
                entity_id=command,
                before=None,
                after={"refused": "command pace"},
                now=self._clock.now(),
            )

    async def _check_pace(self, request: ActionRequest, config: GuildConfig) -> None:
        """Anti-nuke: refuse a moderator's ban or kick beyond the guild's limit.

        A compromised or rogue account can empty a server in seconds; the limit
        stops it, the mod log alerts the other moderators, and the change log
        keeps the attempt. The bot's own escalations are not counted.
        """
        actor = request.scene.actor.id
        if not request.action.kind.paced or actor == request.scene.bot.id:
            return
        window = config.antinuke_window_seconds
        verdict = await self._limiter.hit(
            f"{request.guild_id}:{actor}", limit=config.antinuke_actions, window=window
        )
        if verdict.allowed:
            return
        self._metrics.antinuke_refused("actions")
        wait = format_duration(timedelta(seconds=max(1, round(verdict.retry_after))))
        await self._modlog.alert(
            request.guild_id,
            f"Anti-nuke: {request.actor_name} (`{actor}`) tried a {request.action.value} "
            f"beyond {config.antinuke_actions} bans and kicks in "
            f"{format_duration(timedelta(seconds=window))}; it was refused.",
        )
        async with self._database.autocommit() as uow:
            await uow.changes.add(
                request.guild_id,
                actor_id=actor,
                action="antinuke.refused",
                entity="member",
                entity_id=str(request.scene.target_id),
                before=None,
                after={"action": request.action.value, "limit": config.antinuke_actions},
                now=self._clock.now(),
            )
        raise TooManyActions(
            f"You have reached the limit of {config.antinuke_actions} bans and kicks in "
            f"{format_duration(timedelta(seconds=window))}; try again in {wait}. "
            "The other moderators were alerted."
        )

    async def _apply(
        self,
        request: ActionRequest,
        config: GuildConfig,
        intent: Case,
        now: datetime,
        expires: datetime | None,
    ) -> None:
        """Carry the action out on Discord; raises `DiscordFailure` if Discord refused.

        The audit-log reason names the case, so reconciliation links the entry
        Discord writes to this case and no other."""
        audit = audit_reason(
            request.actor_name, request.scene.actor.id, intent.reason, case=intent.number
        )
        guild, target = request.guild_id, request.scene.target_id
        match request.action:
            case Action.BAN:
                await self._discord.ban(
                    guild,
                    target,
                    reason=audit,
                    delete_message_seconds=request.delete_message_seconds,
                )
            case Action.SOFTBAN:
                await self._discord.ban(
                    guild,
                    target,
                    reason=audit,
                    delete_message_seconds=request.delete_message_seconds or 86_400,
                )
                await self._discord.unban(guild, target, reason=audit)
            case Action.UNBAN:
                await self._discord.unban(guild, target, reason=audit)
            case Action.KICK:
                await self._discord.kick(guild, target, reason=audit)
            case Action.MUTE:
                assert expires is not None
                await enforcement.impose_mute(
                    self._discord, config, guild, target,
                    expires_at=expires, now=now, reason=audit,
                )  # fmt: skip
            case Action.UNMUTE:
                await enforcement.lift_mute(self._discord, config, guild, target, reason=audit)
            case Action.WARN | Action.NOTE | Action.PARDON:
                pass

    async def _notify(
        self, request: ActionRequest, intent: Case, appeal: str | None
    ) -> SentDm | None:
        text = dm_text(
            request.action, request.guild_name, intent.reason, intent.expires_at, appeal,
            number=intent.number,
        )  # fmt: skip
        try:
            return await self._discord.send_dm(request.scene.target_id, text)
        except DiscordFailure:
            return None  # a closed DM never blocks the action


def dm_text(
    action: Action,
    guild_name: str,
    reason: str | None,
    expires_at: datetime | None,
    appeal: str | None,
    *,
    number: int,
) -> str:
    """The message a member receives about an action taken on them.

    It names the case, so a DM whose id was never stored (a crash right after
    sending it) can still be found in the DM channel by its case number.
    """
    lines = [f"You have been {action.kind.dm_phrase} **{guild_name}** (case #{number})."]
    lines.append(f"Reason: {reason or NO_REASON}")
    if expires_at is not None and action is not Action.WARN:
        lines.append(f"Until: <t:{int(expires_at.timestamp())}:F>")
    if appeal:
        lines.append(appeal)
    return "\n".join(lines)


def explain(action: Action, failure: DiscordFailure) -> str:
    """A moderator-facing sentence for a Discord refusal."""
    if failure.status == 403:
        return f"Discord refused to {action.verb} them: I am missing a permission or role position."
    if failure.status == 404:
        if action is Action.UNBAN:
            return "That user is not banned."
        return "Discord no longer knows that member (they may have left)."
    if failure.status >= 500:
        return "Discord is having trouble right now; nothing was done. Try again shortly."
    return f"Discord rejected the request: {failure.discord_message}"
