"""Two real bot processes on one PostgreSQL database and one MODEL_DIR, as an operator
runs several processes for one community: both answer, only one trains at a time, and
after a retrain both serve the new model.

Each process is `musicbot chat` in a child process (the same handlers and Services as
`musicbot run`, without a Discord connection), fed commands through its stdin; the
console user is an admin, so `!retrain` is allowed in both.
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from retrain_support import process_env, quick_model, save_new_model, write_small_csv

from bot.core.serving import model_store
from bot.core.settings import Settings
from recommender.data import read_rows

CHAT = "import sys\nfrom bot.frontends.cli import main\nsys.exit(main(['chat']))\n"
POLL_SECONDS = 1
# Waits are generous for a busy test machine; on an idle one each takes a few seconds.
START_TIMEOUT = 90
ANSWER_TIMEOUT = 30
RETRAIN_TIMEOUT = 120
MODEL_LINE = re.compile(r"^Model\n  (\S+) \(", re.MULTILINE)
FOOTER_MODEL = re.compile(r"· model (\S+)\n")


@pytest.fixture(scope="module")
def database_backend() -> str:
    """Several processes share one database only on PostgreSQL (SQLite is one machine's file)."""
    return "postgresql"


class ChatProcess:
    """`musicbot chat` in a child process: commands in through stdin, answers read from stdout."""

    def __init__(self, name: str, process: asyncio.subprocess.Process, log: Path) -> None:
        self.name = name
        self.process = process
        self.log = log
        self.output = ""
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, env: dict[str, str], root: Path) -> ChatProcess:
        root.mkdir(parents=True, exist_ok=True)
        log = root / "stderr.log"
        with open(log, "w") as errors:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                CHAT,
                env=env,
                cwd=root,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
        return cls(name, process, log)

    async def _read(self) -> None:
        assert self.process.stdout is not None
        while chunk := await self.process.stdout.read(4096):
            self.output += chunk.decode(errors="replace")

    def describe(self) -> str:
        return (
            f"process {self.name} (exit code {self.process.returncode}) said:\n"
            f"{self.output[-3000:]}\nstderr:\n{self.log.read_text(errors='replace')[-3000:]}"
        )

    async def wait_for(self, pattern: re.Pattern[str], start: int, timeout: float) -> re.Match:
        """The first match of `pattern` in what the process printed after offset `start`."""
        deadline = time.monotonic() + timeout
        while (found := pattern.search(self.output, start)) is None:
            if self.process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"no {pattern.pattern!r} within {timeout:g}s; " + self.describe()
                )
            await asyncio.sleep(0.05)
        return found

    async def ask(self, line: str, answer_ends: str, timeout: float = ANSWER_TIMEOUT) -> str:
        """Type `line`; return its answer, which is complete once `answer_ends` matches."""
        start = len(self.output)
        assert self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()
        echo = await self.wait_for(
            re.compile(rf"^> {re.escape(line)}\n", re.MULTILINE), start, timeout
        )
        end = await self.wait_for(re.compile(answer_ends, re.MULTILINE), echo.end(), timeout)
        return self.output[echo.end() : end.end()]

    async def status_model(self) -> str:
        """The model version `!status` names."""
        status = await self.ask("!status", r"^Uptime\n  .+\n")
        found = MODEL_LINE.search(status)
        assert found, status
        return found.group(1)

    async def stop(self) -> int:
        if self.process.returncode is None:
            assert self.process.stdin is not None
            self.process.stdin.close()  # EOF: the console says bye and closes its Services
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        await self._reader
        return self.process.returncode


