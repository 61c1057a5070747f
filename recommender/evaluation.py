"""`musicbot evaluate`: a hold-out protocol that measures what people actually get.

Why a protocol and not a loss curve: the product answers "songs like this one" by
cosine similarity, so we hide real playlist memberships, train on the rest, and ask
whether `similar(q)` / `recommend_for_tracks(visible)` find the hidden songs.

- Split (fixed seed): every playlist with >= 10 distinct tracks hides 20% of them.
  Hidden (playlist, track) pairs are removed from the raw rows *before* a Catalog is
  built; a track that loses all its playlists stays as a catalog-only row (cold start).
- A (song -> song): for up to 5 visible tracks q per playlist,
  Recall@K = |similar(q, K) ∩ hidden| / min(K, |hidden|); also on cold / warm targets.
- B (playlist continuation): `recommend_for_tracks(visible)`, Recall@10 and NDCG@10.
- genre@10: share of similar(q) whose first playlist_genre equals q's. Genre is used
  only here, for scoring, never as a feature.
- Artist spread, for A and B: same-artist picks per list, distinct artists per list,
  share of lists with >= 5 picks from one artist, catalogue coverage (share of tracks in
  any list) and popularity bias (mean popularity percentile of picks vs of queries).

Every figure is reported twice: as the model ranks (artist cap off) and as members get
it by default (cap on: `ranking.DEFAULT_ARTIST_CAP`, at most 2 picks from the query's
artist and 2 from any other, asked of the ranker like the bot asks).

Every model, embedding or scoring function, is evaluated through the same
`recommend_for_tracks` path the bot uses (`baselines.build_ranker` wraps every baseline
in a `Recommender`).

Why one module over 500 lines: the split, the metrics and the tally are one protocol,
read together to trust a figure (what is hidden, what is asked, how it is counted); the
models it compares live in baselines.py and training/, and the command at the end is
a thin reader of its options.
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from recommender.data import (
    PLAYLIST_COLUMNS,
    REQUIRED_COLUMNS,
    Catalog,
    DataError,
    catalog_from_rows,
    read_rows,
)
from recommender.ranking import DEFAULT_ARTIST_CAP, ArtistCap
from recommender.search import normalize

log = logging.getLogger(__name__)

HIDE_FRACTION = 0.2
MIN_PLAYLIST_TRACKS = 10
QUERIES_PER_PLAYLIST = 5
MAX_K = 50


class Ranker(Protocol):
    """Anything that answers like `Recommender.recommend_for_tracks` (result objects with .track_id)."""

    def recommend_for_tracks(
        self, track_ids: Sequence[str], k: int = 10, *, artist_cap: ArtistCap | None = None
    ) -> list[Any]: ...


@dataclass(frozen=True)
class Split:
    """The hold-out split: a training catalog plus what was hidden from it."""

    train: Catalog
    hidden: dict[str, list[str]]  # playlist_id -> hidden track_ids
    visible: dict[str, list[str]]  # playlist_id -> visible track_ids (still in training)
    queries: dict[str, list[str]]  # playlist_id -> up to 5 visible query tracks
    cold: frozenset[str]  # hidden tracks left with no playlist in training
    genre: dict[str, str]  # track_id -> first playlist_genre (scoring only)
    train_rows: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def hidden_pairs(self) -> set[tuple[str, str]]:
        return {(p, t) for p, tracks in self.hidden.items() for t in tracks}

    def stats(self) -> dict[str, int]:
        hidden = {t for tracks in self.hidden.values() for t in tracks}
        return {
            "evaluated_playlists": len(self.hidden),
            "hidden_pairs": sum(len(v) for v in self.hidden.values()),
            "hidden_tracks": len(hidden),
            "cold_hidden_tracks": len(self.cold),
            "queries_A": sum(len(v) for v in self.queries.values()),
            "train_memberships": len(self.train.memberships),
        }


def make_split(
    rows: pd.DataFrame,
    seed: int = 0,
    *,
    hide_fraction: float = HIDE_FRACTION,
    min_tracks: int = MIN_PLAYLIST_TRACKS,
    queries_per_playlist: int = QUERIES_PER_PLAYLIST,
    max_playlists: int | None = None,
) -> Split:
    """Hide a seeded share of each big playlist's tracks from the raw rows.

    Hidden rows get empty playlist columns (not dropped), so a track that loses every
    playlist stays a catalog-only row; repeated rows of a track are then deduplicated.
    `max_playlists` evaluates only a seeded subset of playlists (fast tests).
    """
    missing = [column for column in REQUIRED_COLUMNS if column not in rows.columns]
    if missing:
        raise DataError(f"the data is missing column(s): {', '.join(missing)}.")
    rows = rows.copy()
    for column in ("track_id", *PLAYLIST_COLUMNS):
        rows[column] = rows[column].fillna("").astype(str).str.strip()
    rng = np.random.default_rng(seed)
    genre = _first_genre(rows)

    with_playlist = rows.loc[(rows["playlist_id"] != "") & (rows["track_id"] != "")]
    members = with_playlist.drop_duplicates(["playlist_id", "track_id"])
    grouped = {p: g["track_id"].tolist() for p, g in members.groupby("playlist_id", sort=True)}
    eligible = [p for p, tracks in grouped.items() if len(tracks) >= min_tracks]
    if max_playlists is not None and len(eligible) > max_playlists:
        eligible = sorted(rng.choice(eligible, size=max_playlists, replace=False).tolist())

    hidden: dict[str, list[str]] = {}
    visible: dict[str, list[str]] = {}
    queries: dict[str, list[str]] = {}
    for playlist in eligible:
        tracks = grouped[playlist]
        order = rng.permutation(len(tracks))
        n_hidden = max(1, int(round(hide_fraction * len(tracks))))
        hidden[playlist] = [tracks[i] for i in sorted(order[:n_hidden])]
        visible[playlist] = [tracks[i] for i in sorted(order[n_hidden:])]
        picks = rng.permutation(len(visible[playlist]))[:queries_per_playlist]
        queries[playlist] = [visible[playlist][i] for i in sorted(picks)]

    hidden_pairs = pd.MultiIndex.from_tuples(
        [(p, t) for p, ts in hidden.items() for t in ts], names=["playlist_id", "track_id"]
    )
    key = pd.MultiIndex.from_arrays([rows["playlist_id"], rows["track_id"]])
    is_hidden = key.isin(hidden_pairs)
    rows.loc[is_hidden, list(PLAYLIST_COLUMNS)] = ""
    # Keep a blank row only for tracks that have no other row left: catalog-only tracks.
    blank = rows["playlist_id"] == ""
    still_listed = set(rows.loc[~blank, "track_id"])
    drop = blank & (rows["track_id"].isin(still_listed) | rows.duplicated("track_id"))
    drop &= is_hidden  # rows that were catalog-only in the source stay untouched
    train_rows = rows.loc[~drop]
    train = catalog_from_rows(train_rows, origin="training split")

    hidden_tracks = {t for ts in hidden.values() for t in ts}
    listed = set(train.tracks["track_id"].iloc[train.memberships["track"].unique()])
    return Split(
        train=train,
        hidden=hidden,
        visible=visible,
        queries=queries,
        cold=frozenset(hidden_tracks - listed),
        genre=genre,
        train_rows=train_rows,
    )


def validation_split(rows: pd.DataFrame, seed: int = 0, **options: Any) -> Split:
    """The same protocol inside the training part of hold-out `seed`: what defaults and
    re-rank weights are tuned on, so the hold-out itself stays unseen until reported."""
    outer = make_split(rows, seed, **options)
    assert outer.train_rows is not None
    return make_split(outer.train_rows, seed + 10_000, **options)


def _first_genre(rows: pd.DataFrame) -> dict[str, str]:
    listed = rows.loc[(rows["playlist_id"] != "") & (rows["playlist_genre"] != "")]
    first = listed.drop_duplicates("track_id", keep="first")
    return dict(zip(first["track_id"], first["playlist_genre"], strict=True))


def default_model() -> str:
    """The model `Recommender.train` uses when none is named: the one the bot ships."""
    from recommender.recommender import Recommender

    return str(inspect.signature(Recommender.train).parameters["model"].default)


# -- metrics ------------------------------------------------------------------------------
def recall_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """|top-k ∩ relevant| / min(k, |relevant|): 1.0 means the list is as full as it can be."""
    if not relevant:
        return 0.0
    hits = sum(1 for t in ranked[:k] if t in relevant)
    return hits / min(k, len(relevant))


def ndcg_at_k(ranked: Sequence[str], relevant: set[str], k: int) -> float:
    """Binary-relevance NDCG@k (log2 discount), ideal = all top min(k, |relevant|) hits."""
    if not relevant:
        return 0.0
    dcg = sum(1.0 / np.log2(i + 2) for i, t in enumerate(ranked[:k]) if t in relevant)
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(k, len(relevant))))
    return float(dcg / ideal)


def recall_curve(ranked: Sequence[str], relevant: set[str], max_k: int = MAX_K) -> np.ndarray:
    """Recall@K for K = 1..max_k in one pass."""
    hits = np.cumsum([t in relevant for t in ranked[:max_k]] + [False] * (max_k - len(ranked)))
    ks = np.arange(1, max_k + 1)
    return hits[:max_k] / np.minimum(ks, max(len(relevant), 1)) if relevant else np.zeros(max_k)


# -- artist spread ------------------------------------------------------------------------
LIST_SIZE = 10


def artist_keys(tracks: pd.DataFrame) -> dict[str, str]:
    """track_id -> artist as the artist cap compares them (`CatalogIndex.artists`)."""
    names = [normalize(name) for name in tracks["track_artist"].astype(str)]
    return dict(zip(tracks["track_id"].astype(str), names, strict=True))


def popularity_percentiles(tracks: pd.DataFrame) -> dict[str, float]:
    """track_id -> where its Spotify popularity sits in the catalogue, 0..100."""
    pct = tracks["track_popularity"].astype(float).rank(pct=True, method="average") * 100.0
    return dict(zip(tracks["track_id"].astype(str), pct.tolist(), strict=True))


@dataclass(frozen=True)
class Answer:
    """One question and the list it got: what the diversity figures are computed from."""

    query: tuple[str, ...]  # the seed track(s)
    picks: tuple[str, ...]  # the answer, best first


@dataclass(frozen=True)
class Diversity:
    """How spread out a model's answers are, over many answers."""

    same_artist: float  # mean picks per list by an artist of the query
    distinct_artists: float  # mean distinct artists per list
    five_from_one: float  # share of lists with >= 5 picks from one artist
    coverage: float  # share of catalogue tracks that appear in any list
    popularity: float  # mean popularity percentile of the picks
    query_popularity: float  # ... and of the queries (bias = popularity - this)


