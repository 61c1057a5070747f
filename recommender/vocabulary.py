"""The words a catalog knows for kinds of music, learned from the catalog itself.

Members ask for "neo soul", "classic rock" or "hip hop" as often as for a song. The
words that name kinds of music differ from catalog to catalog: spotify_songs.csv labels
each playlist with a genre and a subgenre ("r&b" / "neo soul"), while a Million Playlist
Dataset import has no labels at all, only the names people gave their playlists ("Throwback
Jams", "country roads"). So the vocabulary is learned when a model is trained, from what
that catalog has, and saved with the model (a model saved before has it derived from its
catalog when it loads):

- genre and subgenre labels, each a term;
- words and two-word phrases of playlist names that at least `MIN_PLAYLISTS` playlists
  share, and that are neither the follow-up grammar's words (moods, eras, filters: those
  keep their meaning) nor words that name no kind of music ("my", "best", "2019").

A term's songs are the songs of the playlists it names: for a label, the playlists
labelled with it or with a narrower label that holds it ("southern hip hop" is hip hop);
for a playlist word, the playlists with it in their name. The moods, critiques and eras are the follow-up grammar's
(`recommender.followups.grammar`): requests and follow-ups read one vocabulary, this
catalog's terms plus the grammar.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from recommender.data import Catalog
from recommender.followups.grammar import parse_refinements, phrase

# A playlist-name word must be shared by this many playlists to count as a kind of music.
MIN_PLAYLISTS = 3
# ... and by at most this share of them: a word in every other playlist name says nothing.
MAX_SHARE = 0.2
# Words of playlist names that never name a kind of music.
_NOT_MUSIC = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "my",
        "your",
        "our",
        "his",
        "her",
        "their",
        "its",
        "me",
        "we",
        "you",
        "i",
        "it",
        "is",
        "are",
        "be",
        "this",
        "that",
        "these",
        "those",
        "to",
        "for",
        "in",
        "on",
        "at",
        "by",
        "with",
        "from",
        "all",
        "best",
        "top",
        "most",
        "greatest",
        "ever",
        "new",
        "now",
        "today",
        "hits",
        "hit",
        "playlist",
        "playlists",
        "mix",
        "mixes",
        "list",
        "songs",
        "song",
        "music",
        "tracks",
        "track",
        "vol",
        "volume",
        "edition",
        "update",
        "updated",
        "weekly",
        "daily",
        "week",
        "day",
        "night",
        "part",
        "full",
        "set",
        "sound",
        "sounds",
        "of",
        "essentials",
        "essential",
        "favorites",
        "favourites",
        "favorite",
        "favourite",
        "collection",
        "selection",
        "presents",
        "radio",
        "official",
        "edit",
        "x",
        "feat",
        "ft",
        "vs",
        "il",
        "la",
        "le",
        "el",
        "los",
        "las",
        "de",
        "del",
        "y",
        "en",
        "und",
        "di",
        "da",
        "du",
        "des",
        "un",
        "une",
        "que",
        "por",
        "para",
        "con",
    ]
)
SHARE_FROM = 50
# A word whose playlists mostly carry a longer phrase with it is a fragment of that phrase.
FRAGMENT_SHARE = 0.8
_NUMBER = re.compile(r"^'?\d+'?s?$")
# Kinds of term, in the order "Understood:" and the autocomplete list them.
GENRE, SUBGENRE, PLAYLIST = "genre", "subgenre", "playlist"


@dataclass(frozen=True)
class Vocabulary:
    """This catalog's terms for kinds of music: phrase -> kind (genre/subgenre/playlist)."""

    terms: dict[str, str] = field(default_factory=dict)

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and phrase(text) in self.terms

    def __len__(self) -> int:
        return len(self.terms)

    def kind(self, term: str) -> str:
        return self.terms.get(phrase(term), "")

    def shown(self, term: str) -> str:
        """How a term reads back: a label as itself, a playlist word as where it comes from."""
        term = phrase(term)
        return f"“{term}” playlists" if self.terms.get(term, PLAYLIST) == PLAYLIST else term

    def is_label(self, term: str) -> bool:
        """One of the catalog's genre or subgenre labels (not a playlist-name word)."""
        return self.terms.get(phrase(term), PLAYLIST) != PLAYLIST

    def labels(self) -> list[str]:
        """The catalog's genre and subgenre labels (not playlist words)."""
        return [t for t in self.ordered() if self.terms[t] != PLAYLIST]

    def ordered(self) -> list[str]:
        """Labels first (genres, then subgenres), then playlist words; each alphabetical."""
        rank = {GENRE: 0, SUBGENRE: 1, PLAYLIST: 2}
        return sorted(self.terms, key=lambda t: (rank.get(self.terms[t], 3), t))

    # -- saved with the model --------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"terms": dict(sorted(self.terms.items()))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        return cls({str(k): str(v) for k, v in dict(data.get("terms", {})).items()})

    # -- learning ----------------------------------------------------------------------------
    @classmethod
    def learn(cls, catalog: Catalog) -> Vocabulary:
        """The terms of `catalog` (see the module docstring)."""
        playlists = catalog.playlists
        terms: dict[str, str] = {}
        for column, kind in (("playlist_subgenre", SUBGENRE), ("playlist_genre", GENRE)):
            if column not in playlists.columns:
                continue
            for label in playlists[column].dropna().astype(str).unique().tolist():
                term = phrase(label)
                if term and not _NUMBER.match(term):  # a label is the catalog's own word
                    terms[term] = kind  # a genre named like a subgenre is the genre
        names = playlists["playlist_name"].dropna().astype(str).tolist()
        counts: Counter[str] = Counter()
        for name in names:
            words = phrase(name).split()
            found = set(words)
            found.update(" ".join(pair) for pair in zip(words, words[1:], strict=False))
            counts.update(found)
        # (A handful of playlists is too few to say a word is everywhere.)
        most = int(MAX_SHARE * len(names)) if len(names) >= SHARE_FROM else len(names)
        common = {t: c for t, c in counts.items() if MIN_PLAYLISTS <= c <= most}
        # "hip" alone is only ever part of "hip hop": a fragment is no term, nor is a
        # pair with a fragment in it ("hop r&b", from "Hip Hop R&B").
        in_pairs: dict[str, tuple[int, str]] = {}  # word -> its most common pair
        for term, count in common.items():
            for word in term.split() if " " in term else ():
                in_pairs[word] = max(in_pairs.get(word, (0, "")), (count, term))
        fragments = {
            t: in_pairs[t][1]
            for t, c in common.items()
            if " " not in t and in_pairs.get(t, (0, ""))[0] >= FRAGMENT_SHARE * c
        }
        for term in common:
            if term in terms or term in fragments or not _names_music(term):
                continue
            if any(fragments.get(word, term) != term for word in term.split()):
                continue
            terms[term] = PLAYLIST
        return cls(terms)


