"""A broken environment or a nonsensical setting stops `musicbot run` / `musicbot chat` with
one line naming the problem and the fix, a non-zero exit, and no traceback (a supervisor
restarting the bot shows that line each time). The real CLI in a child process."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from fake_discord import FakeDiscord

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "DATABASE_URL"}}
    env.update({"DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO), **extra})
    return env


def _closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _launch(code: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=120,
    )


LOG_RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ [A-Z]+ ")


def _one_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line besides the log's own records (`musicbot run` logs to stderr)."""
    assert done.returncode != 0, done.stdout
    lines = [line for line in done.stderr.strip().splitlines() if not LOG_RECORD.match(line)]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_discord_unreachable_is_one_line_with_the_fix(tmp_path: Path) -> None:
    """No network (nothing answers where Discord should be): one line, exit 1."""
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    code = (
        "import sys, yarl, discord.http, discord.gateway\n"
        f"discord.http.Route.BASE = {unreachable + '/api/v10'!r}\n"
        "discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = "
        f"yarl.URL({unreachable.replace('http', 'ws') + '/gateway'!r})\n"
        "from bot.frontends.cli import main\n"
        "sys.exit(main(['run']))\n"
    )
    done = _launch(code, tmp_path, DISCORD_TOKEN="not.a.real-token")
    line = _one_line(done)
    assert line.startswith("musicbot: cannot reach Discord (connect call failed"), line
    assert "network" in line and "not.a.real-token" not in done.stderr


def test_musicbot_sync_without_network_is_one_line_with_the_fix(tmp_path: Path) -> None:
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    code = (
        "import sys, discord.http\n"
        f"discord.http.Route.BASE = {unreachable + '/api/v10'!r}\n"
        "from bot.frontends.cli import main\n"
        "sys.exit(main(['sync']))\n"
    )
    done = _launch(code, tmp_path, DISCORD_TOKEN="not.a.real-token")
    line = _one_line(done)
    assert line.startswith("musicbot sync: cannot reach Discord (connect call failed"), line
    assert "network" in line and "not.a.real-token" not in done.stderr


def test_import_mpd_onto_a_directory_is_one_line(tmp_path: Path) -> None:
    """`--out` naming a folder (or an unwritable place): one line, the slices untouched."""
    slices = tmp_path / "slices"
    slices.mkdir()
    playlist = {"pid": 1, "tracks": [{"track_uri": "spotify:track:abc", "track_name": "x"}]}
    (slices / "mpd.slice.0-999.json").write_text(json.dumps({"playlists": [playlist]}))
    (tmp_path / "out").mkdir()
    code = "import sys\nfrom bot.frontends.cli import main\n"
    code += f"sys.exit(main(['import', 'mpd', {str(slices)!r}, '--out', 'out']))\n"
    done = _launch(code, tmp_path)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("Converting")]
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and lines[0].startswith("musicbot import mpd: cannot write"), lines
    assert (slices / "mpd.slice.0-999.json").exists()


