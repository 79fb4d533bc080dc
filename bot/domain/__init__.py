"""Pure domain code: no discord.py, SQLAlchemy or Redis imports here."""
