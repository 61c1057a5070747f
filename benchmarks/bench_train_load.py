"""Default training on idle cores and while another process keeps one core busy, in one run.

Usage: .venv/bin/python benchmarks/bench_train_load.py [--data CSV] [--repeats N]
           [--threads N] [--json]

Each training runs in a fresh child process (threads and OpenMP's wait policy are fixed
per process), first with nothing else started by this script, then while a busy-loop
child it starts itself spins on one core. Targets: <= 30 s idle on 2 cores and <= 2x
that under load. The machine's load average is printed with the figures: on a shared
machine "idle" means "nothing of ours"; compare the two as a ratio from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"

TRAIN_CHILD = """
import json, sys, time
from recommender import Recommender
from recommender.evaluation import default_model
threads = None if sys.argv[2] == "auto" else int(sys.argv[2])
wall, cpu = time.perf_counter(), time.process_time()
model = Recommender.train(sys.argv[1], model=default_model(), progress=False, threads=threads)
print(json.dumps({
    "wall_s": round(time.perf_counter() - wall, 2),
    "cpu_s": round(time.process_time() - cpu, 2),
    "threads": model.metadata["params"].get("threads"),
}))
"""
BUSY_CHILD = "while True:\n    pass\n"


def train_once(data: str, threads: str) -> dict[str, float]:
    child = subprocess.run(
        [sys.executable, "-c", TRAIN_CHILD, data, threads],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(child.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--repeats", type=int, default=1, help="runs per setting (median)")
    parser.add_argument("--threads", default="auto", help="training threads, or auto")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    report: dict[str, object] = {"cores": len(os.sched_getaffinity(0))}
    report["load_before"] = load_average()
    idle = [train_once(args.data, args.threads) for _ in range(args.repeats)]
    busy_loop = subprocess.Popen([sys.executable, "-c", BUSY_CHILD])
    try:
        time.sleep(0.5)  # let it take its core
        report["load_during_busy"] = load_average()
        loaded = [train_once(args.data, args.threads) for _ in range(args.repeats)]
    finally:
        busy_loop.kill()
        busy_loop.wait()
    report["load_after"] = load_average()
    idle_s = statistics.median(r["wall_s"] for r in idle)
    loaded_s = statistics.median(r["wall_s"] for r in loaded)
    report |= {
        "threads": idle[0]["threads"],
        "idle_wall_s": idle_s,
        "busy_wall_s": loaded_s,
        "ratio": round(loaded_s / idle_s, 2),
        "idle_runs": idle,
        "busy_runs": loaded,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"default training, {report['threads']} thread(s) on {report['cores']} usable "
            f"core(s): idle {idle_s:.1f} s, one core busy {loaded_s:.1f} s "
            f"({report['ratio']:.2f}x; targets <= 30 s and <= 2x)\n"
            f"load average before {report['load_before']}, with the busy loop "
            f"{report['load_during_busy']}, after {report['load_after']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
