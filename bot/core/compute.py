"""CPU-bound model work off the event loop, in two bounded lanes of worker threads.

Every handler that calls the model (resolve, similar, follow-ups, group ranking,
explanations) runs that call through `services.compute(fn, ...)`, so one slow request
never stops the bot from reading and answering everyone else: numpy and torch release
the GIL while they work, and the event loop keeps its turn in between.

Two lanes, so quick answers never queue behind slow ones: `quick` (a `!recommend`:
milliseconds; one that must search, for a typo or a song the catalog lacks, takes a few
more, and a burst of those leaves a thread free for requests named exactly) and `heavy`
(a big group session's ranking: up to a second or so). The heavy lane has fewer threads
than the machine has cores, so a pile of heavy requests always leaves a core for the quick
lane; and at most `max_waiting` heavy calls wait for it; past that the caller is told the
bot is busy (`Busy`) instead of waiting minutes.

Questions that arrive together can also be answered together (`Compute.batched`): a burst
of `!recommend`s is scored as one matrix product, which reads the model once for all of
them instead of once each.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import os
import threading
from collections.abc import AsyncIterator, Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from recommender.machine import usable_cores

P = ParamSpec("P")
T = TypeVar("T")
Q = TypeVar("Q")

# Past this many questions a batch is split: a batch's answers all arrive together, and its
# scores (one row of floats per question) stay a few megabytes.
MAX_BATCH = 64


# Whether this request already holds a place in the heavy lane (`Compute.heavy_slot`).
_holding: contextvars.ContextVar[bool] = contextvars.ContextVar("heavy_slot", default=False)


class Busy(RuntimeError):
    """Too many heavy requests are already waiting; try again in a moment."""


HEAVY_NICENESS = 10


def _yield_cpu() -> None:
    """Run this heavy worker thread at a lower CPU priority (Linux schedules threads on
    their own), so on a busy machine the quick lane and the event loop get the cores
    first and a pile of big rankings slows only those who asked for them."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux: same priority then
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), HEAVY_NICENESS)


@dataclass
class _Batches:
    """The questions waiting for one batch function, and how many of its batches run."""

    waiting: list[tuple[Any, asyncio.Future[Any]]] = field(default_factory=list)
    running: int = 0


