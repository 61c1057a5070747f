"""Retraining while the bot serves: single flight, a database lease, records, hot swap.

One `Retrainer` per process (in `services.extras`). A run:

1. takes the lease row in the database (so two bot processes never train at once) and
   records a `training_runs` row, status running. A heartbeat renews the lease every
   RETRAIN_HEARTBEAT_SECONDS while the run is alive; it expires RETRAIN_LEASE_SECONDS after
   the last beat, so a crashed process blocks retraining only that long;
2. gathers the training rows (`bot.core.training_data.gather_training_rows`);
3. trains in a child process (recommender/retrain_job.py) so the event loop, and with it
   `!recommend`, keeps answering with the old model; the run records the candidate's
   version (its directory) as soon as the child starts;
4. loads and sanity-checks the candidate and blesses it against the serving model
   (catalog shrink, probe quality; `!retrain force` skips the blessing, never the sanity
   check). A refused candidate is kept on disk and the run recorded `refused`;
5. records `publishing` (and checks the lease is still ours), switches MODEL_DIR's
   pointer atomically, swaps the in-memory model, records `succeeded`, prunes old
   versions and releases the lease. Any failure keeps the old model current and served.

A process that stops mid-run (SIGTERM, `quit`) kills the training child's process group,
records the run `interrupted` and releases the lease. One that dies leaves the run
`running` or `publishing`; the next process to take the lease reconciles it with the
pointer: the candidate is current (the crash came right after the switch) → `succeeded`,
else → `interrupted` and the candidate is removed.

`!rollback` serves a kept version again through the same lease and pointer.

Why one module of nearly 700 lines: the steps above share one state machine (the run
row, the lease and its heartbeat, the child, the pointer) whose every transition must be
read together with the crash it survives; split apart, the reconciliation at start-up
would live away from the writes it reconciles. The schedule (schedule.py), the tables
(tables.py), the child (recommender/retrain_job.py) and the replies (handlers.py) are
already apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from bot.core.db_outage import StorageUnavailable
from bot.core.serving import blessing_gate, model_store, serving_floor
from bot.core.tables import utcnow
from bot.core.text import clip, code
from bot.core.training_data import gather_training_rows
from bot.features.retrain.schedule import is_due
from bot.features.retrain.tables import (
    ADMIN,
    FAILED,
    INTERRUPTED,
    PUBLISHING,
    REFUSED,
    ROLLBACK,
    RUNNING,
    SCHEDULE,
    SUCCEEDED,
    TrainingLease,
    TrainingRun,
)
from recommender import Recommender
from recommender.artifacts import ArtifactError
from recommender.data import DataError
from recommender.retrain_job import TrainingJob, train_and_publish
from recommender.store import Why
from recommender.train_guards import describe_error

if TYPE_CHECKING:
    from bot.core.dispatch import Services
    from bot.features.retrain.schedule import RetrainScheduler

log = logging.getLogger(__name__)

LEASE_NAME = "retrain"
STOPPED = "the bot stopped before the run finished; nothing was published"
RECOVERED = "published before the bot stopped; recorded at the next start"
ACTIVE = (RUNNING, PUBLISHING)
_LOSS = re.compile(r"loss (\d+(?:\.\d+)?)")

Notify = Callable[[TrainingRun], Awaitable[None]]


class LeaseLost(RuntimeError):
    """This process no longer holds the training lease; it must not publish."""


class RollbackError(ValueError):
    """A rollback that cannot be done; the message is for the admin who asked."""


class AlreadyRunning(RuntimeError):
    """A run is in progress (here or in another bot process sharing the database)."""

    def __init__(self, run_id: int | None, since: datetime | None, elsewhere: bool) -> None:
        self.run_id = run_id
        self.since = since
        self.elsewhere = elsewhere
        where = " in another bot process" if elsewhere else ""
        super().__init__(f"a retrain is already running{where} since {since} (run #{run_id})")


@dataclass
class RetrainStatus:
    """What `!status` shows about training."""

    running: TrainingRun | None
    last_finished: TrainingRun | None
    last_rollback: TrainingRun | None
    next_run: datetime | None
    schedule: str  # the RETRAIN_CRON text, or "off"
    scheduled_here: bool  # False in the console, where no scheduler runs


class Retrainer:
    """Starts, runs and records retrains for one bot process."""

    def __init__(
        self,
        services: Services,
        *,
        lease_seconds: float | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.store = model_store(services.settings)
        self.lease_seconds = lease_seconds or services.settings.retrain_lease_seconds
        self.heartbeat_seconds = heartbeat_seconds or services.settings.retrain_heartbeat_seconds
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.scheduler: RetrainScheduler | None = None  # set by the admin cog
        self.scheduled_notify: Notify | None = None  # where scheduled runs report (cog)
        self.job: TrainingJob | None = None  # the training child while one runs
        self.heartbeat: asyncio.Task[None] | None = None  # renews the lease while one runs
        self._task: asyncio.Task[TrainingRun] | None = None
        self._run_id: int | None = None
        self._since: datetime | None = None
        self._start_lock = asyncio.Lock()
        # Stop a run before the database closes (console `quit`, SIGTERM).
        services.on_close(self.shutdown)

    # -- state ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def task(self) -> asyncio.Task[TrainingRun] | None:
        """The task of the current (or last) run; awaiting it gives the finished record."""
        return self._task

    async def last_run(self, finished_only: bool = False) -> TrainingRun | None:
        """The newest retrain's record (rollbacks are not retrains)."""
        async with self.services.db.session() as session:
            query = (
                select(TrainingRun)
                .where(TrainingRun.trigger != ROLLBACK)
                .order_by(TrainingRun.id.desc())
                .limit(1)
            )
            if finished_only:
                query = query.where(TrainingRun.status.not_in(ACTIVE))
            return await session.scalar(query)

    async def get_run(self, run_id: int) -> TrainingRun | None:
        async with self.services.db.session() as session:
            return await session.get(TrainingRun, run_id)

    async def status(self) -> RetrainStatus:
        async with self.services.db.session() as session:
            running = await session.scalar(
                select(TrainingRun)
                .where(TrainingRun.status.in_(ACTIVE))
                .order_by(TrainingRun.id.desc())
                .limit(1)
            )
            finished = await session.scalar(
                select(TrainingRun)
                .where(TrainingRun.status.not_in(ACTIVE), TrainingRun.trigger != ROLLBACK)
                .order_by(TrainingRun.id.desc())
                .limit(1)
            )
            rollback = await session.scalar(
                select(TrainingRun)
                .where(TrainingRun.trigger == ROLLBACK)
                .order_by(TrainingRun.id.desc())
                .limit(1)
            )
        scheduler = self.scheduler
        return RetrainStatus(
            running=running,
            last_finished=finished,
            last_rollback=rollback,
            next_run=scheduler.next_run_time() if scheduler is not None else None,
            schedule=self.settings.retrain_cron,
            scheduled_here=scheduler is not None and scheduler.running,
        )

    # -- starting ------------------------------------------------------------------------
    async def start(
        self,
        trigger: str = ADMIN,
        user_id: int | None = None,
        notify: Notify | None = None,
        only_if_due: CronTrigger | None = None,
        force: bool = False,
    ) -> TrainingRun | None:
        """Record a run and start it in the background; returns its record at once.

        Raises AlreadyRunning when a run is in progress here or holds the lease
        elsewhere. With `only_if_due` (scheduled runs), returns None without training
        when no cron slot lies after the latest recorded run (the coalescing rule).
        `notify` is awaited with the finished record (e.g. to post in a channel).
        `force` publishes a sane model without the blessing (an admin's deliberate choice).
        """
        async with self._start_lock:  # two admins at the same instant: one run
            return await self._start(trigger, user_id, notify, only_if_due, force)

    async def _start(
        self,
        trigger: str,
        user_id: int | None,
        notify: Notify | None,
        only_if_due: CronTrigger | None,
        force: bool,
    ) -> TrainingRun | None:
        if self.running:
            raise AlreadyRunning(self._run_id, self._since, elsewhere=False)
        lease = await self._acquire_lease()
        if lease is not None:
            raise AlreadyRunning(lease.run_id, lease.acquired_at, elsewhere=True)
        try:
            await self._reconcile_orphans()
            if only_if_due is not None:
                last = await self.last_run()
                if not is_due(only_if_due, last.started_at if last else None):
                    log.info(
                        "scheduled retrain skipped: run #%s already covers this slot",
                        last.id if last else "?",
                    )
                    await self._release_lease()
                    return None
            async with self.services.db.writing() as session:
                run = TrainingRun(
                    trigger=trigger,
                    user_id=user_id,
                    status=RUNNING,
                    started_at=utcnow(),
                    metrics={"forced": True} if force else {},
                )
                session.add(run)
                await session.flush()
                await session.execute(
                    update(TrainingLease)
                    .where(TrainingLease.name == LEASE_NAME, TrainingLease.holder == self.holder)
                    .values(run_id=run.id)
                )
        except BaseException:
            await self._release_lease()
            raise
        self._run_id, self._since = run.id, run.started_at
        self._task = asyncio.create_task(
            self._execute(run.id, notify, force), name=f"retrain-{run.id}"
        )
        log.info(
            "retrain run #%d started (%s)",
            run.id,
            trigger if user_id is None else f"{trigger} {user_id}",
        )
        return run

    async def fire_scheduled(self) -> None:
        """The APScheduler job: start a scheduled run if one is due and none is running."""
        trigger = self.scheduler.trigger if self.scheduler is not None else None
        if trigger is None:
            return
        try:
            await self.start(SCHEDULE, notify=self.scheduled_notify, only_if_due=trigger)
        except AlreadyRunning as busy:
            log.info("scheduled retrain skipped: %s", busy)
        except Exception:
            log.exception("could not start the scheduled retrain")

    async def missed_while_down(self, trigger: CronTrigger, now: datetime | None = None) -> bool:
        """Did a slot pass since the latest run (or, with none, since the model was made)?"""
        last = await self.last_run()
        reference = last.started_at if last is not None else self._model_created_at()
        return reference is not None and is_due(trigger, reference, now)

    def _model_created_at(self) -> datetime | None:
        if not self.services.models.ready:
            return None
        return self.services.models.current.info.created_at

    async def recover(self) -> int:
        """At start-up: settle runs a dead process left `running` or `publishing`.

        Only when the lease is free (a live process may be training right now).
        """
        if await self._acquire_lease() is not None:
            return 0
        try:
            return await self._reconcile_orphans()
        finally:
            await self._release_lease()

    async def shutdown(self) -> None:
        """Stop a run in progress: its child's process group is killed, the run recorded
        `interrupted` (or `succeeded` if its model had just gone live) and the lease
        released. Safe to call more than once."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        run = await self.get_run(self._run_id) if self._run_id is not None else None
        if run is not None and run.status in ACTIVE:  # cancelled before it ever ran
            await self._finish(run.id, await self._settle_stopped(run.id))
            await self._release_lease()

    # -- rollback ------------------------------------------------------------------------
    async def rollback(
        self, version: str | None = None, user_id: int | None = None
    ) -> tuple[Recommender, str | None]:
        """Serve kept version `version` (default: the one before the current) again.

        Switches MODEL_DIR's pointer (other processes follow it) and hot-swaps here.
        Holds the training lease for the switch, so it never races a retrain's publish.
        Returns (the model now serving, the version it replaced). Raises RollbackError
        with a message for the admin, or AlreadyRunning.
        """
        if self.running:
            raise AlreadyRunning(self._run_id, self._since, elsewhere=False)
        async with self._start_lock:
            lease = await self._acquire_lease()
            if lease is not None:
                raise AlreadyRunning(lease.run_id, lease.acquired_at, elsewhere=True)
            try:
                model, replaced = await asyncio.to_thread(self._switch_back, version)
                await self._record_rollback(model.version, replaced, user_id)
                return model, replaced
            finally:
                await self._release_lease()

    async def _record_rollback(
        self, version: str, replaced: str | None, user_id: int | None
    ) -> None:
        """A `training_runs` row for the switch, so `!status` and the database say which
        model serves since when and who chose it, not only the log."""
        now = utcnow()
        try:
            async with self.services.db.writing() as session:
                session.add(
                    TrainingRun(
                        trigger=ROLLBACK,
                        user_id=user_id,
                        status=SUCCEEDED,
                        started_at=now,
                        finished_at=now,
                        model_version=version,
                        metrics={"previous_version": replaced},
                    )
                )
        except Exception:  # the switch is done; its record must not undo it
            log.exception("could not record the rollback to %s", version)

    def _switch_back(self, version: str | None) -> tuple[Recommender, str | None]:
        store = self.store
        current = store.current_version()
        kept = store.versions()
        if version is None:
            version = store.previous_version()
            if version is None:
                raise RollbackError("there is no earlier kept version to go back to")
        elif version not in kept:
            raise RollbackError(f"there is no kept version {code(clip(version, 40))}")
        refused = store.refusal(version)
        if refused is not None:
            raise RollbackError(
                f"version {version} was refused when it was trained ({refused}); "
                "it never served, so there is nothing to go back to"
            )
        if version == current:
            raise RollbackError(f"version {version} is already serving")
        try:
            model = store.load_to_serve(store.versions_dir / version)
        except ArtifactError as error:
            log.warning("rollback to %s refused: %s", version, error)
            raise RollbackError(f"version {version} is damaged and cannot serve") from error
        store.switch(version, Why.ROLLBACK)
        self.services.models.swap(model)
        log.info("rolled back from model %s to %s", current, version)
        return model, current

    # -- running -------------------------------------------------------------------------
    async def _execute(self, run_id: int, notify: Notify | None, force: bool) -> TrainingRun:
        started = time.monotonic()
        self.heartbeat = heartbeat = asyncio.create_task(self._heartbeat())
        workdir = self.store.root / ".runs" / f"run-{run_id}"
        cancelled = False
        values: dict[str, Any]
        try:
            try:
                values = await self._train(run_id, workdir, force)
            except asyncio.CancelledError:
                cancelled = True
                values = await self._settle_stopped(run_id)
            except DataError as error:
                values = {"status": FAILED, "error": f"broken training data: {error}"}
            except LeaseLost as error:
                values = {"status": FAILED, "error": str(error)}
            except Exception as error:
                log.exception("retrain run #%d failed", run_id)
                # In words ("the model directory is read-only"), never a bare exception name.
                values = {"status": FAILED, "error": describe_error(error)}
            metrics = values.setdefault("metrics", {})
            metrics["duration_seconds"] = round(time.monotonic() - started, 1)
            # Recorded before the lease is released: nobody may take this run for dead.
            run = await self._finish(run_id, values)
        finally:
            heartbeat.cancel()
            self.job = None
            shutil.rmtree(workdir, ignore_errors=True)
            with contextlib.suppress(Exception):
                await self._release_lease()
        if cancelled:
            log.warning("retrain run #%d %s: %s", run_id, run.status, run.error or "")
            raise asyncio.CancelledError
        if run.status == SUCCEEDED:
            log.info("retrain run #%d succeeded: model %s", run_id, run.model_version)
        elif run.status == REFUSED:
            log.warning(
                "retrain run #%d refused model %s: %s", run_id, run.model_version, run.error
            )
        else:
            log.warning("retrain run #%d failed: %s", run_id, run.error)
        if notify is not None:
            try:
                await notify(run)
            except Exception:
                log.exception("could not report the outcome of retrain run #%d", run_id)
        return run

    async def _train(self, run_id: int, workdir: Path, force: bool) -> dict[str, Any]:
        async with self.services.db.session() as session:
            gathered = await gather_training_rows(self.settings, session)
        data = await asyncio.to_thread(gathered.to_csv, workdir)
        previous = self.services.models.current if self.services.models.ready else None
        memory = self.settings.retrain_memory_limit_mb or None
        self.job = TrainingJob(
            data,
            self.store.new_version_dir(),
            model=self.settings.train_model,
            epochs=self.settings.retrain_epochs,
            timeout=self.settings.retrain_timeout_seconds,
            memory_limit_mb=memory,
            threads=self.settings.train_threads,
            options={"device": self.settings.train_device},
            niceness=self.settings.retrain_niceness,
            drop_env=("DISCORD_TOKEN",),
        )
        # The candidate's name goes on record first, so whoever settles this run after a
        # crash knows which directory is its output.
        await self._update(run_id, model_version=self.job.out.name)

        async def before_switch(version: str) -> None:
            await self._mark_publishing(run_id, version)

        gate = None if force else blessing_gate(self.settings)
        outcome = await train_and_publish(
            self.store,
            data,
            reference=previous,
            keep=self.settings.retrain_keep_versions,
            job=self.job,
            gate=gate,
            floor=serving_floor(self.settings),
            before_switch=before_switch,
        )
        result = outcome.job.result
        metrics: dict[str, Any] = {
            "sources": gathered.sources,
            "counts": dict(result.counts) if result else {},
            "train_seconds": result.train_seconds if result else None,
            "params": dict(result.params) if result else {},
            "previous_version": previous.version if previous is not None else None,
        }
        if force:
            metrics["forced"] = True
        if outcome.blessing is not None:
            metrics["blessing"] = outcome.blessing.figures()
        losses = _LOSS.findall(outcome.job.stderr_tail)
        if losses:
            metrics["final_loss"] = float(losses[-1])
        if outcome.refused is not None:
            return {
                "status": REFUSED,
                "error": outcome.refused,
                "model_version": outcome.candidate,
                "metrics": metrics,
            }
        if not outcome.ok or outcome.model is None:
            return {
                "status": FAILED,
                "error": outcome.error or "unknown failure",
                "log_tail": outcome.job.stderr_tail[-4000:] or None,
                "model_version": None,
                "metrics": metrics,
            }
        self.services.models.swap(outcome.model)
        metrics["pruned"] = outcome.pruned
        return {"status": SUCCEEDED, "model_version": outcome.version, "metrics": metrics}

    async def _settle_stopped(self, run_id: int) -> dict[str, Any]:
        """The values of a run cancelled by a stop: interrupted, unless its model went live
        (the stop came after the pointer switch), which then serves here too."""
        run = await self.get_run(run_id)
        version = run.model_version if run is not None else None
        if (
            run is not None
            and version is not None
            and run.status == PUBLISHING
            and version == self._current_or_none()
        ):
            with contextlib.suppress(ArtifactError):
                model = await asyncio.to_thread(
                    self.store.load_to_serve, self.store.versions_dir / version
                )
                self.services.models.swap(model)
            return {"status": SUCCEEDED, "model_version": version}
        return {"status": INTERRUPTED, "error": STOPPED, "model_version": None}

    def _current_or_none(self) -> str | None:
        try:
            return self.store.current_version()
        except ArtifactError:
            return None

    async def _update(self, run_id: int, **values: Any) -> None:
        async with self.services.db.writing() as session:
            await session.execute(
                update(TrainingRun).where(TrainingRun.id == run_id).values(**values)
            )

    async def _mark_publishing(self, run_id: int, version: str) -> None:
        """Record the intent to switch, in the same transaction that proves we still hold
        the lease (a process cut off from the database for longer than the lease lasts may
        have been taken for dead; then it must not publish)."""
        async with self.services.db.writing() as session:
            renewed = await session.execute(
                update(TrainingLease)
                .where(TrainingLease.name == LEASE_NAME, TrainingLease.holder == self.holder)
                .values(expires_at=utcnow() + timedelta(seconds=self.lease_seconds))
            )
            if renewed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult counts rows
                raise LeaseLost(
                    "lost the training lease before publishing (the database was out of "
                    "reach for longer than RETRAIN_LEASE_SECONDS); nothing was published"
                )
            await session.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id)
                .values(status=PUBLISHING, model_version=version)
            )

    async def _finish(self, run_id: int, values: dict[str, Any]) -> TrainingRun:
        async with self.services.db.writing() as session:
            run = await session.get(TrainingRun, run_id)
            assert run is not None
            run.finished_at = utcnow()
            for key, value in values.items():
                if key == "metrics":
                    value = {**(run.metrics or {}), **value}
                setattr(run, key, value)
        return run

    # -- the lease -----------------------------------------------------------------------
    async def _acquire_lease(self) -> TrainingLease | None:
        """Take the lease; None on success, else the row of whoever holds it."""
        for _ in range(3):
            now = utcnow()
            expires = now + timedelta(seconds=self.lease_seconds)
            async with self.services.db.writing() as session:
                taken = await session.execute(
                    update(TrainingLease)
                    .where(
                        TrainingLease.name == LEASE_NAME,
                        TrainingLease.expires_at < now,
                    )
                    .values(holder=self.holder, acquired_at=now, expires_at=expires, run_id=None)
                )
                if taken.rowcount == 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult counts rows
                    return None
                holder = await session.get(TrainingLease, LEASE_NAME)
            if holder is not None:
                return holder
            try:
                async with self.services.db.writing() as session:
                    session.add(
                        TrainingLease(
                            name=LEASE_NAME, holder=self.holder, acquired_at=now, expires_at=expires
                        )
                    )
                return None
            except IntegrityError:
                continue  # another process inserted it first; look again
        raise RuntimeError("could not read or take the training lease")

    async def _release_lease(self) -> None:
        async with self.services.db.writing() as session:
            await session.execute(
                update(TrainingLease)
                .where(TrainingLease.name == LEASE_NAME, TrainingLease.holder == self.holder)
                .values(expires_at=utcnow() - timedelta(seconds=1), run_id=None)
            )

    async def _heartbeat(self) -> None:
        """Renew the lease while training, so only a dead holder's lease expires."""
        while True:
            await asyncio.sleep(self.heartbeat_seconds)
            try:
                async with self.services.db.writing() as session:
                    renewed = await session.execute(
                        update(TrainingLease)
                        .where(
                            TrainingLease.name == LEASE_NAME, TrainingLease.holder == self.holder
                        )
                        .values(expires_at=utcnow() + timedelta(seconds=self.lease_seconds))
                    )
                if renewed.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE's CursorResult counts rows
                    log.warning("lost the training lease (expired and taken over)")
            except StorageUnavailable as error:  # the database's health logs the outage
                log.warning("could not renew the training lease: %s", error.reason)
            except Exception:
                log.exception("could not renew the training lease")

    async def _reconcile_orphans(self) -> int:
        """Settle runs a dead process left active, against the pointer. Needs the lease.

        Its candidate is current → the crash came after the switch: `succeeded`. Else
        `interrupted`, and its unpublished output is removed.
        """
        current = self._current_or_none()
        async with self.services.db.writing() as session:
            orphans = list(
                (
                    await session.scalars(select(TrainingRun).where(TrainingRun.status.in_(ACTIVE)))
                ).all()
            )
            unpublished: list[str] = []
            for run in orphans:
                went_live = current is not None and run.model_version == current
                log.warning(
                    "retrain run #%d, left %s by a bot process that stopped, is recorded %s",
                    run.id,
                    run.status,
                    SUCCEEDED if went_live else INTERRUPTED,
                )
                run.finished_at = utcnow()
                if went_live:
                    run.status = SUCCEEDED
                    run.metrics = {**(run.metrics or {}), "recovered": RECOVERED}
                    continue
                run.status, run.error = INTERRUPTED, STOPPED
                if run.model_version:
                    unpublished.append(run.model_version)
                run.model_version = None
        for name in unpublished:
            with contextlib.suppress(ArtifactError, OSError):
                await asyncio.to_thread(self.store.discard, self.store.versions_dir / name)
        return len(orphans)


def busy_text(busy: AlreadyRunning, since: str) -> str:
    """The "a retrain is already running since …" sentence for people."""
    where = " (in another bot process)" if busy.elsewhere else ""
    run = f", run #{busy.run_id}" if busy.run_id else ""
    return f"A retrain is already running since {since}{where}{run}."


def retrainer_for(services: Services) -> Retrainer:
    """The process's Retrainer, created on first use."""
    retrainer = services.extras.get("retrainer")
    if retrainer is None:
        retrainer = services.extras["retrainer"] = Retrainer(services)
    return retrainer
