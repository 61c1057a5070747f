"""The playlist walk: songs that share playlists with the seeds, counted by the model's
`walk_weight` (chosen on validation on big catalogs, 0 on the real one)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from recommender import Recommender, synthetic
from recommender.data import Catalog, catalog_from_rows
from recommender.playlist_walk import PlaylistWalk
from recommender.synthetic import Shape
from recommender.training.blend import BlendChoices, choose_blend
from recommender.training.validation import Validation

OPEN = BlendChoices.of(None, None)  # both weights chosen, from the tuned default


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return catalog_from_rows(synthetic.generate(Shape(playlists=80, tracks=2500), seed=3))


def _model(catalog: Catalog, walk_weight: float) -> Recommender:
    # Embeddings that know nothing of playlists: whatever playlist sense the answers
    # have comes from the walk.
    vectors = np.random.default_rng(0).normal(size=(catalog.num_tracks, 16)).astype(np.float32)
    params = {"popularity_weight": 0.05, "walk_weight": walk_weight}
    return Recommender(catalog, vectors, {"model": "test", "params": params})


def _mates(catalog: Catalog, seeds: list[str]) -> set[str]:
    """Every song in a playlist that holds one of the seeds."""
    ids = catalog.tracks["track_id"].astype(str).to_numpy()
    members = catalog.memberships
    rows = np.flatnonzero(np.isin(ids, seeds))
    lists = members.loc[members["track"].isin(rows), "playlist"].unique()
    return set(ids[members.loc[members["playlist"].isin(lists), "track"].unique()])


def _playlist_seeds(catalog: Catalog, playlist: int, count: int) -> list[str]:
    members = catalog.memberships
    rows = members.loc[members["playlist"] == playlist, "track"].to_numpy()[:count]
    return catalog.tracks["track_id"].astype(str).iloc[rows].tolist()


def test_a_model_that_weighs_the_walk_answers_with_the_seeds_playlist_mates(
    catalog: Catalog,
) -> None:
    walking, plain = _model(catalog, 3.0), _model(catalog, 0.0)
    for playlist in range(5):
        seeds = _playlist_seeds(catalog, playlist, 8)
        mates = _mates(catalog, seeds)
        with_walk = [r.track_id for r in walking.recommend_for_tracks(seeds, k=10)]
        without = [r.track_id for r in plain.recommend_for_tracks(seeds, k=10)]
        assert len(with_walk) == 10 and not set(with_walk) & set(seeds)
        assert len(set(with_walk) & mates) >= 8
        assert len(set(without) & mates) <= 3
    # One song asked alone goes the same way.
    seed = _playlist_seeds(catalog, 0, 1)
    assert len({r.track_id for r in walking.similar(seed[0])} & _mates(catalog, seed)) >= 8


def test_the_walk_survives_saving_and_the_index_finds_its_songs_too(
    catalog: Catalog, tmp_path: Path
) -> None:
    model = _model(catalog, 3.0)
    directory = model.save(tmp_path / "model", ann_min_tracks=1_000)
    indexed, exact = Recommender.load(directory), Recommender.load(directory, exact=True)
    assert indexed.ann is not None and indexed.walk_weight == 3.0
    for playlist in range(5):
        seeds = _playlist_seeds(catalog, playlist, 8)
        expected = [r.track_id for r in model.recommend_for_tracks(seeds, k=10)]
        assert [r.track_id for r in exact.recommend_for_tracks(seeds, k=10)] == expected
        found = [r.track_id for r in indexed.recommend_for_tracks(seeds, k=10)]
        assert len(set(found) & set(expected)) >= 9


def _validation(seeds: list[list[int]], targets: list[list[int]]) -> Validation:
    return Validation(
        edges=torch.tensor([], dtype=torch.long),
        seeds=[torch.tensor(s) for s in seeds],
        targets=[set(t) for t in targets],
    )


def test_validation_weighs_the_walk_only_where_it_finds_the_hidden_songs() -> None:
    """Playlists of ten songs: the seeds are three of one, the hidden songs are either
    two more of it (the walk finds them) or songs of no playlist (it cannot)."""
    generator = torch.Generator().manual_seed(0)
    served = torch.nn.functional.normalize(torch.randn(400, 16, generator=generator), dim=1)
    popularity = torch.zeros(400)
    playlists = np.repeat(np.arange(20), 10)
    walk = PlaylistWalk(playlists, np.arange(200), 400)
    seeds = [[10 * p, 10 * p + 1, 10 * p + 2] for p in range(20)]
    in_walk = [[10 * p + 3, 10 * p + 4] for p in range(20)]
    beyond = [[300 + p, 320 + p] for p in range(20)]
    found = choose_blend(served, _validation(seeds, in_walk), popularity, OPEN, walk)
    assert found.walk_weight > 0
    assert choose_blend(served, _validation(seeds, beyond), popularity, OPEN, walk).walk_weight == 0
    # Without a walk (the fixed schedule's models), nothing but the prior is chosen.
    assert choose_blend(served, _validation(seeds, in_walk), popularity, OPEN).walk_weight == 0


def test_a_long_playlist_votes_less_for_each_of_its_songs() -> None:
    """A seed in a 3-song list and a 30-song list: the short list's other songs score
    higher, and the best song scores 1."""
    playlists = np.array([0, 0, 0] + [1] * 30)
    tracks = np.array([0, 1, 2] + [0, *range(3, 32)])
    scores = PlaylistWalk(playlists, tracks, 40).scores([0])
    assert scores[1] == scores[2] == pytest.approx(1.0)
    assert 0 < scores[5] < scores[1]
    assert scores[35] == 0


def _continuation(model: Recommender, split) -> float:  # noqa: ANN001
    found = []
    for playlist, hidden in split.hidden.items():
        top = {r.track_id for r in model.recommend_for_tracks(split.visible[playlist], k=10)}
        found.append(len(top & set(hidden)) / min(10, len(hidden)))
    return float(np.mean(found))


def test_on_a_catalog_shaped_like_the_mpd_training_takes_the_walk_and_lists_find_more() -> None:
    """Trained with the defaults on a catalog of long playlists, the model weighs the
    walk (and a heavier popularity prior), and a playlist's hidden songs come back far
    more often than with the weights tuned for the real catalog."""
    from recommender.evaluation import make_split

    split = make_split(synthetic.generate(Shape(playlists=200, tracks=4000), seed=1), seed=0)
    model = Recommender.train(split.train, progress=False, epochs=20)
    assert model.walk_weight > 0
    params = {**model.metadata["params"], "walk_weight": 0.0, "popularity_weight": 0.05}
    without = Recommender(
        split.train, model.embeddings, {**model.metadata, "params": params}, normalized=True
    )
    assert _continuation(model, split) > _continuation(without, split) + 0.05


def test_the_real_catalog_is_served_without_the_walk(recommender) -> None:  # noqa: ANN001
    """On the real catalog most songs are in one playlist: the walk would only find the
    seeds' own playlist again, and training's validation leaves it out."""
    assert recommender.walk_weight == 0 and recommender.walk is None


def test_a_seeds_playlist_mates_score_one_however_many_playlists_hold_the_seed() -> None:
    """The scale is set by the best song that can be recommended, not by the seed, so a
    seed in four playlists does not weigh the walk a quarter as much as one in one."""
    playlists = np.repeat(np.arange(4), 3)
    tracks = np.array([0, 1, 4, 0, 2, 5, 0, 3, 6, 0, 7, 8])
    scores = PlaylistWalk(playlists, tracks, 9).scores([0])
    assert scores[1:].max() == pytest.approx(1.0)


def test_the_index_ranks_a_long_playlists_equal_songs_as_exact_search_does(
    tmp_path: Path,
) -> None:
    """200 songs listed only in one big playlist tie on the walk: which of them come back
    is decided by cosine and prior, with an index as without one."""
    rows = synthetic.generate(Shape(playlists=80, tracks=2500), seed=3)
    lonely = rows.index[rows["playlist_id"] == ""][:200]
    columns = ["playlist_id", "playlist_name", "playlist_genre", "playlist_subgenre"]
    rows.loc[lonely, columns] = ["BIGMIXBIGMIXBIGMIX0000", "Big mix", "genre1", "genre1"]
    catalog = catalog_from_rows(rows)
    vectors = np.random.default_rng(0).normal(size=(catalog.num_tracks, 16)).astype(np.float32)
    params = {"popularity_weight": 0.4, "walk_weight": 4.0}
    model = Recommender(catalog, vectors, {"model": "test", "params": params})
    directory = model.save(tmp_path / "model", ann_min_tracks=1_000)
    indexed, exact = Recommender.load(directory), Recommender.load(directory, exact=True)
    assert indexed.ann is not None
    for seed in rows.loc[lonely, "track_id"].tolist()[:20]:
        assert [r.track_id for r in indexed.similar(seed)] == [
            r.track_id for r in exact.similar(seed)
        ]


def test_a_negative_walk_weight_is_refused_in_one_line() -> None:
    with pytest.raises(ValueError, match="walk_weight -1 cannot be negative"):
        BlendChoices.of(None, -1)
    assert BlendChoices.of(-0.5, 0).default.popularity_weight == -0.5  # deep cuts: allowed


def test_weights_the_admin_sets_are_kept_and_a_few_lists_choose_nothing() -> None:
    from recommender.evaluation import make_split

    split = make_split(synthetic.generate(Shape(playlists=200, tracks=4000), seed=1), seed=0)
    fixed = Recommender.train(
        split.train, progress=False, epochs=8, popularity_weight=0.0, walk_weight=0.0
    )
    assert (fixed.popularity_weight, fixed.walk_weight) == (0.0, 0.0)
    no_walk = Recommender.train(split.train, progress=False, epochs=8, walk_weight=0.0)
    assert no_walk.walk_weight == 0.0

    # Two lists where the walk finds everything: too few to move the default.
    served = torch.nn.functional.normalize(torch.randn(40, 8), dim=1)
    walk = PlaylistWalk(np.repeat(np.arange(2), 5), np.arange(10), 40)
    few = _validation([[0, 1, 2], [5, 6, 7]], [[3, 4], [8, 9]])
    chosen = choose_blend(served, few, torch.zeros(40), OPEN, walk)
    assert chosen == OPEN.default


def test_a_group_session_on_a_walk_model_follows_every_listeners_playlists(
    catalog: Catalog,
) -> None:
    from recommender.rerank import group_picks

    walking = _model(catalog, 3.0)
    crowd = _playlist_seeds(catalog, 0, 6)  # most of the session comes from one playlist
    crowd_mates = _mates(catalog, crowd)
    playlist = next(
        p for p in range(1, 80) if not _mates(catalog, _playlist_seeds(catalog, p, 1)) & crowd_mates
    )
    alone = _playlist_seeds(catalog, playlist, 1)  # one listener's song from another
    picks = group_picks(walking, [*crowd, *alone], k=10)
    ids = {p.track.track_id for p in picks}
    assert len(ids) == 10
    assert len(ids & (crowd_mates | _mates(catalog, alone))) >= 8  # the walk's sense holds
    followers = [p for p in picks if p.closest_seed == alone[0]]
    # ... and the lone listener's playlist has its turn (before, it had none: all ten
    # picks were the crowd's playlist-mates, and the lone song's "followers" were strangers).
    assert followers
    assert {p.track.track_id for p in followers} <= _mates(catalog, alone)


def test_why_on_a_walk_model_gives_a_similarity_a_member_can_read(catalog: Catalog) -> None:
    import re

    from recommender.explain import explain

    walking = _model(catalog, 3.0)
    seed = _playlist_seeds(catalog, 0, 1)[0]
    pick = walking.similar(seed, k=1)[0]
    assert pick.score > 1  # the ranking score counts the walk ...
    text = explain(walking, seed, pick.track_id)
    similarity = float(re.search(r"Model similarity (-?\d\.\d\d)\.$", text).group(1))
    assert -1 <= similarity <= 1  # ... the similarity a member reads is the cosine
    assert "playlist" in text  # and the shared playlist is said in words


def test_a_walk_model_says_how_it_scores(catalog: Catalog) -> None:
    assert _model(catalog, 3.0).scoring == "similarity + 0.05 × popularity + 3 × shared playlists"
