"""Follow-ups end to end: dpytest for prefix commands, replies and buttons, the console
chat, and the conversation state in the real database (expiry, restarts).
"""

from __future__ import annotations

import asyncio
import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import discord
import discord.ext.test as dpytest
import pytest
import sqlalchemy as sa
from discord.ext.test import backend, factories
from session_support import (  # noqa: F401  (fresh: autouse)
    buttons,
    click,
    embed_of,
    fresh,
    member,
    start_bot,
)
from session_support import say as ask

from bot.core.dispatch import RequestContext, Services
from bot.core.replies import Reply
from bot.core.settings import Settings
from bot.features.feedback.tables import LIKE, Feedback
from bot.features.feedback.targets import Votes
from bot.features.followups.cog import BUTTONS, ConversationCog
from bot.features.followups.handlers import route_reply_text
from bot.features.followups.queries import TTL, purge_expired
from bot.features.followups.replies import FollowUp
from bot.features.followups.tables import ConversationTurn
from bot.features.privacy.handlers import forget_user
from bot.features.recommend.tables import Query
from bot.frontends.console import chat
from bot.frontends.discord_app import MusicBot
from recommender.search import normalize

LINK = re.compile(r"\]\(https://open\.spotify\.com/track/(\w+)\)")
BAD_GUY = "2Fxmhks0bxGSBdJ92vM42m"


def _settings(data_dir: Path, model_dir: Path, database_url: str) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=data_dir,
        database_url=database_url,
        model_dir=model_dir,
        cooldown_rate=1000,
    )


@pytest.fixture(scope="module")
async def bot(tmp_path_factory: pytest.TempPathFactory, trained_model_dir: Path, database_url: str):
    # session_support.start_bot: dpytest's server first, so the persistent buttons that
    # setup_hook registers land on it, and sent components are kept for `click`.
    settings = _settings(tmp_path_factory.mktemp("conversation"), trained_model_dir, database_url)
    bot = await start_bot(settings, members=3)
    yield bot
    await dpytest.empty_queue()
    await bot.services.close()


async def reply_to(answer: discord.Message, text: str, who: int) -> discord.Message:
    """A member's Discord reply to one of the bot's messages (what the client sends)."""
    channel = answer.channel
    data = factories.make_message_dict(channel, member(who), content=text)
    data["type"] = discord.MessageType.reply.value
    data["message_reference"] = {
        "message_id": answer.id,
        "channel_id": channel.id,
        "guild_id": channel.guild.id,
    }
    data["referenced_message"] = factories.make_message_dict(
        channel, answer.author, id_num=answer.id, content="", embeds=answer.embeds
    )
    backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()
    message = dpytest.get_message()
    assert dpytest.sent_queue.empty(), "one reply, one answer"
    return message


def links(message: discord.Message) -> list[str]:
    return LINK.findall(message.embeds[0].description or "")


def picked(reply: Reply) -> list[str]:
    """The track ids an answer recommends, in order (what its 👍/👎 are about)."""
    return [target.track_id for target in reply.find(Votes).targets]


def features(recommender, ids: list[str], column: str) -> list[float]:
    return recommender.track_table(ids)[column].tolist()


async def turns(bot: MusicBot, user_id: int) -> list[ConversationTurn]:
    async with bot.services.db.session() as session:
        result = await session.scalars(
            sa.select(ConversationTurn)
            .where(ConversationTurn.user_id == user_id)
            .order_by(ConversationTurn.id)
        )
        return list(result.all())


# -- typed follow-ups ------------------------------------------------------------------
async def test_more_pages_never_repeat_and_keep_the_numbering(bot: MusicBot, recommender) -> None:
    first = await ask("!recommend bad guy", who=0)
    assert "/more" in first.embeds[0].footer.text  # works with or without prefix commands
    seen = links(first)
    for page in (2, 3):
        answer = await ask("!more", who=0)
        embed = answer.embeds[0]
        assert embed.title == "More like bad guy — Billie Eilish"
        new = links(answer)
        assert len(new) == 10 and not set(new) & set(seen), f"page {page} repeats"
        seen += new
    assert BAD_GUY not in seen and len(set(seen)) == 30
    # `!like 1` now means the first song of the page just shown.
    chained = await ask("!like 1", who=0)
    pick = recommender.track(links(answer)[0])
    assert chained.embeds[0].title == f"Songs like {pick.name} — {pick.artist}"


