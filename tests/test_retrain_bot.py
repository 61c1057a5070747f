"""Retraining in the running bot: !retrain, !status, the schedule, the lease, the hot swap.

Real pieces throughout: dpytest drives the discord.py bot, runs are recorded in a real
SQLite file, training runs in a real child process (2 epochs on a few hundred real rows),
and the schedule is a real APScheduler AsyncIOScheduler on the test's event loop.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from retrain_support import quick_model, write_broken_csv, write_small_csv

from bot import create_bot
from bot.core.dispatch import Services
from bot.core.serving import model_store, save_new_model
from bot.core.settings import Settings
from bot.features.retrain.retrainer import AlreadyRunning, Retrainer, retrainer_for
from bot.features.retrain.schedule import is_due, parse_cron
from bot.features.retrain.tables import FAILED, RUNNING, SCHEDULE, SUCCEEDED, TrainingRun
from bot.frontends.discord_app import MusicBot, is_admin

ADMIN_ROLE_ID = 424242424242424242
NEVER_SOON = "0 4 1 1 *"  # Jan 1st: no slot falls inside a test run


@pytest.fixture(scope="module")
def data(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("retrain-data")
    small = write_small_csv(dataset_path, folder / "small.csv")
    return {"small": small, "broken": write_broken_csv(small, folder / "broken.csv")}


def make_settings(
    root: Path, data: dict[str, Path], *, database_url: str, **extra: object
) -> Settings:
    """A bot whose MODEL_DIR holds a quick model over the small CSV (no start-up training)."""
    options: dict[str, object] = {
        "data_dir": root / "data",
        "database_url": database_url,
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
    assert "danceability" in outcome.description and serving in outcome.description
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
        assert last.status == FAILED and "interrupted" in last.error
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
