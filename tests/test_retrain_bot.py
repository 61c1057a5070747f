"""Retraining in the running bot: !retrain, !status, the schedule, the lease, the hot swap.

Real pieces throughout: dpytest drives the discord.py bot, runs are recorded in a real
SQLite file, training runs in a real child process (2 epochs on a few hundred real rows),
and the schedule is a real APScheduler AsyncIOScheduler on the test's event loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import discord.ext.test as dpytest
import psutil
import pytest
import sqlalchemy as sa
from fake_discord import FakeDiscord
from pydantic import ValidationError
from retrain_support import (
    add_version,
    aged,
    group_members,
    lease_expired,
    process_env,
    quick_model,
    run_rows,
    save_new_model,
    serve_copy,
    training_processes,
    write_broken_csv,
    write_head_csv,
    write_small_csv,
)

from bot import create_bot
from bot.core.dispatch import PREFIX, RequestContext, Services
from bot.core.replies import Reply
from bot.core.serving import ModelHolder, PointerWatcher, model_store
from bot.core.settings import Settings
from bot.features.retrain.retrainer import AlreadyRunning, LeaseLost, Retrainer, retrainer_for
from bot.features.retrain.schedule import is_due, parse_cron
from bot.features.retrain.tables import (
    FAILED,
    INTERRUPTED,
    PUBLISHING,
    REFUSED,
    RUNNING,
    SCHEDULE,
    SUCCEEDED,
    TrainingRun,
)
from bot.frontends.discord_app import MusicBot, context_from_message, is_admin

ADMIN_ROLE_ID = 424242424242424242
NEVER_SOON = "0 4 1 1 *"  # Jan 1st: no slot falls inside a test run


@pytest.fixture(scope="module")
def data(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("retrain-data")
    small = write_small_csv(dataset_path, folder / "small.csv")
    return {"small": small, "broken": write_broken_csv(small, folder / "broken.csv")}


def make_settings(
    root: Path, data: dict[str, Path], *, database_url: str | None = None, **extra: object
) -> Settings:
    """A bot whose MODEL_DIR holds a quick model over the small CSV (no start-up training).

    Without `database_url` the bot uses its default SQLite file in data_dir, which the
    process-level tests read directly.
    """
    options: dict[str, object] = {
        "data_dir": root / "data",
        **({"database_url": database_url} if database_url else {}),
        "model_dir": root / "models",
        "data_path": data["small"],
        "retrain_epochs": 2,
        "retrain_timeout_seconds": 120,
        "cooldown_rate": 0,
        **extra,
    }
    settings = Settings(_env_file=None, **options)
    if not model_store(settings).has_model():
        save_new_model(settings, quick_model(data["small"]))  # the catalog of the small CSV
    return settings


async def start_bot(settings: Settings) -> MusicBot:
    bot = create_bot(settings)
    await bot._async_setup_hook()
    await bot.setup_hook()
    return bot


async def stop_bot(bot: MusicBot) -> None:
    await bot.remove_cog("Admin")  # stops the scheduler, stops a run in progress
    await bot.services.close()


async def runs(services: Services) -> list[TrainingRun]:
    async with services.db.session() as session:
        return list((await session.scalars(sa.select(TrainingRun).order_by(TrainingRun.id))).all())


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, data: dict[str, Path], database_url: str):
    settings = make_settings(
        tmp_path_factory.mktemp("retrain-bot"),
        data,
        database_url=database_url,
        admin_role_ids=[ADMIN_ROLE_ID],
        retrain_cron=NEVER_SOON,
    )
    bot = await start_bot(settings)
    dpytest.configure(bot, members=3)
    config = dpytest.get_config()
    guild = config.guilds[0]
    admins = dpytest.backend.make_role("DJ admins", guild, id_num=ADMIN_ROLE_ID)
    managers = dpytest.backend.make_role(
        "mods", guild, permissions=discord.Permissions(manage_guild=True).value
    )
    await dpytest.add_role(config.members[0], admins)
    await dpytest.add_role(config.members[2], managers)
    yield bot
    await dpytest.empty_queue()
    await stop_bot(bot)


@pytest.fixture(autouse=True)
async def quiet_queue():
    await dpytest.empty_queue()
    yield
    await dpytest.empty_queue()


ADMIN, MEMBER, MANAGER = 0, 1, 2


async def say(text: str, who: int) -> discord.Embed:
    await dpytest.message(text, member=who)
    return dpytest.get_message().embeds[0]


async def finished(bot: MusicBot) -> TrainingRun:
    task = retrainer_for(bot.services).task
    assert task is not None
    return await asyncio.wait_for(task, timeout=120)


async def test_only_admins_may_retrain(bot: MusicBot) -> None:
    members = dpytest.get_config().members
    assert not is_admin(members[MEMBER], bot.settings)
    assert is_admin(members[ADMIN], bot.settings)  # role in ADMIN_ROLE_IDS
    assert is_admin(members[MANAGER], bot.settings)  # Manage Server permission
    before = await runs(bot.services)

    refused = await say("!retrain", MEMBER)

    assert refused.title == "Admins only"
    assert "Manage Server" in refused.description
    assert await runs(bot.services) == before
    assert not retrainer_for(bot.services).running


async def test_with_home_guild_ids_only_their_admins_and_the_owner_may_act_on_the_model(
    bot: MusicBot,
) -> None:
    """The model is shared by every server: the admins of a server the bot merely joined
    may not retrain, roll back or export it once HOME_GUILD_IDS names the home servers."""
    guild = dpytest.get_config().guilds[0]
    members = dpytest.get_config().members
    before = await runs(bot.services)
    bot.settings.home_guild_ids = [guild.id + 1]  # this server is not a home server
    try:
        for command in ("!retrain", "!rollback", "!export"):
            refused = await say(command, MANAGER)
            assert refused.title == "Admins only", command
            assert "home servers" in refused.description
        assert await runs(bot.services) == before
        # A Manage Server admin still moderates their own server (e.g. ends any session).
        context = context_from_message(bot, await dpytest.message("hi", member=MANAGER))
        assert context.manages_server and not context.is_admin
        # The bot's owner may, anywhere.
        bot.owner_id = members[MEMBER].id
        allowed = await say("!rollback no-such-version", MEMBER)
        assert allowed.title == "Can't roll back"
        bot.settings.home_guild_ids = [guild.id]  # now it is one
        assert (await say("!rollback no-such-version", MANAGER)).title == "Can't roll back"
    finally:
        bot.settings.home_guild_ids = []
        bot.owner_id = None


async def test_recommend_answers_during_a_retrain_then_the_new_model_serves(
    bot: MusicBot,
) -> None:
    old = bot.services.models.current
    track = old.catalog.tracks.iloc[0]
    ask = f"!recommend {track['track_name']} - {track['track_artist']}"

    started = await say("!retrain", ADMIN)
    assert started.title == "Retraining started"
    run_id = int(started.description.split("run #")[1].split(".")[0])
    assert f"Retraining started, run #{run_id}" in started.description

    clock = time.perf_counter()
    during = await say(ask, MEMBER)
    answered_in = time.perf_counter() - clock
    busy = await say("!retrain", MANAGER)
    assert retrainer_for(bot.services).running, "the run should still be going"

    assert during.title.startswith("Songs like"), during.title
    assert old.version in during.footer.text
    assert answered_in < 5, f"!recommend took {answered_in:.1f}s during a retrain"
    assert busy.title == "Already retraining"
    assert "already running since" in busy.description and f"run #{run_id}" in busy.description

    run = await finished(bot)
    outcome = dpytest.get_message().embeds[0]  # posted in the same channel when done

    assert run.id == run_id and run.status == SUCCEEDED, run.error
    assert run.trigger == "admin" and run.user_id == dpytest.get_config().members[ADMIN].id
    assert run.finished_at is not None and run.metrics["counts"]["tracks"] == len(old)
    assert outcome.title == f"Retrain #{run_id} finished"
    assert run.model_version in outcome.description
    new = bot.services.models.current
    assert new.version == run.model_version != old.version
    assert model_store(bot.settings).current_version() == new.version
    after = await say(ask, MEMBER)
    assert new.version in after.footer.text
    assert len(await runs(bot.services)) == run_id  # the refused second !retrain started nothing


async def test_broken_csv_keeps_the_old_model_and_marks_the_run_failed(
    bot: MusicBot, data: dict[str, Path]
) -> None:
    store = model_store(bot.settings)
    serving, versions = bot.services.models.current.version, store.versions()
    bot.settings.data_path = data["broken"]
    try:
        started = await say("!retrain", MANAGER)
        run = await finished(bot)
    finally:
        bot.settings.data_path = data["small"]
    outcome = dpytest.get_message().embeds[0]

    assert started.title == "Retraining started"
    assert run.status == FAILED
    assert "broken training data" in run.error and "danceability" in run.error
    assert outcome.title == f"Retrain #{run.id} failed"
    # The channel gets the short reason; the detail (it names files and columns) is for
    # admins in !status, and the log.
    assert "broken training data" in outcome.description and serving in outcome.description
    assert "danceability" not in outcome.description
    assert str(data["broken"].parent) not in outcome.description
    assert "!status" in outcome.description
    assert bot.services.models.current.version == serving
    assert store.current_version() == serving and store.versions() == versions

    status = await say("!status", MEMBER)
    text = "\n".join(f"{f.name}: {f.value}" for f in status.fields)
    assert f"run #{run.id}" in text and "failed" in text and "broken training data" in text
    assert serving in text
    assert "danceability" not in text  # the detail (it may name files) is for admins
    admin = await say("!status", ADMIN)
    assert "danceability" in "\n".join(f.value for f in admin.fields)


async def test_a_killed_training_process_fails_the_run_and_keeps_the_model(
    bot: MusicBot,
) -> None:
    """SIGKILL is what the kernel's OOM killer sends."""
    retrainer = retrainer_for(bot.services)
    serving = bot.services.models.current.version
    started = await say("!retrain", ADMIN)
    for _ in range(200):
        if retrainer.job is not None and retrainer.job.pid is not None:
            break
        await asyncio.sleep(0.02)
    assert retrainer.job is not None and retrainer.job.pid is not None, started.description
    retrainer.job.kill()

    run = await finished(bot)
    outcome = dpytest.get_message().embeds[0]

    assert run.status == FAILED and "killed (SIGKILL; out of memory?)" in run.error
    assert outcome.title == f"Retrain #{run.id} failed"
    assert bot.services.models.current.version == serving
    assert model_store(bot.settings).current_version() == serving


