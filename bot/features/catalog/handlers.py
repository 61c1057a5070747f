"""A catalog that grows with the community: a song the catalog lacks is looked up
(`lookup.py`), answered at once from where the model places it, and kept as an addition
(`additions` table) that the next retrain learns as an ordinary song. Admins see and
remove additions with `!catalog list|remove`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from bot.core.dispatch import RequestContext, Services, command
from bot.core.replies import Kind, Line, Reply
from bot.core.text import clip, code, md
from bot.features.catalog.lookup import Lookup, Outcome, make_lookup, song_query
from bot.features.catalog.queries import (
    AdditionLog,
    addition_metadata,
    additions_by_id,
    list_additions,
    remove_addition,
)
from bot.features.catalog.tables import Addition
from bot.features.recommend.queries import StoredAnswer, save_query
from bot.features.recommend.replies import recommendations_reply
from recommender import (
    PlacedTrack,
    PlaceQuery,
    Reading,
    Recommender,
    Resolution,
    Understanding,
)
from recommender.followups import Conversation

log = logging.getLogger(__name__)

LOOKUP_KEY = "catalog.lookup"
ADDITIONS_KEY = "catalog.additions"
SOURCE_NAMES = {"spotify": "Spotify", "musicbrainz": "MusicBrainz", "presence": "Spotify"}
LISTED = 20
# A song the catalog lacks has no row of its own until the retrain: its nearest catalog
# songs (its first picks) stand for it in follow-ups and in a session's suggestions.
STAND_INS = 3


def lookup_for(services: Services) -> Lookup:
    """This process's lookup (its HTTP session is made inside the running event loop)."""
    lookup = services.extras.get(LOOKUP_KEY)
    if lookup is None:
        lookup = make_lookup(services.settings)
        services.extras[LOOKUP_KEY] = lookup
        services.on_close(lookup.close)
    return lookup


def additions_log(services: Services) -> AdditionLog:
    """This process's queue of looked-up songs to keep (written in the background)."""
    added = services.extras.get(ADDITIONS_KEY)
    if added is None:
        added = AdditionLog(services.db)
        services.extras[ADDITIONS_KEY] = added
        services.on_close(added.flush)
    return added


async def flush_additions(services: Services) -> None:
    """Write the looked-up songs noted so far (before reading `additions`)."""
    added = services.extras.get(ADDITIONS_KEY)
    if added is not None:
        await added.flush()


@dataclass(frozen=True)
class LookedUp:
    """A song the catalog lacks, found by a source and placed by the model."""

    placed: PlacedTrack
    source: str  # the source that knew it: spotify, musicbrainz, presence


async def look_up(
    services: Services, text: str, model: Recommender, k: int | None = None
) -> LookedUp | None:
    """`text`, a song the catalog lacks, looked up and placed by the model with its `k`
    nearest songs, and kept as an addition for the next retrain; None when it cannot be
    (lookups off, every source down, no such song, nothing to place it by). Never more
    than the lookup's deadline."""
    query = song_query(text)
    lookup = lookup_for(services)
    if query is None or not lookup.enabled:
        return None
    known = True
    if query.artist:
        known = (
            model.knows_artist(query.artist)  # a dictionary look-up once it is built
            if model.placer_ready
            else await services.compute(model.knows_artist, query.artist)
        )
    looked = await lookup.find(query, known_artist=lambda _artist: known)
    if looked.outcome is not Outcome.FOUND or looked.song is None:
        return None
    song = looked.song
    k = k or services.settings.recommend_count
    # Placed with the others looked up at the same moment: one read of the model for all.
    question = PlaceQuery(song, k, services.settings.artist_cap)
    placed = await services.batched(model.place_many, question)
    if placed is None or not placed.picks:
        return None
    if placed.track.track_id not in model:
        additions_log(services).note(song)
    return LookedUp(placed, looked.source)


async def answer_missing(
    services: Services, ctx: RequestContext, text: str, model: Recommender
) -> Reply | None:
    """Songs like `text`, a song the catalog lacks (`look_up`); None when it cannot be
    looked up: the caller then gives its offline answer."""
    found = await look_up(services, text, model)
    if found is None:
        return None
    placed = found.placed
    stored = await save_query(
        services,
        ctx,
        text,
        placed.track.track_id,
        [p.track_id for p in placed.picks],
        model.version,
        stand_in_conversation(placed),
    )
    return added_reply(model, placed, found.source, services.settings.command_prefix, stored)


@dataclass(frozen=True)
class StandIns:
    """For songs a list holds that the model has no row for yet (additions): the catalog
    songs standing for each, and each one's title."""

    songs: dict[str, list[str]]
    titles: dict[str, str]


async def _additions_among(
    services: Services, model: Recommender | None, track_ids: Iterable[str | None]
) -> list[Addition]:
    """The additions among `track_ids` that `model` has no row for (a looked-up song
    before the retrain learns it); no database read when there are none."""
    unknown = [t for t in dict.fromkeys(track_ids) if t and (model is None or t not in model)]
    if not unknown:
        return []
    await flush_additions(services)  # one noted a moment ago may not be written yet
    return await additions_by_id(services.db, unknown)


