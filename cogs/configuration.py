"""`/config` and `/feature`: admins shape moderation for their server."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_side.limits import ELLIPSIS, FIELD_VALUE, add_field
from bot.domain.config import BOUNDS, DM_ACTIONS, FEATURES, SETTING_KEYS, GuildConfig
from bot.domain.durations import format_duration, parse_duration
from bot.domain.errors import LockdownError
from bot.services.container import Services
from cogs._adapters import actor, reply
from cogs._render import Reply, TextFile, fit_lines

MAX_APPEAL = 500
RETENTION = BOUNDS["retention_days"]
MANAGE_GUILD = discord.Permissions(manage_guild=True)


class ConfigRefused(LockdownError):
    """A value the bot could not work with; the message says what to fix."""


ROLES_FILE = "moderator-roles.txt"

#: How a moderator role without the commands' permissions gets to see them.
SHOW_COMMANDS = (
    "Discord shows these commands only to members with the matching permission. "
    "To let a moderator role without it use them, open Server Settings → Integrations → "
    "Lockdown, choose the command, and add the role (or allow it for all commands)."
)


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def describe_config(config: GuildConfig, role_names: Mapping[int, str] | None = None) -> Reply:
    """The whole effective configuration on one embed.

    A guild may name up to 250 moderator roles, far more mentions than a field holds:
    the field then shows those that fit and every one is in an attached file.
    """

    def channel(value: int | None) -> str:
        return f"<#{value}>" if value else "not set"

    def role(value: int | None) -> str:
        return f"<@&{value}>" if value else "not set"

    embed = discord.Embed(title="Lockdown configuration", colour=discord.Colour.blurple())
    add_field(embed, "Mod log", channel(config.modlog_channel_id))
    add_field(
        embed,
        "DM notifications",
        ", ".join(f"{a} {'on' if config.dm_on(a) else 'off'}" for a in DM_ACTIONS),
    )
    add_field(embed, "Appeal text", config.appeal_text or "not set", inline=False)
    add_field(embed, "Mute role", role(config.mute_role_id))
    roles, left_out = fit_lines(
        [role(r) for r in config.moderator_role_ids],
        FIELD_VALUE,
        sep=", ",
        more=lambda n: f"{ELLIPSIS}and {n} more (all in {ROLES_FILE})",
    )
    add_field(embed, "Moderator roles", roles or "none")
    expiry = config.warn_expiry_seconds
    add_field(
        embed,
        "Warnings expire after",
        format_duration(timedelta(seconds=expiry)) if expiry else "never",
    )
    add_field(embed, "Data kept after leaving", _days(config.retention_days))
    add_field(
        embed,
        "Anti-nuke",
        f"{config.antinuke_actions} bans and kicks per "
        f"{format_duration(timedelta(seconds=config.antinuke_window_seconds))}",
    )
    add_field(
        embed,
        "Features",
        "\n".join(f"{name}: {'on' if config.enabled(name) else 'off'}" for name in FEATURES),
        inline=False,
    )
    reply = Reply(embeds=[embed])
    if left_out:
        names = role_names or {}
        listing = [f"{r}\t{names.get(r, '(deleted role)')}" for r in config.moderator_role_ids]
        reply.files.append(
            TextFile(ROLES_FILE, f"Moderator roles: {len(listing)}\n" + "\n".join(listing))
        )
    return reply


def _guild(interaction: discord.Interaction) -> discord.Guild:
    assert interaction.guild is not None
    return interaction.guild


class Configuration(commands.Cog):
    def __init__(self, services: Services) -> None:
        self.services = services

    config = app_commands.Group(
        name="config",
        description="Configure Lockdown for this server",
        guild_only=True,
        default_permissions=MANAGE_GUILD,
    )
    moderator_role = app_commands.Group(
        name="moderator-role", description="Roles that may moderate", parent=config
    )
    feature = app_commands.Group(
        name="feature",
        description="Switch optional behaviour on or off",
        guild_only=True,
        default_permissions=MANAGE_GUILD,
    )

    async def _set(self, interaction: discord.Interaction, key: str, value: object) -> None:
        await self.services.config.set(_guild(interaction).id, key, value, actor=actor(interaction))

    async def _authorize(self, interaction: discord.Interaction, key: str) -> None:
        """For commands that check their input first: a refusal comes before anything
        about the input (every write checks again in the service)."""
        await self.services.config.authorize(
            _guild(interaction).id, actor(interaction), entity_id=key
        )

    @config.command(name="show", description="Show this server's whole configuration")
    async def show(self, interaction: discord.Interaction) -> None:
        guild = _guild(interaction)
        config = await self.services.config.read(guild.id, actor=actor(interaction))
        names = {role.id: role.name for role in guild.roles}
        await reply(interaction, describe_config(config, names), ephemeral=True)

    @config.command(name="modlog", description="Where every case is announced")
    @app_commands.describe(channel="A text channel I can post embeds in")
    async def modlog(self, interaction: discord.Interaction, channel: discord.TextChannel) -> None:
        await self._authorize(interaction, "modlog_channel_id")
        me = _guild(interaction).me
        permissions = channel.permissions_for(me)
        missing = [
            name
            for name, granted in (
                ("View Channel", permissions.view_channel),
                ("Send Messages", permissions.send_messages),
                ("Embed Links", permissions.embed_links),
            )
            if not granted
        ]
        if missing:
            raise ConfigRefused(
                f"I can't post in {channel.mention}: I need {', '.join(missing)} there."
            )
        await self._set(interaction, "modlog_channel_id", channel.id)
        await reply(interaction, f"Cases will be announced in {channel.mention}.", ephemeral=True)

    @config.command(name="dm-notify", description="Whether members hear about an action by DM")
    @app_commands.describe(action="Which action", enabled="Send the DM?")
    @app_commands.choices(action=[app_commands.Choice(name=a, value=a) for a in DM_ACTIONS])
    async def dm_notify(self, interaction: discord.Interaction, action: str, enabled: bool) -> None:
        await self._set(interaction, f"dm_on_{action}", enabled)
        state = "will" if enabled else "will not"
        await reply(
            interaction, f"Members {state} get a DM when they get a {action}.", ephemeral=True
        )

    @config.command(name="appeal", description="Text added to ban and kick DMs")
    @app_commands.describe(text="How to appeal, e.g. a form link")
    async def appeal(self, interaction: discord.Interaction, text: str) -> None:
        await self._authorize(interaction, "appeal_text")
        text = text.strip()
        if not text or len(text) > MAX_APPEAL:
            raise ConfigRefused(f"The appeal text must be 1 to {MAX_APPEAL} characters.")
        await self._set(interaction, "appeal_text", text)
        await reply(interaction, "Ban and kick DMs will include the appeal text.", ephemeral=True)

    @config.command(name="mute-role", description="A role for mutes, if you prefer roles")
    @app_commands.describe(role="A role below my highest role")
    async def mute_role(self, interaction: discord.Interaction, role: discord.Role) -> None:
        await self._authorize(interaction, "mute_role_id")
        me = _guild(interaction).me
        if role.is_default() or role.managed:
            raise ConfigRefused(f"{role.mention} can't be given to members.")
        if role >= me.top_role:
            raise ConfigRefused(
                f"{role.mention} is not below my highest role ({me.top_role.mention}), "
                "so I could not give it: move my role above it first."
            )
        await self._set(interaction, "mute_role_id", role.id)
        await reply(interaction, f"The mute role is now {role.mention}.", ephemeral=True)

    @moderator_role.command(name="add", description="Let members with a role moderate")
    async def moderator_role_add(
        self, interaction: discord.Interaction, role: discord.Role
    ) -> None:
        await self._authorize(interaction, "moderator_role_ids")
        roles = (await self.services.config.get(_guild(interaction).id)).moderator_role_ids
        if role.id in roles:
            raise ConfigRefused(f"{role.mention} is already a moderator role.")
        await self._set(interaction, "moderator_role_ids", [*roles, role.id])
        await reply(
            interaction,
            f"{role.mention} is now a moderator role: its members may use Lockdown's "
            f"moderation and case commands. {SHOW_COMMANDS}",
            ephemeral=True,
        )

    @moderator_role.command(name="remove", description="Stop a role from moderating")
    async def moderator_role_remove(
        self, interaction: discord.Interaction, role: discord.Role
    ) -> None:
        await self._authorize(interaction, "moderator_role_ids")
        roles = (await self.services.config.get(_guild(interaction).id)).moderator_role_ids
        if role.id not in roles:
            raise ConfigRefused(f"{role.mention} is not a moderator role.")
        await self._set(interaction, "moderator_role_ids", [r for r in roles if r != role.id])
        await reply(interaction, f"{role.mention} is no longer a moderator role.", ephemeral=True)

    @config.command(name="warn-expiry", description="How long warnings count (or 'off')")
    @app_commands.describe(duration="Like 30d or 12w; 'off' to keep warnings counting forever")
    async def warn_expiry(self, interaction: discord.Interaction, duration: str) -> None:
        await self._authorize(interaction, "warn_expiry_seconds")
        if duration.strip().lower() == "off":
            await self._set(interaction, "warn_expiry_seconds", None)
            await reply(interaction, "Warnings now count until pardoned.", ephemeral=True)
            return
        parsed = parse_duration(duration)
        await self._set(interaction, "warn_expiry_seconds", int(parsed.total_seconds()))
        await reply(
            interaction,
            f"New warnings stop counting after {format_duration(parsed)}.",
            ephemeral=True,
        )

    @config.command(name="retention", description="How long I keep data after leaving")
    @app_commands.describe(
        days=f"Days to keep cases and settings once I leave ({RETENTION.low} to {RETENTION.high})"
    )
    async def retention(
        self,
        interaction: discord.Interaction,
        days: app_commands.Range[int, RETENTION.low, RETENTION.high],
    ) -> None:
        await self._set(interaction, "retention_days", days)
        await reply(
            interaction,
            f"If I leave this server, its cases and settings are deleted after {_days(days)}.",
            ephemeral=True,
        )

    @config.command(name="anti-nuke", description="How many bans and kicks a moderator may make")
    @app_commands.describe(
        actions="Bans and kicks allowed (1 to 1000)", window="Within how long, like 10m or 1h"
    )
    async def anti_nuke(
        self,
        interaction: discord.Interaction,
        actions: app_commands.Range[int, 1, 1000],
        window: str,
    ) -> None:
        await self._authorize(interaction, "antinuke_actions")
        seconds = int(parse_duration(window).total_seconds())
        await self._set(interaction, "antinuke_actions", actions)
        await self._set(interaction, "antinuke_window_seconds", seconds)
        await reply(
            interaction,
            f"A moderator may now ban or kick {actions} members per "
            f"{format_duration(timedelta(seconds=seconds))}.",
            ephemeral=True,
        )

    @config.command(name="reset", description="Restore one setting's default, or all of them")
    @app_commands.describe(key="The setting to reset; leave empty to reset everything")
    @app_commands.choices(key=[app_commands.Choice(name=k, value=k) for k in SETTING_KEYS])
    async def reset(self, interaction: discord.Interaction, key: str | None = None) -> None:
        guild_id, person = _guild(interaction).id, actor(interaction)
        if key is None:
            await self.services.config.reset(guild_id, actor=person)
            await reply(interaction, "Every setting is back to its default.", ephemeral=True)
        else:
            await self.services.config.reset(guild_id, key, actor=person)
            await reply(interaction, f"`{key}` is back to its default.", ephemeral=True)

    @feature.command(name="list", description="Optional behaviour and whether it is on")
    async def feature_list(self, interaction: discord.Interaction) -> None:
        config = await self.services.config.read(_guild(interaction).id, actor=actor(interaction))
        lines = [
            f"**{name}** ({'on' if config.enabled(name) else 'off'}): {text}"
            for name, text in FEATURES.items()
        ]
        await reply(interaction, "\n".join(lines), ephemeral=True)

    @feature.command(name="enable", description="Switch a feature on")
    @app_commands.choices(name=[app_commands.Choice(name=n, value=n) for n in FEATURES])
    async def feature_enable(self, interaction: discord.Interaction, name: str) -> None:
        await self._toggle(interaction, name, True)

    @feature.command(name="disable", description="Switch a feature off")
    @app_commands.choices(name=[app_commands.Choice(name=n, value=n) for n in FEATURES])
    async def feature_disable(self, interaction: discord.Interaction, name: str) -> None:
        await self._toggle(interaction, name, False)

    async def _toggle(self, interaction: discord.Interaction, name: str, enabled: bool) -> None:
        await self.services.config.set_feature(
            _guild(interaction).id, name, enabled, actor=actor(interaction)
        )
        await reply(interaction, f"**{name}** is now {'on' if enabled else 'off'}.", ephemeral=True)
