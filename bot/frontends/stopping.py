"""Running the bot's event loop until it ends or a signal stops it, without hanging on the way out."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)

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
    process exits 0 as a supervisor expects. Returns main's result, or None if stopped;
    `main` may answer a stop with an exception of its own when the stop is not clean (a
    first training cut short leaves no model), and that exception is raised here."""
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
