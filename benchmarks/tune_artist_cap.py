"""Tune the served artist spread on a validation split, never on the reported hold-out.

Usage: .venv/bin/python benchmarks/tune_artist_cap.py [--data CSV] [--seed 0]
           [--penalties 0,0.02,0.05] [--param KEY=VALUE ...]

Carves the validation split inside the training part of `musicbot evaluate`'s hold-out
(`evaluation.validation_split`), trains the default model on it once (with any
`--param` training options), then scores the capped list (2 from the query's artist,
2 from any other) for each repeat penalty: the figures the cap's defaults are chosen on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--penalties", default="0,0.02,0.05,0.1")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    from recommender import Recommender, evaluation
    from recommender.data import read_rows
    from recommender.ranking import DEFAULT_ARTIST_CAP, ArtistCap

    options = evaluation.parse_params(args.param)
    split = evaluation.validation_split(read_rows(args.data), seed=args.seed)
    started = time.perf_counter()
    model = Recommender.train(split.train, seed=args.seed, progress=False, **options)
    seconds = time.perf_counter() - started
    print(f"validation split (seed {args.seed}): {split.stats()}; trained in {seconds:.1f} s")
    print(f"options: {json.dumps(options)}")
    header = "penalty  A R@10  cold   warm   genre  B R@10 | same  artists  >=5   (off: A, B)"
    print(header)
    for penalty in (float(p) for p in args.penalties.split(",")):
        cap = ArtistCap(DEFAULT_ARTIST_CAP.per_artist, DEFAULT_ARTIST_CAP.per_query_artist, penalty)
        report = evaluation.evaluate_ranker("default", model, split, cap=cap)
        on, off = report.capped, report.uncapped
        div = on.a_diversity
        print(
            f"{penalty:7.3f}  {on.a_recall:.4f} {on.a_recall_cold:.4f} {on.a_recall_warm:.4f} "
            f"{on.genre:.3f}  {on.b_recall:.4f} | {div.same_artist:.2f}  "
            f"{div.distinct_artists:.2f}   {div.five_from_one:.1%}  "
            f"({off.a_recall:.4f}, {off.b_recall:.4f})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
