"""The validation slice: memberships a run hides for its whole length, the playlists
they test, and how well the served vectors find them (Recall@10 of continuation). A
validating schedule stops on it; the serving weights are chosen on it (blend.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from recommender.data import Catalog
from recommender.playlist_walk import PlaylistWalk

VALIDATION_SHARE = 0.02  # of memberships hidden for the whole run, to stop on
VALIDATION_PLAYLISTS = 300
MAX_VALIDATION_SHARE = 0.08  # the most a slice may hold to reach its `min_lists`
PATIENCE = 3  # evaluations without improvement


@dataclass
class Validation:
    """Memberships hidden from training for the whole run, and the playlists they test."""

    edges: torch.Tensor  # membership edge numbers held out
    seeds: list[torch.Tensor]  # per validation playlist: its training tracks
    targets: list[set[int]]  # per validation playlist: its held-out tracks
    best: float = -1.0
    best_state: dict[str, torch.Tensor] | None = None
    since_best: int = 0


def track_popularity(catalog: Catalog) -> np.ndarray:
    """Each track's popularity on the scale the served prior uses (`Recommender.with_prior`)."""
    return catalog.tracks["track_popularity"].to_numpy(dtype=np.float32) / 100.0


def validation_slice(
    tracks: torch.Tensor,
    playlists: torch.Tensor,
    generator: torch.Generator,
    min_lists: int = 0,
) -> Validation:
    """`VALIDATION_SHARE` of the memberships (a fifth of each of a sample of playlists
    with >= 10 tracks), or as many as `min_lists` playlists need up to
    `MAX_VALIDATION_SHARE`; at most `VALIDATION_PLAYLISTS` of those playlists are scored."""
    counts = torch.bincount(playlists)
    eligible = torch.nonzero(counts >= 10).flatten()
    chosen = eligible[torch.randperm(len(eligible), generator=generator)]
    wanted = max(1, int(VALIDATION_SHARE * len(tracks)))
    most = max(wanted, int(MAX_VALIDATION_SHARE * len(tracks)))
    order = torch.argsort(playlists, stable=True)
    starts = torch.cumsum(counts, 0) - counts
    held: list[torch.Tensor] = []
    seeds: list[torch.Tensor] = []
    targets: list[set[int]] = []
    total = 0
    for playlist in chosen.tolist():
        edges = order[starts[playlist] : starts[playlist] + counts[playlist]]
        edges = edges[torch.randperm(len(edges), generator=generator)]
        cut = max(1, len(edges) // 5)
        held.append(edges[:cut])
        if len(seeds) < VALIDATION_PLAYLISTS:
            seeds.append(tracks[edges[cut:]])
            targets.append(set(tracks[edges[:cut]].tolist()))
        total += cut
        if (total >= wanted and len(held) >= min_lists) or total >= most:
            break
    edges = torch.cat(held) if held else torch.zeros(0, dtype=torch.long)
    return Validation(edges, seeds, targets)


def served_recall(served: torch.Tensor, validation: Validation) -> float:
    """Continuation Recall@10 of the served vectors alone on the validation playlists
    (what a validating schedule stops on)."""
    if not validation.seeds:
        return 0.0
    return float(list_recalls(served, validation).mean())


def list_recalls(
    served: torch.Tensor,
    validation: Validation,
    popularity: torch.Tensor | None = None,
    priors: tuple[float, ...] = (0.0,),
    walk: PlaylistWalk | None = None,
    walks: tuple[float, ...] = (0.0,),
    k: int = 10,
) -> torch.Tensor:
    """Recall@k of every validation playlist under every (prior, walk) weight pair:
    playlists x priors x walks. The scores are the served ones: cosine to the seeds'
    mean direction, plus prior x `popularity`, plus walk x `walk`'s scores."""
    served = served.cpu()  # the walk is scipy's, on the CPU
    boost = 0.0 if popularity is None else torch.tensor(priors)[:, None, None] * popularity.cpu()
    walk_weights = torch.tensor(walks)[None, :, None]
    recalls = []
    for seeds, targets in zip(validation.seeds, validation.targets, strict=True):
        seeds = seeds.cpu()
        cosines = served @ F.normalize(served[seeds].mean(0), dim=0)
        walked = torch.from_numpy(walk.scores(seeds.tolist())) if walk is not None else 0.0
        scores = (cosines + boost + walk_weights * walked).expand(len(priors), len(walks), -1)
        scores = scores.clone()
        scores[..., seeds] = -torch.inf
        top = torch.topk(scores, min(k, scores.shape[-1]), dim=-1).indices
        hits = torch.isin(top, torch.tensor(sorted(targets))).sum(-1)
        recalls.append(hits.double() / min(k, len(targets)))
    return torch.stack(recalls)


def should_stop(model: torch.nn.Module, validation: Validation, recall: float) -> bool:
    """Keep the best weights; stop after `PATIENCE` evaluations without improvement."""
    if recall > validation.best:
        validation.best = recall
        validation.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        validation.since_best = 0
        return False
    validation.since_best += 1
    return validation.since_best >= PATIENCE


def served_vectors(
    model: torch.nn.Module,
    graph: Any,
    trainable: torch.Tensor,
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """Every track's served vector from the model as it stands, propagated over the
    `trainable` memberships only (the validation slice stays hidden)."""
    model.eval()
    with torch.no_grad():
        return vectors(
            model(graph.track_x, graph.adjacency(trainable)), torch.arange(graph.num_tracks)
        )


def model_recall(
    model: torch.nn.Module,
    graph: Any,
    trainable: torch.Tensor,
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validation: Validation,
) -> float:
    """`served_recall` of the model as it stands (what the step loop stops on)."""
    return served_recall(served_vectors(model, graph, trainable, vectors), validation)