CALMER = re.compile(
    r"Applied: calmer than \*bad guy\*(?: and its usual matches)?: energy < (0\.\d\d); "
    r"remixes removed"
)


def calmer_bound(text: str) -> float:
    """The energy bound an answer says it applied for "bad guy but more chill without remixes"."""
    match = CALMER.search(text)
    assert match, text
    return float(match.group(1))


async def test_inline_refinements_are_applied_and_stated(bot: MusicBot, recommender) -> None:
    answer = await ask("!recommend bad guy but more chill without remixes", who=1)
    embed = answer.embeds[0]
    assert embed.title == "Songs like bad guy — Billie Eilish"
    bound = calmer_bound(embed.description)
    assert bound <= 0.425  # bad guy's energy is 0.425; calmer neighbours lower it further
    ids = links(answer)
    assert len(ids) == 10
    assert max(features(recommender, ids, "energy")) <= bound + 0.005
    assert not any("remix" in recommender.track(t).name.lower() for t in ids)
    # The follow-up keeps steering: `!more` stays calm and remix-free, and says so.
    more = await ask("!more", who=1)
    assert "Applied: calmer than *bad guy*" in more.embeds[0].description
    assert not set(links(more)) & set(ids)
    assert max(features(recommender, links(more), "energy")) <= bound + 0.005


async def test_a_remix_title_with_its_artist_is_the_song_not_a_refinement(bot: MusicBot) -> None:
    """ "Remix" inside a copied "title - remix - artist" is part of the song's name."""
    text = "Sex, Love & Water - Sunnery James & Ryan Marciano Remix - Armin van Buuren"
    embed = (await ask(f"!recommend {text}", who=2)).embeds[0]
    assert embed.title == (
        "Songs like Sex, Love & Water - Sunnery James & Ryan Marciano Remix — Armin van Buuren"
    )
    assert "Applied" not in (embed.description or "")


async def test_unknown_words_are_named_back(bot: MusicBot) -> None:
    inline = (await ask("!recommend bad guy but more jazzy", who=2)).embeds[0]
    assert inline.title == "Songs like bad guy — Billie Eilish"
    assert "I didn't understand “jazzy”" in inline.description
    refused = (await ask("!refine jazzy, kazoo", who=2)).embeds[0]
    assert refused.title == "I didn't understand that"
    assert "“jazzy”, “kazoo”" in refused.description and "no remixes" in refused.description


async def test_refine_combines_filters_and_says_when_fewer(bot: MusicBot, recommender) -> None:
    await ask("!recommend Smells Like Teen Spirit - Nirvana", who=2)
    answer = await ask("!refine other artists, 90s, no live", who=2)
    description = answer.embeds[0].description
    assert "other artists than Nirvana" in description and "only 1990–1999 releases" in description
    ids = links(answer)
    assert ids and all(recommender.track(t).artist != "Nirvana" for t in ids)
    assert all(1990 <= recommender.track(t).release_year <= 1999 for t in ids)
    # Few 90s songs by others are much calmer, more acoustic and more instrumental than
    # Smells Like Teen Spirit: the whole catalogue still has ten, further away, and says so.
    strict = await ask("!refine much calmer, acoustic, instrumental", who=2)
    text = strict.embeds[0].description
    assert len(links(strict)) == 10
    assert "further from it" in text
    reset = await ask("!r reset", who=2)
    assert "Applied" not in (reset.embeds[0].description or "")
    assert len(links(reset)) == 10


