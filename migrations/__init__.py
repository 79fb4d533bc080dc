"""The one Alembic history. Installed, it is the package `db.migrations` (see pyproject.toml)."""