@pytest.fixture
def shared(tmp_path: Path, dataset_path: Path, fresh_database_url: str) -> Iterator[dict]:
    """One database, one MODEL_DIR holding a quick model, and a small real catalog."""
    small = write_small_csv(dataset_path, tmp_path / "small.csv")
    models = tmp_path / "models"
    settings = Settings(_env_file=None, data_dir=tmp_path / "data", model_dir=models)
    save_new_model(settings, quick_model(small))
    track = read_rows(small).iloc[0]
    yield {
        "small": small,
        "models": models,
        "database_url": fresh_database_url,
        "song": f"{track['track_name']} - {track['track_artist']}",
    }


def child_env(root: Path, shared: dict) -> dict[str, str]:
    return process_env(
        root,
        shared["small"],
        database_url=shared["database_url"],
        model_dir=shared["models"],
        model_poll_seconds=POLL_SECONDS,
        # The lease is taken before A answers "Retraining started", and the run cannot end
        # before its training process has started and imported torch (seconds), while B
        # answers in a fraction of a second; a few epochs on the small catalog end soon.
        retrain_epochs=5,
        retrain_timeout_seconds=RETRAIN_TIMEOUT,
        retrain_heartbeat_seconds=1,
        retrain_lease_seconds=5,
        cooldown_rate=0,
    )


async def test_two_bot_processes_share_one_lease_and_both_serve_the_new_model(
    tmp_path: Path, shared: dict
) -> None:
    ready = re.compile(r"^Type a song for recommendations", re.MULTILINE)
    # Started together, as a supervisor starts them: both bring the schema up at once.
    a, b = await asyncio.gather(
        ChatProcess.start("A", child_env(tmp_path / "a", shared), tmp_path / "a"),
        ChatProcess.start("B", child_env(tmp_path / "b", shared), tmp_path / "b"),
    )
    try:
        await asyncio.gather(*(p.wait_for(ready, 0, START_TIMEOUT) for p in (a, b)))
        first = model_store(Settings(_env_file=None, model_dir=shared["models"])).current_version()

        for process in (a, b):
            answer = await process.ask(f"!recommend {shared['song']}", FOOTER_MODEL.pattern)
            assert "Songs like" in answer, answer
            assert FOOTER_MODEL.search(answer).group(1) == first
            assert await process.status_model() == first

        started = await a.ask("!retrain", r"^Retraining started, run #(\d+)\..*\n")
        run_id = re.search(r"run #(\d+)", started).group(1)
        refused = await b.ask("!retrain", r"I won't start another one\.\n")
        assert "Already retraining" in refused, refused
        assert "in another bot process" in refused and f"run #{run_id}" in refused, refused
        status_b = await b.ask("!status", r"^Uptime\n  .+\n")
        assert f"Retraining now\n  run #{run_id}" in status_b, "B sees the run in progress"

        outcome = await a.wait_for(
            re.compile(rf"^Retrain #{run_id} (\w+)\n-+\n(.*)\n", re.MULTILINE), 0, RETRAIN_TIMEOUT
        )
        assert outcome.group(1) == "finished", outcome.group(0)
        new = re.match(r"Model (\S+) is live", outcome.group(2)).group(1)
        assert new != first
        assert await a.status_model() == new

        # B was not told: it follows the model pointer within MODEL_POLL_SECONDS.
        deadline = time.monotonic() + POLL_SECONDS + ANSWER_TIMEOUT
        while (serving := await b.status_model()) != new and time.monotonic() < deadline:
            await asyncio.sleep(POLL_SECONDS / 2)
        assert serving == new, f"B still serves {serving} after A published {new}"
        answer = await b.ask(f"!recommend {shared['song']}", FOOTER_MODEL.pattern)
        assert FOOTER_MODEL.search(answer).group(1) == new

        # The lease is free again: the next retrain may start in either process.
        again = await b.ask("!retrain", r"^Retraining started, run #\d+\..*\n")
        assert f"run #{int(run_id) + 1}" in again, again
    finally:
        codes = await asyncio.gather(a.stop(), b.stop())
    assert codes == [0, 0], a.describe() + b.describe()
    for process in (a, b):
        assert "Traceback" not in process.output + process.log.read_text()
