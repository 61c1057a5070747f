"""A trained model on disk: a directory a reader either sees whole or not at all.

Layout: embeddings.npy, tracks.csv, playlists.csv, memberships.csv and metadata.json.
Everything is written to a temporary sibling directory first and renamed into place,
so a crash mid-save never leaves a half-written model under the final name.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.data import PLAYLIST_COLUMNS, TRACK_TEXT_COLUMNS, Catalog

FORMAT_VERSION = 1
METADATA = "metadata.json"


class ArtifactError(RuntimeError):
    """A model directory that is missing, incomplete or from an unknown format."""


def new_metadata(
    catalog: Catalog, *, model: str, params: dict[str, Any], train_seconds: float
) -> dict[str, Any]:
    created = datetime.now(UTC)
    return {
        "format": FORMAT_VERSION,
        "version": created.strftime("%Y%m%d-%H%M%S-") + f"{created.microsecond:06d}",
        "created_at": created.isoformat(timespec="seconds"),
        "model": model,
        "params": params,
        "train_seconds": round(train_seconds, 2),
        "dataset_sha256": catalog.sha256,
        "counts": catalog.summary(),
    }


def is_model_dir(directory: str | Path) -> bool:
    return (Path(directory) / METADATA).is_file()


def save(
    directory: str | Path,
    catalog: Catalog,
    embeddings: np.ndarray,
    metadata: dict[str, Any],
) -> Path:
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        np.save(staging / "embeddings.npy", np.ascontiguousarray(embeddings, dtype=np.float32))
        catalog.tracks.to_csv(staging / "tracks.csv", index=False)
        catalog.playlists.to_csv(staging / "playlists.csv", index=False)
        catalog.memberships.to_csv(staging / "memberships.csv", index=False)
        (staging / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def load(directory: str | Path) -> tuple[Catalog, np.ndarray, dict[str, Any]]:
    directory = Path(directory)
    if not is_model_dir(directory):
        raise ArtifactError(f"no trained model in {directory}")
    try:
        metadata = json.loads((directory / METADATA).read_text())
        if metadata.get("format") != FORMAT_VERSION:
            raise ArtifactError(
                f"{directory} holds a model of unknown format {metadata.get('format')}"
            )
        text = dict.fromkeys((*TRACK_TEXT_COLUMNS, *PLAYLIST_COLUMNS), str)
        tracks = pd.read_csv(directory / "tracks.csv", dtype=text, keep_default_na=False)
        playlists = pd.read_csv(directory / "playlists.csv", dtype=text, keep_default_na=False)
        memberships = pd.read_csv(directory / "memberships.csv", dtype=np.int64)
        embeddings = np.load(directory / "embeddings.npy")
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ArtifactError(f"the model in {directory} is damaged: {error}") from error
    if embeddings.shape[0] != len(tracks) or not np.isfinite(embeddings).all():
        raise ArtifactError(
            f"the model in {directory} is damaged: embeddings do not fit the catalog"
        )
    catalog = Catalog(
        tracks=tracks,
        playlists=playlists,
        memberships=memberships,
        sha256=str(metadata.get("dataset_sha256", "")),
        source_rows=int(metadata.get("counts", {}).get("rows", 0)),
    )
    return catalog, embeddings, metadata
