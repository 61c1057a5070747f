"""The one training command line (`python -m recommender.train`, which `musicbot train`
shares its options with and a retrain runs as its child): stopped by a real signal, it
stops within seconds, exits non-zero and leaves nothing behind; a model already in
`--out` is not replaced without `--force`; a failure says why in words."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from recommender.train import main as train_main
from recommender.train_guards import describe_error

REPO = Path(__file__).resolve().parents[1]
STOP_WITHIN_SECONDS = 5


@pytest.fixture(scope="module")
def small_csv(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "small.csv"
    pd.read_csv(dataset_path, nrows=3000).to_csv(path, index=False)
    return path


def _start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )


def _wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 240) -> str:
    assert process.stderr is not None
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return "".join(seen)
    raise AssertionError(f"never printed {needle!r}: {''.join(seen)[-2000:]}")


def _stop_and_time(process: subprocess.Popen[str], number: int) -> tuple[float, str]:
    time.sleep(3)  # well into the training loop
    assert process.poll() is None, "the run ended before it was stopped"
    sent = time.monotonic()
    process.send_signal(number)
    _, err = process.communicate(timeout=60)
    return time.monotonic() - sent, err


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_training_within_seconds_and_writes_nothing(
    small_csv: Path, tmp_path: Path, number: int
) -> None:
    out = tmp_path / "model"
    process = _start(
        ["-m", "recommender.train", "--data", str(small_csv), "--out", str(out)]
        + ["--epochs", "100000", "--threads", "1"]
    )
    _wait_for_line(process, "training hetero-lightgcn on")
    seconds, err = _stop_and_time(process, number)
    assert seconds < STOP_WITHIN_SECONDS, err
    assert process.returncode == 128 + number
    name = signal.Signals(number).name
    assert f"TRAINING FAILED: stopped by {name}" in err and "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model")]  # no staging


def test_musicbot_train_stops_on_ctrl_c_with_nothing_saved(small_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    env = {"DATA_DIR": str(tmp_path / "data"), "MODEL_DIR": str(tmp_path / "models")}
    process = _start(
        ["-m", "bot.frontends.cli", "train", "--data", str(small_csv), "--out", str(out)]
        + ["--epochs", "100000", "--threads", "1"],
        env,
    )
    _wait_for_line(process, "Training hetero-lightgcn on")
    seconds, err = _stop_and_time(process, signal.SIGINT)
    assert seconds < STOP_WITHIN_SECONDS, err
    assert process.returncode == 130
    assert "musicbot train: stopped by SIGINT; nothing was saved" in err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "models").exists()


def _fake_model(directory: Path) -> Path:
    directory.mkdir(parents=True)
    (directory / "metadata.json").write_text(json.dumps({"version": "kept", "counts": {}}))
    return directory


def test_out_refuses_to_replace_a_model_without_force(
    small_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.frontends.cli import main as musicbot

    out = _fake_model(tmp_path / "model")
    argv = ["--data", str(small_csv), "--out", str(out), "--epochs", "1"]
    assert train_main(argv) == 1
    assert musicbot(["train", *argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"TRAINING FAILED: {out} already holds a model; --force replaces it",
        f"musicbot train: {out} already holds a model; --force replaces it",
    ]
    assert json.loads((out / "metadata.json").read_text())["version"] == "kept"


def test_a_failure_is_said_in_words_not_an_exception_name() -> None:
    read_only = OSError(errno.EROFS, "Read-only file system", "/srv/models/versions/x")
    assert describe_error(read_only) == (
        "the model directory is read-only (/srv/models/versions/x)"
    )
    full = OSError(errno.ENOSPC, "No space left on device")
    assert describe_error(full) == "the disk is full"
    assert "OSError" not in describe_error(OSError(errno.EIO, "Input/output error"))


def _first_start_env(tmp_path: Path, dataset_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISCORD_TOKEN", "DATABASE_URL", "MUSICBOT_ENV", "MODEL_DIR"}
    }
    env.update(
        DATA_DIR=str(tmp_path / "data"),
        MODEL_DIR=str(tmp_path / "models"),
        DATA_PATH=str(dataset_path),
        PYTHONPATH=str(REPO),
        TRAIN_THREADS="1",
        **extra,
    )
    return env


def _wait_for_training_child(pid: int, timeout: float = 120) -> None:
    from retrain_support import training_processes

    deadline = time.monotonic() + timeout
    while not training_processes(pid):
        assert time.monotonic() < deadline, "the first start never began training"
        time.sleep(0.2)


def _nothing_trained(models: Path) -> bool:
    return not (models / "current").exists() and not [
        p for p in (models / "versions").glob("*") if p.name != ".lock"
    ]


def test_ctrl_c_during_a_first_start_s_training_stops_it_and_saves_nothing(
    dataset_path: Path, tmp_path: Path
) -> None:
    """`musicbot chat` with an empty MODEL_DIR trains first; Ctrl-C there used to be
    ignored until the training ended, then the process exited 0 with nothing saved."""
    import psutil

    process = subprocess.Popen(
        [sys.executable, "-m", "bot.frontends.cli", "chat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env=_first_start_env(tmp_path, dataset_path),
    )
    try:
        _wait_for_training_child(process.pid)
        trainers = psutil.Process(process.pid).children(recursive=True)
        seconds, err = _stop_and_time(process, signal.SIGINT)
    finally:
        if process.poll() is None:
            process.kill()
    assert seconds < STOP_WITHIN_SECONDS, err
    assert process.returncode not in (0, None)
    assert "stopped while training the first model; nothing was saved" in err
    assert "Traceback" not in err
    assert _nothing_trained(tmp_path / "models")
    assert not [p for p in trainers if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


async def test_sigterm_during_a_first_start_of_the_bot_stops_it_with_a_failure(
    dataset_path: Path, tmp_path: Path
) -> None:
    """`musicbot run` under a supervisor: SIGTERM while the first model trains stops it
    within seconds, and the exit status says the start did not complete."""
    import asyncio

    from fake_discord import FakeDiscord

    fake = await FakeDiscord().start()
    log = tmp_path / "bot.log"
    env = _first_start_env(tmp_path, dataset_path, DISCORD_TOKEN="t.o.k")
    try:
        with fake.bot_running(env, tmp_path, log) as bot:
            await asyncio.to_thread(_wait_for_training_child, bot.pid)
            await asyncio.sleep(3)
            sent = time.monotonic()
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(bot.wait, 60)
            seconds = time.monotonic() - sent
    finally:
        await fake.stop()
    text = log.read_text()
    assert seconds < STOP_WITHIN_SECONDS, text
    assert code == 1, text
    assert "musicbot: stopped while training the first model; nothing was saved" in text
    assert "Traceback" not in text
    assert _nothing_trained(tmp_path / "models")
