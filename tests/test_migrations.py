"""The Alembic chain creates exactly the schema the feature tables declare, on a real
SQLite file and on PostgreSQL, and unwinds cleanly."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.core.db import alembic_config, create_engine, upgrade_to_head_async
from bot.core.settings import async_database_url
from bot.core.tables import Base
from bot.features import import_tables

import_tables()


def _schema(connection: sa.Connection) -> tuple[list, set[str], str | None]:
    """(differences between tables and database, the database's tables, SQLite's journal)."""
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "render_as_batch": True}
    )
    diff = compare_metadata(context, Base.metadata)
    tables = set(sa.inspect(connection).get_table_names())
    journal = None
    if connection.dialect.name == "sqlite":
        journal = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    return diff, tables, journal


async def _read_schema(url: str) -> tuple[list, set[str], str | None]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_schema)
    finally:
        await engine.dispose()


async def test_upgrade_head_matches_the_tables(fresh_database_url: str) -> None:
    url = async_database_url(fresh_database_url)
    await upgrade_to_head_async(url)
    diff, tables, journal = await _read_schema(url)

    assert diff == [], f"tables and migrations differ: {diff}"
    assert {"queries", "alembic_version"} <= tables
    assert set(Base.metadata.tables) <= tables
    if url.startswith("sqlite"):
        assert journal == "wal"


def test_revision_ids_are_fixed_strings_in_one_chain() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())  # newest first
    assert revisions[-1].revision == "0001_queries"
    assert revisions[-1].down_revision is None
    assert len(script.get_heads()) == 1, "the migration chain forked"
    for revision in revisions:
        assert revision.revision[:4].isdigit() and "_" in revision.revision


async def test_downgrade_to_base_and_back(fresh_database_url: str) -> None:
    url = async_database_url(fresh_database_url)
    await upgrade_to_head_async(url)
    # Alembic's env runs its own event loop: from a worker thread, as the bot does.
    await asyncio.to_thread(command.downgrade, alembic_config(url), "base")
    _, tables, _ = await _read_schema(url)
    assert tables <= {"alembic_version"}
    await upgrade_to_head_async(url)  # and the chain still applies on the emptied database
    diff, tables, _ = await _read_schema(url)
    assert diff == [] and set(Base.metadata.tables) <= tables