async def test_answers_spread_artists_until_asked_for_the_artist(
    bot: MusicBot, recommender
) -> None:
    """bad guy's neighbours are mostly Billie Eilish songs; by default a member gets at
    most two of them (and two of any other artist); "more from this artist" lifts it."""
    plain = recommender.similar(recommender.resolve("bad guy - Billie Eilish").best.track_id)
    assert sum(p.artist == "Billie Eilish" for p in plain) > 2  # what the model ranks
    answer = await ask("!recommend bad guy - Billie Eilish", who=1)
    artists = [recommender.track(t).artist for t in links(answer)]
    assert len(artists) == 10
    assert artists.count("Billie Eilish") <= 2
    assert max(artists.count(a) for a in artists) <= 2
    own = await ask("!refine more from this artist", who=1)
    ids = links(own)
    assert "only Billie Eilish" in own.embeds[0].description
    assert len(ids) > 2
    assert all(
        "billie eilish" in normalize(f"{recommender.track(t).artist} {recommender.track(t).name}")
        for t in ids
    )


async def test_like_and_why_follow_the_numbers_shown(bot: MusicBot, recommender) -> None:
    first = await ask("!recommend Levels - Avicii", who=0)
    third = links(first)[2]
    liked = await ask("!like #3", who=0)
    assert (
        liked.embeds[0].title
        == f"Songs like {recommender.track(third).name} — {recommender.track(third).artist}"
    )
    assert recommender.resolve("Levels - Avicii").best.track_id not in links(liked)
    second = links(liked)[1]
    why = (await ask("!why 2", who=0)).embeds[0]
    assert (
        why.title
        == f"Why #2: {recommender.track(second).name} — {recommender.track(second).artist}"
    )
    # One number per pick: `!why` repeats the match the list showed for it.
    listed = re.findall(r" · (\d+%)$", liked.embeds[0].description, re.M)
    assert why.description.endswith(f"Match {listed[1]}."), (listed, why.description)
    out_of_range = (await ask("!like 11", who=0)).embeds[0]
    assert "Pick a number from 1 to 10" in out_of_range.description
    for typo in ("!like 0", "!why 99"):
        answer = (await ask(typo, who=0)).embeds[0]
        assert answer.title == "Which one?" and "from 1 to 10" in answer.description, typo
    for words in ("!like three", "!why two"):
        answer = (await ask(words, who=0)).embeds[0]
        assert answer.title == "Which one?" and "Give the number" in answer.description, words


