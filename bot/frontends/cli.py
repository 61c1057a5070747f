"""`musicbot` command line: run, chat, sync, train, recommend, evaluate."""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import logging
import os
import re
import signal
import sys
from collections.abc import Coroutine, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from bot.core.settings import Settings
    from bot.core.training_data import TrainingRows

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")  # as TRAIN_DEVICE accepts them
NO_TOKEN = (
    "musicbot: DISCORD_TOKEN is not set. Copy .env.example to .env and fill it in "
    "(or export DISCORD_TOKEN), or try the bot locally with `musicbot chat`."
)


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


def _settings():  # noqa: ANN202 - imported lazily so `musicbot --help` is instant
    from pydantic import ValidationError

    from bot.core.settings import EnvFileMissing, Settings

    try:
        return Settings()
    except EnvFileMissing as error:
        raise SystemExit(f"musicbot: {error}; point it at your .env file, or unset it") from None
    except ValidationError as error:
        problems = "; ".join(_problem(e["loc"], e["msg"]) for e in error.errors())
        raise SystemExit(f"musicbot: bad setting ({problems}); see .env.example") from None


def _problem(where: tuple[object, ...], message: str) -> str:
    """One bad setting, named; a check across settings names them in its own message."""
    message = message.removeprefix("Value error, ")
    return f"{'.'.join(map(str, where)).upper()}: {message}" if where else message


def _run(args: argparse.Namespace) -> int:
    settings = _settings()
    token = settings.token
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    import aiohttp
    import discord

    from bot.core.db import DatabaseUnavailable
    from bot.core.logs import setup_logging
    from bot.core.metrics import MetricsServer, MetricsUnavailable
    from bot.frontends.discord_app import create_bot
    from recommender import DataError
    from recommender.artifacts import ArtifactError

    if refused := _refuse_start(settings):
        return refused
    setup_logging(settings.log_level, secrets=[token], log_file=settings.log_file)
    # A bot that will not stop or answer can be asked what every thread is doing:
    # `kill -USR1 <pid>` writes their stacks to stderr, and the bot keeps running.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    bot = create_bot(settings)

    async def serve() -> None:
        # Token and intents are checked before the database and the model: a first start
        # trains for a minute, and Discord would only refuse the intents after it.
        if missing := await intents_not_granted(settings, token):
            raise IntentsNotGranted(missing)
        async with bot:  # leaving it closes the bot: cogs (scheduler, retrain), database
            server = None
            if settings.metrics_port is not None:  # up first: /health says "loading"
                server = MetricsServer(bot.services, settings.metrics_host, settings.metrics_port)
                await server.start()
            try:
                await bot.start(token)
            finally:
                if server is not None:
                    await server.stop()

    try:
        run_until_stopped(serve())
    except discord.LoginFailure:
        print("musicbot: Discord rejected DISCORD_TOKEN; check it in .env.", file=sys.stderr)
        return 1
    except (IntentsNotGranted, discord.PrivilegedIntentsRequired) as error:
        from bot.frontends.discord_app import intents_advice

        missing = error.missing if isinstance(error, IntentsNotGranted) else None
        print(f"musicbot: {intents_advice(settings, missing)}", file=sys.stderr)
        return 1
    except (DataError, ArtifactError, DatabaseUnavailable, MetricsUnavailable) as error:
        # Raised by setup_hook: no model and no usable DATA_PATH, a damaged model, or a
        # database that cannot be opened.
        print(f"musicbot: cannot start: {error}", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, aiohttp.ClientError, discord.DiscordException) as error:
        # No network, DNS, a proxy or firewall in the way, or Discord itself down: a
        # supervisor restarting us gets the same line, not a 40-line traceback.
        logging.getLogger("musicbot").debug("cannot reach Discord", exc_info=error)
        print(
            f"musicbot: cannot reach Discord ({discord_problem(error)}); check this "
            "machine's network connection, DNS and firewall (it must reach discord.com "
            "over HTTPS), then start again.",
            file=sys.stderr,
        )
        return 1
    return 0


