"""`python -m bot` starts the bot."""

import sys

from bot.cli import main

sys.exit(main(["run", *sys.argv[1:]]))
