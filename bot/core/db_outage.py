"""When the database is down, full or too slow: the one-line reasons an operator reads,
and the outage and failing-writes state `!status` shows.

A call the database cannot do right now (unreachable, past its deadline, locked by
another process, full, read-only) raises `StorageUnavailable`; `Outage` and `WriteHealth`
remember since when and why, log it at most once a minute, and end on the first call that
works again.
"""

import errno
import logging
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

# The same logger as the engine's: an operator filters or raises "bot.core.db" for all of it.
log = logging.getLogger("bot.core.db")


class DatabaseUnavailable(OSError):
    """The database in DATABASE_URL cannot be opened; `str()` is one line with the fix."""


# PostgreSQL's error codes for "no such database" and "who are you" (SQLSTATE classes).
_NO_SUCH_DATABASE = "3D000"
_BAD_LOGIN = ("28000", "28P01")


def unavailable_message(url: str, error: BaseException) -> str:
    """One line: which database failed to open, why, and what to do about it."""
    parsed = make_url(url)
    reason = _reason(error)
    if parsed.get_backend_name() == "sqlite":
        where = parsed.database or "(in memory)"
        fix = (
            "free some disk space"
            if "full" in reason or getattr(error, "errno", None) == errno.ENOSPC
            else "point DATABASE_URL (or DATA_DIR) at a writable directory"
        )
        return f"DATABASE_URL: cannot open the SQLite database {where} ({reason}); {fix}."
    server = _server(parsed)
    code = getattr(getattr(error, "orig", None), "sqlstate", None)
    if code == _NO_SUCH_DATABASE:
        return (
            f"DATABASE_URL: PostgreSQL at {server} has no database {parsed.database!r}; "
            f"create it (createdb {parsed.database}) or fix the name in DATABASE_URL."
        )
    if code in _BAD_LOGIN:
        return (
            f"DATABASE_URL: PostgreSQL at {server} refused the login ({reason}); "
            "fix the user or password in DATABASE_URL."
        )
    if isinstance(error, OSError | TimeoutError):
        return (
            f"DATABASE_URL: cannot reach PostgreSQL at {server} ({reason}); "
            "start the server, or point DATABASE_URL at a running one."
        )
    return f"DATABASE_URL: cannot open the database at {server} ({reason}); check DATABASE_URL."


def _server(url: URL) -> str:
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _reason(error: BaseException) -> str:
    if isinstance(error, DBAPIError):
        error = error.orig or error
    if isinstance(error, OSError) and error.errno and error.errno > 0:
        return os.strerror(error.errno).lower()
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    if isinstance(error, TimeoutError):
        return "timed out"
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# SQLSTATE classes of a database that cannot work right now, whatever the statement:
# connection exceptions, insufficient resources (disk full, too many connections),
# operator intervention (shutting down, cannot connect now), system errors (I/O).
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57", "58")
_DISK_FULL = "53100"


