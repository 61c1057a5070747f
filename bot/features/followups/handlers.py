"""Follow-ups that steer an answer: `more`, `like <n>`, `refine <words>`, `why <n>`.

Handlers like every other (`(services, ctx, text) -> Reply`), so prefix commands, the
buttons under an answer, replies to the bot's message and `musicbot chat` all run the
same code. The recommendation logic is `recommender.followups` (no Discord); each answer's
state is a row of the `conversations` table (queries.py, 30 minutes), and each answer
with picks is stored as a query too, so its 👍/👎 work like a first answer's.

Which answer a follow-up steers: the one it replies to or sits under
(`ctx.replying_to`: a Discord reply or a button), otherwise the member's newest answer in
that channel. Someone else's answer can be steered too; the new answer is then the
presser's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Kind, Reply
from bot.core.serving import settle_memory
from bot.core.text import md
from bot.features.followups.queries import TTL, find_turn
from bot.features.followups.replies import applied_text
from bot.features.recommend.queries import StoredAnswer, save_query
from bot.features.recommend.replies import answer_actions, pick_lines, picks_footer
from recommender import Recommender, TrackResult
from recommender.followups import (
    Conversation,
    FollowUpError,
    Turn,
    like,
    more,
    parse_refinements,
    refine,
    why,
)

T = TypeVar("T")
REFINE_EXAMPLES = "calmer, upbeat, danceable, acoustic, sadder, faster, no remixes, no live, other artists, 90s, deep cuts"


def warm_up(model: Recommender) -> None:
    """Build the per-model lookups refinements and `why` use (about a second), ahead of
    the first follow-up rather than during it; then leave them out of garbage
    collections, as the model itself (`settle_memory`)."""
    model.warm_up()
    settle_memory()


def answer_reply(
    model: Recommender,
    turn: Turn,
    stored: StoredAnswer | None,
    heading: str,
    unknown: Sequence[str] = (),
) -> Reply:
    """A follow-up's answer: the picks, what was applied, and the follow-up hint.

    `stored` is None for an answer that was not stored (nothing passed): no buttons then.
    """
    answer = turn.answer
    if unknown:
        answer = replace(answer, unknown=list(unknown))
    description = applied_text(answer)
    if not answer.picks and not answer.note:
        description += "\nNothing new to show."
    query: TrackResult | None = None
    if answer.query:
        query = answer.query[0]
        about = answer.artist or f"{query.name} — {query.artist}"  # an artist, or a song
        title = f"{heading} {about}"
    else:  # an answer to words alone: it says what it understood
        title = f"{'More for' if heading == 'More like' else 'Songs for'} {answer.understood}"
        description = f"Understood: {md(answer.understood)}\n" + (
            md(answer.note) if answer.note else ""
        )
        if not answer.picks and not answer.note:
            description += "Nothing new to show."
    return Reply(
        title=title,
        description=description.strip(),
        lines=pick_lines(answer.picks),
        footer=picks_footer(model.version, True),  # the conversation goes on either way
        actions=answer_actions(stored, query.track_id if query else None, answer.picks),
    )


def nothing_to_follow(prefix: str) -> Reply:
    return Reply.info(
        "Nothing to follow up yet",
        f"Ask for a song first, e.g. `{prefix}recommend bad guy`; then `{prefix}more`, "
        f"`{prefix}like 3`, `{prefix}refine chill, no remixes` or `{prefix}why 2`. "
        f"A conversation lasts {int(TTL.total_seconds() // 60)} minutes.",
    )


# -- follow-up handlers ------------------------------------------------------------------
async def _load(
    services: Services, ctx: RequestContext, model: Recommender
) -> Conversation | Reply:
    """The conversation to steer, or a Reply explaining why there is none."""
    prefix = services.settings.command_prefix
    message_id = ctx.replying_to
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
    if not all(t in model for t in [*conversation.seeds, *conversation.last]):
        return Reply.info(
            "The model has changed since",
            f"I was retrained and no longer know that answer's songs; "
            f"ask again with `{prefix}recommend <song>`.",
        )
    return conversation


async def _follow(
    services: Services, ctx: RequestContext, model: Recommender, step: Callable[[Conversation], T]
) -> tuple[Conversation, T] | Reply:
    """`step` run (in a worker thread) on the conversation ctx steers, or why it cannot."""
    loaded = await _load(services, ctx, model)
    if isinstance(loaded, Reply):
        return loaded
    try:
        return loaded, await services.compute(step, loaded)
    except FollowUpError as error:
        return Reply.error("Which one?", str(error))


async def _steer(
    services: Services,
    ctx: RequestContext,
    step: Callable[[Recommender, Conversation], Turn],
    heading: str,
    asked: str,
    unknown: Sequence[str] = (),
) -> Reply:
    """A follow-up that answers with new picks; `asked` is the command as typed."""
    model = services.models.current
    followed = await _follow(services, ctx, model, lambda conversation: step(model, conversation))
    if isinstance(followed, Reply):
        return followed
    _, turn = followed
    picks = turn.answer.picks
    if not picks:
        # Nothing passed: keep the last list as it was, so `why 2` still means what was seen.
        return answer_reply(model, turn, None, heading, unknown)
    stored = await save_query(
        services,
        ctx,
        services.settings.command_prefix + asked,
        turn.answer.query[0].track_id if turn.answer.query else None,
        [p.track_id for p in picks],
        model.version,
        turn.conversation,
        understood=_about(model, turn.conversation),
    )
    return answer_reply(model, turn, stored, heading, unknown)


def _about(model: Recommender, conversation: Conversation) -> str | None:
    """What `!history` says a follow-up was about when its seeds stand for a name: an
    artist's answer stays the artist's until `like` adds songs to follow; a looked-up
    song's stand-ins are songs like it. None: the seed song names it."""
    name = conversation.artist
    if not name:
        return None
    return f"the artist {name}" if model.knows_artist(name) else f"songs like {name}"


