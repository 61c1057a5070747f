"""The Alembic chain creates exactly the schema `bot/models.py` declares, on a real file."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from bot.core.db import alembic_config, upgrade_to_head
from bot.core.tables import Base
from bot.features import import_tables

import_tables()


def _sync_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_upgrade_head_matches_models(tmp_path: Path) -> None:
    db = tmp_path / "schema.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{db}")

    engine = sa.create_engine(_sync_url(db))
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
        tables = set(sa.inspect(connection).get_table_names())
        mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
    engine.dispose()

    assert diff == [], f"models and migrations differ: {diff}"
    assert {"queries", "alembic_version"} <= tables
    assert set(Base.metadata.tables) <= tables
    assert mode == "wal"


def test_revision_ids_are_fixed_strings_in_one_chain() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    revisions = list(script.walk_revisions())  # newest first
    assert revisions[-1].revision == "0001_queries"
    assert revisions[-1].down_revision is None
    assert len(script.get_heads()) == 1, "the migration chain forked"
    for revision in revisions:
        assert revision.revision[:4].isdigit() and "_" in revision.revision


def test_downgrade_to_base_and_back(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade_to_head(url)
    command.downgrade(alembic_config(url), "base")
    engine = sa.create_engine(_sync_url(tmp_path / "roundtrip.db"))
    with engine.connect() as connection:
        assert "queries" not in sa.inspect(connection).get_table_names()
    engine.dispose()
    upgrade_to_head(url)  # and the chain still applies on the emptied database
    engine = sa.create_engine(_sync_url(tmp_path / "roundtrip.db"))
    with engine.connect() as connection:
        assert "queries" in sa.inspect(connection).get_table_names()
    engine.dispose()
