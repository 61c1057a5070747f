"""Async database engine, sessions, and schema upgrades (Alembic) for the bot.

The event loop never blocks on the database: everything goes through SQLAlchemy's async
engine (aiosqlite for SQLite, asyncpg for PostgreSQL). `DATABASE_URL` picks the backend;
nothing here is SQLite-only except the pragmas and the in-process write queue.

A database that cannot be opened at start-up (PostgreSQL down, a read-only directory, a
full disk) raises `DatabaseUnavailable`, whose message is the one line an operator needs:
what failed, naming DATABASE_URL, and the likely fix. The traceback goes to the debug log.

Once serving, every call has a deadline (`Deadlines`: connecting, one statement, waiting
for a pooled connection), so a database that stops answering costs a few seconds, never
a hung command. A call the database cannot do right now (unreachable, past its deadline,
locked by another process, full, read-only) raises `StorageUnavailable`: the model still
answers, commands that need storage say so in one line, `!status` shows since when, and
the first call that works again ends the outage by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, func, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql import Executable

from bot.core.db_outage import (
    DatabaseUnavailable,
    Outage,
    StorageUnavailable,
    WriteHealth,
    _failure_reason,
    _is_full,
    storage_failure,
    unavailable_message,
    unreachable,
)

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS_DIR = REPO_ROOT / "migrations"


def ensure_sqlite_dir(url: str) -> None:
    """Create the directory of a SQLite file so a fresh checkout starts without setup."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        directory = Path(parsed.database).expanduser().parent
        if directory.exists() and not directory.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", str(directory))
        directory.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class Deadlines:
    """How long one database call may take, in seconds, before the bot gives up on it.

    `connect`: opening a connection (a host that accepts and then says nothing);
    `statement`: one statement (on SQLite, also how long to wait for another process's
    lock); `checkout`: waiting for a free pooled connection, or on SQLite for this
    process's earlier writes."""

    connect: float = 5.0
    statement: float = 5.0
    checkout: float = 5.0


# Schema upgrades run before the bot answers anyone, may rewrite a big table, and wait for
# another process's upgrade to finish (an advisory lock): seconds are not enough there.
MIGRATION_DEADLINES = Deadlines(connect=30.0, statement=3600.0, checkout=30.0)


def _sqlite_pragmas(busy_ms: int) -> Callable[[Any, Any], None]:
    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        # WAL lets `!history` read while a query row is being written; busy_timeout makes
        # concurrent writers wait (up to the statement deadline) instead of failing with
        # "database is locked" at once.
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return pragmas


def create_engine(url: str, deadlines: Deadlines | None = None, **kwargs: Any) -> AsyncEngine:
    """An async engine for `url` whose every call has `deadlines`; on SQLite, with the
    WAL/busy-timeout pragmas.

    Lazy: nothing touches the disk or network until the first connection.
    """
    deadlines = deadlines or Deadlines()
    sqlite = make_url(url).get_backend_name() == "sqlite"
    kwargs.setdefault("pool_timeout", deadlines.checkout)
    if sqlite:
        kwargs.setdefault("connect_args", {"timeout": deadlines.connect})
    else:
        # A server restarted since a pooled connection was opened: test it before use,
        # rather than failing the request that happens to get it.
        kwargs.setdefault("pool_pre_ping", True)
        # Without these, a host that accepts connections and then forwards nothing (a
        # network partition) holds every command that touches the database forever.
        kwargs.setdefault(
            "connect_args",
            {"timeout": deadlines.connect, "command_timeout": deadlines.statement},
        )
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        busy_ms = max(int(deadlines.statement * 1000), 1)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas(busy_ms))
    return engine


def alembic_config(url: str) -> Config:
    """An Alembic config for `url` that works from any working directory."""
    config = (
        Config(str(REPO_ROOT / "alembic.ini")) if (REPO_ROOT / "alembic.ini").exists() else Config()
    )
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade_to_head(url: str, revision: str = "head") -> None:
    """Run the Alembic migrations (blocking; the env runs its own event loop)."""
    ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), revision)


async def upgrade_to_head_async(url: str, revision: str = "head") -> None:
    """`upgrade_to_head` in a worker thread: the async env needs a loop of its own."""
    await asyncio.to_thread(upgrade_to_head, url, revision)


INSERT_BATCH = 256  # rows' groups per shared insert transaction
_Insert = tuple[Callable[[], Sequence[Any]], Callable[[], Any] | None, "asyncio.Future[list[Any]]"]


