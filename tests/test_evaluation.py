"""The evaluation protocol: split, metrics, leakage guard, and the default model's lead.

Synthetic CSVs are written by the tests so every figure can be checked by hand; one
test runs the protocol on a subset of the real dataset.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recommender import evaluation
from recommender.data import PLAYLIST_COLUMNS, REQUIRED_COLUMNS, catalog_from_rows, read_rows
from recommender.evaluation import (
    Split,
    evaluate_models,
    evaluate_ranker,
    make_split,
    ndcg_at_k,
    recall_at_k,
    recall_curve,
)

GENRES = ("pop", "rock", "rap")


def synthetic_rows(
    playlists: int = 3, tracks_per_playlist: int = 10, shared: int = 2, seed: int = 0
) -> pd.DataFrame:
    """Playlists of distinct tracks; the first `shared` tracks of each playlist also sit
    in the next one (warm candidates); one catalog-only row; one duplicated pair."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, str]] = []

    def row(track: str, playlist: int | None) -> dict[str, str]:
        values = {column: "" for column in REQUIRED_COLUMNS}
        number = int(track[1:])
        values.update(
            track_id=track,
            track_name=f"Song {number}",
            track_artist=f"Artist {number % 7}",
            track_album_id=f"al{number % 11}",
            track_album_name=f"Album {number % 11}",
            track_album_release_date=str(2000 + number % 20),
            track_popularity=str(number % 100),
        )
        for feature in REQUIRED_COLUMNS[REQUIRED_COLUMNS.index("danceability") :]:
            values[feature] = f"{rng.random():.4f}"
        if playlist is not None:
            values.update(
                playlist_id=f"pl{playlist}",
                playlist_name=f"Playlist {playlist}",
                playlist_genre=GENRES[playlist % len(GENRES)],
                playlist_subgenre="sub",
            )
        return values

    for p in range(playlists):
        for i in range(tracks_per_playlist):
            rows.append(row(f"t{p * 100 + i}", p))
        if p + 1 < playlists:
            for i in range(shared):
                rows.append(row(f"t{p * 100 + i}", p + 1))
    rows.append(row("t0", 0))  # a repeated (playlist, track) pair
    rows.append(row("t999", None))  # catalog-only in the source
    frame = pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS))
    for column in frame.columns:
        frame[column] = frame[column].astype(str)
    return frame


def write_csv(rows: pd.DataFrame, path: Path) -> Path:
    rows.to_csv(path, index=False)
    return path


@pytest.fixture()
def synthetic_csv(tmp_path: Path) -> Path:
    return write_csv(synthetic_rows(), tmp_path / "songs.csv")


# -- metrics ------------------------------------------------------------------------------
def test_recall_and_ndcg_on_a_hand_checked_list() -> None:
    ranked = ["a", "x", "b", "y", "z"]
    relevant = {"a", "b", "c"}
    assert recall_at_k(ranked, relevant, 1) == 1.0  # 1 hit / min(1, 3)
    assert recall_at_k(ranked, relevant, 2) == 0.5  # 1 / 2
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)  # 2 / min(5, 3)
    assert recall_at_k(ranked, set(), 5) == 0.0
    # DCG = 1/log2(2) + 1/log2(4) = 1.5; ideal (3 relevant) = 1 + 1/log2(3) + 1/log2(4)
    assert ndcg_at_k(ranked, relevant, 5) == pytest.approx(1.5 / (1 + 1 / np.log2(3) + 0.5))
    curve = recall_curve(ranked, relevant, max_k=6)
    assert curve.tolist() == pytest.approx([1.0, 0.5, 2 / 3, 2 / 3, 2 / 3, 2 / 3])


class FixedRanker:
    """Answers every question with the same list (minus the seeds)."""

    def __init__(self, order: list[str]) -> None:
        self.order = order
        self.calls: list[list[str]] = []

    def recommend_for_tracks(self, track_ids: list[str], k: int = 10) -> list[object]:
        self.calls.append(list(track_ids))
        picked = [t for t in self.order if t not in track_ids][:k]
        return [type("Result", (), {"track_id": t})() for t in picked]


