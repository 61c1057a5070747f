"""Group listening sessions end to end (dpytest, real model, real SQLite file), the
restart in the middle of one, idle expiry, and the artist-spreading re-rank."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
import sqlalchemy as sa
from session_support import (
    buttons,
    click,
    embed_of,
    keep_components,
    pick_songs,
    say,
    settings_for,
    small_model,
    start_bot,
    stop_bot,
)

from bot import create_bot
from bot.core.settings import Settings
from bot.core.text import plain
from bot.features.feedback.tables import Feedback
from bot.features.sessions.tables import END_IDLE, ListeningSession
from bot.frontends.discord_app import MusicBot
from recommender import Recommender
from recommender.rerank import group_picks, max_per_artist

LINK = re.compile(
    r"\[(?P<name>[^\]]*(?:\\\][^\]]*)*)\]\(https://open\.spotify\.com/track/(?P<id>\w+)\)"
)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, dataset_path: Path, database_url: str):
    csv, model_dir = small_model(dataset_path)
    model = Recommender.load(model_dir)
    return {
        "settings": settings_for(
            tmp_path_factory.mktemp("sessions"), csv, model_dir, database_url=database_url
        ),
        "model": model,
        "songs": pick_songs(model, 4),
    }


@pytest.fixture
async def bot(world):
    bot = await start_bot(world["settings"])
    yield bot
    await dpytest.empty_queue()
    await stop_bot(bot)


async def session_rows(bot: MusicBot) -> list[ListeningSession]:
    async with bot.services.db.session() as session:
        return list((await session.scalars(sa.select(ListeningSession))).all())


async def restart_in_same_world(
    settings: Settings, guild: discord.Guild, channel: discord.TextChannel, people
) -> tuple[MusicBot, discord.TextChannel, list[discord.Member]]:
    """A new bot process on the same database, in the same server, channel and members."""
    bot = create_bot(settings)
    await bot._async_setup_hook()
    back = dpytest.backend
    dpytest.configure(bot, guilds=0, text_channels=0, voice_channels=0, members=0)
    state = back.get_state()
    state.stop_dispatch()
    new_guild = back.make_guild(guild.name, id_num=guild.id)
    new_channel = back.make_text_channel(channel.name, new_guild, id_num=channel.id)
    members = [
        back.make_member(
            back.make_user(m.name, m.discriminator, id_num=m.id), new_guild, nick=m.nick
        )
        for m in people
    ]
    back.make_member(state.user, new_guild, nick="bot")
    state.start_dispatch()
    keep_components(bot)
    await bot.setup_hook()
    return bot, new_channel, members


async def ask(text: str, channel, member) -> discord.Message:
    await dpytest.message(text, channel=channel, member=member)
    reply = dpytest.get_message()
    assert dpytest.sent_queue.empty()
    return reply


async def test_a_whole_session_with_two_members_survives_a_restart(world) -> None:
    model: Recommender = world["model"]
    (a_id, a_text), (b_id, b_text), (c_id, c_text), _ = world["songs"]
    bot = await start_bot(world["settings"])
    config = dpytest.get_config()
    alice, bob = config.members
    channel = config.channels[0]

    started = (await say("!session start friday mix", 0)).embeds[0]
    assert started.title == "Session started: friday mix"
    again = (await say("!session start other", 1)).embeds[0]
    assert again.title == "A session is already running here" and "friday mix" in again.description

    assert (await say(f"!session add {a_text}", 0)).embeds[0].title == "Added to friday mix"
    assert (await say(f"!session add {b_text}", 1)).embeds[0].title == "Added to friday mix"
    duplicate = (await say(f"!session add {a_text}", 1)).embeds[0]
    assert duplicate.title == "Already in the session"
    assert alice.display_name in plain(duplicate.description)

    message = await say("!session next", 1)
    embed = message.embeds[0]
    assert embed.title == "Up next for friday mix"
    picks = LINK.findall(embed.description)
    assert len(picks) == 5
    ids = [track_id for _, track_id in picks]
    assert len(set(ids)) == 5 and not {a_id, b_id} & set(ids)
    artists = Counter(model.track(t).artist for t in ids)
    assert max(artists.values()) <= max_per_artist(5)
    # Each pick names the session song it is closest to and who added that song.
    who = {model.track(a_id).name: alice.display_name, model.track(b_id).name: bob.display_name}
    notes = re.findall(r"closest to (.+) \(added by (.+)\)$", plain(embed.description), re.M)
    assert len(notes) == 5
    for song, adder in notes:
        assert who[song] == adder
    # 👍 1..5 in one row, 👎 1..5 in the next.
    votes = [b for b in buttons(message) if b.get("custom_id", "").startswith("fb:s:")]
    assert [b["label"] for b in votes] == ["1", "2", "3", "4", "5"] * 2
    assert [b["emoji"]["name"] for b in votes] == ["👍"] * 5 + ["👎"] * 5
    assert len({b["row"] for b in votes[:5]}) == 1 and votes[0]["row"] < votes[5]["row"]

    # -- restart: a new bot process on the same database ---------------------------------
    guild = channel.guild
    await stop_bot(bot)
    bot, channel, (alice, bob) = await restart_in_same_world(
        world["settings"], guild, channel, [alice, bob]
    )
    try:
        shown = (await ask("!session show", channel, bob)).embeds[0]
        assert shown.title == "friday mix: 2 songs"
        assert f"added by {alice.display_name}" in plain(shown.description)
        assert f"added by {bob.display_name}" in plain(shown.description)

        # A button sent before the restart still works.
        answer = await click(bot, message, votes[0]["custom_id"], bob)
        assert embed_of(answer).title == "Vote saved"
        async with bot.services.db.session() as session:
            (vote,) = (await session.scalars(sa.select(Feedback))).all()
        assert (vote.user_id, vote.track_id, vote.value) == (bob.id, ids[0], 1)
        assert vote.session_id is not None and vote.seed_track_id in {a_id, b_id}

        assert (
            (await ask(f"!session add {c_text}", channel, alice))
            .embeds[0]
            .title.startswith("Added")
        )
        three = LINK.findall((await ask("!session next 3", channel, alice)).embeds[0].description)
        assert len(three) == 3 and not {a_id, b_id, c_id} & {t for _, t in three}

        # Only whoever started it (or a server admin) closes everyone's session.
        refused = (await ask("!session end", channel, bob)).embeds[0]
        assert refused.title == "Not your session"
        summary = (await ask("!session end", channel, alice)).embeds[0]
        assert summary.title == "Session ended: friday mix"
        fields = {f.name: f.value for f in summary.fields}
        assert fields["Songs"] == "3" and fields["Listeners"] == "2"
        assert model.track(a_id).artist in fields["Top artists"]
        assert "community playlist" in summary.description
        gone = (await ask("!session show", channel, alice)).embeds[0]
        assert gone.title == "No session is running here"
    finally:
        await dpytest.empty_queue()
        await stop_bot(bot)

    (row,) = [s for s in await session_rows(bot) if s.name == "friday mix"]
    assert row.ended_at is not None and row.end_reason == "command" and row.open_channel_id is None


async def test_idle_sessions_end_by_themselves(bot: MusicBot, world) -> None:
    (_, a_text), (_, b_text), *_ = world["songs"]
    await say("!session start late night", 0)
    await say(f"!session add {a_text}", 0)

    async def backdate(hours: float) -> None:
        async with bot.services.db.session() as session:
            rows = await session.scalars(
                sa.select(ListeningSession).where(ListeningSession.ended_at.is_(None))
            )
            for row in rows:
                row.last_activity_at -= timedelta(hours=hours)

    # The periodic sweep closes it and says so in the channel.
    await backdate(7)
    assert await bot.get_cog("Sessions").end_idle() == 1
    announced = dpytest.get_message().embeds[0]
    assert announced.title == "Session ended: late night"
    assert "Nobody added anything for 6 h" in announced.description
    (row,) = [s for s in await session_rows(bot) if s.name == "late night"]
    assert row.end_reason == END_IDLE and row.open_channel_id is None

    # Without a sweep, the next command in the channel notices.
    await say("!session start early morning", 1)
    await backdate(6.5)
    late = (await say(f"!session add {b_text}", 1)).embeds[0]
    assert late.title == "No session is running here"
    assert "ended by itself after 6 h" in late.description
    restarted = (await say("!session start second try", 1)).embeds[0]
    assert restarted.title == "Session started: second try"
    await say("!session end", 1)


async def test_session_commands_explain_themselves(bot: MusicBot) -> None:
    assert (await say("!session", 0)).embeds[0].title == "How to use !session"
    assert (await say("!session dance", 0)).embeds[0].title == "What should the session do?"
    assert (await say("!session next", 0)).embeds[0].title == "No session is running here"
    await say("!session start", 0)
    named = [s for s in await session_rows(bot) if s.ended_at is None]
    assert named[0].name.startswith("Session of ")  # no member's name in it
    assert (await say("!session next", 0)).embeds[0].title.endswith("has no songs yet")
    assert (await say("!session next 99", 0)).embeds[0].title == "How many?"
    assert (await say("!session next 1000", 0)).embeds[0].title == "How many?"
    assert (await say("!session next ²", 0)).embeds[0].title == "How many?"  # isdigit, not int
    assert (await say("!session add", 0)).embeds[0].title == "Which song?"
    assert (await say("!session add " + "la" * 2500, 0)).embeds[0].title == "That's too long"
    missing = (await say("!session add zzqxv wubwubwub", 0)).embeds[0]
    assert missing.title.startswith("I couldn't find")
    assert "Traceback" not in (missing.description or "")
    summary = (await say("!session end", 0)).embeds[0]
    assert "3+ songs become playlists" in summary.description


# -- the re-rank itself ---------------------------------------------------------------------
def test_group_picks_spread_artists_and_never_repeat_the_session(world) -> None:
    model: Recommender = world["model"]
    seeds = [track_id for track_id, _ in world["songs"]]
    extra = model.similar(seeds[0], k=3)
    exclude = [t.track_id for t in extra]
    picks = group_picks(model, seeds, k=8, exclude=exclude)
    assert len(picks) == 8
    ids = [p.track.track_id for p in picks]
    assert len(set(ids)) == 8 and not (set(seeds) | set(exclude)) & set(ids)
    artists = Counter(p.track.artist.casefold() for p in picks)
    assert max(artists.values()) <= max_per_artist(8)
    for pick in picks:
        own = model.embeddings[model.row(pick.track.track_id)]
        sims = {s: float(own @ model.embeddings[model.row(s)]) for s in seeds}
        assert pick.closest_seed == max(sims, key=sims.get)
    # More than one listener's song is followed from (not all picks near the mean).
    assert len({p.closest_seed for p in picks}) > 1
    assert group_picks(model, [], k=5) == [] and group_picks(model, ["nope"], k=5) == []


async def test_an_artist_added_to_a_session_is_their_best_known_song(bot: MusicBot) -> None:
    await say("!session start artists", 1)
    added = (await say("!session add dua lipa", 1)).embeds[0]
    assert added.title == "Added to artists"
    assert added.description.startswith("For the artist Dua Lipa, their best known: **")
    # A song the catalog lacks is not swapped for another artist's song of that title.
    missing = (await say("!session add Levitating - Dua Lipa", 1)).embeds[0]
    assert missing.title == "I don't have *Levitating* yet"
    assert "session add artist: Dua Lipa" in missing.description
    await say("!session end", 1)
