"""Group-session picks at scale: `rerank.group_picks` with and without the playlist walk.

Usage: .venv/bin/python benchmarks/bench_group.py [--size 326k] [--seeds 10,100,500]
           [--walk 2.0] [--repeats 5]

A seeded MPD-shaped catalog (`recommender/synthetic.py`) with random embeddings (the
timing does not depend on what they learned), served twice: with the walk at `--walk`
and without it (walk_weight 0, as on the real catalog). For each session size, random
seeds are ranked for ten picks, the two models alternating so the machine's load hits
both alike; medians are printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="326k")
    parser.add_argument("--seeds", default="10,100,500")
    parser.add_argument("--walk", type=float, default=2.0)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)

    from recommender import Recommender, synthetic
    from recommender.data import catalog_from_rows
    from recommender.rerank import group_picks

    catalog = catalog_from_rows(synthetic.generate(args.size, seed=0))
    vectors = np.random.default_rng(0).normal(size=(catalog.num_tracks, 64)).astype(np.float32)
    models = {
        name: Recommender(
            catalog, vectors, {"model": name, "params": {"popularity_weight": 0.2, **params}}
        )
        for name, params in (("walk", {"walk_weight": args.walk}), ("no walk", {}))
    }
    ids = catalog.tracks["track_id"].astype(str).tolist()
    rng = np.random.default_rng(1)
    print(f"{args.size}: {catalog.num_tracks} tracks; load average {os.getloadavg()[0]:.1f}")
    for count in (int(n) for n in args.seeds.split(",")):
        seeds = [ids[i] for i in rng.choice(len(ids), count, replace=False)]
        times: dict[str, list[float]] = {name: [] for name in models}
        for _ in range(args.repeats):
            for name, model in models.items():
                started = time.perf_counter()
                group_picks(model, seeds, k=10)
                times[name].append(time.perf_counter() - started)
        walk, plain = (statistics.median(times[n]) * 1000 for n in ("walk", "no walk"))
        print(
            f"{count:>5} seeds: {walk:7.0f} ms with the walk, {plain:7.0f} ms without "
            f"({walk / plain:.2f}x)"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
