"""Training loops. Each trainer maps a Catalog to one embedding row per track.

A trainer is `fn(catalog, *, seed, progress, **options) -> (embeddings, params)`; the
registry `TRAINERS` is how `Recommender.train(model=...)` and the evaluation find them.
Every trainer takes `threads` (None: one per core this process may use; see
`configure_threads`).
"""

from __future__ import annotations

import os

# Training threads that wait for each other sleep instead of spinning. When other work
# holds a core, a spinning thread burns the time slices the thread it waits for needs:
# 10 epochs took 112-176 s with 2 spinning threads and 7.5 s with 2 sleeping ones on the
# same busy machine. OpenMP reads this once, when torch loads, so it is set before the
# first torch import; an explicit OMP_WAIT_POLICY in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import logging  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from dataclasses import astuple, dataclass  # noqa: E402
from functools import partial  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from tqdm import tqdm  # noqa: E402

from recommender import distributed  # noqa: E402
from recommender.data import Catalog, DataError  # noqa: E402
from recommender.features import audio_features, content_features  # noqa: E402
from recommender.graph import build_graph, build_hetero_graph  # noqa: E402
from recommender.machine import usable_cores  # noqa: E402
from recommender.models import (  # noqa: E402
    HeteroLightGCN,
    SeedGCN,
    identity_vectors,
    link_loss,
    sampled_softmax_loss,
)
from recommender.playlist_walk import PlaylistWalk  # noqa: E402

log = logging.getLogger(__name__)

Trainer = Callable[..., tuple[np.ndarray, dict[str, Any]]]


def configure_threads(threads: int | None = None) -> int:
    """Set how many threads training computes with; returns the count in use.

    `None` uses one thread per core this process may run on. A number is a ceiling
    (never more than the usable cores, at least 1): fewer threads leave cores to the bot
    and to other work on a shared machine. With several workers on this machine (torchrun
    --nproc-per-node), each gets its share of the cores instead of all of them.
    """
    cores = distributed.cores_share(usable_cores())
    count = cores if threads is None else max(1, min(int(threads), cores))
    torch.set_num_threads(count)
    return count


def seed_everything(seed: int) -> None:
    """Same seed, same model: seeded RNGs and deterministic kernels.

    Without deterministic kernels, parallel scatter-adds sum in varying order and two runs
    differ in the last bits, which is enough to reorder near-tied recommendations.
    """
    torch.use_deterministic_algorithms(True, warn_only=True)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class EpochProgress:
    """A progress bar with the loss on a terminal; plain log lines otherwise."""

    def __init__(self, epochs: int, label: str, progress: bool | None) -> None:
        # Every trainer's loop runs through here: fewer than one step would save (and a
        # retrain publish) the untrained model, so no caller can ask for it.
        if epochs < 1:
            raise ValueError(f"epochs {epochs}: training needs 1 or more steps")
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


@distributed.on_device
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
    threads: int | None = None,
    device: str = "auto",
) -> tuple[np.ndarray, dict[str, Any]]:
    """The seed GCN trained with positive pairs and uniformly sampled negative tracks."""
    require_memberships(catalog)
    seed_everything(seed)
    threads = configure_threads(threads)
    graph = build_graph(catalog, torch.from_numpy(audio_features(catalog.tracks))).to(device)
    model = SeedGCN(
        catalog.num_playlists,
        graph.track_x.shape[1],
        hidden_dim=hidden_dim,
        out_dim=out_dim,
        dropout=dropout,
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    positives = graph.pairs
    generator = torch.Generator(device=device).manual_seed(seed)
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
        "threads": threads,
        "device": device,
    }
    return embeddings.cpu().numpy().astype(np.float32), params


