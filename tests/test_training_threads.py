"""How many threads training uses, and that they behave on a machine busy with other work.

Each check runs in a fresh child process: the thread count and OpenMP's wait policy are
process-wide, and the policy is fixed when torch loads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_child(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
        env={**base, "PYTHONPATH": str(REPO_ROOT), **(env or {})},
        check=True,
    )


def test_threads_follow_the_cores_this_process_may_use() -> None:
    cores = sorted(os.sched_getaffinity(0))
    out = run_child(
        "import json, os, torch\n"
        "from recommender.training.environment import configure_threads\n"
        "seen = {}\n"
        "for setting in (None, 1, 0, 64):\n"
        "    seen[str(setting)] = [configure_threads(setting), torch.get_num_threads()]\n"
        f"os.sched_setaffinity(0, {{{cores[0]}}})\n"
        "seen['pinned'] = [configure_threads(None), torch.get_num_threads()]\n"
        "print(json.dumps(seen))\n"
    )
    seen = json.loads(out.stdout)
    assert seen["None"] == [len(cores), len(cores)]  # one per usable core
    assert seen["1"] == [1, 1]
    assert seen["0"] == [1, 1]  # never fewer than one
    assert seen["64"] == [len(cores), len(cores)]  # never more than the usable cores
    assert seen["pinned"] == [1, 1]  # a process pinned to one core trains with one thread


def test_waiting_training_threads_sleep_instead_of_spinning() -> None:
    """OpenMP itself reports how long a waiting thread spins (OMP_DISPLAY_ENV); left
    unset it spins 300,000 rounds before sleeping, which is what stalls on a busy machine."""
    code = "import recommender.training, torch\ntorch.ones(4).sum()\n"
    default = run_child(code, {"OMP_DISPLAY_ENV": "VERBOSE"})
    assert "GOMP_SPINCOUNT = '0'" in default.stderr
    chosen = run_child(code, {"OMP_DISPLAY_ENV": "VERBOSE", "OMP_WAIT_POLICY": "ACTIVE"})
    assert "OMP_WAIT_POLICY = 'ACTIVE'" in chosen.stderr  # an explicit choice wins


@pytest.mark.parametrize("model", ["hetero-lightgcn", "seed-gcn"])
def test_the_thread_setting_reaches_training_and_the_model_record(
    dataset_path: Path, model: str
) -> None:
    out = run_child(
        "import json, sys\n"
        "from recommender import Recommender\n"
        "from recommender.data import catalog_from_rows, read_rows\n"
        "import torch\n"
        "catalog = catalog_from_rows(read_rows(sys.argv[1]).head(3000))\n"
        f"rec = Recommender.train(catalog, model={model!r}, epochs=1, threads=1)\n"
        "print(json.dumps([rec.metadata['params']['threads'], torch.get_num_threads()]))\n".replace(
            "sys.argv[1]", repr(str(dataset_path))
        )
    )
    assert json.loads(out.stdout) == [1, 1]


def test_the_worker_torchrun_starts_also_sleeps_instead_of_spinning() -> None:
    """`python -m recommender.train` (what torchrun and `musicbot train --workers` start)
    loads torch through its own imports: the wait policy must still be set first."""
    code = "import recommender.train, torch\ntorch.ones(4).sum()\n"
    assert "GOMP_SPINCOUNT = '0'" in run_child(code, {"OMP_DISPLAY_ENV": "VERBOSE"}).stderr
