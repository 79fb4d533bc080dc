"""The Discord permission bits moderation reads, with the names Discord's client shows."""

from __future__ import annotations

import enum


class Permission(enum.IntFlag):
    """Discord's own bit values."""

    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_GUILD = 1 << 5
    VIEW_AUDIT_LOG = 1 << 7
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    EMBED_LINKS = 1 << 14
    MANAGE_ROLES = 1 << 28
    MODERATE_MEMBERS = 1 << 40


PERMISSION_NAMES = {
    Permission.BAN_MEMBERS: "Ban Members",
    Permission.KICK_MEMBERS: "Kick Members",
    Permission.MODERATE_MEMBERS: "Timeout Members",
    Permission.MANAGE_GUILD: "Manage Server",
    Permission.MANAGE_ROLES: "Manage Roles",
    Permission.VIEW_AUDIT_LOG: "View Audit Log",
    Permission.VIEW_CHANNEL: "View Channel",
    Permission.SEND_MESSAGES: "Send Messages",
    Permission.EMBED_LINKS: "Embed Links",
}
