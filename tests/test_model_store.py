"""ModelStore: versions, the atomic pointer switch, sanity checks, pruning, legacy layout."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from retrain_support import quick_model, write_head_csv, write_small_csv

from recommender import Recommender
from recommender.artifacts import ArtifactError
from recommender.blessing import SanityError, bless, probe_quality, sanity_check
from recommender.store import ModelStore


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


def test_a_model_about_to_serve_has_its_follow_up_lookups_built(
    tmp_path: Path, small_csv: Path
) -> None:
    """A rollback or pointer move serves the model `load_to_serve` gives: its first
    `!refine` must not build the lookups while everyone's answers wait. Checking a model
    that may never serve (the shell's `musicbot train`, a refused candidate) builds none."""
    store = ModelStore(tmp_path / "models")
    path = _save_version(store, quick_model(small_csv))
    built = store.load_to_serve(path).index.__dict__
    assert {"features", "remix", "live", "playlists"} <= built.keys()
    assert not {"features", "remix"} & store.load_checked(path).index.__dict__.keys()


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


# -- the blessing gate ---------------------------------------------------------------------
def test_bless_refuses_a_candidate_that_lost_most_of_the_catalog(
    recommender: Recommender, dataset_path: Path, tmp_path: Path
) -> None:
    rows = 656  # 2% of the real file: a copy cut short
    partial = quick_model(write_head_csv(dataset_path, tmp_path / "head.csv", rows))

    verdict = bless(partial, recommender)

    assert not verdict.blessed
    assert verdict.serving_tracks == len(recommender)
    kept = sum(t in recommender for t in partial.catalog.tracks["track_id"])
    assert verdict.lost_tracks == len(recommender) - kept
    assert "lacks" in verdict.reason and f"{len(recommender):,}" in verdict.reason
    assert verdict.figures()["blessed"] is False


def test_bless_refuses_a_worse_model_on_the_same_catalog(recommender: Recommender) -> None:
    """Same tracks (nothing lost), but embeddings that know nothing: the probe catches it."""
    noise = np.random.default_rng(0).normal(size=recommender.embeddings.shape)
    worse = Recommender(recommender.catalog, noise.astype(np.float32), {"version": "noise"})

    # 300 probe playlists: the trained model's rate is 0.35 on them, where 100 read
    # anywhere from 0.30 to 0.34 as training changed, too close to the bound below.
    verdict = bless(worse, recommender, probe_playlists=300)

    assert not verdict.blessed and verdict.lost_tracks == 0
    probe = verdict.probe
    assert probe is not None and probe.queries == 300
    assert probe.serving_rate > 0.3 > 0.05 > probe.candidate_rate
    assert "finds fewer hidden songs" in verdict.reason
    assert f"{probe.queries} probe playlists" in verdict.reason


def test_bless_passes_the_same_model_and_anything_when_nothing_serves(
    recommender: Recommender, small_csv: Path
) -> None:
    same = bless(recommender, recommender, probe_playlists=50)
    assert same.blessed and same.reason is None and same.lost_tracks == 0
    assert same.probe is not None and same.probe.drop == 0
    assert bless(quick_model(small_csv), None).blessed


def test_probe_noise_margin_grows_as_the_probe_shrinks(recommender: Recommender) -> None:
    noise = np.random.default_rng(1).normal(size=recommender.embeddings.shape)
    worse = Recommender(recommender.catalog, noise.astype(np.float32), {"version": "noise"})
    big = probe_quality(worse, recommender, playlists=150)
    small = probe_quality(worse, recommender, playlists=25)
    assert small.queries == 25 and big.queries == 150
    assert small.noise > big.noise > 0


# -- refused candidates, rollback targets, start-up fallback ----------------------------------
def test_refused_versions_are_kept_apart_and_never_rollback_targets(
    tmp_path: Path, small_csv: Path
) -> None:
    store = ModelStore(tmp_path / "models")
    first = store.publish(_save_version(store, quick_model(small_csv, seed=0))).version
    refused = _save_version(store, quick_model(small_csv, seed=1)).name
    store.refuse(store.versions_dir / refused, "the new catalog lacks 9 of 10 tracks")
    second = store.publish(_save_version(store, quick_model(small_csv, seed=2))).version

    assert store.versions() == [first, refused, second]
    assert store.servable_versions() == [first, second]
    assert store.refusal(refused) == "the new catalog lacks 9 of 10 tracks"
    assert store.refusal(first) is None
    assert store.previous_version() == first  # the refused one in between is skipped
    with pytest.raises(ArtifactError):
        store.refuse(store.versions_dir / second, "no")  # the current one is never refused

    more = [_save_version(store, quick_model(small_csv, seed=9)).name for _ in range(2)]
    for name in more:
        store.refuse(store.versions_dir / name, "refused")
    # Refused ones count apart: three refusals never cost the one previous servable model.
    assert store.prune(keep=1) == [refused, more[0]]
    assert store.versions() == [first, second, more[-1]]


def _damage_zero_byte(path: Path) -> None:
    (path / "embeddings.npy").write_bytes(b"")


def _damage_missing(path: Path) -> None:
    (path / "tracks.parquet").unlink()


def _damage_truncated(path: Path) -> None:
    data = (path / "embeddings.npy").read_bytes()
    (path / "embeddings.npy").write_bytes(data[: len(data) // 2])


def _damage_no_metadata(path: Path) -> None:
    (path / "metadata.json").unlink()


@pytest.mark.parametrize(
    "damage", [_damage_zero_byte, _damage_missing, _damage_truncated, _damage_no_metadata]
)
def test_a_damaged_current_version_falls_back_to_the_newest_healthy_one(
    tmp_path: Path, small_csv: Path, damage, caplog: pytest.LogCaptureFixture
) -> None:
    store = ModelStore(tmp_path / "models")
    old = store.publish(_save_version(store, quick_model(small_csv, seed=0))).version
    healthy = store.publish(_save_version(store, quick_model(small_csv, seed=1))).version
    refused = _save_version(store, quick_model(small_csv, seed=2)).name
    store.refuse(store.versions_dir / refused, "refused")
    current = store.publish(_save_version(store, quick_model(small_csv, seed=3))).version
    damage(store.versions_dir / current)
    assert store.has_model(), "a damaged store must not make the bot train a new model"

    with caplog.at_level("WARNING", logger="recommender.store"):
        served = store.load_or_fall_back()

    assert served.version == healthy != old
    assert store.current_version() == healthy, "every process should serve the fallback"
    lines = [
        r for r in caplog.records if r.name == "recommender.store" and r.levelno >= logging.WARNING
    ]
    assert len(lines) == 1 and current in lines[0].getMessage()
    assert healthy in lines[0].getMessage()
    assert store.load_or_fall_back().version == healthy  # and quietly from then on


def test_with_nothing_healthy_the_damage_is_reported(tmp_path: Path, small_csv: Path) -> None:
    store = ModelStore(tmp_path / "models")
    only = store.publish(_save_version(store, quick_model(small_csv))).version
    _damage_zero_byte(store.versions_dir / only)
    with pytest.raises(ArtifactError, match="damaged"):
        store.load_or_fall_back()
    assert store.current_version() == only


def test_musicbot_train_on_a_truncated_csv_keeps_the_serving_model(
    tmp_path: Path,
    small_csv: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`musicbot train` into MODEL_DIR passes the same gate as `!retrain`: a cut-off copy
    of the data is refused and kept for inspection; `--force` publishes it anyway, unless
    it is too small to answer with."""
    from bot.frontends import cli

    models = tmp_path / "models"
    store = ModelStore(models)
    serving = store.publish(_save_version(store, quick_model(small_csv))).version
    truncated = write_head_csv(small_csv, tmp_path / "cut.csv", rows=40)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("MODEL_DIR", str(models))
    monkeypatch.setenv("DATA_PATH", str(truncated))

    assert cli.main(["train", "--epochs", "2"]) == 1
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert said.startswith("musicbot train: not published, the serving model stays: ")
    assert "lacks" in said and "--force" in said
    assert store.current_version() == serving
    refused = [v for v in store.versions() if store.refusal(v) is not None]
    assert len(refused) == 1 and refused[0] in said

    # Run again and again from the shell, refused runs stay as many as a retrain keeps.
    monkeypatch.setenv("RETRAIN_KEEP_VERSIONS", "1")
    assert cli.main(["train", "--epochs", "2", "--seed", "1"]) == 1
    still_refused = [v for v in store.versions() if store.refusal(v) is not None]
    assert len(still_refused) == 1 and still_refused != refused

    # Forty songs cannot answer for a catalog of hundreds: not even forced.
    assert cli.main(["train", "--epochs", "2", "--force"]) == 1
    said = capsys.readouterr().err.strip().splitlines()[-1]
    assert "the new catalog has 40 tracks" in said and "needs at least" in said
    assert store.current_version() == serving

    # Two thirds of the catalog: too few for the gate, enough to answer with.
    monkeypatch.setenv("DATA_PATH", str(write_head_csv(small_csv, tmp_path / "c.csv", rows=250)))
    assert cli.main(["train", "--epochs", "2", "--force"]) == 0
    assert store.current_version() not in {serving, *still_refused}


def test_the_settings_gate_defaults_are_the_recommenders() -> None:
    """The admin's documented defaults and the gate a library caller gets are one rule."""
    from bot.core.serving import blessing_gate
    from bot.core.settings import Settings
    from recommender.blessing import Gate

    assert blessing_gate(Settings(_env_file=None)) == Gate()


# -- the serving history ---------------------------------------------------------------
def test_rollback_returns_to_what_served_before_not_the_newest_older_name(
    tmp_path: Path, small_csv: Path
) -> None:
    """v1 is forced, rolled back (v0 serves again), then v3 is forced: what served before
    v3 is v0, not v1, which is newer by name but was itself rolled back."""
    from recommender.store import Why

    store = ModelStore(tmp_path / "models")
    v0 = store.publish(_save_version(store, quick_model(small_csv, seed=0))).version
    v1 = _save_version(store, quick_model(small_csv, seed=1)).name
    store.switch(v1, Why.FORCE)
    assert store.previous_version() == v0
    store.switch(v0, Why.ROLLBACK)
    v3 = _save_version(store, quick_model(small_csv, seed=3)).name
    store.switch(v3, Why.FORCE)

    assert v0 < v1 < v3 and store.previous_version() == v0
    moves = store.history()
    assert [(m.version, m.previous, m.why) for m in moves] == [
        (v0, None, "published"),
        (v1, v0, "force"),
        (v0, v1, "rollback"),
        (v3, v0, "force"),
    ]
    # An admin picks v1 by name: v3 is newer, but v0 served before, and is what a plain
    # rollback returns to: pruning down to one kept version keeps v0, not v3.
    store.switch(v0, Why.ROLLBACK)
    store.switch(v1, Why.ROLLBACK)
    assert store.previous_version() == v0
    assert store.prune(keep=1) == [v3]
    assert store.versions() == [v0, v1]


async def test_rollback_and_status_follow_the_serving_history(
    tmp_path: Path, small_csv: Path
) -> None:
    from bot.core.dispatch import RequestContext, Services
    from bot.core.settings import Settings
    from recommender.store import Why

    store = ModelStore(tmp_path / "models")
    v0 = store.publish(_save_version(store, quick_model(small_csv, seed=0))).version
    v1 = _save_version(store, quick_model(small_csv, seed=1)).name
    store.switch(v1, Why.FORCE)
    store.switch(v0, Why.ROLLBACK)
    v3 = _save_version(store, quick_model(small_csv, seed=3)).name
    store.switch(v3, Why.FORCE)
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        model_dir=tmp_path / "models",
        data_path=small_csv,
        retrain_cron="off",
    )
    services = Services(settings)
    await services.start()
    admin = RequestContext(user_id=1, user_name="admin", is_admin=True)
    try:
        assert services.models.current.version == v3
        back = await services.handle("rollback", admin, "")
        assert back.title == "Rolled back", back.description
        assert services.models.current.version == v0 == store.current_version()
        status = await services.handle("status", admin, "")
        history = next(f.value for f in status.fields if f.name == "Serving history")
        lines = history.splitlines()
        assert len(lines) == 4  # the newest moves, newest first
        assert f"**{v0}** (rollback), replacing {v3}" in lines[0]
        assert f"**{v3}** (force), replacing {v0}" in lines[1]
        assert "UTC" in lines[0]
    finally:
        await services.close()
