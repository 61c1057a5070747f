"""👍/👎 votes, !forgetme, !export, and the retrain that learns from sessions and likes.

A real bot (dpytest), a real model on a small slice of the real dataset, a real SQLite
file; button presses go through discord.py's own interaction handling (session_support).
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from urllib.parse import urlparse

import discord.ext.test as dpytest
import numpy as np
import pytest
import sqlalchemy as sa
from session_support import (  # noqa: F401  (fresh: autouse)
    buttons,
    click,
    embed_of,
    fresh,
    member,
    pick_songs,
    say,
    sent_embed,
    settings_for,
    small_model,
    start_bot,
    stop_bot,
    training_options,
)

from bot.core.dispatch import CONSOLE, RequestContext, Services
from bot.core.serving import ModelHolder
from bot.core.text import plain
from bot.core.training_data import gather_training_rows
from bot.features.feedback.tables import DISLIKE, LIKE, Feedback
from bot.features.feedback.targets import QUERY, Votes, VoteTarget
from bot.features.feedback.votes import liked_pairs, record_vote
from bot.features.followups.tables import ConversationTurn
from bot.features.privacy.handlers import CSV_COLUMNS, forget_user
from bot.features.recommend.queries import record_query
from bot.features.recommend.tables import Query
from bot.features.sessions.tables import SessionEntry
from bot.frontends.discord_app import MusicBot
from recommender import Recommender
from recommender.data import catalog_from_rows, read_rows

ADMIN_ROLE_ID = 4242
EPHEMERAL = 64
UPDATE_MESSAGE = 7


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dataset_path: Path, database_url: str):
    csv_path, model_dir = small_model(dataset_path)
    model = Recommender.load(model_dir)
    settings = settings_for(
        tmp_path_factory.mktemp("feedback"),
        csv_path,
        model_dir,
        database_url=database_url,
        admin_role_ids=[ADMIN_ROLE_ID],
    )
    return {"settings": settings, "model": model, "songs": pick_songs(model, 6)}


@pytest.fixture(scope="module")
async def bot(world):
    bot = await start_bot(world["settings"], members=3)
    config = dpytest.get_config()
    admins = dpytest.backend.make_role("DJ admins", config.guilds[0], id_num=ADMIN_ROLE_ID)
    await dpytest.add_role(config.members[2], admins)
    yield bot
    await dpytest.empty_queue()
    await stop_bot(bot)


async def all_rows(bot: MusicBot, model: type, user_id: int | None = None) -> list:
    async with bot.services.db.session() as session:
        statement = sa.select(model)
        if user_id is not None:
            statement = statement.where(model.user_id == user_id)
        return list((await session.scalars(statement.order_by(model.id))).all())


async def test_votes_are_stored_one_per_member_track_and_message(bot: MusicBot, world) -> None:
    alice, bob = member(0), member(1)
    _, song = world["songs"][0]
    message = await say(f"!recommend {song}", 0)
    votes = [b for b in buttons(message) if b["custom_id"].startswith("fb:q:")]
    assert [b["label"] for b in votes] == ["1", "2", "3", "4", "5"] * 2
    assert [b["emoji"]["name"] for b in votes] == ["👍"] * 5 + ["👎"] * 5
    # The follow-up buttons share the message, in the rows above.
    others = [b for b in buttons(message) if not b["custom_id"].startswith("fb:")]
    assert all(b["row"] < votes[0]["row"] for b in others)
    (query,) = await all_rows(bot, Query, alice.id)

    first = await click(bot, message, votes[0]["custom_id"], alice)
    assert first["flags"] == EPHEMERAL and embed_of(first).title == "Vote saved"
    again = await click(bot, message, votes[0]["custom_id"], alice)
    assert "already" in embed_of(again).description
    changed = await click(bot, message, votes[5]["custom_id"], alice)
    assert "Changed your vote" in embed_of(changed).description
    await click(bot, message, votes[0]["custom_id"], bob)
    await click(bot, message, votes[1]["custom_id"], alice)

    stored = await all_rows(bot, Feedback)
    picks = query.recommended_track_ids
    assert {(f.user_id, f.track_id, f.value) for f in stored} == {
        (alice.id, picks[0], DISLIKE),
        (bob.id, picks[0], LIKE),
        (alice.id, picks[1], LIKE),
    }
    assert {(f.message_id, f.query_id, f.seed_track_id) for f in stored} == {
        (message.id, query.id, query.resolved_track_id)
    }
    assert all(f.guild_id == alice.guild.id and f.created_at.tzinfo for f in stored)

    # The same song asked again shows the same picks on another message: a vote there is
    # the member's vote on that pair (song asked about, pick), changed, not a second one.
    other = await say(f"!recommend {song}", 0)
    other_votes = [b for b in buttons(other) if b["custom_id"].startswith("fb:q:")]
    assert other_votes[0]["custom_id"].split(":")[3] == picks[0]
    await click(bot, other, other_votes[0]["custom_id"], alice)
    stored = await all_rows(bot, Feedback)
    assert len(stored) == 3
    (moved,) = [f for f in stored if f.user_id == alice.id and f.track_id == picks[0]]
    assert (moved.value, moved.message_id) == (LIKE, other.id)

    # A vote that matches no answer we gave is refused (Discord only sends our ids, but
    # the database is the judge).
    forged = VoteTarget(QUERY, query.id, "0000000000000000000000", "x")
    outcome = await record_vote(
        bot.services.db,
        target=forged,
        value=LIKE,
        guild_id=alice.guild.id,
        channel_id=message.channel.id,
        message_id=message.id,
        user_id=alice.id,
    )
    assert not outcome.ok and len(await all_rows(bot, Feedback)) == 3


async def test_forgetme_removes_exactly_the_callers_rows(bot: MusicBot, world) -> None:
    carol, dave = member(0), member(1)  # the first test's members, with rows already
    (_, a), (_, b), (_, c), *_ = world["songs"]
    await say("!session start forget test", 0)
    await say(f"!session add {a}", 0)
    await say(f"!session add {b}", 1)
    answer = await say(f"!recommend {c}", 0)
    votes = [x for x in buttons(answer) if x["custom_id"].startswith("fb:q:")]
    await click(bot, answer, votes[2]["custom_id"], dave)  # dave votes on carol's answer
    await say(f"!recommend {a}", 1)
    await say("!session end", 0)  # whoever started it ends it

    async def counts(user_id: int) -> tuple[int, int, int, int]:
        return (
            len(await all_rows(bot, Query, user_id)),
            len(await all_rows(bot, SessionEntry, user_id)),
            len(await all_rows(bot, Feedback, user_id)),
            len(await all_rows(bot, ConversationTurn, user_id)),
        )

    carol_before, dave_before = await counts(carol.id), await counts(dave.id)
    assert min(carol_before[:3]) >= 1 and min(dave_before[:3]) >= 1

    question = await say("!forgetme", 0)
    assert question.embeds[0].title == "Delete what I stored about you?"
    ids = [x["custom_id"] for x in buttons(question)]
    assert ids == [f"forgetme:{carol.id}:yes", f"forgetme:{carol.id}:no"]

    refused = await click(bot, question, ids[0], dave)
    assert refused["flags"] == EPHEMERAL and embed_of(refused).title == "Not your button"
    assert await counts(carol.id) == carol_before

    done = await click(bot, question, ids[0], carol)
    assert done["type"] == UPDATE_MESSAGE and done["components"] == []
    embed = embed_of(done)
    assert embed.title == "Done: I forgot you"
    assert f"Deleted {sum(carol_before)} rows" in embed.description
    assert await counts(carol.id) == (0, 0, 0, 0)
    assert await counts(dave.id) == dave_before
    # Dave's votes on Carol's answers stay, but no longer say what Carol asked for.
    kept = await all_rows(bot, Feedback, dave.id)
    assert len(kept) == dave_before[2]
    assert all(f.query_id is None and f.seed_track_id is None for f in kept)

    again = await say("!forgetme", 0)
    assert again.embeds[0].title == "I have nothing stored about you"


async def test_forgetme_in_the_console_asks_for_a_typed_confirmation(bot: MusicBot) -> None:
    me = RequestContext(user_id=99, user_name="local", is_admin=True, source=CONSOLE)
    await record_query(bot.services.db, me, "some song", None, [], "test")
    asked = await bot.services.handle("forgetme", me, "")
    assert "!forgetme confirm" in plain(asked.description)
    assert len(await all_rows(bot, Query, 99)) == 1
    done = await bot.services.handle("forgetme", me, "confirm")
    assert done.title == "Done: I forgot you" and "Deleted 1 row (" in done.description
    assert await all_rows(bot, Query, 99) == []


async def test_export_is_for_admins_and_anonymised(
    bot: MusicBot, world, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # dpytest writes sent attachments to the working directory
    songs = [text for _, text in world["songs"]]
    await say("!session start export mix", 2)
    for index, text in enumerate(songs[:4]):
        await say(f"!session add {text}", index % 3)
    await say("!session end", 2)
    await say("!session start too short", 1)
    await say(f"!session add {songs[4]}", 1)
    await say("!session end", 1)

    refused = (await say("!export", 1)).embeds[0]
    assert refused.title == "Admins only"

    message = await say("!export", 2)
    assert sent_embed(message).title == "Session playlists export"
    (attachment,) = message.attachments
    assert attachment.filename.startswith("sessions-") and attachment.filename.endswith(".csv")
    text = Path(urlparse(attachment.url).path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    header = next(csv.reader(io.StringIO(text)))
    dataset_header = next(csv.reader(io.StringIO(world["settings"].data_path.read_text())))
    assert tuple(header) == CSV_COLUMNS and header == dataset_header
    exported = {row["playlist_name"]: row for row in rows}
    assert set(exported) == {"export mix"}  # 3+ songs and ended only
    assert [row["track_id"] for row in rows] == [t for t, _ in world["songs"][:4]]
    assert {row["playlist_id"] for row in rows} == {"session-1"}
    for who in (member(0), member(1), member(2)):
        assert str(who.id) not in text and who.display_name not in text
    catalog = catalog_from_rows(read_rows(Path(urlparse(attachment.url).path)))
    assert catalog.num_playlists == 1 and catalog.num_tracks == 4


# -- the retrain ----------------------------------------------------------------------------
def mean_rank(model: Recommender, ids: list[str]) -> float:
    """How far down each song's list the others are (0 = right after it), averaged."""
    ranks = []
    for a in ids:
        scores = model.scores_for_tracks([a])
        for b in ids:
            if b != a:
                ranks.append(int((scores > scores[model.row(b)]).sum()) - 1)  # minus a itself
    return float(np.mean(ranks))


