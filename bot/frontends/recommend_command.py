"""`musicbot recommend`: the bot's answer to a song or an artist, printed for a shell."""

from __future__ import annotations

import argparse
import re
import sys

from bot.frontends.cli_settings import _settings


def _recommend(args: argparse.Namespace) -> int:
    from bot.core.replies import render_text
    from bot.core.serving import load_current_model
    from bot.features.recommend.handlers import find_song
    from bot.features.recommend.replies import (
        description_reply,
        not_found_reply,
        recommendations_reply,
    )
    from recommender import Recommender
    from recommender.artifacts import ArtifactError

    if not 1 <= args.k <= MAX_RECOMMEND_K:
        print(f"musicbot recommend: -k wants 1 to {MAX_RECOMMEND_K}", file=sys.stderr)
        return 2
    if len(args.song) > 1 and any(" " in song.strip() for song in args.song):
        # `musicbot recommend "bad guy" "hello"` used to look for "bad guy hello".
        print(
            'musicbot recommend: one song at a time, e.g. musicbot recommend "bad guy" '
            f"(got {len(args.song)}: {', '.join(repr(s) for s in args.song)})",
            file=sys.stderr,
        )
        return 2
    settings = _settings()
    directory = args.model or settings.model_dir
    try:
        model = Recommender.load(directory) if args.model else load_current_model(settings)
    except ArtifactError as error:
        print(f"musicbot recommend: {error}; train one with `musicbot train`.", file=sys.stderr)
        return 1
    text = " ".join(args.song).strip()
    # Hints name this command as typed in a shell, not the chat's `!recommend`.
    prefix = SHELL_PREFIX
    # The same reading of a request as the bot's: a song, an artist, or words ("neo soul").
    found = find_song(model, text, args.k, settings.artist_cap)
    if found.described is not None:
        reply = description_reply(model, text, found.described, found.resolution, prefix)
        print(_shell_quoted(render_text(reply)))
        return 0 if found.described.picks else 1
    if found.understood.seed_track is None:
        print(_shell_quoted(render_text(not_found_reply(found.song, found.understood, prefix))))
        return 1
    picks = found.picks
    if picks is None:
        assert found.best is not None
        picks = model.similar(found.best.track_id, k=args.k, artist_cap=settings.artist_cap)
    print(
        _shell_quoted(
            render_text(
                recommendations_reply(
                    model,
                    found.understood,
                    picks,
                    prefix,
                    applied=found.applied,
                    also_words=found.also_words,
                )
            )
        )
    )
    return 0


MAX_RECOMMEND_K = 100
SHELL_PREFIX = "musicbot "
# A hint up to the end of its line or the next clause: `musicbot recommend bad guy - x`
_SHELL_HINT = re.compile(r"musicbot recommend ([^\n;,]+?)(?=,? or |;|$|\n| ·)", re.M)


def _shell_quoted(text: str) -> str:
    """Hints as a shell needs them: the song quoted (`musicbot recommend 'Don't Stop'`)."""
    import shlex

    def quoted(song: str) -> str:
        return f'"{song}"' if not set(song) & set('"$`\\!') else shlex.quote(song)

    return _SHELL_HINT.sub(lambda m: f"musicbot recommend {quoted(m.group(1))}", text)
