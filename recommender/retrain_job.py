"""Retraining in a separate process, and publishing its model only when it is sound.

Why a subprocess: training holds the CPU and a lot of memory for a long time. In its own
process it cannot stall the bot's event loop (the bot keeps answering with the old model),
and when it raises, is killed, times out or runs out of memory, only the child dies; the
parent records why and the old model stays current.

Two halves:

- the child, `python -m recommender.retrain_job --data CSV --out DIR [...]`: trains, saves
  to DIR (a fresh version directory of a ModelStore), reloads and sanity-checks what it
  wrote, and prints one `RESULT {json}` line on stdout. Failures end with one
  `TRAINING FAILED: reason` line on stderr and a non-zero exit code.
- the parent, `TrainingJob` / `train_and_publish`: runs the child with a timeout, keeps
  the tail of its stderr for the run record, and publishes the new version through the
  store (load, sanity check, blessing against the serving model, atomic pointer switch,
  prune), keeps it as refused, or discards it.

Publishing is the parent's job alone: the child only writes its directory. A child whose
parent is gone (the bot crashed or was killed) stops training and exits, so no orphan
keeps a CPU busy, and nothing it wrote is ever served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.blessing import Blessing, Floor, Gate
from recommender.recommender import DEFAULT_MODEL, Recommender
from recommender.store import ModelStore, Why

log = logging.getLogger(__name__)

RESULT_PREFIX = "RESULT "
FAILURE_PREFIX = "TRAINING FAILED: "
EXIT_ERROR = 1
EXIT_DATA = 2
EXIT_MEMORY = 3
EXIT_ORPHANED = 4
STDERR_TAIL_LINES = 60
PARENT_CHECK_SECONDS = 1.0


# -- child --------------------------------------------------------------------------------
def _parse_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value: Any = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.replace("-", "_"), value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recommender.retrain_job",
        description="Train a model on a CSV and save it to a fresh directory (used by retrains).",
    )
    parser.add_argument("--data", required=True, type=Path, help="training CSV")
    parser.add_argument("--out", required=True, type=Path, help="model directory to create")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="trainer name")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the trainer's epochs")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        type=_parse_option,
        metavar="KEY=VALUE",
        help="extra trainer option (VALUE parsed as JSON when it can be)",
    )
    parser.add_argument(
        "--parent-pid",
        type=int,
        default=None,
        help="exit as soon as this process (the bot that started the training) is gone",
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="training threads (default: usable cores)"
    )
    parser.add_argument(
        "--niceness",
        type=int,
        default=0,
        help="lower this process's CPU priority by this much, so the bot stays responsive",
    )
    parser.add_argument(
        "--memory-limit-mb",
        type=int,
        default=None,
        help="cap this process's address space so a runaway run fails instead of the host",
    )
    return parser


def _limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit_with_parent(parent: int) -> None:
    """Exit when `parent` is no longer our parent (it died; we were re-parented).

    The child runs in a session of its own (so the parent can kill its whole group), which
    also means nothing else ends it when the parent dies. A daemon thread checks once a
    second; training holds the GIL only in short stretches, so it gets to run.
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                # Nobody may be reading stderr any more (a broken pipe): exit regardless.
                with contextlib.suppress(Exception):
                    print(
                        f"{FAILURE_PREFIX}the bot process {parent} that started this "
                        "training is gone; stopping",
                        file=sys.stderr,
                        flush=True,
                    )
                os._exit(EXIT_ORPHANED)

    if os.getppid() != parent:
        os._exit(EXIT_ORPHANED)
    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _looks_like_oom(error: BaseException) -> bool:
    """Address-space limits surface as failed mmaps (ImportError/OSError) or threads that
    cannot get a stack (RuntimeError), not only as MemoryError."""
    text = str(error).lower()
    return any(
        sign in text
        for sign in ("failed to map segment", "cannot allocate memory", "can't start new thread")
    )


def _reached_memory_limit(megabytes: int | None) -> bool:
    """Whether this process's address space came within 10% of its cap.

    Libraries that run out of memory under the cap do not always say so (a parser reports
    a failed read, a thread pool a failed start); near the cap, that is the likelier cause
    than broken data or a bug, and it is what the admin can act on.
    """
    if not megabytes:
        return False
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return False
    match = re.search(r"^VmPeak:\s+(\d+) kB", status, re.MULTILINE)
    return bool(match) and int(match.group(1)) >= 0.9 * megabytes * 1024


