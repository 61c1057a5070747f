"""Small real data for the retrain tests: a few hundred rows of the real dataset.

Training on the whole catalog takes ~20 s; these helpers keep retrain tests fast while
still using real songs, playlists and audio features.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psutil

from bot.core.serving import model_store
from bot.core.settings import Settings
from recommender import Recommender
from recommender.artifacts import new_metadata
from recommender.data import catalog_from_rows, read_rows
from recommender.store import ModelStore

SMALL_PLAYLISTS = 6
REPO = Path(__file__).resolve().parents[1]


def write_small_csv(dataset: Path, out: Path, playlists: int = SMALL_PLAYLISTS) -> Path:
    """The rows of the first few playlists of the real CSV (a few hundred rows)."""
    rows = read_rows(dataset)
    keep = rows["playlist_id"].drop_duplicates().head(playlists)
    rows.loc[rows["playlist_id"].isin(keep)].to_csv(out, index=False)
    return out


def write_broken_csv(small_csv: Path, out: Path) -> Path:
    """The small CSV with one non-numeric audio feature: load_catalog raises DataError."""
    rows = read_rows(small_csv)
    rows.loc[rows.index[3], "danceability"] = "very danceable"
    rows.to_csv(out, index=False)
    return out


def quick_model(csv: Path, seed: int = 0) -> Recommender:
    """A real Recommender over the small CSV with random (but valid) embeddings.

    Store tests care about files and pointers, not quality, so they skip training.
    """
    catalog = catalog_from_rows(read_rows(csv))
    embeddings = np.random.default_rng(seed).normal(size=(catalog.num_tracks, 16))
    metadata = new_metadata(catalog, model="random", params={"seed": seed}, train_seconds=0.0)
    return Recommender(catalog, embeddings.astype(np.float32), metadata)


def write_head_csv(dataset: Path, out: Path, rows: int) -> Path:
    """The first `rows` data rows of the CSV: what a truncated copy of DATA_PATH holds."""
    read_rows(dataset).head(rows).to_csv(out, index=False)
    return out


def add_version(store: ModelStore, model: Recommender) -> Path:
    """Save `model` as a new (not yet current) version of `store`; returns its directory."""
    path = store.new_version_dir()
    model.metadata["version"] = path.name
    model.save(path)
    return path


def save_new_model(settings: Settings, model: Recommender) -> Path:
    """Make `model` the current version of MODEL_DIR, as a first start's training does."""
    store = model_store(settings)
    path = add_version(store, model)
    store.publish(path)
    return path


def serve_copy(store: ModelStore, model_dir: Path) -> str:
    """Make a copy of the model saved at `model_dir` the current version of `store`."""
    path = add_version(store, Recommender.load(model_dir))
    store.publish(path)
    return path.name


def aged(model: Recommender, created_at: str = "2020-01-06T04:00:00+00:00") -> Recommender:
    """`model`, dated long ago: a bot starting on it owes the schedule a catch-up run."""
    model.metadata["created_at"] = created_at
    return model


def process_env(root: Path, data_path: Path, **settings: object) -> dict[str, str]:
    """The environment of a bot child process: its own data/model folders under `root`."""
    env = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "DATABASE_URL"}}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "DATA_DIR": str(root / "data"),
            "MODEL_DIR": str(root / "models"),
            "DATA_PATH": str(data_path),
            "DOWNLOAD_DATASET": "false",
            "LOG_LEVEL": "INFO",
        }
    )
    env.update({key.upper(): str(value) for key, value in settings.items()})
    return env


def training_processes(bot_pid: int) -> list[psutil.Process]:
    """The retrain child processes a bot process started."""
    try:
        children = psutil.Process(bot_pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    found = []
    for child in children:
        try:
            if "recommender.train" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.NoSuchProcess:
            continue
    return found


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group `pgid`."""
    members = []
    for process in psutil.process_iter(["pid", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.info["status"] != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def run_rows(db_file: Path) -> list[tuple[int, str, str | None, str | None]]:
    """(id, status, model_version, error) of every training run, read straight from SQLite."""
    with contextlib.closing(sqlite3.connect(db_file)) as connection:
        return connection.execute(
            "SELECT id, status, model_version, error FROM training_runs ORDER BY id"
        ).fetchall()


def lease_expired(db_file: Path) -> bool:
    with contextlib.closing(sqlite3.connect(db_file)) as connection:
        row = connection.execute(
            "SELECT expires_at FROM training_lease WHERE name = 'retrain'"
        ).fetchone()
    if row is None:
        return True
    expires = datetime.fromisoformat(str(row[0]))
    return (expires if expires.tzinfo else expires.replace(tzinfo=UTC)) < datetime.now(UTC)
