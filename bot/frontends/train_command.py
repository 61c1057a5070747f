"""`musicbot train` (on one machine or with torchrun workers) and `musicbot import`."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot.frontends.cli_settings import _settings

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.core.training_data import TrainingRows


def _train(args: argparse.Namespace) -> int:
    """`musicbot train`: the same run as `python -m recommender.train`, with the bot's
    settings as defaults; into MODEL_DIR it trains on what `!retrain` would (DATA_PATH
    plus the community's sessions and 👍 pairs) and publishes through the same gate."""
    import tempfile

    from bot.core.logs import setup_logging
    from recommender import DataError, Recommender
    from recommender.train import check_out, trainer_options
    from recommender.train_guards import Refused, Stopped, describe_error, stop_on_signals

    settings = _settings()
    # The command says what happened in its own lines; the log would repeat a refusal.
    setup_logging("ERROR", secrets=[settings.token or ""])
    name = args.model or settings.train_model
    device = args.device or settings.train_device
    for option, value in (("--workers", args.workers), ("--epochs", args.epochs)):
        # --epochs 0 or -1 trained nothing and published the untrained model to every server.
        if value is not None and value < 1:
            print(f"musicbot train: {option} wants 1 or more", file=sys.stderr)
            return 2
    if args.workers > 1 and (refused := _too_many_workers(args.workers, device)) is not None:
        print(refused, file=sys.stderr)
        return 2
    from bot.core.preflight import training_problems

    # Before anything slow: a read-only MODEL_DIR used to be found after the training.
    if problems := training_problems(settings, args.out, args.data):
        for problem in problems:
            print(f"musicbot train: {problem}", file=sys.stderr)
        return 2
    if args.out is not None:
        try:
            check_out(args.out, force=args.force)
        except Refused as refused_out:
            print(f"musicbot train: {refused_out}", file=sys.stderr)
            return 2
    options = trainer_options(args)
    options["device"] = device
    if args.threads is None and settings.train_threads is not None:
        options["threads"] = settings.train_threads
    with tempfile.TemporaryDirectory(prefix="musicbot-train-") as workdir:
        data = _training_data(args, settings, Path(workdir))
        if data is None:
            return 1
        if args.workers > 1:
            return _train_workers(args, settings, data, name, options)
        print(f"Training {name} on {data} ...", file=sys.stderr)
        out: Path | None = None
        try:
            with stop_on_signals():
                model = Recommender.train(
                    data, model=name, seed=args.seed, progress=True, **options
                )
                if args.out is None:  # MODEL_DIR: a new version behind the `current` pointer
                    from bot.core.serving import model_store

                    out = model_store(settings).new_version_dir()
                    model.metadata["version"] = out.name  # the version names its directory
                else:
                    out = args.out
                model.save(out)
        except Stopped as stopped:
            if args.out is None and out is not None:
                from bot.core.serving import model_store

                model_store(settings).discard(out)
            print(f"musicbot train: stopped by {stopped}; nothing was saved", file=sys.stderr)
            _exit_now(128 + stopped.number)
        except (DataError, ValueError) as error:
            print(f"musicbot train: {error}", file=sys.stderr)
            return 1
        except OSError as error:
            print(f"musicbot train: {describe_error(error)}", file=sys.stderr)
            return 1
    if args.out is None and (refused_code := _publish(settings, out, args.force)) is not None:
        return refused_code
    info = model.info
    print(
        f"Saved model {info.version} to {out} ({info.counts.get('tracks')} tracks, "
        f"{info.train_seconds}s; scores by {model.scoring})."
    )
    return 0


async def _community_rows(settings: Settings) -> TrainingRows | str:
    """The rows a retrain would train on, read from the bot's database as `!retrain` reads
    them; or why they could not be (one line), when the database cannot be read."""
    import bot.features  # noqa: F401 - registers every feature's training source
    from bot.core.db import Database
    from bot.core.training_data import gather_training_rows
    from recommender import DataError

    database = Database(settings.database_url_resolved)
    try:
        async with database.session() as session:
            return await gather_training_rows(settings, session)
    except DataError:
        raise
    except Exception as error:  # unreachable, not migrated yet, locked: said, not fatal
        lines = str(error).strip().splitlines()
        return lines[0][:200] if lines else type(error).__name__
    finally:
        await database.close()


def _exit_now(code: int) -> NoReturn:
    """Leave at once when a signal asked this process to stop: nothing is left to write,
    and the interpreter's teardown after training (torch's, its threads') took 12 s on a
    busy machine where the stop itself took 0.1 s."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _training_data(args: argparse.Namespace, settings: Settings, workdir: Path) -> Path | None:
    """What `musicbot train` learns from. Into MODEL_DIR from DATA_PATH, the same rows as
    `!retrain` (the community's sessions and 👍 pairs included, read from the database);
    otherwise the file given, and a line saying the community's data is left out."""
    if args.data is not None or args.out is not None:
        if args.out is None:
            print(
                "musicbot train: training on --data only, without the community's sessions "
                "and 👍 pairs; leave out --data to train on DATA_PATH with them, as !retrain does",
                file=sys.stderr,
            )
        return args.data or settings.data_path
    from recommender import DataError

    try:
        gathered = asyncio.run(_community_rows(settings))
    except DataError as error:
        print(f"musicbot train: {error}", file=sys.stderr)
        return None
    if isinstance(gathered, str):  # why the community's rows could not be read
        print(
            f"musicbot train: training on DATA_PATH only, WITHOUT the community's sessions "
            f"and 👍 pairs ({gathered}); run it where the bot's database is reachable, or "
            "use !retrain, to include them",
            file=sys.stderr,
        )
        return settings.data_path
    extra = ", ".join(f"{n} {k}" for k, n in gathered.sources.items() if k != "data_path")
    print(f"musicbot train: DATA_PATH plus the community's data ({extra})", file=sys.stderr)
    return gathered.to_csv(workdir)


def _too_many_workers(workers: int, device: str) -> str | None:
    """One line refusing more CPU workers than cores (see `recommender.train`)."""
    from recommender.train import too_many_workers

    cores = too_many_workers(workers, device)
    if cores is None:
        return None
    return (
        f"musicbot train: --workers {workers} is more than this machine's {cores} usable "
        f"cores; use at most {cores} (or several machines, see README: Scaling up)"
    )


def _publish(settings: Settings, out: Path, force: bool) -> int | None:
    """Publish a trained version as `!retrain` would; an exit status when it was not."""
    from bot.core.serving import ModelRefused, publish_trained
    from recommender.artifacts import ArtifactError

    try:
        publish_trained(settings, out, force=force)
    except ModelRefused as refused:
        print(
            f"musicbot train: not published, the serving model stays: {refused} "
            f"(kept as {out.name}; --force publishes anyway)",
            file=sys.stderr,
        )
        return 1
    except ArtifactError as error:
        print(f"musicbot train: {error}", file=sys.stderr)
        return 1
    return None


def _train_workers(
    args: argparse.Namespace, settings: Settings, data: Path, name: str, options: dict[str, Any]
) -> int:
    """`musicbot train --workers N`: torchrun starts N workers of `recommender.train` on
    this machine; the first saves the model, which then becomes current like any other."""
    import json
    import subprocess

    from recommender import Recommender
    from recommender.artifacts import ArtifactError
    from recommender.train import TrainingResult, torchrun_command
    from recommender.train_guards import Stopped, stop_on_signals

    store = None
    out = args.out
    if out is None:  # MODEL_DIR: the workers write a new version, published once checked
        from bot.core.serving import model_store

        store = model_store(settings)
        out = store.new_version_dir()
    command = torchrun_command(
        args.workers, "--data", str(data), "--out", str(out), "--model", name,
        "--seed", str(args.seed),
    )  # fmt: skip
    command += [f"--{key}={value}" for key, value in options.items() if key in _FLAGS]
    command += [
        f"--param={key}={json.dumps(value)}" for key, value in options.items() if key not in _FLAGS
    ]
    if args.force:
        command.append("--force")
    if store is not None:
        command += ["--version", out.name]  # the version names its directory
    print(f"Training {name} on {data} with {args.workers} workers ...", file=sys.stderr)
    # Each worker sets its own thread count; an explicit value keeps torchrun's banner out.
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    ) as workers:
        assert workers.stderr is not None and workers.stdout is not None
        try:
            with stop_on_signals():
                _show_worker_lines(workers.stderr)
                stdout = workers.stdout.read()
                workers.wait()
        except Stopped as stopped:
            workers.send_signal(stopped.number)  # torchrun stops its workers in turn
            workers.wait()
            if store is not None:
                store.discard(out)
            print(f"musicbot train: stopped by {stopped}; nothing was saved", file=sys.stderr)
            _exit_now(128 + stopped.number)
    if workers.returncode != 0:
        print(
            f"musicbot train: the {args.workers} training workers failed (see above)",
            file=sys.stderr,
        )
        return 1
    if store is not None and (refused := _publish(settings, out, args.force)) is not None:
        return refused
    try:
        model = Recommender.load(out)
    except ArtifactError as error:
        print(f"musicbot train: {error}", file=sys.stderr)
        return 1
    report = TrainingResult.from_lines(stdout.splitlines())
    assert report is not None, "the first worker saved the model, so it reported it"
    print(
        f"Saved model {model.version} to {out} ({report.counts.get('tracks')} tracks, "
        f"{report.train_seconds}s, {report.workers} workers)."
    )
    return 0


# Trainer options `python -m recommender.train` takes as flags of their own.
_FLAGS = ("epochs", "threads", "device")


# torchrun's own log lines (glog style: W1127 17:48:59.624000 …) and, once a worker has
# failed, its launcher's traceback: the workers have said what went wrong already.
_LAUNCHER_LINE = re.compile(r"^[IWE]\d{4} \d\d:\d\d:\d\d")


def _show_worker_lines(stream: Iterable[str]) -> None:
    """Pass the workers' progress and errors through, without torchrun's chatter."""
    failed = False
    for line in stream:
        if _LAUNCHER_LINE.match(line):
            failed = failed or line.startswith("E")
            continue
        if not failed:
            sys.stderr.write(line)
            sys.stderr.flush()


def _import(args: argparse.Namespace) -> int:
    from recommender import DataError
    from recommender.mpd import import_mpd

    print(f"Converting the MPD slices in {args.slices} ...", file=sys.stderr)
    try:
        done = import_mpd(args.slices, args.out)
    except DataError as error:
        print(f"musicbot import mpd: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # --out a directory, not writable, or the disk full
        print(
            f"musicbot import mpd: cannot write {args.out} ({error.strerror or error}); "
            "pick another --out",
            file=sys.stderr,
        )
        return 1
    skipped = f"; {done.skipped_tracks} entries without a track id skipped" * bool(
        done.skipped_tracks
    )
    print(
        f"Wrote {done.out}: {done.playlists} playlists, {done.tracks} tracks, {done.rows} rows "
        f"from {done.slices} slice(s){skipped}. No audio features (the MPD has none). "
        f"Serve it with: musicbot train --data {done.out} --force (--force because it "
        "replaces the serving catalog, which the blessing gate refuses otherwise; "
        "--out DIR instead keeps it apart)"
    )
    return 0