def sample_members(
    tracks: torch.Tensor, playlists: torch.Tensor, wanted: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random member track of each wanted playlist (and whether it has any)."""
    if tracks.numel() == 0:
        return torch.zeros_like(wanted), torch.zeros_like(wanted, dtype=torch.bool)
    order = torch.argsort(playlists, stable=True)
    sorted_playlists, sorted_tracks = playlists[order], tracks[order]
    start = torch.searchsorted(sorted_playlists, wanted)
    count = torch.searchsorted(sorted_playlists, wanted, right=True) - start
    pick = (torch.rand(len(wanted), generator=generator) * count.clamp(min=1)).long()
    return sorted_tracks[(start + pick).clamp(max=len(sorted_tracks) - 1)], count > 0


def sample_other_artist_members(
    tracks: torch.Tensor,
    playlists: torch.Tensor,
    wanted: torch.Tensor,
    avoid: torch.Tensor,
    artist_of: torch.Tensor,
    generator: torch.Generator,
    tries: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One random member of each wanted playlist by an artist other than `avoid`'s.

    `avoid` is an artist code per wanted playlist (-1: none, any member will do). Members
    are drawn `tries` times; a playlist whose draws all share the artist has none.
    """
    picked = torch.zeros_like(wanted)
    found = torch.zeros_like(wanted, dtype=torch.bool)
    for _ in range(tries):
        members, has = sample_members(tracks, playlists, wanted, generator)
        artist = artist_of[members]
        other = has & ~found & ((artist != avoid) | (avoid < 0) | (artist < 0))
        picked = torch.where(other, members, picked)
        found |= other
    return picked, found


def sample_artist_mates(
    anchors: torch.Tensor, artist_of: torch.Tensor, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random other track by each anchor's artist (and whether it has one)."""
    rows = torch.arange(len(artist_of))
    has_artist = artist_of >= 0
    mates, found = sample_members(
        rows[has_artist], artist_of[has_artist], artist_of[anchors].clamp(min=0), generator
    )
    found &= (artist_of[anchors] >= 0) & (mates != anchors)
    return mates, found


# -- the epoch schedule: how much each step supervises, how many steps, when to stop -----
# "fixed" (the default) trains as it always has: 80 steps of 4 x 1,024 hidden memberships.
# "scaled" (and "auto" from `SCHEDULE_MIN_MEMBERSHIPS` memberships) supervises a share of
# the memberships per step and stops on a validation slice. It is not the default: on the
# 326k-membership synthetic catalog (benchmarks/bench_scale.py, same run) it trained in
# 311 s vs 221 s with continuation Recall@10 0.103 vs 0.116; the validation recall
# plateaus at ~0.10 after 30 steps, so more supervision alone does not lift quality.
SCHEDULE_MIN_MEMBERSHIPS = 100_000
SUPERVISED_SHARE = 0.05  # of all memberships, supervised per step on big catalogs
VALIDATION_SHARE = 0.02  # of memberships hidden for the whole run, to stop on
VALIDATION_PLAYLISTS = 300
MAX_VALIDATION_SHARE = 0.08  # the most a slice may hold to reach its `min_lists`
EVALUATE_EVERY = 5  # steps
PATIENCE = 3  # evaluations without improvement


@dataclass(frozen=True)
class Schedule:
    """How a training run is paced; `plan_schedule` picks it from the catalog's size."""

    steps: int  # at most this many optimizer steps ("epochs")
    chunks_per_step: int  # loss batches of `batch_size` supervised per step
    validate: bool  # hold out a validation slice and stop early on it


def plan_schedule(
    num_edges: int, *, epochs: int | None, batch_size: int, batches: int, schedule: str = "auto"
) -> Schedule:
    """ "auto": "fixed" below `SCHEDULE_MIN_MEMBERSHIPS` memberships, "scaled" from there."""
    if schedule not in ("auto", "fixed", "scaled"):
        raise ValueError(f"unknown schedule {schedule!r}; choose auto, fixed or scaled")
    if schedule == "fixed" or (schedule == "auto" and num_edges < SCHEDULE_MIN_MEMBERSHIPS):
        return Schedule(
            steps=80 if epochs is None else epochs, chunks_per_step=batches, validate=False
        )
    wanted = int(SUPERVISED_SHARE * num_edges)
    return Schedule(
        steps=80 if epochs is None else epochs,
        chunks_per_step=max(batches, -(-wanted // batch_size)),
        validate=True,
    )


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


def validation_recall(served: torch.Tensor, validation: Validation) -> float:
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


def accumulated_step(
    z: torch.Tensor, chunk_losses: Iterator[Callable[[torch.Tensor], torch.Tensor]]
) -> float:
    """Backpropagate many loss batches through one propagation, one batch at a time.

    Each batch's graph is freed as soon as its gradient w.r.t. the node embeddings is
    added up, so memory stays that of one batch however many a step supervises; the
    propagation is then backpropagated once with the summed gradient.
    """
    leaf = z.detach().requires_grad_()
    total = 0.0
    for loss_of in chunk_losses:
        loss = loss_of(leaf)
        loss.backward()
        total += float(loss.detach())
    z.backward(leaf.grad)
    return total


@distributed.on_device
def train_hetero_lightgcn(
    catalog: Catalog,
    *,
    seed: int = 0,
    progress: bool | None = None,
    epochs: int | None = None,
    lr: float = 0.02,
    dim: int = 64,
    hidden_dim: int = 128,
    num_layers: int = 3,
    temperature: float = 0.15,
    hide_fraction: float = 0.2,
    batch_size: int = 1024,
    batches: int = 4,
    negatives: int = 1024,
    identity_weight: float = 0.8,
    track_weight: float = 1.0,
    credits: bool = True,
    artist_playlist_edges: bool = False,
    membership_weight: float = 3.0,
    normalization: str = "mean",
    popularity_weight: float | None = None,
    walk_weight: float | None = None,
    threads: int | None = None,
    schedule: str = "fixed",
    device: str = "auto",
    other_artist_weight: float = 0.0,
    artist_negatives: int = 0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """The default model: hetero LightGCN trained to find hidden memberships.

    Every epoch hides `hide_fraction` of the playlist memberships from the graph (a
    hold-out in miniature: most hidden tracks become catalog-only for that epoch) and
    asks, with a sampled softmax over cosine similarities, that
    (1) the playlist picks out its hidden track, and
    (2) a visible member of the playlist picks out the hidden track ("songs like this").
    Hidden tracks can only be reached through content, artist and album, which is what
    the model must learn to use for tracks that are in no playlist at all.

    The served vector is the track's embedding with its artist's and album's appended
    (`identity_weight`): same artist/album is the strongest single clue for a cold track,
    while the track part, propagated from playlists (`membership_weight` 3 makes the
    playlist count as much as artist and album together), keeps lists genre-coherent.
    Defaults were chosen on `musicbot evaluate` (seed 0): A 0.055, B 0.370, genre@10
    0.907 in about 20 s on 2 cores.

    `popularity_weight` is not trained: it is recorded with the model and served as a
    prior (`Recommender.scores_for_rows`); 0.05 was chosen on
    `evaluation.validation_split` for the answers members get by default (artists
    spread, `ranking.DEFAULT_ARTIST_CAP`). Every run then checks it, with the playlist
    walk's weight (`recommender.playlist_walk`), on a validation slice of its own
    catalog (`choose_blend`): a catalog shaped like the Million Playlist Dataset gets a
    heavier prior and the walk, the real catalog keeps 0.05 and no walk. A weight given
    here (`popularity_weight=0`, `walk_weight=0`) is kept as given, not chosen.

    `epochs` None is 80 steps. `schedule` "scaled" (or "auto", which picks it from 100k
    memberships) makes each step supervise 5% of the memberships and stops the run on a
    validation slice (`plan_schedule`, `run_schedule`); "fixed" is the default.
    """
    require_memberships(catalog)
    seed_everything(seed)
    threads = configure_threads(threads)
    graph = build_hetero_graph(
        catalog,
        torch.from_numpy(content_features(catalog.tracks)),
        credits=credits,
        artist_playlist_edges=artist_playlist_edges,
        membership_weight=membership_weight,
        normalization=normalization,
    ).to(device)
    model = HeteroLightGCN(
        graph.track_x.shape[1],
        graph.num_playlists,
        graph.num_artists,
        graph.num_albums,
        dim=dim,
        hidden_dim=hidden_dim,
        num_layers=num_layers,
    )
    distributed.same_start(model)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    # Which memberships a step hides comes from `shuffle`, the same on every worker; each
    # worker draws its own negatives from `generator` (the same generator when alone).
    shuffle = torch.Generator(device=device).manual_seed(seed)
    generator = distributed.sampling_generator(shuffle, seed)
    tracks, playlists = graph.membership
    num_edges, num_tracks = tracks.numel(), graph.num_tracks

    artist_nodes = torch.where(graph.main_artist >= 0, graph.main_artist + graph.artist_offset, -1)
    album_nodes = torch.where(graph.album >= 0, graph.album + graph.album_offset, -1)

    artist_of = graph.main_artist
    member_keys = torch.sort(tracks * graph.num_playlists + playlists).values

    def is_member(candidates: torch.Tensor, in_playlists: torch.Tensor) -> torch.Tensor:
        """[len(in_playlists), len(candidates)]: is the candidate in that playlist (training)."""
        keys = candidates[None, :] * graph.num_playlists + in_playlists[:, None]
        at = torch.searchsorted(member_keys, keys).clamp(max=len(member_keys) - 1)
        return member_keys[at] == keys

    def vectors(z: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The vectors `similar` serves, for track rows `rows` only (cheap backward)."""
        return identity_vectors(z, rows, artist_nodes[rows], album_nodes[rows], identity_weight)

    def batch_loss(
        z: torch.Tensor,
        target_tracks: torch.Tensor,
        target_playlists: torch.Tensor,
        visible_tracks: torch.Tensor,
        visible_playlists: torch.Tensor,
    ) -> torch.Tensor:
        """Sampled-softmax loss for one batch of hidden (playlist, track) memberships."""
        size = len(target_tracks)
        candidates = torch.cat(
            [target_tracks, torch.randint(0, num_tracks, (negatives,), generator=generator)]
        )
        same_playlist = torch.zeros(size, len(candidates), dtype=torch.bool)
        same_playlist[:, :size] = target_playlists[:, None] == target_playlists[None, :]
        same_playlist[:, :size].fill_diagonal_(False)
        target = torch.arange(size)
        # (1) the playlist picks out its hidden track
        loss = sampled_softmax_loss(
            F.normalize(z[num_tracks + target_playlists], dim=1),
            F.normalize(z[candidates], dim=1),
            target,
            same_playlist,
            temperature,
        )
        if track_weight <= 0:
            return loss
        # (2) a visible member of the playlist picks it out, on the vectors `similar` serves
        anchors, has_anchor = sample_members(
            visible_tracks, visible_playlists, target_playlists, generator
        )
        anchors, target = anchors[has_anchor], target[has_anchor]
        banned = same_playlist[has_anchor] | (anchors[:, None] == candidates[None, :])
        track_candidates = candidates
        if artist_negatives > 0:
            # Songs by the anchor's own artist that its playlist does not hold: without
            # them the easiest way to rank a playlist's songs is by the anchor's artist.
            mates, has_mate = sample_artist_mates(anchors[:artist_negatives], artist_of, generator)
            mates = mates[has_mate]
            track_candidates = torch.cat([candidates, mates])
            banned = torch.cat([banned, is_member(mates, target_playlists[has_anchor])], dim=1)
        served = vectors(z, torch.cat([anchors, track_candidates]))
        loss = loss + track_weight * sampled_softmax_loss(
            served[: len(anchors)], served[len(anchors) :], target, banned, temperature
        )
        if other_artist_weight <= 0:
            return loss
        # (3) a visible member by another artist picks it out: what a list spread over
        # artists needs, since only two of its songs may share the query's artist.
        others, has_other = sample_other_artist_members(
            visible_tracks,
            visible_playlists,
            target_playlists,
            artist_of[target_tracks],
            artist_of,
            generator,
        )
        others, target = others[has_other], torch.arange(size)[has_other]
        banned = same_playlist[has_other] | (others[:, None] == candidates[None, :])
        served = vectors(z, torch.cat([others, candidates]))
        return loss + other_artist_weight * sampled_softmax_loss(
            served[: len(others)], served[len(others) :], target, banned, temperature
        )

    plan = plan_schedule(
        num_edges, epochs=epochs, batch_size=batch_size, batches=batches, schedule=schedule
    )
    epochs, blend = run_schedule(
        model,
        optimizer,
        graph,
        plan,
        batch_loss,
        vectors,
        hide_fraction=hide_fraction,
        batch_size=batch_size,
        generator=shuffle,
        progress=progress,
        popularity=torch.from_numpy(track_popularity(catalog)),
        choices=BlendChoices.of(popularity_weight, walk_weight),
    )
    model.eval()
    with torch.no_grad():
        embeddings = vectors(model(graph.track_x, graph.adjacency()), torch.arange(num_tracks))
    params = {
        "epochs": epochs,
        "lr": lr,
        "dim": dim,
        "hidden_dim": hidden_dim,
        "num_layers": num_layers,
        "temperature": temperature,
        "hide_fraction": hide_fraction,
        "batch_size": batch_size,
        "batches": batches,
        "negatives": negatives,
        "identity_weight": identity_weight,
        "track_weight": track_weight,
        "credits": credits,
        "artist_playlist_edges": artist_playlist_edges,
        "membership_weight": membership_weight,
        "normalization": normalization,
        "popularity_weight": blend.popularity_weight,
        "walk_weight": blend.walk_weight,
        "threads": threads,
        "schedule": schedule,
        "other_artist_weight": other_artist_weight,
        "artist_negatives": artist_negatives,
        "chunks_per_step": plan.chunks_per_step,
        "early_stopping": plan.validate,
        "device": device,
        "workers": distributed.world_size(),
    }
    return embeddings.cpu().numpy().astype(np.float32), params


def _scaled_loss(
    batch_loss: Callable[..., torch.Tensor], scale: float, *args: torch.Tensor
) -> torch.Tensor:
    """`batch_loss(leaf, *args) * scale`, with `leaf` passed last by `accumulated_step`."""
    *batch, leaf = args
    return batch_loss(leaf, *batch) * scale


def _validation_recall(
    model: torch.nn.Module,
    graph: Any,
    trainable: torch.Tensor,
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    validation: Validation,
) -> float:
    return validation_recall(_served(model, graph, trainable, vectors), validation)


def _served(
    model: torch.nn.Module,
    graph: Any,
    trainable: torch.Tensor,
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return vectors(
            model(graph.track_x, graph.adjacency(trainable)), torch.arange(graph.num_tracks)
        )


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


def run_schedule(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    graph: Any,
    schedule: Schedule,
    batch_loss: Callable[..., torch.Tensor],
    vectors: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    hide_fraction: float,
    batch_size: int,
    generator: torch.Generator,
    progress: bool | None,
    popularity: torch.Tensor | None = None,
    choices: BlendChoices | None = None,
) -> tuple[int, Blend]:
    """The epoch loop: each step hides `hide_fraction` of the training memberships from
    the graph, propagates once and supervises `schedule.chunks_per_step` loss batches of
    hidden ones; with `schedule.validate`, stops when the validation slice stops
    improving and keeps the best weights. Given each track's `popularity`, the
    popularity `prior`'s weight and the playlist walk's are chosen on the slice
    (`choose_blend`): after the run when it validates, else before the last steps,
    which the slice then rejoins. Returns the steps taken and the serving weights."""
    tracks, playlists = graph.membership
    num_edges = tracks.numel()
    trainable = torch.arange(num_edges)
    validation = None
    rejoin = None
    choosing = popularity is not None and choices is not None and choices.open
    if schedule.validate:
        validation = validation_slice(tracks, playlists, generator)
    elif choosing and schedule.steps >= 4:
        # The fixed schedule learns from every membership: its slice (`BLEND_LISTS`
        # lists where there are that many) is held out until the serving weights are
        # chosen on it, then rejoins for the last `REJOIN_STEPS` (a quarter of a short
        # run). A catalog with too few lists to tell keeps them all.
        validation = validation_slice(
            tracks, playlists, torch.Generator().manual_seed(BLEND_SLICE_SEED), BLEND_LISTS
        )
        rejoin = schedule.steps - min(REJOIN_STEPS, schedule.steps // 4) + 1
        if len(validation.seeds) < MIN_BLEND_PLAYLISTS:
            validation, rejoin = None, None
    if validation is not None:
        held = torch.zeros(num_edges, dtype=torch.bool)
        held[validation.edges] = True
        trainable = torch.nonzero(~held).flatten()
    blend = choices.default if choices is not None else Blend(0.0)
    num_hidden = max(1, int(hide_fraction * len(trainable)))
    wanted = schedule.chunks_per_step * batch_size
    bar = EpochProgress(schedule.steps, "hetero-lightgcn", progress)
    steps = 0
    for epoch in bar:
        steps = epoch
        if epoch == rejoin and validation is not None and choosing:
            blend = _choose_blend(model, graph, trainable, vectors, validation, popularity, choices)
            trainable = torch.arange(num_edges)
            num_hidden = max(1, int(hide_fraction * num_edges))
        model.train()
        order = trainable[torch.randperm(len(trainable), generator=generator)]
        hidden, keep = order[:num_hidden], order[num_hidden:]
        z = model(graph.track_x, graph.adjacency(keep))
        visible_tracks, visible_playlists = tracks[keep], playlists[keep]
        chunks = hidden[:wanted].split(batch_size)
        # With several workers each supervises its share of the step's batches; the
        # losses stay divided by the step's total, so the summed gradients are the step's.
        total, chunks = len(chunks), distributed.shard(chunks)
        optimizer.zero_grad()
        if not chunks:  # more workers than batches this step: this one adds nothing
            value = 0.0
        elif total <= 4 and not schedule.validate:
            # The small-catalog step, exactly as before: one backward over all batches.
            loss = (
                sum(
                    batch_loss(z, tracks[c], playlists[c], visible_tracks, visible_playlists)
                    for c in chunks
                )
                / total
            )
            loss.backward()
            value = loss.item()
        else:
            value = accumulated_step(
                z,
                (
                    partial(
                        _scaled_loss,
                        batch_loss,
                        1.0 / total,
                        tracks[c],
                        playlists[c],
                        visible_tracks,
                        visible_playlists,
                    )
                    for c in chunks
                ),
            )
        value = distributed.sum_gradients(model, value)
        optimizer.step()
        bar.report(epoch, value)
        if schedule.validate and (epoch % EVALUATE_EVERY == 0 or epoch == schedule.steps):
            recall = distributed.from_main(
                partial(_validation_recall, model, graph, trainable, vectors, validation)
            )
            log.info("hetero-lightgcn step %d validation recall@10 %.4f", epoch, recall)
            if should_stop(model, validation, recall):
                break
    bar.close()
    if validation is not None and validation.best_state is not None:
        model.load_state_dict(validation.best_state)
    if schedule.validate and choosing:
        blend = _choose_blend(model, graph, trainable, vectors, validation, popularity, choices)
    return steps, blend


def _choose_blend(
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
        served = _served(model, graph, trainable, vectors)
        return astuple(choose_blend(served, validation, popularity, choices, walk))

    return Blend(*distributed.figures_from_main(choose, 2))


TRAINERS: dict[str, Trainer] = {
    "seed-gcn": train_seed_gcn,
    "hetero-lightgcn": train_hetero_lightgcn,
}
