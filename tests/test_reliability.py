"""Safe to leave running: no command stalls the others, a database that refuses writes
costs no answer, and members can only do what is theirs to do. Through `Services.handle`
(dispatch and the real handlers) with the real model, on a SQLite file and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import subprocess
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from bot.core.dispatch import PREFIX, RequestContext, Services
from bot.core.replies import Kind
from bot.core.serving import ModelHolder
from bot.core.settings import Settings
from bot.features.feedback.tables import Feedback
from bot.features.feedback.targets import Votes
from bot.features.feedback.votes import record_vote
from bot.features.recommend.replies import pick_lines
from bot.features.sessions.tables import ListeningSession

GUILD = 7


@pytest.fixture(scope="module")
async def services(tmp_path_factory: pytest.TempPathFactory, recommender, database_url: str):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("reliability"),
        database_url=database_url,
        model_dir=Path("/nonexistent"),  # the model comes from the holder
        cooldown_rate=0,
        session_max_songs=3,
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    yield services
    await services.close()


def member(uid: int, channel: int = 8, guild: int = GUILD, **extra) -> RequestContext:
    return RequestContext(
        guild_id=guild, channel_id=channel, user_id=uid, user_name=f"u{uid}", source=PREFIX, **extra
    )


# -- no command stalls everyone -------------------------------------------------------
async def test_a_slow_group_ranking_never_holds_up_another_members_recommend(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one session's ranking is still working (held until the test lets it go),
    another member's !recommend is answered: the ranking is not on the event loop."""
    import bot.features.sessions.handlers as sessions

    ranking, release = threading.Event(), threading.Event()
    waited: list[bool] = []
    real = sessions.group_picks

    def slow_group_picks(*args, **kwargs):
        ranking.set()
        # Only a safety net: on the event loop this would hold everything until then.
        waited.append(release.wait(timeout=10))
        return real(*args, **kwargs)

    monkeypatch.setattr(sessions, "group_picks", slow_group_picks)
    channel = 81
    await services.handle("session", member(1, channel), "start slow one")
    added = await services.handle("session", member(1, channel), "add bad guy - billie eilish")
    assert added.title.startswith("Added")

    next_up = asyncio.create_task(services.handle("session", member(2, channel), "next 3"))
    assert await asyncio.to_thread(ranking.wait, 10)
    other = await services.handle("recommend", member(3, 82), "shape of you")
    answered_while_ranking = not next_up.done() and not release.is_set()
    release.set()
    picks = await next_up

    assert other.title.startswith("Songs like Shape of You")
    assert answered_while_ranking and waited == [True]
    assert picks.title.startswith("Up next for slow one") and len(picks.lines) == 3


async def test_a_full_session_says_so_and_keeps_its_songs(services: Services) -> None:
    channel = 83
    await services.handle("session", member(1, channel), "start small")
    for song in ("bad guy - billie eilish", "shape of you", "circles - post malone"):
        assert (await services.handle("session", member(1, channel), f"add {song}")).kind is Kind.OK
    full = await services.handle("session", member(2, channel), "add hello - adele")
    assert full.title == "This session is full"
    assert "3 songs" in full.description and "!session end" in full.description
    shown = await services.handle("session", member(2, channel), "show")
    assert shown.title == "small: 3 songs"


# -- who may do what -------------------------------------------------------------------
async def test_in_a_dm_history_shows_only_your_own(services: Services) -> None:
    dm = member(31, channel=0, guild=0)
    await services.handle("recommend", member(32, channel=0, guild=0), "secret song ask")
    refused = await services.handle("history", dm, "<@123456789012345678>")
    assert refused.title == "Only your own here"
    assert "secret song" not in refused.description
    other = await services.handle("history", dm, str(32_000_000_000_000_032))
    assert other.title == "Only your own here"
    assert (await services.handle("history", dm, "")).kind is Kind.INFO  # your own works


async def test_an_id_no_member_can_have_gets_no_such_member(services: Services) -> None:
    reply = await services.handle("history", member(33), "99999999999999999999")
    assert reply.title == "No such member"
    assert "something went wrong" not in reply.title.lower()


async def test_only_the_starter_or_an_admin_ends_a_session(services: Services) -> None:
    channel = 84
    await services.handle("session", member(41, channel), "start mine")
    refused = await services.handle("session", member(42, channel), "end")
    assert refused.title == "Not your session" and refused.kind is Kind.ERROR
    ended = await services.handle("session", member(43, channel, manages_server=True), "end")
    assert ended.title == "Session ended: mine"
    await services.handle("session", member(41, channel), "start again")
    assert (await services.handle("session", member(41, channel), "end")).title.startswith(
        "Session ended"
    )