async def addition_labels(
    services: Services, model: Recommender | None, track_ids: Iterable[str | None]
) -> dict[str, str]:
    """How songs the model lacks but a lookup found are named ("title — artist"), by id:
    `!history` and `session show` name them so, not by their Spotify id."""
    return {a.track_id: a.label for a in await _additions_among(services, model, track_ids)}


async def stand_ins(services: Services, model: Recommender, track_ids: list[str]) -> StandIns:
    """The additions among `track_ids` placed again by the model (as their answers were):
    how a session's `next` counts a song looked up for it before the retrain learns it."""
    rows = await _additions_among(services, model, track_ids)
    if not rows:
        return StandIns({}, {})
    questions = [PlaceQuery(addition_metadata(a), STAND_INS) for a in rows]
    placed = await services.compute(model.place_many, questions)
    songs = {
        a.track_id: [p.track_id for p in where.picks]
        for a, where in zip(rows, placed, strict=True)
        if where is not None and where.picks
    }
    return StandIns(songs, {a.track_id: a.label for a in rows})


def stand_in_conversation(placed: PlacedTrack) -> Conversation:
    """The follow-ups of a looked-up song's answer (`!more`, `!like 3`, `!why 2`,
    `!refine chill`): as for an artist's answer, songs that stand for it are the seeds,
    and they may come back as picks (they are not what was asked for)."""
    ids = [p.track_id for p in placed.picks]
    return Conversation(
        seeds=ids[:STAND_INS],
        shown=ids,
        last=ids,
        matches=[p.match for p in placed.picks],
        artist=placed.track.name,
    )


def added_reply(
    model: Recommender,
    placed: PlacedTrack,
    source: str,
    prefix: str,
    stored: StoredAnswer | None,
) -> Reply:
    understood = Understanding(
        query=placed.track.label,
        kind=Reading.SONG,
        resolution=Resolution(query=placed.track.label, best=placed.track),
        song=placed.track,
    )
    reply = recommendations_reply(model, understood, placed.picks, prefix, stored=stored)
    if placed.track.track_id in model:
        return reply
    where = SOURCE_NAMES.get(source, source)
    note = (
        f"\nNew to this server's catalog (found on {where}): I'll learn it properly at the "
        "next retrain."
    )
    if placed.rough:
        basis = (
            "its genres (" + ", ".join(md(g) for g in placed.matched_genres[:3]) + ")"
            if placed.matched_genres
            else "its release year"
        )
        note += f"\nIts artist is new to me too, so these are a rough guess from {basis}."
    return replace(reply, description=(reply.description or "") + note)


# -- admins: what waits for the next retrain ---------------------------------------------
@command(
    "catalog",
    usage="list | remove <id>",
    summary="songs looked up because the catalog lacked them, waiting for the next retrain "
    "(admins); `remove` drops one",
    examples=("list", "remove 0VjIjW4GlUZAMYd2vXMi3b"),
    admin_only=True,
)
async def catalog(services: Services, ctx: RequestContext, text: str) -> Reply:
    prefix = services.settings.command_prefix
    verb, _, rest = text.strip().partition(" ")
    verb = verb.lower() or "list"
    await flush_additions(services)
    if verb == "list":
        rows, total = await list_additions(services.db, LISTED)
        if not rows:
            return Reply.info(
                "No additions",
                "No song has been looked up yet: every song asked for was in the catalog."
                if services.settings.lookup != "off"
                else "Lookups are off (LOOKUP=off), so no song is added.",
            )
        model = services.models.current if services.models.ready else None
        lines = [
            Line(
                text=f"{md(clip(a.title, 80))} — {md(clip(a.artist, 60))}",
                note=f"· {code(a.track_id)} · asked {a.times_asked}× · "
                f"{SOURCE_NAMES.get(a.source, a.source)}"
                + (" · learned" if model is not None and a.track_id in model else ""),
            )
            for a in rows
        ]
        more = f" (the {LISTED} most asked for)" if total > LISTED else ""
        return Reply(
            title=f"{total} song{'s' if total != 1 else ''} added to the catalog{more}",
            description="Each becomes an ordinary catalog song at the next retrain. "
            f"Remove one with {code(prefix + 'catalog remove <id>')}.",
            lines=lines,
            kind=Kind.INFO,
        )
    if verb == "remove":
        which = rest.strip()
        if not which:
            return Reply.error(
                "Which one?",
                f"Say its id, e.g. {code(prefix + 'catalog remove <id>')} "
                f"(ids are in {code(prefix + 'catalog list')}).",
            )
        gone = await remove_addition(services.db, which[:80])
        if not gone:
            return Reply.error(
                "No such addition",
                f"No added song has the id {code(clip(which, 80))}; see {code(prefix + 'catalog list')}.",
            )
        names = "; ".join(f"{md(a.title)} — {md(a.artist)}" for a in gone)
        return Reply.info(
            "Removed",
            f"{names} will not be in the next retrain's catalog. A model that already "
            "learned it keeps it until then.",
        )
    return Reply.error(
        "Unknown option",
        f"Use {code(prefix + 'catalog list')} or {code(prefix + 'catalog remove <id>')}.",
    )
