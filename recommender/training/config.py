"""Each model's hyperparameters: one frozen dataclass per trainer, one documented field
per option. A trainer reads its options only through `from_options`, and the `params` a
saved model records are the config's fields (`params`), so an option is named, defaulted
and recorded in one place. Free of torch, so anything may read a config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any, Self


class _Options:
    """What the configs share: built from a trainer's keyword options, recorded as params."""

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """The config with `options` (as `--param KEY=VALUE` or a retrain gives them)
        over the defaults; an option the model does not have is refused in one line."""
        known = [f.name for f in fields(cls)]  # type: ignore[arg-type]  # a dataclass below
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(
                f"unknown training option(s) {', '.join(unknown)}; "
                f"this model takes {', '.join(known)}"
            )
        return cls(**options)

    def with_(self, **changes: Any) -> Self:
        """A copy with `changes` (what a run resolved: its device, threads, steps)."""
        return replace(self, **changes)  # type: ignore[type-var]  # a dataclass below

    def params(self) -> dict[str, Any]:
        """The fields as recorded in a saved model's metadata."""
        return asdict(self)  # type: ignore[call-overload]  # a dataclass below


@dataclass(frozen=True)
class SeedGCNConfig(_Options):
    """The seed GCN (`seed_gcn.py`): audio features, two GCN layers, one negative each.

    Attributes:
        epochs: optimizer steps over the whole graph.
        lr: Adam's learning rate.
        hidden_dim: width of the first GCN layer.
        out_dim: size of a track's embedding.
        dropout: dropout between the two layers while training.
        negatives: uniformly sampled negative tracks per positive pair.
        threads: training threads (None: one per usable core; see `configure_threads`).
        device: "auto" (a GPU if there is one), "cpu" or "cuda"; the run records the one
            it resolved ("cuda:0").
    """

    epochs: int = 100
    lr: float = 0.01
    hidden_dim: int = 128
    out_dim: int = 64
    dropout: float = 0.5
    negatives: int = 1
    threads: int | None = None
    device: str = "auto"


@dataclass(frozen=True)
class HeteroLightGCNConfig(_Options):
    """The default model (`hetero_lightgcn.py`). Defaults were chosen on `musicbot
    evaluate` (seed 0): A 0.055, B 0.370, genre@10 0.907 in about 20 s on 2 cores.

    Attributes:
        epochs: optimizer steps; None is 80 (`schedule.plan_schedule`).
        lr: Adam's learning rate.
        dim: size of every node's embedding (a served vector is three of them).
        hidden_dim: width of the layer that maps a track's content features to `dim`.
        num_layers: LightGCN propagation layers.
        temperature: the sampled softmax's temperature over cosine similarities.
        hide_fraction: share of the memberships hidden from the graph each step (the
            hold-out in miniature the model learns to fill in).
        batch_size: hidden memberships per loss batch.
        batches: loss batches supervised per step (the fixed schedule's pace).
        negatives: uniformly sampled negative tracks per batch.
        identity_weight: how much the artist's and album's embeddings weigh in the served
            vector next to the track's own: the strongest clue for a track in no playlist.
        track_weight: weight of "a visible member of the playlist picks out the hidden
            track" (0: only "the playlist picks it out").
        credits: featured artists get graph edges too, not only the main artist.
        artist_playlist_edges: artists are linked to the playlists their songs are in.
        membership_weight: a playlist edge's weight against artist and album edges (3
            makes the playlist count as much as artist and album together).
        normalization: how a node averages its neighbours ("mean", "sym", ...; see graph.py).
        popularity_weight: the popularity prior served with the model (not trained);
            None lets the run choose it on validation (`blend.py`), a number fixes it.
        walk_weight: the playlist walk's weight (`recommender.playlist_walk`); None lets
            the run choose it, a number fixes it (0 turns the walk off).
        threads: training threads (None: one per usable core; see `configure_threads`).
        schedule: "fixed" (the default), "scaled", or "auto" (scaled from 100k
            memberships): see `schedule.plan_schedule`.
        other_artist_weight: weight of "a visible member by another artist picks out the
            hidden track", which teaches lists spread over artists (0: off).
        artist_negatives: songs by the anchor's own artist that its playlist lacks, added
            as negatives per batch (0: none).
        device: "auto" (a GPU if there is one), "cpu" or "cuda"; the run records the one
            it resolved ("cuda:0").
    """

    epochs: int | None = None
    lr: float = 0.02
    dim: int = 64
    hidden_dim: int = 128
    num_layers: int = 3
    temperature: float = 0.15
    hide_fraction: float = 0.2
    batch_size: int = 1024
    batches: int = 4
    negatives: int = 1024
    identity_weight: float = 0.8
    track_weight: float = 1.0
    credits: bool = True
    artist_playlist_edges: bool = False
    membership_weight: float = 3.0
    normalization: str = "mean"
    popularity_weight: float | None = None
    walk_weight: float | None = None
    threads: int | None = None
    schedule: str = "fixed"
    other_artist_weight: float = 0.0
    artist_negatives: int = 0
    device: str = "auto"
