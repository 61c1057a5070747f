"""The bot's core commands as front-end-free handlers: recommend and history.

Each handler takes (services, ctx, text) and returns a Reply; Discord (prefix and slash)
and the console call them through `bot.core.dispatch.dispatch`, which has already applied the
length limit, usage hint and cooldown.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.core.dispatch import MENTION, RequestContext, Services, command
from bot.core.replies import Kind, Line, Reply
from bot.core.text import ago, clip, code, md
from bot.features.recommend.queries import recent_queries, record_query
from recommender import Recommender, TrackResult

SPOTIFY_URI = "spotify:track:{}"


def hint_command(prefix: str, track: TrackResult) -> str:
    """A command that picks exactly this track (`title - artist` resolves exactly)."""
    return code(f"{prefix}recommend {track.name} - {track.artist}")


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
    from bot.features.followups import (
        handlers as conversation,  # issue 7's follow-ups; it imports this module
    )

    # "bad guy but more chill without remixes": inline refinements.
    refined = await conversation.recommend_refined(services, ctx, text)
    if refined is not None:
        return refined
    model = services.models.current  # one model for the whole request, even across a swap
    resolution = model.resolve(text)
    prefix = services.settings.command_prefix
    if resolution.best is None:
        query_id = await record_query(services.db, ctx, text, None, [], model.version)
        return not_found_reply(text, resolution.suggestions[:3], prefix, query_id)

    best = resolution.best
    picks = model.similar(best.track_id, k=services.settings.recommend_count)
    query_id = await record_query(
        services.db, ctx, text, best.track_id, [p.track_id for p in picks], model.version
    )
    reply = recommendations_reply(model, best, resolution.alternatives, picks, prefix, query_id)
    await conversation.remember_answer(services, ctx, best.track_id, picks, reply)  # !more etc.
    return reply


def recommendations_reply(
    model: Recommender,
    best: TrackResult,
    alternatives: list[TrackResult],
    picks: list[TrackResult],
    prefix: str,
    query_id: int,
) -> Reply:
    year = f" ({best.release_year})" if best.release_year else ""
    description = f"Understood: **{md(best.name)}** — {md(best.artist)}{year}"
    if alternatives:
        shown = alternatives[:3]
        others = "; ".join(f"{md(a.name)} — {md(a.artist)}" for a in shown)
        more = f" and {len(alternatives) - 3} more" if len(alternatives) > 3 else ""
        description += f"\nAlso: {others}{more}; try {hint_command(prefix, shown[0])}"
    lines = [
        Line(text=md(p.name), url=p.url, note=f"— {md(p.artist)} · {p.score:.2f}") for p in picks
    ]
    if not picks:
        description += "\n\nI have no recommendations for that song yet."
    return Reply(
        title=f"Songs like {best.name} — {best.artist}",
        description=description,
        lines=lines,
        footer=f"similarity 0–1 (1 = closest) · model {model.version}",
        data={
            "query_id": query_id,
            "seed_track_id": best.track_id,
            "track_ids": [p.track_id for p in picks],
        },
    )


def not_found_reply(text: str, suggestions: list[TrackResult], prefix: str, query_id: int) -> Reply:
    shown = text if len(text) <= 60 else text[:57] + "..."
    if suggestions:
        description = "Did you mean:"
        lines = [
            Line(text=f"{md(s.name)} — {md(s.artist)}", note=f"· try {hint_command(prefix, s)}")
            for s in suggestions
        ]
    else:
        description = (
            f"Try the title and the artist, e.g. {code(prefix + 'recommend bad guy - billie eilish')}, "
            "or paste a Spotify track link."
        )
        lines = []
    return Reply(
        title=f"I couldn't find “{shown}”",
        description=description,
        lines=lines,
        kind=Kind.ERROR,
        data={"query_id": query_id, "suggestions": [s.track_id for s in suggestions]},
    )


def autocomplete_choices(services: Services, text: str, limit: int = 25) -> list[tuple[str, str]]:
    """(name shown, value sent) pairs for the slash command's song option.

    The value is the track's Spotify URI, which `resolve` maps back to exactly that track;
    both fit Discord's 100-character limit.
    """
    if not services.models.ready or len(text) > services.settings.max_query_chars:
        return []
    return [
        (clip(t.label, 100), SPOTIFY_URI.format(t.track_id))
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
        # A bare id (or a member who left) has no display name; titles are plain text,
        # so a raw <@id> would show as-is there.
        name = ctx.mentions.get(user_id) or f"Member {user_id}"
    own = user_id == ctx.user_id
    rows = await recent_queries(
        services.db, ctx.guild_id, user_id, limit=services.settings.history_count
    )
    whose = "Your" if own else f"{name}'s"  # titles are plain text, not markdown
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
        data={"user_id": user_id, "query_ids": [row.id for row in rows]},
    )
