"""ModelStore: versions, the atomic pointer switch, sanity checks, pruning, legacy layout."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from retrain_support import quick_model, write_small_csv

from recommender import Recommender
from recommender.artifacts import ArtifactError
from recommender.store import ModelStore, SanityError, sanity_check


@pytest.fixture(scope="module")
def small_csv(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_csv(dataset_path, tmp_path_factory.mktemp("store-data") / "small.csv")


def _save_version(store: ModelStore, model: Recommender) -> Path:
    path = store.new_version_dir()
    model.metadata["version"] = path.name
    model.save(path)
    return path


def test_publish_makes_a_version_current(tmp_path: Path, small_csv: Path) -> None:
    store = ModelStore(tmp_path / "models")
    assert store.current_path() is None and not store.has_model()
    with pytest.raises(ArtifactError):
        store.load_current()

    path = _save_version(store, quick_model(small_csv))
    assert store.current_path() is None, "saving alone must not switch models"
    served = store.publish(path)

    assert store.current_version() == path.name == served.version
    assert (tmp_path / "models" / "current").read_text().strip() == path.name
    assert store.load_current().version == path.name
    assert store.has_model()


def test_rejected_models_leave_the_old_one_current(tmp_path: Path, small_csv: Path) -> None:
    store = ModelStore(tmp_path / "models")
    good = store.publish(_save_version(store, quick_model(small_csv)))

    zero = quick_model(small_csv, seed=1)
    zero.embeddings[7] = 0.0  # a track without an embedding
    with pytest.raises(SanityError, match="no embedding"):
        store.publish(_save_version(store, zero))

    half_written = store.new_version_dir()
    half_written.mkdir()
    (half_written / "embeddings.npy").write_bytes(b"partial")
    with pytest.raises(ArtifactError):
        store.publish(half_written)

    with pytest.raises(ArtifactError, match="not a version directory"):
        store.publish(tmp_path)

    assert store.current_version() == good.version
    assert store.load_current().version == good.version


def test_sanity_check_catches_bad_embeddings(small_csv: Path) -> None:
    model = quick_model(small_csv)
    sanity_check(model, reference=model)
    model.embeddings[3, 2] = np.nan
    with pytest.raises(SanityError, match="NaN"):
        sanity_check(model)


def test_sanity_check_passes_the_real_model(recommender: Recommender) -> None:
    sanity_check(recommender, reference=recommender)


def test_prune_keeps_three_previous_and_never_the_current(tmp_path: Path, small_csv: Path) -> None:
    store = ModelStore(tmp_path / "models")
    names = [_save_version(store, quick_model(small_csv, seed=i)).name for i in range(6)]
    assert store.versions() == sorted(names) == names
    store.publish(store.versions_dir / names[0])  # the oldest one is current (a rollback)

    removed = store.prune(keep=3)

    assert sorted(removed) == names[1:3]
    assert store.versions() == [names[0], *names[3:]]
    assert store.prune(keep=0) == names[3:]
    assert store.versions() == [names[0]]
    assert store.load_current().version == names[0]


def test_discard_removes_a_failed_output_but_never_the_current(
    tmp_path: Path, small_csv: Path
) -> None:
    store = ModelStore(tmp_path / "models")
    current = store.publish(_save_version(store, quick_model(small_csv)))
    failed = store.new_version_dir()
    staging = failed.parent / f".{failed.name}.abc123"
    staging.mkdir()
    store.discard(failed)
    assert not staging.exists()
    with pytest.raises(ArtifactError):
        store.discard(store.versions_dir / current.version)
    assert store.load_current().version == current.version


def test_legacy_model_dir_is_served_then_migrated_on_publish(
    tmp_path: Path, trained_model_dir: Path, small_csv: Path
) -> None:
    root = tmp_path / "models"
    shutil.copytree(trained_model_dir, root)  # the old layout: a model directly in MODEL_DIR
    store = ModelStore(root)
    legacy_version = Recommender.load(root).version
    assert store.is_legacy() and store.has_model()

    assert store.load_current().version == legacy_version
    assert store.current_version() is None and not store.versions_dir.exists(), "reads write"

    new = store.publish(_save_version(store, quick_model(small_csv)))

    assert store.versions() == sorted([legacy_version, new.version])
    assert store.load_current().version == new.version
    assert Recommender.load(root).version == legacy_version, "legacy files are left in place"
    assert store.migrate_legacy() is None  # idempotent
    assert store.prune(keep=0) == [legacy_version]


def test_readers_never_see_a_half_switched_model(tmp_path: Path, small_csv: Path) -> None:
    """Readers resolve the pointer and load while a writer keeps publishing."""
    store = ModelStore(tmp_path / "models")
    paths = [_save_version(store, quick_model(small_csv, seed=i)) for i in range(2)]
    expected = {path.name: Recommender.load(path).embeddings for path in paths}
    store.publish(paths[0])
    stop = threading.Event()
    seen: set[str] = set()
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            while not stop.is_set():
                model = ModelStore(store.root).load_current()
                assert np.array_equal(model.embeddings, expected[model.version])
                seen.add(model.version)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for i in range(60):
            store._write_pointer(paths[i % 2].name)  # the switch publish() ends with
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert not errors, errors[0]
    assert seen and seen <= set(expected)
    assert not list(store.root.glob(".current.*")), "temp pointer files left behind"
