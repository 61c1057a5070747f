"""Follow-ups that steer the last answer: `more`, `like <n>`, `refine <words>`, `why <n>`.

Handlers like the others in bot/commands.py (`(services, ctx, text) -> Reply`), so prefix
commands, the buttons under an answer, replies to the bot's message and `musicbot chat`
all run the same code. The recommendation logic is `recommender.followups` (no Discord);
this module keeps each answer's state in the `conversations` table (30 minutes) and turns
answers into Replies.

Which answer a follow-up steers: the one it replies to or sits under (a Discord reply
or a button, see `replying_to`), otherwise the member's newest answer in that channel.
Someone else's answer can be steered too; the new answer is then the presser's own.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select, update

from bot.core.db import Database
from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Kind, Line, Reply
from bot.core.text import md
from bot.features.followups.tables import ConversationTurn

# bot.features.recommend.handlers first: its handlers register before these, so `!help` lists them first.
from bot.features.recommend.handlers import not_found_reply, recommendations_reply
from bot.features.recommend.queries import record_query
from recommender import Recommender, TrackResult
from recommender.followups import (
    Answer,
    Conversation,
    FollowUpError,
    Turn,
    like,
    more,
    parse_refinements,
    refine,
    split_request,
    start,
    why,
)
from recommender.search import normalize

TTL = timedelta(minutes=30)
FOLLOW_UP_HINT = "follow up: !more · !like 3 · !refine chill, no remixes · !why 2"
REFINE_EXAMPLES = "calmer, upbeat, danceable, acoustic, sadder, faster, no remixes, no live, other artists, 90s, deep cuts"

# The bot message a follow-up replies to / a button sits under (set by the Discord cog).
_REPLYING_TO: ContextVar[int | None] = ContextVar("replying_to", default=None)


@contextmanager
def replying_to(message_id: int | None) -> Iterator[None]:
    """Run handlers as a follow-up to that bot message (a Discord reply or a button)."""
    token = _REPLYING_TO.set(message_id)
    try:
        yield
    finally:
        _REPLYING_TO.reset(token)


# -- the conversations table ------------------------------------------------------------
async def save_turn(
    db: Database, ctx: RequestContext, conversation: Conversation, model_version: str
) -> int:
    """Store an answer's state; also drops expired rows. Returns the row id."""
    now = datetime.now(UTC)
    row = ConversationTurn(
        guild_id=ctx.guild_id,
        channel_id=ctx.channel_id,
        user_id=ctx.user_id,
        state=conversation.to_dict(),
        model_version=model_version[:64],
        created_at=now,
        expires_at=now + TTL,
    )
    async with db.writing() as session:
        await session.execute(delete(ConversationTurn).where(ConversationTurn.expires_at < now))
        session.add(row)
        await session.flush()
        return row.id


async def purge_expired(db: Database) -> int:
    """Delete expired conversation rows (also done on every write); returns how many."""
    async with db.writing() as session:
        result = await session.execute(
            delete(ConversationTurn).where(ConversationTurn.expires_at < datetime.now(UTC))
        )
        return int(result.rowcount or 0)


def warm_up(model: Recommender) -> None:
    """Build the per-model lookups refinements and `why` use (about a second), ahead of
    the first follow-up rather than during it."""
    model.warm_up()


async def attach_message(db: Database, turn_id: int, message_id: int) -> None:
    """Remember which bot message shows this answer (for replies and buttons)."""
    async with db.writing() as session:
        await session.execute(
            update(ConversationTurn)
            .where(ConversationTurn.id == turn_id)
            .values(message_id=message_id)
        )


async def find_turn(
    db: Database, ctx: RequestContext, message_id: int | None = None
) -> ConversationTurn | None:
    """The unexpired answer a follow-up steers (see the module docstring)."""
    now = datetime.now(UTC)
    statement = select(ConversationTurn).where(ConversationTurn.expires_at >= now)
    if message_id is not None:
        statement = statement.where(
            ConversationTurn.channel_id == ctx.channel_id,
            ConversationTurn.message_id == message_id,
        )
    else:
        statement = statement.where(
            ConversationTurn.guild_id == ctx.guild_id,
            ConversationTurn.channel_id == ctx.channel_id,
            ConversationTurn.user_id == ctx.user_id,
        )
    statement = statement.order_by(ConversationTurn.created_at.desc(), ConversationTurn.id.desc())
    async with db.session() as session:
        return (await session.scalars(statement.limit(1))).first()


# -- rendering ---------------------------------------------------------------------------
def _with_escaped_names(text: str, tracks: list[TrackResult]) -> str:
    """refine's texts italicise song names (*bad guy*) and name artists; escape those."""
    for track in tracks:
        text = text.replace(f"*{track.name}*", f"*{md(track.name)}*")
        for before in ("than ", "only "):
            text = text.replace(before + track.artist, before + md(track.artist))
    return text


def applied_text(answer: Answer) -> str:
    """'Applied: ...', the fewer-than-asked note and unknown words, for a description."""
    parts = []
    if answer.applied:
        parts.append("Applied: " + _with_escaped_names(answer.summary, answer.query))
    if answer.note:
        parts.append(_with_escaped_names(answer.note, answer.query))
    if answer.unknown:
        parts.append(md(answer.unknown_text))
    return "\n".join(parts)


