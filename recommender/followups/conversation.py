"""A conversation about one answer: `start`, then `more`, `like 3`, `refine calmer`, `why 2`.

No Discord here: the bot keeps a `Conversation` (plain data, JSON-serialisable) per
answer and calls these verbs; each returns a `Turn`, the new state and the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from recommender.explain import explain
from recommender.followups import describe
from recommender.followups.constraints import PAGE_SIZE, Answer, recommend
from recommender.followups.grammar import Refinement, combine
from recommender.ranking import ArtistCap
from recommender.recommender import Recommender

MAX_REMEMBERED = 300  # shown/earlier ids a conversation keeps


class FollowUpError(ValueError):
    """A follow-up that cannot be answered; the message is for the person who asked."""


@dataclass
class Conversation:
    """What a follow-up needs to know about the last answer (plain data, JSON-friendly).

    seeds: the query songs (none for a description: "chill 90s hip hop" is refinements
    alone); refinements: what steers them; shown: every track shown for this query and
    refinements (`more` never repeats them); last: the numbered picks of the last answer
    (`like 3`, `why 3`) and matches: the match each showed; earlier: seeds from before a
    `like`, never recommended again in the chain; artist: set when the answer is songs
    like an artist (the seeds are then the songs that stand for them), until `like` seeds
    it by a song.
    """

    seeds: list[str]
    refinements: list[Refinement] = field(default_factory=list)
    shown: list[str] = field(default_factory=list)
    last: list[str] = field(default_factory=list)
    earlier: list[str] = field(default_factory=list)
    page: int = 1
    matches: list[float] = field(default_factory=list)
    artist: str = ""

    @property
    def described(self) -> bool:
        """An answer to words alone ("neo soul"), not to songs."""
        return not self.seeds

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds),
            "refinements": [r.to_dict() for r in self.refinements],
            "shown": list(self.shown)[-MAX_REMEMBERED:],
            "last": list(self.last),
            "earlier": list(self.earlier)[-MAX_REMEMBERED:],
            "page": self.page,
            "matches": list(self.matches),
            "artist": self.artist,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            seeds=[str(s) for s in data.get("seeds", [])],
            refinements=[Refinement.from_dict(r) for r in data.get("refinements", [])],
            shown=[str(s) for s in data.get("shown", [])],
            last=[str(s) for s in data.get("last", [])],
            earlier=[str(s) for s in data.get("earlier", [])],
            page=int(data.get("page", 1)),
            matches=[float(m) for m in data.get("matches", [])],
            artist=str(data.get("artist", "")),
        )

    def pick(self, n: int) -> str:
        if not self.last:
            raise FollowUpError("There is no list to pick from yet; ask for a song first.")
        if not 1 <= n <= len(self.last):
            raise FollowUpError(f"Pick a number from 1 to {len(self.last)}.")
        return self.last[n - 1]

    def match(self, n: int) -> float | None:
        """The match pick n showed (None for an answer stored before matches were kept)."""
        return self.matches[n - 1] if len(self.matches) == len(self.last) else None


def _answer(
    rec: Recommender,
    seeds: Sequence[str],
    refinements: Sequence[Refinement],
    k: int,
    exclude: Sequence[str],
    continuing: bool,
    artist_cap: ArtistCap | None,
    artist: str = "",
) -> Answer:
    """Songs like the seeds (standing for `artist`, if given), or, with no seeds, songs
    that fit the words."""
    if not seeds:
        return describe.recommend(rec, refinements, k, exclude, continuing, artist_cap)
    return recommend(rec, seeds, refinements, k, exclude, continuing, artist_cap, artist=artist)


@dataclass(frozen=True)
class Turn:
    """A follow-up's result: the new conversation state and the answer to show."""

    conversation: Conversation
    answer: Answer


