"""`python -m bot` starts the bot."""

import signal
import sys

# A SIGTERM before the event loop takes over signals (while importing, migrating,
# connecting) has nothing to clean up: exit at once, and cleanly.
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

from bot.cli import main  # noqa: E402  (after the handler: imports take a second)

sys.exit(main(["run", *sys.argv[1:]]))
