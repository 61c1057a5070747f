"""How the recommender holds up as the catalog grows; prints one table row per size.

Usage: .venv/bin/python benchmarks/bench_scale.py [--sizes 29k,326k,3.3M] [--playlists N]
       [--no-als] [--model NAME] [--train-option key=value ...]

Each size is a seeded synthetic catalog shaped like the Million Playlist Dataset
(`recommender/synthetic.py`). The evaluation's hold-out split (`evaluation.make_split`:
20% of every playlist with >= 10 tracks hidden) is made, the default model is trained on
the rest in a child process (so its peak RSS is its own), saved, loaded, and asked:
`similar` and `resolve` latency, and continuation Recall@10 (`recommend_for_tracks` of a
playlist's visible tracks vs its hidden ones, protocol B of `musicbot evaluate`) on a
seeded sample of `--playlists` evaluated playlists. The same split trains implicit's
ALS, and a genre-popularity baseline (the most-listed tracks of the seeds' genre) sets
the floor a model must beat.

Goals: recall >= ALS and >= genre-popularity at every size; 3.3M memberships trained in
<= 10 min on 2 cores; load <= 2 s, similar p99 <= 5 ms, resolve p99 <= 20 ms at 400k tracks.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recommender import synthetic  # noqa: E402
from recommender.evaluation import Split, make_split, parse_params, recall_at_k  # noqa: E402

LIST_SIZE = 10


def build_split(size: str, seed: int) -> Split:
    return make_split(synthetic.generate(size, seed=seed), seed=seed)


def _child_train(size: str, seed: int, model: str, out: str, options: str) -> None:
    """In a child process: the same split, trained and saved; figures as one JSON line."""
    from recommender import Recommender

    split = build_split(size, seed)
    before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    rec = Recommender.train(
        split.train, model=model, seed=seed, progress=False, **json.loads(options)
    )
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    rec.save(out)
    save_s = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "train_s": train_s,
                "save_s": save_s,
                "peak_rss_mb": peak_mb,
                "rss_before_train_mb": before_mb,
                "params": rec.metadata.get("params", {}),
            }
        )
    )


def percentile(samples: Sequence[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def continuation_recall(ranker, split: Split, playlists: Sequence[str]) -> float:  # noqa: ANN001
    """Protocol B: the visible tracks as seeds, the hidden ones as what should come back."""
    recalls = []
    for playlist in playlists:
        top = ranker.recommend_for_tracks(split.visible[playlist], k=LIST_SIZE)
        recalls.append(
            recall_at_k([t.track_id for t in top], set(split.hidden[playlist]), LIST_SIZE)
        )
    return float(np.mean(recalls)) if recalls else 0.0


def genre_popularity(split: Split):  # noqa: ANN201
    """The most-listed training tracks of the seeds' most common genre: the floor."""
    from recommender.baselines import ScoringRecommender

    catalog = split.train
    genres = catalog.playlists["playlist_genre"].astype(str)
    codes = np.unique(genres.to_numpy())
    names = {g: i for i, g in enumerate(codes)}
    playlist_code = np.array([names[g] for g in genres], dtype=np.int64)
    members = catalog.memberships
    counts = np.zeros((len(codes), catalog.num_tracks), dtype=np.float32)
    np.add.at(counts, (playlist_code[members["playlist"]], members["track"]), 1.0)
    track_ids = catalog.tracks["track_id"].astype(str).tolist()
    degree = counts.sum(axis=0)

    def score(index, rows):  # noqa: ANN001, ANN202
        seen = Counter(split.genre.get(track_ids[r]) for r in rows)
        seen.pop(None, None)
        if not seen:
            return degree
        return counts[names[seen.most_common(1)[0][0]]] + degree / 1e6

    return ScoringRecommender(catalog, score, {"model": "genre-popularity"})


def resolve_texts(rec, count: int, rng: random.Random) -> list[str]:  # noqa: ANN001
    """What people type: exact titles, 'title artist', typos, links, and nonsense."""
    tracks = rec.catalog.tracks
    texts = []
    for row in tracks.sample(n=min(count, len(tracks)), random_state=0).itertuples():
        kind = rng.randrange(5)
        title, artist = str(row.track_name), str(row.track_artist)
        if kind == 0:
            texts.append(title)
        elif kind == 1:
            texts.append(f"{title} {artist}".lower())
        elif kind == 2 and len(title) > 4:
            cut = rng.randrange(1, len(title) - 1)
            texts.append(title[:cut] + title[cut + 1 :])
        elif kind == 3:
            texts.append(f"https://open.spotify.com/track/{row.track_id}")
        else:
            texts.append("".join(rng.choice("qwxzjkv ") for _ in range(rng.randrange(5, 40))))
    return texts