class StorageUnavailable(Exception):
    """The database cannot do this right now: unreachable, past its deadline, locked by
    another process, full or read-only. `reason` is a few words for `!status` and logs;
    `full` says a full disk is why (the answer to a member says so)."""

    def __init__(self, reason: str, *, full: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.full = full


def storage_failure(error: BaseException) -> bool:
    """Did the database fail because it cannot work right now (see StorageUnavailable),
    as opposed to a conflict the code handles (a unique key raced) or a bug in a
    statement (which must show as one, not as an outage)?"""
    if isinstance(error, StorageUnavailable | OSError | PoolTimeout):
        return True  # TimeoutError and ConnectionRefusedError are OSErrors
    if not isinstance(error, DBAPIError) or isinstance(error, IntegrityError):
        return False
    if isinstance(error, OperationalError | InterfaceError):
        return True  # SQLite: locked, full, read-only, cannot open; a closed connection
    code = _sqlstate(error)
    return code is not None and code[:2] in _OUTAGE_SQLSTATE_CLASSES


def is_write_failure(error: BaseException) -> bool:
    """A write the database could not do (full disk, read-only file, server gone)."""
    return storage_failure(error)


def unreachable(error: BaseException) -> bool:
    """A failure that the next call would most likely repeat after waiting as long: no
    answer in time, connections refused or cut, the file locked. (A full disk answers
    at once, so it is not one.)"""
    if isinstance(error, StorageUnavailable):
        return not error.full
    if isinstance(error, OSError | PoolTimeout | InterfaceError):
        return True
    code = _sqlstate(error)
    if code is not None:
        return code[:2] in ("08", "57") or code == "53300"  # too many connections
    return isinstance(error, OperationalError) and "locked" in str(error.orig or "")


def _sqlstate(error: BaseException) -> str | None:
    orig = getattr(error, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _is_full(error: BaseException) -> bool:
    if isinstance(error, StorageUnavailable):
        return error.full
    if getattr(error, "errno", None) == errno.ENOSPC or _sqlstate(error) == _DISK_FULL:
        return True
    return "full" in _reason(error) or "no space left" in _reason(error)


def _failure_reason(error: BaseException) -> str:
    if isinstance(error, StorageUnavailable):
        return error.reason
    if isinstance(error, PoolTimeout):
        return "timed out waiting for a free database connection"
    return _reason(error)


def _stamp(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


class WriteHealth:
    """Whether the database is refusing writes, since when and why.

    A full disk fails every write; the bot keeps answering (a recommendation whose history
    row cannot be saved is still sent), logs the trouble at most once per `log_every`
    seconds rather than once per message, and `!status` shows it until a write succeeds.
    """

    def __init__(self, log_every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.log_every = log_every
        self._clock = clock
        self.failing_since: datetime | None = None
        self.reason = ""
        self.failures = 0  # since the last successful write
        self._logged_at: float | None = None

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        if self.failing_since is None:
            self.failing_since = datetime.now(UTC)
        self.failures += 1
        self.reason = _failure_reason(error)
        if self._logged_at is None or now - self._logged_at >= self.log_every:
            self._logged_at = now
            log.warning(
                "database writes are failing (%s); %d since %s; answers are still sent "
                "but not saved",
                self.reason,
                self.failures,
                _stamp(self.failing_since),
            )
        if not isinstance(error, StorageUnavailable):
            log.debug("database write failed", exc_info=error)

    def succeeded(self) -> None:
        if self.failing_since is not None:
            log.warning(
                "database writes work again after %d failures since %s",
                self.failures,
                _stamp(self.failing_since),
            )
        self.failing_since, self.reason, self.failures, self._logged_at = None, "", 0, None


class Outage:
    """Whether the database cannot be read at all (unreachable, no answer in time), since
    when and why; logged at most once per `log_every` seconds, shown in `!status`, ended
    by the first call that works."""

    def __init__(self, log_every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.log_every = log_every
        self._clock = clock
        self.since: datetime | None = None
        self.reason = ""
        self.failures = 0
        self._logged_at: float | None = None

    def failed(self, error: BaseException) -> None:
        now = self._clock()
        if self.since is None:
            self.since = datetime.now(UTC)
        self.failures += 1
        self.reason = _failure_reason(error)
        if self._logged_at is None or now - self._logged_at >= self.log_every:
            self._logged_at = now
            log.warning(
                "the database is unreachable (%s); %d failed calls since %s; "
                "recommendations are still answered, history is not saved",
                self.reason,
                self.failures,
                _stamp(self.since),
            )
        if not isinstance(error, StorageUnavailable):
            log.debug("database call failed", exc_info=error)

    def ended(self) -> None:
        if self.since is not None:
            log.warning(
                "the database is reachable again (unreachable since %s, %d failed calls)",
                _stamp(self.since),
                self.failures,
            )
        self.since, self.reason, self.failures, self._logged_at = None, "", 0, None
