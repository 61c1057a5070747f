"""Retraining in a separate process, and publishing its model only when it is sound.

Why a subprocess: training holds the CPU and a lot of memory for a long time. In its own
process it cannot stall the bot's event loop (the bot keeps answering with the old model),
and when it raises, is killed, times out or runs out of memory, only the child dies; the
parent records why and the old model stays current.

The child is the one training command line, `python -m recommender.train` (train.py),
with a retrain's guards: it trains, saves to a fresh version directory of a ModelStore,
reloads and sanity-checks what it wrote, and prints one `RESULT {json}` line on stdout
(`TrainingResult`); a failure ends with one `TRAINING FAILED: reason` line on stderr and
a non-zero exit code. This module is the parent, `TrainingJob` / `train_and_publish`:
it runs the child with a timeout, keeps the tail of its stderr for the run record, and
publishes the new version through the store (load, sanity check, blessing against the
serving model, atomic pointer switch, prune), keeps it as refused, or discards it.

Publishing is the parent's job alone: the child only writes its directory. A child whose
parent is gone (the bot crashed or was killed) stops training and exits, so no orphan
keeps a CPU busy, and nothing it wrote is ever served.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recommender.blessing import Blessing, Floor, Gate
from recommender.recommender import DEFAULT_MODEL, Recommender
from recommender.store import ModelStore, Why
from recommender.train import TrainingResult
from recommender.train_guards import FAILURE_PREFIX

log = logging.getLogger(__name__)

STDERR_TAIL_LINES = 60
# How the child logs its progress (train.py's log format, progress.py's logger), when
# stderr is not a terminal: a line every tenth of the run.
PROGRESS_PREFIX = "INFO recommender.training.progress: "


# -- parent -------------------------------------------------------------------------------
@dataclass
class JobOutcome:
    """How a training process ended. `error` is a one-line reason for people."""

    ok: bool
    returncode: int | None
    seconds: float
    result: TrainingResult | None = None
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
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.out = Path(out)
        # Each stderr line as it comes (a first start shows the training's progress).
        self.on_line = on_line
        self.timeout = timeout
        self.argv = [
            python,
            "-m",
            "recommender.train",
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
            self.argv += ["--param", f"{key}={json.dumps(value)}"]
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

        async def pump(
            stream: asyncio.StreamReader | None,
            sink: Any,
            each: Callable[[str], None] | None = None,
        ) -> None:
            if stream is None:
                return
            async for raw in stream:
                line = raw.decode("utf-8", errors="replace").rstrip("\n")
                sink.append(line)
                if each is not None:
                    each(line)

        readers = asyncio.gather(
            pump(process.stdout, self._stdout),
            pump(process.stderr, self._stderr, self.on_line),
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
        result = TrainingResult.from_lines(self._stdout)
        if self._timed_out:
            error: str | None = f"training timed out after {self.timeout:g}s and was stopped"
        elif returncode == 0 and result is not None:
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


def progress_line(line: str) -> str | None:
    """The training's progress in a child's stderr line ("hetero-lightgcn epoch 8/80
    loss 11.29"), or None for any other line."""
    return line[len(PROGRESS_PREFIX) :] if line.startswith(PROGRESS_PREFIX) else None


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