def diversity(
    answers: Sequence[Answer],
    artist_of: Mapping[str, str],
    percentile: Mapping[str, float],
    catalogue_size: int,
) -> Diversity:
    """Per-list artist figures averaged over lists; coverage and popularity over all picks.

    A track with no known artist counts as its own artist.
    """
    if not answers:
        return Diversity(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    same: list[int] = []
    distinct: list[int] = []
    crowded: list[bool] = []
    shown: set[str] = set()
    pick_pct: list[float] = []
    query_pct: list[float] = []
    for answer in answers:
        own = {artist_of[q] for q in answer.query if q in artist_of}
        artists = Counter(artist_of.get(t, f"track:{t}") for t in answer.picks)
        same.append(sum(n for artist, n in artists.items() if artist in own))
        distinct.append(len(artists))
        crowded.append(max(artists.values(), default=0) >= 5)
        shown.update(answer.picks)
        pick_pct.extend(percentile[t] for t in answer.picks if t in percentile)
        query_pct.extend(percentile[q] for q in answer.query if q in percentile)
    return Diversity(
        same_artist=float(np.mean(same)),
        distinct_artists=float(np.mean(distinct)),
        five_from_one=float(np.mean(crowded)),
        coverage=len(shown) / max(catalogue_size, 1),
        popularity=float(np.mean(pick_pct)) if pick_pct else 0.0,
        query_popularity=float(np.mean(query_pct)) if query_pct else 0.0,
    )


@dataclass(frozen=True)
class Figures:
    """The protocol's figures for one model, with the artist cap either on or off."""

    a_recall: float
    a_recall_cold: float
    a_recall_warm: float
    genre: float
    b_recall: float
    b_ndcg: float
    a_diversity: Diversity
    b_diversity: Diversity


@dataclass
class ModelReport:
    """One model's figures as ranked (`uncapped`) and with the artist cap (`capped`)."""

    name: str
    train_seconds: float
    uncapped: Figures
    capped: Figures
    a_curve: list[float] = field(default_factory=list)
    b_curve: list[float] = field(default_factory=list)
    queries: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "train_seconds": self.train_seconds,
            "uncapped": asdict(self.uncapped),
            "capped": asdict(self.capped),
            "queries": self.queries,
            "params": self.params,
        }


