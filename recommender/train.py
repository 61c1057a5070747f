"""The one way to train from a command line, whoever starts it:

    python -m recommender.train --data spotify_songs.csv --out models/big
    torchrun --nproc-per-node 2 -m recommender.train --data spotify_songs.csv --out models/big

`musicbot train` (bot/frontends/train_command.py) takes the same options (`add_training_arguments`)
and runs `train` in its own process, or this module under torchrun with `--workers N`; a
retrain's child process (`retrain_job.TrainingJob`) is this module with the child's
guards on top (`--parent-pid`, `--niceness`, `--memory-limit-mb`). Trainer options are
`--param KEY=VALUE` everywhere, read by `parse_option` (the value as JSON when it parses).

Under torchrun every worker trains in lock-step (`recommender.training.distributed`) and
ends with the same model; only the first worker (rank 0) saves it. Across machines, the
same command with `--nnodes N --rdzv-backend c10d --rdzv-endpoint HOST:PORT` on each.

What a run prints: on success, one `RESULT {json}` line on stdout (`TrainingResult`) from
the worker that saved; on failure, one `TRAINING FAILED: reason` line on stderr (the
reason in words, for people) and a non-zero exit code (train_guards.py). SIGTERM or Ctrl-C stop a
run within a few seconds, with 128 + the signal's number (as a shell reports it) and
nothing written to `--out`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recommender.machine import prefer_sleeping_threads
from recommender.recommender import DEFAULT_MODEL
from recommender.train_guards import (
    EXIT_ERROR,
    Refused,
    Stopped,
    exit_with_parent,
    limit_memory,
    report_failure,
    say_failed,
    stop_on_signals,
)

# Before torch loads (whichever import here first brings it in).
prefer_sleeping_threads()

if TYPE_CHECKING:
    from recommender.recommender import Recommender

log = logging.getLogger(__name__)

DEVICES = ("auto", "cpu", "cuda")
RESULT_PREFIX = "RESULT "


# -- the options ---------------------------------------------------------------------------
class OptionError(argparse.ArgumentTypeError, ValueError):
    """A `--param` that is not KEY=VALUE (argparse shows its message as the error)."""


def parse_option(text: str) -> tuple[str, Any]:
    """`KEY=VALUE` → (key, value): the key stripped, `-` read as `_` (`walk-weight`), the
    value as JSON when it parses (numbers, true/false), else kept as text."""
    key, sep, raw = text.partition("=")
    key = key.strip().replace("-", "_")
    if not sep or not key:
        raise OptionError(f"--param wants KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key, value


def add_training_arguments(parser: argparse.ArgumentParser, *, from_settings: bool) -> None:
    """The options every training command line takes. `from_settings`: --data, --out,
    --model and --device default to the bot's settings (`musicbot train`) instead."""
    where = " (default: DATA_PATH)" if from_settings else ""
    parser.add_argument("--data", type=Path, required=not from_settings, help=f"catalog CSV{where}")
    parser.add_argument(
        "--out",
        type=Path,
        required=not from_settings,
        help="model directory to write" + (" (default: MODEL_DIR)" if from_settings else ""),
    )
    parser.add_argument(
        "--model",
        default=None if from_settings else DEFAULT_MODEL,
        help="trainer name" + (" (default: TRAIN_MODEL)" if from_settings else ""),
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--epochs", type=int, default=None, help="training steps (default: the trainer's)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads per worker (default: "
        + ("TRAIN_THREADS" if from_settings else "its share of the cores it may use")
        + ")",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default=None if from_settings else "auto",
        help="auto (a GPU if there is one), cpu or cuda"
        + (" (default: TRAIN_DEVICE)" if from_settings else ""),
    )
    parser.add_argument(
        "--param",
        "--option",
        dest="param",
        action="append",
        default=[],
        type=parse_option,
        metavar="KEY=VALUE",
        help="another trainer option, e.g. schedule=scaled (repeatable)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace a model already in --out"
        + ("; into MODEL_DIR, publish even if it is worse than the serving one" * from_settings),
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.train",
        description="Train a model on a catalog CSV and save it (run it under torchrun "
        "to train with several workers).",
    )
    add_training_arguments(parser, from_settings=False)
    parser.add_argument(
        "--version", default=None, help="version name recorded in the model (default: a time)"
    )
    child = parser.add_argument_group("when started by the bot to retrain")
    child.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit as soon as this process (the bot that started the training) is gone",
    )
    child.add_argument(
        "--niceness",
        type=int,
        default=0,
        help="lower this process's CPU priority by this much, so the bot stays responsive",
    )
    child.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="cap this process's address space so a runaway run fails instead of the host",
    )
    return parser


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """The trainer's keyword options from the parsed command line."""
    options: dict[str, Any] = dict(args.param)
    for name in ("epochs", "threads", "device"):
        if getattr(args, name, None) is not None:
            options[name] = getattr(args, name)
    return options


def too_many_workers(workers: int, device: str) -> int | None:
    """The usable cores, when `workers` on the CPU would be more than them: workers beyond
    the cores only share them, each holding its own copy of the graph (`--workers 64` on
    2 cores would run the machine out of memory). None when they fit, or run on GPUs."""
    from recommender.machine import usable_cores
    from recommender.training.distributed import gpu_count

    if gpu_count(device):
        return None  # a worker per GPU; torchrun and the GPUs decide
    cores = usable_cores()
    return cores if workers > cores else None