def start(
    rec: Recommender,
    seeds: Sequence[str],
    refinements: Sequence[Refinement] = (),
    k: int = PAGE_SIZE,
    earlier: Sequence[str] = (),
    *,
    artist_cap: ArtistCap | None = None,
    artist: str = "",
) -> Turn:
    """A fresh answer for new seeds; the start of a conversation.

    `artist_cap` spreads every answer of the conversation over artists, except while a
    "same artist" refinement asks for the artist's own songs. `artist`: the seeds stand
    for that artist (`Recommender.artist_seeds`), the answer is songs like them."""
    refinements = combine([], refinements)
    answer = _answer(rec, seeds, refinements, k, list(earlier), False, artist_cap, artist)
    ids = [p.track_id for p in answer.picks]
    conversation = Conversation(
        seeds=list(seeds),
        refinements=list(refinements),
        shown=ids,
        last=ids,
        earlier=list(earlier),
        matches=[p.match for p in answer.picks],
        artist=artist,
    )
    return Turn(conversation, answer)


def more(
    rec: Recommender,
    conversation: Conversation,
    k: int = PAGE_SIZE,
    *,
    artist_cap: ArtistCap | None = None,
) -> Turn:
    """The next k for the same query and refinements, never repeating what was shown."""
    answer = _answer(
        rec,
        conversation.seeds,
        conversation.refinements,
        k,
        [*conversation.earlier, *conversation.shown],
        True,
        artist_cap,
        conversation.artist,
    )
    ids = [p.track_id for p in answer.picks]
    if not ids:  # nothing new: keep the old numbering so `like 3` still means the same
        return Turn(conversation, answer)
    updated = replace(
        conversation,
        shown=[*conversation.shown, *ids],
        last=ids,
        page=conversation.page + 1,
        matches=[p.match for p in answer.picks],
    )
    return Turn(updated, answer)


def like(
    rec: Recommender,
    conversation: Conversation,
    n: int,
    k: int = PAGE_SIZE,
    *,
    artist_cap: ArtistCap | None = None,
) -> Turn:
    """A new answer seeded by pick n; the refinements carry over (a description's words
    too: "like 3" on chill 90s hip hop is songs like #3 that are chill 90s hip hop),
    earlier seeds stay out (an artist's songs that stood for them excepted: they were
    never shut out)."""
    pick = conversation.pick(n)
    earlier = list(dict.fromkeys([*conversation.earlier, *conversation.seeds]))
    if conversation.artist:
        earlier = list(conversation.earlier)
    return start(rec, [pick], conversation.refinements, k=k, earlier=earlier, artist_cap=artist_cap)


def refine(
    rec: Recommender,
    conversation: Conversation,
    refinements: Sequence[Refinement],
    k: int = PAGE_SIZE,
    *,
    artist_cap: ArtistCap | None = None,
) -> Turn:
    """The same query with more refinements (or a reset); a fresh first page."""
    combined = combine(conversation.refinements, refinements)
    return start(
        rec,
        conversation.seeds,
        combined,
        k=k,
        earlier=conversation.earlier,
        artist_cap=artist_cap,
        artist=conversation.artist,
    )


def why(
    rec: Recommender,
    conversation: Conversation,
    n: int,
    escape: Callable[[str], str] = lambda text: text,
) -> str:
    """Why pick n of the last answer was recommended, in people's words, ending with the
    match the list showed for it. For songs like an artist: against the artist's song
    closest to the pick (the concrete reason)."""
    pick, match = conversation.pick(n), conversation.match(n)
    if conversation.described:
        return describe.explain(rec, conversation.refinements, pick, match, escape)
    seed = conversation.seeds[0]
    if conversation.artist and len(conversation.seeds) > 1:
        rows = rec.rows(conversation.seeds)
        closeness = rec.embeddings[rows] @ rec.embeddings[rec.row(pick)]
        others = [i for i, r in enumerate(rows) if rec.index.track_ids[r] != pick]
        if others:
            seed = rec.index.track_ids[rows[max(others, key=lambda i: closeness[i])]]
    return explain(rec, seed, pick, escape, match)


__all__ = [
    "Conversation",
    "FollowUpError",
    "Turn",
    "like",
    "more",
    "refine",
    "start",
    "why",
]