def timed_ms(calls) -> list[float]:  # noqa: ANN001
    samples = []
    for call in calls:
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def run_size(size: str, args: argparse.Namespace, workdir: Path) -> dict[str, float | str]:
    from recommender import Recommender

    model_dir = workdir / f"model-{size}"
    child = subprocess.run(
        [
            sys.executable,
            __file__,
            "--child",
            size,
            str(args.seed),
            args.model,
            str(model_dir),
            json.dumps(parse_params(args.train_option)),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    trained = json.loads(child.stdout.strip().splitlines()[-1])

    split = build_split(size, args.seed)
    rng = random.Random(args.seed)
    evaluated = sorted(split.hidden)
    playlists = sorted(rng.sample(evaluated, min(args.playlists, len(evaluated))))

    loads = []
    for _ in range(3):
        started = time.perf_counter()
        rec = Recommender.load(model_dir)
        loads.append(time.perf_counter() - started)
    rec.index.search.warm_up()  # as the bot's warm-up thread does after a load
    ids = rec.catalog.tracks["track_id"].astype(str).tolist()
    queries = rng.sample(ids, min(args.queries, len(ids)))
    rec.similar(queries[0])
    similar_ms = timed_ms([partial(rec.similar, t, k=10) for t in queries])
    texts = resolve_texts(rec, args.queries, rng)
    resolve_ms = timed_ms([partial(rec.resolve, t) for t in texts])
    recall = continuation_recall(rec, split, playlists)
    row: dict[str, float | str] = {
        "size": size,
        "memberships": len(split.train.memberships) + sum(len(v) for v in split.hidden.values()),
        "tracks": split.train.num_tracks,
        "train_s": trained["train_s"],
        "peak_rss_mb": trained["peak_rss_mb"],
        "rss_before_train_mb": trained["rss_before_train_mb"],
        "save_s": trained["save_s"],
        "load_s": float(np.median(loads)),
        "similar_p99_ms": percentile(similar_ms, 99),
        "resolve_p99_ms": percentile(resolve_ms, 99),
        "recall": recall,
        "blend": "{}/{}".format(
            trained["params"].get("popularity_weight", "-"),
            trained["params"].get("walk_weight", "-"),
        ),
    }
    del rec
    if not args.no_als:
        from recommender.baselines import build_ranker

        als = build_ranker("als", split.train, seed=args.seed)
        row["als_train_s"] = als.train_seconds
        row["als_recall"] = continuation_recall(als.ranker, split, playlists)
        del als
    row["genre_pop_recall"] = continuation_recall(genre_popularity(split), split, playlists)
    shutil.rmtree(model_dir, ignore_errors=True)
    return row


def serving_only(size: str, args: argparse.Namespace, workdir: Path) -> None:
    """Serving figures without training: embeddings with the catalog's structure (a genre
    direction, an artist direction, noise) stand in for a trained model's."""
    from recommender import Recommender
    from recommender.data import catalog_from_rows

    catalog = catalog_from_rows(synthetic.generate(size, seed=args.seed))
    rng = np.random.default_rng(args.seed)
    genre = catalog.playlists["playlist_genre"].astype(str)
    first = catalog.memberships.drop_duplicates("track")
    track_genre = np.full(catalog.num_tracks, -1)
    track_genre[first["track"].to_numpy()] = (
        genre.iloc[first["playlist"].to_numpy()].str.slice(5).astype(int).to_numpy()
    )
    track_genre = np.where(track_genre < 0, rng.integers(0, 50, catalog.num_tracks), track_genre)
    artist = catalog.tracks["track_artist"].factorize()[0]
    dim = 192
    embeddings = (
        rng.normal(size=(50, dim))[track_genre]
        + 0.7 * rng.normal(size=(artist.max() + 1, dim))[artist]
        + 0.8 * rng.normal(size=(catalog.num_tracks, dim))
    ).astype(np.float32)
    model = Recommender(catalog, embeddings, {"params": {"seed": args.seed}})
    started = time.perf_counter()
    model.save(workdir / "serving")
    save_s = time.perf_counter() - started
    del model
    loads = []
    for _ in range(3):
        started = time.perf_counter()
        rec = Recommender.load(workdir / "serving")
        loads.append(time.perf_counter() - started)
    started = time.perf_counter()
    rec.index.search.warm_up()  # the bot's warm-up thread builds these after a load
    warm_s = time.perf_counter() - started
    exact = Recommender.load(workdir / "serving", exact=True)
    ids = rec.catalog.tracks["track_id"].astype(str).tolist()
    rng_py = random.Random(args.seed)
    queries = rng_py.sample(ids, min(args.queries, len(ids)))
    rec.similar(queries[0])
    similar_ms = timed_ms([partial(rec.similar, t, k=10) for t in queries])
    exact_ms = timed_ms([partial(exact.similar, t, k=10) for t in queries[:200]])
    texts = resolve_texts(rec, args.queries, rng_py)
    resolve_ms = timed_ms([partial(rec.resolve, t) for t in texts])
    agree = [
        len({r.track_id for r in rec.similar(t)} & {r.track_id for r in exact.similar(t)}) / 10
        for t in queries[:300]
    ]
    print(
        f"serving at {size}: {len(rec)} tracks, {len(rec.catalog.memberships)} memberships; "
        f"index: {rec.metadata.get('ann', 'none (exact search)')}"
    )
    print(
        f"save (with index) {save_s:.1f} s; load median {np.median(loads):.2f} s; "
        f"search warm-up {warm_s:.1f} s"
    )
    print(
        f"similar p50 {percentile(similar_ms, 50):.2f} ms p99 {percentile(similar_ms, 99):.2f} ms"
        f" (exact search: p99 {percentile(exact_ms, 99):.2f} ms)"
    )
    print(
        f"resolve p50 {percentile(resolve_ms, 50):.2f} ms p99 {percentile(resolve_ms, 99):.2f} ms"
    )
    print(f"similar() top-10 agreement with exact search: {np.mean(agree):.3f}")


def format_row(row: dict) -> str:
    als = f"{row['als_train_s']:.1f} s / {row['als_recall']:.3f}" if "als_recall" in row else "-"
    return (
        f"| {row['memberships'] / 1000:,.0f}k / {row['tracks'] / 1000:,.0f}k "
        f"| {row['train_s']:.0f} s | {row['peak_rss_mb'] / 1024:.1f} GB | {row['load_s']:.2f} s "
        f"| {row['similar_p99_ms']:.1f} ms | {row['resolve_p99_ms']:.1f} ms "
        f"| {row['recall']:.3f} | {row['blend']} | {row['genre_pop_recall']:.3f} | {als} |"
    )


HEADER = (
    "| memberships / tracks | train | peak RSS | load | similar p99 | resolve p99 "
    "| continuation R@10 | prior / walk | genre-popularity R@10 | ALS train / R@10 |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--child":
        _child_train(argv[1], int(argv[2]), argv[3], argv[4], argv[5])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="29k,326k", help=f"comma list of {', '.join(synthetic.SIZES)}"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", default="hetero-lightgcn")
    parser.add_argument("--train-option", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--playlists", type=int, default=500, help="evaluated playlists per size")
    parser.add_argument("--queries", type=int, default=1000, help="similar/resolve calls timed")
    parser.add_argument("--no-als", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print each row as JSON")
    parser.add_argument(
        "--serving-only",
        action="store_true",
        help="no training: time save/load/similar/resolve and the index's agreement with exact",
    )
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in synthetic.SIZES]
    if unknown:
        parser.error(
            f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(synthetic.SIZES)}"
        )
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    if args.serving_only:
        try:
            for size in sizes:
                serving_only(size, args, workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
        return 0
    print(f"model: {args.model} {parse_params(args.train_option) or ''}", flush=True)
    print(HEADER, flush=True)
    try:
        for size in sizes:
            row = run_size(size, args, workdir)
            print(format_row(row), flush=True)
            if args.json:
                print(json.dumps(row), flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"uptime: {os.popen('uptime').read().strip()}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
