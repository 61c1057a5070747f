"""The serving weights a trained model adds to its cosines (the popularity prior and the
playlist walk), chosen per catalog on the run's validation slice (validation.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import astuple, dataclass
from typing import Any

import torch

from recommender.playlist_walk import PlaylistWalk
from recommender.training import distributed
from recommender.training.validation import Validation, list_recalls, served_vectors

log = logging.getLogger(__name__)

PRIOR_WEIGHTS = (0.05, 0.1, 0.2, 0.4, 0.8, 1.6)
PRIOR_MARGIN = 0.005  # a heavier prior must beat the default by this much on validation


WALK_WEIGHTS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 4.0, 8.0)
DEFAULT_PRIOR = 0.05  # tuned on the real catalog's validation split
BLEND_SLICE_SEED = 20_261_127  # the fixed schedule's slice for choosing the blend
REJOIN_STEPS = 10  # the fixed schedule's last steps, which learn from the slice too
MIN_BLEND_PLAYLISTS = 20  # fewer validation lists than this cannot clear the noise bar
# The lists the blend is chosen on, where the catalog has them. On a catalog the real
# one's size, 2% of the memberships is about 40 lists: on the 29k MPD-shaped catalogs the
# choice then swung from walk 0.2 to 4.0 between seeds and once served 0.314 where 0.341
# was on offer; on 120 lists continuation is 0.331-0.335 on all four seeds (mean 0.326 ->
# 0.333, `benchmarks/bench_scale.py --sizes 29k --seed S`). The real catalog's hold-out
# figures moved less than holding a different 2% slice moves them.
BLEND_LISTS = 120


@dataclass(frozen=True)
class Blend:
    """What a trained model adds to its cosines when it serves, chosen on validation:
    the popularity prior's weight and the playlist walk's (`recommender.playlist_walk`)."""

    popularity_weight: float
    walk_weight: float = 0.0


@dataclass(frozen=True)
class BlendChoices:
    """The weights a run may choose from, and the default a choice must clearly beat.
    A weight the admin set (`--param popularity_weight=0`, `walk_weight=0`) is fixed."""

    default: Blend
    priors: tuple[float, ...]
    walks: tuple[float, ...]

    @classmethod
    def of(cls, popularity_weight: float | None, walk_weight: float | None) -> BlendChoices:
        # A negative prior favours deep cuts, which an admin may want; a negative walk
        # would mean "away from the seeds' playlists", which no model serves (0 is off).
        if walk_weight is not None and float(walk_weight) < 0:
            raise ValueError(
                f"walk_weight {walk_weight} cannot be negative (0 turns the playlist walk off)"
            )
        prior = DEFAULT_PRIOR if popularity_weight is None else float(popularity_weight)
        walk = 0.0 if walk_weight is None else float(walk_weight)
        priors = PRIOR_WEIGHTS if popularity_weight is None else ()
        walks = WALK_WEIGHTS if walk_weight is None else ()
        return cls(
            Blend(prior, walk), tuple(sorted({*priors, prior})), tuple(sorted({*walks, walk}))
        )

    @property
    def open(self) -> bool:
        """Whether there is anything to choose."""
        return len(self.priors) * len(self.walks) > 1


def choose_blend(
    served: torch.Tensor,
    validation: Validation,
    popularity: torch.Tensor,
    choices: BlendChoices,
    walk: PlaylistWalk | None = None,
) -> Blend:
    """The popularity prior's and the playlist walk's weights for this catalog, from
    validation continuation recall (every pair of `choices`' priors x walk weights).

    How much popularity should count depends on the catalog: on the real one, lists are
    best with a light prior (0.05 was tuned for it); on catalogs shaped like the Million
    Playlist Dataset, where popularity is steep, 0.8 finds twice the hidden songs of 0.05.
    The walk is the same kind of choice: it finds a list's songs on big catalogs of long
    playlists and only the seeds' own playlist on the real one. `walk` must be the
    training graph's (without the validation memberships). Anything other than the
    default is chosen only when it is clearly better (`PRIOR_MARGIN` and two standard
    errors), and never on fewer than `MIN_BLEND_PLAYLISTS` lists."""
    default = choices.default
    priors = choices.priors
    walks = choices.walks if walk is not None else (default.walk_weight,)
    if len(validation.seeds) < MIN_BLEND_PLAYLISTS:
        return default
    per_list = list_recalls(served, validation, popularity, priors, walk, walks)
    # Against the default, list by list: a choice must win by `PRIOR_MARGIN` and by
    # twice its standard error, so a small slice's noise never moves a catalog's answers.
    i, j = priors.index(default.popularity_weight), walks.index(default.walk_weight)
    gain = per_list - per_list[:, i : i + 1, j : j + 1]
    mean = gain.mean(dim=0)
    error = gain.std(dim=0) / len(per_list) ** 0.5
    clear = (mean > PRIOR_MARGIN) & (mean > 2 * error)
    sweep = {
        (p, w): float(per_list[:, i, j].mean())
        for i, p in enumerate(priors)
        for j, w in enumerate(walks)
    }
    chosen = (default.popularity_weight, default.walk_weight)
    if clear.any():
        i, j = divmod(int(torch.argmax(torch.where(clear, mean, -torch.inf))), len(walks))
        chosen = (priors[i], walks[j])
    log.info(
        "popularity prior weight %s, playlist walk weight %s (%d validation lists, recall: %s)",
        *chosen,
        len(per_list),
        {f"{p}/{w}": round(r, 4) for (p, w), r in sweep.items()},
    )
    return Blend(*chosen)


def choose_model_blend(
    model: torch.nn.Module,
    graph: Any,
    trainable: torch.Tensor,
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validation: Validation,
    popularity: torch.Tensor,
    choices: BlendChoices,
) -> Blend:
    """`choose_blend` for the model as it stands, with the walk over the training graph
    (the memberships not held out), the same on every worker."""

    def choose() -> tuple[float, ...]:
        tracks, playlists = (t.cpu()[trainable].numpy() for t in graph.membership)
        walk = PlaylistWalk(playlists, tracks, graph.num_tracks)
        served = served_vectors(model, graph, trainable, vectors)
        return astuple(choose_blend(served, validation, popularity, choices, walk))

    return Blend(*distributed.figures_from_main(choose, 2))
