"""What a 👍/👎 button is about (`VoteTarget`, encoded in its custom_id so it survives a
restart) and the `Votes` action a feature puts on an answer to get those buttons."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from bot.core.replies import Action
from bot.features.feedback.tables import DISLIKE, LIKE

QUERY = "q"
SESSION = "s"
# Discord custom_ids hold at most 100 characters; track ids are 22.
CUSTOM_ID = re.compile(
    r"fb:(?P<kind>[qs]):(?P<ref>\d{1,19}):(?P<track>[A-Za-z0-9]{1,32})"
    r":(?P<seed>[A-Za-z0-9]{1,32}):(?P<value>[ud])"
)


@dataclass(frozen=True)
class VoteTarget:
    """One pick of a stored answer: a query (q) or a session (s), the recommended track,
    and the song it was recommended for."""

    kind: str
    ref: int
    track_id: str
    seed_track_id: str

    def custom_id(self, value: int) -> str | None:
        """The button's custom_id, or None when the ids cannot be encoded."""
        text = (
            f"fb:{self.kind}:{self.ref}:{self.track_id}:{self.seed_track_id}:"
            f"{'u' if value == LIKE else 'd'}"
        )
        return text if CUSTOM_ID.fullmatch(text) and len(text) <= 100 else None

    @classmethod
    def from_match(cls, match: re.Match[str]) -> tuple[VoteTarget, int]:
        value = LIKE if match["value"] == "u" else DISLIKE
        return cls(match["kind"], int(match["ref"]), match["track"], match["seed"]), value


@dataclass(frozen=True)
class Votes(Action):
    """👍/👎 under an answer's top picks; `targets` in the order the picks are listed."""

    targets: tuple[VoteTarget, ...]

    @classmethod
    def on_query(cls, query_id: int, seed_track_id: str, track_ids: Iterable[str]) -> Votes:
        """The picks of a stored query (a recommendation or a follow-up answer)."""
        return cls(tuple(VoteTarget(QUERY, query_id, t, seed_track_id) for t in track_ids))

    @classmethod
    def on_session(cls, session_id: int, picks: Sequence[tuple[str, str]]) -> Votes:
        """A session's picks as (track, the session song it is closest to)."""
        return cls(tuple(VoteTarget(SESSION, session_id, t, seed) for t, seed in picks))
