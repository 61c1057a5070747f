"""Training with several workers (torchrun, gloo on this machine's CPUs).

Real child processes: `musicbot train --workers 2` has torchrun start two workers of
`python -m recommender.train`, which meet on this machine at a free port.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from recommender import Recommender
from recommender.data import read_rows
from recommender.evaluation import evaluate_ranker, make_split
from recommender.store import ModelStore

REPO_ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 10  # a short schedule keeps this test cheap; quality is compared at equal length
# Seed-to-seed spread of the 1-worker run at this schedule and evaluation (seeds 0-5,
# measured): continuation Recall@10 0.164-0.199 (sd 0.012), genre@10 0.879-0.888 (sd
# 0.004); two workers, seeds 0-3: 0.168-0.193 and 0.873-0.890. Two workers draw other
# negatives, so they match one worker within that noise, not digit for digit: the
# tolerances are about 3 sd of each.
B_RECALL_TOLERANCE = 0.04
GENRE_TOLERANCE = 0.015
LAUNCHER_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d|ChildFailedError", re.M)


def musicbot_train(*args: str, model_dir: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "MODEL_DIR": str(model_dir),
        "DATA_DIR": str(model_dir.parent / "data"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot.frontends.cli", "train", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        start_new_session=True,  # so a failed test can end the launcher and its workers
    )


def test_two_workers_train_as_well_as_one(dataset_path: Path, tmp_path: Path) -> None:
    split = make_split(read_rows(dataset_path), seed=0, max_playlists=100)
    assert split.train_rows is not None
    data = tmp_path / "train.csv"
    split.train_rows.to_csv(data, index=False)

    def figures(model: Recommender):
        return evaluate_ranker("m", model, split, max_queries=300, max_k=10).uncapped

    models = tmp_path / "models"
    workers = musicbot_train(
        "--workers", "2", "--data", str(data), "--epochs", str(EPOCHS), model_dir=models
    )
    try:  # the one-worker run meanwhile: the two workers spend much time starting up
        one = Recommender.train(split.train, epochs=EPOCHS, progress=False)
        assert one.metadata["params"]["workers"] == 1
        alone = figures(one)
        stdout, stderr = workers.communicate(timeout=300)
    finally:
        if workers.poll() is None:
            os.killpg(workers.pid, signal.SIGKILL)
    assert workers.returncode == 0, stderr[-3000:]
    assert "2 workers" in stdout
    assert not LAUNCHER_LINE.search(stderr)  # torchrun's own chatter is not shown
    # One new version, made current; only the first worker saved it, and both workers
    # ended with the same model (they check before saving).
    store = ModelStore(models)
    (version,) = store.versions_dir.iterdir()
    assert store.has_model()
    two = Recommender.load(version)
    assert two.version == version.name
    assert two.metadata["params"]["workers"] == 2
    # Each worker computes with its share of the cores, not all of them.
    assert two.metadata["params"]["threads"] == max(1, len(os.sched_getaffinity(0)) // 2)

    together = figures(two)
    assert abs(together.b_recall - alone.b_recall) <= B_RECALL_TOLERANCE, (alone, together)
    assert abs(together.genre - alone.genre) <= GENRE_TOLERANCE, (alone, together)
    assert together.b_recall > 0.12  # trained, not a near-random model that matches by luck


def test_cuda_without_a_gpu_is_one_clear_line(
    dataset_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On this machine (no GPU) asking for cuda fails before any training, without a
    traceback, from `musicbot train` and from the worker torchrun starts."""
    from bot.frontends.cli import main as musicbot
    from recommender.train import main as worker

    out = tmp_path / "m"
    assert musicbot(["train", "--data", str(dataset_path), "--out", str(out), "--device", "cuda"])
    assert worker(["--data", str(dataset_path), "--out", str(out), "--device", "cuda"]) == 1
    said = capsys.readouterr().err.splitlines()
    assert said[-2:] == [
        "musicbot train: device cuda was asked for, but this machine has no usable GPU",
        "TRAINING FAILED: device cuda was asked for, but this machine has no usable GPU",
    ]
    assert not out.exists()
