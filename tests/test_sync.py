"""Publishing the command tree: on start only when it changed (Discord rate-limits syncs),
and `musicbot sync [--guild ID]` on demand. Against the fake Discord of fake_discord.py,
which records every sync; no network."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import discord
import pytest
from fake_discord import BOT_ID, FakeDiscord
from retrain_support import process_env

from bot import create_bot
from bot.core.settings import Settings
from bot.frontends.discord_app import MusicBot
from bot.frontends.slash import (
    TREE_HASH_FILE,
    install_app_commands,
    login_for_commands,
    publish_if_changed,
)

FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.fake-token-for-tests-0123456789abcdef"


@pytest.fixture
async def fake(monkeypatch: pytest.MonkeyPatch):
    fake = await FakeDiscord().start()
    monkeypatch.setattr(discord.http.Route, "BASE", fake.url + "/api/v10")
    yield fake
    await fake.stop()


async def logged_in(data_dir: Path, **settings: object) -> MusicBot:
    """A bot process as far as on_ready needs: its tree built, logged in over HTTP (with
    no setup_hook: no model, no database)."""
    bot = create_bot(Settings(_env_file=None, data_dir=data_dir, **settings))
    install_app_commands(bot)
    await login_for_commands(bot, FAKE_TOKEN)
    return bot


async def test_a_start_publishes_the_tree_only_when_it_changed(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    first = await logged_in(tmp_path)
    try:
        assert str(first.application_id) == BOT_ID
        assert await publish_if_changed(first)
        assert len(fake.synced) == 1 and fake.synced[0][0] is None
        assert {"recommend", "session", "retrain", "Songs like this"} <= set(fake.synced[0][1])
        assert (tmp_path / TREE_HASH_FILE).exists()
    finally:
        await first.http.close()

    # The next start with the same commands: nothing is sent.
    again = await logged_in(tmp_path)
    try:
        assert not await publish_if_changed(again)
        assert len(fake.synced) == 1
    finally:
        await again.http.close()

    # LISTENING on adds the user menu and makes a song optional: the tree changed.
    listening = await logged_in(tmp_path, listening=True)
    try:
        assert await publish_if_changed(listening)
        assert len(fake.synced) == 2 and "Recommend from their listening" in fake.synced[1][1]
        assert not await publish_if_changed(listening)
    finally:
        await listening.http.close()


async def test_a_failed_sync_is_tried_again_at_the_next_start(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await logged_in(tmp_path)
    try:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.url + "/api/nowhere")
        assert not await publish_if_changed(bot)  # logged, not raised; prefix commands work
        assert not (tmp_path / TREE_HASH_FILE).exists()
        monkeypatch.setattr(discord.http.Route, "BASE", fake.url + "/api/v10")
        assert await publish_if_changed(bot)
    finally:
        await bot.http.close()


async def test_a_data_folder_that_cannot_be_written_does_not_stop_the_sync(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    """A full disk or read-only DATA_DIR: the commands are published, and the bot goes on
    (the next start publishes them again), instead of on_ready failing half-way."""
    (tmp_path / TREE_HASH_FILE).mkdir()  # where the note goes, a file cannot be written
    bot = await logged_in(tmp_path)
    try:
        assert await publish_if_changed(bot)
        assert len(fake.synced) == 1
    finally:
        await bot.http.close()


async def test_a_sync_with_discord_unreachable_is_logged_not_raised(
    fake: FakeDiscord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await logged_in(tmp_path)
    try:
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        monkeypatch.setattr(discord.http.Route, "BASE", f"http://127.0.0.1:{port}/api/v10")
        assert not await publish_if_changed(bot)  # the connection refused: logged
        assert not (tmp_path / TREE_HASH_FILE).exists()
    finally:
        await bot.http.close()


async def test_musicbot_sync_publishes_to_one_server_at_once(
    fake: FakeDiscord, tmp_path: Path, dataset_path: Path
) -> None:
    env = process_env(tmp_path, dataset_path, discord_token=FAKE_TOKEN)
    command = [sys.executable, "-c", fake.launcher("sync", "--guild", "123456789012345678")]
    done = await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Published" in done.stdout and "server 123456789012345678" in done.stdout
    ((guild, names),) = fake.synced
    assert guild == "123456789012345678" and "recommend" in names
    # Nothing heavy happened: no model trained or loaded, no database made.
    assert not (tmp_path / "models").exists() and not (tmp_path / "data").exists()


async def test_ready_publishes_once_per_process_even_after_reconnects(
    fake: FakeDiscord, tmp_path: Path
) -> None:
    bot = await logged_in(tmp_path)
    try:
        await bot.on_ready()
        (tmp_path / TREE_HASH_FILE).unlink()  # even if the tree looked new again
        await bot.on_ready()  # READY after a reconnect
        assert len(fake.synced) == 1
    finally:
        await bot.http.close()
