"""What the blessing gate decides on the real catalog, and how long it takes; prints figures.

Usage: .venv/bin/python benchmarks/bench_blessing.py [--data CSV] [--serving DIR]
                                                     [--candidate NAME=DIR ...] [--repeats N]

The serving model is trained on DATA (default model, seed 0) unless --serving names a saved
one. Candidates default to four trained here: `seed1` (the same data, another seed: an
equivalent retrain, which must be blessed), `epochs5` and `epochs1` (undertrained: worse,
should be refused) and `head2pct` (the first 2% of the file: must be refused). Each line
shows the share of serving tracks the candidate lacks, both hit rates on the probe, the
drop, the noise margin, and the median time of `bless` over --repeats runs (single-threaded
BLAS, as the bot serves). Training takes about 20 s per full model on an idle 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.core.serving import blessing_gate  # noqa: E402
from bot.core.settings import Settings  # noqa: E402
from recommender import Recommender  # noqa: E402
from recommender.blessing import bless  # noqa: E402
from recommender.data import read_rows  # noqa: E402


def _candidates(data: Path, folder: Path) -> dict[str, Recommender]:
    head = folder / "head.csv"
    rows = read_rows(data)
    rows.head(len(rows) // 50).to_csv(head, index=False)
    made = {}
    for name, source, options in (
        ("seed1", data, {"seed": 1}),
        ("epochs5", data, {"epochs": 5}),
        ("epochs1", data, {"epochs": 1}),
        ("head2pct", head, {}),
    ):
        started = time.perf_counter()
        made[name] = Recommender.train(source, progress=False, **options)
        print(f"trained {name} in {time.perf_counter() - started:.0f} s", flush=True)
    return made


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="default: DATA_PATH")
    parser.add_argument("--serving", type=Path, help="a saved model directory")
    parser.add_argument("--candidate", action="append", default=[], metavar="NAME=DIR")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)

    from bot.core.compute import single_threaded_blas

    settings = Settings()
    data = args.data or settings.data_path
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)", flush=True)
    if args.serving:
        serving = Recommender.load(args.serving)
    else:
        serving = Recommender.train(data, progress=False)
    with tempfile.TemporaryDirectory() as folder:
        if args.candidate:
            candidates = {
                name: Recommender.load(path)
                for name, path in (item.split("=", 1) for item in args.candidate)
            }
        else:
            candidates = _candidates(Path(data), Path(folder))
    single_threaded_blas()  # as the bot serves
    gate = blessing_gate(settings)
    shrink, drop = gate.max_catalog_shrink, gate.max_quality_drop
    print(
        f"serving {serving.version}: {len(serving)} tracks; gate: at most {shrink:.0%} of "
        f"tracks lost, hit rate at most {drop:.1%} lower plus noise"
    )
    print(
        f"{'candidate':<10} {'lost':>6} {'serving':>8} {'cand.':>7} {'drop':>7} {'noise':>6}"
        f" {'verdict':<8} {'median s':>8}"
    )
    for name, candidate in candidates.items():
        seconds = []
        for _ in range(max(1, args.repeats)):
            started = time.perf_counter()
            verdict = bless(candidate, serving, gate)
            seconds.append(time.perf_counter() - started)
        lost = verdict.lost_tracks / max(1, verdict.serving_tracks)
        probe = verdict.probe
        rates = (
            f"{probe.serving_rate:>8.3f} {probe.candidate_rate:>7.3f} {probe.drop:>7.3f}"
            f" {probe.noise:>6.3f}"
            if probe is not None
            else f"{'-':>8} {'-':>7} {'-':>7} {'-':>6}"
        )
        print(
            f"{name:<10} {lost:>6.1%} {rates} {'blessed' if verdict.blessed else 'refused':<8}"
            f" {statistics.median(seconds):>8.2f}"
        )
        if not verdict.blessed:
            print(f"{'':<10} reason: {verdict.reason}")
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} (1 and 5 min)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
