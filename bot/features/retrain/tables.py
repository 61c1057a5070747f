"""Tables for retraining: every run's record, and the lease that serialises runs.

Migration: migrations/versions/0002_training_runs.py.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Enum, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.core.tables import Base, RowId, utcnow


class RunStatus(StrEnum):
    """How a training run stands (stored as its value)."""

    RUNNING = "running"
    # Blessed; recorded right before the pointer switch, so start-up can tell a run whose
    # model went live before a crash (it is current) from one that never did.
    PUBLISHING = "publishing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    # Trained and sane, but the blessing gate kept it from serving; the candidate is kept.
    REFUSED = "refused"
    # The bot stopped (or died) before the run ended; nothing was published.
    INTERRUPTED = "interrupted"


class RunTrigger(StrEnum):
    """What started a run (stored as its value)."""

    SCHEDULE = "schedule"  # the RETRAIN_CRON schedule (including the catch-up at start-up)
    ADMIN = "admin"  # `!retrain`; `user_id` says who
    # `!rollback`: not a training run, but a change of the serving model worth a record:
    # `model_version` is the version served again, metrics["previous_version"] the one it
    # replaced. Never counts as the latest retrain (schedule, `!status`'s "Last retrain").
    ROLLBACK = "rollback"


# The names the feature's modules use.
RUNNING, PUBLISHING, SUCCEEDED = RunStatus.RUNNING, RunStatus.PUBLISHING, RunStatus.SUCCEEDED
FAILED, REFUSED, INTERRUPTED = RunStatus.FAILED, RunStatus.REFUSED, RunStatus.INTERRUPTED
SCHEDULE, ADMIN, ROLLBACK = RunTrigger.SCHEDULE, RunTrigger.ADMIN, RunTrigger.ROLLBACK


def _stored(enum: type[StrEnum]) -> Enum:
    """A column of the enum's values in the VARCHAR(16) the table always had (no native
    database enum, no CHECK constraint: the schema is unchanged, no migration)."""
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class TrainingRun(Base):
    """One retrain, scheduled or asked for: when, by whom, how it ended, what it made."""

    __tablename__ = "training_runs"

    id: Mapped[int] = mapped_column(RowId, primary_key=True, autoincrement=True)
    trigger: Mapped[RunTrigger] = mapped_column(_stored(RunTrigger))
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # the admin
    status: Mapped[RunStatus] = mapped_column(_stored(RunStatus), default=RunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # A one-line reason people read (channel, !status); `log_tail` is the trainer's stderr.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_tail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # train_seconds, duration, counts (rows/tracks/playlists/...), data sources, params.
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_training_runs_started_at", "started_at"),)

    def __repr__(self) -> str:
        return f"<TrainingRun #{self.id} {self.trigger} {self.status}>"


class TrainingLease(Base):
    """Who may train right now. One row per lease name; a holder renews it while training.

    A database row rather than a file lock, so two bot processes on different hosts that
    share the database still never train at once. An expired lease (its holder died) can
    be taken over.
    """

    __tablename__ = "training_lease"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    run_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    acquired_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