def test_protocol_figures_match_a_hand_computation() -> None:
    rows = synthetic_rows(playlists=1, tracks_per_playlist=10, shared=0)
    split = make_split(rows, seed=3)
    (playlist,) = split.hidden
    hidden = split.hidden[playlist]
    assert len(hidden) == 2 and len(split.visible[playlist]) == 8
    assert len(split.queries[playlist]) == 5
    assert split.cold == frozenset(hidden)  # only one playlist: hidden tracks go cold
    # One hidden track first, the other at rank 13 (after 3 filler, 8 others): R@10 = 1/2.
    filler = [t for t in split.visible[playlist] if t not in split.queries[playlist]]
    others = [f"t{i}" for i in range(100, 110)]  # not in the catalog; fine for a fake
    order = [hidden[0], *filler, *others[:8], hidden[1], *others[8:]]
    report = evaluate_ranker("fixed", FixedRanker(order), split)
    assert report.a_recall == pytest.approx(0.5)
    assert report.a_recall_cold == pytest.approx(0.5)
    assert report.a_recall_warm == 0.0
    # B: the visible tracks are the seeds, so filler (all visible) drops out:
    # hidden[0] at rank 1, others[:8] at 2..9, hidden[1] at 10 -> Recall@10 = 1.
    assert report.b_recall == pytest.approx(1.0)
    assert report.b_ndcg == pytest.approx((1.0 + 1 / np.log2(11)) / (1 + 1 / np.log2(3)))
    # Top 10 for A: hidden[0] and 3 filler share the query's genre, 6 unknown tracks do not.
    assert report.genre == pytest.approx(0.4)


def test_split_is_seeded_and_hides_twenty_percent(synthetic_csv: Path) -> None:
    rows = read_rows(synthetic_csv)
    first, again, other = make_split(rows, 0), make_split(rows, 0), make_split(rows, 1)
    assert first.hidden == again.hidden and first.queries == again.queries
    assert first.hidden != other.hidden
    for playlist, hidden in first.hidden.items():
        total = len(hidden) + len(first.visible[playlist])
        assert len(hidden) == round(0.2 * total)
        assert set(first.queries[playlist]) <= set(first.visible[playlist])
        assert not set(hidden) & set(first.visible[playlist])


def test_split_keeps_every_track_and_lost_tracks_become_catalog_only(
    synthetic_csv: Path,
) -> None:
    rows = read_rows(synthetic_csv)
    full = catalog_from_rows(rows)
    split = make_split(rows, seed=0)
    train = split.train
    assert set(train.tracks["track_id"]) == set(full.tracks["track_id"])
    assert train.num_tracks == full.num_tracks  # candidates are all catalog tracks
    listed = set(train.tracks["track_id"].iloc[train.memberships["track"].unique()])
    assert split.cold and not split.cold & listed
    hidden_tracks = {t for ts in split.hidden.values() for t in ts}
    warm = hidden_tracks - split.cold
    assert warm <= listed  # hidden from one playlist, still visible in another


# -- leakage guard ------------------------------------------------------------------------
def _train_pairs(split: Split) -> set[tuple[str, str]]:
    train = split.train
    playlist_ids = train.playlists["playlist_id"].to_numpy()
    track_ids = train.tracks["track_id"].to_numpy()
    return set(
        zip(
            playlist_ids[train.memberships["playlist"]],
            track_ids[train.memberships["track"]],
            strict=True,
        )
    )


