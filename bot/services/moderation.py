"""Moderation actions: check, tell the member, act on Discord, record, announce.

Every action follows the same order, so it lives in one place (`_act`):
pre-flight checks before any Discord call; the DM before a ban or kick (a bot
cannot DM someone it shares no guild with); the Discord action; the case; the
mod-log post. A failed Discord call records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from bot.domain.config import GuildConfig
from bot.domain.durations import format_duration
from bot.domain.errors import LockdownError
from bot.domain.hierarchy import Action, Participant, Refused, Scene, preflight
from bot.domain.models import Case, CaseType, NewCase
from bot.domain.ports import Clock, DiscordFailure, ModerationGateway, ModLogEntry
from bot.domain.reasons import audit_reason, clean_reason
from bot.events import CaseCreated, EventBus, MemoryEventBus
from bot.limits import MemoryRateLimiter, RateLimiter
from bot.services import mutes
from bot.services.config import ConfigService
from bot.services.modlog import ModLog
from bot.services.mutes import MAX_TIMEOUT
from db.engine import Database

#: A longer mute's timeout is renewed this long before it would lapse.
RENEW_BEFORE = timedelta(days=1)
#: Actions the anti-nuke limit counts.
PACED = {Action.BAN, Action.SOFTBAN, Action.KICK}
#: What each rung of the escalation ladder does.
LADDER = {CaseType.MUTE: Action.MUTE, CaseType.KICK: Action.KICK, CaseType.BAN: Action.BAN}
#: Discord's bulk-ban endpoint takes at most this many users per request.
BULK_BAN_CHUNK = 200
#: The most messages a ban may delete, in seconds (7 days).
MAX_DELETE_MESSAGE_SECONDS = 7 * 86_400

CASE_TYPE = {
    Action.BAN: CaseType.BAN,
    Action.UNBAN: CaseType.UNBAN,
    Action.SOFTBAN: CaseType.SOFTBAN,
    Action.KICK: CaseType.KICK,
    Action.MUTE: CaseType.MUTE,
    Action.UNMUTE: CaseType.UNMUTE,
    Action.WARN: CaseType.WARN,
    Action.NOTE: CaseType.NOTE,
}
#: Actions whose DM must go out before the member leaves the guild.
DM_FIRST = {Action.BAN, Action.SOFTBAN, Action.KICK}
#: Actions the member is told about, and the `/config dm-notify` switch for each.
DM_SETTING = {
    Action.BAN: "ban",
    Action.SOFTBAN: "ban",
    Action.KICK: "kick",
    Action.MUTE: "mute",
    Action.WARN: "warn",
}
NOTIFIED = set(DM_SETTING)


class ActionFailed(LockdownError):
    """Discord did not carry the action out; nothing was recorded."""


class TooManyActions(LockdownError):
    """The anti-nuke limit: one moderator banned or kicked too much too fast."""


class NothingToUndo(LockdownError):
    """An unban, unmute or pardon found nothing active to end."""


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


class ModerationService:
    def __init__(
        self,
        database: Database,
        gateway: ModerationGateway,
        config: ConfigService,
        clock: Clock,
        *,
        limiter: RateLimiter | None = None,
        events: EventBus | None = None,
    ) -> None:
        self._database = database
        self._gateway = gateway
        self._config = config
        self._clock = clock
        # Every recorded case is announced; the guild's timer loop listens for expiries.
        self._events = events or MemoryEventBus()
        self._modlog = ModLog(config, gateway)
        self._limiter = limiter or MemoryRateLimiter()

    async def act(self, request: ActionRequest) -> Outcome:
        """Carry out one action end to end; raises a `LockdownError` with a clear message."""
        reason = clean_reason(request.reason)
        config = await self._config.get(request.guild_id)
        preflight(request.action, request.scene, config.moderator_role_ids)
        if not 0 <= request.delete_message_seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise ActionFailed("Messages can be deleted for up to 7 days.")
        if request.action is Action.MUTE and request.duration is None:
            raise ActionFailed("A mute needs a duration.")
        await self._check_pace(request, config)
        now = self._clock.now()
        duration = request.duration
        if request.action is Action.WARN and config.warn_expiry_seconds:
            duration = timedelta(seconds=config.warn_expiry_seconds)
        expires_at = now + duration if duration else None

        notify = (
            request.action in NOTIFIED
            and config.dm_on(DM_SETTING[request.action])
            and request.scene.target is not None  # only members can be reached
        )
        dm_delivered: bool | None = None
        if notify and request.action in DM_FIRST:
            dm_delivered = await self._notify(request, reason, expires_at, config.appeal_text)

        await self._apply(request, config, reason, now, expires_at)

        if notify and request.action not in DM_FIRST:
            dm_delivered = await self._notify(request, reason, expires_at, None)

        case, replaced = await self._record(
            request,
            config,
            reason=reason,
            now=now,
            expires_at=expires_at,
            dm_delivered=dm_delivered,
        )
        await self._events.publish(CaseCreated.of(case))
        entry = ModLogEntry(case, request.target_name, request.actor_name, dm_delivered)
        posted = await self._modlog.post(request.guild_id, entry)
        outcome = Outcome(
            case=case, dm_delivered=dm_delivered, replaced=replaced, modlog_posted=posted
        )
        if case.type is CaseType.WARN and config.enabled("escalation"):
            escalations, failures = await self._escalate(request, case)
            outcome = replace(outcome, escalations=escalations, escalation_failures=failures)
        return outcome

    async def _check_pace(self, request: ActionRequest, config: GuildConfig) -> None:
        """Anti-nuke: refuse a moderator's ban or kick beyond the guild's limit.

        A compromised or rogue account can empty a server in seconds; the limit
        stops it, the mod log alerts the other moderators, and the audit trail
        keeps the attempt. The bot's own escalations are not counted.
        """
        actor = request.scene.actor.id
        if request.action not in PACED or actor == request.scene.bot.id:
            return
        window = config.antinuke_window_seconds
        verdict = await self._limiter.hit(
            f"{request.guild_id}:{actor}", limit=config.antinuke_actions, window=window
        )
        if verdict.allowed:
            return
        wait = format_duration(timedelta(seconds=max(1, round(verdict.retry_after))))
        await self._modlog.alert(
            request.guild_id,
            f"Anti-nuke: {request.actor_name} (`{actor}`) tried a {request.action.value} "
            f"beyond {config.antinuke_actions} bans and kicks in "
            f"{format_duration(timedelta(seconds=window))}; it was refused.",
        )
        async with self._database.autocommit() as uow:
            await uow.audit.add(
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

    async def _escalate(
        self, request: ActionRequest, warning: Case
    ) -> tuple[tuple[Outcome, ...], tuple[str, ...]]:
        """Apply every rung this warning reaches, through the same path as a moderator.

        A warning's count is its place among the member's warnings that still
        count, numbered up to and including itself. Case numbers are allocated in
        commit order, so that place is fixed however many warnings land at once,
        and each rung fires for exactly one warning.
        """
        async with self._database.autocommit() as uow:
            ladder = await uow.policies.list(request.guild_id)
            if not ladder:
                return (), ()
            counting = await uow.cases.active_warnings(
                request.guild_id, warning.target_id, now=warning.created_at
            )
        earlier = [w for w in counting if w.number <= warning.number]
        done: list[Outcome] = []
        failures: list[str] = []
        for policy in ladder:
            since = (
                warning.created_at - timedelta(seconds=policy.window_seconds)
                if policy.window_seconds
                else None
            )
            count = sum(1 for w in earlier if since is None or w.created_at >= since)
            if count != policy.threshold:
                continue
            duration = policy.duration_seconds
            escalation = ActionRequest(
                guild_id=request.guild_id,
                guild_name=request.guild_name,
                action=LADDER[policy.action],
                scene=replace(request.scene, actor=request.scene.bot),
                actor_name="Lockdown escalation",
                target_name=request.target_name,
                reason=f"{count} warnings reached policy #{policy.id} (case #{warning.number})",
                duration=timedelta(seconds=duration) if duration else None,
                related_number=warning.number,
            )
            try:
                done.append(await self.act(escalation))
            except LockdownError as error:
                why = f"escalation to {policy.action.value} (policy #{policy.id}) failed: {error}"
                failures.append(why)
                note = ModLogEntry(warning, request.target_name, request.actor_name, None, why)
                await self._modlog.post(request.guild_id, note)
        return tuple(done), tuple(failures)

    async def massban(self, request: MassBanRequest) -> MassBanOutcome:
        """Ban many users with Discord's bulk-ban endpoint, 200 at a time; one case each.

        Each target passes the same pre-flight check as a single ban; those that
        fail it are reported, not attempted.
        """
        reason = clean_reason(request.reason)
        if not 0 <= request.delete_message_seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise ActionFailed("Messages can be deleted for up to 7 days.")
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
                result = await self._gateway.bulk_ban(
                    request.guild_id,
                    chunk,
                    reason=audit,
                    delete_message_seconds=request.delete_message_seconds,
                )
            except DiscordFailure as failure:
                failed.update(dict.fromkeys(chunk, _explain(Action.BAN, failure)))
                continue
            failed.update(dict.fromkeys(result.failed, "Discord did not ban them"))
            recorded = await self._record_bans(request, result.banned, reason)
            for case in recorded:
                await self._events.publish(CaseCreated.of(case))
            banned += recorded
        if banned:
            first, last = banned[0], banned[-1]
            note = f"mass ban: {len(banned)} users, cases #{first.number} to #{last.number}"
            entry = ModLogEntry(first, str(first.target_id), request.actor_name, None, note)
            await self._modlog.post(request.guild_id, entry)
        return MassBanOutcome(banned=banned, failed=failed)

    async def _record_bans(
        self, request: MassBanRequest, user_ids: list[int], reason: str | None
    ) -> list[Case]:
        now = self._clock.now()
        cases: list[Case] = []
        async with self._database.transaction() as uow:
            for user_id in user_ids:
                previous = await uow.cases.end_active(
                    request.guild_id,
                    user_id,
                    CaseType.BAN,
                    revoked_by=request.actor.id,
                    revoked_at=now,
                    revoke_reason="superseded by a mass ban",
                )
                new = NewCase(
                    type=CaseType.BAN,
                    target_id=user_id,
                    moderator_id=request.actor.id,
                    created_at=now,
                    reason=reason,
                    active=True,
                    related_number=previous.number if previous else None,
                )
                cases.append(await uow.cases.create(request.guild_id, new))
        return cases

    async def _apply(
        self,
        request: ActionRequest,
        config: GuildConfig,
        reason: str | None,
        now: datetime,
        expires: datetime | None,
    ) -> None:
        audit = audit_reason(request.actor_name, request.scene.actor.id, reason)
        guild, target = request.guild_id, request.scene.target_id
        try:
            match request.action:
                case Action.BAN:
                    await self._gateway.ban(
                        guild,
                        target,
                        reason=audit,
                        delete_message_seconds=request.delete_message_seconds,
                    )
                case Action.SOFTBAN:
                    await self._gateway.ban(
                        guild,
                        target,
                        reason=audit,
                        delete_message_seconds=request.delete_message_seconds or 86_400,
                    )
                    await self._gateway.unban(guild, target, reason=audit)
                case Action.UNBAN:
                    await self._gateway.unban(guild, target, reason=audit)
                case Action.KICK:
                    await self._gateway.kick(guild, target, reason=audit)
                case Action.MUTE:
                    assert expires is not None
                    await mutes.impose(
                        self._gateway, config, guild, target,
                        expires_at=expires, now=now, reason=audit,
                    )  # fmt: skip
                case Action.UNMUTE:
                    await mutes.lift(self._gateway, config, guild, target, reason=audit)
                case Action.WARN | Action.NOTE:
                    pass
        except DiscordFailure as failure:
            raise ActionFailed(_explain(request.action, failure)) from None

    async def _record(
        self,
        request: ActionRequest,
        config: GuildConfig,
        *,
        reason: str | None,
        now: datetime,
        expires_at: datetime | None,
        dm_delivered: bool | None,
    ) -> tuple[Case, Case | None]:
        case_type = CASE_TYPE[request.action]
        new = NewCase(
            type=case_type,
            target_id=request.scene.target_id,
            moderator_id=request.scene.actor.id,
            created_at=now,
            reason=reason,
            expires_at=expires_at,
            active=case_type in (CaseType.BAN, CaseType.MUTE, CaseType.WARN),
            dm_delivered=dm_delivered,
            related_number=request.related_number,
            renew_at=(
                now + MAX_TIMEOUT - RENEW_BEFORE
                if case_type is CaseType.MUTE
                and expires_at
                and expires_at > now + MAX_TIMEOUT
                and not mutes.uses_role(config, expires_at, now)
                else None
            ),
        )
        lasting = {CaseType.BAN: CaseType.BAN, CaseType.MUTE: CaseType.MUTE}
        ending = {CaseType.UNBAN: CaseType.BAN, CaseType.UNMUTE: CaseType.MUTE}
        if case_type not in lasting and case_type not in ending:
            return await self._database.record_case(request.guild_id, new), None
        async with self._database.transaction() as uow:
            kind = lasting.get(case_type) or ending[case_type]
            previous = await uow.cases.end_active(
                request.guild_id,
                request.scene.target_id,
                kind,
                revoked_by=request.scene.actor.id,
                revoked_at=now,
                revoke_reason=f"superseded by a {request.action.value}",
            )
            if previous is not None and request.related_number is None:
                new = replace(new, related_number=previous.number)
            return await uow.cases.create(request.guild_id, new), previous

    async def _notify(
        self,
        request: ActionRequest,
        reason: str | None,
        expires_at: datetime | None,
        appeal: str | None,
    ) -> bool:
        text = dm_text(request.action, request.guild_name, reason, expires_at, appeal)
        try:
            return await self._gateway.send_dm(request.scene.target_id, text)
        except DiscordFailure:
            return False  # a closed DM never blocks the action

    async def case(self, guild_id: int, number: int) -> Case:
        async with self._database.autocommit() as uow:
            return await uow.cases.require(guild_id, number)

    async def history(
        self, guild_id: int, target_id: int, *, limit: int = 10, before: int | None = None
    ) -> tuple[list[Case], int]:
        """A page of the target's cases (newest first) and how many there are."""
        async with self._database.autocommit() as uow:
            page = await uow.cases.history(guild_id, target_id, limit=limit, before=before)
            total = await uow.cases.count_for_target(guild_id, target_id)
        return page, total

    async def active_warnings(self, guild_id: int, target_id: int) -> list[Case]:
        async with self._database.autocommit() as uow:
            return await uow.cases.active_warnings(guild_id, target_id, now=self._clock.now())

    async def edit_reason(self, guild_id: int, number: int, reason: str, *, actor_id: int) -> Case:
        """Change a case's reason; the old and new reasons go to the audit trail."""
        cleaned = clean_reason(reason)
        if cleaned is None:
            raise ActionFailed("The new reason can't be empty.")
        async with self._database.transaction() as uow:
            before = await uow.cases.require(guild_id, number)
            after = await uow.cases.update_reason(guild_id, number, cleaned)
            await uow.audit.add(
                guild_id,
                actor_id=actor_id,
                action="case.reason",
                entity="case",
                entity_id=str(number),
                before={"reason": before.reason},
                after={"reason": after.reason},
                now=self._clock.now(),
            )
        return after

    async def pardon(
        self,
        guild_id: int,
        number: int,
        *,
        actor_id: int,
        actor_name: str,
        target_name: str,
        reason: str | None,
    ) -> Outcome:
        """Revoke an active warning, or end a ban or mute early (undoing it on Discord)."""
        cleaned = clean_reason(reason)
        case = await self.case(guild_id, number)
        if not case.active:
            raise NothingToUndo(f"Case #{number} is no longer in force.")
        audit = audit_reason(actor_name, actor_id, cleaned)
        try:
            if case.type is CaseType.BAN:
                await self._gateway.unban(guild_id, case.target_id, reason=audit)
            elif case.type is CaseType.MUTE:
                config = await self._config.get(guild_id)
                await mutes.lift(self._gateway, config, guild_id, case.target_id, reason=audit)
        except DiscordFailure as failure:
            if failure.status != 404:  # already lifted on Discord: just record it
                action = Action.UNBAN if case.type is CaseType.BAN else Action.UNMUTE
                raise ActionFailed(_explain(action, failure)) from None
        now = self._clock.now()
        async with self._database.transaction() as uow:
            ended = await uow.cases.deactivate(
                guild_id, number, revoked_by=actor_id, revoked_at=now, revoke_reason=cleaned
            )
            if ended is None:
                raise NothingToUndo(f"Case #{number} was ended a moment ago.")
            pardon = await uow.cases.create(
                guild_id,
                NewCase(
                    type=CaseType.PARDON,
                    target_id=case.target_id,
                    moderator_id=actor_id,
                    created_at=now,
                    reason=cleaned,
                    related_number=number,
                ),
            )
            await uow.audit.add(
                guild_id,
                actor_id=actor_id,
                action="case.pardon",
                entity="case",
                entity_id=str(number),
                before={"active": True},
                after={"active": False, "pardon_case": pardon.number},
                now=now,
            )
        standing: list[Case] = []
        if case.type is CaseType.WARN:
            # Fewer warnings never lift a punishment by themselves; say so on the record.
            async with self._database.autocommit() as uow:
                for kind in (CaseType.BAN, CaseType.MUTE):
                    if found := await uow.cases.active(guild_id, case.target_id, kind):
                        standing.append(found)
        note = "; ".join(
            [f"pardons case #{number}"]
            + [f"the {c.type.value} of case #{c.number} stays in force" for c in standing]
        )
        entry = ModLogEntry(pardon, target_name, actor_name, None, note=note)
        posted = await self._modlog.post(guild_id, entry)
        return Outcome(
            case=pardon,
            dm_delivered=None,
            replaced=ended,
            modlog_posted=posted,
            still_in_force=tuple(standing),
        )


def dm_text(
    action: Action,
    guild_name: str,
    reason: str | None,
    expires_at: datetime | None,
    appeal: str | None,
) -> str:
    """The message a member receives about an action taken on them."""
    what = {
        Action.BAN: "banned from",
        Action.SOFTBAN: "removed from",
        Action.KICK: "kicked from",
        Action.MUTE: "timed out in",
        Action.WARN: "warned in",
    }[action]
    lines = [f"You have been {what} **{guild_name}**."]
    lines.append(f"Reason: {reason or 'no reason given'}")
    if expires_at is not None and action is not Action.WARN:
        lines.append(f"Until: <t:{int(expires_at.timestamp())}:F>")
    if appeal:
        lines.append(appeal)
    return "\n".join(lines)


def _explain(action: Action, failure: DiscordFailure) -> str:
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