async def test_scheduled_outcomes_are_posted_in_retrain_channel_id(
    bot: MusicBot, data: dict[str, Path]
) -> None:
    retrainer = retrainer_for(bot.services)
    channel = dpytest.get_config().channels[0]
    bot.settings.retrain_channel_id = channel.id
    bot.settings.data_path = data["broken"]  # a quick run; the outcome is what matters
    try:
        run = await retrainer.start(SCHEDULE, notify=retrainer.scheduled_notify)
        assert run is not None
        await finished(bot)
    finally:
        bot.settings.data_path = data["small"]
        bot.settings.retrain_channel_id = None
    posted = dpytest.get_message()

    assert posted.channel.id == channel.id
    assert posted.embeds[0].title == f"Retrain #{run.id} failed"


async def test_status_shows_model_data_schedule_and_uptime(bot: MusicBot) -> None:
    status = await say("!status", ADMIN)
    fields = {f.name: f.value for f in status.fields}

    model = bot.services.models.current
    assert model.version in fields["Model"] and "trained 20" in fields["Model"]
    assert f"{len(model)} tracks" in fields["Data"] and "playlists" in fields["Data"]
    # What the serving model's training chose to add to similarity (a retrain earlier in
    # this module serves a trained model with the tuned prior; the small catalog, no walk).
    assert model.popularity_weight == 0.05 and model.walk is None
    assert fields["Scoring"] == "similarity + 0.05 × popularity; no playlist walk"
    assert "run #" in fields["Last retrain"]
    assert "2027-01-01 04:00 UTC" in fields["Next scheduled retrain"]
    assert "Uptime" in fields


