"""The default model: hetero LightGCN trained to find hidden memberships.

Every step hides `hide_fraction` of the playlist memberships from the graph (a hold-out
in miniature: most hidden tracks become catalog-only for that step) and asks, with a
sampled softmax over cosine similarities (`loss.MembershipLoss`), that the playlist and
a visible member of it pick out the hidden track ("songs like this"). Hidden tracks can
only be reached through content, artist and album, which is what the model must learn
to use for tracks that are in no playlist at all.

The served vector is the track's embedding with its artist's and album's appended
(`identity_weight`): same artist/album is the strongest single clue for a cold track,
while the track part, propagated from playlists (`membership_weight` 3 makes the
playlist count as much as artist and album together), keeps lists genre-coherent.

`popularity_weight` is not trained: it is recorded with the model and served as a prior
(`Recommender.scores_for_rows`); 0.05 was chosen on `evaluation.validation_split` for
the answers members get by default (artists spread, `ranking.DEFAULT_ARTIST_CAP`).
Every run then checks it, with the playlist walk's weight, on a validation slice of its
own catalog (`blend.choose_blend`): a catalog shaped like the Million Playlist Dataset
gets a heavier prior and the walk, the real catalog keeps 0.05 and no walk. A weight
given (`popularity_weight=0`, `walk_weight=0`) is kept as given, not chosen.

The hyperparameters, with what each does, are `config.HeteroLightGCNConfig`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recommender.data import Catalog
from recommender.features import content_features
from recommender.training import distributed
from recommender.training.blend import BlendChoices
from recommender.training.config import HeteroLightGCNConfig
from recommender.training.environment import (
    configure_threads,
    require_memberships,
    seed_everything,
)
from recommender.training.graph import build_hetero_graph
from recommender.training.loss import MembershipLoss
from recommender.training.models import HeteroLightGCN
from recommender.training.schedule import plan_schedule, run_schedule
from recommender.training.validation import track_popularity


@distributed.on_device
def train_hetero_lightgcn(
    catalog: Catalog, *, seed: int = 0, progress: bool | None = None, **options: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the default model; `options` are `HeteroLightGCNConfig`'s fields. Returns
    one embedding row per track and the params to record (the config as it ran)."""
    return fit_hetero_lightgcn(
        catalog, HeteroLightGCNConfig.from_options(options), seed=seed, progress=progress
    )


def fit_hetero_lightgcn(
    catalog: Catalog, config: HeteroLightGCNConfig, *, seed: int = 0, progress: bool | None
) -> tuple[np.ndarray, dict[str, Any]]:
    """`train_hetero_lightgcn` for a config whose device is resolved (`on_device`)."""
    require_memberships(catalog)
    seed_everything(seed)
    threads = configure_threads(config.threads)
    device = config.device
    graph = build_hetero_graph(
        catalog,
        torch.from_numpy(content_features(catalog.tracks)),
        credits=config.credits,
        artist_playlist_edges=config.artist_playlist_edges,
        membership_weight=config.membership_weight,
        normalization=config.normalization,
    ).to(device)
    model = HeteroLightGCN(
        graph.track_x.shape[1],
        graph.num_playlists,
        graph.num_artists,
        graph.num_albums,
        dim=config.dim,
        hidden_dim=config.hidden_dim,
        num_layers=config.num_layers,
    )
    distributed.same_start(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    # Which memberships a step hides comes from `shuffle`, the same on every worker; each
    # worker draws its own negatives from `generator` (the same generator when alone).
    shuffle = torch.Generator(device=device).manual_seed(seed)
    generator = distributed.sampling_generator(shuffle, seed)
    loss = MembershipLoss(graph, config, generator)
    plan = plan_schedule(
        graph.membership[0].numel(),
        epochs=config.epochs,
        batch_size=config.batch_size,
        batches=config.batches,
        schedule=config.schedule,
    )
    steps, blend = run_schedule(
        model,
        optimizer,
        graph,
        plan,
        loss,
        loss.vectors,
        hide_fraction=config.hide_fraction,
        batch_size=config.batch_size,
        generator=shuffle,
        progress=progress,
        popularity=torch.from_numpy(track_popularity(catalog)),
        choices=BlendChoices.of(config.popularity_weight, config.walk_weight),
    )
    model.eval()
    with torch.no_grad():
        embeddings = loss.vectors(
            model(graph.track_x, graph.adjacency()), torch.arange(graph.num_tracks)
        )
    ran = config.with_(
        epochs=steps,
        popularity_weight=blend.popularity_weight,
        walk_weight=blend.walk_weight,
        threads=threads,
    )
    params = {key: value for key, value in ran.params().items() if key != "device"}
    params.update(
        chunks_per_step=plan.chunks_per_step,
        early_stopping=plan.validate,
        device=device,
        workers=distributed.world_size(),
    )
    return embeddings.cpu().numpy().astype(np.float32), params
