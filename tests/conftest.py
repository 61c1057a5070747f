"""Shared fixtures: the real dataset, one model trained on it per test session, and the
databases: every test that stores something runs on a SQLite file and on PostgreSQL.

PostgreSQL is the service at MUSICBOT_TEST_POSTGRES (default: the machine's own,
127.0.0.1:5432, user postgres). The service outlives test runs, so each run makes its
own databases, `musicbot_test_<run>_<n>`, and drops them when done. Without a reachable
server the PostgreSQL half is skipped with the reason, except in CI (`CI` set), where it
fails: CI must never pass having tested one backend.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import URL, make_url

# No test reaches the internet: songs the catalog lacks are looked up only where a test
# points the lookups at its own local fake services (tests/music_api_support.py).
os.environ["LOOKUP"] = "off"

REPO_ROOT = Path(__file__).resolve().parents[1]
DATASET = Path(
    os.environ.get("MUSICBOT_TEST_DATA", REPO_ROOT.parent / "shared" / "data" / "spotify_songs.csv")
)
POSTGRES = os.environ.get("MUSICBOT_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def dataset_path() -> Path:
    if not DATASET.exists():
        pytest.fail(f"the real dataset is required at {DATASET} (see ../shared/data/README.md)")
    return DATASET


@pytest.fixture(scope="session")
def trained_model_dir(dataset_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A default model trained once on the real catalog and saved; tests load it."""
    from recommender import Recommender

    directory = tmp_path_factory.mktemp("model") / "v1"
    Recommender.train(dataset_path, progress=False).save(directory)
    return directory


@pytest.fixture(scope="session")
def recommender(trained_model_dir: Path):
    from recommender import Recommender

    return Recommender.load(trained_model_dir)


# -- databases -----------------------------------------------------------------------------
class PostgresServer:
    """This run's databases on the PostgreSQL service: made on demand, all dropped at the end."""

    def __init__(self, url: str) -> None:
        self.url: URL = make_url(url).set(drivername="postgresql")
        self.run = secrets.token_hex(4)
        self.databases: list[str] = []

    def _admin(self, *statements: str) -> Any:
        """Run statements on the service's maintenance database, outside any test's loop."""
        import asyncpg

        async def run() -> Any:
            connection = await asyncpg.connect(
                host=self.url.host,
                port=self.url.port or 5432,
                user=self.url.username,
                password=self.url.password,
                database=self.url.database,
                timeout=5,
            )
            try:
                for statement in statements:
                    await connection.execute(statement)
            finally:
                await connection.close()

        outcome: dict[str, Any] = {}

        def thread() -> None:
            try:
                asyncio.run(run())
            except BaseException as error:  # handed to the caller's thread
                outcome["error"] = error

        worker = threading.Thread(target=thread)
        worker.start()
        worker.join()
        if "error" in outcome:
            raise outcome["error"]

    def check(self) -> None:
        self._admin("SELECT 1")

    def create_database(self) -> str:
        """A new empty database; its URL as an operator would write it (postgresql://)."""
        name = f"musicbot_test_{self.run}_{len(self.databases) + 1}"
        self._admin(f'CREATE DATABASE "{name}"')
        self.databases.append(name)
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop_database(self, url: str) -> None:
        name = make_url(url).database
        # FORCE: a test that forgot to close its engine must not keep the database alive.
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self.databases.remove(name)

    def disconnect_all(self, url: str) -> None:
        """End every connection to that database, as a server restart would."""
        name = make_url(url).database
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        )

    def drop_all(self) -> None:
        for name in list(self.databases):
            self.drop_database(self.url.set(database=name).render_as_string())


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer(POSTGRES)
    try:
        server.check()
    except Exception as error:
        where = f"{server.url.host}:{server.url.port or 5432}"
        message = (
            f"PostgreSQL is not reachable at {where} ({type(error).__name__}: {error}); "
            "start it (`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
            "start`) or set MUSICBOT_TEST_POSTGRES"
        )
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"{message}. CI runs every test on PostgreSQL too.", pytrace=False)
        pytest.skip(message)
    yield server
    server.drop_all()


@pytest.fixture(scope="module", params=BACKENDS)
def database_backend(request: pytest.FixtureRequest) -> str:
    """The backend, sqlite or postgresql: a test that uses a database runs once with each."""
    return request.param


def _new_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'musicbot.db'}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture(scope="module")
def database_url(
    request: pytest.FixtureRequest, database_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database shared by one test module's tests (as they share their bot)."""
    yield from _new_database(request, database_backend, tmp_path_factory.mktemp("database"))


@pytest.fixture
def fresh_database_url(
    request: pytest.FixtureRequest, database_backend: str, tmp_path: Path
) -> Iterator[str]:
    """An empty database for this test alone."""
    yield from _new_database(request, database_backend, tmp_path)