async def test_scheduled_job_fires_through_apscheduler_and_coalesces(
    tmp_path: Path, data: dict[str, Path], fresh_database_url: str
) -> None:
    bot = await start_bot(
        make_settings(tmp_path, data, database_url=fresh_database_url, retrain_cron=NEVER_SOON)
    )
    try:
        retrainer = retrainer_for(bot.services)
        scheduler = retrainer.scheduler
        assert scheduler is not None and scheduler.running
        job = scheduler.job()
        assert job is not None and job.coalesce and job.max_instances == 1
        assert scheduler.next_run_time() == datetime(2027, 1, 1, 4, tzinfo=UTC)
        assert await runs(bot.services) == []  # nothing was missed: the model is new

        scheduler.fire_now()  # the real scheduler runs the real job on this loop
        for _ in range(100):
            if retrainer.task is not None:
                break
            await asyncio.sleep(0.05)
        run = await finished(bot)

        assert run.trigger == SCHEDULE and run.user_id is None and run.status == SUCCEEDED
        assert bot.services.models.current.version == run.model_version
        assert scheduler.next_run_time() == datetime(2027, 1, 1, 4, tzinfo=UTC)

        # Fired again for the same slot (as a second bot process would): it is covered.
        scheduler.fire_now()
        await asyncio.sleep(0.5)
        assert not retrainer.running
        assert [r.id for r in await runs(bot.services)] == [run.id]
    finally:
        await stop_bot(bot)


async def test_slots_missed_while_down_run_once_after_restart(
    tmp_path: Path, data: dict[str, Path], fresh_database_url: str
) -> None:
    # Default schedule (Mondays 04:00 UTC); broken data keeps the runs short: this test
    # is about how many runs happen, not how they end.
    settings = make_settings(
        tmp_path, data, database_url=fresh_database_url, data_path=data["broken"]
    )
    first = await start_bot(settings)
    month_ago = datetime.now(UTC) - timedelta(days=30)
    async with first.services.db.writing() as session:
        session.add(
            TrainingRun(
                trigger=SCHEDULE,
                status=SUCCEEDED,
                started_at=month_ago,
                finished_at=month_ago + timedelta(minutes=1),
                model_version="old",
            )
        )
    await stop_bot(first)

    second = await start_bot(settings)  # four Mondays passed "while the bot was down"
    try:
        retrainer = retrainer_for(second.services)
        for _ in range(100):
            if retrainer.task is not None:
                break
            await asyncio.sleep(0.05)
        catch_up = await finished(second)
        assert catch_up.trigger == SCHEDULE and catch_up.status == FAILED
    finally:
        await stop_bot(second)

    third = await start_bot(settings)  # and the next restart owes nothing
    try:
        await asyncio.sleep(0.5)
        assert retrainer_idle(third)
        assert [r.model_version for r in await runs(third.services)][:1] == ["old"]
        assert len(await runs(third.services)) == 2, "missed slots must coalesce into one run"
    finally:
        await stop_bot(third)