def _song_number(services: Services, text: str, example: str) -> int | Reply:
    """The song number `!like`/`!why` were given ("3", "#3", "3rd"), or how to give one."""
    match = re.fullmatch(r"#?\s*(\d{1,3})(?:st|nd|rd|th)?\.?", text.strip().lower())
    if match:
        return int(match.group(1))
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
    k, cap = services.settings.recommend_count, services.settings.artist_cap
    return await _steer(
        services, ctx, lambda m, c: more(m, c, k, artist_cap=cap), "More like", "more"
    )


@command(
    "like",
    usage="<n>",
    summary="a new list seeded by song n of your last answer",
    examples=("3",),
    requires_text=True,
    cooldown=True,
)
async def like_(services: Services, ctx: RequestContext, text: str) -> Reply:
    n = _song_number(services, text, "like 3")
    if isinstance(n, Reply):
        return n
    k, cap = services.settings.recommend_count, services.settings.artist_cap
    return await _steer(
        services, ctx, lambda m, c: like(m, c, n, k, artist_cap=cap), "Songs like", f"like {n}"
    )


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
    # The words the answer was asked with: the grammar's and the catalog's ("neo soul").
    parsed = parse_refinements(text, services.models.current.vocabulary.terms)
    if not parsed.refinements:
        words = ", ".join(f"“{w}”" for w in parsed.unknown) or f"“{text}”"
        return Reply.error(
            "I didn't understand that",
            md(f"I don't know {words} yet. Try: {REFINE_EXAMPLES}; or reset."),
        )
    k, cap = services.settings.recommend_count, services.settings.artist_cap
    return await _steer(
        services,
        ctx,
        lambda m, c: refine(m, c, parsed.refinements, k, artist_cap=cap),
        "Songs like",
        f"refine {text}",
        parsed.unknown,
    )


@command(
    "why",
    usage="<n>",
    summary="why song n of your last answer was recommended",
    examples=("2",),
    requires_text=True,
    cooldown=True,
)
async def why_(services: Services, ctx: RequestContext, text: str) -> Reply:
    n = _song_number(services, text, "why 2")
    if isinstance(n, Reply):
        return n
    model = services.models.current
    followed = await _follow(services, ctx, model, lambda c: why(model, c, n, md))
    if isinstance(followed, Reply):
        return followed
    conversation, reason = followed
    pick = model.track(conversation.pick(n))
    return Reply(
        title=f"Why #{n}: {pick.name} — {pick.artist}",
        description=reason,
        kind=Kind.INFO,
        private=False,
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