async def test_a_retrain_learns_from_sessions_and_likes(
    tmp_path: Path, dataset_path: Path, fresh_database_url: str
) -> None:
    csv_path, model_dir = small_model(dataset_path)
    before = Recommender.load(model_dir)
    settings = settings_for(tmp_path, csv_path, model_dir, database_url=fresh_database_url)
    services = Services(settings, models=ModelHolder(before))
    await services.start()
    try:
        songs = pick_songs(before, 6)
        ana = RequestContext(guild_id=7, channel_id=70, user_id=11, user_name="ana")
        ben = RequestContext(guild_id=7, channel_id=70, user_id=12, user_name="ben")
        session_songs = [track_id for track_id, _ in songs[:4]]
        await services.handle("session", ana, "start retrain mix")
        for ctx, (_, text) in zip([ana, ben, ana, ben], songs[:4], strict=True):
            assert (await services.handle("session", ctx, f"add {text}")).title.startswith("Added")
        await services.handle("session", ana, "end")  # whoever started it ends it

        # 👍 on the 10th pick of a query; a 👎 and a 👍 cancel out on the 9th.
        reply = await services.handle("recommend", ana, songs[5][1])
        targets = reply.find(Votes).targets
        seed, picks = targets[0].seed_track_id, [t.track_id for t in targets]
        liked, disputed = picks[-1], picks[-2]
        votes = [(ana, liked, LIKE), (ben, disputed, LIKE), (ana, disputed, DISLIKE)]
        for ctx, track, value in votes:
            outcome = await record_vote(
                services.db,
                target=VoteTarget(QUERY, targets[0].ref, track, seed),
                value=value,
                guild_id=7,
                channel_id=70,
                message_id=700,
                user_id=ctx.user_id,
            )
            assert outcome.ok

        async with services.db.session() as session:
            assert await liked_pairs(session) == [(7, seed, liked)]
            gathered = await gather_training_rows(settings, session)
        assert gathered.sources["sessions"] == 4 and gathered.sources["likes"] == 2
        community = gathered.rows.iloc[len(read_rows(csv_path)) :]
        assert set(community["playlist_id"]) == {"community:session:1", "community:like:1"}
        # `musicbot train` into MODEL_DIR learns from the same rows, read from outside the bot.
        from bot.frontends.train_command import _community_rows

        shell = await _community_rows(settings)
        assert not isinstance(shell, str), shell
        assert shell.sources == gathered.sources

        after = await asyncio.to_thread(
            Recommender.train,
            catalog_from_rows(gathered.rows),
            progress=False,
            **training_options(),
        )
        assert mean_rank(after, session_songs) < mean_rank(before, session_songs)
        assert mean_rank(after, [seed, liked]) < mean_rank(before, [seed, liked])

        # After ana's !forgetme the session has 2 songs and the like is gone: nothing left.
        await forget_user(services.db, ana.user_id)
        async with services.db.session() as session:
            again = await gather_training_rows(settings, session)
        assert again.sources["sessions"] == 0 and again.sources["likes"] == 0
    finally:
        await services.close()
