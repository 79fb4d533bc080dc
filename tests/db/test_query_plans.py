"""The hot reads use their indexes on both backends (checked with EXPLAIN)."""

from __future__ import annotations

import json

from sqlalchemy import text

from bot.domain.shards import ShardScope
from db.engine import Database
from db.repositories.cases import history_query
from db.repositories.timers import expiry_query, renewal_query

TARGETS = 500
ROWS = 20_000


async def fill(database: Database, guild_id: int) -> None:
    """Many cases across many targets, then fresh planner statistics."""
    params = {"guild": guild_id, "rows": ROWS, "targets": TARGETS}
    if database.dialect == "postgresql":
        insert = """
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, created_at, state)
            SELECT :guild, n, 'note', n % :targets, 1, now(), 'closed'
            FROM generate_series(1, :rows) AS n"""
        analyze = "ANALYZE cases"
    else:
        insert = """
            WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < :rows)
            INSERT INTO cases (guild_id, number, type, target_id, moderator_id, created_at, state)
            SELECT :guild, n, 'note', n % :targets, 1, '2026-01-01 00:00:00.000000', 'closed'
            FROM seq"""
        analyze = "ANALYZE"
    async with database.transaction() as uow:
        await uow.execute(text(insert), params)
    async with database.autocommit() as uow:
        await uow.execute(text(analyze))


async def test_history_reads_the_index_backwards(database: Database, guild_id: int) -> None:
    await fill(database, guild_id)
    query = history_query(guild_id, 7, limit=20, before=None)
    literal = query.compile(dialect=database.engine.dialect, compile_kwargs={"literal_binds": True})
    sql = str(literal)

    async with database.autocommit() as uow:
        if database.dialect == "postgresql":
            result = await uow.execute(text(f"EXPLAIN (FORMAT JSON) {sql}"))
            plan = json.dumps(result.scalar_one())
            assert "ix_cases_guild_target_number" in plan
            assert '"Node Type": "Sort"' not in plan
            assert '"Node Type": "Seq Scan"' not in plan
        else:
            result = await uow.execute(text(f"EXPLAIN QUERY PLAN {sql}"))
            plan = " | ".join(row[-1] for row in result)
            assert "USING INDEX ix_cases_guild_target_number (guild_id=? AND target_id=?)" in plan
            assert "TEMP B-TREE" not in plan
            assert "SCAN cases" not in plan
        rows = (await uow.execute(query)).all()
    assert [row.number for row in rows] == list(range(ROWS - TARGETS + 7, 0, -TARGETS))[:20]


async def test_the_timer_queue_reads_its_partial_indexes(database: Database, guild_id: int) -> None:
    """With a large case log, finding the next expiry must not scan it."""
    await fill(database, guild_id)
    scope = ShardScope(1, frozenset({0}))
    queries = {
        "ix_cases_pending_expiry": expiry_query(scope).order_by("at").limit(1),
        "ix_cases_pending_renewal": renewal_query(scope).order_by("at").limit(1),
    }
    async with database.autocommit() as uow:
        for index, query in queries.items():
            literal = query.compile(
                dialect=database.engine.dialect, compile_kwargs={"literal_binds": True}
            )
            if database.dialect == "postgresql":
                result = await uow.execute(text(f"EXPLAIN (FORMAT JSON) {literal}"))
                plan = json.dumps(result.scalar_one())
                assert index in plan
                assert '"Node Type": "Seq Scan"' not in plan
            else:
                result = await uow.execute(text(f"EXPLAIN QUERY PLAN {literal}"))
                plan = " | ".join(row[-1] for row in result)
                assert f"USING INDEX {index}" in plan
                assert "SCAN cases" not in plan
