"""The escalation ladder on both backends, Discord replaced at the edge."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from bot.domain.lifecycle import Action
from bot.domain.ports import DiscordFailure
from bot.services.config import ConfigService
from bot.services.container import Services
from bot.services.policies import PolicyRefused, PolicyService
from db.engine import Database
from tests.bot.services.edge import (
    BOT,
    MANAGER,
    MEMBER,
    MODERATOR,
    NOW,
    FixedClock,
    RecordingGateway,
    request,
)


@pytest.fixture
def policies(database: Database, clock: FixedClock) -> PolicyService:
    return PolicyService(database, clock)


async def add(
    policies: PolicyService,
    guild_id: int,
    threshold: int,
    action: Action,
    duration: timedelta | None = None,
    window: timedelta | None = None,
) -> None:
    await policies.add(
        guild_id, threshold=threshold, action=action, duration=duration, window=window,
        actor=MANAGER,
    )  # fmt: skip


async def test_ten_warnings_at_once_cross_a_threshold_exactly_once(
    services: Services, policies: PolicyService, guild_id: int
) -> None:
    await add(policies, guild_id, 3, Action.MUTE, timedelta(hours=1))
    outcomes = await asyncio.gather(
        *(
            services.moderation.act(request(guild_id, Action.WARN, reason=f"w{i}"))
            for i in range(10)
        )
    )
    escalated = [o for o in outcomes if o.escalations]
    assert len(escalated) == 1
    [mute] = escalated[0].escalations
    assert (mute.case.type, mute.case.moderator_id) == (Action.MUTE, BOT)
    assert mute.case.related_number == escalated[0].case.number
    assert escalated[0].case.number == sorted(o.case.number for o in outcomes)[2]
    history, _ = await services.cases.history(guild_id, MEMBER, limit=50, actor=MODERATOR)
    assert [c.type for c in history].count(Action.MUTE) == 1


async def test_a_ladder_climbs_rung_by_rung(
    services: Services, policies: PolicyService, gateway: RecordingGateway, guild_id: int
) -> None:
    await add(policies, guild_id, 2, Action.MUTE, timedelta(hours=1))
    await add(policies, guild_id, 4, Action.BAN)
    steps = [await services.moderation.act(request(guild_id, Action.WARN)) for _ in range(4)]
    assert [[e.case.type for e in s.escalations] for s in steps] == [
        [], [Action.MUTE], [], [Action.BAN],
    ]  # fmt: skip
    assert "ban" in gateway.names()


async def test_only_warnings_inside_the_window_count(
    services: Services, policies: PolicyService, clock: FixedClock, guild_id: int
) -> None:
    await add(policies, guild_id, 2, Action.KICK, window=timedelta(days=1))
    await services.moderation.act(request(guild_id, Action.WARN))
    clock.at = NOW + timedelta(days=2)
    second = await services.moderation.act(request(guild_id, Action.WARN))
    assert second.escalations == ()
    third = await services.moderation.act(request(guild_id, Action.WARN))
    assert [e.case.type for e in third.escalations] == [Action.KICK]


async def test_a_failed_rung_is_reported_not_raised(
    services: Services,
    policies: PolicyService,
    gateway: RecordingGateway,
    config: ConfigService,
    guild_id: int,
) -> None:
    await config.set(guild_id, "modlog_channel_id", 555, actor=MANAGER)
    await add(policies, guild_id, 1, Action.MUTE, timedelta(hours=1))
    gateway.failures["timeout"] = DiscordFailure(403, 50013, "Missing Permissions")
    outcome = await services.moderation.act(request(guild_id, Action.WARN))
    assert outcome.case.type is Action.WARN
    [failure] = outcome.escalation_failures
    assert failure.startswith("escalation to mute (policy #")
    assert "Discord refused" in failure
    assert gateway.names().count("modlog") == 2  # the warning, then why the rung failed


async def test_the_escalation_feature_can_be_switched_off(
    services: Services, policies: PolicyService, config: ConfigService, guild_id: int
) -> None:
    await add(policies, guild_id, 1, Action.KICK)
    await config.set_feature(guild_id, "escalation", False, actor=MANAGER)
    assert (await services.moderation.act(request(guild_id, Action.WARN))).escalations == ()


async def test_policies_are_validated_and_audited(
    policies: PolicyService, database: Database, guild_id: int
) -> None:
    for threshold, action, duration, message in [
        (0, Action.KICK, None, "between 1 and 50"),
        (3, Action.WARN, None, "mute, kick or ban"),
        (3, Action.MUTE, None, "needs a duration"),
        (3, Action.KICK, timedelta(hours=1), "no duration"),
    ]:
        with pytest.raises(PolicyRefused, match=message):
            await add(policies, guild_id, threshold, action, duration)
    await add(policies, guild_id, 3, Action.BAN, timedelta(days=7))
    with pytest.raises(Exception, match="already a policy at 3 warnings"):
        await add(policies, guild_id, 3, Action.KICK)
    [policy] = await policies.list(guild_id, actor=MANAGER)
    await policies.remove(guild_id, policy.id, actor=MANAGER)
    with pytest.raises(PolicyRefused, match=f"no policy #{policy.id}"):
        await policies.remove(guild_id, policy.id, actor=MANAGER)
    async with database.autocommit() as uow:
        removed, added = await uow.changes.recent(guild_id, limit=2)
    expected = {"threshold": 3, "action": "ban", "duration_seconds": 604800, "window_seconds": None}
    assert (added.action, added.before, added.after) == ("policy.add", None, expected)
    assert (removed.action, removed.before, removed.after) == ("policy.remove", expected, None)
