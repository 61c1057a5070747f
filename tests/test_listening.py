"""LISTENING=on and PREFIX_COMMANDS=off: a member's Spotify presence as the seed, the
intents each setting asks Discord for, and the mention prefix without message content.

Presences arrive as Discord's PRESENCE_UPDATE, fed to discord.py's gateway parser, so the
member carries a real `discord.Spotify` activity; commands go through the real tree.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
import sqlalchemy as sa
from discord.ext.test import factories as facts
from session_support import (  # noqa: F401  (fresh: autouse)
    app_command,
    embed_of,
    fresh,
    member,
    option,
    pick_songs,
    settings_for,
    small_model,
    start_bot,
    stop_bot,
)

from bot.core.settings import Settings
from bot.core.text import md
from bot.features.recommend.tables import Query
from bot.frontends.discord_app import MusicBot
from bot.frontends.intents import intents_for

EPHEMERAL = 64
NOT_IN_ANY_CATALOG = "0000000000000000000000"


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, dataset_path: Path, database_url: str):
    csv, model_dir = small_model(dataset_path)
    settings = settings_for(
        tmp_path_factory.mktemp("listening"),
        csv,
        model_dir,
        database_url=database_url,
        listening=True,
        prefix_commands=False,
    )
    bot = await start_bot(settings, members=3)
    yield bot
    await stop_bot(bot)


def channel() -> discord.TextChannel:
    return dpytest.get_config().channels[0]


def listen(bot: MusicBot, who: int, track_id: str | None, title: str, artists: str) -> None:
    """Discord's PRESENCE_UPDATE: member `who` now plays this on Spotify (None: nothing)."""
    person = member(who)
    activities = []
    if track_id is not None:
        now = int(time.time() * 1000)
        activities.append(
            {
                "type": 2,
                "name": "Spotify",
                "id": "spotify:1",
                "sync_id": track_id,
                "session_id": "a1b2c3",
                "party": {"id": f"spotify:{person.id}"},
                "details": title,
                "state": artists,
                "assets": {"large_image": "spotify:ab67616d0000b273", "large_text": "Album"},
                "timestamps": {"start": now - 30_000, "end": now + 150_000},
                "flags": 48,
                "created_at": now - 30_000,
            }
        )
    bot._connection.parse_presence_update(
        {
            "user": {"id": str(person.id)},
            "guild_id": str(person.guild.id),
            "status": "online",
            "activities": activities,
            "client_status": {"desktop": "online"},
        }
    )
    assert any(isinstance(a, discord.Spotify) for a in person.activities) == (track_id is not None)


async def queries_of(bot: MusicBot, user_id: int) -> list[str]:
    async with bot.services.db.session() as session:
        rows = await session.scalars(
            sa.select(Query.query_text).where(Query.user_id == user_id).order_by(Query.id)
        )
        return list(rows.all())


def test_intents_follow_the_settings() -> None:
    def intents(**options: Any) -> discord.Intents:
        return intents_for(Settings(_env_file=None, **options))

    slash_only = intents(prefix_commands="off")
    privileged = (slash_only.message_content, slash_only.members, slash_only.presences)
    assert privileged == (False, False, False)
    assert slash_only.guilds and slash_only.guild_messages  # buttons, mentions, channels
    default = intents()
    assert default.message_content and not default.presences
    listening = intents(prefix_commands="off", listening="on")
    assert listening.presences and listening.members and not listening.message_content


async def test_recommend_without_a_song_starts_from_the_spotify_track_playing(
    bot: MusicBot,
) -> None:
    model = bot.services.models.current
    (track_id, text), (other_id, _) = pick_songs(model, 2)
    track = model.track(track_id)

    listen(bot, 0, track_id, track.name, track.artist)
    answer = await app_command(bot, channel(), member(0), "recommend")
    assert not answer.get("flags") and embed_of(answer).title == f"Songs like {track.label}"
    # Stored as a typed Spotify link would be: the query, nothing else of the presence.
    assert (await queries_of(bot, member(0).id))[-1] == f"spotify:track:{track_id}"

    # A track id the catalog lacks (another release of the song): title and artist find it.
    other = model.track(other_id)
    listen(bot, 0, NOT_IN_ANY_CATALOG, other.name, f"{other.artist}; Someone Else")
    by_name = await app_command(bot, channel(), member(0), "recommend")
    assert embed_of(by_name).title == f"Songs like {other.label}"

    listen(bot, 0, NOT_IN_ANY_CATALOG, "A Song Nobody Wrote", "Nobody")
    unknown = await app_command(bot, channel(), member(0), "recommend")
    assert unknown["flags"] == EPHEMERAL
    assert embed_of(unknown).title == "I don't know that one yet"
    assert "A Song Nobody Wrote" in embed_of(unknown).description

    listen(bot, 0, None, "", "")
    silent = await app_command(bot, channel(), member(0), "recommend")
    assert silent["flags"] == EPHEMERAL
    assert embed_of(silent).title == "What should I start from?"

    # A named song still wins over the presence.
    named = await app_command(bot, channel(), member(0), "recommend", [option("song", text)])
    assert embed_of(named).title == f"Songs like {model.track(pick_songs(model, 1)[0][0]).label}"


async def test_session_add_without_a_song_adds_the_one_playing(bot: MusicBot) -> None:
    model = bot.services.models.current
    track_id, _ = pick_songs(model, 3)[2]
    listen(bot, 1, track_id, model.track(track_id).name, model.track(track_id).artist)
    start = option("start", [option("name", "now playing")])
    await app_command(bot, channel(), member(1), "session", [start])
    added = await app_command(bot, channel(), member(1), "session", [option("add", [])])
    assert not added.get("flags") and embed_of(added).title == "Added to now playing"
    assert md(model.track(track_id).name) in embed_of(added).description
    await app_command(bot, channel(), member(1), "session", [option("end", [])])


async def test_recommend_from_their_listening_on_a_member(bot: MusicBot) -> None:
    model = bot.services.models.current
    track_id, _ = pick_songs(model, 1)[0]
    listen(bot, 2, track_id, model.track(track_id).name, model.track(track_id).artist)
    target = member(2)

    async def menu(on: discord.Member) -> dict[str, Any]:
        as_member = {k: v for k, v in facts.dict_from_member(on).items() if k != "user"}
        resolved = {
            "users": {str(on.id): facts.dict_from_user(on._user)},
            "members": {str(on.id): as_member},
        }
        return await app_command(
            bot,
            channel(),
            member(0),
            "Recommend from their listening",
            command_type=2,
            target_id=str(on.id),
            resolved=resolved,
        )

    answer = await menu(target)
    assert not answer.get("flags")
    assert embed_of(answer).title == f"Songs like {model.track(track_id).label}"
    listen(bot, 1, None, "", "")
    nothing = await menu(member(1))
    assert nothing["flags"] == EPHEMERAL and embed_of(nothing).title == "Nothing playing"


async def test_without_prefix_commands_a_mention_still_works_and_the_prefix_does_not(
    bot: MusicBot,
) -> None:
    await dpytest.message("!help", member=0)
    assert dpytest.sent_queue.empty()
    await dpytest.message(f"<@{bot.user.id}> help", member=0)
    answer = dpytest.get_message()
    assert answer.embeds[0].title == "What I can do"
    # Hints name what members can type: the slash commands.
    assert "/recommend <song>" in [field.name for field in answer.embeds[0].fields]
    assert not any(field.name.startswith("!") for field in answer.embeds[0].fields)
