"""queries.understood: what an answer was for when it was not one song ("the artist Dua Lipa")

Revision ID: 0007_query_understood
Revises: 0006_additions
Create Date: 2026-12-08

Table: bot/features/recommend/tables.py. Older rows keep NULL: history names their song.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_query_understood"
down_revision: str | None = "0006_additions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queries") as batch:
        batch.add_column(sa.Column("understood", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("queries") as batch:
        batch.drop_column("understood")
