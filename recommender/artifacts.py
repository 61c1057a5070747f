"""A trained model on disk: a directory a reader either sees whole or not at all.

Layout (format 2): embeddings.npy (unit-length rows, memory-mapped when loaded),
tracks.parquet, playlists.parquet, memberships.parquet, search.parquet (the catalog's
normalised titles, artists and song keys, so loading does not recompute them),
metadata.json, and, for catalogs of `ANN_MIN_TRACKS` tracks or more, ann.faiss (the
approximate-nearest-neighbour index `similar` searches). A columnar catalog and mapped
embeddings load in about a second at 400k tracks, where CSV took over ten.

Format 1 (tracks.csv, playlists.csv, memberships.csv) still loads, so models saved by
earlier versions keep serving. Everything is written to a temporary sibling directory
first and renamed into place, so a crash mid-save never leaves a half-written model
under the final name.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from recommender.data import PLAYLIST_COLUMNS, TRACK_TEXT_COLUMNS, Catalog

FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)
METADATA = "metadata.json"
SEARCH_FILE = "search.parquet"
ANN_FILE = "ann.faiss"
# Files of a format-2 model directory, besides metadata.json and the optional ANN_FILE.
FORMAT2_FILES = (
    "embeddings.npy",
    "tracks.parquet",
    "playlists.parquet",
    "memberships.parquet",
    SEARCH_FILE,
)


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


@dataclass(frozen=True)
class ModelInfo:
    """What a trained model records about itself (its metadata.json), typed: what
    `!status`, `musicbot train` and a retrain's record show. Models saved before a field
    existed read it as None or empty."""

    version: str
    model: str | None
    created_at: datetime | None  # always with a time zone (UTC when the file had none)
    train_seconds: float | None
    counts: Mapping[str, int]
    params: Mapping[str, Any]
    dataset_sha256: str | None

    @classmethod
    def of(cls, metadata: Mapping[str, Any]) -> ModelInfo:
        created = metadata.get("created_at")
        try:
            created_at = datetime.fromisoformat(str(created)) if created else None
        except ValueError:
            created_at = None
        if created_at is not None and created_at.tzinfo is None:
            created_at = created_at.replace(tzinfo=UTC)
        seconds = metadata.get("train_seconds")
        return cls(
            version=str(metadata.get("version", "unsaved")),
            model=metadata.get("model"),
            created_at=created_at,
            train_seconds=float(seconds) if isinstance(seconds, int | float) else None,
            counts=dict(metadata.get("counts") or {}),
            params=dict(metadata.get("params") or {}),
            dataset_sha256=metadata.get("dataset_sha256"),
        )


def is_model_dir(directory: str | Path) -> bool:
    return (Path(directory) / METADATA).is_file()


@dataclass(frozen=True)
class Loaded:
    """What a model directory holds, as `load` returns it."""

    catalog: Catalog
    embeddings: np.ndarray  # unit rows; read-only and memory-mapped for format 2
    metadata: dict[str, Any]
    search_text: pd.DataFrame | None = None  # columns title, artist, song_key per track
    ann_path: Path | None = None


def save(
    directory: str | Path,
    catalog: Catalog,
    embeddings: np.ndarray,
    metadata: dict[str, Any],
    *,
    search_text: pd.DataFrame | None = None,
    write_ann: Callable[[Path], dict[str, Any] | None] | None = None,
) -> Path:
    """Write a format-2 model directory; `write_ann(path)` may write the ANN index there
    and return what metadata["ann"] should say about it."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        np.save(staging / "embeddings.npy", np.ascontiguousarray(embeddings, dtype=np.float32))
        _write_parquet(catalog.tracks, staging / "tracks.parquet")
        _write_parquet(catalog.playlists, staging / "playlists.parquet")
        _write_parquet(catalog.memberships, staging / "memberships.parquet")
        if search_text is not None:
            _write_parquet(search_text, staging / SEARCH_FILE)
        metadata = {**metadata, "format": FORMAT_VERSION}
        metadata.pop("ann", None)
        if write_ann is not None:
            ann = write_ann(staging / ANN_FILE)
            if ann is not None:
                metadata["ann"] = ann
        (staging / METADATA).write_text(json.dumps(metadata, indent=2, sort_keys=True))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    pq.write_table(table, path, compression="zstd")


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    return pq.read_table(path, memory_map=True).to_pandas()


def load(directory: str | Path) -> Loaded:
    directory = Path(directory)
    if not is_model_dir(directory):
        raise ArtifactError(f"no trained model in {directory}")
    try:
        metadata = json.loads((directory / METADATA).read_text())
        fmt = metadata.get("format")
        if fmt not in READABLE_FORMATS:
            raise ArtifactError(f"{directory} holds a model of unknown format {fmt}")
        search_text = None
        ann_path = None
        if fmt == 1:
            text = dict.fromkeys((*TRACK_TEXT_COLUMNS, *PLAYLIST_COLUMNS), str)
            tracks = pd.read_csv(directory / "tracks.csv", dtype=text, keep_default_na=False)
            playlists = pd.read_csv(directory / "playlists.csv", dtype=text, keep_default_na=False)
            memberships = pd.read_csv(directory / "memberships.csv", dtype=np.int64)
            embeddings = np.load(directory / "embeddings.npy")
            finite = bool(np.isfinite(embeddings).all())
        else:
            tracks = _read_parquet(directory / "tracks.parquet")
            playlists = _read_parquet(directory / "playlists.parquet")
            memberships = _read_parquet(directory / "memberships.parquet")
            # Mapped, not read: pages come in as `similar` touches them, so a 400k-track
            # model is ready in a second. `blessing.sanity_check` still checks every value.
            embeddings = np.asarray(np.load(directory / "embeddings.npy", mmap_mode="r"))
            finite = True
            if (directory / SEARCH_FILE).is_file():
                search_text = _read_parquet(directory / SEARCH_FILE)
            if "ann" in metadata:
                ann_path = directory / ANN_FILE
                if not ann_path.is_file():
                    raise ArtifactError(f"the model in {directory} is damaged: no {ANN_FILE}")
    except (OSError, ValueError, EOFError, pickle.UnpicklingError) as error:
        raise ArtifactError(f"the model in {directory} is damaged: {error}") from error
    except ImportError as error:  # pyarrow missing: say what to install, not a traceback
        raise ArtifactError(
            f"the model in {directory} needs {error.name}: pip install it"
        ) from error
    if embeddings.ndim != 2 or embeddings.shape[0] != len(tracks) or not finite:
        raise ArtifactError(
            f"the model in {directory} is damaged: embeddings do not fit the catalog"
        )
    if search_text is not None and len(search_text) != len(tracks):
        search_text = None  # recomputed from the catalog rather than trusted
    catalog = Catalog(
        tracks=tracks,
        playlists=playlists,
        memberships=memberships,
        sha256=str(metadata.get("dataset_sha256", "")),
        source_rows=int(metadata.get("counts", {}).get("rows", 0)),
    )
    return Loaded(catalog, embeddings, metadata, search_text, ann_path)