async def test_nothing_to_follow_and_expiry_after_30_minutes(bot: MusicBot) -> None:
    await ask("!recommend hello - adele", who=2)
    (*_, row) = await turns(bot, member(2).id)
    assert row.expires_at - row.created_at == TTL == timedelta(minutes=30)
    async with bot.services.db.writing() as session:
        await session.execute(
            sa.update(ConversationTurn)
            .where(ConversationTurn.user_id == member(2).id)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    expired = (await ask("!more", who=2)).embeds[0]
    assert expired.title == "Nothing to follow up yet"
    assert "!recommend bad guy" in expired.description
    assert await purge_expired(bot.services.db) >= 1
    assert await turns(bot, member(2).id) == []


async def test_forgetting_a_member_deletes_their_conversations(bot: MusicBot) -> None:
    await ask("!recommend Africa - TOTO", who=1)
    assert await turns(bot, member(1).id)
    others = len(await turns(bot, member(0).id))
    assert (await forget_user(bot.services.db, member(1).id)).conversations >= 1
    assert await turns(bot, member(1).id) == []
    assert len(await turns(bot, member(0).id)) == others
    assert (await ask("!more", who=1)).embeds[0].title == "Nothing to follow up yet"


# -- replies to the bot's message and buttons ------------------------------------------
async def test_a_reply_to_an_answer_steers_that_answer(bot: MusicBot, recommender) -> None:
    older = await ask("!recommend bad guy", who=0)
    await ask("!recommend Enter Sandman - Metallica", who=0)  # a newer answer exists
    calmer = await reply_to(older, "calmer please", who=0)
    embed = calmer.embeds[0]
    assert embed.title == "Songs like bad guy — Billie Eilish"
    assert "Applied: calmer than *bad guy*" in embed.description
    assert max(features(recommender, links(calmer), "energy")) <= 0.425
    # Someone else can steer it too; the new answer is theirs.
    why = await reply_to(calmer, "why 3?", who=1)
    assert why.embeds[0].title.startswith("Why #3: ")
    other = await reply_to(older, "more like 2", who=1)
    second = links(older)[1]
    assert (
        other.embeds[0].title
        == f"Songs like {recommender.track(second).name} — {recommender.track(second).artist}"
    )
    # A reply to a person's message is not a follow-up.
    person = await dpytest.message("hi", member=2)
    data = factories.make_message_dict(person.channel, member(0), content="calmer")
    data["message_reference"] = {"message_id": person.id, "channel_id": person.channel.id}
    backend.get_state().parse_message_create(data)
    await dpytest.run_all_events()
    assert dpytest.sent_queue.empty()


def test_reply_words_route_to_the_follow_up_commands() -> None:
    assert route_reply_text("more") == ("more", "")
    assert route_reply_text("More like 3") == ("like", "3")
    assert route_reply_text("like #4") == ("like", "4")
    assert route_reply_text("why 2?") == ("why", "2")
    assert route_reply_text("no remixes, 90s") == ("refine", "no remixes, 90s")


async def test_buttons_are_under_answers_and_run_the_typed_follow_ups(
    bot: MusicBot, recommender
) -> None:
    answer = await ask("!recommend Blinding Lights - The Weeknd", who=1)
    # (discord.py loads the extension as its own module object, hence no isinstance.)
    cog = bot.get_cog("Conversation")
    assert type(cog).__name__ == ConversationCog.__name__
    # The answer was sent with the four buttons; their fixed custom ids are also registered
    # as a persistent view at start-up, so clicks on old answers work after a restart.
    wanted = [f"conversation:{b[0]}" for b in BUTTONS]
    sent = [b for b in buttons(answer) if b["custom_id"].startswith("conversation:")]
    assert [b["custom_id"] for b in sent] == wanted
    assert [b["label"] for b in sent] == ["More", "Calmer", "More upbeat", "Other artists"]
    persistent = [v for v in bot.persistent_views if type(v).__name__ == "FollowUpView"]
    assert [[c.custom_id for c in v.children] for v in persistent] == [wanted]
    (row,) = [t for t in await turns(bot, member(1).id) if t.message_id == answer.id]
    view = bot.reply_view(Reply(title="x", actions=(FollowUp(row.id),)))
    assert [b.label for b in view.children] == ["More", "Calmer", "More upbeat", "Other artists"]
    assert bot.reply_view(Reply(title="x")) is None  # no conversation, no buttons
    ctx = RequestContext(
        guild_id=answer.guild.id,
        channel_id=answer.channel.id,
        user_id=member(2).id,  # someone else presses
        source="button",
        replying_to=answer.id,  # the button sits under that answer
    )
    shown = links(answer)
    results = {}
    for key, _label, command, text in BUTTONS:
        results[key] = await bot.services.handle(command, ctx, text)
    assert results["more"].title == "More like Blinding Lights — The Weeknd"
    assert not set(picked(results["more"])) & set(shown)
    energy = recommender.track_table(
        [recommender.resolve("Blinding Lights - The Weeknd").best.track_id]
    )["energy"].iloc[0]
    calm = features(recommender, picked(results["calmer"]), "energy")
    upbeat = features(recommender, picked(results["upbeat"]), "energy")
    assert max(calm) <= energy and min(upbeat) >= energy
    assert "Applied: more upbeat than *Blinding Lights*" in results["upbeat"].description
    assert all(recommender.track(t).artist != "The Weeknd" for t in picked(results["other"]))


async def test_a_click_answers_through_discord_and_steers_that_answer(
    bot: MusicBot, recommender
) -> None:
    answer = await ask("!recommend Rolling in the Deep - Adele", who=0)
    seed = recommender.resolve("Rolling in the Deep - Adele").best.track_id
    energy = float(recommender.track_table([seed])["energy"].iloc[0])
    await ask("!recommend Levels - Avicii", who=0)  # a newer answer: the click must not use it
    calmer = await click(bot, answer, "conversation:calmer", member(2))  # someone else clicks
    embed = embed_of(calmer)
    assert embed.title == "Songs like Rolling in the Deep — Adele"
    assert "Applied: calmer than *Rolling in the Deep*" in embed.description
    picked = LINK.findall(embed.description)
    assert len(picked) == 10 and max(features(recommender, picked, "energy")) <= energy
    assert calmer.get("components"), "the new answer has the buttons too"
    assert not calmer.get("flags"), "an answer is for the channel, not only the presser"
    (*_, mine) = await turns(bot, member(2).id)
    assert mine.state["refinements"] == [{"name": "calmer", "steps": 1}]
    more = embed_of(await click(bot, answer, "conversation:more", member(0)))
    assert more.title == "More like Rolling in the Deep — Adele"
    assert not set(LINK.findall(more.description)) & set(links(answer))


async def test_follow_up_answers_carry_votes_like_first_answers(bot: MusicBot, recommender) -> None:
    await ask("!recommend Shape of You - Ed Sheeran", who=1)
    more = await ask("!more", who=1)
    votes = [b for b in buttons(more) if b["custom_id"].startswith("fb:q:")]
    assert [b["label"] for b in votes] == ["1", "2", "3", "4", "5"] * 2
    receipt = await click(bot, more, votes[0]["custom_id"], member(0))
    assert receipt["flags"] == 64 and embed_of(receipt).title == "Vote saved"
    async with bot.services.db.session() as session:
        (vote,) = (
            await session.scalars(sa.select(Feedback).where(Feedback.message_id == more.id))
        ).all()
        asked = await session.get(Query, vote.query_id)
    seed = recommender.resolve("Shape of You - Ed Sheeran").best.track_id
    assert (vote.user_id, vote.track_id, vote.value) == (member(0).id, links(more)[0], LIKE)
    assert vote.seed_track_id == seed  # a 👍 teaches the pair (song asked about, pick)
    assert asked.query_text == "!more" and asked.recommended_track_ids == links(more)
    # An answer to a button press has them too.
    calmer = await click(bot, more, "conversation:calmer", member(2))
    pressed = [c["custom_id"] for row in calmer["components"] for c in row["components"]]
    assert sum(i.startswith("fb:q:") for i in pressed) == 10


# -- state in the database, and the console ----------------------------------------------
async def test_a_restart_keeps_the_conversation(bot: MusicBot, trained_model_dir: Path) -> None:
    first = await ask("!recommend Get Lucky - Daft Punk", who=2)
    ctx = RequestContext(
        guild_id=first.guild.id, channel_id=first.channel.id, user_id=member(2).id, source="prefix"
    )
    restarted = Services(bot.settings)  # a new process: same database, model from disk
    await restarted.start()
    try:
        reply = await restarted.handle("more", ctx, "")
    finally:
        await restarted.close()
    assert reply.title == "More like Get Lucky — Daft Punk"
    assert len(picked(reply)) == 10 and not set(picked(reply)) & set(links(first))


async def test_console_chat_supports_the_same_follow_ups(
    tmp_path: Path, trained_model_dir: Path, fresh_database_url: str
) -> None:
    lines = [
        "bad guy but more chill without remixes",
        "!more",
        "!like 3",
        "!why 2",
        "!refine 2010s",
        "!refine jazzy",
        "!refine much calmer, acoustic, instrumental, 90s",
        "!why 1",
        "quit",
    ]
    stdout = io.StringIO()
    code = await chat(
        _settings(tmp_path / "data", trained_model_dir, fresh_database_url),
        stdin=io.StringIO("\n".join(lines) + "\n"),
        stdout=stdout,
    )
    out = stdout.getvalue()
    answers = out.split("\n> ")
    assert code == 0 and len(answers) == len(lines)  # the quit line is not echoed
    assert calmer_bound(answers[1]) <= 0.425
    assert answers[1].count("https://open.spotify.com/track/") == 10
    assert answers[2].startswith("!more\nMore like bad guy — Billie Eilish")
    third = re.search(r"^ ?3\. (.+?) — ", answers[2], re.M).group(1)
    assert answers[3].startswith(f"!like 3\nSongs like {third} — ")
    assert "Applied: calmer than" in answers[3], "refinements carry over to the new seed"
    assert answers[4].startswith("!why 2\nWhy #2: ") and "Match " in answers[4]
    assert "only 2010–2019 releases" in answers[5]
    assert "I didn't understand that" in answers[6] and "“jazzy”" in answers[6]
    # The whole catalogue is searched: ten songs unless it holds fewer that pass.
    assert "only 1990–1999 releases" in answers[7] and "more instrumental than" in answers[7]
    if answers[7].count("https://open.spotify.com/track/") < 10:
        assert "in the catalogue pass these refinements" in answers[7]
    assert answers[8].startswith("!why 1\nWhy #1: ")
    assert "**" not in out


async def test_a_slow_button_answer_thinks_first_so_the_click_is_not_lost(
    bot: MusicBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a busy machine `more` can outlast Discord's 3 s for a click: "thinking…" first,
    then the answer, as for a slash command (else the click fails and nothing comes)."""
    from session_support import DEFERRED, LAST_RESPONSES

    from bot.frontends import discord_app

    answer = await ask("!recommend Shape of You - Ed Sheeran", who=1)
    handle = bot.services.handle

    async def slow(*args: object, **kwargs: object) -> Reply:
        await asyncio.sleep(0.2)
        return await handle(*args, **kwargs)

    monkeypatch.setattr(discord_app, "DEFER_AFTER_SECONDS", 0.05)
    monkeypatch.setattr(bot.services, "handle", slow)
    more = await click(bot, answer, "conversation:more", member(1))
    assert LAST_RESPONSES[0].payloads[0]["type"] == DEFERRED
    assert more["followup"] and embed_of(more).title.startswith("More like Shape of You")


async def test_an_artist_answer_can_be_followed_up(bot: MusicBot, recommender) -> None:
    answer = await ask("!recommend metalica", who=1)
    embed = answer.embeds[0]
    assert embed.title == "Songs like Metallica"
    assert embed.description.startswith("Understood: the artist **Metallica**")
    ids = links(answer)
    assert len(ids) == 10
    assert [recommender.track(t).artist for t in ids].count("Metallica") <= 2
    more = await ask("!more", who=1)
    assert more.embeds[0].title == "More like Metallica"
    assert len(links(more)) == 10 and not set(links(more)) & set(ids)
    why = (await ask("!why 3", who=1)).embeds[0]
    assert why.title.startswith("Why #3:") and "Metallica" in why.description
    calmer = await ask("!refine chill", who=1)
    assert "Applied: calmer than *Metallica*" in calmer.embeds[0].description
    liked = await ask("!like 2", who=1)
    assert liked.embeds[0].title.startswith("Songs like ")
    assert len(links(liked)) == 10


async def test_a_missing_song_is_never_passed_off_as_another(bot: MusicBot) -> None:
    embed = (await ask("!recommend Levitating - Dua Lipa", who=2)).embeds[0]
    assert embed.title == "Songs like Dua Lipa"
    assert embed.description.startswith("I don't have *Levitating* yet — songs like **Dua Lipa**")
    unknown = (await ask("!recommend Levitating - Nobody In This Catalog", who=2)).embeds[0]
    assert unknown.title.startswith("I couldn't find")
    assert "I don't have *Levitating* by that artist" in unknown.description


async def test_queen_is_the_band_with_the_song_offered(bot: MusicBot) -> None:
    embed = (await ask("!recommend queen", who=0)).embeds[0]
    assert embed.title == "Songs like Queen"
    assert "Also: Queen — Perfume Genius" in embed.description