def run_child(args: argparse.Namespace) -> dict[str, Any]:
    """Train, save to args.out with the directory name as version, reload and check."""
    from recommender.blessing import sanity_check
    from recommender.data import load_catalog

    options = dict(args.option)
    if args.epochs is not None:
        options["epochs"] = args.epochs
    if args.threads is not None:
        options["threads"] = args.threads
    if args.out.exists():
        raise FileExistsError(f"{args.out} already exists; a retrain writes a fresh directory")
    # Validate the data before importing torch: broken data fails in a second, not five.
    catalog = load_catalog(args.data)
    model = Recommender.train(catalog, model=args.model, seed=args.seed, progress=False, **options)
    model.metadata["version"] = args.out.name
    model.save(args.out)
    reloaded = Recommender.load(args.out)
    sanity_check(reloaded)
    return {
        "version": reloaded.version,
        "path": str(args.out),
        "model": reloaded.metadata.get("model"),
        "train_seconds": reloaded.metadata.get("train_seconds"),
        "counts": reloaded.metadata.get("counts", {}),
        "params": reloaded.metadata.get("params", {}),
        "dataset_sha256": reloaded.metadata.get("dataset_sha256"),
        "niceness": os.nice(0),
    }


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
    if args.parent_pid is not None:
        _exit_with_parent(args.parent_pid)
    if args.memory_limit_mb:
        _limit_memory(args.memory_limit_mb)
    if args.niceness > 0:
        # The bot shares these cores: training yields to it instead of slowing answers.
        os.nice(args.niceness)
    try:
        result = run_child(args)
    except Exception as error:
        return _report_failure(error, args.memory_limit_mb)
    print(RESULT_PREFIX + json.dumps(result, sort_keys=True), flush=True)
    return 0


def _report_failure(error: Exception, memory_limit_mb: int | None) -> int:
    """One line on stderr for the parent to relay; the traceback goes to the log."""
    from recommender.data import DataError

    limit = f" (limit {memory_limit_mb} MB)" if memory_limit_mb else ""
    if (
        isinstance(error, MemoryError)
        or (isinstance(error, ImportError | OSError | RuntimeError) and _looks_like_oom(error))
        or _reached_memory_limit(memory_limit_mb)
    ):
        log.warning("training ran out of memory%s", limit, exc_info=True)
        print(f"{FAILURE_PREFIX}out of memory while training{limit}", file=sys.stderr, flush=True)
        return EXIT_MEMORY
    if isinstance(error, DataError):
        print(f"{FAILURE_PREFIX}broken training data: {error}", file=sys.stderr, flush=True)
        return EXIT_DATA
    log.exception("training failed", exc_info=error)
    print(f"{FAILURE_PREFIX}{type(error).__name__}: {error}", file=sys.stderr, flush=True)
    return EXIT_ERROR


# -- parent -------------------------------------------------------------------------------
@dataclass
class JobOutcome:
    """How a training process ended. `error` is a one-line reason for people."""

    ok: bool
    returncode: int | None
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    stderr_tail: str = ""


class TrainingJob:
    """One training child process: start it, wait for it (with a timeout), or kill it."""

    def __init__(
        self,
        data: str | Path,
        out: str | Path,
        *,
        model: str = DEFAULT_MODEL,
        seed: int = 0,
        epochs: int | None = None,
        options: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        memory_limit_mb: int | None = None,
        threads: int | None = None,
        niceness: int = 0,
        python: str = sys.executable,
        env: Mapping[str, str] | None = None,
        drop_env: Sequence[str] = (),
    ) -> None:
        self.out = Path(out)
        self.timeout = timeout
        self.argv = [
            python,
            "-m",
            "recommender.retrain_job",
            "--data",
            str(data),
            "--out",
            str(self.out),
            "--model",
            model,
            "--seed",
            str(seed),
            "--parent-pid",
            str(os.getpid()),
        ]
        if epochs is not None:
            self.argv += ["--epochs", str(epochs)]
        for key, value in (options or {}).items():
            self.argv += ["--option", f"{key}={json.dumps(value)}"]
        if memory_limit_mb:
            self.argv += ["--memory-limit-mb", str(memory_limit_mb)]
        if threads is not None:
            self.argv += ["--threads", str(threads)]
        if niceness:
            self.argv += ["--niceness", str(niceness)]
        # `drop_env`: secrets the trainer has no business seeing (e.g. the bot's token).
        self.env = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop_env}
        # The child must import this package even when the parent runs from elsewhere.
        root = str(Path(__file__).resolve().parents[1])
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, self.env.get("PYTHONPATH", "")) if p
        )
        self.process: asyncio.subprocess.Process | None = None
        self.started_at: float | None = None
        self._stderr: deque[str] = deque(maxlen=STDERR_TAIL_LINES)
        self._stdout: list[str] = []
        self._timed_out = False

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    async def start(self) -> None:
        self.started_at = time.monotonic()
        # A session of its own: a timeout kills the whole process group, helpers included.
        self.process = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=self.env,
            start_new_session=True,
        )

    def kill(self) -> None:
        """Kill the child and its process group (SIGKILL, like the OOM killer would)."""
        if self.process is None or self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

    async def wait(self) -> JobOutcome:
        if self.process is None:
            await self.start()
        assert self.process is not None and self.started_at is not None
        process = self.process

        async def pump(stream: asyncio.StreamReader | None, sink: Any) -> None:
            if stream is None:
                return
            async for raw in stream:
                sink.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

        readers = asyncio.gather(
            pump(process.stdout, self._stdout), pump(process.stderr, self._stderr)
        )
        try:
            await asyncio.wait_for(asyncio.shield(process.wait()), timeout=self.timeout)
        except TimeoutError:
            self._timed_out = True
            self.kill()
            await process.wait()
        except asyncio.CancelledError:
            self.kill()
            await process.wait()
            raise
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(readers, timeout=5)
        return self._outcome(process.returncode)

    def _outcome(self, returncode: int | None) -> JobOutcome:
        assert self.started_at is not None
        seconds = round(time.monotonic() - self.started_at, 2)
        tail = "\n".join(self._stderr)
        result: dict[str, Any] = {}
        for line in reversed(self._stdout):
            if line.startswith(RESULT_PREFIX):
                with contextlib.suppress(json.JSONDecodeError):
                    result = json.loads(line[len(RESULT_PREFIX) :])
                break
        if self._timed_out:
            error: str | None = f"training timed out after {self.timeout:g}s and was stopped"
        elif returncode == 0 and result:
            error = None
        else:
            error = describe_failure(returncode, self._stderr)
        return JobOutcome(
            ok=error is None,
            returncode=returncode,
            seconds=seconds,
            result=result,
            error=error,
            stderr_tail=tail,
        )


