"""Retraining in a child process: success publishes, every kind of failure keeps the old model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from retrain_support import quick_model, write_broken_csv, write_small_csv

from recommender.retrain_job import TrainingJob, train_and_publish
from recommender.store import ModelStore


@pytest.fixture(scope="module")
def small_csv(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_csv(dataset_path, tmp_path_factory.mktemp("job-data") / "small.csv")


@pytest.fixture
def store(tmp_path: Path, small_csv: Path) -> ModelStore:
    """A store whose current model is a quick (untrained) one over the small CSV."""
    store = ModelStore(tmp_path / "models")
    path = store.new_version_dir()
    model = quick_model(small_csv)
    model.metadata["version"] = path.name
    model.save(path)
    store.publish(path)
    return store


def _assert_unchanged(store: ModelStore, version: str | None) -> None:
    assert store.current_version() == version
    assert store.versions() == [version], "a failed run must leave no version behind"
    assert store.load_current().version == version


async def test_successful_retrain_becomes_current(store: ModelStore, small_csv: Path) -> None:
    old = store.load_current()

    outcome = await train_and_publish(store, small_csv, reference=old, epochs=1, timeout=120)

    assert outcome.ok, outcome.error
    assert outcome.model is not None and outcome.version == store.current_version()
    assert outcome.version != old.version
    assert outcome.job.result["counts"]["tracks"] == len(old)
    assert outcome.job.result["params"]["epochs"] == 1
    assert store.load_current().version == outcome.version
    assert store.versions() == sorted([old.version, outcome.version])


async def test_broken_csv_keeps_the_old_model(
    store: ModelStore, small_csv: Path, tmp_path: Path
) -> None:
    broken = write_broken_csv(small_csv, tmp_path / "broken.csv")
    before = store.current_version()

    outcome = await train_and_publish(store, broken, epochs=2, timeout=120)

    assert not outcome.ok
    assert outcome.job.returncode == 2
    assert "broken training data" in (outcome.error or "")
    assert "danceability" in (outcome.error or "")
    _assert_unchanged(store, before)


async def test_killed_process_is_a_failure(store: ModelStore, small_csv: Path) -> None:
    """SIGKILL is what the kernel's OOM killer sends; the run fails and says so."""
    before = store.current_version()
    job = TrainingJob(small_csv, store.new_version_dir(), epochs=100_000, timeout=120)
    await job.start()
    run = asyncio.create_task(train_and_publish(store, small_csv, job=job))
    await asyncio.sleep(1.0)
    job.kill()

    outcome = await run

    assert not outcome.ok
    assert "killed (SIGKILL; out of memory?)" in (outcome.error or "")
    _assert_unchanged(store, before)


async def test_timeout_and_memory_limit_are_failures(store: ModelStore, small_csv: Path) -> None:
    before = store.current_version()

    slow, starved = await asyncio.gather(
        train_and_publish(store, small_csv, epochs=100_000, timeout=2),
        train_and_publish(store, small_csv, epochs=2, timeout=120, memory_limit_mb=300),
    )

    assert slow.error == "training timed out after 2s and was stopped"
    assert "out of memory" in (starved.error or "")
    _assert_unchanged(store, before)


async def test_missing_data_file_is_reported(store: ModelStore, tmp_path: Path) -> None:
    outcome = await train_and_publish(store, tmp_path / "nope.csv", epochs=2, timeout=60)
    assert not outcome.ok
    assert "not found" in (outcome.error or "").lower()