def retrainer_idle(bot: MusicBot) -> bool:
    return retrainer_for(bot.services).task is None


async def test_two_processes_never_train_at_once(
    tmp_path: Path, data: dict[str, Path], fresh_database_url: str
) -> None:
    """Two Services on one database stand for two bot processes; the lease row decides."""
    settings = make_settings(  # broken data: a quick run
        tmp_path, data, database_url=fresh_database_url, data_path=data["broken"]
    )
    one, two = Services(settings), Services(settings)
    await one.start()
    await two.start()
    try:
        first, second = Retrainer(one), Retrainer(two)
        both = await asyncio.gather(first.start(), first.start(), return_exceptions=True)
        (run,) = [r for r in both if isinstance(r, TrainingRun)]
        (same,) = [r for r in both if isinstance(r, AlreadyRunning)]
        assert not same.elsewhere and same.run_id == run.id
        with pytest.raises(AlreadyRunning) as busy:
            await second.start()
        assert busy.value.elsewhere and busy.value.run_id == run.id
        assert (await first.task).status == FAILED  # broken data, but the lease is freed
        assert (await second.start()) is not None
        await second.task

        # A holder that dies keeps the lease only until it expires; its run is then
        # recorded as interrupted by whoever takes over.
        dying = Retrainer(one, lease_seconds=0.5)
        assert await dying._acquire_lease() is None
        async with one.db.writing() as session:
            session.add(TrainingRun(trigger=SCHEDULE, status=RUNNING))
        assert await second.recover() == 0  # lease still held: a live run is left alone
        await asyncio.sleep(0.7)
        assert await second.recover() == 1
        last = (await runs(one))[-1]
        assert last.status == INTERRUPTED and "stopped" in last.error
    finally:
        await one.close()
        await two.close()


def test_retrain_cron_is_crontab_in_utc_and_bad_values_stop_startup() -> None:
    monday = parse_cron("0 4 * * 1")
    friday = datetime(2026, 11, 27, 5, tzinfo=UTC)
    assert monday.get_next_fire_time(None, friday) == datetime(2026, 11, 30, 4, tzinfo=UTC)
    assert parse_cron("0 4 * * 0").get_next_fire_time(None, friday).strftime("%a") == "Sun"
    assert parse_cron("off") is None
    # Coalescing: one run owed however many slots passed; none right after a run.
    assert is_due(monday, friday - timedelta(days=30), friday)
    assert not is_due(monday, datetime(2026, 11, 23, 4, 0, 1, tzinfo=UTC), friday)
    for bad in ("0 4 * *", "61 4 * * 1", "0 4 * * 8", "weekly"):
        with pytest.raises(ValidationError, match="RETRAIN_CRON"):
            Settings(_env_file=None, retrain_cron=bad)


# -- the blessing gate, force, rollback (handlers, as in the console) ------------------------
def console(said: list[Reply] | None = None, admin: bool = True, user_id: int = 7):
    async def followup(reply: Reply) -> None:
        if said is not None:
            said.append(reply)

    return RequestContext(user_id=user_id, is_admin=admin, source=PREFIX, followup=followup)


def field_map(reply: Reply) -> dict[str, str]:
    return {f.name: f.value for f in reply.fields}


@pytest.fixture(scope="module")
async def full(
    tmp_path_factory: pytest.TempPathFactory, data: dict[str, Path], trained_model_dir: Path
):
    """A process serving the real model (whole catalog), retraining with 2 epochs."""
    root = tmp_path_factory.mktemp("full")
    settings = Settings(
        _env_file=None,
        data_dir=root / "data",
        model_dir=root / "models",
        data_path=data["small"],
        retrain_epochs=2,
        retrain_timeout_seconds=180,
        cooldown_rate=0,
        retrain_cron=NEVER_SOON,
    )
    serve_copy(model_store(settings), trained_model_dir)
    services = Services(settings)
    await services.start()
    yield services
    await services.close()


async def retrain_with(services: Services, text: str = "") -> tuple[Reply, TrainingRun, Reply]:
    """`!retrain [text]` as an admin; (the answer, the finished run, the posted outcome)."""
    said: list[Reply] = []
    started = await services.handle("retrain", console(said), text)
    assert started.title == "Retraining started", started.description
    task = retrainer_for(services).task
    assert task is not None
    run = await asyncio.wait_for(task, timeout=240)
    return started, run, said[-1]


