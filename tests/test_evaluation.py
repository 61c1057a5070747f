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
    Answer,
    Split,
    artist_keys,
    diversity,
    evaluate_models,
    evaluate_ranker,
    make_split,
    ndcg_at_k,
    popularity_percentiles,
    recall_at_k,
    recall_curve,
)
from recommender.ranking import ArtistCap, top_k
from recommender.recommender import SimilarQuery
from recommender.train import parse_option

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
    """Answers every question with the same list (minus the seeds); an artist cap goes
    through the one ranking function, over scores falling with the list's order."""

    def __init__(self, order: list[str], artist_of: dict[str, str] | None = None) -> None:
        self.order = order
        self.artist_of = artist_of or {}
        self.calls: list[list[str]] = []

    def recommend_for_tracks(
        self, track_ids: list[str], k: int = 10, *, artist_cap: ArtistCap | None = None
    ) -> list[object]:
        self.calls.append(list(track_ids))
        order = [t for t in self.order if t not in track_ids]
        if artist_cap is not None:
            names = [self.artist_of.get(t, f"track:{t}") for t in [*order, *track_ids]]
            codes = pd.factorize(pd.Series(names))[0]
            ranked = top_k(
                np.linspace(1.0, 0.0, len(order)),
                k,
                songs=np.arange(len(order)),
                artists=codes[: len(order)],
                cap=artist_cap,
                query_artists=set(codes[len(order) :].tolist()),
            )
            order = [order[row] for row in ranked.rows.tolist()]
        return [type("Result", (), {"track_id": t})() for t in order[:k]]


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
    report = evaluate_ranker("fixed", FixedRanker(order), split).uncapped
    assert report.a_recall == pytest.approx(0.5)
    assert report.a_recall_cold == pytest.approx(0.5)
    assert report.a_recall_warm == 0.0
    # B: the visible tracks are the seeds, so filler (all visible) drops out:
    # hidden[0] at rank 1, others[:8] at 2..9, hidden[1] at 10 -> Recall@10 = 1.
    assert report.b_recall == pytest.approx(1.0)
    assert report.b_ndcg == pytest.approx((1.0 + 1 / np.log2(11)) / (1 + 1 / np.log2(3)))
    # Top 10 for A: hidden[0] and 3 filler share the query's genre, 6 unknown tracks do not.
    assert report.genre == pytest.approx(0.4)


# -- artist spread ------------------------------------------------------------------------
def test_diversity_figures_match_a_hand_count() -> None:
    artist_of = {"q1": "Q", "q2": "Q", "a1": "Q", "a2": "Q", "a3": "Q", "a4": "Q", "a5": "Q"}
    artist_of |= {"b1": "B", "b2": "B", "c1": "C"}
    percentile = {"q1": 90.0, "q2": 70.0, "a1": 10.0, "a2": 20.0, "b1": 30.0, "c1": 40.0}
    answers = [
        # 2 picks by the query's artist, 3 artists (Q, B, C), nobody has 5
        Answer(("q1",), ("a1", "b1", "a2", "c1")),
        # 5 by Q: one crowded list; "n1" has no known artist and counts as its own
        Answer(("q2",), ("a1", "a2", "a3", "a4", "a5", "b2", "n1")),
    ]
    figures = diversity(answers, artist_of, percentile, catalogue_size=20)
    assert figures.same_artist == pytest.approx((2 + 5) / 2)
    assert figures.distinct_artists == pytest.approx((3 + 3) / 2)
    assert figures.five_from_one == pytest.approx(0.5)
    # a1..a5, b1, b2, c1, n1 = 9 different tracks shown, of 20
    assert figures.coverage == pytest.approx(9 / 20)
    # picks with a known percentile: a1 b1 a2 c1 | a1 a2 -> (10+30+20+40+10+20) / 6
    assert figures.popularity == pytest.approx(130 / 6)
    assert figures.query_popularity == pytest.approx(80.0)
    # A playlist's own artists are all "the query's artist".
    (playlist,) = [Answer(("q1", "b1"), ("a1", "b2", "c1"))]
    assert diversity([playlist], artist_of, percentile, 20).same_artist == 2


def test_popularity_percentiles_rank_the_catalogue() -> None:
    tracks = pd.DataFrame({"track_id": ["a", "b", "c", "d"], "track_popularity": [5, 50, 50, 90]})
    assert popularity_percentiles(tracks) == {"a": 25.0, "b": 62.5, "c": 62.5, "d": 100.0}


def artist_catalog_split() -> Split:
    """Query q by artist Q; s1..s6 also by Q; o1..o12 by twelve other artists.

    Popularity is 1..6 for s1..s6, 7..18 for o1..o12 and 19 for q, so a track's
    popularity percentile is popularity / 19 * 100. Hidden: s6 and o1.
    """
    ids = ["q", *[f"s{i}" for i in range(1, 7)], *[f"o{i}" for i in range(1, 13)]]
    popularity = {"q": 19, **{f"s{i}": i for i in range(1, 7)}}
    popularity |= {f"o{i}": 6 + i for i in range(1, 13)}
    rows = []
    for track in ids:
        values = {column: "0.5" for column in REQUIRED_COLUMNS}
        values.update(
            track_id=track,
            track_name=f"Song {track}",
            track_artist="Q" if track[0] in "qs" else f"Other {track}",
            track_album_id=f"al-{track}",
            track_album_name=f"Album {track}",
            track_album_release_date="2019",
            track_popularity=str(popularity[track]),
            playlist_id="p" if track == "q" else "",
            playlist_name="P" if track == "q" else "",
            playlist_genre="pop" if track == "q" else "",
            playlist_subgenre="",
        )
        rows.append(values)
    train = catalog_from_rows(pd.DataFrame(rows, columns=list(REQUIRED_COLUMNS)))
    return Split(
        train=train,
        hidden={"p": ["s6", "o1"]},
        visible={"p": ["q"]},
        queries={"p": ["q"]},
        cold=frozenset({"s6", "o1"}),
        genre={},
    )


