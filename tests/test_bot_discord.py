"""End-to-end Discord commands through dpytest: a real bot, real model, real SQLite file.

One bot for the whole module (start-up runs migrations and loads the model); each test
uses its own members or checks only the rows it created.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import discord.ext.test as dpytest
import pytest
import sqlalchemy as sa
from discord import app_commands
from discord.ext import commands
from session_support import (  # noqa: F401  (fresh: autouse)
    app_command,
    embed_of,
    fresh,
    member,
    option,
    slash,
)
from session_support import say as ask

from bot import create_bot
from bot.core.dispatch import CommandSpec, RequestContext
from bot.core.replies import Reply
from bot.core.settings import Settings
from bot.core.text import md
from bot.features.feedback.targets import Votes
from bot.features.recommend.queries import record_query
from bot.features.recommend.tables import Query
from bot.frontends.discord_app import MusicBot

CHANNEL_MESSAGE, EPHEMERAL = 4, 64  # interaction callback type, message flag
LINK = re.compile(
    r"\[(?P<name>[^\]]*(?:\\\][^\]]*)*)\]\(https://open\.spotify\.com/track/(?P<id>\w+)\)"
)


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path, database_url: str):
    data_dir = tmp_path_factory.mktemp("botdata")
    settings = Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        model_dir=trained_model_dir,
        cooldown_rate=3,
        cooldown_seconds=60,
    )
    bot = create_bot(settings)
    await bot._async_setup_hook()
    await bot.setup_hook()
    dpytest.configure(bot, members=3)
    yield bot
    await dpytest.empty_queue()
    await bot.services.close()


async def rows(bot: MusicBot, user_id: int) -> list[Query]:
    async with bot.services.db.session() as session:
        result = await session.scalars(
            sa.select(Query).where(Query.user_id == user_id).order_by(Query.id)
        )
        return list(result.all())


async def test_recommend_answers_with_understood_song_alternatives_and_ten_links(
    bot: MusicBot, recommender
) -> None:
    message = await ask("!recommend bad guy", who=0)
    embed = message.embeds[0]

    assert embed.title == "Songs like bad guy — Billie Eilish"
    assert "Understood: **bad guy** — Billie Eilish" in embed.description
    # The other "Bad Guy" is offered with a command that picks it.
    assert "Bad Guy — Critic City" in embed.description
    assert "`!recommend Bad Guy - Critic City`" in embed.description
    links = LINK.findall(embed.description)
    assert len(links) == 10
    ids = [track_id for _, track_id in links]
    assert len(set(ids)) == 10 and "2Fxmhks0bxGSBdJ92vM42m" not in ids
    assert all(track_id in recommender for track_id in ids)
    # One number a member can read per pick: a match within 0–100%, in the list's order
    # (the artist spread never shows a lower pick as closer than the one above it).
    matches = [int(m) for m in re.findall(r"· (\d{1,3})%$", embed.description, re.M)]
    assert len(matches) == 10
    assert all(0 <= m <= 100 for m in matches)
    assert matches == sorted(matches, reverse=True)
    assert recommender.version in embed.footer.text
    assert message.content in (None, "")

    (row,) = await rows(bot, member(0).id)
    assert row.query_text == "bad guy"
    assert row.guild_id == member(0).guild.id and row.channel_id == message.channel.id
    assert row.resolved_track_id == "2Fxmhks0bxGSBdJ92vM42m"
    assert row.recommended_track_ids == ids
    assert row.model_version == recommender.version
    assert row.source == "prefix" and row.created_at.tzinfo is not None


async def test_alternative_hint_and_spotify_link_pick_the_exact_track(bot: MusicBot) -> None:
    hinted = (await ask("!recommend Bad Guy - Critic City", who=1)).embeds[0]
    assert hinted.title == "Songs like Bad Guy — Critic City"
    linked = await ask("!rec https://open.spotify.com/track/2Fxmhks0bxGSBdJ92vM42m?si=abc", who=1)
    assert linked.embeds[0].title == "Songs like bad guy — Billie Eilish"


async def test_unknown_song_gets_did_you_mean_and_is_kept(bot: MusicBot) -> None:
    embed = (await ask("!recommend zxqvbnm wubwub", who=2)).embeds[0]
    assert embed.title.startswith("I couldn't find “zxqvbnm wubwub”")
    suggestions = re.findall(r"^\d\. ", embed.description, re.M)
    assert 1 <= len(suggestions) <= 3
    assert "try `!recommend " in embed.description
    (row,) = await rows(bot, member(2).id)
    assert row.resolved_track_id is None and row.recommended_track_ids == []


async def test_empty_and_oversized_input_are_refused_briefly(bot: MusicBot) -> None:
    usage = (await ask("!recommend", who=1)).embeds[0]
    assert usage.title == "How to use !recommend"
    assert "`!recommend bad guy`" in usage.description

    before = len(await rows(bot, member(1).id))
    long = (await ask("!recommend " + "la" * 101, who=1)).embeds[0]
    assert long.title == "That's too long"
    assert "200 characters" in long.description and len(long.description) < 120
    assert len(await rows(bot, member(1).id)) == before  # refused input is not stored


async def test_mentions_in_user_text_never_ping(bot: MusicBot) -> None:
    target = member(1)
    message = await ask(f"!recommend @everyone <@{target.id}> @here", who=0)
    assert message.mentions == [] and not message.mention_everyone
    assert message.role_mentions == []


async def test_cooldown_says_slow_down_and_is_per_user(bot: MusicBot) -> None:
    for song in ("hello", "shape of you", "bad guy"):
        embed = (await ask(f"!recommend {song}", who=2)).embeds[0]
        assert embed.title.startswith("Songs like")
    flood = (await ask("!recommend circles", who=2)).embeds[0]
    assert flood.title == "Slow down a little"
    assert re.search(r"Try again in \d+s", flood.description)
    # Someone else is not slowed down by it.
    other = (await ask("!recommend circles", who=1)).embeds[0]
    assert other.title.startswith("Songs like Circles")


async def test_a_flood_gets_its_answers_and_one_slow_down_then_silence(bot: MusicBot) -> None:
    """20 messages in a second: three answers (the budget), one "slow down" for the
    window, and no message at all for the other sixteen."""
    for _ in range(20):
        await dpytest.message("!recommend bad guy", member=2)
    sent = []
    while not dpytest.sent_queue.empty():
        sent.append(dpytest.get_message())
    titles = [message.embeds[0].title for message in sent]
    assert titles.count("Slow down a little") == 1
    assert [t for t in titles if t.startswith("Songs like")] == [
        "Songs like bad guy — Billie Eilish"
    ] * 3
    assert len(sent) == 4


async def test_history_of_another_member_newest_first_and_only_this_server(
    bot: MusicBot,
) -> None:
    alice, bob = member(0), member(1)
    guild = alice.guild
    channel = dpytest.get_config().channels[0]
    ctx = RequestContext(guild_id=guild.id, channel_id=channel.id, user_id=alice.id)
    for n in range(12):
        await record_query(bot.services.db, ctx, f"song number {n}", None, [], "test")
    elsewhere = RequestContext(guild_id=guild.id + 1, channel_id=1, user_id=alice.id)
    await record_query(bot.services.db, elsewhere, "from another server", None, [], "t")

    embed = (await ask(f"!history <@{alice.id}>", who=1)).embeds[0]
    assert embed.title == f"{md(alice.display_name)}'s last 10 queries"  # names escaped
    asked = re.findall(r"“([^”]+)”", embed.description)
    assert asked == [f"song number {n}" for n in range(11, 1, -1)]
    assert "from another server" not in embed.description

    own = (await ask("!history", who=1)).embeds[0]
    assert own.title.startswith("Your last")
    assert "song number" not in own.description
    assert bob.display_name not in own.title


async def test_history_for_someone_without_queries_and_bad_argument(bot: MusicBot) -> None:
    newcomer = await dpytest.member_join(name="Newbie")
    embed = (await ask(f"!history <@{newcomer.id}>", who=0)).embeds[0]
    assert embed.title == f"{newcomer.display_name} has no queries here yet"
    bad = (await ask("!history yesterday", who=0)).embeds[0]
    assert bad.title == "Who's that?"


async def test_help_lists_every_command_with_an_example(bot: MusicBot) -> None:
    embed = (await ask("!help")).embeds[0]
    assert embed.title == "What I can do"
    names = [field.name for field in embed.fields]
    assert names[:3] == ["!recommend <song>", "!history [@member]", "!help [command]"]
    # The follow-ups come after the core three.
    assert {"!more", "!like <n>", "!refine <words>", "!why <n>"} <= set(names[3:])
    assert "`!recommend bad guy`" in embed.fields[0].value
    assert "/recommend" in embed.description
    detail = (await ask("!help recommend")).embeds[0]
    assert detail.title == "!recommend <song>" and "!rec" in detail.description


async def test_a_failing_handler_is_logged_and_answered_with_an_apology(
    bot: MusicBot, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(services, ctx, text) -> Reply:
        raise RuntimeError("database on fire")

    bot.services.registry.add(CommandSpec(name="explode", handler=explode, summary="boom"))
    bot.install_prefix_commands()
    try:
        with caplog.at_level(logging.ERROR):
            embed = (await ask("!explode now", who=0)).embeds[0]
        assert embed.title == "Sorry, something went wrong"
        assert "database on fire" not in embed.description and "Traceback" not in embed.description
        logged = [r for r in caplog.records if "explode" in r.getMessage()]
        assert logged and logged[0].exc_info and "database on fire" in str(logged[0].exc_info[1])
        # The bot keeps working.
        assert (await ask("!recommend hello", who=0)).embeds[0].title.startswith("Songs like")
    finally:
        bot.services.registry.remove("explode")
        bot.remove_command("explode")


async def test_a_crash_outside_handlers_is_apologised_for_too(
    bot: MusicBot, caplog: pytest.LogCaptureFixture
) -> None:
    @commands.command(name="crash")
    async def crash(ctx: commands.Context) -> None:
        raise ValueError("secret internals")

    bot.add_command(crash)
    try:
        with caplog.at_level(logging.ERROR), pytest.raises(commands.CommandInvokeError):
            await dpytest.message("!crash")  # dpytest re-raises what reached on_command_error
        embed = dpytest.get_message().embeds[0]
        assert embed.title == "Sorry, something went wrong"
        assert "secret internals" not in (embed.description or "")
        assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)
    finally:
        bot.remove_command("crash")


async def test_unknown_commands_stay_quiet(bot: MusicBot) -> None:
    with pytest.raises(commands.CommandNotFound):
        await dpytest.message("!notacommand")
    assert dpytest.sent_queue.empty()


async def test_slash_recommend_is_registered_with_autocomplete_over_the_same_handler(
    bot: MusicBot, recommender
) -> None:
    command = bot.tree.get_command("recommend")
    assert command is not None
    # A song or an artist (or both): each option is optional, either one will do.
    song, artist = command.parameters
    assert song.name == "song" and not song.required and song.autocomplete
    assert artist.name == "artist" and not artist.required and artist.autocomplete

    # /recommend's song suggestions, as Discord asks for them while the member types.
    channel = dpytest.get_config().channels[0]
    typing = option("song", "shape of yo", focused=True)
    suggested = await app_command(bot, channel, member(0), "recommend", [typing], kind=4)
    choices = [app_commands.Choice(name=c["name"], value=c["value"]) for c in suggested["choices"]]
    assert 1 <= len(choices) <= 25
    assert choices[0].name == "Shape of You — Ed Sheeran"
    assert all(len(c.name) <= 100 and len(c.value) <= 100 for c in choices)

    # What Discord sends back when the user picks the first choice:
    alice = member(0)
    ctx = RequestContext(
        guild_id=alice.guild.id, channel_id=5, user_id=alice.id, user_name="a", source="slash"
    )
    reply = await bot.services.handle("recommend", ctx, choices[0].value)
    assert reply.title == "Songs like Shape of You — Ed Sheeran"
    assert len(reply.lines) == 10
    stored = (await rows(bot, alice.id))[-1]
    assert stored.source == "slash" and stored.id == reply.find(Votes).targets[0].ref
    assert stored.resolved_track_id == recommender.resolve("shape of you").best.track_id


async def test_slash_recommend_answers_the_channel_and_refusals_only_the_asker(
    bot: MusicBot,
) -> None:
    """`/recommend` through discord.py's command tree, fed the interaction Discord sends."""
    channel = dpytest.get_config().channels[0]
    answer = await slash(bot, channel, member(2), "recommend", song="bad guy - billie eilish")
    assert answer["type"] == CHANNEL_MESSAGE and not answer.get("flags")
    assert embed_of(answer).title == "Songs like bad guy — Billie Eilish"
    ids = [c["custom_id"] for row in answer["components"] for c in row["components"]]
    assert "conversation:more" in ids and sum(i.startswith("fb:q:") for i in ids) == 10
    stored = (await rows(bot, member(2).id))[-1]
    assert stored.source == "slash" and stored.resolved_track_id == "2Fxmhks0bxGSBdJ92vM42m"

    unknown = await slash(bot, channel, member(2), "recommend", song="zxqvbnm wubwub")
    assert unknown["flags"] == EPHEMERAL
    assert embed_of(unknown).title.startswith("I couldn't find")
    assert not unknown.get("components")
