"""Training samples per second with 1 and with 2 workers (torchrun, gloo), in one run.

Usage: .venv/bin/python benchmarks/bench_distributed.py [--data CSV] [--epochs N]
           [--workers 1,2] [--repeats N] [--param KEY=VALUE ...] [--json]

Each run is `torchrun --nproc-per-node N -m recommender.train` on the catalog, as
`musicbot train --workers N` starts it; worker counts alternate (1, 2, 1, 2, …) so a
change in the machine's load hits both alike. A sample is one hidden membership a step
supervises (`batches` x `batch_size`, at most the hidden share); samples/s is the whole
run's samples over `Recommender.train`'s time (graph building and the final propagation
included, start-up and saving not). Every worker holds and propagates the whole graph:
workers share out the supervision, not the propagation, so more workers pay off when a
step supervises many batches (e.g. `--param batches=16`) and on more cores than workers.
On a shared 2-core machine the load average decides much: it is printed with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from recommender.train import torchrun_command  # noqa: E402

DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"


def train_once(workers: int, data: Path, epochs: int, params: list[str], out: Path) -> dict:
    command = torchrun_command(
        workers,
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        str(epochs),
        *(f"--param={p}" for p in params),
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{workers} worker(s) failed:\n{done.stderr[-2000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    meta = json.loads((out / "metadata.json").read_text())
    p = meta["params"]
    hidden = int(p["hide_fraction"] * report["counts"]["memberships"])
    per_step = min(p["chunks_per_step"] * p["batch_size"], hidden)
    seconds = report["train_seconds"]
    return {
        "workers": workers,
        "threads_per_worker": p["threads"],
        "steps": p["epochs"],
        "samples_per_step": per_step,
        "seconds": seconds,
        "samples_per_s": round(p["epochs"] * per_step / seconds, 1),
    }


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--workers", default="1,2", help="comma list of worker counts")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    counts = [int(w) for w in args.workers.split(",")]
    print(f"load average before: {load_average()}", file=sys.stderr)
    runs: dict[int, list[dict]] = {w: [] for w in counts}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for workers in counts:
                out = Path(tmp) / f"w{workers}-{repeat}"
                run = train_once(workers, args.data, args.epochs, args.param, out)
                runs[workers].append(run)
                print(f"  {run}  (load {load_average()})", file=sys.stderr, flush=True)
    rows = []
    for workers, done in runs.items():
        rows.append(
            {
                "workers": workers,
                "threads_per_worker": done[0]["threads_per_worker"],
                "samples_per_step": done[0]["samples_per_step"],
                "median_seconds": statistics.median(r["seconds"] for r in done),
                "median_samples_per_s": statistics.median(r["samples_per_s"] for r in done),
            }
        )
    base = rows[0]["median_samples_per_s"]
    for row in rows:
        row["vs_first"] = round(row["median_samples_per_s"] / base, 2)
    if args.json:
        print(json.dumps({"load_average": load_average(), "rows": rows}, indent=2))
        return 0
    print(f"load average after: {load_average()}; params {args.param or 'defaults'}")
    print("| workers | threads each | samples/step | median train s | samples/s | ratio |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['workers']} | {r['threads_per_worker']} | {r['samples_per_step']} | "
            f"{r['median_seconds']:.1f} | {r['median_samples_per_s']:.0f} | {r['vs_first']} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
