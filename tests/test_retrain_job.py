"""Retraining in a child process: success publishes, every kind of failure keeps the old model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from retrain_support import quick_model, write_broken_csv, write_head_csv, write_small_csv

from recommender.retrain_job import TrainingJob, train_and_publish
from recommender.store import ModelStore

REPO = Path(__file__).resolve().parents[1]
MEDIUM_PLAYLISTS = 25


@pytest.fixture(scope="module")
def small_csv(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_csv(dataset_path, tmp_path_factory.mktemp("job-data") / "small.csv")


@pytest.fixture(scope="module")
def medium_csv(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough playlists for the quality probe to compare (it needs 20)."""
    folder = tmp_path_factory.mktemp("job-medium")
    return write_small_csv(dataset_path, folder / "medium.csv", playlists=MEDIUM_PLAYLISTS)


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

    outcome = await train_and_publish(
        store, small_csv, reference=old, epochs=1, timeout=120, threads=1, niceness=5
    )

    assert outcome.ok, outcome.error
    assert outcome.job.result is not None
    # The training ran below the bot's priority, with the threads it was given.
    assert outcome.job.result.niceness == min(os.nice(0) + 5, 19)
    assert outcome.job.result.params["threads"] == 1
    assert outcome.model is not None and outcome.version == store.current_version()
    assert outcome.version != old.version
    assert outcome.job.result.counts["tracks"] == len(old)
    assert outcome.job.result.params["epochs"] == 1
    assert store.load_current().version == outcome.version
    assert store.versions() == sorted([old.version, outcome.version])
    # It is about to serve: its first refinement must not build the follow-up lookups.
    assert {"features", "remix"} <= outcome.model.index.__dict__.keys()


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


async def test_a_memory_cap_hit_while_reading_the_data_is_not_called_broken_data(
    store: ModelStore, small_csv: Path
) -> None:
    """Under a tight cap pandas fails mid-read and calls it a parse error; the admin must
    hear "out of memory", not be sent to mend a CSV that is fine."""
    before = store.current_version()
    outcome = await train_and_publish(store, small_csv, epochs=2, timeout=60, memory_limit_mb=250)
    assert "out of memory" in (outcome.error or "")
    assert "broken" not in (outcome.error or "")
    _assert_unchanged(store, before)


async def test_missing_data_file_is_reported(store: ModelStore, tmp_path: Path) -> None:
    outcome = await train_and_publish(store, tmp_path / "nope.csv", epochs=2, timeout=60)
    assert not outcome.ok
    assert "not found" in (outcome.error or "").lower()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_training_child_whose_parent_dies_stops_and_writes_nothing(
    small_csv: Path, tmp_path: Path
) -> None:
    """The child runs in a session of its own, so nothing else would end it."""
    out = tmp_path / "models" / "versions" / "orphan"
    parent_code = (
        "import asyncio, sys\n"
        "from recommender.retrain_job import TrainingJob\n"
        "async def main():\n"
        f"    job = TrainingJob({str(small_csv)!r}, {str(out)!r}, epochs=100_000)\n"
        "    await job.start()\n"
        "    print(job.pid, flush=True)\n"
        "    await asyncio.sleep(600)\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        child = int(parent.stdout.readline())
        assert not _gone(child)
        time.sleep(2)  # well into its start-up or training
    finally:
        parent.kill()
        parent.wait()

    deadline = time.monotonic() + 20
    while not _gone(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _gone(child), "the orphaned training process kept running"
    assert not out.exists()


async def test_force_skips_the_blessing_but_never_the_sanity_check(
    store: ModelStore, small_csv: Path, dataset_path: Path, tmp_path: Path
) -> None:
    serving = store.load_current()
    tiny = write_head_csv(dataset_path, tmp_path / "ten.csv", 10)

    refused = await train_and_publish(store, tiny, reference=serving, epochs=2, timeout=120)
    assert refused.refused and not refused.ok
    assert store.current_version() == serving.version

    # Ten songs cannot answer for a catalog of hundreds: not even forced.
    small = await train_and_publish(
        store, tiny, reference=serving, gate=None, epochs=2, timeout=120
    )
    assert not small.ok and "the new catalog has 10 tracks" in (small.error or "")
    assert store.current_version() == serving.version

    # Two thirds of the serving catalog: too few for the gate, enough to answer with.
    cut = write_head_csv(small_csv, tmp_path / "cut.csv", 250)
    forced = await train_and_publish(
        store, cut, reference=serving, gate=None, epochs=2, timeout=120
    )
    assert forced.ok, forced.error
    assert store.current_version() == forced.version != serving.version

    # A child that reports a model with a track lacking an embedding: refused even forced.
    job = TrainingJob(tiny, store.new_version_dir(), timeout=120)
    job.argv = [sys.executable, "-c", BAD_MODEL_CHILD, str(tiny), str(job.out)]
    bad = await train_and_publish(store, tiny, reference=serving, gate=None, job=job)
    assert not bad.ok and "no embedding" in (bad.error or "")
    assert store.current_version() == forced.version
    assert not job.out.exists()


# A stand-in training child: writes a real model directory, one embedding row zeroed.
BAD_MODEL_CHILD = """
import json, sys
import numpy as np
from recommender import Recommender
from recommender.artifacts import new_metadata
from recommender.data import load_catalog
catalog = load_catalog(sys.argv[1])
embeddings = np.ones((catalog.num_tracks, 8), dtype=np.float32)
model = Recommender(catalog, embeddings, new_metadata(catalog, model="x", params={}, train_seconds=0))
model.embeddings[0] = 0.0
model.metadata["version"] = sys.argv[2].rsplit("/", 1)[-1]
model.save(sys.argv[2])
print("RESULT " + json.dumps({"version": model.version, "counts": {}}), flush=True)
"""


async def test_a_retrain_on_the_same_data_is_blessed(medium_csv: Path, tmp_path: Path) -> None:
    """Two trainings that differ only in their random seed: the probe must see no drop
    beyond its noise margin, or every weekly retrain would be refused."""
    store = ModelStore(tmp_path / "models")
    first = await train_and_publish(store, medium_csv, epochs=10, timeout=300)
    assert first.ok, first.error

    again = await train_and_publish(
        store, medium_csv, reference=first.model, seed=1, epochs=10, timeout=300
    )

    assert again.ok, again.refused or again.error
    probe = again.blessing.probe
    assert probe is not None and probe.queries >= 20, "the probe must actually compare"
    assert store.current_version() == again.version
