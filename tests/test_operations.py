"""Running the bot as an admin does: problems found before anything is trained, `musicbot
doctor`, the health and metrics port, the log file, where settings are read from, and
`--version`. The real CLI in child processes; the health port over real HTTP on 127.0.0.1;
Discord is the local fake (tests/fake_discord.py)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import tempfile
import time
from logging.handlers import RotatingFileHandler
from pathlib import Path

import aiohttp
import pytest
from fake_discord import FakeDiscord

from bot.core.dispatch import CONSOLE, RequestContext, Services
from bot.core.logs import LOG_FILE_BACKUPS, LOG_FILE_BYTES, REDACTED, setup_logging
from bot.core.metrics import MetricsServer
from bot.core.serving import ModelHolder
from bot.core.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISCORD_TOKEN", "DATABASE_URL", "MUSICBOT_ENV", "DATA_DIR", "MODEL_DIR"}
    }
    env.update({"DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(REPO), **extra})
    return env


def _cli(tmp_path: Path, *argv: str, code: str | None = None, **env: str):
    command = [sys.executable, "-c", code] if code else [sys.executable, "-m", "bot.frontends.cli"]
    return subprocess.run(
        [*command, *argv] if not code else command,
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=180,
    )


def _unwritable_folder() -> Path:
    """An existing folder this process cannot create files in, even as root (a
    read-only file system: the tests may run as root, which ignores permission bits)."""
    for candidate in (Path("/sys/kernel"), Path("/sys/fs"), Path("/proc/sys")):
        if candidate.is_dir():
            try:
                handle, name = tempfile.mkstemp(dir=candidate)
            except OSError:
                return candidate
            os.close(handle)
            os.unlink(name)
    pytest.skip("no read-only folder on this machine to stand for a read-only MODEL_DIR")


# -- fail fast -------------------------------------------------------------------------------
def test_an_unwritable_model_dir_is_named_before_any_training(tmp_path: Path) -> None:
    """It used to train for about 75 s and only then say it could not save."""
    folder = _unwritable_folder()
    started = time.monotonic()
    done = _cli(tmp_path, "chat", MODEL_DIR=str(folder))
    took = time.monotonic() - started
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines == [lines[0]] and lines[0].startswith(
        f"musicbot chat: cannot start: MODEL_DIR: cannot use {folder}"
    ), lines
    assert "writable folder" in lines[0]
    assert "Training" not in done.stdout + done.stderr and took < 30, took


def test_musicbot_train_names_an_unwritable_model_dir_before_training(
    tmp_path: Path, dataset_path: Path
) -> None:
    """`musicbot train` into a read-only MODEL_DIR (or --out) used to train, then fail."""
    folder = _unwritable_folder()
    started = time.monotonic()
    done = _cli(tmp_path, "train", MODEL_DIR=str(folder), DATA_PATH=str(dataset_path))
    by_out = _cli(
        tmp_path,
        "train",
        "--out",
        str(folder / "model"),
        "--data",
        str(tmp_path / "nowhere.csv"),
        MODEL_DIR=str(tmp_path / "models"),
    )
    took = time.monotonic() - started
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"musicbot train: MODEL_DIR: cannot use {folder} (cannot write in")
    assert line.endswith(
        "point MODEL_DIR at a writable folder with about 100 MB free, or give --out"
    )
    lines = by_out.stderr.splitlines()
    assert by_out.returncode == 2 and len(lines) == 2, by_out.stderr
    assert lines[0].startswith(f"musicbot train: --out: cannot use {folder / 'model'}")
    assert (
        lines[1].startswith("musicbot train: --data: cannot read") and "does not exist" in lines[1]
    )
    assert "Training" not in done.stderr + by_out.stderr and took < 30, took


def test_run_names_every_path_problem_at_once_before_discord(tmp_path: Path) -> None:
    """A missing dataset and an unwritable DATA_DIR: both lines, no network tried."""
    (tmp_path / "data").write_text("a file where the folder should be")
    done = _cli(
        tmp_path,
        "run",
        DISCORD_TOKEN="t.o.k",
        MODEL_DIR=str(tmp_path / "models"),
        DATA_PATH=str(tmp_path / "nowhere.csv"),
        DOWNLOAD_DATASET="off",
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 2, done.stderr
    assert lines[0].startswith("musicbot: cannot start: DATA_DIR: cannot use"), lines
    assert lines[1].startswith("musicbot: cannot start: DATA_PATH: cannot read"), lines
    assert "DOWNLOAD_DATASET" in lines[1]
    assert not (tmp_path / "models").exists()


async def test_intents_not_ticked_are_named_before_the_first_training(tmp_path: Path) -> None:
    """The commonest first-run mistake: it used to train first, then print "cannot reach
    Discord (Shard ID None is requesting privileged intents … ena…); check DNS"."""
    fake = await FakeDiscord(flags=0).start()
    try:
        started = time.monotonic()
        done = await asyncio.to_thread(
            _cli,
            tmp_path,
            code=fake.launcher("run"),
            DISCORD_TOKEN="t.o.k",
            MODEL_DIR=str(tmp_path / "models"),
        )
        took = time.monotonic() - started
    finally:
        await fake.stop()
    lines = [line for line in done.stderr.splitlines() if line.startswith("musicbot")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    line = lines[0]
    assert "Message Content and Server Members" in line, line
    assert "Privileged Gateway Intents" in line and "PREFIX_COMMANDS=off" in line, line
    assert "DNS" not in line and "…" not in line
    assert not any((tmp_path / "models").glob("**/*.json")), "nothing was trained"
    assert took < 30, took


async def test_intents_refused_at_the_gateway_name_the_intent(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    """If Discord still refuses at connect (4014), the line says which intents to tick."""
    fake = await FakeDiscord(refuse_privileged=True).start()
    try:
        done = await asyncio.to_thread(
            _cli,
            tmp_path,
            code=fake.launcher("run"),
            DISCORD_TOKEN="t.o.k",
            MODEL_DIR=str(trained_model_dir),
            LISTENING="on",
        )
    finally:
        await fake.stop()
    lines = [line for line in done.stderr.splitlines() if line.startswith("musicbot")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert "Message Content and Server Members and Presence" in lines[0], lines
    assert "LISTENING=off" in lines[0] and "DNS" not in lines[0]


def test_a_switch_with_a_wrong_word_lists_the_words_it_takes(tmp_path: Path) -> None:
    done = _cli(tmp_path, "chat", PREFIX_COMMANDS="maybe")
    line = done.stderr.strip()
    assert done.returncode == 1 and "\n" not in line, done.stderr
    assert line.startswith("musicbot: bad setting (PREFIX_COMMANDS:"), line
    assert "'maybe'" in line and "on or off" in line


# -- doctor ----------------------------------------------------------------------------------
def test_doctor_says_what_is_wrong_without_training(tmp_path: Path) -> None:
    folder = _unwritable_folder()
    done = _cli(tmp_path, "doctor", "--offline", MODEL_DIR=str(folder))
    assert done.returncode == 1, done.stdout + done.stderr
    out = done.stdout
    assert f"!!  MODEL_DIR: cannot use {folder}" in out, out
    assert "!!  DISCORD_TOKEN: not set" in out
    assert "ok  intents: the settings need Message Content and Server Members" in out
    assert "database: SQLite" in out and "created at first start" in out
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()


async def test_doctor_with_discord_names_the_model_the_intents_and_the_invite(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    from recommender import Recommender

    version = Recommender.load(trained_model_dir).version
    fake = await FakeDiscord(flags=0).start()
    try:
        done = await asyncio.to_thread(
            _cli,
            tmp_path,
            code=fake.launcher("doctor"),
            DISCORD_TOKEN="t.o.k",
            MODEL_DIR=str(trained_model_dir),
        )
    finally:
        await fake.stop()
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert f"ok  model: {version} serves (28,356 tracks" in out, out
    assert "!!  intents: Discord has not granted the privileged intents Message Content" in out
    assert (
        "https://discord.com/oauth2/authorize?client_id=1000"
        "&scope=bot+applications.commands&permissions=274878024704"
    ) in out


def test_doctor_sees_a_database_that_needs_migrating(tmp_path: Path) -> None:
    from bot.core.db import upgrade_to_head

    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'musicbot.db'}"
    upgrade_to_head(url.replace("sqlite://", "sqlite+aiosqlite://"))
    done = _cli(tmp_path, "doctor", "--offline")
    assert "ok  database: SQLite reachable, tables up to date" in done.stdout, done.stdout


# -- health and metrics ----------------------------------------------------------------------
async def test_health_and_metrics_over_http(tmp_path: Path, recommender) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=tmp_path / "m")
    holder = ModelHolder()
    services = Services(settings, models=holder)
    server = MetricsServer(services, "127.0.0.1", 0)
    await services.db.upgrade()
    await server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{base}/health") as response:
                assert response.status == 503  # still loading: not ready for traffic
                assert (await response.json())["model"] == "loading"
            holder.swap(recommender)
            ctx = RequestContext(user_id=5, user_name="u", source=CONSOLE)
            await services.handle("recommend", ctx, "bad guy")
            await services.handle("recommend", ctx, "zzzzqqqq xxyyzz no such song")
            async with http.get(f"{base}/health") as response:
                assert response.status == 200, await response.text()
                body = await response.json()
                assert body == {
                    "status": "ok",
                    "model": recommender.version,
                    "database": "ok",
                }
            async with http.get(f"{base}/metrics") as response:
                assert response.status == 200
                text = await response.text()
    finally:
        await server.stop()
        await services.close()
    assert 'musicbot_answers_total{command="recommend",outcome="ok"} 1.0' in text, text
    assert 'musicbot_song_lookups_total{found="no"} 1.0' in text
    assert 'musicbot_answer_seconds_count{command="recommend"} 2.0' in text
    assert f'musicbot_model_info{{version="{recommender.version}"}} 1.0' in text
    assert "musicbot_model_tracks 28356.0" in text


async def test_a_running_bot_answers_health_and_metrics_on_its_port(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    """`musicbot run` with METRICS_PORT: what a supervisor or Prometheus asks, over HTTP on
    127.0.0.1; SIGTERM still stops it with status 0."""
    import signal
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fake = await FakeDiscord().start()
    log = tmp_path / "bot.log"
    env = _env(
        tmp_path, DISCORD_TOKEN="t.o.k", MODEL_DIR=str(trained_model_dir), METRICS_PORT=str(port)
    )
    health: dict[str, str] = {}
    try:
        with fake.bot_running(env, tmp_path, log) as bot:
            deadline = time.monotonic() + 120
            async with aiohttp.ClientSession() as http:
                while bot.poll() is None and time.monotonic() < deadline:
                    try:
                        async with http.get(f"http://127.0.0.1:{port}/health") as response:
                            health = await response.json()
                            if response.status == 200 and fake.identified:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.3)
                assert health.get("status") == "ok", log.read_text()
                async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                    metrics = await response.text()
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(bot.wait, 60)
    finally:
        await fake.stop()
    assert code == 0, log.read_text()
    assert health["database"] == "ok"
    assert f'musicbot_model_info{{version="{health["model"]}"}} 1.0' in metrics
    assert "musicbot_model_tracks 28356.0" in metrics
    assert "PyNaCl" not in log.read_text()


async def test_metrics_port_taken_is_one_line(tmp_path: Path) -> None:
    fake = await FakeDiscord().start()
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = blocker.sockets[0].getsockname()[1]
    try:
        done = await asyncio.to_thread(
            _cli,
            tmp_path,
            code=fake.launcher("run"),
            DISCORD_TOKEN="t.o.k",
            METRICS_PORT=str(port),
            MODEL_DIR=str(tmp_path / "models"),
        )
    finally:
        blocker.close()
        await fake.stop()
    lines = [line for line in done.stderr.splitlines() if line.startswith("musicbot")]
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(
        f"musicbot: cannot start: METRICS_PORT: cannot listen on 127.0.0.1:{port}"
    )
    assert "PyNaCl" not in done.stderr, "the bot plays no audio: no voice warning"


# -- logs, settings file, version ------------------------------------------------------------
def test_log_file_gets_the_log_redacted_and_rotates(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "musicbot.log"
    setup_logging("INFO", secrets=["secret-token-123"], log_file=path)
    try:
        logging.getLogger("musicbot.test").info("started with secret-token-123")
        rotating = [h for h in logging.getLogger().handlers if isinstance(h, RotatingFileHandler)]
        assert len(rotating) == 1
        handler = rotating[0]
        assert (handler.maxBytes, handler.backupCount) == (LOG_FILE_BYTES, LOG_FILE_BACKUPS)
        handler.flush()
        text = path.read_text()
        assert "started with " + REDACTED in text and "secret-token-123" not in text
    finally:
        setup_logging("WARNING")  # back to stderr only; closes the file


def test_settings_come_from_musicbot_env_from_any_directory(tmp_path: Path) -> None:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    (elsewhere / "musicbot.env").write_text(f"MODEL_DIR={_unwritable_folder()}\n")
    done = _cli(tmp_path, "doctor", "--offline", MUSICBOT_ENV=str(elsewhere / "musicbot.env"))
    assert f"read from {elsewhere / 'musicbot.env'}" in done.stdout, done.stdout
    assert "!!  MODEL_DIR" in done.stdout
    missing = _cli(tmp_path, "doctor", MUSICBOT_ENV=str(tmp_path / "nope.env"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == (
        f"musicbot: MUSICBOT_ENV: no settings file at {tmp_path / 'nope.env'}; point it at "
        "your .env file, or unset it"
    )


def test_settings_come_from_the_env_file_next_to_the_data_dir(tmp_path: Path) -> None:
    """A supervisor starts the bot in some other working directory."""
    home = tmp_path / "srv"
    (home / "data").mkdir(parents=True)
    (home / ".env").write_text("PREFIX_COMMANDS=off\n")
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    done = _cli(cwd, "doctor", "--offline", DATA_DIR=str(home / "data"))
    assert f"read from {home / '.env'}" in done.stdout, done.stdout
    assert "the settings need no privileged intent" in done.stdout


def test_version(tmp_path: Path) -> None:
    done = _cli(tmp_path, "--version")
    assert done.returncode == 0 and done.stdout.strip() == "musicbot 0.1.0", done


# -- what a first user notices ---------------------------------------------------------------
def test_console_words_follow_ups_and_plain_text(tmp_path: Path, trained_model_dir: Path) -> None:
    """`help` and `more` typed bare are commands (they were songs: "Help — Saint Mars");
    hints name the console's own prefix; *italics* lose their asterisks; a session's next
    songs do not offer 👍/👎 where there are no buttons."""
    typed = (
        "bad guy\nhelp\nmore\n!refine chill\n"
        "!session start party\n!session add hello adele\n!session add shape of you\n"
        "!session add bad guy\n!session next\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot.frontends.cli", "chat"],
        input=typed,
        cwd=tmp_path,
        env=_env(tmp_path, MODEL_DIR=str(trained_model_dir)),
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = done.stdout
    assert done.returncode == 0, done.stderr
    assert "Songs like Help" not in out and "What I can do" in out
    assert "More like bad guy — Billie Eilish" in out
    assert "follow up: !more · !like 3" in out and "/more" not in out
    applied = next(line for line in out.splitlines() if line.startswith("Applied:"))
    assert "*" not in applied and "bad guy" in applied, applied
    assert "Up next for party" in out and "teach the next model" not in out


def test_plain_text_drops_every_emphasis_mark_but_keeps_escaped_ones() -> None:
    from bot.core.text import md, plain

    assert plain("Applied: calmer than *bad guy*") == "Applied: calmer than bad guy"
    assert plain("**a** __b__ ~~c~~ _d_ `!more`") == "a b c d !more"
    assert plain("*" + md("*NSYNC - Don't *stop* (a_b)") + "*") == "*NSYNC - Don't *stop* (a_b)"
    assert plain("snake_case and 2 * 3 * 4") == "snake_case and 2 * 3 * 4"


def test_musicbot_recommend_refuses_what_it_cannot_do_in_one_line(tmp_path: Path) -> None:
    zero = _cli(tmp_path, "recommend", "-k", "0", "bad guy")
    assert zero.returncode == 2 and zero.stderr.strip() == "musicbot recommend: -k wants 1 to 100"
    two = _cli(tmp_path, "recommend", "bad guy", "hello")
    assert two.returncode == 2, two.stderr
    assert two.stderr.strip().startswith("musicbot recommend: one song at a time")
    assert "'bad guy', 'hello'" in two.stderr


def test_musicbot_recommend_hints_are_shell_commands(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    done = _cli(tmp_path, "recommend", "--model", str(trained_model_dir), "-k", "3", "bad", "guy")
    assert done.returncode == 0, done.stderr
    assert 'try musicbot recommend "Bad Guy - Critic City"' in done.stdout, done.stdout
    assert "!recommend" not in done.stdout and "/more" not in done.stdout


def test_evaluate_says_what_runs_and_what_it_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It printed nothing for minutes, then a plot titled Recall@K whose curve fell with K,
    without saying whether the artist spread was on."""
    from test_evaluation import synthetic_rows, write_csv

    from recommender import evaluation

    data = write_csv(synthetic_rows(), tmp_path / "songs.csv")
    plot = tmp_path / "found.png"
    argv = ["--data", str(data), "--models", "popularity,audio-knn", "--plot", str(plot)]
    assert evaluation.main(argv) == 0
    out, err = capsys.readouterr()
    assert "[1/2] training and scoring popularity ..." in err
    assert err.index("[2/2] training and scoring audio-knn") > err.index("  popularity: A")
    assert out.startswith(
        "In short (top 10, artist spread on, as members get them):\n- song → song:"
    )
    assert out.index("In short") < out.index("| model |")
    assert "(popularity alone:" in out
    assert "artist spread off" in out.split("plot:", 1)[1]
    assert plot.stat().st_size > 1000


def test_evaluate_refuses_a_file_with_nothing_to_evaluate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_evaluation import synthetic_rows, write_csv

    from recommender import evaluation

    rows = synthetic_rows()
    first = rows["playlist_id"].iloc[0]
    data = write_csv(rows[rows["playlist_id"] == first].head(3), tmp_path / "few.csv")
    assert evaluation.main(["--data", str(data), "--models", "popularity"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.strip().endswith(
        "no playlist there has enough songs to hide some and ask for them back; use a "
        "bigger catalog (the full CSV)"
    ), err
