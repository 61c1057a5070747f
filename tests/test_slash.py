"""Every command as an application command, through discord.py's real CommandTree: the
interactions are shaped as Discord sends them (options, subcommands, autocomplete focus,
context-menu targets, member permissions), fed to the gateway parser, and the answers
are the interaction callbacks discord.py would POST to Discord.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord
import discord.ext.test as dpytest
import pytest
from discord.ext.test import factories as facts
from session_support import (  # noqa: F401  (fresh: autouse)
    DEFERRED,
    LAST_RESPONSES,
    app_command,
    embed_of,
    fresh,
    member,
    option,
    start_bot,
)

from bot.core.settings import Settings
from bot.core.text import md
from bot.frontends import discord_app
from bot.frontends.discord_app import MusicBot
from bot.frontends.slash import ADMIN_PERMISSIONS

CHANNEL_MESSAGE, AUTOCOMPLETE_RESULT = 4, 8  # interaction callback types
EPHEMERAL = 64
AUTOCOMPLETE = 4  # interaction type
MESSAGE_MENU, USER_MENU = 3, 2  # application command types
BAD_GUY = "2Fxmhks0bxGSBdJ92vM42m"


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path, database_url: str):
    settings = Settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("slashdata"),
        database_url=database_url,
        model_dir=trained_model_dir,
        retrain_cron="off",
        cooldown_rate=4,
        cooldown_seconds=60,
    )
    bot = await start_bot(settings, members=3)  # as `musicbot run` starts it
    yield bot
    await dpytest.empty_queue()
    await bot.services.close()


def channel() -> discord.TextChannel:
    return dpytest.get_config().channels[0]


async def run(bot: MusicBot, who: int, name: str, *options: dict[str, Any], **kw: Any) -> Any:
    return await app_command(bot, channel(), member(who), name, list(options), **kw)


def public(answer: dict[str, Any]) -> bool:
    """A message for the channel: the interaction's answer, or (on a machine so busy the
    handler outlasted DEFER_AFTER_SECONDS) the follow-up after "thinking…"."""
    message = answer.get("followup") or answer.get("type") == CHANNEL_MESSAGE
    return bool(message) and not (answer.get("flags", 0) & EPHEMERAL)


def custom_ids(answer: dict[str, Any]) -> list[str]:
    return [c["custom_id"] for row in answer.get("components") or [] for c in row["components"]]


def test_every_command_is_in_the_tree_with_typed_options_and_admin_defaults(
    bot: MusicBot,
) -> None:
    specs = [s for s in bot.services.registry.specs() if not s.hidden]
    tree = {c.name: c for c in bot.tree.get_commands(type=discord.AppCommandType.chat_input)}
    assert set(tree) == {s.name for s in specs}
    for spec in specs:
        assert tree[spec.name].description  # the handler's summary
        hidden_from_members = tree[spec.name].default_permissions == ADMIN_PERMISSIONS
        assert hidden_from_members == spec.admin_only, spec.name
    assert {"retrain", "export", "rollback"} <= {s.name for s in specs if s.admin_only}

    payload = {c["name"]: c for c in (c.to_dict(bot.tree) for c in tree.values())}
    (like_n,) = payload["like"]["options"]
    assert (like_n["name"], like_n["type"], like_n["required"]) == ("n", 4, True)
    (member_option,) = payload["history"]["options"]
    assert (member_option["type"], member_option["required"]) == (6, False)
    (refine_text,) = payload["refine"]["options"]
    assert refine_text["name"] == "text" and refine_text["autocomplete"]
    assert payload["recommend"]["options"][0]["autocomplete"]
    verbs = {o["name"]: o for o in payload["session"]["options"]}
    assert set(verbs) == {"start", "add", "next", "show", "end"}
    assert all(o["type"] == 1 for o in verbs.values())
    assert verbs["add"]["options"][0]["autocomplete"]
    assert int(payload["retrain"]["default_member_permissions"]) == ADMIN_PERMISSIONS.value
    menus = {c.name for c in bot.tree.get_commands(type=discord.AppCommandType.message)}
    assert menus == {"Songs like this"}
    # LISTENING is off: no user menu that would read presences.
    assert not bot.tree.get_commands(type=discord.AppCommandType.user)


async def test_a_conversation_through_slash_commands_answers_publicly_with_votes(
    bot: MusicBot,
) -> None:
    first = await run(bot, 0, "recommend", option("song", "bad guy - billie eilish"))
    assert public(first) and embed_of(first).title == "Songs like bad guy — Billie Eilish"

    more = await run(bot, 0, "more")
    assert public(more) and embed_of(more).title.startswith("More like bad guy")
    assert "conversation:more" in custom_ids(more)
    assert sum(i.startswith("fb:q:") for i in custom_ids(more)) == 10  # 👍/👎 for five

    liked = await run(bot, 0, "like", option("n", 2))
    assert public(liked) and embed_of(liked).title.startswith("Songs like ")
    assert sum(i.startswith("fb:q:") for i in custom_ids(liked)) == 10

    refined = await run(bot, 0, "refine", option("text", "calmer, no remixes"))
    assert public(refined) and "Applied:" in embed_of(refined).description
    assert sum(i.startswith("fb:q:") for i in custom_ids(refined)) == 10
    # Each follow-up's 👍 names its own stored answer, not the first one's.
    refs = {
        i.split(":")[2] for a in (more, liked, refined) for i in custom_ids(a) if i[:3] == "fb:"
    }
    assert len(refs) == 3

    # The fifth costly command in a minute (!why ranks too): "slow down", for the asker only.
    slow = await run(bot, 0, "why", option("n", 1))
    assert slow["flags"] == EPHEMERAL and embed_of(slow).title == "Slow down a little"

    bot.services.cooldowns.reset()  # a minute later
    why = await run(bot, 0, "why", option("n", 1))
    assert public(why) and embed_of(why).title.startswith("Why #1:")


async def test_history_help_status_and_forgetme_answer(bot: MusicBot) -> None:
    asker, other = member(1), member(0)
    await run(bot, 1, "recommend", option("song", f"spotify:track:{BAD_GUY}"))
    mine = await run(bot, 1, "history")
    assert public(mine) and embed_of(mine).title == "Your last 1 query"

    resolved = {
        "users": {str(other.id): facts.dict_from_user(other._user)},
        "members": {
            str(other.id): {k: v for k, v in facts.dict_from_member(other).items() if k != "user"}
        },
    }
    theirs = await run(
        bot, 1, "history", option("member", str(other.id), type=6), resolved=resolved
    )
    # Member names are escaped in titles (a name may hold markdown).
    name = md(other.display_name)
    assert public(theirs) and embed_of(theirs).title.startswith(f"{name}'s last")

    helped = await run(bot, 1, "help")
    assert public(helped) and "type `/` to see them" in embed_of(helped).description
    one = await run(bot, 1, "help", option("command", "refine"))
    assert "Examples:" in embed_of(one).description

    status = await run(bot, 1, "status")
    assert public(status) and embed_of(status).title == "Status"

    forget = await run(bot, 1, "forgetme")
    assert forget["flags"] == EPHEMERAL  # the question, and its buttons, for the asker
    assert custom_ids(forget) == [f"forgetme:{asker.id}:yes", f"forgetme:{asker.id}:no"]


async def test_a_session_through_the_subcommand_group(bot: MusicBot) -> None:
    async def session(verb: str, *options: dict[str, Any], who: int = 2) -> Any:
        return await run(bot, who, "session", option(verb, list(options)))

    started = await session("start", option("name", "slash mix"))
    assert public(started) and embed_of(started).title == "Session started: slash mix"
    for who, song in ((2, "bad guy - billie eilish"), (0, "shape of you - ed sheeran")):
        added = await session("add", option("song", song), who=who)
        assert public(added) and embed_of(added).title == "Added to slash mix"
    up_next = await session("next", option("n", 3))
    assert public(up_next) and len(embed_of(up_next).description.splitlines()) >= 3
    assert any(i.startswith("fb:s:") for i in custom_ids(up_next))
    shown = await session("show")
    assert public(shown) and embed_of(shown).title == "slash mix: 2 songs"
    bot.services.cooldowns.reset()  # the starter's fifth session command this minute
    ended = await session("end")
    assert public(ended) and embed_of(ended).title == "Session ended: slash mix"
    nothing = await session("show")
    assert nothing["flags"] == EPHEMERAL and embed_of(nothing).title == "No session is running here"


async def test_admin_commands_refuse_members_without_manage_server_even_if_invoked(
    bot: MusicBot,
) -> None:
    for name in ("retrain", "export", "rollback"):
        refused = await run(bot, 2, name, permissions=0)
        assert refused["flags"] == EPHEMERAL, name
        assert embed_of(refused).title == "Admins only", name
    # Discord resolved Manage Server for this member: the same command goes through.
    allowed = await run(bot, 2, "export", permissions=ADMIN_PERMISSIONS.value)
    assert embed_of(allowed).title != "Admins only"


async def test_autocomplete_offers_at_most_25_choices_for_songs_refinements_and_commands(
    bot: MusicBot,
) -> None:
    def choices(answer: dict[str, Any]) -> list[dict[str, Any]]:
        assert answer["type"] == AUTOCOMPLETE_RESULT
        assert len(answer["choices"]) <= 25
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 100 for c in answer["choices"])
        return answer["choices"]

    songs = choices(
        await run(bot, 0, "recommend", option("song", "shape of yo", focused=True), kind=4)
    )
    assert songs[0]["name"] == "Shape of You — Ed Sheeran"
    # Picking it sends its value, which names exactly that song.
    picked = await run(bot, 0, "recommend", option("song", songs[0]["value"]))
    assert embed_of(picked).title == "Songs like Shape of You — Ed Sheeran"

    many = choices(await run(bot, 0, "recommend", option("song", "love", focused=True), kind=4))
    assert len(many) == 25

    steer = choices(
        await run(bot, 0, "refine", option("text", "chill, no re", focused=True), kind=4)
    )
    assert "chill, no remix" in [c["value"] for c in steer]
    assert choices(await run(bot, 0, "refine", option("text", "", focused=True), kind=4))

    add = option("add", [option("song", "bad gu", focused=True)])
    in_session = choices(await run(bot, 0, "session", add, kind=4))
    assert in_session[0]["name"].startswith("bad guy")

    names = choices(await run(bot, 0, "help", option("command", "re", focused=True), kind=4))
    assert [c["value"] for c in names] == ["recommend", "refine"]  # no admin-only retrain


async def test_songs_like_this_on_a_message_with_a_spotify_link_or_a_song_name(
    bot: MusicBot,
) -> None:
    async def menu(content: str, embeds: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        message = await dpytest.message(content, member=1)
        # As Discord resolves a message: with its channel, sent time and embeds.
        target = {
            **facts.dict_from_message(message),
            "channel_id": str(message.channel.id),
            "timestamp": message.created_at.isoformat(),
            "embeds": embeds or [],
        }
        return await app_command(
            bot,
            channel(),
            member(0),
            "Songs like this",
            command_type=MESSAGE_MENU,
            target_id=str(message.id),
            resolved={"messages": {str(message.id): target}},
        )

    linked = await menu(f"this slaps https://open.spotify.com/track/{BAD_GUY}?si=abc")
    assert public(linked) and embed_of(linked).title == "Songs like bad guy — Billie Eilish"
    named = await menu("shape of you - ed sheeran")
    assert public(named) and embed_of(named).title == "Songs like Shape of You — Ed Sheeran"
    # On the bot's own answer: the song it was about, not its first pick's link.
    again = await menu("", embeds=linked["embeds"])
    assert public(again) and embed_of(again).title == "Songs like bad guy — Billie Eilish"
    neither = await menu("zxqvbnm wubwub")
    assert neither["flags"] == EPHEMERAL and embed_of(neither).title.startswith("I couldn't")


async def test_a_slow_answer_thinks_first_and_a_private_one_is_not_left_public(
    bot: MusicBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a busy machine a handler can outlast Discord's 3 s: "thinking…" goes first."""
    handle = bot.services.handle

    async def slow(*args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(0.2)
        return await handle(*args, **kwargs)

    monkeypatch.setattr(discord_app, "DEFER_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(bot.services, "handle", slow)
    answer = await run(bot, 2, "recommend", option("song", "bad guy - billie eilish"))
    (thinking, _) = LAST_RESPONSES[0].payloads
    assert thinking["type"] == DEFERRED and not thinking.get("flags")
    assert answer["followup"] and not answer.get("flags")
    assert embed_of(answer).title == "Songs like bad guy — Billie Eilish"
    assert LAST_RESPONSES[0].deleted == 0

    # A refusal after a public "thinking…": that goes, and only the asker sees the answer.
    refused = await run(bot, 2, "export", permissions=0)
    assert LAST_RESPONSES[0].deleted == 1
    assert refused["followup"] and refused["flags"] == EPHEMERAL
    assert embed_of(refused).title == "Admins only"


async def test_history_of_someone_not_in_this_server_gets_an_answer(bot: MusicBot) -> None:
    """Discord resolves a user option to a bare user when they are not a member here (they
    left, or were picked from a DM list): the member asking still gets a short answer."""
    stranger = "999999999999999999"
    user = {"id": stranger, "username": "stranger", "discriminator": "0", "avatar": None}
    resolved = {"users": {stranger: user}}
    answer = await run(bot, 1, "history", option("member", stranger, type=6), resolved=resolved)
    assert answer["flags"] == EPHEMERAL and embed_of(answer).title == "Who's that?"


async def test_a_command_that_fails_outside_its_handler_apologises_without_detail(
    bot: MusicBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("/srv/musicbot/secret/path.py exploded")

    monkeypatch.setattr(bot, "answer_interaction", broken)
    answer = await run(bot, 1, "status")
    text = embed_of(answer).title + embed_of(answer).description
    assert answer["flags"] == EPHEMERAL and "something went wrong" in text
    assert "/srv" not in text and "Traceback" not in text


async def test_a_spotify_album_playlist_or_local_file_is_not_a_song(bot: MusicBot) -> None:
    """Pasting the wrong kind of Spotify link says so, instead of 'Did you mean' songs
    that merely share the words 'spotify' or 'album'."""
    album = "https://open.spotify.com/album/0S0KGZnfBGSIssfF54WSJh?si=x"
    answer = await run(bot, 0, "recommend", option("song", album))
    assert answer["flags"] == EPHEMERAL
    assert embed_of(answer).title == "That's a Spotify album, not a song"
    assert "Copy Song Link" in embed_of(answer).description

    started = await run(bot, 0, "session", option("start", [option("name", "links")]))
    assert embed_of(started).title == "Session started: links"
    playlist = "https://open.spotify.com/playlist/37i9dQZF1DXcBWIGoYBM5M"
    added = await run(bot, 0, "session", option("add", [option("song", playlist)]))
    assert embed_of(added).title == "That's a Spotify playlist, not a song"
    local = await run(bot, 0, "session", option("add", [option("song", "spotify:local:A:B:C:1")]))
    assert embed_of(local).title == "That's a local file, not a song"
    bot.services.cooldowns.reset()
    ended = await run(bot, 0, "session", option("end", []))
    assert embed_of(ended).title == "Session ended: links"


async def test_a_session_name_blank_to_the_eye_gets_the_default_name(bot: MusicBot) -> None:
    blank = "\u200b\u200d\u2060"  # zero-width space, joiner, word joiner
    started = await run(bot, 1, "session", option("start", [option("name", blank)]))
    title = embed_of(started).title
    assert title.startswith("Session started: Session of "), repr(title)
    bot.services.cooldowns.reset()
    await run(bot, 1, "session", option("end", []))


async def test_a_failing_autocomplete_offers_nothing_rather_than_a_message(
    bot: MusicBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.frontends import slash

    def broken(*args: Any) -> Any:
        raise RuntimeError("index is being rebuilt")

    monkeypatch.setattr(slash, "autocomplete_choices", broken)
    answer = await run(bot, 0, "recommend", option("song", "bad g", focused=True), kind=4)
    assert answer["type"] == AUTOCOMPLETE_RESULT and answer["choices"] == []


async def test_recommend_takes_an_artist_with_autocomplete(bot: MusicBot) -> None:
    """The artist option: its choices are artists, and picking one answers songs like
    them; the song option offers the artists starting with what was typed, then songs."""
    recommend = bot.tree.get_command("recommend")
    assert recommend is not None
    payload = recommend.to_dict(bot.tree)
    artist_option = next(o for o in payload["options"] if o["name"] == "artist")
    assert artist_option["autocomplete"] and not artist_option["required"]

    typed = await run(bot, 0, "recommend", option("artist", "dua l", focused=True), kind=4)
    assert typed["type"] == AUTOCOMPLETE_RESULT and 0 < len(typed["choices"]) <= 25
    assert typed["choices"][0]["value"] == "Dua Lipa"
    answer = await run(bot, 0, "recommend", option("artist", typed["choices"][0]["value"]))
    embed = embed_of(answer)
    assert embed.title == "Songs like Dua Lipa"
    assert embed.description.startswith("Understood: the artist **Dua Lipa**")
    assert embed.url is None  # an artist has no track page

    # A song and an artist together: that song by them.
    both = await run(
        bot, 1, "recommend", option("song", "chasing cars"), option("artist", "snow patrol")
    )
    assert embed_of(both).title == "Songs like Chasing Cars — Snow Patrol"

    mixed = await run(bot, 0, "recommend", option("song", "metalli", focused=True), kind=4)
    assert mixed["choices"][0]["value"] == "artist: Metallica"
    assert len(mixed["choices"]) <= 25
    picked = await run(bot, 2, "recommend", option("song", mixed["choices"][0]["value"]))
    assert embed_of(picked).title == "Songs like Metallica"