def torchrun_command(workers: int, *worker_args: str) -> list[str]:
    """The command that trains with `workers` lock-step processes on this machine:
    torchrun, standalone (a rendezvous on a free local port), each running this module."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc-per-node",
        str(workers),
        "-m",
        "recommender.train",
        *worker_args,
    ]


# -- the result ------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainingResult:
    """What a finished run reports, as the `RESULT {json}` line every entry point prints."""

    version: str
    path: str = ""
    model: str | None = None
    train_seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    dataset_sha256: str | None = None
    host: str = ""
    workers: int = 1
    niceness: int = 0

    @classmethod
    def of(cls, model: Recommender, path: Path, workers: int = 1) -> TrainingResult:
        info = model.info
        return cls(
            path=str(path),
            version=info.version,
            model=info.model,
            train_seconds=round(info.train_seconds or 0.0, 2),
            counts=dict(info.counts),
            params=dict(info.params),
            dataset_sha256=info.dataset_sha256,
            host=socket.gethostname(),
            workers=workers,
            niceness=os.nice(0),
        )

    def line(self) -> str:
        return RESULT_PREFIX + json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_lines(cls, lines: Iterable[str]) -> TrainingResult | None:
        """The last result line among a run's stdout lines (None: the run reported none)."""
        for line in reversed(list(lines)):
            if line.startswith(RESULT_PREFIX):
                try:
                    payload = json.loads(line[len(RESULT_PREFIX) :])
                    known = {f.name for f in fields(cls)}
                    return cls(**{k: v for k, v in payload.items() if k in known})
                except (json.JSONDecodeError, TypeError, AttributeError):
                    return None
        return None


# -- refusals ------------------------------------------------------------------------------
def check_out(out: Path, *, force: bool) -> None:
    """Refuse to replace a model already in `out` unless `force`: an `--out` typed twice
    silently replaced a 28k-track model with a 2k-track one."""
    from recommender.artifacts import is_model_dir

    if is_model_dir(out) and not force:
        raise Refused(f"{out} already holds a model; --force replaces it")
    if out.exists() and not out.is_dir():
        raise Refused(f"{out} is a file, not a model directory")


# -- a run ---------------------------------------------------------------------------------
def train(args: argparse.Namespace) -> Recommender:
    """This worker's share of the run; every worker returns the same model."""
    from recommender.data import load_catalog
    from recommender.recommender import Recommender

    options = trainer_options(args)
    # Read the catalog before joining the others: broken data fails here, on every worker,
    # in a second rather than after torch has loaded.
    catalog = load_catalog(args.data)
    from recommender.training import distributed

    log.info("training %s on %s (%d memberships)", args.model, args.data, len(catalog.memberships))
    distributed.start(args.device)
    model = Recommender.train(
        catalog,
        model=args.model,
        seed=args.seed,
        progress=None if distributed.is_main() and args.parent_pid is None else False,
        **options,
    )
    if not distributed.same_everywhere(model.embeddings):
        raise RuntimeError("the training workers ended with different models")
    if args.version is not None:
        model.metadata["version"] = args.version
    return model


def train_and_save(args: argparse.Namespace) -> TrainingResult | None:
    """Train; the first worker saves and checks the model and returns what to report
    (the others None)."""
    model = train(args)
    from recommender.training import distributed

    if not distributed.is_main():
        return None
    saved = save_checked(model, args.out)
    return TrainingResult.of(saved, args.out, distributed.world_size())


def save_checked(model: Recommender, out: Path) -> Recommender:
    """Save, then reload and sanity-check what was written: what the caller publishes is
    what is on disk."""
    from recommender.blessing import sanity_check
    from recommender.recommender import Recommender

    model.save(out)
    reloaded = Recommender.load(out)
    sanity_check(reloaded)
    return reloaded


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        check_out(args.out, force=args.force)  # at once, not after torch has loaded
    except Refused as refused:
        say_failed(str(refused))
        return EXIT_ERROR
    logging.basicConfig(
        level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
        stream=sys.stderr,
        format="%(levelname)s %(name)s: %(message)s",
    )
    # The guards come first, before torch loads (seconds on a busy machine): a child whose
    # bot is already gone exits at once, and the memory cap covers the whole run.
    if args.parent_pid is not None:
        exit_with_parent(args.parent_pid)
    if args.memory_limit_mb:
        limit_memory(args.memory_limit_mb)
    if args.niceness > 0:
        # The bot shares these cores: training yields to it instead of slowing answers.
        os.nice(args.niceness)
    if args.version is None and args.parent_pid is not None:
        args.version = args.out.name  # a retrain's version names its directory
    try:
        with stop_on_signals():
            result = train_and_save(args)
            if result is not None:
                print(result.line(), flush=True)
    except Stopped as stopped:
        say_failed(f"stopped by {stopped}; nothing was written")
        return 128 + stopped.number
    except Exception as error:
        return report_failure(error, args.memory_limit_mb)
    finally:
        workers = sys.modules.get("recommender.training.distributed")
        if workers is not None:  # leave the other workers' group, if there is one
            with contextlib.suppress(Exception):
                workers.stop()
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Everything is written and closed by now. Leaving without the interpreter's teardown
    # (torch's, its threads') ends a stopped run at once: on a busy machine that teardown
    # took 12 s after the stop itself took 0.1 s.
    os._exit(code)