@pytest.mark.parametrize("rows", [1, 10, 656], ids=["1-row", "10-rows", "2-percent"])
async def test_a_retrain_on_truncated_data_is_refused_and_kept_for_inspection(
    full: Services, dataset_path: Path, tmp_path: Path, rows: int
) -> None:
    """A partial copy of DATA_PATH (656 rows = 2% of the real file) must never go live."""
    store = model_store(full.settings)
    serving = full.models.current.version
    full.settings.data_path = write_head_csv(dataset_path, tmp_path / "cut.csv", rows)
    try:
        _, run, outcome = await retrain_with(full)
    finally:
        full.settings.data_path = dataset_path

    assert run.status == REFUSED, run.error
    assert "lacks" in run.error and "28,356" in run.error
    assert run.metrics["blessing"]["lost_tracks"] > 27_000
    assert outcome.title == f"Retrain #{run.id} refused"
    assert serving in outcome.description and run.model_version in outcome.description
    assert "force" in outcome.description
    assert full.models.current.version == serving == store.current_version()
    assert store.refusal(run.model_version) == run.error  # kept, marked, not served
    assert run.model_version in store.versions()

    answer = await full.handle("recommend", console(admin=False, user_id=8), "bad guy")
    assert answer.title.startswith("Songs like"), answer.title
    status = field_map(await full.handle("status", console()))
    assert f"run #{run.id}" in status["Last retrain"] and "refused" in status["Last retrain"]
    assert run.model_version in status["Last retrain"] and "lacks" in status["Last retrain"]
    assert f"{run.model_version} (refused)" in status["Kept versions"]
    assert f"{serving} (current)" in status["Kept versions"]


async def test_force_publishes_and_rollback_serves_the_previous_model_again(
    full: Services, dataset_path: Path, tmp_path: Path
) -> None:
    store = model_store(full.settings)
    serving = full.models.current.version
    # Ten songs cannot answer for a catalog of 28,356: not even forced (it used to go
    # live, and every !recommend found nothing).
    full.settings.data_path = write_head_csv(dataset_path, tmp_path / "ten.csv", 10)
    try:
        _, tiny, said = await retrain_with(full, "FORCE")
        assert tiny.status == FAILED and "the new catalog has 10 tracks" in (tiny.error or "")
        assert full.models.current.version == serving == store.current_version()
        assert said.title == f"Retrain #{tiny.id} failed"
        # Enough songs to answer with, far too few for the quality checks.
        full.settings.data_path = write_head_csv(dataset_path, tmp_path / "cut.csv", 1500)
        started, run, outcome = await retrain_with(full, "FORCE")
    finally:
        full.settings.data_path = dataset_path

    assert "no quality checks" in started.description
    assert run.status == SUCCEEDED and run.metrics["forced"] is True, run.error
    assert outcome.title == f"Retrain #{run.id} finished" and "Forced" in outcome.description
    assert full.models.current.version == run.model_version == store.current_version()
    assert 1000 <= len(full.models.current) <= 1500

    member = await full.handle("rollback", console(admin=False, user_id=8), "")
    assert member.title == "Admins only"
    unknown = await full.handle("rollback", console(), "19990101-000000-000000")
    assert unknown.title == "Can't roll back" and "no kept version" in unknown.description
    assert serving in unknown.description  # the kept versions are listed
    refused = [name for name in store.versions() if store.refusal(name)]
    if refused:
        again = await full.handle("rollback", console(), refused[-1])
        assert again.title == "Can't roll back" and "refused" in again.description
    odd = await full.handle("retrain", console(), "now please")
    assert odd.title == "Unknown option"

    back = await full.handle("rollback", console(), "")

    assert back.title == "Rolled back", back.description
    assert serving in back.description and run.model_version in back.description
    assert full.models.current.version == serving == store.current_version()
    answer = await full.handle("recommend", console(admin=False, user_id=8), "bad guy")
    assert answer.title.startswith("Songs like")
    status = field_map(await full.handle("status", console()))
    assert serving in status["Model"] and f"{serving} (current)" in status["Kept versions"]
    assert run.model_version in status["Kept versions"]  # kept, to roll forward to
    # The rollback is on record in the database, not only in the log, and in !status.
    (record,) = [r for r in await runs(full) if r.trigger == "rollback"]
    assert (record.status, record.model_version) == (SUCCEEDED, serving)
    assert record.metrics["previous_version"] == run.model_version
    assert f"to {serving} (replacing {run.model_version})" in status["Last rollback"]
    assert f"run #{run.id}" in status["Last retrain"]  # a rollback is not a retrain

    forward = await full.handle("rollback", console(), run.model_version)
    assert forward.title == "Rolled back" and full.models.current.version == run.model_version
    await full.handle("rollback", console(), serving)
    assert full.models.current.version == serving
    same = await full.handle("rollback", console(), serving)
    assert same.title == "Can't roll back" and "already serving" in same.description


async def test_rollback_waits_for_a_retrain_in_progress(
    tmp_path: Path, data: dict[str, Path]
) -> None:
    settings = make_settings(tmp_path, data, retrain_epochs=100_000)
    services = Services(settings)
    await services.start()
    try:
        await services.handle("retrain", console(), "")
        busy = await services.handle("rollback", console(), "")
        assert busy.title == "Retraining now" and "already running" in busy.description
    finally:
        await services.close()
    assert [r.status for r in await runs_of(settings)] == [INTERRUPTED]


