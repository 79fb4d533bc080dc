"""Automod: rules that act on messages by themselves (issue 12).

Pure domain code: :mod:`.normalise` says how text is compared, :mod:`.rules` what the
engine is told and answers, :mod:`.engine` how a guild's rules are compiled and run.
"""
