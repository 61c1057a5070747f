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
from bot.features.catalog.handlers import answer_missing
from bot.features.followups.replies import applied_text
from bot.features.recommend.queries import recent_queries, save_query
from bot.features.recommend.replies import not_found_reply, recommendations_reply
from recommender import Recommender, Resolution, SimilarQuery, TrackResult
from recommender.followups import Conversation, split_request, start
from recommender.ranking import ArtistCap
from recommender.search import track_uri

MAX_SNOWFLAKE = 2**63 - 1  # Discord ids are 64-bit; the database stores them signed


# -- recommend ---------------------------------------------------------------------------
@command(
    "recommend",
    usage="<song>",
    summary="ten songs like the one you name (title, `title - artist`, or a Spotify link)",
    examples=("bad guy", "bad guy - billie eilish"),
    aliases=("rec",),
    requires_text=True,
    cooldown=True,
)
async def recommend(services: Services, ctx: RequestContext, text: str) -> Reply:
    model = services.models.current  # one model for the whole request, even across a swap
    prefix = services.settings.command_prefix
    k = services.settings.recommend_count
    found = await services.compute(find_song, model, text, k, services.settings.artist_cap)
    if found.best is not None and found.picks is None:
        # The plain question: scored together with whatever others are asking right now.
        question = SimilarQuery(found.best.track_id, k, services.settings.artist_cap)
        found = with_picks(found, await services.batched(model.similar_many, question))
    if found.best is None and found.resolution.not_a_song is None:
        # A song the catalog lacks: looked up, placed by the model and answered at once,
        # else (lookups off, sources down, unknown everywhere) the offline answer below.
        added = await answer_missing(services, ctx, found.song, model)
        if added is not None:
            return added
    if found.best is None:
        await save_query(services, ctx, text, None, [], model.version)
        return not_found_reply(found.song, found.resolution, prefix)
    best, picks = found.best, found.picks or []
    stored = await save_query(
        services,
        ctx,
        text,
        best.track_id,
        [p.track_id for p in picks],
        model.version,
        found.conversation if picks else None,  # nothing shown: nothing to follow up
    )
    return recommendations_reply(
        model,
        best,
        found.resolution.alternatives,
        picks,
        prefix,
        applied=found.applied,
        stored=stored,
    )


@dataclass(frozen=True)
class Found:
    """What `find_song` worked out for one request (the model work of `recommend`)."""

    song: str  # the song part of the text, as asked
    resolution: Resolution  # of `song`: the song, other readings, or why there is none
    picks: list[TrackResult] | None  # None: plain songs like `best`, not picked yet
    conversation: Conversation | None
    applied: str | None  # the inline refinements applied (None: there were none)

    @property
    def best(self) -> TrackResult | None:
        return self.resolution.best


def with_picks(found: Found, picks: list[TrackResult]) -> Found:
    """`found` with the songs picked for its plain question, and their follow-up state."""
    assert found.best is not None
    ids = [p.track_id for p in picks]
    conversation = Conversation(seeds=[found.best.track_id], shown=ids, last=ids)
    return replace(found, picks=picks, conversation=conversation)


def find_song(model: Recommender, text: str, k: int, cap: ArtistCap) -> Found:
    """Resolve the song, and pick `k` when refinements were asked for; the plain question's
    picks are left to `Recommender.similar_many` (blocking: runs in a worker thread)."""
    request = split_request(text)
    resolution = model.resolve(text)
    # "bad guy but more chill": inline refinements, unless the whole text names a song
    # exactly ("Sex, Love & Water - … Remix - Armin van Buuren" is a title and its artist).
    refined = request.song != text.strip() and not resolution.exact
    song = request.song if refined else text
    if refined:
        resolution = model.resolve(song)
    best = resolution.best
    if best is None:
        return Found(song, resolution, [], None, None)
    if refined:
        turn = start(model, [best.track_id], request.refinements, k, artist_cap=cap)
        applied = applied_text(replace(turn.answer, unknown=list(request.unknown)))
        picks, conversation = turn.answer.picks, turn.conversation
        return Found(song, resolution, picks, conversation, applied)
    return Found(song, resolution, None, None, None)


def autocomplete_choices(services: Services, text: str, limit: int = 25) -> list[tuple[str, str]]:
    """(name shown, value sent) pairs for the slash command's song option.

    The value is the track's Spotify URI, which `resolve` maps back to exactly that track;
    both fit Discord's 100-character limit.
    """
    if not services.models.ready or len(text) > services.settings.max_query_chars:
        return []
    return [
        (clip(t.label, 100), track_uri(t.track_id))
        for t in services.models.current.autocomplete(text, limit=limit)
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
    now = datetime.now(UTC)
    lines = []
    for row in rows:
        answer = "not found"
        if row.resolved_track_id:
            answer = row.resolved_track_id
            if model is not None and row.resolved_track_id in model:
                answer = md(model.track(row.resolved_track_id).label)
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
