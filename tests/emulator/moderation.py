"""Moderation rules and side effects shared by REST calls and "human" UI actions.

Whether the bot bans through `PUT /guilds/{g}/bans/{u}` or a test simulates a
moderator banning in Discord's client, the same checks run (permission,
role hierarchy, owner protection) and the same things happen afterwards:
the world changes, an audit-log entry is written and the gateway events
Discord would send go out to the shard owning the guild.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Any

from . import errors, payloads
from .signals import EventSink, Intent
from .world import AuditLogEntry, Guild, Member, Permission, World, utcnow

MAX_TIMEOUT = timedelta(days=28)
MAX_DELETE_MESSAGE_SECONDS = 7 * 24 * 3600
MAX_BULK_BAN = 200


class AuditAction(IntEnum):
    MEMBER_KICK = 20
    MEMBER_BAN_ADD = 22
    MEMBER_BAN_REMOVE = 23
    MEMBER_UPDATE = 24
    MEMBER_ROLE_UPDATE = 25


@dataclass
class MemberEdit:
    """The fields of `PATCH /guilds/{g}/members/{u}` the emulator understands."""

    set_timeout: bool = False
    timeout_until: datetime | None = None
    roles: list[int] | None = None
    set_nick: bool = False
    nick: str | None = None


class Moderation:
    def __init__(self, world: World, sink: EventSink) -> None:
        self.world = world
        self.sink = sink

    # ----------------------------------------------------------------- checks

    def _guild(self, guild_id: int) -> Guild:
        guild = self.world.guilds.get(guild_id)
        if guild is None:
            raise errors.unknown_guild()
        return guild

    def _require(self, guild: Guild, actor_id: int, permission: int) -> None:
        if self.world.permissions(guild, actor_id) & permission != permission:
            raise errors.missing_permissions()

    def _require_outranks(self, guild: Guild, actor_id: int, target_id: int) -> None:
        if not self.world.outranks(guild, actor_id, target_id):
            raise errors.missing_permissions()

    def _member(self, guild: Guild, user_id: int) -> Member:
        member = guild.members.get(user_id)
        if member is None:
            raise errors.unknown_member()
        return member

    # ------------------------------------------------------------ audit/events

    def audit(
        self,
        guild: Guild,
        action: AuditAction,
        actor_id: int,
        target_id: int,
        *,
        reason: str | None,
        changes: list[dict[str, Any]] | None = None,
    ) -> AuditLogEntry:
        entry = AuditLogEntry(
            self.world.next_id(), guild.id, int(action), actor_id, target_id, reason, changes or []
        )
        guild.audit_log.append(entry)
        # Discord only streams audit entries to bots that may read the audit log.
        if self.world.permissions(guild, self.world.bot.id) & Permission.VIEW_AUDIT_LOG:
            data = payloads.audit_entry(entry) | {"guild_id": str(guild.id)}
            self.sink.dispatch_guild(
                guild.id, "GUILD_AUDIT_LOG_ENTRY_CREATE", data, intent=Intent.GUILD_MODERATION
            )
        return entry

    def _member_update_event(self, guild: Guild, member: Member) -> None:
        data = payloads.member(self.world, member) | {"guild_id": str(guild.id)}
        # Updates about the bot itself arrive without the GUILD_MEMBERS intent.
        intent = None if member.user_id == self.world.bot.id else Intent.GUILD_MEMBERS
        self.sink.dispatch_guild(guild.id, "GUILD_MEMBER_UPDATE", data, intent=intent)

    def _member_remove_event(self, guild: Guild, user_id: int) -> None:
        data = {"guild_id": str(guild.id), "user": payloads.user(self.world.user(user_id))}
        self.sink.dispatch_guild(guild.id, "GUILD_MEMBER_REMOVE", data, intent=Intent.GUILD_MEMBERS)

    def _purge_messages(self, guild: Guild, user_id: int, seconds: int) -> None:
        """Ban's delete_message_seconds: drop the user's recent messages, per channel in bulk."""
        if seconds <= 0:
            return
        since = utcnow() - timedelta(seconds=seconds)
        by_channel: dict[int, list[int]] = {}
        for message in self.world.messages.values():
            if (
                message.guild_id == guild.id
                and message.author_id == user_id
                and not message.deleted
                and message.created_at >= since
            ):
                message.deleted = True
                by_channel.setdefault(message.channel_id, []).append(message.id)
        for channel_id, ids in by_channel.items():
            data = {
                "ids": [str(i) for i in ids],
                "channel_id": str(channel_id),
                "guild_id": str(guild.id),
            }
            self.sink.dispatch_guild(
                guild.id, "MESSAGE_DELETE_BULK", data, intent=Intent.GUILD_MESSAGES
            )

    # ---------------------------------------------------------------- actions

    @staticmethod
    def validate_delete_seconds(seconds: int) -> None:
        if not 0 <= seconds <= MAX_DELETE_MESSAGE_SECONDS:
            raise errors.invalid_form_body(
                "delete_message_seconds",
                "NUMBER_TYPE_MAX" if seconds > 0 else "NUMBER_TYPE_MIN",
                f"int value should be between 0 and {MAX_DELETE_MESSAGE_SECONDS}.",
            )

    def ban(
        self,
        guild_id: int,
        actor_id: int,
        user_id: int,
        reason: str | None,
        delete_message_seconds: int = 0,
    ) -> None:
        guild = self._guild(guild_id)
        self.validate_delete_seconds(delete_message_seconds)
        if user_id not in self.world.users:
            raise errors.unknown_user()
        self._require(guild, actor_id, Permission.BAN_MEMBERS)
        if user_id in guild.members:
            self._require_outranks(guild, actor_id, user_id)
        self._apply_ban(guild, actor_id, user_id, reason, delete_message_seconds)

    def _apply_ban(
        self, guild: Guild, actor_id: int, user_id: int, reason: str | None, seconds: int
    ) -> None:
        if user_id in guild.bans:
            return  # Discord answers 204 and changes nothing.
        guild.bans[user_id] = reason
        self._purge_messages(guild, user_id, seconds)
        user = payloads.user(self.world.user(user_id))
        self.sink.dispatch_guild(
            guild.id,
            "GUILD_BAN_ADD",
            {"guild_id": str(guild.id), "user": user},
            intent=Intent.GUILD_MODERATION,
        )
        if guild.members.pop(user_id, None) is not None:
            self._member_remove_event(guild, user_id)
        self.audit(guild, AuditAction.MEMBER_BAN_ADD, actor_id, user_id, reason=reason)

    def bulk_ban(
        self,
        guild_id: int,
        actor_id: int,
        user_ids: list[int],
        reason: str | None,
        delete_message_seconds: int = 0,
    ) -> tuple[list[int], list[int]]:
        """Returns (banned, failed). Already-banned, unknown and out-ranking users fail;
        the caller itself is silently skipped; all failing is an error, as on Discord."""
        guild = self._guild(guild_id)
        if len(user_ids) > MAX_BULK_BAN:
            raise errors.invalid_form_body(
                "user_ids", "BASE_TYPE_MAX_LENGTH", f"Must be {MAX_BULK_BAN} or fewer in length."
            )
        self.validate_delete_seconds(delete_message_seconds)
        self._require(guild, actor_id, Permission.BAN_MEMBERS | Permission.MANAGE_GUILD)
        banned: list[int] = []
        failed: list[int] = []
        for user_id in dict.fromkeys(user_ids):
            if user_id == actor_id:
                continue
            if (
                user_id not in self.world.users
                or user_id in guild.bans
                or (user_id in guild.members and not self.world.outranks(guild, actor_id, user_id))
            ):
                failed.append(user_id)
                continue
            self._apply_ban(guild, actor_id, user_id, reason, delete_message_seconds)
            banned.append(user_id)
        if not banned:
            raise errors.bulk_ban_failed()
        return banned, failed

    def unban(self, guild_id: int, actor_id: int, user_id: int, reason: str | None) -> None:
        guild = self._guild(guild_id)
        self._require(guild, actor_id, Permission.BAN_MEMBERS)
        if user_id not in guild.bans:
            raise errors.unknown_ban()
        del guild.bans[user_id]
        user = payloads.user(self.world.user(user_id))
        self.sink.dispatch_guild(
            guild.id,
            "GUILD_BAN_REMOVE",
            {"guild_id": str(guild.id), "user": user},
            intent=Intent.GUILD_MODERATION,
        )
        self.audit(guild, AuditAction.MEMBER_BAN_REMOVE, actor_id, user_id, reason=reason)

    def kick(self, guild_id: int, actor_id: int, user_id: int, reason: str | None) -> None:
        guild = self._guild(guild_id)
        self._member(guild, user_id)
        self._require(guild, actor_id, Permission.KICK_MEMBERS)
        self._require_outranks(guild, actor_id, user_id)
        del guild.members[user_id]
        self._member_remove_event(guild, user_id)
        self.audit(guild, AuditAction.MEMBER_KICK, actor_id, user_id, reason=reason)

    def timeout(
        self, guild_id: int, actor_id: int, user_id: int, until: datetime | None, reason: str | None
    ) -> Member:
        return self.edit_member(
            guild_id, actor_id, user_id, MemberEdit(set_timeout=True, timeout_until=until), reason
        )

    def change_roles(
        self,
        guild_id: int,
        actor_id: int,
        user_id: int,
        reason: str | None,
        *,
        add: tuple[int, ...] = (),
        remove: tuple[int, ...] = (),
    ) -> Member:
        guild = self._guild(guild_id)
        current = list(self._member(guild, user_id).role_ids)
        wanted = [r for r in current if r not in remove] + [r for r in add if r not in current]
        return self.edit_member(guild_id, actor_id, user_id, MemberEdit(roles=wanted), reason)

    def edit_member(
        self, guild_id: int, actor_id: int, user_id: int, edit: MemberEdit, reason: str | None
    ) -> Member:
        """Validate every requested change first, then apply them together."""
        guild = self._guild(guild_id)
        member = self._member(guild, user_id)
        if edit.set_timeout:
            self._check_timeout(guild, actor_id, user_id, edit.timeout_until)
        added: list[int] = []
        removed: list[int] = []
        if edit.roles is not None:
            added, removed = self._check_roles(guild, actor_id, member, edit.roles)
        if edit.set_nick:
            self._check_nick(guild, actor_id, user_id)
        member_changes: list[dict[str, Any]] = []
        if edit.set_timeout and edit.timeout_until != member.communication_disabled_until:
            member_changes.append(
                _change(
                    "communication_disabled_until",
                    payloads.iso(member.communication_disabled_until),
                    payloads.iso(edit.timeout_until),
                )
            )
            member.communication_disabled_until = edit.timeout_until
        if edit.set_nick and edit.nick != member.nick:
            member_changes.append(_change("nick", member.nick, edit.nick))
            member.nick = edit.nick
        role_changes: list[dict[str, Any]] = []
        for key, ids in (("$add", added), ("$remove", removed)):
            if ids:
                named = [{"id": str(r), "name": guild.roles[r].name} for r in ids]
                role_changes.append({"key": key, "new_value": named})
        if edit.roles is not None:
            member.role_ids = [r for r in member.role_ids if r not in removed] + added
        if not member_changes and not role_changes:
            return member
        self._member_update_event(guild, member)
        if role_changes:
            self.audit(
                guild,
                AuditAction.MEMBER_ROLE_UPDATE,
                actor_id,
                user_id,
                reason=reason,
                changes=role_changes,
            )
        if member_changes:
            self.audit(
                guild,
                AuditAction.MEMBER_UPDATE,
                actor_id,
                user_id,
                reason=reason,
                changes=member_changes,
            )
        return member

    def _check_timeout(
        self, guild: Guild, actor_id: int, user_id: int, until: datetime | None
    ) -> None:
        if until is not None and until > utcnow() + MAX_TIMEOUT:
            raise errors.invalid_form_body(
                "communication_disabled_until",
                "BASE_TYPE_BAD_TIME",
                "Cannot time out a member for more than 28 days.",
            )
        self._require(guild, actor_id, Permission.MODERATE_MEMBERS)
        self._require_outranks(guild, actor_id, user_id)
        if self.world.permissions(guild, user_id) & Permission.ADMINISTRATOR:
            raise errors.missing_permissions()

    def _check_roles(
        self, guild: Guild, actor_id: int, member: Member, wanted: list[int]
    ) -> tuple[list[int], list[int]]:
        """Role edits need MANAGE_ROLES and every touched role strictly below the
        actor's top role (the owner is exempt); managed roles can't be touched."""
        unknown = [r for r in wanted if r not in guild.roles or r == guild.id]
        if unknown:
            raise errors.unknown_role()
        added = [r for r in dict.fromkeys(wanted) if r not in member.role_ids]
        removed = [r for r in member.role_ids if r not in wanted]
        if not added and not removed:
            return added, removed
        self._require(guild, actor_id, Permission.MANAGE_ROLES)
        actor_top = self.world.top_role_position(guild, actor_id)
        for role_id in added + removed:
            role = guild.roles[role_id]
            if role.managed or (actor_id != guild.owner_id and role.position >= actor_top):
                raise errors.missing_permissions()
        return added, removed

    def _check_nick(self, guild: Guild, actor_id: int, user_id: int) -> None:
        if actor_id == user_id:
            self._require(guild, actor_id, Permission.CHANGE_NICKNAME)
            return
        self._require(guild, actor_id, Permission.MANAGE_NICKNAMES)
        self._require_outranks(guild, actor_id, user_id)

    # ------------------------------------------------------- membership churn

    def member_join(self, guild_id: int, user_id: int) -> Member:
        guild = self._guild(guild_id)
        if user_id in guild.bans:
            raise errors.ApiError(403, 40007, "The user is banned from this guild.")
        member = self.world.add_member(guild, user_id)
        data = payloads.member(self.world, member) | {"guild_id": str(guild.id)}
        self.sink.dispatch_guild(guild.id, "GUILD_MEMBER_ADD", data, intent=Intent.GUILD_MEMBERS)
        return member

    def member_leave(self, guild_id: int, user_id: int) -> None:
        guild = self._guild(guild_id)
        self._member(guild, user_id)
        del guild.members[user_id]
        self._member_remove_event(guild, user_id)


def _change(key: str, old: Any, new: Any) -> dict[str, Any]:
    """An audit-log change; Discord omits old_value/new_value when they are null."""
    change: dict[str, Any] = {"key": key}
    if old is not None:
        change["old_value"] = old
    if new is not None:
        change["new_value"] = new
    return change