def _lines(picks: list[TrackResult]) -> list[Line]:
    return [
        Line(text=md(p.name), url=p.url, note=f"— {md(p.artist)} · {p.score:.2f}") for p in picks
    ]


def answer_reply(
    model: Recommender,
    turn: Turn,
    turn_id: int | None,
    heading: str,
    unknown: Sequence[str] = (),
) -> Reply:
    """A follow-up's answer: the picks, what was applied, and the follow-up hint.

    `turn_id` is None for an answer that was not stored (nothing passed): no buttons then.
    """
    answer = turn.answer
    if unknown:
        answer = replace(answer, unknown=list(unknown))
    query = answer.query[0]
    description = applied_text(answer)
    if not answer.picks and not answer.note:
        description += "\nNothing new to show."
    return Reply(
        title=f"{heading} {query.name} — {query.artist}",
        description=description.strip(),
        lines=_lines(answer.picks),
        footer=f"similarity 0–1 (1 = closest) · {FOLLOW_UP_HINT} · model {model.version}",
        data={
            **({"conversation_id": turn_id} if turn_id is not None else {}),
            "seed_track_id": query.track_id,
            "track_ids": [p.track_id for p in answer.picks],
        },
    )


def nothing_to_follow(prefix: str) -> Reply:
    return Reply.info(
        "Nothing to follow up yet",
        f"Ask for a song first, e.g. `{prefix}recommend bad guy`; then `{prefix}more`, "
        f"`{prefix}like 3`, `{prefix}refine chill, no remixes` or `{prefix}why 2`. "
        f"A conversation lasts {int(TTL.total_seconds() // 60)} minutes.",
    )


# -- the recommend hook (bot/commands.py calls these two) --------------------------------
async def remember_answer(
    services: Services, ctx: RequestContext, seed_id: str, picks: list[TrackResult], reply: Reply
) -> None:
    """Make a plain `recommend` answer the member's conversation (so `!more` follows it)."""
    ids = [p.track_id for p in picks]
    if not ids:
        return
    conversation = Conversation(seeds=[seed_id], shown=ids, last=ids)
    turn_id = await save_turn(services.db, ctx, conversation, services.models.current.version)
    reply.data["conversation_id"] = turn_id
    reply.footer = with_hint(reply.footer)


def with_hint(footer: str) -> str:
    """The follow-up hint before the footer's last part (the model version stays last)."""
    head, sep, last = footer.rpartition(" · ")
    return f"{head} · {FOLLOW_UP_HINT} · {last}" if sep else f"{FOLLOW_UP_HINT} · {footer}"


async def recommend_refined(services: Services, ctx: RequestContext, text: str) -> Reply | None:
    """`recommend bad guy but more chill without remixes`; None when the text has no
    inline refinements (then the plain recommend path answers)."""
    request = split_request(text)
    if request.song == text.strip():
        return None
    model = services.models.current
    whole = model.resolve(text)  # a real title that merely looks like "song, refinement"
    if whole.best is not None and normalize(whole.best.name) == normalize(text):
        return None
    resolution = model.resolve(request.song)
    prefix = services.settings.command_prefix
    if resolution.best is None:
        query_id = await record_query(services.db, ctx, text, None, [], model.version)
        return not_found_reply(request.song, resolution.suggestions[:3], prefix, query_id)
    best = resolution.best
    k = services.settings.recommend_count
    turn = await asyncio.to_thread(start, model, [best.track_id], request.refinements, k)
    picks = turn.answer.picks
    query_id = await record_query(
        services.db, ctx, text, best.track_id, [p.track_id for p in picks], model.version
    )
    reply = recommendations_reply(model, best, resolution.alternatives, picks, prefix, query_id)
    answer = replace(turn.answer, unknown=list(request.unknown))
    reply.description = (reply.description + "\n" + applied_text(answer)).strip()
    if not picks:  # recommendations_reply's "no recommendations yet" would be wrong here
        reply.description = reply.description.replace(
            "\n\nI have no recommendations for that song yet.", ""
        )
    if picks:
        turn_id = await save_turn(services.db, ctx, turn.conversation, model.version)
        reply.data["conversation_id"] = turn_id
        reply.footer = with_hint(reply.footer)
    return reply


# -- follow-up handlers ------------------------------------------------------------------
async def _load(services: Services, ctx: RequestContext) -> Conversation | Reply:
    """The conversation to steer, or a Reply explaining why there is none."""
    prefix = services.settings.command_prefix
    message_id = _REPLYING_TO.get()
    row = await find_turn(services.db, ctx, message_id)
    if row is None and message_id is not None:
        row = await find_turn(services.db, ctx)  # an old message: the member's newest answer
    if row is None:
        if message_id is not None:
            return Reply.info(
                "That conversation has ended",
                f"Answers can be followed up for {int(TTL.total_seconds() // 60)} minutes; "
                f"ask again with `{prefix}recommend <song>`.",
            )
        return nothing_to_follow(prefix)
    conversation = Conversation.from_dict(row.state)
    model = services.models.current
    if not all(t in model for t in [*conversation.seeds, *conversation.last]):
        return Reply.info(
            "The model has changed since",
            f"I was retrained and no longer know that answer's songs; "
            f"ask again with `{prefix}recommend <song>`.",
        )
    return conversation


