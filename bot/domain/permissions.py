"""The Discord permission bits moderation reads, with the names Discord's client shows."""

from __future__ import annotations

import enum


class Permission(enum.IntFlag):
    """Discord's own bit values."""

    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_GUILD = 1 << 5
    MANAGE_ROLES = 1 << 28
    MODERATE_MEMBERS = 1 << 40


PERMISSION_NAMES = {
    Permission.BAN_MEMBERS: "Ban Members",
    Permission.KICK_MEMBERS: "Kick Members",
    Permission.MODERATE_MEMBERS: "Timeout Members",
    Permission.MANAGE_GUILD: "Manage Server",
}