async def test_user_text_in_titles_is_escaped(services: Services) -> None:
    channel = 85
    started = await services.handle("session", member(51, channel), "start **loud** _mix_")
    assert started.title == r"Session started: \*\*loud\*\* \_mix\_"
    missing = await services.handle("recommend", member(52), "zzqx **bold** ~~gone~~")
    assert missing.title == r"I couldn't find “zzqx \*\*bold\*\* \~\~gone\~\~”"
    await services.handle("session", member(51, channel), "end")


async def test_forgetme_anonymises_the_names_of_sessions_you_started(services: Services) -> None:
    channel = 86
    await services.handle("session", member(61, channel), "start Alice Smith's birthday")
    await services.handle("session", member(61, channel), "add bad guy - billie eilish")
    await services.handle("session", member(61, channel), "end")
    await services.handle("forgetme", member(61, channel), "")  # asks first on Discord
    from bot.features.privacy.handlers import forget_user

    await forget_user(services.db, 61)
    async with services.db.session() as session:
        names = (
            await session.scalars(
                sa.select(ListeningSession.name).where(ListeningSession.channel_id == channel)
            )
        ).all()
    assert names and not any("Alice" in name for name in names)


async def test_one_vote_per_member_per_pick_of_the_same_question(services: Services) -> None:
    """Asking the same song again shows the same picks under a new message; a 👍 there
    changes the member's vote on that pair instead of counting it again."""
    votes = []
    for message_id in (9001, 9002, 9003):
        reply = await services.handle("recommend", member(71), "bad guy - billie eilish")
        target = reply.find(Votes).targets[0]
        outcome = await record_vote(
            services.db,
            target=target,
            value=1,
            guild_id=GUILD,
            channel_id=8,
            message_id=message_id,
            user_id=71,
        )
        votes.append(outcome)
    assert [v.ok for v in votes] == [True, True, True]
    async with services.db.session() as session:
        rows = (
            await session.scalars(
                sa.select(Feedback).where(
                    Feedback.user_id == 71, Feedback.track_id == target.track_id
                )
            )
        ).all()
    assert len(rows) == 1 and rows[0].value == 1 and rows[0].message_id == 9003
    # Someone else's vote on the same pair is theirs.
    await record_vote(
        services.db,
        target=target,
        value=1,
        guild_id=GUILD,
        channel_id=8,
        message_id=9003,
        user_id=72,
    )
    async with services.db.session() as session:
        count = await session.scalar(
            sa.select(sa.func.count()).where(Feedback.track_id == target.track_id)
        )
    assert count == 2


# -- a database that refuses writes ---------------------------------------------------
async def refuse_writes(services: Services) -> None:
    """Make the real database refuse new rows as a full disk does."""
    engine = services.db.engine
    if engine.dialect.name == "sqlite":
        # SQLite's own "database or disk is full": no page may be added to the file.
        async with engine.connect() as connection:
            pages = await connection.scalar(sa.text("PRAGMA page_count"))

        def cap(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA max_page_count = {pages}")
            cursor.close()

        event.listen(engine.sync_engine, "connect", cap)
        await engine.dispose()  # every connection from now on has the cap
        return
    # PostgreSQL: the server's own disk_full error (SQLSTATE 53100) on every new query row.
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "CREATE FUNCTION disk_full() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql"
            )
        )
        await connection.execute(
            sa.text(
                "CREATE TRIGGER disk_full BEFORE INSERT ON queries "
                "FOR EACH ROW EXECUTE FUNCTION disk_full()"
            )
        )