async def _steer(
    services: Services,
    ctx: RequestContext,
    step: Callable[[Recommender, Conversation], Turn],
    heading: str,
    unknown: Sequence[str] = (),
) -> Reply:
    loaded = await _load(services, ctx)
    if isinstance(loaded, Reply):
        return loaded
    model = services.models.current
    try:
        turn = await asyncio.to_thread(step, model, loaded)
    except FollowUpError as error:
        return Reply.error("Which one?", str(error))
    if not turn.answer.picks:
        # Nothing passed: keep the last list as it was, so `why 2` still means what was seen.
        return answer_reply(model, turn, None, heading, unknown)
    turn_id = await save_turn(services.db, ctx, turn.conversation, model.version)
    return answer_reply(model, turn, turn_id, heading, unknown)


def _number(text: str) -> int | None:
    match = re.fullmatch(r"#?\s*(\d{1,3})(?:st|nd|rd|th)?\.?", text.strip().lower())
    return int(match.group(1)) if match else None


def _which_one(services: Services, example: str) -> Reply:
    """The answer to `!like`/`!why` with something that is not a song's number."""
    prefix = services.settings.command_prefix
    return Reply.error(
        "Which one?", f"Give the number of a song in the list, e.g. `{prefix}{example}`."
    )


@command(
    "more",
    summary="the next songs for your last answer, never repeating what you've seen",
    cooldown=True,
)
async def more_(services: Services, ctx: RequestContext, text: str) -> Reply:
    k = services.settings.recommend_count
    return await _steer(services, ctx, lambda m, c: more(m, c, k), "More like")


@command(
    "like",
    usage="<n>",
    summary="a new list seeded by song n of your last answer",
    examples=("3",),
    requires_text=True,
    cooldown=True,
)
async def like_(services: Services, ctx: RequestContext, text: str) -> Reply:
    n = _number(text)
    if n is None:
        return _which_one(services, "like 3")
    k = services.settings.recommend_count
    return await _steer(services, ctx, lambda m, c: like(m, c, n, k), "Songs like")


@command(
    "refine",
    usage="<words>",
    summary="steer your last answer: chill, upbeat, no remixes, other artists, 90s, …",
    examples=("chill, no remixes, 2010s", "other artists", "reset"),
    aliases=("r",),
    requires_text=True,
    cooldown=True,
)
async def refine_(services: Services, ctx: RequestContext, text: str) -> Reply:
    parsed = parse_refinements(text)
    if not parsed.refinements:
        words = ", ".join(f"“{w}”" for w in parsed.unknown) or f"“{text}”"
        return Reply.error(
            "I didn't understand that",
            md(f"I don't know {words} yet. Try: {REFINE_EXAMPLES}; or reset."),
        )
    k = services.settings.recommend_count
    return await _steer(
        services,
        ctx,
        lambda m, c: refine(m, c, parsed.refinements, k),
        "Songs like",
        parsed.unknown,
    )


@command(
    "why",
    usage="<n>",
    summary="why song n of your last answer was recommended",
    examples=("2",),
    requires_text=True,
)
async def why_(services: Services, ctx: RequestContext, text: str) -> Reply:
    n = _number(text)
    if n is None:
        return _which_one(services, "why 2")
    loaded = await _load(services, ctx)
    if isinstance(loaded, Reply):
        return loaded
    model = services.models.current
    try:
        text = await asyncio.to_thread(why, model, loaded, n, md)
    except FollowUpError as error:
        return Reply.error("Which one?", str(error))
    pick = model.track(loaded.pick(n))
    query = model.track(loaded.seeds[0])
    return Reply(
        title=f"Why #{n}: {pick.name} — {pick.artist}",
        description=text,
        kind=Kind.INFO,
        data={"track_id": pick.track_id, "seed_track_id": query.track_id},
    )


# -- free text in a reply to the bot's message ---------------------------------------------
_LIKE = re.compile(r"^(?:more\s+)?(?:like|similar to)\s+(?:the\s+|#|number\s+)?(\d{1,3})\b", re.I)
_WHY = re.compile(r"^why\b\D*(\d{1,3})?", re.I)
_MORE = re.compile(r"^(?:more|next|more please|next page|again|keep going)[.!]*$", re.I)


def route_reply_text(text: str) -> tuple[str, str]:
    """(command, text) for words typed as a reply to an answer ("calmer", "like 3", "why 2")."""
    text = text.strip()
    if _MORE.match(text):
        return "more", ""
    if match := _LIKE.match(text):
        return "like", match.group(1)
    if match := re.fullmatch(r"#(\d{1,3})", text):
        return "like", match.group(1)
    if match := _WHY.match(text):
        return "why", match.group(1) or ""
    return "refine", text
