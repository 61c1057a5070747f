"""The seed design, kept as a baseline: audio features on tracks, two GCN layers, trained
with positive (track, playlist) pairs against uniformly sampled negative tracks. Its
hyperparameters are `config.SeedGCNConfig`'s."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from recommender.data import Catalog
from recommender.features import audio_features
from recommender.training import distributed
from recommender.training.config import SeedGCNConfig
from recommender.training.environment import (
    configure_threads,
    require_memberships,
    seed_everything,
)
from recommender.training.graph import build_graph
from recommender.training.models import SeedGCN, link_loss
from recommender.training.progress import EpochProgress


@distributed.on_device
def train_seed_gcn(
    catalog: Catalog, *, seed: int = 0, progress: bool | None = None, **options: Any
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train the seed GCN; `options` are `SeedGCNConfig`'s fields."""
    config = SeedGCNConfig.from_options(options)
    require_memberships(catalog)
    seed_everything(seed)
    threads = configure_threads(config.threads)
    device = config.device
    graph = build_graph(catalog, torch.from_numpy(audio_features(catalog.tracks))).to(device)
    model = SeedGCN(
        catalog.num_playlists,
        graph.track_x.shape[1],
        hidden_dim=config.hidden_dim,
        out_dim=config.out_dim,
        dropout=config.dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    positives = graph.pairs
    generator = torch.Generator(device=device).manual_seed(seed)
    bar = EpochProgress(config.epochs, "seed-gcn", progress)
    for epoch in bar:
        model.train()
        optimizer.zero_grad()
        z = model(graph.track_x, graph.edge_index)
        playlists = positives[1].repeat(config.negatives)
        random_tracks = torch.randint(0, graph.num_tracks, playlists.shape, generator=generator)
        loss = link_loss(z, positives, torch.stack([random_tracks, playlists]))
        loss.backward()
        optimizer.step()
        bar.report(epoch, loss.item())
    bar.close()
    model.eval()
    with torch.no_grad():
        embeddings = model(graph.track_x, graph.edge_index)[: graph.num_tracks]
    return embeddings.cpu().numpy().astype(np.float32), config.with_(threads=threads).params()
