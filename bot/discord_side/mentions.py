"""Lockdown never pings anyone: every message it sends uses this."""

from __future__ import annotations

import discord

NO_MENTIONS = discord.AllowedMentions.none()
