"""Sharding settings: several bot processes split the guilds, each connecting its shards."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import pytest
from discord.ext import commands
from fake_discord import FakeDiscord
from pydantic import ValidationError
from retrain_support import process_env, quick_model, save_new_model, write_small_csv

from bot import create_bot
from bot.core.settings import Settings
from bot.frontends import cli

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.fake-token-for-tests-0123456789abcdef"


def _settings(tmp_path: Path, **extra: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", **extra)


def test_a_bot_with_shard_settings_connects_only_its_shards(tmp_path: Path) -> None:
    bot = create_bot(_settings(tmp_path, shard_count="2", shard_ids="1"))
    assert isinstance(bot, commands.AutoShardedBot)
    assert (bot.shard_count, bot.shard_ids) == (2, [1])
    assert not (tmp_path / "data").exists(), "building the bot still touches nothing"

    every_shard = create_bot(_settings(tmp_path, shard_count="3"))
    assert (every_shard.shard_count, every_shard.shard_ids) == (3, None)


def test_without_shard_settings_the_bot_is_one_connection(tmp_path: Path) -> None:
    bot = create_bot(_settings(tmp_path))
    assert not isinstance(bot, commands.AutoShardedBot)
    assert bot.shard_count is None


def test_shard_ids_are_read_as_written_in_env(tmp_path: Path) -> None:
    settings = _settings(tmp_path, shard_count="4", shard_ids=" 0, 2 ,3")
    assert settings.shard_ids == [0, 2, 3]


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"shard_count": "0"}, "shard_count"),
        ({"shard_count": "two"}, "shard_count"),
        ({"shard_ids": "1"}, "SHARD_IDS needs SHARD_COUNT"),
        ({"shard_count": "2", "shard_ids": "2"}, "SHARD_IDS 2 out of range"),
        ({"shard_count": "2", "shard_ids": "0,-1"}, "shard numbers separated by commas"),
        ({"shard_count": "2", "shard_ids": "zero"}, "shard numbers separated by commas"),
        ({"shard_count": "2", "shard_ids": "1,1"}, "lists a shard twice"),
    ],
)
def test_bad_shard_settings_are_refused_with_a_reason(
    tmp_path: Path, options: dict[str, str], says: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(tmp_path, **options)
    assert says in str(refused.value)


def test_a_bad_shard_setting_stops_the_command_line_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("SHARD_COUNT", "2")
    monkeypatch.setenv("SHARD_IDS", "5")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["run"])
    message = str(stopped.value.code)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("musicbot: bad setting")
    assert "SHARD_IDS 5 out of range" in message and "0 to 1" in message


async def test_a_sharded_bot_process_identifies_as_its_shard(
    tmp_path: Path, dataset_path: Path
) -> None:
    """`musicbot run` with SHARD_COUNT=2 SHARD_IDS=1 connects to the (fake) gateway as
    shard 1 of 2 only; the process with SHARD_IDS=0 would take the other guilds."""
    small = write_small_csv(dataset_path, tmp_path / "small.csv")
    env = process_env(tmp_path, small, discord_token=FAKE_TOKEN, shard_count=2, shard_ids=1)
    save_new_model(Settings(_env_file=None, model_dir=tmp_path / "models"), quick_model(small))
    fake = await FakeDiscord().start()
    log = tmp_path / "bot.log"
    try:
        bot = fake.run_bot(env, tmp_path, log)
        try:
            deadline = time.monotonic() + 90
            while not fake.identified and bot.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            assert fake.identified, log.read_text()
            await asyncio.sleep(2)  # the READY that answers IDENTIFY is parsed, as in real life
            bot.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(_wait, bot, 60)
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGUSR1)  # its threads' stacks, for the failure below
                await asyncio.sleep(1)
                bot.kill()
                bot.wait()
    finally:
        await fake.stop()
    assert code == 0, log.read_text()
    assert fake.shards == [[1, 2]], log.read_text()


def _wait(process: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return process.wait(seconds)
    except subprocess.TimeoutExpired:
        return None