def test_hidden_pairs_never_reach_training(
    synthetic_csv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spy trainer sees exactly the training catalog: no hidden pair, all tracks."""
    from recommender import training

    seen = []

    def spy(catalog, *, seed, progress, **options):  # noqa: ANN001, ANN202
        seen.append(catalog)
        return np.eye(catalog.num_tracks, 4, dtype=np.float32), {}

    monkeypatch.setitem(training.TRAINERS, "spy", spy)
    rows = read_rows(synthetic_csv)
    split = make_split(rows, seed=0)
    hidden = split.hidden_pairs()
    assert hidden and not hidden & _train_pairs(split)
    evaluate_models(split, ["spy"], seed=0)
    (catalog,) = seen
    assert catalog is split.train
    # Every other model gets the same catalog; the default model too (trained briefly).
    default = evaluation.default_model()
    for name in ["popularity", "audio-knn", default]:
        options = {default: {"epochs": 2}} if name == default else None
        (report,) = evaluate_models(split, [name], seed=0, options=options)
        assert report.queries > 0


def test_playlist_columns_never_enter_track_features(synthetic_csv: Path) -> None:
    """Scrambling every playlist column but the membership itself changes no feature."""
    from recommender import features

    rows = read_rows(synthetic_csv)
    scrambled = rows.copy()
    scrambled["playlist_name"] = "x"
    scrambled["playlist_genre"] = scrambled["playlist_genre"].iloc[::-1].to_numpy()
    scrambled["playlist_subgenre"] = "y"
    base, other = catalog_from_rows(rows), catalog_from_rows(scrambled)
    assert not set(PLAYLIST_COLUMNS) & set(base.tracks.columns)
    for name in ("audio_features", "content_features"):
        build = getattr(features, name)
        np.testing.assert_array_equal(build(base.tracks), build(other.tracks))
    # The whole default model is blind to them too: same seed, same embeddings.
    from recommender.recommender import Recommender

    default = evaluation.default_model()
    first = Recommender.train(base, model=default, seed=0, epochs=3)
    second = Recommender.train(other, model=default, seed=0, epochs=3)
    np.testing.assert_allclose(first.embeddings, second.embeddings, atol=1e-6)


# -- CLI ----------------------------------------------------------------------------------
def test_main_prints_a_table_json_and_a_plot(
    synthetic_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "recall.png"
    models = "popularity,audio-knn,audio-artist-album-knn"
    assert (
        evaluation.main(["--data", str(synthetic_csv), "--models", models, "--plot", str(plot)])
        == 0
    )
    table = capsys.readouterr().out
    assert "| popularity |" in table and "B NDCG@10" in table
    assert plot.stat().st_size > 1000
    assert evaluation.main(["--data", str(synthetic_csv), "--models", "popularity", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    figures = payload["models"]["popularity"]
    assert len(figures["recall_at_k_A"]) == 50 and 0.0 <= figures["a_recall"] <= 1.0
    assert evaluation.main(["--data", str(synthetic_csv), "--models", "nope"]) == 2


def test_main_reports_a_broken_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("track_id,track_name\nabc,Hello\n")
    assert evaluation.main(["--data", str(broken), "--models", "popularity"]) == 1
    assert "missing column" in capsys.readouterr().err


# -- the real dataset ---------------------------------------------------------------------
def test_default_model_beats_popularity_and_audio_knn_on_real_data(dataset_path: Path) -> None:
    """A seeded subset of 100 playlists is evaluated; training still sees the whole rest.

    The full table (all 460 playlists, all models) is `benchmarks/bench_evaluate.py`.
    """
    split = make_split(read_rows(dataset_path), seed=0, max_playlists=100)
    default = evaluation.default_model()
    options = {default: {"epochs": 30}}  # a shorter run keeps this test quick
    reports = {
        r.name: r
        for r in evaluate_models(
            split,
            ["popularity", "audio-knn", default],
            seed=0,
            max_queries=300,
            max_k=10,
            options=options,
        )
    }
    model = reports[default]
    for baseline in ("popularity", "audio-knn"):
        assert model.a_recall > reports[baseline].a_recall, (baseline, model, reports[baseline])
        assert model.b_recall > reports[baseline].b_recall, (baseline, model, reports[baseline])
    assert model.genre > 0.8
    assert inspect.signature(evaluation.default_model).parameters == {}


def test_musicbot_evaluate_reads_data_path_when_no_data_is_given(
    synthetic_csv: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from bot.frontends.cli import main as musicbot

    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("DATA_PATH", str(synthetic_csv))
    assert musicbot(["evaluate", "--models", "popularity", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report["models"]) == {"popularity"}