class IntentsNotGranted(Exception):
    """The application's Developer Portal settings lack intents the bot asks for."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = missing


async def intents_not_granted(settings: Settings, token: str) -> list[str]:
    """Ask Discord (over HTTP, no gateway) which privileged intents the settings need
    but the application has not ticked; raises LoginFailure for a bad token."""
    import discord

    from bot.frontends.discord_app import intents_not_ticked, privileged_intents_needed

    if not privileged_intents_needed(settings):
        return []
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    try:
        await http.static_login(token)
        application = await http.application_info()
    finally:
        await http.close()
    flags = discord.ApplicationFlags._from_value(application.get("flags") or 0)
    return intents_not_ticked(settings, flags)


def _refuse_start(settings: Settings, program: str = "musicbot") -> int:
    """Exit status 1 with one line per path problem a start would meet, else 0."""
    from bot.core.preflight import path_problems

    problems = path_problems(settings)
    for problem in problems:
        print(f"{program}: cannot start: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _doctor(args: argparse.Namespace) -> int:
    from bot.frontends.doctor import examine, report

    settings = _settings()
    return report(asyncio.run(examine(settings, offline=args.offline)))


def discord_problem(error: BaseException) -> str:
    """A few words on why Discord could not be reached (never a traceback)."""
    from bot.frontends.discord_app import discord_problem as why

    return why(error)


def _sync(args: argparse.Namespace) -> int:
    """Log in over HTTP only (no gateway, no model, no database) and publish the tree."""
    settings = _settings()
    token = settings.token
    if token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    import aiohttp
    import discord

    from bot.core.logs import setup_logging
    from bot.frontends.discord_app import create_bot
    from bot.frontends.slash import install_app_commands, login_for_commands, sync_now

    setup_logging("WARNING", secrets=[token])
    bot = create_bot(settings)
    install_app_commands(bot)

    async def publish() -> list[str]:
        try:
            await login_for_commands(bot, token)
            return await sync_now(bot, args.guild)
        finally:
            await bot.http.close()

    try:
        names = asyncio.run(publish())
    except discord.LoginFailure:
        print("musicbot: Discord rejected DISCORD_TOKEN; check it in .env.", file=sys.stderr)
        return 1
    except (OSError, TimeoutError, aiohttp.ClientError) as error:
        # The same line as `musicbot run` gives, not a traceback.
        print(
            f"musicbot sync: cannot reach Discord ({discord_problem(error)}); check this "
            "machine's network connection, DNS and firewall (it must reach discord.com "
            "over HTTPS), then try again.",
            file=sys.stderr,
        )
        return 1
    except discord.HTTPException as error:
        where = f"server {args.guild}" if args.guild else "Discord"
        print(
            f"musicbot sync: {where} refused the commands ({error.status}: {error.text[:200]}); "
            "is the bot in that server, invited with the applications.commands scope?",
            file=sys.stderr,
        )
        return 1
    where = f"server {args.guild} (at once)" if args.guild else "every server (global)"
    print(f"Published {len(names)} commands to {where}: {', '.join(names)}")
    return 0


def _chat(args: argparse.Namespace) -> int:
    from bot.core.logs import setup_logging
    from bot.frontends.console import chat

    settings = _settings()
    if refused := _refuse_start(settings, "musicbot chat"):
        return refused
    # The terminal is the conversation: only warnings and errors go to stderr.
    setup_logging("WARNING", secrets=[settings.token or ""], log_file=settings.log_file)
    code = run_until_stopped(chat(settings))
    return 0 if code is None else code


STOP_GRACE_SECONDS = 10.0


def run_until_stopped(main: Coroutine[Any, Any, Any], grace: float = STOP_GRACE_SECONDS) -> Any:
    """asyncio.run(until_stopped(main)), except that the stop cannot hang.

    asyncio.run waits without limit for every task left over to finish after it is
    cancelled; one that never does (seen: a database connection closed under a request
    cut short by the stop, waiting on a worker thread that is already gone) keeps the
    process alive until a supervisor kills it, skipping the exit status it expects.
    Here leftovers get `grace` seconds; the ones still running are logged and left."""
    loop = asyncio.new_event_loop()
    try:
        asyncio.set_event_loop(loop)
        return loop.run_until_complete(until_stopped(main))
    finally:
        try:
            _cancel_leftovers(loop, grace)
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            asyncio.set_event_loop(None)
            loop.close()


def _cancel_leftovers(loop: asyncio.AbstractEventLoop, grace: float) -> None:
    tasks = asyncio.all_tasks(loop)
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    done, stuck = loop.run_until_complete(asyncio.wait(tasks, timeout=grace))
    for task in done:
        if not task.cancelled() and task.exception() is not None:
            loop.call_exception_handler(
                {"message": "unhandled error while stopping", "exception": task.exception()}
            )
    for task in stuck:
        log.warning("stopped without waiting any longer for %r", task)


async def until_stopped(main: Coroutine[Any, Any, Any]) -> Any:
    """Run `main` until it ends or SIGTERM/SIGINT arrives; a signal cancels it, so its
    `finally` and `async with` blocks stop everything in order (the scheduler, a
    retrain's training process group, its run record and lease, the database), and the
    process exits 0 as a supervisor expects. Returns main's result, or None if stopped."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    stopping: list[int] = []

    def stop(number: int) -> None:
        if not stopping:  # a second signal must not cut the clean-up short
            stopping.append(number)
            task.cancel()

    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop, number)
    try:
        return await task
    except asyncio.CancelledError:
        if not stopping:
            raise
        return None
    finally:
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(number)


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


if __name__ == "__main__":
    raise SystemExit(main())