class _Tally:
    """Collects one cap setting's per-query scores and answers."""

    def __init__(self) -> None:
        self.a_recall: list[float] = []
        self.cold: list[float] = []
        self.warm: list[float] = []
        self.genre: list[float] = []
        self.b_recall: list[float] = []
        self.b_ndcg: list[float] = []
        self.a_answers: list[Answer] = []
        self.b_answers: list[Answer] = []

    def song(
        self, query: str, top: list[str], relevant: set[str], cold: frozenset[str], split: Split
    ) -> None:
        self.a_recall.append(recall_at_k(top, relevant, LIST_SIZE))
        if relevant & cold:
            self.cold.append(recall_at_k(top, relevant & cold, LIST_SIZE))
        if relevant - cold:
            self.warm.append(recall_at_k(top, relevant - cold, LIST_SIZE))
        own = split.genre.get(query)
        if own and top:
            self.genre.append(float(np.mean([split.genre.get(t) == own for t in top])))
        self.a_answers.append(Answer((query,), tuple(top)))

    def playlist(self, seeds: list[str], top: list[str], relevant: set[str]) -> None:
        self.b_recall.append(recall_at_k(top, relevant, LIST_SIZE))
        self.b_ndcg.append(ndcg_at_k(top, relevant, LIST_SIZE))
        self.b_answers.append(Answer(tuple(seeds), tuple(top)))

    def figures(
        self, artist_of: Mapping[str, str], percentile: Mapping[str, float], size: int
    ) -> Figures:
        def mean(values: list[float]) -> float:
            return float(np.mean(values)) if values else 0.0

        return Figures(
            a_recall=mean(self.a_recall),
            a_recall_cold=mean(self.cold),
            a_recall_warm=mean(self.warm),
            genre=mean(self.genre),
            b_recall=mean(self.b_recall),
            b_ndcg=mean(self.b_ndcg),
            a_diversity=diversity(self.a_answers, artist_of, percentile, size),
            b_diversity=diversity(self.b_answers, artist_of, percentile, size),
        )


