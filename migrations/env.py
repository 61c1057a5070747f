"""Alembic environment for the bot's database (async engines, SQLite and PostgreSQL).

Three ways in:
- the bot at start-up (bot/core/db.py `upgrade_to_head`, in a worker thread: this env runs
  its own event loop with `asyncio.run`);
- a test or tool that already holds a sync Connection passes it as
  `config.attributes["connection"]`;
- `alembic upgrade head` by hand: the URL then comes from sqlalchemy.url or the settings.
"""

from __future__ import annotations

import asyncio
from logging.config import fileConfig

from alembic import context
from sqlalchemy.engine import Connection

from bot.core.db import MIGRATION_DEADLINES, create_engine
from bot.core.tables import Base
from bot.features import import_tables

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

import_tables()
target_metadata = Base.metadata


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from bot.core.settings import Settings

    return Settings().database_url_resolved


def _configure(connection: Connection | None = None, **kwargs: object) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode copies the table instead.
        render_as_batch=True,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    """`alembic upgrade head --sql`: print the SQL instead of running it."""
    _configure(url=_url(), literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


# Bot processes started together on one PostgreSQL database would each create the tables;
# this lock makes the second wait for the first's upgrade and then find nothing to do.
SCHEMA_LOCK = 0x6D757369630001  # any fixed number; only this upgrade takes it


def _run_sync(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        # Held until the upgrade's transaction ends (PostgreSQL runs DDL in transactions).
        connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = create_engine(_url(), MIGRATION_DEADLINES)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_sync(connection)
    else:
        asyncio.run(_run_async())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