async def runs_of(settings: Settings) -> list[TrainingRun]:
    services = Services(settings)
    try:
        return await runs(services)
    finally:
        await services.close()


# -- start-up with a damaged current version -------------------------------------------------
async def test_start_up_serves_the_newest_healthy_version_when_current_is_damaged(
    tmp_path: Path, data: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, data)
    store = model_store(settings)
    healthy = store.current_version()
    damaged = add_version(store, quick_model(data["small"], seed=5))
    store.publish(damaged)
    (damaged / "embeddings.npy").write_bytes(b"")  # e.g. a disk that filled up

    said: list[str] = []
    with caplog.at_level("WARNING"):
        bot = await start_bot(settings)
    try:
        assert bot.services.models.current.version == healthy
        assert store.current_version() == healthy
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len([r for r in warnings if damaged.name in r.getMessage()]) == 1
        services = Services(settings)
        await services.start(say=said.append)
        await services.close()
        assert not any("training" in line.lower() for line in said), said
    finally:
        await stop_bot(bot)


# -- crash safety: record before switch, reconcile at start-up, lease heartbeats --------------
async def test_the_run_says_publishing_before_the_pointer_switches(
    tmp_path: Path, data: dict[str, Path]
) -> None:
    """What a crash right after the switch would leave: the run names the live version."""
    settings = make_settings(tmp_path, data)
    services = Services(settings)
    await services.start()
    retrainer = retrainer_for(services)
    seen: list[tuple] = []
    switch = retrainer.store.switch

    def recording_switch(name: str, *why: object) -> None:
        seen.append(run_rows(settings.data_dir / "musicbot.db")[-1])
        switch(name, *why)

    retrainer.store.switch = recording_switch  # type: ignore[method-assign]
    try:
        await retrainer.start()
        run = await retrainer.task
    finally:
        await services.close()
    assert run.status == SUCCEEDED, run.error
    assert seen == [(run.id, "publishing", run.model_version, None)]


@pytest.mark.parametrize("pointer_moved", [True, False], ids=["after-switch", "before-switch"])
async def test_start_up_settles_a_run_left_publishing_by_a_crash(
    tmp_path: Path, data: dict[str, Path], pointer_moved: bool
) -> None:
    settings = make_settings(tmp_path, data, retrain_lease_seconds=1, retrain_heartbeat_seconds=0.5)
    store = model_store(settings)
    before = store.current_version()
    candidate = add_version(store, quick_model(data["small"], seed=3))
    if pointer_moved:
        store.switch(candidate.name)
    crashed = Services(settings)
    await crashed.start()
    dead = Retrainer(crashed)
    assert await dead._acquire_lease() is None  # the crashed process held it...
    async with crashed.db.writing() as session:
        session.add(TrainingRun(trigger=SCHEDULE, status=PUBLISHING, model_version=candidate.name))
    await crashed.db.close()  # ...and never released it

    await asyncio.sleep(1.2)
    bot = await start_bot(settings)
    try:
        (run,) = await runs(bot.services)
        status = field_map(await bot.services.handle("status", console()))
    finally:
        await stop_bot(bot)

    if pointer_moved:
        assert run.status == SUCCEEDED and run.model_version == candidate.name
        assert bot.services.models.current.version == candidate.name
        assert f"→ {candidate.name}" in status["Last retrain"]
    else:
        assert run.status == INTERRUPTED and run.model_version is None
        assert bot.services.models.current.version == before == store.current_version()
        assert not candidate.exists(), "an unpublished candidate of a dead run is removed"
        assert "interrupted" in status["Last retrain"]


async def test_the_lease_is_renewed_by_heartbeats_and_expires_when_they_stop(
    tmp_path: Path, data: dict[str, Path]
) -> None:
    settings = make_settings(
        tmp_path,
        data,
        retrain_epochs=100_000,
        retrain_heartbeat_seconds=0.2,
        retrain_lease_seconds=0.6,
    )
    one, two = Services(settings), Services(settings)
    await one.start()
    await two.start()
    try:
        first, second = Retrainer(one), Retrainer(two)
        run = await first.start()
        await asyncio.sleep(1.5)  # more than two lease lengths: only heartbeats keep it
        assert await second._acquire_lease() is not None, "a renewed lease stays taken"
        assert first.heartbeat is not None
        first.heartbeat.cancel()  # the process froze (or its database link did)
        await asyncio.sleep(0.8)
        assert await second._acquire_lease() is None, "an unrenewed lease must expire"
        with pytest.raises(LeaseLost):  # and the frozen process may no longer publish
            await first._mark_publishing(run.id, "whatever")
        await first.shutdown()
    finally:
        await one.close()
        await two.close()


# -- every process serves the same model -------------------------------------------------------
# MODEL_POLL_SECONDS (at most 2 here) plus loading the model, with room for a busy test machine.
POLL_BOUND = 10.0


async def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")
        await asyncio.sleep(0.05)


