"""The blessing gate: whether a trained model may replace the one being served.

A model that loads must first be sane (`sanity_check`: one finite, non-empty embedding
per track, and `similar` answers). A retrained model must then be *blessed* (`bless`):
its catalog may not have lost more than a set share of the serving model's tracks, and
on a probe both models can be scored on (playlists of the serving catalog, one song
hidden each) it may not find fewer hidden songs than the serving model beyond a margin.
The thresholds are `Gate`'s; the model store (store.py) keeps a refused candidate apart
with why, and never serves it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from recommender.artifacts import ArtifactError
from recommender.recommender import Recommender


class SanityError(ArtifactError):
    """A model that loads but must not be served (missing or non-finite embeddings, ...)."""


def sanity_check(model: Recommender, reference: Recommender | None = None, probes: int = 5) -> None:
    """Raise SanityError unless the model can serve every track.

    Checks: one embedding row per catalog track, all values finite, no all-zero row (a
    track without an embedding), and `similar` returns finite, non-self results for a few
    known tracks: the most popular tracks that `reference` (the model being replaced)
    also knows, plus a few spread over the new catalog.
    """
    tracks = model.catalog.tracks
    embeddings = model.embeddings
    if len(tracks) == 0:
        raise SanityError("the model has no tracks")
    if embeddings.ndim != 2 or embeddings.shape[0] != len(tracks) or embeddings.shape[1] == 0:
        raise SanityError(
            f"embeddings of shape {embeddings.shape} do not fit {len(tracks)} catalog tracks"
        )
    if not np.isfinite(embeddings).all():
        bad = int((~np.isfinite(embeddings)).any(axis=1).sum())
        raise SanityError(f"{bad} track embedding(s) contain NaN or infinite values")
    norms = np.linalg.norm(embeddings, axis=1)
    empty = int((norms < 0.5).sum())  # rows are unit length after normalisation
    if empty:
        raise SanityError(f"{empty} track(s) have no embedding (all-zero rows)")
    ids = tracks["track_id"].astype(str)
    if ids.duplicated().any() or (ids == "").any():
        raise SanityError("the catalog's track ids are not unique and non-empty")

    for track_id in _probe_tracks(model, reference, probes):
        try:
            results = model.similar(track_id, k=5)
        except Exception as error:  # any failure here means the model cannot serve
            raise SanityError(f"similar({track_id!r}) failed: {error!r}") from error
        if len(model) > 1 and not results:
            raise SanityError(f"similar({track_id!r}) returned nothing")
        for result in results:
            if result.track_id == track_id or not np.isfinite(result.score):
                raise SanityError(f"similar({track_id!r}) returned a bad result: {result}")


def _probe_tracks(model: Recommender, reference: Recommender | None, probes: int) -> list[str]:
    tracks = model.catalog.tracks
    picked: list[str] = []
    if reference is not None:
        ranked = reference.catalog.tracks.sort_values("track_popularity", ascending=False)
        picked = [t for t in ranked["track_id"].head(200) if t in model][: max(1, probes // 2)]
    spread = np.linspace(0, len(tracks) - 1, num=min(len(tracks), probes), dtype=int)
    picked += [str(tracks["track_id"].iloc[i]) for i in spread]
    return list(dict.fromkeys(picked))


# The quality probe (`probe_quality`). One probe query is a playlist of the serving
# catalog with one song hidden: the rest of the playlist asks for PROBE_K songs, and a hit
# is the hidden song among them, the way `!session next` would find it.
PROBE_K = 10
PROBE_PLAYLISTS = 500
PROBE_SEEDS = 25  # at most this many of the playlist's other songs ask
# Below this many probe queries the hit rates are too coarse to compare (a store of a
# handful of playlists); the catalog check still applies.
MIN_PROBE_QUERIES = 20
# The allowed drop grows by this many standard errors of the paired difference: two
# models that differ only in training noise disagree on some playlists, and a small
# probe must not refuse a retrain on the same data.
NOISE_Z = 2.0


@dataclass(frozen=True)
class QualityProbe:
    """How often each model finds the hidden song, on the same probe queries."""

    queries: int
    k: int
    serving_hits: int
    candidate_hits: int
    noise: float  # NOISE_Z standard errors of the per-query difference (a share)

    @property
    def serving_rate(self) -> float:
        return self.serving_hits / self.queries if self.queries else 0.0

    @property
    def candidate_rate(self) -> float:
        return self.candidate_hits / self.queries if self.queries else 0.0

    @property
    def drop(self) -> float:
        """How much worse the candidate is (negative: better), as a share of queries."""
        return self.serving_rate - self.candidate_rate


@dataclass(frozen=True)
class Gate:
    """The blessing thresholds (see `bless`)."""

    max_catalog_shrink: float = 0.10
    max_quality_drop: float = 0.02


@dataclass(frozen=True)
class Floor:
    """The least a model must answer with to replace a serving one, forced or not (see
    `check_floor`): `min_tracks` tracks or `min_track_share` of the serving model's,
    whichever is fewer, and a probe hit rate of `min_hit_rate` or half the serving
    model's, whichever is lower. `!retrain force` skips the gate, never this."""

    min_tracks: int = 1000
    min_track_share: float = 0.5
    min_hit_rate: float = 0.01


