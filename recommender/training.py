"""Training loops. Each trainer maps a Catalog to one embedding row per track.

A trainer is `fn(catalog, *, seed, progress, **options) -> (embeddings, params)`; the
registry `TRAINERS` is how `Recommender.train(model=...)` and the evaluation find them.
"""

from __future__ import annotations

import logging
import os
import random
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from recommender.data import Catalog, DataError
from recommender.features import audio_features
from recommender.graph import build_graph
from recommender.models import SeedGCN, link_loss

log = logging.getLogger(__name__)

Trainer = Callable[..., tuple[np.ndarray, dict[str, Any]]]


def seed_everything(seed: int) -> None:
    """Same seed, same model: seeded RNGs, deterministic kernels, a fixed thread count.

    Without deterministic kernels, parallel scatter-adds sum in varying order and two runs
    differ in the last bits, which is enough to reorder near-tied recommendations.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


class EpochProgress:
    """A progress bar with the loss on a terminal; plain log lines otherwise."""

    def __init__(self, epochs: int, label: str, progress: bool | None) -> None:
        self.epochs = epochs
        self.label = label
        interactive = sys.stderr.isatty() if progress is None else progress
        self.bar = (
            tqdm(total=epochs, desc=label, unit="epoch", leave=False) if interactive else None
        )
        self.every = max(1, epochs // 10)

    def __iter__(self) -> Iterator[int]:
        yield from range(1, self.epochs + 1)

    def report(self, epoch: int, loss: float) -> None:
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.4f}")
        elif epoch % self.every == 0 or epoch == self.epochs:
            log.info("%s epoch %d/%d loss %.4f", self.label, epoch, self.epochs, loss)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def require_memberships(catalog: Catalog) -> None:
    if len(catalog.memberships) == 0:
        raise DataError(
            "the catalog has no playlist memberships, so there is nothing to learn from"
        )


def train_seed_gcn(
    catalog: Catalog,
    *,
    seed: int = 0,
    progress: bool | None = None,
    epochs: int = 100,
    lr: float = 0.01,
    hidden_dim: int = 128,
    out_dim: int = 64,
    dropout: float = 0.5,
    negatives: int = 1,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The seed GCN trained with positive pairs and uniformly sampled negative tracks."""
    require_memberships(catalog)
    seed_everything(seed)
    graph = build_graph(catalog, torch.from_numpy(audio_features(catalog.tracks)))
    model = SeedGCN(
        catalog.num_playlists,
        graph.track_x.shape[1],
        hidden_dim=hidden_dim,
        out_dim=out_dim,
        dropout=dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    positives = graph.pairs
    generator = torch.Generator().manual_seed(seed)
    bar = EpochProgress(epochs, "seed-gcn", progress)
    for epoch in bar:
        model.train()
        optimizer.zero_grad()
        z = model(graph.track_x, graph.edge_index)
        playlists = positives[1].repeat(negatives)
        random_tracks = torch.randint(0, graph.num_tracks, playlists.shape, generator=generator)
        loss = link_loss(z, positives, torch.stack([random_tracks, playlists]))
        loss.backward()
        optimizer.step()
        bar.report(epoch, loss.item())
    bar.close()
    model.eval()
    with torch.no_grad():
        embeddings = model(graph.track_x, graph.edge_index)[: graph.num_tracks]
    params = {
        "epochs": epochs,
        "lr": lr,
        "hidden_dim": hidden_dim,
        "out_dim": out_dim,
        "dropout": dropout,
        "negatives": negatives,
    }
    return embeddings.numpy().astype(np.float32), params


TRAINERS: dict[str, Trainer] = {
    "seed-gcn": train_seed_gcn,
}