def _names_music(term: str) -> bool:
    """Whether `term` may name a kind of music: not a filler or number word, and not a
    word the follow-up grammar already reads (a mood, an era, a filter)."""
    words = term.split()
    if any(_NUMBER.match(w) for w in words) or all(w in _NOT_MUSIC for w in words):
        return False
    if words[0] in _NOT_MUSIC or words[-1] in _NOT_MUSIC or len(term) < 2:
        return False
    parsed = parse_refinements(term)
    return not parsed.refinements or bool(parsed.unknown)


class TermRows:
    """Which catalog rows each term names (the songs of its playlists), built on first use."""

    def __init__(self, vocabulary: Vocabulary, catalog: Catalog) -> None:
        self.vocabulary = vocabulary
        self.catalog = catalog
        self._masks: dict[str, np.ndarray] = {}

    def _playlist_text(self) -> tuple[pd.Series, pd.Series, pd.Series]:
        if not hasattr(self, "_text"):
            playlists = self.catalog.playlists

            def column(name: str) -> pd.Series:
                if name not in playlists.columns:
                    return pd.Series([""] * len(playlists))
                return playlists[name].fillna("").astype(str).map(phrase)

            self._text = (
                column("playlist_genre"),
                column("playlist_subgenre"),
                " " + column("playlist_name") + " ",
            )
        return self._text

    def mask(self, term: str) -> np.ndarray:
        """A boolean mask over catalog rows: the songs of the playlists `term` names."""
        term = phrase(term)
        if term not in self._masks:
            genre, subgenre, name = self._playlist_text()
            # Every playlist the words name: labelled with them or with a narrower label
            # ("southern hip hop" is hip hop); a playlist word, with it in its name.
            words = f" {term} "
            if self.vocabulary.terms.get(term, PLAYLIST) == PLAYLIST:
                named = name.str.contains(words, regex=False)
            else:  # a label: the catalog's own word for those playlists
                named = (" " + genre + " ").str.contains(words, regex=False) | (
                    " " + subgenre + " "
                ).str.contains(words, regex=False)
            chosen = np.flatnonzero(named.to_numpy(dtype=bool))
            memberships = self.catalog.memberships
            inside = memberships["playlist"].isin(chosen).to_numpy()
            mask = np.zeros(self.catalog.num_tracks, dtype=bool)
            mask[memberships["track"].to_numpy()[inside]] = True
            self._masks[term] = mask
        return self._masks[term]


__all__ = ["GENRE", "PLAYLIST", "SUBGENRE", "TermRows", "Vocabulary"]