async def test_a_model_published_by_another_process_serves_here_within_the_poll_interval(
    tmp_path: Path, data: dict[str, Path]
) -> None:
    """Two bots on one MODEL_DIR and database stand for two bot processes."""
    settings = make_settings(tmp_path, data, model_poll_seconds=2.0, retrain_cron=NEVER_SOON)
    trainer, other = await start_bot(settings), await start_bot(settings)
    try:
        before = other.services.models.current.version
        # The other process's watch waits out the retrain: on a busy machine a 2 s poll can
        # land between the trainer's pointer switch and the run's end, and "not told
        # directly" would then race it. Resuming it below is what must bring the new model.
        watch = other.get_cog("Admin").watcher
        await watch.stop()
        _, run, _ = await retrain_with(trainer.services)
        assert run.status == SUCCEEDED, run.error
        assert other.services.models.current.version == before  # not told directly
        watch.start()

        await wait_until(
            lambda: other.services.models.current.version == run.model_version,
            POLL_BOUND,
            "the other process to serve the new model",
        )
        for bot in (trainer, other):
            status = field_map(await bot.services.handle("status", console()))
            assert run.model_version in status["Model"]

        back = await other.services.handle("rollback", console(), "")  # and the reverse way
        assert back.title == "Rolled back"
        await wait_until(
            lambda: trainer.services.models.current.version == before,
            POLL_BOUND,
            "the training process to follow the rollback",
        )
    finally:
        await stop_bot(trainer)
        await stop_bot(other)


# -- stopping a real bot process mid-retrain ---------------------------------------------------
FAKE_TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4OQ.GhIjKl.fake-token-for-tests-0123456789abcdef"


@pytest.fixture
async def fake_discord():
    fake = await FakeDiscord().start()
    yield fake
    await fake.stop()


def aged_settings(root: Path, data: dict[str, Path], **extra: object) -> Settings:
    """MODEL_DIR holds a model made long ago: the bot's start owes a catch-up retrain."""
    settings = Settings(
        _env_file=None,
        data_dir=root / "data",
        model_dir=root / "models",
        data_path=data["small"],
        **extra,
    )
    save_new_model(settings, aged(quick_model(data["small"])))
    return settings


class BotProcess:
    """`musicbot run` (or chat) in a child process, its output in a file."""

    def __init__(self, root: Path, code: str, env: dict[str, str], stdin: bool = False) -> None:
        self.log = root / "bot.log"
        with open(self.log, "w") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", code],
                env=env,
                cwd=root,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                text=True,
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    async def training_child(self, timeout: float = 180) -> psutil.Process:
        found: list[psutil.Process] = []

        def started() -> bool:
            assert self.process.poll() is None, f"the bot exited early:\n{self.output()}"
            found[:] = training_processes(self.pid)
            return bool(found)

        await wait_until(started, timeout, "the retrain's training process")
        return found[0]

    async def exit_code(self, timeout: float = 90) -> int:
        await wait_until(lambda: self.process.poll() is not None, timeout, "the bot to exit")
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def process_settings_env(root: Path, data: dict[str, Path], **extra: object) -> dict[str, str]:
    settings: dict[str, object] = {
        "discord_token": FAKE_TOKEN,
        "retrain_cron": NEVER_SOON,
        "retrain_epochs": 100_000,  # the child stays busy until it is stopped
        "retrain_heartbeat_seconds": 0.5,
        "retrain_lease_seconds": 2,
    }
    return process_env(root, data["small"], **{**settings, **extra})


async def retrain_can_start_at_once(settings: Settings) -> TrainingRun:
    services = Services(settings)
    await services.start()
    try:
        retrainer = Retrainer(services)
        run = await retrainer.start()
        assert run is not None
        await retrainer.shutdown()
        return run
    finally:
        await services.close()


@pytest.mark.parametrize("how", ["run", "chat"])
async def test_sigterm_mid_retrain_stops_everything_and_exits_0(
    tmp_path: Path, data: dict[str, Path], fake_discord: FakeDiscord, how: str
) -> None:
    settings = aged_settings(tmp_path, data, retrain_epochs=100_000)
    env = process_settings_env(tmp_path, data)
    if how == "run":  # the schedule's catch-up run starts the retrain
        bot = BotProcess(tmp_path, fake_discord.launcher("run"), env)
    else:  # an admin types !retrain in the console
        code = "import sys\nfrom bot.frontends.cli import main\nsys.exit(main(['chat']))\n"
        bot = BotProcess(tmp_path, code, env, stdin=True)
        bot.process.stdin.write("!retrain\n")
        bot.process.stdin.flush()
    db = settings.data_dir / "musicbot.db"
    try:
        child = await bot.training_child()
        group = os.getpgid(child.pid)
        assert group == child.pid != os.getpgid(bot.pid), "the child leads its own group"
        assert run_rows(db)[-1][1] == "running"

        bot.process.send_signal(signal.SIGTERM)
        code = await bot.exit_code()
    finally:
        bot.kill()

    assert code == 0, bot.output()
    assert group_members(group) == [], "training processes outlived the bot"
    (run_id, status, version, error) = run_rows(db)[-1]
    assert status == INTERRUPTED and "stopped" in error and version is None
    assert lease_expired(db)
    assert model_store(settings).versions() == [model_store(settings).current_version()]
    assert "Traceback" not in bot.output()
    if how == "run":
        assert fake_discord.identified >= 1, "the bot never connected to the fake gateway"
    assert (await retrain_can_start_at_once(settings)).id == run_id + 1


