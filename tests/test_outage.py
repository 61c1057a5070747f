"""The database goes away while the bot serves: every call has a deadline, the model keeps
answering, commands that need storage say so in one line, `!status` shows the outage and
since when, and the bot recovers by itself when the database is back.

PostgreSQL is the machine's real server behind a TCP proxy on 127.0.0.1 that the tests
turn into a partition (connections accepted, nothing forwarded) or a refusal (nothing
listens); SQLite is a real file that another process holds the write lock of.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url
from tcp_proxy import BLACKHOLE, FORWARD, REFUSE, TcpProxy

from bot.core.dispatch import PREFIX, RequestContext, Services
from bot.core.replies import Reply
from bot.core.serving import ModelHolder
from bot.core.settings import Settings
from bot.features.feedback.targets import Votes

DEADLINE = 1.0  # seconds, for every database call in these tests
# Far past any deadline: a command that has not answered by then hangs (the bug).
HANG = 30.0


def member(uid: int, channel: int = 8) -> RequestContext:
    return RequestContext(
        guild_id=7, channel_id=channel, user_id=uid, user_name=f"u{uid}", source=PREFIX
    )


def settings_for(url: str, folder: Path) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=folder,
        database_url=url,
        model_dir=Path("/nonexistent"),  # the model comes from the holder
        cooldown_rate=0,
        database_connect_timeout_seconds=DEADLINE,
        database_statement_timeout_seconds=DEADLINE,
        database_pool_timeout_seconds=DEADLINE,
    )


async def ask(services: Services, name: str, ctx: RequestContext, text: str = "") -> Reply:
    return await asyncio.wait_for(services.handle(name, ctx, text), HANG)


def field(reply: Reply, name: str) -> str | None:
    return next((f.value for f in reply.fields if f.name == name), None)


def says_storage_is_unavailable(reply: Reply) -> bool:
    return (
        reply.title == "Storage unavailable right now"
        and "recommendations still work" in reply.description
        and "\n" not in reply.description
    )


@pytest.fixture
def proxy() -> TcpProxy:
    proxy = TcpProxy("127.0.0.1", 5432).start()
    yield proxy
    proxy.stop()


@pytest.mark.parametrize("failure", [BLACKHOLE, REFUSE])
async def test_postgres_out_of_reach_the_model_answers_and_storage_says_so(
    failure: str,
    proxy: TcpProxy,
    postgres_server,
    recommender,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real = make_url(postgres_server.create_database())
    proxy.target = (real.host, real.port or 5432)
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    services = Services(settings_for(url, tmp_path), models=ModelHolder(recommender))
    await services.start()
    try:
        assert (await ask(services, "recommend", member(1), "bad guy")).find(Votes) is not None
        await ask(services, "session", member(1, 81), "start before")

        proxy.set_mode(failure)
        caplog.set_level(logging.WARNING, logger="bot.core.db")
        answers = [
            await ask(services, "recommend", member(2), song)
            for song in ("bad guy", "shape of you", "circles", "hello")
        ]
        assert all(a.title.startswith("Songs like") and len(a.lines) == 10 for a in answers)
        assert all(a.find(Votes) is None for a in answers)  # nothing stored to vote on

        for name, text in [
            ("history", ""),
            ("session", "start during"),
            ("session", "show"),
            ("forgetme", ""),
            ("more", ""),
        ]:
            reply = await ask(services, name, member(3, 81), text)
            assert says_storage_is_unavailable(reply), (name, reply)

        status = await ask(services, "status", member(4), "")
        storage = field(status, "Storage")
        assert storage is not None and storage.startswith("unavailable since")
        assert "UTC" in storage and "still answered" in storage
        assert field(status, "Model") is not None  # the rest of !status still shows
        outage_logs = [r for r in caplog.records if "database is unreachable" in r.message]
        assert len(outage_logs) == 1  # once a minute, not once per command

        proxy.set_mode(FORWARD)
        recovered = await ask(services, "history", member(1), "")
        for _ in range(10):  # the first call after the partition may still meet a dead link
            if not says_storage_is_unavailable(recovered):
                break
            await asyncio.sleep(DEADLINE)
            recovered = await ask(services, "history", member(1), "")
        assert recovered.title == "Your last 1 query"  # the one asked before the outage
        assert field(await ask(services, "status", member(4), ""), "Storage") is None
        assert (await ask(services, "recommend", member(2), "bad guy")).find(Votes) is not None
        shown = await ask(services, "session", member(3, 81), "show")
        assert shown.title.startswith("before")
    finally:
        proxy.set_mode(FORWARD)
        await services.close()
        postgres_server.drop_database(real.render_as_string(hide_password=False))


LOCKER = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")  # the write lock, as a long write or a backup holds it
print("locked", flush=True)
sys.stdin.read()
connection.rollback()
"""


