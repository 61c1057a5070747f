"""Start-up, settings and the command line: what an operator sees before anyone chats."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.script import ScriptDirectory

from bot import create_bot
from bot.core.db import alembic_config
from bot.core.dispatch import Services
from bot.core.logs import REDACTED, setup_logging
from bot.core.serving import has_model, load_current_model
from bot.core.settings import Settings
from bot.frontends.console import chat, parse_line

REPO = Path(__file__).resolve().parents[1]
MUSICBOT = Path(sys.executable).with_name("musicbot")
FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.fake-token-for-tests-0123456789abcdef"


def _settings(tmp_path: Path, model_dir: Path, **extra) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=model_dir, **extra)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DISCORD_TOKEN", "DATABASE_URL"}}
    env.update({"DATA_DIR": str(tmp_path / "data"), **extra})
    return env


def test_create_bot_touches_nothing_and_sets_safe_defaults(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    bot = create_bot(_settings(tmp_path, trained_model_dir))
    assert not (tmp_path / "data").exists(), "no database before setup_hook"
    assert bot.intents.members and bot.intents.message_content
    mentions = bot.allowed_mentions
    assert mentions is not None
    assert (mentions.everyone, mentions.users, mentions.roles) == (False, False, False)
    assert bot.help_command is None
    assert not bot.services.models.ready


async def test_setup_hook_migrates_and_loads_the_saved_model_without_training(
    tmp_path: Path, trained_model_dir: Path, recommender, fresh_database_url: str
) -> None:
    settings = _settings(tmp_path, trained_model_dir, database_url=fresh_database_url)
    bot = create_bot(settings)
    await bot._async_setup_hook()
    await bot.setup_hook()
    try:
        head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
        async with bot.services.db.session() as session:
            assert await session.scalar(sa.text("SELECT version_num FROM alembic_version")) == head
        assert bot.services.models.current.version == recommender.version
        assert {c.name for c in bot.commands} >= {"recommend", "history", "help"}
        # Every prefix command is a slash command too, from the same registration.
        assert {c.name for c in bot.tree.get_commands()} >= {c.name for c in bot.commands}
    finally:
        await bot.services.close()
    # A restart upgrades an up-to-date database without complaint.
    again = Services(settings)
    await again.start()
    await again.close()


async def test_without_a_model_the_first_start_trains_once_and_saves(
    tmp_path: Path, dataset_path: Path
) -> None:
    small = tmp_path / "small.csv"
    with open(dataset_path, encoding="utf-8") as source:
        small.write_text("".join(next(source) for _ in range(301)), encoding="utf-8")
    settings = _settings(tmp_path, tmp_path / "models", data_path=small)

    said: list[str] = []
    first = Services(settings)
    await first.start(say=said.append)
    await first.close()
    assert any("training one" in line for line in said)
    # Saved where the model store looks (the on-disk layout is model_store's business).
    assert has_model(settings)
    trained = first.models.current.version
    assert load_current_model(settings).version == trained

    said.clear()
    second = Services(settings)
    await second.start(say=said.append)
    await second.close()
    assert not any("training" in line.lower() for line in said)
    assert second.models.current.version == trained


def test_env_example_documents_every_setting() -> None:
    text = (REPO / ".env.example").read_text()
    documented = {
        line.split("=", 1)[0].strip()
        for line in text.splitlines()
        if "=" in line and not line.startswith("#")
    }
    assert documented == {name.upper() for name in Settings.model_fields}


def test_token_never_reaches_the_log() -> None:
    handler = setup_logging("INFO", secrets=[FAKE_TOKEN])
    stream = io.StringIO()
    handler.setStream(stream)
    try:
        log = logging.getLogger("musicbot.test")
        log.info("connecting with %s", FAKE_TOKEN)
        try:
            raise RuntimeError(f"login failed for {FAKE_TOKEN}")
        except RuntimeError:
            log.exception("oops")
    finally:
        logging.getLogger().removeHandler(handler)
    output = stream.getvalue()
    assert FAKE_TOKEN not in output
    assert output.count(REDACTED) == 2 and "Traceback" in output
    assert FAKE_TOKEN not in repr(Settings(_env_file=None, discord_token=FAKE_TOKEN))


def test_run_without_token_exits_with_one_clear_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(MUSICBOT), "run"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert ".env.example" in lines[0] and "musicbot chat" in lines[0]
    assert "Traceback" not in done.stderr


def test_console_lines_map_to_commands() -> None:
    assert parse_line("bad guy", "!") == ("recommend", "bad guy")
    assert parse_line("!history", "!") == ("history", "")
    assert parse_line("!HELP recommend", "!") == ("help", "recommend")
    assert parse_line("/recommend hello", "!") == ("recommend", "hello")
    assert parse_line("!", "!") == ("recommend", "!")


async def test_chat_runs_the_same_handlers_and_keeps_history(
    tmp_path: Path, trained_model_dir: Path, fresh_database_url: str
) -> None:
    stdin = io.StringIO("bad guy\n\n!history\n!help\n" + "x" * 250 + "\nquit\nhello\n")
    stdout = io.StringIO()
    settings = _settings(tmp_path, trained_model_dir, database_url=fresh_database_url)
    code = await chat(settings, stdin=stdin, stdout=stdout)
    out = stdout.getvalue()
    assert code == 0
    assert out.startswith("Loaded model ")
    assert "Songs like bad guy — Billie Eilish" in out
    assert out.count("https://open.spotify.com/track/") == 10
    assert "Your last 1 query" in out and "“bad guy” → bad guy — Billie Eilish" in out
    assert "What I can do" in out and "!recommend <song>" in out
    assert "That's too long" in out
    assert "Songs like Hello" not in out, "quit stops reading"
    assert "**" not in out and "\\" not in out, "markdown is rendered as plain text"


def test_chat_works_with_piped_stdin(tmp_path: Path, trained_model_dir: Path) -> None:
    done = subprocess.run(
        [str(MUSICBOT), "chat"],
        input="bad guy\n!history\n",  # EOF ends it, no quit needed
        cwd=tmp_path,
        env=_env(tmp_path, MODEL_DIR=str(trained_model_dir)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Loaded model" in done.stdout
    assert "> bad guy" in done.stdout and "Songs like bad guy — Billie Eilish" in done.stdout
    assert "“bad guy”" in done.stdout
    assert (tmp_path / "data" / "musicbot.db").is_file()


def test_cli_recommend_prints_ten_songs(tmp_path: Path, trained_model_dir: Path) -> None:
    done = subprocess.run(
        [str(MUSICBOT), "recommend", "--model", str(trained_model_dir), "shape of you"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Songs like Shape of You — Ed Sheeran" in done.stdout
    assert done.stdout.count("https://open.spotify.com/track/") == 10


@pytest.mark.parametrize("value", ["", " "])
def test_blank_prefix_is_rejected(value: str) -> None:
    with pytest.raises(ValueError):
        Settings(_env_file=None, command_prefix=value)


async def test_chat_without_model_or_dataset_says_why_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = _settings(
        tmp_path, tmp_path / "models", data_path=tmp_path / "missing.csv", download_dataset=False
    )
    code = await chat(settings, stdin=io.StringIO("bad guy\n"), stdout=io.StringIO())
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"musicbot chat: cannot start: Dataset not found at {tmp_path / 'missing.csv'}. "
        "Set DATA_PATH to your spotify_songs.csv."
    ]