async def test_a_killed_bot_leaves_no_training_orphan_and_its_lease_expires(
    tmp_path: Path, data: dict[str, Path], fake_discord: FakeDiscord
) -> None:
    settings = aged_settings(tmp_path, data, retrain_epochs=100_000)
    # The lease outlives the bot's death by 8 s: long enough that this process's own start
    # (migrations, loading the model) cannot outlast it on a busy machine.
    env = process_settings_env(tmp_path, data, retrain_lease_seconds=8)
    bot = BotProcess(tmp_path, fake_discord.launcher("run"), env)
    db = settings.data_dir / "musicbot.db"
    try:
        child = await bot.training_child()
    finally:
        bot.kill()  # SIGKILL: no clean-up at all
    serving = model_store(settings).current_version()

    services = Services(settings)
    await services.start()
    try:
        with pytest.raises(AlreadyRunning) as busy:  # the dead holder's lease still runs...
            await Retrainer(services).start()
        assert busy.value.elsewhere
        await wait_until(lambda: not child.is_running() or _zombie(child), 15, "the orphan to stop")
        await wait_until(lambda: lease_expired(db), 12, "the lease to expire")  # ...for 8 s
        fresh = Retrainer(services)
        run = await fresh.start()
        await fresh.shutdown()
    finally:
        await services.close()

    rows = run_rows(db)
    assert rows[0][1] == INTERRUPTED and rows[0][2] is None  # settled by the next run
    assert rows[-1][0] == run.id
    assert model_store(settings).current_version() == serving
    assert model_store(settings).versions() == [serving], "the orphan wrote no model"


def _zombie(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


CRASH_AFTER_SWITCH = (
    "import os\n"
    "from recommender.store import ModelStore\n"
    "_switch = ModelStore.switch\n"
    "def switch_then_die(self, name, *why):\n"
    "    _switch(self, name, *why)\n"
    "    os._exit(9)\n"
    "ModelStore.switch = switch_then_die\n"
)


async def test_a_crash_right_after_the_switch_is_recorded_as_succeeded_at_restart(
    tmp_path: Path, data: dict[str, Path], fake_discord: FakeDiscord
) -> None:
    settings = aged_settings(tmp_path, data, retrain_lease_seconds=2, retrain_heartbeat_seconds=0.5)
    before = model_store(settings).current_version()
    env = process_settings_env(tmp_path, data, retrain_epochs=2)
    bot = BotProcess(tmp_path, CRASH_AFTER_SWITCH + fake_discord.launcher("run"), env)
    try:
        code = await bot.exit_code(timeout=240)
    finally:
        bot.kill()
    assert code == 9, bot.output()
    db = settings.data_dir / "musicbot.db"
    ((run_id, status, version, _),) = run_rows(db)
    assert status == PUBLISHING and version == model_store(settings).current_version() != before

    await wait_until(lambda: lease_expired(db), 5, "the dead process's lease to expire")
    restarted = await start_bot(settings)
    try:
        status_reply = field_map(await restarted.services.handle("status", console()))
        assert restarted.services.models.current.version == version
    finally:
        await stop_bot(restarted)
    assert run_rows(db) == [(run_id, SUCCEEDED, version, None)]
    assert f"run #{run_id}" in status_reply["Last retrain"]
    assert "succeeded" in status_reply["Last retrain"] and version in status_reply["Last retrain"]


async def test_the_pointer_watcher_follows_every_move_and_skips_a_damaged_version(
    tmp_path: Path, data: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    settings = make_settings(tmp_path, data)
    store = model_store(settings)
    first = store.load_current()
    holder = ModelHolder(first)
    watcher = PointerWatcher(holder, store, interval=60)
    assert not await watcher.check()  # already serving what the pointer names

    # This process publishes itself (swaps directly), and before the next poll another
    # process rolls the pointer back: the watcher must follow it back.
    second = store.publish(add_version(store, quick_model(data["small"], seed=1)))
    holder.swap(second)
    store.switch(first.version)
    assert await watcher.check() and holder.current.version == first.version

    broken = add_version(store, quick_model(data["small"], seed=2))
    store.switch(broken.name)
    (broken / "embeddings.npy").write_bytes(b"")
    with caplog.at_level("WARNING", logger="bot.core.serving"):
        assert not await watcher.check()
        assert not await watcher.check()
    assert holder.current.version == first.version
    warned = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([r for r in warned if broken.name in r.getMessage()]) == 1
    store.switch(second.version)
    assert await watcher.check() and holder.current.version == second.version