async def insert_rows(session: AsyncSession, rows: Sequence[Any]) -> None:
    """Insert new ORM rows (with no relationships between them) and give each its id.

    Plain INSERTs per table, without the ORM's unit of work, whose bookkeeping of every
    object cost more than the writes. Columns a row leaves unset get their defaults, as
    in a flush.

    SQLite: one trip to the database's thread for all of a table's rows, not one each
    (for a burst of 500 answers, 1,000 trips were most of what storing cost): SQLAlchemy
    cannot get the ids of a many-row INSERT back in order there, so each row is numbered
    in SQL as the largest id so far plus one (as SQLite numbers a new row: the tables
    have no AUTOINCREMENT), one row after another, and the ids are the last ones then.
    The transaction holds SQLite's write lock from its first write to its commit, so no
    other writer's row can come in between. PostgreSQL gets the ids back in order from
    INSERT ... RETURNING, batched by SQLAlchemy."""
    tables: dict[tuple[Any, tuple[str, ...]], list[Any]] = {}
    for row in rows:
        mapper = inspect(type(row))
        keys = tuple(attr.key for attr in mapper.column_attrs if attr.key in row.__dict__)
        tables.setdefault((mapper, keys), []).append(row)
    sqlite = session.get_bind().dialect.name == "sqlite"
    for (mapper, keys), same in tables.items():
        (column,) = mapper.primary_key
        key = mapper.get_property_by_column(column).key
        values = [{k: getattr(row, k) for k in keys} for row in same]
        if sqlite and key not in keys:
            following = func.coalesce(select(func.max(column)).scalar_subquery(), 0) + 1
            await session.execute(insert(mapper.local_table).values({key: following}), values)
            last = (await session.execute(select(func.max(column)))).scalar_one()
            ids: Sequence[int] = range(last - len(same) + 1, last + 1)
        else:
            statement = insert(mapper.local_table).returning(column, sort_by_parameter_order=True)
            ids = [row_id for (row_id,) in (await session.execute(statement, values)).all()]
        for row, row_id in zip(same, ids, strict=True):
            setattr(row, key, row_id)


