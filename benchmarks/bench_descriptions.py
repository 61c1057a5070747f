"""How well requests in words are answered: genres, subgenres, moods, eras and mixes.

Descriptions are built from the catalog's own genre and subgenre labels, the follow-up
grammar's moods and eras, and two-part mixes of them (a seeded sample). Each is asked
the way `!recommend` asks it (`find_song`, the bot's one reading of a request), and
each of its picks is checked against the words, from the catalog's own columns:

- a genre or subgenre: the pick is in a playlist whose genre or subgenre label holds
  those words ("hip hop" counts a "southern hip hop" playlist);
- a mood: the pick's audio feature is past the level the grammar gives that mood
  (chill: energy below 0.45);
- an era: the pick's release year is inside it.

Prints the share of descriptions with at least 8 of 10 picks fitting (target >= 90%),
the number answered "I couldn't find" or with no picks (target 0), and the misses.

    .venv/bin/python benchmarks/bench_descriptions.py --model /path/to/model
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.features.recommend.handlers import find_song
from recommender import Recommender
from recommender.followups.grammar import CRITIQUES
from recommender.ranking import DEFAULT_ARTIST_CAP

DATASET = Path(__file__).resolve().parents[2] / "shared" / "data" / "spotify_songs.csv"
# How a member says each mood of the grammar as a request.
MOODS = {
    "calmer": "something chill",
    "upbeat": "upbeat songs",
    "danceable": "songs to dance to",
    "acoustic": "acoustic songs",
    "electronic": "electronic music",
    "happier": "happy songs",
    "sadder": "sad songs",
    "faster": "fast songs",
    "slower": "slow songs",
    "instrumental": "instrumental music",
    "talkier": "rappy songs",
}
ERAS = {
    "from the 70s": (1970, 1979),
    "80s": (1980, 1989),
    "90s": (1990, 1999),
    "from the 2000s": (2000, 2009),
    "2010s": (2010, 2019),
    "before 2000": (0, 1999),
    "after 2015": (2016, 9999),
}


@dataclass(frozen=True)
class Words:
    text: str
    label: str | None = None
    mood: str | None = None
    era: tuple[int, int] | None = None


def descriptions(labels: list[str], seed: int, mixes: int) -> list[Words]:
    single = [Words(label, label=label) for label in labels]
    single += [Words(text, mood=mood) for mood, text in MOODS.items()]
    single += [
        Words(f"songs {era}" if era[0].isdigit() else f"songs {era}", era=span)
        for era, span in ERAS.items()
    ]
    rng = random.Random(seed)
    mixed: list[Words] = []
    for _ in range(mixes):
        kind = rng.choice(("label+mood", "label+era", "mood+era"))
        label = rng.choice(labels)
        mood, mood_text = rng.choice(list(MOODS.items()))
        era, span = rng.choice(list(ERAS.items()))
        mood_word = mood_text.split()[0] if mood != "danceable" else "danceable"
        if mood == "calmer":
            mood_word = "chill"
        if mood == "talkier":
            mood_word = "rappy"
        if kind == "label+mood":
            mixed.append(Words(f"{mood_word} {label}", label=label, mood=mood))
        elif kind == "label+era":
            mixed.append(Words(f"{label} {era}", label=label, era=span))
        else:
            mixed.append(Words(f"{mood_word} songs {era}", mood=mood, era=span))
    unique = {w.text: w for w in [*single, *mixed]}  # a mix drawn twice is asked once
    return list(unique.values())


def label_rows(rec: Recommender, label: str) -> np.ndarray:
    """Rows in a playlist whose genre or subgenre label holds the words."""
    playlists = rec.catalog.playlists
    words = f" {label} "
    named = np.zeros(len(playlists), dtype=bool)
    for column in ("playlist_genre", "playlist_subgenre"):
        text = " " + playlists[column].astype(str).str.casefold().str.replace("-", " ") + " "
        named |= text.str.contains(words, regex=False).to_numpy()
    memberships = rec.catalog.memberships
    inside = memberships["playlist"].isin(np.flatnonzero(named)).to_numpy()
    mask = np.zeros(len(rec), dtype=bool)
    mask[memberships["track"].to_numpy()[inside]] = True
    return mask


def fits(rec: Recommender, words: Words, row: int) -> bool:
    if words.label is not None and not label_rows(rec, words.label)[row]:
        return False
    if words.mood is not None:
        critique = CRITIQUES[words.mood]
        value = float(rec.index.features[critique.feature][row])
        if not critique.direction * (value - critique.level) > 0:
            return False
    if words.era is not None:
        year = int(rec.index.years[row])
        if not words.era[0] <= year <= words.era[1]:
            return False
    return True


def catalog_fits(rec: Recommender, words: Words) -> int:
    """How many catalog songs fit the words at all (a mix the catalog cannot answer ten
    times is reported apart, not counted against the answers)."""
    mask = np.ones(len(rec), dtype=bool)
    if words.label is not None:
        mask &= label_rows(rec, words.label)
    if words.mood is not None:
        critique = CRITIQUES[words.mood]
        values = np.nan_to_num(rec.index.features[critique.feature], nan=-1e9 * critique.direction)
        mask &= critique.direction * (values - critique.level) > 0
    if words.era is not None:
        mask &= (rec.index.years >= words.era[0]) & (rec.index.years <= words.era[1])
    return int(len(set(rec.index.song_codes[mask].tolist())))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, help="a saved model (default: train one)")
    parser.add_argument("--mixes", type=int, default=80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rec = Recommender.load(args.model) if args.model else Recommender.train(DATASET)
    rec.warm_up()
    catalog = rec.catalog.playlists
    labels = sorted(
        {
            str(v).casefold().replace("-", " ")
            for column in ("playlist_genre", "playlist_subgenre")
            for v in catalog[column].dropna().unique()
            if str(v).strip()
        }
    )
    every = descriptions(labels, args.seed, args.mixes)
    asked = [w for w in every if catalog_fits(rec, w) >= 10]
    too_few = [w.text for w in every if catalog_fits(rec, w) < 10]
    good, not_found, misses, seconds = 0, [], [], []
    for words in asked:
        started = time.perf_counter()
        found = find_song(rec, words.text, 10, DEFAULT_ARTIST_CAP)
        seconds.append(time.perf_counter() - started)
        picks = found.described.picks if found.described is not None else (found.picks or [])
        if found.described is None and found.best is not None and found.picks is None:
            picks = rec.similar(found.best.track_id, 10, artist_cap=DEFAULT_ARTIST_CAP)
        if not picks:
            not_found.append(words.text)
            continue
        fitting = sum(fits(rec, words, rec.row(p.track_id)) for p in picks)
        if fitting >= 8 and len(picks) == 10:
            good += 1
        else:
            reading = "words" if found.described is not None else f"song {found.best.label}"
            misses.append(f"{words.text!r}: {fitting}/{len(picks)} fit (read as {reading})")
    print(
        f"descriptions: {len(asked)} ({len(labels)} labels, {len(MOODS)} moods, "
        f"{len(ERAS)} eras, {args.mixes} mixes)"
    )
    print(f"left out, fewer than 10 songs in the catalog fit: {len(too_few)} {too_few}")
    print(f">= 8 of 10 picks fit: {good}/{len(asked)} = {good / len(asked):.1%} (target >= 90%)")
    print(f'answered "I couldn\'t find" / no picks: {len(not_found)} (target 0) {not_found}')
    print(
        f"reading + answering: median {statistics.median(seconds) * 1000:.0f} ms, "
        f"max {max(seconds) * 1000:.0f} ms"
    )
    for miss in misses:
        print("  miss:", miss)


if __name__ == "__main__":
    main()
