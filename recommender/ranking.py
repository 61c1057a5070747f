"""The one ranking function: scores in, the best rows out, one version per song.

Every answer the recommender gives goes through `top_k` (songs like this one, a
playlist's continuation, a refined follow-up, a group's next songs, the baselines in
`musicbot evaluate`), so the rules people notice hold everywhere: a song that was
asked about or already shown never comes back, nor does another version of it (the
single, the album cut, the remaster); two versions of one song never share a list;
and, when asked, no artist fills the list.

Like `implicit`'s `topk`, it works on plain arrays: a score per row, a song code per
row (rows with the same code are versions of one song) and, for the artist cap, an
artist code per row. Rows are returned best first; equal scores keep row order, so
the same scores always give the same answer.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArtistCap:
    """At most `per_artist` picks by any one artist; `per_query_artist` by the query's own.

    `repeat_penalty` also makes a repeat earn its place: every pick already in the list
    by a song's artist (and the query, for the query's artist) lowers its score by this
    much while the list is filled, so a second song by one artist must beat the next
    artist's best by that margin. 0 is a plain cap.
    """

    per_artist: int
    per_query_artist: int
    repeat_penalty: float = 0.0

    def __post_init__(self) -> None:
        if self.per_artist < 1 or self.per_query_artist < 0:
            raise ValueError("an artist cap allows at least one pick per other artist")
        if self.repeat_penalty < 0:
            raise ValueError("an artist cap's repeat penalty cannot be negative")


# What members get unless they ask for an artist's own songs: a list spread over artists.
# The bot's MAX_SAME_ARTIST, MAX_PER_OTHER_ARTIST and ARTIST_REPEAT_PENALTY default to
# these; `musicbot evaluate` reports every model with it ("cap on").
# The repeat penalty was chosen on a validation split inside the hold-out's training part
# (benchmarks/tune_artist_cap.py): of 0.005, 0.01 and 0.015 the smallest that brings
# same-artist picks to <= 1 per list and distinct artists to >= 8 (recall falls with it).
DEFAULT_ARTIST_CAP = ArtistCap(per_artist=2, per_query_artist=2, repeat_penalty=0.015)


@dataclass(frozen=True)
class Ranked:
    """Rows best first and their scores (numpy arrays of the same length)."""

    rows: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.rows)

    def pairs(self) -> list[tuple[int, float]]:
        return list(zip(self.rows.tolist(), self.scores.tolist(), strict=True))


EMPTY = Ranked(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))


def top_k(
    scores: np.ndarray,
    k: int,
    *,
    songs: np.ndarray,
    exclude: Collection[int] = (),
    candidates: np.ndarray | None = None,
    artists: np.ndarray | None = None,
    cap: ArtistCap | None = None,
    query_artists: Collection[int] = (),
    rows: np.ndarray | None = None,
) -> Ranked:
    """The k best rows by score.

    scores: one per row. songs: a song code per row; only the best-scoring row of each
    song is kept. exclude: rows that never come back, and neither does any other version
    of them. candidates: a boolean mask; rows outside it are never picked (and do not
    use up their song). cap (needs `artists`, an artist code per row): the artist
    spread; artists in `query_artists` get `cap.per_query_artist` picks, every other
    artist `cap.per_artist`. Fewer than k rows when fewer pass.
    rows: when given, `scores` are for these catalog rows only (a nearest-neighbour
    index's candidates); `songs`, `artists`, `exclude` and `candidates` stay per catalog
    row, and the rows returned are catalog rows.
    """
    scores = np.asarray(scores)
    songs = np.asarray(songs)
    catalog_size = len(scores) if rows is None else len(songs)
    if rows is not None and len(rows) != len(scores):
        raise ValueError("one score per candidate row is required")
    if len(songs) != catalog_size:
        raise ValueError("one song code per score is required")
    if cap is not None and (artists is None or len(artists) != catalog_size):
        raise ValueError("an artist cap needs one artist code per score")
    if k <= 0 or len(scores) == 0:
        return EMPTY
    excluded = np.fromiter(exclude, dtype=np.int64)
    banned_songs = set(songs[excluded].tolist())
    allowed = None if rows is None else np.asarray(rows, dtype=np.int64)
    pool_scores = scores
    if candidates is not None:
        inside = (
            np.flatnonzero(candidates)
            if allowed is None
            else np.flatnonzero(np.asarray(candidates)[allowed])
        )
        pool_scores = scores[inside]
        allowed = inside if allowed is None else allowed[inside]
    available = len(pool_scores)
    size = min(available, k * 4 + len(excluded) + 8)
    while True:
        order = _best_first(pool_scores, size)
        ordered_rows = order if allowed is None else allowed[order]
        if cap is not None and cap.repeat_penalty > 0 and artists is not None:
            picked = _walk_penalised(
                ordered_rows,
                pool_scores[order],
                k,
                songs,
                banned_songs,
                artists,
                cap,
                set(query_artists),
                complete=size >= available,
            )
        else:
            picked = _walk(ordered_rows, k, songs, banned_songs, artists, cap, query_artists)
        if len(picked) == k or size >= available:
            positions = np.asarray(picked, dtype=np.int64)
            return Ranked(
                ordered_rows[positions].astype(np.int64),
                pool_scores[order[positions]].astype(np.float64),
            )
        size = min(available, size * 4)


def matches(scores: Sequence[float] | np.ndarray, ceiling: float) -> list[float]:
    """The one number a member reads for each pick of a ranked list, best first.

    A pick's score as a share of the most the model can score (`ceiling`), so it stays
    within 0..1 (a raw score adds popularity to a cosine and can pass 1); and never above
    the pick listed before it, because the list's order is the answer: a song placed
    lower for the artist spread reads as no closer than the one above it. Rounded to
    the hundredth shown, so `!why` repeats exactly what the list said."""
    shown: list[float] = []
    ceiling = max(float(ceiling), 1e-9)
    for score in np.asarray(scores, dtype=np.float64).tolist():
        value = min(max(score / ceiling, 0.0), 1.0) if np.isfinite(score) else 0.0
        shown.append(round(min(value, shown[-1]) if shown else value, 2))
    return shown


def _best_first(scores: np.ndarray, size: int) -> np.ndarray:
    """Positions of the `size` best scores (and any tied with the last), best first."""
    if size < len(scores):
        positions = _contenders(scores, size)
        negated = -scores[positions]
        cut = np.partition(negated, size - 1)[size - 1]
        positions = positions[negated <= cut]
    else:
        positions = np.arange(len(scores))
    return positions[np.lexsort((positions, -scores[positions]))]


# Blocks per place wanted in `_contenders`: more blocks, fewer rows past the threshold.
BLOCKS_PER_PLACE = 8


def _contenders(scores: np.ndarray, size: int) -> np.ndarray:
    """Positions holding every score at least as high as the `size`-th best (a few more).

    Partitioning every score was most of an answer's cost (about 0.3 ms of 28k scores,
    for 50 places). The `size`-th best of the block maxima is a score that at least `size`
    rows reach, so no row below it can be among the best; a couple of passes over the
    scores find the few rows above it, and only those are partitioned."""
    block = len(scores) // (size * BLOCKS_PER_PLACE)
    if block < 2:  # too few scores for blocks to save anything
        return np.arange(len(scores))
    maxima = np.maximum.reduceat(scores, np.arange(0, len(scores), block))
    if np.isnan(maxima).any():  # a NaN hides its block's scores: partition them all
        return np.arange(len(scores))
    threshold = np.partition(maxima, len(maxima) - size)[len(maxima) - size]
    return np.flatnonzero(scores >= threshold)


def _walk(
    rows: np.ndarray,
    k: int,
    songs: np.ndarray,
    banned_songs: set[int],
    artists: np.ndarray | None,
    cap: ArtistCap | None,
    query_artists: Collection[int],
) -> list[int]:
    """Positions in `rows` that are picked, in order, skipping banned and repeated songs
    and artists past their cap."""
    seen = set(banned_songs)
    picked: list[int] = []
    own = set(query_artists)
    counts: dict[int, int] = {}
    row_artists = [None] * len(rows) if cap is None or artists is None else artists[rows].tolist()
    for position, (song, artist) in enumerate(zip(songs[rows].tolist(), row_artists, strict=True)):
        if song in seen:
            continue
        if cap is not None:
            limit = cap.per_query_artist if artist in own else cap.per_artist
            if counts.get(artist, 0) >= limit:
                continue
            counts[artist] = counts.get(artist, 0) + 1
        seen.add(song)
        picked.append(position)
        if len(picked) == k:
            break
    return picked


def _walk_penalised(
    rows: np.ndarray,
    row_scores: np.ndarray,
    k: int,
    songs: np.ndarray,
    banned_songs: set[int],
    artists: np.ndarray,
    cap: ArtistCap,
    own: set[int],
    *,
    complete: bool,
) -> list[int]:
    """`_walk` where each pick is the best score after the repeat penalty (greedy);
    positions in `rows`, in the order picked.

    Rows come best first by raw score, so a row is only looked at once no deferred row
    can beat its raw score. When the rows run out before the list is full and the next
    unseen row could still win (`complete` False), the list is returned short so the
    caller looks further.
    """
    seen = set(banned_songs)
    counts: dict[int, int] = {}
    picked: list[int] = []
    row_list = rows.tolist()
    raw = row_scores.tolist()
    row_songs = songs[rows].tolist()
    row_artists = artists[rows].tolist()
    penalty = cap.repeat_penalty
    deferred: list[tuple[float, int, int]] = []  # (-score after penalty, position, count then)
    position = 0

    def push(i: int) -> None:
        artist = row_artists[i]
        count = counts.get(artist, 0)
        earlier = count + (1 if artist in own else 0)
        heapq.heappush(deferred, (penalty * earlier - raw[i], i, count))

    while len(picked) < k:
        while position < len(row_list) and (not deferred or raw[position] > -deferred[0][0]):
            push(position)
            position += 1
        if not deferred:
            break
        negated, i, count = deferred[0]
        if position == len(row_list) and not complete and -negated <= raw[-1]:
            break  # an unseen row might score higher: look further
        heapq.heappop(deferred)
        artist, song = row_artists[i], row_songs[i]
        if song in seen:
            continue
        limit = cap.per_query_artist if artist in own else cap.per_artist
        if counts.get(artist, 0) >= limit:
            continue
        if count != counts.get(artist, 0):  # its artist was picked meanwhile: rescore
            push(i)
            continue
        counts[artist] = count + 1
        seen.add(song)
        picked.append(i)
    return picked


__all__ = ["DEFAULT_ARTIST_CAP", "ArtistCap", "Ranked", "matches", "top_k"]
