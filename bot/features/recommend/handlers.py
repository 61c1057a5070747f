"""`recommend` and `history` as front-end-free handlers.

Each handler takes (services, ctx, text) and returns a Reply; Discord (prefix and slash)
and the console call them through `bot.core.dispatch.dispatch`, which has already applied
the length limit, usage hint and cooldown.

`recommend bad guy but more chill without remixes` applies the inline refinements with
the follow-ups' grammar (`recommender.followups`); either way the answer is stored with its
follow-up state, so `!more`, the buttons and replies continue from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from bot.core.dispatch import MENTION, RequestContext, Services, command
from bot.core.replies import Kind, Line, Reply
from bot.core.text import ago, clip, code, md
from bot.features.catalog.handlers import addition_labels, answer_missing
from bot.features.followups.replies import applied_text
from bot.features.recommend.queries import recent_queries, save_query
from bot.features.recommend.replies import (
    description_reply,
    not_found_reply,
    recommendations_reply,
)
from recommender import (
    Reading,
    Recommender,
    Resolution,
    SimilarQuery,
    TrackResult,
    Understanding,
)
from recommender.followups import Answer, Conversation, Request, describe, split_request, start
from recommender.ranking import ArtistCap
from recommender.search import track_uri

MAX_SNOWFLAKE = 2**63 - 1  # Discord ids are 64-bit; the database stores them signed


# -- recommend ---------------------------------------------------------------------------
@command(
    "recommend",
    usage="<song>",
    summary="ten songs like the song or artist you name (title, `title - artist`, an "
    "artist, or a Spotify link), or that fit your words (a genre, mood, era)",
    examples=(
        "bad guy",
        "dua lipa",
        "bad guy - billie eilish",
        "wonderwall but more chill",
        "neo soul",
        "something chill from the 90s",
        "songs like juicy but from the 2010s",
        "artist: metallica",
    ),
    aliases=("rec",),
    requires_text=True,
    cooldown=True,
)
async def recommend(services: Services, ctx: RequestContext, text: str) -> Reply:
    model = services.models.current  # one model for the whole request, even across a swap
    prefix = services.settings.command_prefix
    k = services.settings.recommend_count
    # A song or artist named exactly is read in a fraction of a millisecond; the others
    # search (typos, songs the catalog lacks, words) and give way to it in a burst.
    exact = await services.compute(model.names_exactly, text)
    found = await services.compute(
        find_song, model, text, k, services.settings.artist_cap, searching=not exact
    )
    if found.described is not None:
        answer = found.described
        stored = await save_query(
            services,
            ctx,
            text,
            None,
            [p.track_id for p in answer.picks],
            model.version,
            found.conversation if answer.picks else None,
        )
        return description_reply(model, text, answer, found.resolution, prefix, stored=stored)
    if found.picks is None and found.best is not None:
        # The plain question: scored together with whatever others are asking right now.
        question = SimilarQuery(found.best.track_id, k, services.settings.artist_cap)
        found = with_picks(found, await services.batched(model.similar_many, question))
    if (
        found.understood.kind in (Reading.MISSING_SONG, Reading.NOT_FOUND)
        and found.resolution.not_a_song is None
    ):
        # A song the catalog lacks: looked up, placed by the model and answered at once,
        # else (lookups off, sources down, unknown everywhere) the offline answer below.
        added = await answer_missing(services, ctx, found.song, model)
        if added is not None:
            return added
    seed = found.understood.seed_track
    if seed is None:
        await save_query(services, ctx, text, None, [], model.version)
        return not_found_reply(found.song, found.understood, prefix)
    picks = found.picks or []
    stored = await save_query(
        services,
        ctx,
        text,
        seed.track_id,
        [p.track_id for p in picks],
        model.version,
        found.conversation if picks else None,  # nothing shown: nothing to follow up
        understood=answered_for(found.understood),
    )
    return recommendations_reply(
        model,
        found.understood,
        picks,
        prefix,
        applied=found.applied,
        stored=stored,
        also_words=found.also_words,
    )


def answered_for(understood: Understanding) -> str | None:
    """What `!history` says an answer was for, when it was not the one song it stores (an
    artist's answer stores their best-known song); None for a song."""
    if understood.kind is Reading.ARTIST and understood.artist is not None:
        return understood.summary
    if understood.kind is Reading.MISSING_SONG and understood.artist is not None:
        return f"songs like {understood.artist.name}, no {understood.title} yet"
    return None


@dataclass(frozen=True)
class Found:
    """What `find_song` worked out for one request (the model work of `recommend`)."""

    song: str  # the request without its inline refinements, as asked
    understood: Understanding  # of `song`: a song, an artist, or why there is none
    picks: list[TrackResult] | None  # None: plain songs like `best`, not picked yet
    conversation: Conversation | None
    applied: str | None  # the inline refinements applied (None: there were none)
    described: Answer | None = None  # the answer to words alone ("neo soul")
    also_words: str | None = None  # the text also reads as words: how to ask for those

    @property
    def best(self) -> TrackResult | None:
        """The song asked for (None for an artist's answer or nothing found)."""
        return self.understood.song

    @property
    def resolution(self) -> Resolution:
        return self.understood.resolution


def with_picks(found: Found, picks: list[TrackResult]) -> Found:
    """`found` with the songs picked for its plain question, and their follow-up state."""
    assert found.best is not None
    ids = [p.track_id for p in picks]
    conversation = Conversation(
        seeds=[found.best.track_id], shown=ids, last=ids, matches=[p.match for p in picks]
    )
    return replace(found, picks=picks, conversation=conversation)


def read_request(
    model: Recommender, text: str, whole: Understanding
) -> tuple[Understanding, Request]:
    """How `text` reads (`whole`: as `model.understand` read all of it): what it names,
    and the inline refinements after it (if any).

    "bad guy but more chill": the song and "chill", unless the whole text names a song
    more surely than the part before the refinements ("Sex, Love & Water - … Remix -
    Armin van Buuren" is a title and its artist, not "Sex" without "Love & Water")."""
    request = split_request(text, model.vocabulary.terms)
    if request.song == text.strip():
        return whole, request
    part = model.understand(request.song)
    if whole.exact and whole.score > part.score:
        return whole, Request(text.strip())
    return part, request


def find_song(model: Recommender, text: str, k: int, cap: ArtistCap) -> Found:
    """Read the request and pick `k` songs, except for a plain song, whose picks are left
    to `Recommender.similar_many` (blocking: runs in a worker thread).

    One reading, most certain first: a link, or a song or artist named exactly ("bad
    guy", "title - artist", "queen"); then words ("neo soul", "something chill from the
    90s", "songs like Juicy but from the 2010s"), before any guess at a title, so "neo
    soul" is never the song "New Soul"; then a song or artist with refinements after
    it; then the closest title or artist. A genre the catalog is labelled with wins over
    a song of that title ("reggaeton"), which is offered instead; other words a title
    also reads as ("happy") keep the song and offer the words."""
    whole = model.understand(text)
    words = describe.read(model, text) if whole.not_a_song is None else None
    if words is not None and (not whole.exact or model.vocabulary.is_label(text)):
        if words.seed is None:
            turn = start(model, [], words.refinements, k, artist_cap=cap)
            shown = whole.resolution if whole.exact else replace(whole.resolution, best=None)
            return Found(
                text, replace(whole, resolution=shown), [], turn.conversation, None, turn.answer
            )
        # "upbeat songs like <song or artist> ...": that part is read as any request is.
        seeded = model.understand(words.seed)
        artist = seeded.artist if seeded.kind is Reading.ARTIST else None
        if artist is not None or seeded.kind is Reading.SONG:
            if artist is not None:
                seeds, name = model.artist_seeds(artist), artist.name
            else:
                assert seeded.song is not None  # a SONG reading always has its song
                seeds, name = [seeded.song.track_id], ""
            turn = start(model, seeds, words.refinements, k, artist_cap=cap, artist=name)
            answer = replace(turn.answer, unknown=list(words.unknown))
            picks, conversation = answer.picks, turn.conversation
            return Found(words.seed, seeded, picks, conversation, applied_text(answer))
    also = f"{text} songs" if words is not None and words.seed is None else None
    understood, request = read_request(model, text, whole)  # the text is read once
    refined = request.song != text.strip()
    song = request.song if refined else text
    artist = understood.artist if understood.kind is not Reading.SONG else None
    if artist is None and (understood.song is None or not refined):
        # None: a plain song, picked later by `similar_many`; []: nothing to pick from.
        unpicked: list[TrackResult] | None = None if understood.song else []
        return Found(song, understood, unpicked, None, None, also_words=also)
    if artist is not None:
        seeds, name = model.artist_seeds(artist), artist.name
    else:
        assert understood.song is not None
        seeds, name = [understood.song.track_id], ""
    turn = start(model, seeds, request.refinements, k, artist_cap=cap, artist=name)
    applied = None
    if refined:
        applied = applied_text(replace(turn.answer, unknown=list(request.unknown)))
    return Found(song, understood, turn.answer.picks, turn.conversation, applied)


# Autocomplete offers at most this many descriptions ("neo soul (genre)") and this many
# artists before songs: enough to find the one typed, few enough that the songs starting
# with those letters still show.
DESCRIPTION_CHOICES = 5
ARTISTS_AMONG_SONGS = 3


def autocomplete_choices(
    services: Services, text: str, limit: int = 25, *, words: bool = False
) -> list[tuple[str, str]]:
    """(name shown, value sent) pairs for a slash command's song option: songs.

    With `words` (`/recommend`), words the catalog knows come first ("neo soul (genre)",
    "chill (mood)", sent as typed), then the artists whose name starts with the text. A
    song's value is its Spotify URI, which `resolve` maps back to exactly that track; an
    artist's is "artist: <name>", which reads as that artist; all fit Discord's
    100-character limit. `/session add` offers songs only (a session is a list of songs;
    an artist typed there still adds their best known).
    """
    if not services.models.ready or len(text) > services.settings.max_query_chars:
        return []
    model = services.models.current
    offers = (
        [
            (clip(f"{offer} ({kind})", 100), offer)
            for offer, kind in describe.suggestions(model, text, min(DESCRIPTION_CHOICES, limit))
        ]
        if words
        else []
    )
    offers += [
        (shown, f"artist: {name}")
        for shown, name in (
            artist_choices(services, text, ARTISTS_AMONG_SONGS) if words and text.strip() else []
        )
    ][: max(limit - len(offers), 0)]
    songs = [
        (clip(t.label, 100), track_uri(t.track_id))
        for t in model.autocomplete(text, limit=limit - len(offers))
    ]
    return [*offers, *songs] if limit > len(offers) else offers


def artist_choices(services: Services, text: str, limit: int = 25) -> list[tuple[str, str]]:
    """(name shown, value sent) pairs for the artist option: artists whose name starts
    with the text, best known first."""
    if not services.models.ready or len(text) > services.settings.max_query_chars:
        return []
    return [
        (clip(f"{a.name} · artist, {a.tracks} song{'s' * (a.tracks != 1)}", 100), a.name[:100])
        for a in services.models.current.autocomplete_artists(text, limit)
    ]


# -- history -----------------------------------------------------------------------------
@command(
    "history",
    usage="[@member]",
    summary="the last 10 songs asked for here, yours or a member's",
    examples=("", "@friend"),
)
async def history(services: Services, ctx: RequestContext, text: str) -> Reply:
    prefix = services.settings.command_prefix
    user_id, name = ctx.user_id, None
    if text:
        match = MENTION.fullmatch(text) or re.fullmatch(r"(\d{15,21})", text)
        if match is None:
            return Reply.error(
                "Who's that?",
                f"Mention a member, e.g. {code(prefix + 'history @name')}, "
                f"or use {code(prefix + 'history')} for your own.",
            )
        user_id = int(match.group(1))
        if user_id > MAX_SNOWFLAKE:  # more digits than any Discord id can have
            return Reply.error("No such member", f"No member has the id {user_id}.")
        # A bare id (or a member who left) has no display name; titles show no mentions,
        # so a raw <@id> would show as-is there.
        name = md(ctx.mentions.get(user_id) or f"Member {user_id}")
    own = user_id == ctx.user_id
    if not own and ctx.guild_id == 0 and not ctx.is_console:
        # Every direct message is stored under "no server": in a DM, only your own.
        return Reply.error(
            "Only your own here",
            f"In a direct message I show only your history; use "
            f"{code(prefix + 'history @name')} in a server to see a member's there.",
        )
    rows = await recent_queries(
        services.db, ctx.guild_id, user_id, limit=services.settings.history_count
    )
    whose = "Your" if own else f"{name}'s"  # name is escaped: titles show markdown
    if not rows:
        hint = f"Try {code(prefix + 'recommend bad guy')}." if own else ""
        return Reply.info(f"{'You have' if own else f'{name} has'} no queries here yet", hint)
    model = services.models.current if services.models.ready else None
    # Songs looked up because the catalog lacked them have no row in the model until the
    # retrain: they are named as the lookup found them, not by their id.
    added = await addition_labels(services, model, (r.resolved_track_id for r in rows))
    now = datetime.now(UTC)
    lines = []
    for row in rows:
        answer = "not found"
        if not row.resolved_track_id and row.recommended_track_ids:
            answer = f"{len(row.recommended_track_ids)} songs for those words"
        if row.understood:
            answer = md(row.understood)
        elif row.resolved_track_id:
            answer = row.resolved_track_id
            if model is not None and row.resolved_track_id in model:
                answer = md(model.track(row.resolved_track_id).label)
            elif row.resolved_track_id in added:
                answer = md(added[row.resolved_track_id])
        lines.append(
            Line(
                text=f"“{md(clip(row.query_text, 80))}”",
                note=f"→ {answer} · {ago(row.created_at, now)}",
            )
        )
    return Reply(
        title=f"{whose} last {len(rows)} {'query' if len(rows) == 1 else 'queries'}",
        lines=lines,
        kind=Kind.INFO,
        footer="newest first",
        private=False,
    )