class Compute:
    """The bot's worker threads for model work (one per process, owned by Services)."""

    def __init__(
        self,
        quick_workers: int | None = None,
        heavy_workers: int | None = None,
        max_waiting: int = 32,
    ) -> None:
        cores = usable_cores()
        self.quick_workers = quick_workers or cores
        # Leave at least one core to the quick lane (and to the event loop).
        self.heavy_workers = heavy_workers or max(cores - 1, 1)
        self.max_waiting = max_waiting
        self._quick = ThreadPoolExecutor(self.quick_workers, thread_name_prefix="compute")
        self._heavy = ThreadPoolExecutor(
            self.heavy_workers, thread_name_prefix="compute-heavy", initializer=_yield_cpu
        )
        self._heavy_pending = 0
        self._batches: dict[Hashable, _Batches] = {}
        self._batch_tasks: set[asyncio.Task[None]] = set()
        # One request preparing while each heavy worker ranks: the next one is ready.
        self._heavy_turn = asyncio.Semaphore(self.heavy_workers + 1)
        # Quick calls that search (`searching`) hold at most all but one quick thread: 50
        # members asking at once for songs the catalog lacks (a typo search and an artist's
        # answer each) made another member's plain "bad guy" wait 300 ms behind them.
        self._searching = asyncio.Semaphore(max(self.quick_workers - 1, 1))

    async def run(  # type: ignore[valid-type]  # the lane's flags never reach fn
        self,
        fn: Callable[P, T],
        /,
        *args: P.args,
        heavy: bool = False,
        searching: bool = False,
        **kwargs: P.kwargs,
    ) -> T:
        """`fn(*args, **kwargs)` in a worker thread of the quick (or heavy) lane;
        `searching` for a quick call that searches rather than looks up (it may wait for
        the other searches so that exact requests always find a thread)."""
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        if searching and not heavy:
            async with self._searching:
                return await loop.run_in_executor(self._quick, call)
        if not heavy:
            return await loop.run_in_executor(self._quick, call)
        async with self.heavy_slot():
            return await loop.run_in_executor(self._heavy, call)

    async def batched(self, fn: Callable[[list[Q]], Sequence[T]], question: Q) -> T:
        """`fn([question, ...])`'s answer to `question`, with whatever other questions for
        the same `fn` are waiting, in a quick-lane worker thread.

        A question goes at once when fewer batches of `fn` run than the quick lane has
        threads, so an idle bot adds no delay; otherwise it waits for the next batch,
        which takes everything that arrived meanwhile (up to MAX_BATCH). `fn` must answer
        each question as it would alone, in order. If it fails, everyone in that batch
        gets its error."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()
        batches = self._batches.setdefault(fn, _Batches())
        batches.waiting.append((question, answer))
        if batches.running < self.quick_workers:
            self._start_batch(fn, batches)
        return await answer

    def _start_batch(self, fn: Callable[[list[Any]], Sequence[Any]], batches: _Batches) -> None:
        batch, batches.waiting = batches.waiting[:MAX_BATCH], batches.waiting[MAX_BATCH:]
        batches.running += 1
        task = asyncio.get_running_loop().create_task(self._run_batch(fn, batches, batch))
        self._batch_tasks.add(task)
        task.add_done_callback(self._batch_tasks.discard)

    async def _run_batch(
        self,
        fn: Callable[[list[Any]], Sequence[Any]],
        batches: _Batches,
        batch: list[tuple[Any, asyncio.Future[Any]]],
    ) -> None:
        try:
            answers = await self.run(fn, [question for question, _ in batch])
            if len(answers) != len(batch):
                raise RuntimeError(f"{fn!r} answered {len(answers)} of {len(batch)} questions")
        except BaseException as error:  # shutting down included: nobody waits forever
            for _, future in batch:
                if future.done():
                    continue
                if isinstance(error, Exception):
                    future.set_exception(error)
                else:
                    future.cancel()
            if not isinstance(error, Exception):
                raise
        else:
            for (_, future), answer in zip(batch, answers, strict=True):
                if not future.done():  # its asker may have given up (cancelled)
                    future.set_result(answer)
        finally:
            batches.running -= 1
            if batches.waiting:
                self._start_batch(fn, batches)
            elif not batches.running:  # forget it: after a model swap it holds the old model
                self._batches.pop(fn, None)

    @contextlib.asynccontextmanager
    async def heavy_slot(self) -> AsyncIterator[None]:
        """A place in the heavy lane for a whole request, or `Busy` at once: a request that
        could not be ranked anyway costs nothing. Then it waits for its turn before its
        preparation too (reading a big session from the database), so dozens of waiting
        requests never read their sessions all at once while others want the database.
        Heavy calls inside it use this place and this turn."""
        if _holding.get():
            yield
            return
        if self._heavy_pending >= self.heavy_workers + self.max_waiting:
            raise Busy("too many heavy requests are waiting")
        self._heavy_pending += 1
        token = _holding.set(True)
        try:
            async with self._heavy_turn:
                yield
        finally:
            _holding.reset(token)
            self._heavy_pending -= 1

    @property
    def heavy_pending(self) -> int:
        """Heavy calls running or waiting."""
        return self._heavy_pending

    def close(self) -> None:
        """Stop taking work; calls still waiting are dropped, running ones finish."""
        self._quick.shutdown(wait=False, cancel_futures=True)
        self._heavy.shutdown(wait=False, cancel_futures=True)


def single_threaded_blas() -> None:
    """Serve with one BLAS thread per process.

    A request does one small matrix-vector product (28k x 64); OpenBLAS waking a second
    thread for it costs more than it saves: similar() took ~16 ms with two threads on a
    busy 2-core machine and ~1 ms with one. Set after any start-up training, which uses
    torch's own thread pool anyway.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # an optional speed-up, never a reason not to start
        return
    threadpool_limits(1, user_api="blas")