def test_capped_figures_are_what_the_capped_list_finds() -> None:
    split = artist_catalog_split()
    order = [*[f"s{i}" for i in range(1, 7)], *[f"o{i}" for i in range(1, 13)]]
    ranker = FixedRanker(order, artist_keys(split.train.tracks))
    report = evaluate_ranker("fixed", ranker, split, cap=ArtistCap(2, 2))
    off, on = report.uncapped, report.capped
    # Off: s1..s6, o1..o4 -> both hidden tracks found; six picks by Q, five artists.
    assert off.a_recall == 1.0 and off.b_recall == 1.0
    assert off.a_diversity.same_artist == 6
    assert off.a_diversity.distinct_artists == 5
    assert off.a_diversity.five_from_one == 1.0
    assert off.a_diversity.coverage == pytest.approx(10 / 19)
    assert off.a_diversity.popularity == pytest.approx(5.5 / 19 * 100)  # mean of 1..10
    assert off.a_diversity.query_popularity == pytest.approx(100.0)
    # On: s1, s2, o1..o8 -> only o1 found; two picks by Q, nine artists.
    assert on.a_recall == 0.5 and on.b_recall == 0.5
    assert on.a_recall_cold == 0.5
    assert on.a_diversity.same_artist == 2
    assert on.a_diversity.distinct_artists == 9
    assert on.a_diversity.five_from_one == 0.0
    assert on.a_diversity.popularity == pytest.approx((1 + 2 + sum(range(7, 15))) / 10 / 19 * 100)
    assert on.b_ndcg == pytest.approx(1 / np.log2(4) / (1 + 1 / np.log2(3)))  # o1 at rank 3


def test_param_options_are_read_as_numbers_or_text() -> None:
    pairs = ["epochs=30", "lr=0.01", "credits=false", "normalization=sym", " walk-weight=0"]
    assert dict(map(parse_option, pairs)) == {
        "epochs": 30,
        "lr": 0.01,
        "credits": False,
        "normalization": "sym",
        "walk_weight": 0,
    }
    with pytest.raises(ValueError):
        parse_option("epochs")


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
    assert "| popularity | off |" in table and "| popularity | on |" in table
    assert "B NDCG@10" in table and "same-artist picks" in table and "coverage" in table
    assert plot.stat().st_size > 1000
    assert evaluation.main(["--data", str(synthetic_csv), "--models", "popularity", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    figures = payload["models"]["popularity"]
    assert len(figures["recall_at_k_A"]) == 50 and 0.0 <= figures["uncapped"]["a_recall"] <= 1.0
    capped = figures["capped"]
    assert capped["a_diversity"]["five_from_one"] == 0.0  # the cap allows 2 per artist
    assert 0.0 < capped["b_diversity"]["coverage"] <= 1.0
    assert evaluation.main(["--data", str(synthetic_csv), "--models", "nope"]) == 2


def test_main_reports_a_broken_file_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.csv"
    broken.write_text("track_id,track_name\nabc,Hello\n")
    assert evaluation.main(["--data", str(broken), "--models", "popularity"]) == 1
    assert "missing column" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "said"),
    [
        ("walk_weight=-1", "cannot be negative"),
        ("epochs=0", "1 or more steps"),
        ("epochs=-3", "1 or more steps"),
    ],
)
def test_a_trainer_option_it_refuses_is_one_line_not_a_traceback(
    synthetic_csv: Path, capsys: pytest.CaptureFixture[str], option: str, said: str
) -> None:
    # epochs=0 used to train 80 steps and epochs=-3 none, reporting an untrained model.
    argv = ["--data", str(synthetic_csv), "--models", "hetero-lightgcn", "--param", option]
    assert evaluation.main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err


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
    model = reports[default].uncapped
    reports = {name: report.uncapped for name, report in reports.items()}
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


def test_baselines_answer_by_their_own_scores(synthetic_csv: Path) -> None:
    """The popularity baseline's picks are the most-listed songs, for one song and for a
    playlist's seeds alike: a baseline ranked by anything else (say, a cosine of its
    placeholder vectors) would make every comparison against it meaningless."""
    from recommender.baselines import popularity

    # Shuffled, so the catalog's row order says nothing about how often a song is listed.
    catalog = catalog_from_rows(read_rows(synthetic_csv).sample(frac=1.0, random_state=1))
    model, _ = popularity(catalog)
    degree = np.bincount(catalog.memberships["track"], minlength=catalog.num_tracks)
    ids = catalog.tracks["track_id"].astype(str).tolist()
    seed = ids[int(np.argmin(degree))]
    for picks in (
        model.similar(seed, k=5),
        model.recommend_for_tracks([seed, ids[int(np.argsort(degree)[1])]], k=5),
        model.similar_many([SimilarQuery(seed, 5)])[0],
    ):
        listed = [int(degree[ids.index(p.track_id)]) for p in picks]
        assert listed == sorted(listed, reverse=True)
        assert listed[0] == degree.max()
