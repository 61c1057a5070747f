"""Speed and memory of the recommender core on the full dataset; prints figures.

Usage: .venv/bin/python benchmarks/bench_core.py [--data CSV] [--model NAME] [--train-runs N]

Training runs in child processes so each one's peak RSS is measured on its own.
Goals: train <= 30 s, similar p99 <= 5 ms, resolve p99 <= 20 ms,
load <= 2 s, training peak RSS <= 2 GB, on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"

TRAIN_CHILD = """
import json, resource, sys, time
from recommender import Recommender
started = time.perf_counter()
rec = Recommender.train(sys.argv[1], model=sys.argv[3], progress=False)
seconds = time.perf_counter() - started
rec.save(sys.argv[2])
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"train_s": seconds, "peak_rss_mb": rss_mb}))
"""


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--model", default=None, help="trainer name (default: the default)")
    parser.add_argument("--train-runs", type=int, default=3)
    parser.add_argument("--queries", type=int, default=2000)
    args = parser.parse_args()

    from recommender import Recommender

    model = args.model or Recommender.train.__kwdefaults__["model"]
    workdir = Path(tempfile.mkdtemp(prefix="bench-core-"))
    runs = []
    for i in range(args.train_runs):
        out = subprocess.run(
            [sys.executable, "-c", TRAIN_CHILD, args.data, str(workdir / f"m{i}"), model],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    load_times = []
    for _ in range(5):
        started = time.perf_counter()
        rec = Recommender.load(workdir / "m0")
        load_times.append(time.perf_counter() - started)

    rng = random.Random(0)
    tracks = rec.catalog.tracks
    ids = tracks["track_id"].tolist()
    similar_ms = []
    for track_id in rng.sample(ids, min(args.queries, len(ids))):
        started = time.perf_counter()
        rec.similar(track_id, k=10)
        similar_ms.append((time.perf_counter() - started) * 1000)

    from bench_scale import resolve_texts  # what people type: the one copy of the mix

    texts = resolve_texts(rec, args.queries, rng)
    resolve_ms = []
    for text in texts:
        started = time.perf_counter()
        rec.resolve(text)
        resolve_ms.append((time.perf_counter() - started) * 1000)

    train_s = [r["train_s"] for r in runs]
    rss = [r["peak_rss_mb"] for r in runs]
    print(
        f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}"
    )
    print(f"model: {model}; catalog: {len(rec)} tracks; {args.train_runs} training run(s)")
    print(
        f"train      median {statistics.median(train_s):7.1f} s    max {max(train_s):7.1f} s   (goal <= 30 s)"
    )
    print(
        f"peak RSS   median {statistics.median(rss):7.0f} MB   max {max(rss):7.0f} MB  (goal <= 2048 MB)"
    )
    print(
        f"load       median {statistics.median(load_times):7.3f} s    max {max(load_times):7.3f} s   (goal <= 2 s)"
    )
    print(
        f"similar    p50 {percentile(similar_ms, 50):6.2f} ms  p99 {percentile(similar_ms, 99):6.2f} ms"
        "  (goal p99 <= 5 ms)"
    )
    print(
        f"resolve    p50 {percentile(resolve_ms, 50):6.2f} ms  p99 {percentile(resolve_ms, 99):6.2f} ms"
        "  (goal p99 <= 20 ms)"
    )


if __name__ == "__main__":
    main()