class Database:
    """The engine and a session factory; one per process, closed on shutdown.

    While the database is out (`outage`, or writes timing out), one call at a time tries
    it, at most once per connect deadline, and the others are refused at once with
    StorageUnavailable: commands during a partition cost a moment, not a deadline each,
    and the call that works again ends the outage for everyone."""

    def __init__(self, url: str, deadlines: Deadlines | None = None, **engine_kwargs: Any) -> None:
        self.url = url
        self.deadlines = deadlines or Deadlines()
        self.engine = create_engine(url, self.deadlines, **engine_kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.sqlite = self.engine.dialect.name == "sqlite"
        # SQLite has one writer at a time; queueing writers here is far cheaper than
        # letting them collide and back off in SQLite's busy handler (which sleeps).
        self._write_lock = asyncio.Lock() if self.sqlite else None
        self.health = WriteHealth()
        self.outage = Outage()
        self._writes_stuck = False  # the last write timed out or found the file locked
        self._probing = False  # the one call trying the database while it is out
        self._next_try = 0.0  # monotonic time before which no call tries it while out
        self._inserts: list[_Insert] = []  # waiting for `insert`'s next transaction
        self._inserter: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session that commits on success and rolls back on error.

        Raises StorageUnavailable when the database cannot be used right now."""
        probe = self._admit(writing=False)
        try:
            async with self._transaction() as session:
                yield session
        except Exception as error:
            if not storage_failure(error):
                raise
            raise self._failed(error, writing=False) from error
        finally:
            if probe:
                self._probing = False
        self._worked(writing=False)

    @asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """`session()` for writes: on SQLite, one writer at a time within this process.

        A write the database refuses (full disk, unreachable, locked, …) is noted in
        `health` and raised as StorageUnavailable."""
        probe = self._admit(writing=True)
        try:
            if self._write_lock is None:
                async with self._transaction() as session:
                    yield session
            else:
                try:
                    async with asyncio.timeout(self.deadlines.checkout):
                        await self._write_lock.acquire()
                except TimeoutError:
                    raise StorageUnavailable(
                        f"writes waited over {self.deadlines.checkout:g} s for earlier ones"
                    ) from None
                try:
                    async with self._transaction() as session:
                        yield session
                finally:
                    self._write_lock.release()
        except Exception as error:
            if not storage_failure(error):
                raise
            raise self._failed(error, writing=True) from error
        finally:
            if probe:
                self._probing = False
        self._worked(writing=True)

    @property
    def available(self) -> bool:
        """False during an outage (see `outage`); writes may fail on their own (`health`)."""
        return self.outage.since is None

    def _admit(self, writing: bool) -> bool:
        """Let this call try the database; True if it is the one call trying while the
        database is out. Raises StorageUnavailable at once if another already is."""
        out = self.outage.since is not None or (writing and self._writes_stuck)
        if not out:
            return False
        if self._probing or time.monotonic() < self._next_try:
            refused = StorageUnavailable(
                (self.outage.reason if self.outage.since else self.health.reason)
                or "the database is unavailable"
            )
            (self.health if writing else self.outage).failed(refused)
            raise refused
        self._probing = True
        return True

    def _failed(self, error: BaseException, writing: bool) -> StorageUnavailable:
        gone = unreachable(error)
        self._next_try = time.monotonic() + self.deadlines.connect
        if writing:
            self.health.failed(error)
            self._writes_stuck = self._writes_stuck or gone
        # A SQLite write that finds the file locked says nothing of reads (WAL readers
        # never wait for a writer); anything else that cannot reach the database does.
        if not writing or (gone and not self.sqlite):
            self.outage.failed(error)
        if isinstance(error, StorageUnavailable):
            return error
        return StorageUnavailable(_failure_reason(error), full=_is_full(error))

    def _worked(self, writing: bool) -> None:
        if writing:
            self._writes_stuck = False
            if self.health.failing_since is not None:
                self.health.succeeded()
        if self.outage.since is not None:
            self.outage.ended()

    async def insert(
        self,
        make: Callable[[], Sequence[Any]],
        before: Callable[[], Executable] | None = None,
    ) -> list[Any]:
        """Insert the new rows `make()` builds and return them with their ids.

        Inserts that arrive while one is being written go in together, as one transaction
        and one flush (a group commit): a burst of answers costs a few transactions, not
        one each, and the write lock is held a few times instead of hundreds. `before`
        makes a statement run once per transaction ahead of the inserts (a clean-up such
        as deleting expired rows; the same function asked by many runs once). If the
        shared transaction fails, each insert is tried alone, so one bad row fails only
        its own caller.
        """
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._inserts.append((make, before, future))
        if self._inserter is None or self._inserter.done():
            self._inserter = asyncio.create_task(self._insert_waiting(), name="db-inserts")
        return await future

    async def _insert_waiting(self) -> None:
        while self._inserts:
            batch, self._inserts = self._inserts[:INSERT_BATCH], self._inserts[INSERT_BATCH:]
            batch = [item for item in batch if not item[2].done()]  # a caller gave up
            if not batch:
                continue
            try:
                results = await self._insert_together(batch)
            except Exception as error:
                if len(batch) == 1:
                    batch[0][2].set_exception(error)
                    continue
                for item in batch:  # each on its own: only the bad one fails
                    try:
                        (result,) = await self._insert_together([item])
                    except Exception as alone:
                        if not item[2].done():
                            item[2].set_exception(alone)
                    else:
                        if not item[2].done():
                            item[2].set_result(result)
                continue
            for (_, _, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    async def _insert_together(self, batch: list[_Insert]) -> list[list[Any]]:
        async with self.writing() as session:
            chores = {id(before): before for _, before, _ in batch if before is not None}
            for chore in chores.values():
                await session.execute(chore())
            rows = [list(make()) for make, _, _ in batch]
            await insert_rows(session, [row for group in rows for row in group])
        return rows

    async def upgrade(self) -> None:
        """Bring the schema to head (creates a SQLite file and its directory if needed).

        Raises DatabaseUnavailable when the database cannot be opened or written.
        """
        try:
            # Connect here first: a failure then surfaces in this loop with its real
            # cause, not from inside Alembic's own event loop in a worker thread.
            ensure_sqlite_dir(self.url)
            async with self.engine.connect():
                pass
        except (OSError, TimeoutError, DBAPIError) as error:
            raise self._unavailable(error) from error
        try:
            await upgrade_to_head_async(self.url)
        except (OSError, OperationalError) as error:  # e.g. the disk filled up meanwhile
            raise self._unavailable(error) from error

    def _unavailable(self, error: BaseException) -> DatabaseUnavailable:
        log.debug("cannot open the database", exc_info=error)
        return DatabaseUnavailable(unavailable_message(self.url, error))

    async def close(self) -> None:
        inserter = self._inserter
        if inserter is not None and not inserter.done():
            with contextlib.suppress(Exception):
                await inserter  # the inserts already asked for are written first
        await self.engine.dispose()
