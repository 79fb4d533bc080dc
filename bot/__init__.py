"""Lockdown: a self-hostable Discord moderation bot."""