def describe_failure(returncode: int | None, stderr_lines: Sequence[str]) -> str:
    """One line for people: the child's own reason, else the signal, else stderr's end."""
    for line in reversed(stderr_lines):
        if line.startswith(FAILURE_PREFIX):
            return line[len(FAILURE_PREFIX) :].strip()
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        if -returncode == signal.SIGKILL:
            return f"the training process was killed ({name}; out of memory?)"
        return f"the training process was killed ({name})"
    last = next((line.strip() for line in reversed(stderr_lines) if line.strip()), "")
    if returncode == 0:
        return "the training process exited without reporting a model"
    return f"the training process exited with code {returncode}" + (f": {last}" if last else "")


@dataclass
class PublishOutcome:
    """A whole retrain: the training job's outcome and, on success, the model now current.

    `refused` holds the reason when the gate kept a sound candidate (`candidate`, kept on
    disk for inspection) from serving.
    """

    job: JobOutcome
    version: str | None = None
    model: Recommender | None = None
    error: str | None = None
    refused: str | None = None
    candidate: str | None = None
    blessing: Blessing | None = None
    pruned: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.model is not None and self.error is None and self.refused is None


async def train_and_publish(
    store: ModelStore,
    data: str | Path,
    *,
    reference: Recommender | None = None,
    keep: int = 3,
    job: TrainingJob | None = None,
    gate: Gate | None = Gate(),  # noqa: B008 - frozen, so one shared default is safe
    floor: Floor = Floor(),  # noqa: B008 - frozen, so one shared default is safe
    before_switch: Callable[[str], Awaitable[None]] | None = None,
    **job_options: Any,
) -> PublishOutcome:
    """Train in a child process into a fresh version dir; publish it only if it is sound.

    Pass `job` to hold a handle on the child (to kill it); otherwise one is built from
    `job_options` (model, seed, epochs, options, timeout, memory_limit_mb). Loading, the
    sanity check, the blessing against `reference` (skipped with `gate=None`: a forced
    run; the sanity check, with the `floor` a model must answer with, never is) and the
    pointer switch run in worker threads. A
    refused candidate is kept and marked; any other failure discards the new directory.
    Either way the previous model stays current.

    `before_switch(version)` runs right before the pointer switch (to record the intent,
    so a crash between the two is reconciled at start-up); if it raises, nothing is
    switched. Once started, the switch completes even if the caller is cancelled.
    """
    if job is None:
        job = TrainingJob(data, store.new_version_dir(), **job_options)
    out = job.out
    switching: asyncio.Future[None] | None = None
    try:
        outcome = await job.wait()
        if not outcome.ok:
            await asyncio.to_thread(store.discard, out)
            return PublishOutcome(job=outcome, error=outcome.error)
        try:
            admission = await asyncio.to_thread(store.admit, out, reference, gate, floor)
        except Exception as error:  # admit discarded it: not sane, nothing to inspect
            return PublishOutcome(job=outcome, error=f"the new model was rejected: {error}")
        model, blessing = admission.model, admission.blessing
        if admission.refusal is not None:
            return PublishOutcome(
                job=outcome, refused=admission.refusal, candidate=out.name, blessing=blessing
            )
        # About to serve: its follow-up lookups are built while the old model answers.
        await asyncio.to_thread(model.warm_up)
        if before_switch is not None:
            await before_switch(out.name)
        why = Why.FORCE if gate is None else Why.RETRAIN
        switching = asyncio.ensure_future(asyncio.to_thread(store.switch, out.name, why))
        await asyncio.shield(switching)
    except BaseException:
        if switching is not None:
            # A pointer write in flight finishes before anyone looks at the outcome.
            with contextlib.suppress(BaseException):
                await switching
        if store.current_version() != out.name:
            await asyncio.to_thread(store.discard, out)
        raise
    pruned = await asyncio.to_thread(store.prune, keep)
    return PublishOutcome(
        job=outcome, version=model.version, model=model, blessing=blessing, pruned=pruned
    )


if __name__ == "__main__":
    sys.exit(main())