def check_floor(
    candidate: Recommender,
    serving: Recommender | None,
    floor: Floor = Floor(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    probe_playlists: int = PROBE_PLAYLISTS,
    probe: QualityProbe | None = None,
) -> None:
    """Raise SanityError when `candidate` could not answer members in place of `serving`
    (a one-row CSV trains a model of one track: every question would find nothing).

    `probe`: one `bless` already ran on the same two models. With nothing serving there
    is nothing to compare with: anything sane may serve."""
    if serving is None:
        return
    need = min(floor.min_tracks, math.ceil(floor.min_track_share * len(serving)))
    if len(candidate) < need:
        raise SanityError(
            f"the new catalog has {len(candidate):,} tracks; replacing a model of "
            f"{len(serving):,} needs at least {need:,} to answer with"
        )
    if floor.min_hit_rate <= 0:
        return
    if probe is None:
        probe = probe_quality(candidate, serving, playlists=probe_playlists)
    if probe.queries >= MIN_PROBE_QUERIES:
        need_rate = min(floor.min_hit_rate, probe.serving_rate / 2)
        if probe.candidate_rate < need_rate:
            raise SanityError(
                f"it finds {probe.candidate_rate:.1%} of the hidden songs of "
                f"{probe.queries} probe playlists (top {probe.k}); at least "
                f"{need_rate:.1%} is needed to answer with"
            )


@dataclass(frozen=True)
class Blessing:
    """Whether a candidate may replace the serving model, with the figures behind it."""

    blessed: bool
    reason: str | None  # one line for people when refused
    serving_tracks: int = 0
    lost_tracks: int = 0  # serving tracks the candidate does not know
    probe: QualityProbe | None = None

    def figures(self) -> dict[str, Any]:
        """Plain numbers for the run record."""
        figures: dict[str, Any] = {
            "blessed": self.blessed,
            "serving_tracks": self.serving_tracks,
            "lost_tracks": self.lost_tracks,
        }
        if self.probe is not None:
            figures["probe"] = {
                "queries": self.probe.queries,
                "k": self.probe.k,
                "serving_hit_rate": round(self.probe.serving_rate, 4),
                "candidate_hit_rate": round(self.probe.candidate_rate, 4),
                "noise": round(self.probe.noise, 4),
            }
        return figures


@dataclass(frozen=True)
class Admission:
    """A trained version judged by `ModelStore.admit`: the loaded model and, when it was
    gated, its blessing (None: a forced run, sanity-checked only)."""

    model: Recommender
    blessing: Blessing | None

    @property
    def refusal(self) -> str | None:
        """Why the gate kept it from serving (one line for people); None if it may serve."""
        if self.blessing is None or self.blessing.blessed:
            return None
        return self.blessing.reason or "refused"


def bless(
    candidate: Recommender,
    serving: Recommender | None,
    gate: Gate = Gate(),  # noqa: B008 - frozen, so one shared default is safe
    *,
    probe_playlists: int = PROBE_PLAYLISTS,
) -> Blessing:
    """Decide whether `candidate` may replace `serving` (after `sanity_check`).

    Refused when the candidate lacks more than the gate's `max_catalog_shrink` of the
    serving model's tracks (a truncated or partial data file), or when its hit rate on
    the probe is more than `max_quality_drop` (absolute, plus the probe's noise) below
    the serving model's. With nothing serving, anything sane is blessed.
    """
    max_catalog_shrink, max_quality_drop = gate.max_catalog_shrink, gate.max_quality_drop
    if serving is None:
        return Blessing(True, None)
    serving_ids = serving.catalog.tracks["track_id"].astype(str)
    total = len(serving_ids)
    lost = int(sum(1 for track_id in serving_ids if track_id not in candidate))
    if total and lost / total > max_catalog_shrink:
        return Blessing(
            False,
            f"the new catalog lacks {lost:,} of the serving model's {total:,} tracks "
            f"({lost / total:.0%}; at most {max_catalog_shrink:.0%} may go)",
            total,
            lost,
        )
    probe = probe_quality(candidate, serving, playlists=probe_playlists)
    if probe.queries >= MIN_PROBE_QUERIES and probe.drop > max_quality_drop + probe.noise:
        return Blessing(
            False,
            f"it finds fewer hidden songs than the serving model: {probe.candidate_rate:.1%} "
            f"against {probe.serving_rate:.1%} of {probe.queries} probe playlists "
            f"(top {probe.k}; at most {max_quality_drop:.1%} worse, plus "
            f"{probe.noise:.1%} for noise)",
            total,
            lost,
            probe,
        )
    return Blessing(True, None, total, lost, probe)


def probe_quality(
    candidate: Recommender,
    serving: Recommender,
    *,
    k: int = PROBE_K,
    playlists: int = PROBE_PLAYLISTS,
    seeds: int = PROBE_SEEDS,
    seed: int = 0,
) -> QualityProbe:
    """Hide one song of each of up to `playlists` serving playlists; count who finds it.

    Only tracks both catalogs know take part (as asks, hidden songs and answers), so the
    two models are scored on exactly the same question. Ranking is the models' own
    `recommend_for_tracks`, so the probe measures what members are served.
    """
    serving_ids = serving.catalog.tracks["track_id"].astype(str).to_numpy()
    candidate_ids = candidate.catalog.tracks["track_id"].astype(str)
    shared = {track_id for track_id in serving_ids if track_id in candidate}
    only_serving = [t for t in serving_ids if t not in shared]
    only_candidate = [t for t in candidate_ids if t not in shared]
    memberships = serving.catalog.memberships
    groups = memberships.groupby("playlist", sort=True)["track"]
    rng = np.random.default_rng(seed)
    order = list(groups.groups)
    rng.shuffle(order)
    serving_hits: list[bool] = []
    candidate_hits: list[bool] = []
    for playlist in order:
        if len(serving_hits) >= playlists:
            break
        members = [t for t in dict.fromkeys(serving_ids[groups.get_group(playlist)]) if t in shared]
        if len(members) < 2:
            continue
        hidden = members.pop(int(rng.integers(len(members))))
        if len(members) > seeds:
            members = [members[i] for i in sorted(rng.choice(len(members), seeds, replace=False))]
        for model, excluded, hits in (
            (serving, only_serving, serving_hits),
            (candidate, only_candidate, candidate_hits),
        ):
            found = model.recommend_for_tracks(members, k=k, exclude=excluded)
            hits.append(any(result.track_id == hidden for result in found))
    queries = len(serving_hits)
    difference = np.asarray(candidate_hits, dtype=float) - np.asarray(serving_hits, dtype=float)
    noise = (
        NOISE_Z * float(difference.std(ddof=1)) / float(np.sqrt(queries)) if queries > 1 else 1.0
    )
    return QualityProbe(
        queries=queries,
        k=k,
        serving_hits=int(sum(serving_hits)),
        candidate_hits=int(sum(candidate_hits)),
        noise=noise,
    )