async def test_postgresql_down_at_run_is_one_line_with_the_fix(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    try:
        url = f"postgresql://bot:hunter2@127.0.0.1:{_closed_port()}/music"
        done = await asyncio.to_thread(  # the fake Discord answers from this loop meanwhile
            _launch, fake.launcher("run"), tmp_path, DISCORD_TOKEN="t.o.k", DATABASE_URL=url
        )
    finally:
        await fake.stop()
    line = _one_line(done)
    assert line.startswith("musicbot: cannot start: DATABASE_URL: cannot reach PostgreSQL"), line
    assert "start the server" in line and "hunter2" not in done.stderr


async def test_a_model_dir_that_is_a_file_is_named_at_run_not_blamed_on_discord(
    tmp_path: Path,
) -> None:
    """A file where MODEL_DIR should be (or a read-only one): the line names MODEL_DIR,
    instead of "cannot reach Discord (not a directory)"."""
    (tmp_path / "models").write_text("not a folder")
    fake = await FakeDiscord().start()
    try:
        done = await asyncio.to_thread(
            _launch, fake.launcher("run"), tmp_path, DISCORD_TOKEN="t.o.k", MODEL_DIR="models"
        )
    finally:
        await fake.stop()
    line = _one_line(done)
    assert line.startswith("musicbot: cannot start: MODEL_DIR: cannot use models"), line


def test_a_data_path_that_is_a_folder_is_named_in_one_line(tmp_path: Path) -> None:
    done = _launch(
        "import sys\nfrom bot.frontends.cli import main\nsys.exit(main(['chat']))\n",
        tmp_path,
        DATA_PATH=str(tmp_path),
        MODEL_DIR=str(tmp_path / "models"),
        DOWNLOAD_DATASET="0",
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("musicbot")]
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1 and "cannot start: DATA_PATH: cannot read" in lines[0], lines


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_QUERY_CHARS", "0"),
        ("MAX_QUERY_CHARS", "-5"),
        ("RECOMMEND_COUNT", "0"),
        ("HISTORY_COUNT", "1000"),
        ("COOLDOWN_RATE", "-1"),
        ("SESSION_MAX_SONGS", "0"),
        ("HOME_GUILD_IDS", "my server"),
        ("LOG_LEVEL", "verbose"),
    ],
)
def test_a_nonsensical_setting_stops_start_up_with_one_line(
    tmp_path: Path, name: str, value: str
) -> None:
    done = _launch(
        "import sys\nfrom bot.frontends.cli import main\nsys.exit(main(['chat']))\n",
        tmp_path,
        **{name: value},
    )
    line = _one_line(done)
    assert line.startswith("musicbot: bad setting (") and name in line, line
    assert not (tmp_path / "data").exists(), "nothing is created for a bad setting"


def test_a_stop_is_never_held_up_by_work_that_ignores_it(tmp_path: Path) -> None:
    """SIGTERM ends the process with status 0 within the grace period even when some
    leftover task will not finish; the log names it. A supervisor otherwise waits, then
    kills, and the bot's stop looks like a crash."""
    code = (
        "import asyncio, logging\n"
        "from bot.frontends.stopping import run_until_stopped\n"
        "logging.basicConfig(level=logging.INFO)\n"
        "async def stubborn():\n"
        "    while True:\n"
        "        try:\n"
        "            await asyncio.sleep(3600)\n"
        "        except asyncio.CancelledError:\n"
        "            pass\n"
        "async def main():\n"
        "    asyncio.get_running_loop().create_task(stubborn(), name='stubborn-close')\n"
        "    print('ready', flush=True)\n"
        "    await asyncio.sleep(3600)\n"
        "run_until_stopped(main(), grace=1)\n"
        "print('stopped', flush=True)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert out.strip() == "stopped"
    assert "stubborn-close" in err


@pytest.mark.parametrize("epochs", ["0", "-1"])
def test_training_for_no_epochs_is_refused_and_publishes_nothing(
    tmp_path: Path, dataset_path: Path, epochs: str
) -> None:
    """A typo in `musicbot train --epochs` must not put an untrained model in front of
    every server."""
    env = _env(tmp_path, MODEL_DIR=str(tmp_path / "models"), DATA_PATH=str(dataset_path))
    done = subprocess.run(
        [sys.executable, "-m", "bot.frontends.cli", "train", "--epochs", epochs],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "musicbot train: --epochs wants 1 or more"
    assert not (tmp_path / "models").exists()


def test_more_training_workers_than_cores_is_refused_in_one_line(tmp_path: Path) -> None:
    """Each worker holds the whole graph: on a CPU, more of them than cores only share the
    cores and multiply the memory, so a typo such as --workers 64 must not start them."""
    done = subprocess.run(
        [sys.executable, "-m", "bot.frontends.cli", "train", "--workers", "64", "--device", "cpu"],
        env=_env(tmp_path, MODEL_DIR=str(tmp_path / "models")),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().startswith("musicbot train: --workers 64 is more than")
    assert "Traceback" not in done.stderr and not (tmp_path / "models").exists()