def evaluate_ranker(
    name: str,
    ranker: Ranker,
    split: Split,
    *,
    train_seconds: float = 0.0,
    max_queries: int | None = None,
    max_k: int = MAX_K,
    params: dict[str, Any] | None = None,
    cap: ArtistCap = DEFAULT_ARTIST_CAP,
) -> ModelReport:
    """Run protocols A, B and genre@10 for one trained model, with the cap off and on.

    Each question is asked twice: without a cap for `MAX_K` songs (the uncapped answer
    is the first ten; the curves use all of them) and with `cap` for ten, as served.
    """
    artist_of = artist_keys(split.train.tracks)
    percentile = popularity_percentiles(split.train.tracks)
    size = split.train.num_tracks
    pool = max(max_k, MAX_K)
    off, on = _Tally(), _Tally()
    a_curves: list[np.ndarray] = []
    pairs = [(p, q) for p, qs in split.queries.items() for q in qs]
    if max_queries is not None:
        pairs = pairs[:max_queries]
    for playlist, query in pairs:
        relevant = set(split.hidden[playlist])
        ranked = [r.track_id for r in ranker.recommend_for_tracks([query], k=pool)]
        a_curves.append(recall_curve(ranked, relevant, max_k))
        capped = ranker.recommend_for_tracks([query], k=LIST_SIZE, artist_cap=cap)
        off.song(query, ranked[:LIST_SIZE], relevant, split.cold, split)
        on.song(query, [r.track_id for r in capped], relevant, split.cold, split)

    b_curves: list[np.ndarray] = []
    playlists = list(split.hidden)
    if max_queries is not None:
        playlists = playlists[: max(1, max_queries // QUERIES_PER_PLAYLIST)]
    for playlist in playlists:
        relevant = set(split.hidden[playlist])
        seeds = split.visible[playlist]
        ranked = [r.track_id for r in ranker.recommend_for_tracks(seeds, k=pool)]
        b_curves.append(recall_curve(ranked, relevant, max_k))
        capped = ranker.recommend_for_tracks(seeds, k=LIST_SIZE, artist_cap=cap)
        off.playlist(seeds, ranked[:LIST_SIZE], relevant)
        on.playlist(seeds, [r.track_id for r in capped], relevant)

    a_curve = np.mean(a_curves, axis=0) if a_curves else np.zeros(max_k)
    b_curve = np.mean(b_curves, axis=0) if b_curves else np.zeros(max_k)
    return ModelReport(
        name=name,
        train_seconds=round(train_seconds, 2),
        uncapped=off.figures(artist_of, percentile, size),
        capped=on.figures(artist_of, percentile, size),
        a_curve=[round(float(x), 5) for x in a_curve],
        b_curve=[round(float(x), 5) for x in b_curve],
        queries=len(pairs),
        params=dict(params or {}),
    )


def evaluate_models(
    split: Split,
    models: Sequence[str],
    *,
    seed: int = 0,
    max_queries: int | None = None,
    max_k: int = MAX_K,
    options: dict[str, dict[str, Any]] | None = None,
    on_report: Callable[[ModelReport], None] | None = None,
) -> list[ModelReport]:
    """Train each model on the split's training catalog only, then evaluate it."""
    from recommender.baselines import build_ranker

    reports = []
    for name in models:
        built = build_ranker(name, split.train, seed=seed, **(options or {}).get(name, {}))
        report = evaluate_ranker(
            name,
            built.ranker,
            split,
            train_seconds=built.train_seconds,
            max_queries=max_queries,
            max_k=max_k,
            params=built.params,
        )
        reports.append(report)
        if on_report is not None:
            on_report(report)
    return reports


# -- output -------------------------------------------------------------------------------
QUALITY_COLUMNS = (
    ("A R@10", "a_recall", "{:.3f}"),
    ("A cold", "a_recall_cold", "{:.3f}"),
    ("A warm", "a_recall_warm", "{:.3f}"),
    ("genre@10", "genre", "{:.3f}"),
    ("B R@10", "b_recall", "{:.3f}"),
    ("B NDCG@10", "b_ndcg", "{:.3f}"),
)
DIVERSITY_COLUMNS = (
    ("same-artist picks", "same_artist", "{:.2f}"),
    ("artists / list", "distinct_artists", "{:.2f}"),
    ("≥ 5 one artist", "five_from_one", "{:.1%}"),
    ("coverage", "coverage", "{:.1%}"),
    ("popularity pct picks", "popularity", "{:.1f}"),
    ("of queries", "query_popularity", "{:.1f}"),
)
CAP_SETTINGS = (("off", "uncapped"), ("on", "capped"))


def _markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return lines


def format_table(reports: Sequence[ModelReport]) -> str:
    """Markdown tables (read fine on a terminal and paste into an issue): quality, then
    artist spread, each model with the artist cap off and on."""
    quality = []
    spread = []
    for report in reports:
        for cap, attr in CAP_SETTINGS:
            figures: Figures = getattr(report, attr)
            cells = [fmt.format(getattr(figures, key)) for _, key, fmt in QUALITY_COLUMNS]
            quality.append([report.name, cap, *cells, f"{report.train_seconds:.1f}"])
            for label, div in (
                ("song→song", figures.a_diversity),
                ("continuation", figures.b_diversity),
            ):
                cells = [fmt.format(getattr(div, key)) for _, key, fmt in DIVERSITY_COLUMNS]
                spread.append([report.name, cap, label, *cells])
    lines = _markdown(
        ["model", "artist cap", *(title for title, _, _ in QUALITY_COLUMNS), "train s"], quality
    )
    lines.append("")
    lines += _markdown(
        ["model", "artist cap", "list", *(title for title, _, _ in DIVERSITY_COLUMNS)], spread
    )
    return "\n".join(lines)


def plot_curves(reports: Sequence[ModelReport], path: str | Path) -> Path:
    """Hits@K ÷ min(K, hidden), K = 1..50, per model for A and B, as ranked (artist spread
    off): where each model's list gets good."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for report in reports:
        ks = np.arange(1, len(report.a_curve) + 1)
        axes[0].plot(ks, report.a_curve, label=report.name)
        axes[1].plot(ks, report.b_curve, label=report.name)
    # Hits in the top K over min(K, hidden songs): below the number of hidden songs it is
    # a share of the K picks, so a curve may fall as K grows; it is not plain recall.
    axes[0].set_title("A: song → song")
    axes[1].set_title("B: playlist continuation")
    for ax in axes:
        ax.set_xlabel("K (songs recommended)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("hidden songs in top K ÷ min(K, hidden songs)")
    fig.suptitle("Hidden songs found, as the models rank (artist spread off)", fontsize=10)
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# What `musicbot evaluate` needs beyond the bot (pyproject's `evaluate` extra): the ALS
# baseline and the plot. The bot installs and answers without them.
EXTRA_MODULES = ("implicit", "matplotlib")
INSTALL_EXTRA = "pip install -e '.[evaluate]'"


def missing_extra() -> list[str]:
    """The `evaluate` extra's modules this Python cannot import."""
    import importlib.util

    missing = []
    for name in EXTRA_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            missing.append(name)
    return missing


def main(argv: list[str] | None = None) -> int:
    """CLI: `musicbot evaluate` (or `python -m recommender.evaluation`)."""
    from recommender.baselines import DEFAULT_ORDER
    from recommender.train import parse_option

    parser = argparse.ArgumentParser(
        prog="musicbot evaluate",
        description="Hold-out evaluation of the recommender against baselines.",
    )
    parser.add_argument("--data", required=True, help="spotify_songs.csv")
    parser.add_argument(
        "--models",
        default="all",
        help=f"comma list (default all: {','.join(DEFAULT_ORDER)})",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--validation",
        action="store_true",
        help="score on a split inside the hold-out's training part (for tuning)",
    )
    parser.add_argument(
        "--plot",
        metavar="PATH",
        help="write a PNG of hidden songs found in the top K (K=1..50), artist spread off",
    )
    parser.add_argument(
        "--max-queries", type=int, default=None, help="cap the A queries (quick runs)"
    )
    parser.add_argument(
        "--max-playlists", type=int, default=None, help="evaluate a seeded subset of playlists"
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        type=parse_option,
        metavar="KEY=VALUE",
        help="training option for the trained models (not the baselines), e.g. epochs=30",
    )
    args = parser.parse_args(argv)
    if missing := missing_extra():
        print(
            f"musicbot evaluate needs {' and '.join(missing)}, which a bot install leaves "
            f"out: install them with `{INSTALL_EXTRA}`",
            file=sys.stderr,
        )
        return 2

    from recommender.training import TRAINERS

    known = list(dict.fromkeys([*DEFAULT_ORDER, *TRAINERS]))
    models = DEFAULT_ORDER if args.models == "all" else [m.strip() for m in args.models.split(",")]
    unknown = [m for m in models if m not in known]
    if unknown:
        print(
            f"unknown model(s): {', '.join(unknown)}; choose from {', '.join(known)}",
            file=sys.stderr,
        )
        return 2
    trainer_options = dict(args.param)
    options = {name: trainer_options for name in models if name in TRAINERS}
    try:
        rows = read_rows(args.data)
        carve = validation_split if args.validation else make_split
        split = carve(rows, seed=args.seed, max_playlists=args.max_playlists)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    stats = split.stats()
    if not stats.get("evaluated_playlists") or not stats.get("queries_A"):
        print(
            f"error: nothing to evaluate in {args.data}: no playlist there has enough songs "
            "to hide some and ask for them back; use a bigger catalog (the full CSV)",
            file=sys.stderr,
        )
        return 1

    def progress(report: ModelReport) -> None:
        if not args.json:
            off, on = report.uncapped, report.capped
            print(
                f"  {report.name}: A {off.a_recall:.3f} (capped {on.a_recall:.3f})  "
                f"B {off.b_recall:.3f} (capped {on.b_recall:.3f})  genre {off.genre:.2f}  "
                f"({report.train_seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    if not args.json:
        print(f"split (seed {args.seed}): {split.stats()}", file=sys.stderr)
    reports: list[ModelReport] = []
    try:
        for number, name in enumerate(models, 1):
            if not args.json:  # a trained model takes minutes: say which one is running
                print(
                    f"[{number}/{len(models)}] training and scoring {name} ...",
                    file=sys.stderr,
                    flush=True,
                )
            reports += evaluate_models(
                split,
                [name],
                seed=args.seed,
                max_queries=args.max_queries,
                options=options,
                on_report=progress,
            )
    except ValueError as error:  # a trainer refused an option (walk_weight=-1, epochs=0)
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.plot:
        plot_curves(reports, args.plot)
    if args.json:
        payload = {
            "seed": args.seed,
            "data": str(args.data),
            "split": split.stats(),
            "models": {
                r.name: {**r.row(), "recall_at_k_A": r.a_curve, "recall_at_k_B": r.b_curve}
                for r in reports
            },
        }
        print(json.dumps(payload, indent=2))
    else:
        print(plain_summary(reports))
        print()
        print(format_table(reports))
        if args.plot:
            print(
                f"plot: {args.plot} (hidden songs found in the top K, K = 1..50, as the "
                "models rank: artist spread off)"
            )
    return 0


def plain_summary(reports: Sequence[ModelReport]) -> str:
    """A few sentences before the tables: which model finds most, against popularity."""
    baseline = next((r for r in reports if r.name == "popularity"), None)
    lines = ["In short (top 10, artist spread on, as members get them):"]
    for label, attr, what in (
        ("song → song", "a_recall", "of the songs hidden from a playlist, given one of its songs"),
        (
            "playlist continuation",
            "b_recall",
            "of the hidden songs, given the rest of the playlist",
        ),
    ):
        best = max(reports, key=lambda r: getattr(r.capped, attr))
        line = f"- {label}: {best.name} finds {getattr(best.capped, attr):.1%} {what}"
        if baseline is not None and baseline is not best:
            line += f" (popularity alone: {getattr(baseline.capped, attr):.1%})"
        lines.append(line + ".")
    lines.append(
        "- The tables give each model with the artist spread off (as ranked) and on; "
        "R@10 counts hidden songs in the top 10 ÷ min(10, hidden songs)."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
