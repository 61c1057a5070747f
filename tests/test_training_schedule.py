"""How training is paced as catalogs grow (`plan_schedule`, `run_schedule`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from recommender import synthetic
from recommender.data import catalog_from_rows
from recommender.synthetic import Shape
from recommender.training import train_hetero_lightgcn
from recommender.training.blend import BLEND_LISTS
from recommender.training.schedule import accumulated_step, plan_schedule
from recommender.training.validation import MAX_VALIDATION_SHARE, validation_slice


def test_the_real_catalog_keeps_its_schedule_and_big_ones_supervise_in_proportion() -> None:
    real = plan_schedule(29_000, epochs=None, batch_size=1024, batches=4, schedule="auto")
    assert (real.steps, real.chunks_per_step, real.validate) == (80, 4, False)
    plans = {
        n: plan_schedule(n, epochs=None, batch_size=1024, batches=4, schedule="auto")
        for n in (326_000, 3_300_000, 66_000_000)
    }
    assert all(p.validate for p in plans.values())
    # Supervision per step grows with the data (10x memberships, ~10x batches), so the
    # share of memberships a run learns from does not shrink as the catalog grows.
    assert plans[3_300_000].chunks_per_step == pytest.approx(
        10 * plans[326_000].chunks_per_step, rel=0.05
    )
    # The trainer's default pacing is the fixed one at every size (see training/schedule.py).
    big = plan_schedule(3_300_000, epochs=None, batch_size=1024, batches=4, schedule="fixed")
    assert (big.chunks_per_step, big.validate) == (4, False)
    with pytest.raises(ValueError, match="unknown schedule"):
        plan_schedule(1000, epochs=None, batch_size=1024, batches=4, schedule="fast")


def memberships(lists: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`lists` playlists of `length` distinct tracks each, as (tracks, playlists)."""
    playlists = torch.arange(lists).repeat_interleave(length)
    return torch.arange(lists * length), playlists


def test_a_small_catalogs_blend_is_chosen_on_enough_lists_to_tell() -> None:
    # 500 lists of 60, the real catalog's size: 2% of its memberships is 50 lists, too
    # few for the weights chosen on them to hold on the hold-out (29k synthetic: 0.314
    # with the choice made on 44 lists vs 0.331 on 120, benchmarks/bench_scale.py).
    tracks, playlists = memberships(500, 60)
    usual = validation_slice(tracks, playlists, torch.Generator().manual_seed(0))
    assert len(usual.seeds) == 50
    blend = validation_slice(tracks, playlists, torch.Generator().manual_seed(0), BLEND_LISTS)
    assert len(blend.seeds) == BLEND_LISTS
    assert all(len(targets) == 12 for targets in blend.targets)  # a fifth of each list
    # A catalog of few long lists stops at the most a slice may hold, not at the lists.
    tracks, playlists = memberships(50, 600)
    few = validation_slice(tracks, playlists, torch.Generator().manual_seed(0), BLEND_LISTS)
    assert len(few.edges) <= MAX_VALIDATION_SHARE * len(tracks) + 120
    assert len(few.seeds) < BLEND_LISTS


def test_accumulating_batch_gradients_equals_one_backward_over_their_sum() -> None:
    torch.manual_seed(0)
    weight = torch.randn(50, 8, requires_grad=True)
    targets = [torch.randn(50, 8) for _ in range(3)]

    def losses():
        return (lambda z, t=t: ((z - t) ** 2).mean() / 3 for t in targets)

    accumulated_step(weight * 2.0, losses())
    accumulated = weight.grad.clone()
    weight.grad = None
    sum(loss(weight * 2.0) for loss in losses()).backward()
    assert torch.allclose(accumulated, weight.grad, atol=1e-6)


def test_a_big_catalog_run_validates_and_serves_every_track() -> None:
    catalog = catalog_from_rows(synthetic.generate(Shape(playlists=120, tracks=3000)))
    embeddings, params = train_hetero_lightgcn(
        catalog, schedule="scaled", epochs=15, progress=False
    )
    assert embeddings.shape[0] == catalog.num_tracks
    assert np.isfinite(embeddings).all()
    assert params["early_stopping"] is True and 5 <= params["epochs"] <= 15


def _validation(targets_by_playlist: list[list[int]], seeds_by_playlist: list[list[int]]):
    from recommender.training.validation import Validation

    return Validation(
        edges=torch.tensor([], dtype=torch.long),
        seeds=[torch.tensor(s) for s in seeds_by_playlist],
        targets=[set(t) for t in targets_by_playlist],
    )


def test_the_popularity_prior_weighs_what_the_catalog_rewards() -> None:
    """Where playlists hold the popular songs, a heavier prior is chosen; where popularity
    says nothing, the tuned default stays (the real catalog's answers do not move)."""
    from recommender.training.blend import BlendChoices, choose_blend

    OPEN = BlendChoices.of(None, None)

    generator = torch.Generator().manual_seed(0)
    served = torch.nn.functional.normalize(torch.randn(400, 16, generator=generator), dim=1)
    popularity = torch.linspace(0.0, 1.0, 400)
    seeds = [[i, i + 1, i + 2] for i in range(0, 60, 3)]
    popular_targets = [[399 - i, 398 - i] for i in range(20)]
    chosen = choose_blend(served, _validation(popular_targets, seeds), popularity, OPEN)
    assert chosen.popularity_weight > 0.05

    flat = torch.zeros(400)
    chosen = choose_blend(served, _validation(popular_targets, seeds), flat, OPEN)
    assert chosen.popularity_weight == 0.05
