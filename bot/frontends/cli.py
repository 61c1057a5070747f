"""`musicbot` command line: run, chat, sync, train, recommend, evaluate, doctor."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from bot.frontends.cli_settings import _settings
from bot.frontends.recommend_command import _recommend
from bot.frontends.run_command import _chat, _run, _sync
from bot.frontends.train_command import _import, _train


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="musicbot", description="A Discord bot that recommends music."
    )
    parser.add_argument("--version", action="version", version=f"musicbot {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("run", help="start the Discord bot (needs DISCORD_TOKEN)")
    doctor = sub.add_parser(
        "doctor",
        help="check settings, paths, database, model, disk and Discord set-up (trains nothing)",
    )
    doctor.add_argument(
        "--offline", action="store_true", help="do not ask Discord about the token and intents"
    )
    sub.add_parser("chat", help="talk to the bot in this terminal (reads stdin)")
    sync = sub.add_parser(
        "sync",
        help="publish the slash commands now (`run` publishes them only when they changed)",
    )
    sync.add_argument(
        "--guild",
        type=int,
        metavar="ID",
        help="only to this server, where they appear at once (handy while setting up)",
    )

    train = sub.add_parser("train", help="train a model on a CSV and save it")
    from recommender.train import add_training_arguments

    add_training_arguments(train, from_settings=True)
    train.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="train with N processes on this machine in lock-step (torchrun); each takes "
        "its share of the cores (default 1)",
    )

    rec = sub.add_parser(
        "recommend", help="print songs like a song or an artist (no Discord, no DB)"
    )
    rec.add_argument("song", nargs="+", help='e.g. "bad guy", "dua lipa" or a Spotify link')
    rec.add_argument("--model", type=Path, help="model directory (default: MODEL_DIR)")
    rec.add_argument("-k", type=int, default=10, help="how many (default 10)")

    importer = sub.add_parser("import", help="convert another dataset into a catalog CSV")
    kinds = importer.add_subparsers(dest="kind", required=True, metavar="KIND")
    mpd = kinds.add_parser("mpd", help="the Million Playlist Dataset's JSON slices")
    mpd.add_argument("slices", type=Path, help="directory of mpd.slice.*.json files")
    mpd.add_argument("--out", type=Path, default=Path("mpd_songs.csv"), help="catalog CSV to write")

    # `evaluate` belongs to recommender/evaluation.py; its arguments are passed through.
    sub.add_parser("evaluate", help="hold-out evaluation against baselines (see --help)")
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("musicbot")
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return "(not installed)"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "evaluate":
        from recommender.evaluation import main as evaluate_main

        rest = argv[1:]
        if not any(a == "--data" or a.startswith("--data=") for a in rest) and not (
            {"-h", "--help"} & set(rest)
        ):
            rest = ["--data", str(_settings().data_path), *rest]  # DATA_PATH, like train
        return evaluate_main(rest)
    args = build_parser().parse_args(argv)
    handlers = {
        "run": _run,
        "doctor": _doctor,
        "chat": _chat,
        "sync": _sync,
        "train": _train,
        "recommend": _recommend,
        "import": _import,
    }
    return handlers[args.command](args)


def _doctor(args: argparse.Namespace) -> int:
    from bot.frontends.doctor import examine, report

    settings = _settings()
    return report(asyncio.run(examine(settings, offline=args.offline)))


if __name__ == "__main__":
    raise SystemExit(main())