async def test_a_sqlite_file_locked_by_another_process_costs_writes_not_answers(
    recommender, tmp_path: Path
) -> None:
    database = tmp_path / "musicbot.db"
    services = Services(
        settings_for(f"sqlite:///{database}", tmp_path), models=ModelHolder(recommender)
    )
    await services.start()
    locker = None
    try:
        await ask(services, "recommend", member(1), "bad guy")
        locker = subprocess.Popen(
            [sys.executable, "-c", LOCKER, str(database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"

        answers = [
            await ask(services, "recommend", member(2), song)
            for song in ("bad guy", "shape of you", "circles")
        ]
        assert all(a.title.startswith("Songs like") and len(a.lines) == 10 for a in answers)
        started = await ask(services, "session", member(3, 82), "start locked out")
        assert says_storage_is_unavailable(started), started
        history = await ask(services, "history", member(1), "")  # reads still work
        assert history.title == "Your last 1 query"
        status = await ask(services, "status", member(4), "")
        saved = field(status, "History")
        assert saved is not None and "not being saved since" in saved and "locked" in saved

        locker.stdin.close()  # the other process lets go
        locker.wait(timeout=10)
        locker = None
        started = await ask(services, "session", member(3, 82), "start locked out")
        for _ in range(10):  # the first write after may be the one call that tries
            if not says_storage_is_unavailable(started):
                break
            await asyncio.sleep(DEADLINE / 2)
            started = await ask(services, "session", member(3, 82), "start locked out")
        assert started.title == "Session started: locked out"
        assert field(await ask(services, "status", member(4), ""), "History") is None
    finally:
        if locker is not None:
            locker.kill()
            locker.wait()
        await services.close()


async def test_many_commands_during_a_partition_wait_one_deadline_not_one_each(
    proxy: TcpProxy, postgres_server, recommender, tmp_path: Path
) -> None:
    """Twenty members ask at once while the database is partitioned: one call tries it,
    the others are told at once, so all are answered within a couple of deadlines."""
    real = make_url(postgres_server.create_database())
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    services = Services(settings_for(url, tmp_path), models=ModelHolder(recommender))
    await services.start()
    try:
        proxy.set_mode(BLACKHOLE)
        await ask(services, "history", member(1), "")  # the database is found out
        loop = asyncio.get_running_loop()
        began = loop.time()
        replies = await asyncio.gather(
            *(ask(services, "history", member(10 + i), "") for i in range(20)),
            *(ask(services, "recommend", member(40 + i), "bad guy") for i in range(20)),
        )
        took = loop.time() - began
        assert all(says_storage_is_unavailable(r) for r in replies[:20])
        assert all(r.title.startswith("Songs like") for r in replies[20:])
        # Not a speed goal: one deadline each, queued on the pool, would be 20+ deadlines.
        assert took < 6 * DEADLINE, took
        assert services.db.outage.since is not None
    finally:
        proxy.set_mode(FORWARD)
        await services.close()
        postgres_server.drop_database(real.render_as_string(hide_password=False))


# -- Discord out of reach ------------------------------------------------------------------
FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.fake-token-for-tests-0123456789abcdef"
GUILDS = ["111111111111111111", "222222222222222222"]


async def test_musicbot_run_says_one_line_per_reconnect_and_names_home_guild_ids(
    tmp_path: Path, dataset_path: Path
) -> None:
    """The real `musicbot run` against a fake Discord that lists two servers, then goes
    away: at start it says HOME_GUILD_IDS is unset (with the ids to set), and each
    reconnect attempt is one INFO line with its reason, without a traceback."""
    from fake_discord import FakeDiscord
    from retrain_support import process_env, quick_model, save_new_model, write_small_csv

    small = write_small_csv(dataset_path, tmp_path / "small.csv")
    env = process_env(tmp_path, small, discord_token=FAKE_TOKEN, retrain_cron="off")
    save_new_model(Settings(_env_file=None, model_dir=tmp_path / "models"), quick_model(small))
    fake = await FakeDiscord(guild_ids=list(GUILDS)).start()
    log = tmp_path / "bot.log"
    stopped = False
    bot = fake.run_bot(env, tmp_path, log)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 90
        while "HOME_GUILD_IDS" not in log.read_text() and bot.poll() is None:
            assert loop.time() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        await fake.stop()  # Discord goes away
        stopped = True
        deadline = loop.time() + 30
        while log.read_text().count("Attempting a reconnect") < 2:
            assert loop.time() < deadline and bot.poll() is None, log.read_text()
            await asyncio.sleep(0.2)
    finally:
        bot.terminate()
        await asyncio.to_thread(bot.wait, 30)
        if not stopped:
            await fake.stop()
    text = log.read_text()
    warning = next(line for line in text.splitlines() if "HOME_GUILD_IDS is not set" in line)
    assert "WARNING" in warning and f"HOME_GUILD_IDS={','.join(GUILDS)}" in warning
    attempts = [line for line in text.splitlines() if "Attempting a reconnect" in line]
    assert len(attempts) >= 2
    assert all(" INFO " in line and "(" in line for line in attempts), attempts
    assert "Traceback" not in text, text