async def test_a_full_disk_costs_the_history_row_not_the_answer(
    tmp_path: Path, recommender, fresh_database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=fresh_database_url,
        model_dir=Path("/nonexistent"),
        cooldown_rate=0,
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    try:
        # Fill the SQLite file's last page first, so the cap bites on the next rows.
        await services.handle("recommend", member(1), "bad guy")
        await refuse_writes(services)
        caplog.set_level(logging.WARNING, logger="bot.core.db")
        songs = ["bad guy", "shape of you", "circles", "hello", "bad guy"]
        # The rows that still fit the file's last free space are saved; then none is.
        replies = []
        for i in range(80):
            replies.append(await services.handle("recommend", member(100 + i), songs[i % 5]))
            if replies[-1].find(Votes) is None:
                break
        for i in range(20):
            replies.append(await services.handle("recommend", member(200 + i), songs[i % 5]))
        assert all(r.title.startswith("Songs like") for r in replies), replies[-1]
        assert all(len(r.lines) == 10 for r in replies)
        assert all(r.find(Votes) is None for r in replies[-21:])  # nothing stored to vote on
        warnings = [r for r in caplog.records if "database writes are failing" in r.message]
        assert len(warnings) == 1  # not one per message
        assert services.db.health.failing_since is not None
        status = await services.handle("status", member(2), "")
        fields = {f.name: f.value for f in status.fields}
        assert "not being saved since" in fields["History"]
        assert "full" in fields["History"] or "space" in fields["History"]
    finally:
        await services.close()


async def test_when_the_heavy_lane_is_full_a_ranking_is_told_busy_at_once(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.features.sessions.handlers as sessions

    ranking, release = threading.Event(), threading.Event()
    real = sessions.group_picks

    def slow_group_picks(*args, **kwargs):
        ranking.set()
        release.wait(timeout=10)
        return real(*args, **kwargs)

    monkeypatch.setattr(sessions, "group_picks", slow_group_picks)
    monkeypatch.setattr(services.computing, "max_waiting", 0)  # only the running one
    channel = 87
    await services.handle("session", member(1, channel), "start busy one")
    await services.handle("session", member(1, channel), "add bad guy - billie eilish")
    first = asyncio.create_task(services.handle("session", member(2, channel), "next 3"))
    try:
        assert await asyncio.to_thread(ranking.wait, 10)
        second = await services.handle("session", member(3, channel), "next 3")
        assert second.title == "Busy right now" and second.kind is Kind.INFO
    finally:
        release.set()
    assert (await first).title.startswith("Up next for busy one")
    await services.handle("session", member(1, channel), "end")


async def test_a_burst_of_requests_that_must_search_leaves_a_thread_for_an_exact_one(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fifty members asking at once for songs the catalog lacks (each a typo search and an
    artist's answer) made another member's plain "bad guy" wait behind all of them."""
    import bot.features.recommend.handlers as recommend
    from bot.core.compute import Compute

    monkeypatch.setattr(services, "computing", Compute(quick_workers=2))
    searching, release = threading.Semaphore(0), threading.Event()
    real = recommend.find_song

    def slow_search(model, text, *args, **kwargs):
        if text != "bad guy":
            searching.release()
            release.wait(timeout=20)
        return real(model, text, *args, **kwargs)

    monkeypatch.setattr(recommend, "find_song", slow_search)
    texts = [f"levitatin{'g' * i}g forever - dua lipa" for i in range(4)]  # no such titles
    burst = [
        asyncio.create_task(services.handle("recommend", member(10 + i), text))
        for i, text in enumerate(texts)
    ]
    try:
        assert await asyncio.to_thread(searching.acquire, True, 10)  # one search running
        plain = await asyncio.wait_for(services.handle("recommend", member(3), "bad guy"), 10)
        assert plain.lines and not any(task.done() for task in burst)
    finally:
        release.set()
    answers = await asyncio.gather(*burst)
    assert all(answer.title for answer in answers)


def test_a_model_that_starts_serving_is_left_out_of_garbage_collections(recommender) -> None:
    """Python's full collection would walk every name and id of the catalog, stalling
    every request for a tenth of a second or more whenever it runs; a serving model's
    objects are frozen out of it."""
    try:
        ModelHolder().swap(recommender)
        walked = {id(o) for o in gc.get_objects()}
        assert id(recommender.index.names) not in walked
        assert id(recommender.index.track_ids) not in walked
    finally:
        gc.unfreeze()


async def test_a_burst_of_recommends_is_scored_together_and_each_gets_its_own_answer(
    services: Services, recommender, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty members ask at once: the model is read for many of them in one go, and each
    still gets exactly the songs their song gets when asked alone."""
    batch_sizes: list[int] = []
    real = recommender.similar_many

    def similar_many(queries):
        batch_sizes.append(len(queries))
        return real(queries)

    monkeypatch.setattr(recommender, "similar_many", similar_many)
    track_ids = recommender.index.track_ids[::701][:40]
    replies = await asyncio.gather(
        *(
            services.handle("recommend", member(9000 + i, 83), f"spotify:track:{t}")
            for i, t in enumerate(track_ids)
        )
    )
    cap, k = services.settings.artist_cap, services.settings.recommend_count
    for track_id, reply in zip(track_ids, replies, strict=True):
        song = recommender.track(track_id)
        alone = recommender.similar(track_id, k=k, artist_cap=cap)
        assert reply.title == f"Songs like {song.name} — {song.artist}"
        assert reply.lines == pick_lines(alone) and len(alone) == k
    assert sum(batch_sizes) == len(track_ids) and max(batch_sizes) > 1


async def test_a_failing_batch_tells_everyone_in_it_and_the_next_question_still_works() -> None:
    from bot.core.compute import Compute

    compute = Compute(quick_workers=1)
    seen: list[list[int]] = []

    def doubled(questions: list[int]) -> list[int]:
        seen.append(questions)
        if 13 in questions:
            raise ValueError("unlucky")
        return [2 * q for q in questions]

    try:
        assert await compute.batched(doubled, 1) == 2  # idle: asked at once, alone
        asked = [compute.batched(doubled, q) for q in (13, 3, 4)]
        answers = await asyncio.gather(*asked, return_exceptions=True)
        assert seen[1:] == [[13], [3, 4]]  # the first goes at once, the others wait for it
        assert isinstance(answers[0], ValueError) and answers[1:] == [6, 8]
        assert await compute.batched(doubled, 5) == 10 and not compute._batches
    finally:
        compute.close()


@pytest.fixture
def small_disk(tmp_path: Path, database_backend: str):
    """For SQLite, a real small filesystem (tmpfs) the database file lives on, so that it
    can really fill up: every table's pages and the write-ahead log alike."""
    if database_backend != "sqlite":
        yield tmp_path
        return
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"a full disk needs a small filesystem, and mount failed: {done.stderr}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


async def fill_the_disk(services: Services, folder: Path) -> None:
    """No write of any kind fits any more: on SQLite the small filesystem under the file
    is filled to the last byte; on PostgreSQL every table's insert, update and delete
    gets the server's own disk_full error (SQLSTATE 53100)."""
    engine = services.db.engine
    if engine.dialect.name == "sqlite":
        ballast = os.open(folder / "ballast", os.O_WRONLY | os.O_CREAT)
        try:
            for size in (1 << 20, 65536, 4096, 512, 1):  # down to the last byte
                with contextlib.suppress(OSError):
                    while True:
                        os.write(ballast, b"\0" * size)
        finally:
            os.close(ballast)
        return
    async with engine.begin() as connection:
        tables = (
            await connection.scalars(
                sa.text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
        ).all()
        await connection.execute(
            sa.text(
                "CREATE FUNCTION no_space() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'could not extend file: No space left on device' "
                "USING ERRCODE = '53100'; END $$ LANGUAGE plpgsql"
            )
        )
        for table in tables:
            await connection.execute(
                sa.text(
                    f'CREATE TRIGGER no_space BEFORE INSERT OR UPDATE OR DELETE ON "{table}" '
                    "FOR EACH STATEMENT EXECUTE FUNCTION no_space()"
                )
            )


async def test_a_full_disk_gets_every_command_a_clear_answer_never_an_apology(
    small_disk: Path, recommender, database_backend: str, request: pytest.FixtureRequest
) -> None:
    if database_backend == "sqlite":
        url = f"sqlite:///{small_disk / 'musicbot.db'}"
    else:
        url = request.getfixturevalue("fresh_database_url")
    settings = Settings(
        _env_file=None,
        data_dir=small_disk,
        database_url=url,
        model_dir=Path("/nonexistent"),
        cooldown_rate=0,
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    channel, mine, console = 95, member(1, 95), RequestContext(user_id=1, user_name="admin")
    try:
        await services.handle("session", mine, "start before the disk filled")
        await services.handle("session", mine, "add bad guy - billie eilish")
        await services.handle("recommend", mine, "bad guy")
        await fill_the_disk(services, small_disk)
        started = await services.handle("session", member(3, channel + 2), "start full")
        assert started.title == "Storage is full right now" and started.kind is Kind.ERROR
        asked = [
            ("recommend", mine, "hello - adele"),
            ("more", mine, ""),
            ("like", mine, "2"),
            ("refine", mine, "calmer"),
            ("why", mine, "1"),
            ("history", mine, ""),
            ("session", mine, "add circles - post malone"),
            ("session", mine, "next 3"),
            ("session", mine, "show"),
            ("session", mine, "end"),
            ("session", member(2, channel + 1), "start a new one"),
            ("forgetme", mine, ""),
            ("forgetme", console, "confirm"),
            ("status", mine, ""),
            ("help", mine, ""),
        ]
        for name, ctx, text in asked:
            reply = await services.handle(name, ctx, text)
            assert "went wrong" not in reply.title, (name, text, reply)
            if reply.title.startswith("Storage"):
                assert reply.title == "Storage is full right now", (name, text, reply)
                assert "nothing was changed" in reply.description
    finally:
        await services.close()


# -- what members type -----------------------------------------------------------------
BOB = 345_678_901_234_567_892


async def test_control_and_layout_characters_never_reach_storage_or_titles(
    services: Services,
) -> None:
    """NUL (which PostgreSQL refuses), line breaks, right-to-left overrides and
    zero-width characters, in a song, a session's name and a nickname: cleaned the same
    way on both databases, and nothing fails for anyone."""
    channel = 88
    odd = member(91, channel)
    odd = RequestContext(
        guild_id=odd.guild_id,
        channel_id=channel,
        user_id=91,
        user_name="Ev\u202eil\nNick\x00",
        source=PREFIX,
        mentions={BOB: "Bob\u200b\u200b\n\u2066"},
    )
    started = await services.handle("session", odd, "start fri\x00day\n\n\nmix\u202e\u200b")
    assert started.title == "Session started: friday mix"
    added = await services.handle("session", odd, "add bad guy\x00 - billie eilish")
    assert added.title == "Added to friday mix"
    shown = await services.handle("session", odd, "show")
    assert shown.lines[0].note == "· added by Evil Nick"
    async with services.db.session() as session:
        stored = await session.scalar(
            sa.select(ListeningSession.name).where(ListeningSession.channel_id == channel)
        )
    assert stored == "friday mix"

    found = await services.handle("recommend", odd, "shape of\x00 you")
    assert found.title.startswith("Songs like Shape of You") and found.find(Votes) is not None
    missing = await services.handle("recommend", odd, "zzqx\n\n\n\u202eb\u200b")
    assert missing.title == "I couldn't find “zzqx b”"
    status = await services.handle("status", member(93), "")
    assert all(f.name != "History" for f in status.fields)  # history is still being saved

    asked = await services.handle("recommend", member(BOB, channel), "bad guy")
    assert asked.kind is Kind.OK
    theirs = await services.handle("history", odd, f"<@{BOB}>")
    assert theirs.title == "Bob's last 1 query"
    await services.handle("session", odd, "end")


async def test_a_folder_as_data_path_fails_a_retrain_naming_it(
    tmp_path: Path, recommender, database_url: str
) -> None:
    from bot.features.retrain.retrainer import retrainer_for

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        database_url=database_url,
        model_dir=tmp_path / "models",
        data_path=tmp_path,  # a folder, as DATA_PATH=/tmp
        retrain_cron="off",
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    said = []

    async def followup(reply) -> None:
        said.append(reply)

    admin = RequestContext(user_id=1, user_name="admin", is_admin=True, followup=followup)
    try:
        started = await services.handle("retrain", admin, "")
        assert started.title == "Retraining started"
        run = await asyncio.wait_for(retrainer_for(services).task, 60)
        assert run.status == "failed"
        assert f"cannot read {tmp_path}: it is a folder, not a CSV file" in run.error
        assert "IsADirectoryError" not in run.error and "Errno" not in run.error
        assert said[-1].title == f"Retrain #{run.id} failed"
        assert services.models.current is recommender  # nothing changed
    finally:
        await services.close()


async def test_a_flood_of_any_command_costs_its_sender_not_the_others(
    tmp_path: Path, recommender, database_url: str
) -> None:
    """300 !status from one member at once (a command without a cooldown of its own):
    COMMAND_FLOOD_RATE of them are answered, one "slow down", the rest ignored; another
    member is answered as usual."""
    from bot.core.replies import Quiet

    settings = Settings(
        _env_file=None,
        data_dir=tmp_path,
        database_url=database_url,
        model_dir=Path("/nonexistent"),
    )
    services = Services(settings, models=ModelHolder(recommender))
    await services.start()
    try:
        replies = await asyncio.gather(
            *(services.handle("status", member(1), "") for _ in range(300))
        )
        answered = [r for r in replies if r.title == "Status"]
        told = [r for r in replies if r.title == "Slow down a little" and not r.find(Quiet)]
        assert len(answered) == settings.command_flood_rate == 20
        assert len(told) == 1 and len(replies) - 21 == sum(bool(r.find(Quiet)) for r in replies)
        assert (await services.handle("status", member(2), "")).title == "Status"
        other = await services.handle("recommend", member(3), "bad guy")
        assert other.title.startswith("Songs like")
    finally:
        await services.close()
