"""How a training process stops and fails: SIGTERM or Ctrl-C (`stop_on_signals`), its
bot gone (`exit_with_parent`), a memory cap (`limit_memory`), and the one line it gives
for people (`TRAINING FAILED: reason`, `describe_error`, `report_failure`). Used by the
training command line (train.py) and by `musicbot train`; torch-free."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

FAILURE_PREFIX = "TRAINING FAILED: "
EXIT_ERROR = 1
EXIT_DATA = 2
EXIT_MEMORY = 3
EXIT_ORPHANED = 4
PARENT_CHECK_SECONDS = 1.0


class Refused(Exception):
    """The run will not do what it was asked (one line for people, no traceback)."""


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived while training (a BaseException, like KeyboardInterrupt,
    so no `except Exception` on the way up swallows it)."""

    def __init__(self, number: int) -> None:
        super().__init__(signal.Signals(number).name)
        self.number = number


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGINT raise `Stopped` in the main thread. Training runs
    Python between its steps (a fraction of a second each), so the run stops within a
    few seconds; whatever was being saved is removed on the way up (artifacts.save
    writes to a staging directory first)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(number: int, frame: FrameType | None) -> None:
        raise Stopped(number)

    previous = {n: signal.signal(n, stop) for n in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def say_failed(reason: str) -> None:
    # Workers on one machine fail alike (same data, same devices): one says why.
    if os.environ.get("LOCAL_RANK", "0") == "0":
        with contextlib.suppress(Exception):  # nobody may be reading stderr any more
            print(f"{FAILURE_PREFIX}{reason}", file=sys.stderr, flush=True)


def describe_error(error: BaseException) -> str:
    """Why a run failed, in words an admin can act on, never a bare exception name. The
    first clause (before any ": ") is what a channel is shown."""
    if isinstance(error, OSError):
        where = f" ({error.filename})" if error.filename else ""
        if error.errno == errno.EROFS:
            return f"the model directory is read-only{where}"
        if error.errno in (errno.EACCES, errno.EPERM):
            return f"this user may not write there{where}"
        if error.errno == errno.ENOSPC:
            return f"the disk is full{where}"
        if isinstance(error, FileNotFoundError):
            return f"a file it needs does not exist{where}"
        if error.strerror:
            return f"{error.strerror.lower()}{where}"
    text = str(error).strip().splitlines()
    return text[0] if text else f"an unexpected {type(error).__name__} (see the log)"


def report_failure(error: Exception, memory_limit_mb: int | None) -> int:
    """One line on stderr for the parent to relay; the traceback goes to the log."""
    from recommender.data import DataError

    limit = f" (limit {memory_limit_mb} MB)" if memory_limit_mb else ""
    if (
        isinstance(error, MemoryError)
        or (isinstance(error, ImportError | OSError | RuntimeError) and _looks_like_oom(error))
        or _reached_memory_limit(memory_limit_mb)
    ):
        log.warning("training ran out of memory%s", limit, exc_info=True)
        say_failed(f"out of memory while training{limit}")
        return EXIT_MEMORY
    if isinstance(error, DataError):
        say_failed(f"broken training data: {error}")
        return EXIT_DATA
    if isinstance(error, Refused | argparse.ArgumentTypeError | ValueError):
        # DeviceError is a ValueError; so is a trainer refusing an option.
        say_failed(str(error))
        return EXIT_ERROR
    log.exception("training failed", exc_info=error)
    say_failed(describe_error(error))
    return EXIT_ERROR


def limit_memory(megabytes: int) -> None:
    import resource

    limit = megabytes * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def exit_with_parent(parent: int) -> None:
    """Exit when `parent` is no longer our parent (it died; we were re-parented).

    The child runs in a session of its own (so the parent can kill its whole group), which
    also means nothing else ends it when the parent dies. A daemon thread checks once a
    second; training holds the GIL only in short stretches, so it gets to run.
    """

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_SECONDS)
            if os.getppid() != parent:
                say_failed(f"the bot process {parent} that started this training is gone; stopping")
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
    return match is not None and int(match.group(1)) >= 0.9 * megabytes * 1024
