"""Finding the artist a person means, and what stands for an artist in the model.

People type "dua lipa", "metalica", "the weeknd" or "weeknd" and mean an artist. The
catalog spells every artist one way per track ("Beyoncé", "BEYONCE" are one artist once
normalised, as `CatalogIndex.artist_codes` already counts them); this index maps typed
text to those artists, typos included, and orders an artist's songs best known first.

An artist's place in the model: the mean of their best-known songs' vectors (at most
`SEED_SONGS` of them). The default model serves each song as its own vector with its
artist's and album's node vectors appended, so every one of those songs carries the
artist's node, and their mean is the artist's node plus the region their songs sit in.
This works for every saved model (older ones and the baselines included), since it needs
nothing but the track vectors they already have.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property

import numpy as np
from rapidfuzz import fuzz, process

from recommender.ranking import ArtistCap
from recommender.search import (
    FUZZY_BLOCK_MIN,
    FUZZY_CANDIDATES,
    MAX_QUERY_CHARS,
    TrigramBlocks,
    normalize,
)

# "metalica", "eminen", "dua lipaa": a typo or two; below this an artist is only suggested.
ARTIST_FUZZY_ACCEPT = 86.0
# The songs whose mean stands for an artist: their best known, which is who they are to
# most listeners (and a bound on the cost for an artist with thousands of tracks).
SEED_SONGS = 50
# Songs like an artist hold at most this many of their own: the member knows them already,
# and asked for songs *like* them.
OWN_SONGS = 2


def own_songs_cap(cap: ArtistCap | None, k: int) -> ArtistCap:
    """The artist spread of an answer about an artist: at most `OWN_SONGS` of theirs (fewer
    if the spread allows fewer), the spread's own rule for everyone else (no spread: any
    number, up to `k`)."""
    if cap is None:
        return ArtistCap(per_artist=max(k, 1), per_query_artist=OWN_SONGS)
    return replace(cap, per_query_artist=min(cap.per_query_artist, OWN_SONGS))


class ArtistIndex:
    """The artists of one catalog: names, songs (best known first), popularity."""

    def __init__(
        self,
        artist_codes: np.ndarray,
        artists: Sequence[str],
        artist_names: Sequence[str],
        popularity: np.ndarray,
    ) -> None:
        codes = np.asarray(artist_codes, dtype=np.int64)
        count = int(codes.max()) + 1 if len(codes) else 0
        # Rows grouped by artist, each artist's best-known song first (ties: catalog order).
        order = np.lexsort((np.arange(len(codes)), -popularity, codes))
        self._rows = order
        self._starts = np.concatenate([[0], np.cumsum(np.bincount(codes, minlength=count))])
        first = order[self._starts[:-1]] if count else np.zeros(0, dtype=np.int64)
        self.top_row = first  # per artist code: their most popular song's row
        self.popularity = popularity[first] if count else np.zeros(0)
        self.key = [artists[r] for r in first.tolist()]  # normalised name per code
        self.name = [artist_names[r] for r in first.tolist()]  # as the catalog spells it
        self.code_of: dict[str, int] = {}
        for code, key in enumerate(self.key):
            self.code_of.setdefault(key, code)
        self._blocks: TrigramBlocks | None = None

    def __len__(self) -> int:
        return len(self.key)

    def rows(self, code: int, limit: int | None = None) -> np.ndarray:
        """The artist's rows, best known first."""
        start, end = int(self._starts[code]), int(self._starts[code + 1])
        if limit is not None:
            end = min(end, start + limit)
        return self._rows[start:end]

    def size(self, code: int) -> int:
        return int(self._starts[code + 1] - self._starts[code])

    # -- finding ----------------------------------------------------------------------------
    def exact(self, query: str) -> int | None:
        """The artist whose normalised name is `query` ("weeknd" finds "The Weeknd")."""
        code = self.code_of.get(query)
        if code is None and not query.startswith("the "):
            code = self.code_of.get(f"the {query}")
        return code

    def find(self, text: str, limit: int = 5, *, fuzzy: bool = True) -> list[tuple[int, float]]:
        """Artists the text may name, best first: (code, score 0..100), exact names 100.
        An exact name skips the typo search, unless more than one answer is wanted."""
        query = normalize(str(text)[:MAX_QUERY_CHARS])
        if not query:
            return []
        found: dict[int, float] = {}
        code = self.exact(query)
        if code is not None:
            found[code] = 100.0
            if limit == 1:
                return [(code, 100.0)]
        if not fuzzy:
            return list(found.items())
        for _, score, position in self._extract(query, limit):
            found.setdefault(int(position), float(score))
        ranked = sorted(found.items(), key=lambda item: (-item[1], -self.popularity[item[0]]))
        return ranked[:limit]

    def _extract(self, query: str, limit: int) -> list[tuple[str, float, int]]:
        """Typo-tolerant matches (QRatio, a few ms over ten thousand names); a big
        catalog's names are first narrowed by shared letter triples, as titles are."""
        if len(self.key) < FUZZY_BLOCK_MIN:
            return process.extract(query, self.key, scorer=fuzz.QRatio, limit=limit, processor=None)
        if self._blocks is None:
            self._blocks = TrigramBlocks(self.key)
        positions = self._blocks.candidates(query, FUZZY_CANDIDATES)
        subset = [self.key[p] for p in positions.tolist()]
        return [
            (text, score, int(positions[i]))
            for text, score, i in process.extract(
                query, subset, scorer=fuzz.QRatio, limit=limit, processor=None
            )
        ]

    @cached_property
    def _sorted(self) -> list[tuple[str, int]]:
        named = [(key, code) for code, key in enumerate(self.key)]
        named += [(key[4:], code) for key, code in named if key.startswith("the ")]
        return sorted(named)

    def complete(self, text: str, limit: int = 5) -> list[int]:
        """Artists whose name starts with what was typed, best known first."""
        query = normalize(str(text)[:MAX_QUERY_CHARS])
        if not query:  # nothing typed yet: the best known
            return np.argsort(-self.popularity, kind="stable")[:limit].tolist()
        keys = self._sorted
        start = bisect.bisect_left(keys, (query, -1))
        codes: list[int] = []
        for key, code in keys[start:]:
            if not key.startswith(query) or len(codes) >= 2000:
                break
            codes.append(code)
        codes = sorted(set(codes), key=lambda c: (-self.popularity[c], c))
        return codes[:limit]

    def warm_up(self) -> None:
        self._sorted  # noqa: B018 - built now rather than on the first keystroke
        if len(self.key) >= FUZZY_BLOCK_MIN and self._blocks is None:
            self._blocks = TrigramBlocks(self.key)


__all__ = ["ARTIST_FUZZY_ACCEPT", "OWN_SONGS", "SEED_SONGS", "ArtistIndex", "own_songs_cap"]
