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

Every model, embedding or scoring function, is evaluated through the same
`recommend_for_tracks` path the bot uses (`baselines.build_ranker` wraps every baseline
in a `Recommender`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

log = logging.getLogger(__name__)

HIDE_FRACTION = 0.2
MIN_PLAYLIST_TRACKS = 10
QUERIES_PER_PLAYLIST = 5
MAX_K = 50


class Ranker(Protocol):
    """Anything that answers like `Recommender.recommend_for_tracks` (result objects with .track_id)."""

    def recommend_for_tracks(self, track_ids: Sequence[str], k: int = 10) -> list[Any]: ...


@dataclass(frozen=True)
class Split:
    """The hold-out split: a training catalog plus what was hidden from it."""

    train: Catalog
    hidden: dict[str, list[str]]  # playlist_id -> hidden track_ids
    visible: dict[str, list[str]]  # playlist_id -> visible track_ids (still in training)
    queries: dict[str, list[str]]  # playlist_id -> up to 5 visible query tracks
    cold: frozenset[str]  # hidden tracks left with no playlist in training
    genre: dict[str, str]  # track_id -> first playlist_genre (scoring only)

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
    )


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


@dataclass
class ModelReport:
    """The protocol's figures for one model."""

    name: str
    train_seconds: float
    a_recall: float
    a_recall_cold: float
    a_recall_warm: float
    genre: float
    b_recall: float
    b_ndcg: float
    a_curve: list[float] = field(default_factory=list)
    b_curve: list[float] = field(default_factory=list)
    queries: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("a_curve", "b_curve")}


def evaluate_ranker(
    name: str,
    ranker: Ranker,
    split: Split,
    *,
    train_seconds: float = 0.0,
    max_queries: int | None = None,
    max_k: int = MAX_K,
    params: dict[str, Any] | None = None,
) -> ModelReport:
    """Run protocols A, B and genre@10 for one trained model."""
    a_curves: list[np.ndarray] = []
    cold_scores: list[float] = []
    warm_scores: list[float] = []
    genre_scores: list[float] = []
    pairs = [(p, q) for p, qs in split.queries.items() for q in qs]
    if max_queries is not None:
        pairs = pairs[:max_queries]
    for playlist, query in pairs:
        relevant = set(split.hidden[playlist])
        ranked = [r.track_id for r in ranker.recommend_for_tracks([query], k=max_k)]
        a_curves.append(recall_curve(ranked, relevant, max_k))
        cold = relevant & split.cold
        warm = relevant - split.cold
        if cold:
            cold_scores.append(recall_at_k(ranked, cold, 10))
        if warm:
            warm_scores.append(recall_at_k(ranked, warm, 10))
        own = split.genre.get(query)
        if own and ranked[:10]:
            genre_scores.append(float(np.mean([split.genre.get(t) == own for t in ranked[:10]])))

    b_curves: list[np.ndarray] = []
    b_ndcg: list[float] = []
    playlists = list(split.hidden)
    if max_queries is not None:
        playlists = playlists[: max(1, max_queries // QUERIES_PER_PLAYLIST)]
    for playlist in playlists:
        relevant = set(split.hidden[playlist])
        ranked = [r.track_id for r in ranker.recommend_for_tracks(split.visible[playlist], k=max_k)]
        b_curves.append(recall_curve(ranked, relevant, max_k))
        b_ndcg.append(ndcg_at_k(ranked, relevant, 10))

    a_curve = np.mean(a_curves, axis=0) if a_curves else np.zeros(max_k)
    b_curve = np.mean(b_curves, axis=0) if b_curves else np.zeros(max_k)
    return ModelReport(
        name=name,
        train_seconds=round(train_seconds, 2),
        a_recall=float(a_curve[9]),
        a_recall_cold=float(np.mean(cold_scores)) if cold_scores else 0.0,
        a_recall_warm=float(np.mean(warm_scores)) if warm_scores else 0.0,
        genre=float(np.mean(genre_scores)) if genre_scores else 0.0,
        b_recall=float(b_curve[9]),
        b_ndcg=float(np.mean(b_ndcg)) if b_ndcg else 0.0,
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
COLUMNS = (
    ("model", "name", "{}"),
    ("A R@10", "a_recall", "{:.3f}"),
    ("A cold", "a_recall_cold", "{:.3f}"),
    ("A warm", "a_recall_warm", "{:.3f}"),
    ("genre@10", "genre", "{:.3f}"),
    ("B R@10", "b_recall", "{:.3f}"),
    ("B NDCG@10", "b_ndcg", "{:.3f}"),
    ("train s", "train_seconds", "{:.1f}"),
)


def format_table(reports: Sequence[ModelReport]) -> str:
    """A Markdown table (reads fine on a terminal and pastes into an issue)."""
    header = "| " + " | ".join(title for title, _, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    lines = [header, rule]
    for report in reports:
        cells = [fmt.format(getattr(report, attr)) for _, attr, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_curves(reports: Sequence[ModelReport], path: str | Path) -> Path:
    """Recall@K, K = 1..50, per model for A and B: where each model's list gets good."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for report in reports:
        ks = np.arange(1, len(report.a_curve) + 1)
        axes[0].plot(ks, report.a_curve, label=report.name)
        axes[1].plot(ks, report.b_curve, label=report.name)
    axes[0].set_title("A: song → song Recall@K")
    axes[1].set_title("B: playlist continuation Recall@K")
    for ax in axes:
        ax.set_xlabel("K")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Recall@K")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    """CLI: `musicbot evaluate` (or `python -m recommender.evaluation`)."""
    from recommender.baselines import DEFAULT_ORDER

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
    parser.add_argument("--plot", metavar="PATH", help="write Recall@K (K=1..50) PNG here")
    parser.add_argument(
        "--max-queries", type=int, default=None, help="cap the A queries (quick runs)"
    )
    parser.add_argument(
        "--max-playlists", type=int, default=None, help="evaluate a seeded subset of playlists"
    )
    args = parser.parse_args(argv)

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
    try:
        rows = read_rows(args.data)
        split = make_split(rows, seed=args.seed, max_playlists=args.max_playlists)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    def progress(report: ModelReport) -> None:
        if not args.json:
            print(
                f"  {report.name}: A {report.a_recall:.3f}  B {report.b_recall:.3f}  "
                f"genre {report.genre:.2f}  ({report.train_seconds:.1f} s)",
                file=sys.stderr,
                flush=True,
            )

    if not args.json:
        print(f"split (seed {args.seed}): {split.stats()}", file=sys.stderr)
    reports = evaluate_models(
        split, models, seed=args.seed, max_queries=args.max_queries, on_report=progress
    )
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
        print(format_table(reports))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
