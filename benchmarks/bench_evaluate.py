"""The full evaluation table on the real dataset, plus the default model's cost.

Usage: .venv/bin/python benchmarks/bench_evaluate.py [--data CSV] [--plot PATH] [--json]

Same as `musicbot evaluate --data CSV --plot PATH` (all models, seed 0), then trains the
default model once more in a child process to report its wall time, CPU time and peak
RSS on its own. Targets for the default model: A Recall@10 >= 0.05, B Recall@10 >= 0.37
(the level reached before answers spread artists), genre@10 >= 0.90, training <= 30 s on
2 CPU cores, peak RSS <= 2 GB.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"

TRAIN_CHILD = """
import json, resource, sys, time
from recommender import Recommender
from recommender.evaluation import default_model
wall, cpu = time.perf_counter(), time.process_time()
Recommender.train(sys.argv[1], model=default_model(), progress=False)
print(json.dumps({
    "model": default_model(),
    "train_wall_s": round(time.perf_counter() - wall, 2),
    "train_cpu_s": round(time.process_time() - cpu, 2),
    "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
}))
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--plot", default="recall_at_k.png")
    parser.add_argument("--models", default="all")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from recommender import evaluation

    extra = ["--json"] if args.json else []
    code = evaluation.main(
        ["--data", args.data, "--models", args.models, "--plot", args.plot, *extra]
    )
    if code != 0:
        return code
    child = subprocess.run(
        [sys.executable, "-c", TRAIN_CHILD, args.data],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(child.stdout.strip().splitlines()[-1])
    print(json.dumps(figures) if args.json else f"default model cost: {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
