"""Where the capped song→song list's ten places go, on `musicbot evaluate`'s hold-out.

Usage: .venv/bin/python benchmarks/diagnose_recall.py [--data CSV] [--seed 0] [--validation]
           [--param KEY=VALUE ...]

Trains the default model on the hold-out's training part (or on the validation split
inside it) and, for every song→song question answered with the default artist spread,
counts the picks that already share a training playlist with the asked-for song (a
hidden song of the query's playlist is never one of them), the picks in no training
playlist (where most hidden songs are), and the hits. It also scores the same lists
with the songs sharing a playlist with the query left out: a diagnosis of what the
protocol rewards, not an answer the bot gives. And it prices a "discovery slot" that
would keep at most N of the ten picks from the query's own playlists: capped Recall@10
and genre@10 for each N, the trade a default of that kind would make.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DEFAULT_DATA = REPO.parent / "shared" / "data" / "spotify_songs.csv"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--validation", action="store_true")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    from recommender import Recommender, evaluation
    from recommender.data import read_rows
    from recommender.ranking import DEFAULT_ARTIST_CAP

    carve = evaluation.validation_split if args.validation else evaluation.make_split
    split = carve(read_rows(args.data), seed=args.seed)
    started = time.perf_counter()
    model = Recommender.train(
        split.train, seed=args.seed, progress=False, **evaluation.parse_params(args.param)
    )
    print(f"split (seed {args.seed}): trained in {time.perf_counter() - started:.1f} s")

    members = split.train.memberships
    playlists_of: dict[int, set[int]] = defaultdict(set)
    tracks_of: dict[int, set[int]] = defaultdict(set)
    for track, playlist in zip(members["track"], members["playlist"], strict=True):
        playlists_of[int(track)].add(int(playlist))
        tracks_of[int(playlist)].add(int(track))

    colisted = unlisted = hits = 0
    served: list[float] = []
    left_out: list[float] = []
    slots = (9, 8, 6, 0)  # most picks allowed from the query's own playlists
    slot_recall: dict[int, list[float]] = defaultdict(list)
    slot_genre: dict[int, list[float]] = defaultdict(list)
    pairs = [(p, q) for p, qs in split.queries.items() for q in qs]
    for playlist, query in pairs:
        relevant = set(split.hidden[playlist])
        row = model.row(query)
        scores = model.scores_for_rows([row])
        mates = set().union(*(tracks_of[p] for p in playlists_of[row])) - {row}
        picks = model.rank(scores, 10, exclude=[row], artist_cap=DEFAULT_ARTIST_CAP, query=[row])
        ids = [model.index.track_ids[r] for r in picks.rows]
        colisted += sum(int(r) in mates for r in picks.rows)
        unlisted += sum(int(r) not in playlists_of for r in picks.rows)
        hits += sum(t in relevant for t in ids)
        served.append(evaluation.recall_at_k(ids, relevant, 10))
        others = model.rank(
            scores, 10, exclude=[row, *mates], artist_cap=DEFAULT_ARTIST_CAP, query=[row]
        )
        ids = [model.index.track_ids[r] for r in others.rows]
        left_out.append(evaluation.recall_at_k(ids, relevant, 10))
        # A sub-list of a capped list keeps the artist spread, so the slot is taken from
        # a long capped list: its best picks, with mates past the first N skipped. (A
        # skipped mate has still used one of its artist's two places, so a slot built
        # into the ranking would find at least this much.)
        longer = model.rank(scores, 200, exclude=[row], artist_cap=DEFAULT_ARTIST_CAP, query=[row])
        for most in slots:
            chosen: list[int] = []
            from_own = 0
            for r in longer.rows:
                if int(r) in mates:
                    if from_own == most:
                        continue
                    from_own += 1
                chosen.append(int(r))
                if len(chosen) == 10:
                    break
            ids = [model.index.track_ids[r] for r in chosen]
            slot_recall[most].append(evaluation.recall_at_k(ids, relevant, 10))
            genre = split.genre.get(query)
            slot_genre[most].append(float(np.mean([split.genre.get(t) == genre for t in ids])))
    n = len(pairs)
    print(
        f"per capped list of 10: {colisted / n:.2f} share a training playlist with the query, "
        f"{unlisted / n:.2f} are in no training playlist, {hits / n:.2f} are hidden songs"
    )
    print(
        f"capped song→song Recall@10 as served {np.mean(served):.4f}; with the songs "
        f"sharing a playlist with the query left out {np.mean(left_out):.4f}"
    )
    for most in slots:
        print(
            f"at most {most} picks from the query's playlists: capped Recall@10 "
            f"{np.mean(slot_recall[most]):.4f}, genre@10 {np.mean(slot_genre[most]):.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
