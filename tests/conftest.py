"""Shared fixtures: the real dataset and one model trained on it per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET = Path(
    os.environ.get("MUSICBOT_TEST_DATA", REPO_ROOT.parent / "shared" / "data" / "spotify_songs.csv")
)


@pytest.fixture(scope="session")
def dataset_path() -> Path:
    if not DATASET.exists():
        pytest.fail(f"the real dataset is required at {DATASET} (see ../shared/data/README.md)")
    return DATASET


@pytest.fixture(scope="session")
def trained_model_dir(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default model trained once on the real catalog and saved; tests load it."""
    from recommender import Recommender

    directory = tmp_path_factory.mktemp("model") / "v1"
    Recommender.train(dataset_path, progress=False).save(directory)
    return directory


@pytest.fixture(scope="session")
def recommender(trained_model_dir: Path):
    from recommender import Recommender

    return Recommender.load(trained_model_dir)
