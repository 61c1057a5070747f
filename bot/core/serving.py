"""Where the bot's model lives on disk, and the holder the running bot reads it from.

Everything that finds, loads or trains "the current model" goes through this module, so
versioned model directories with a pointer file (the retrain issue) change one place:
`load_current_model`, `has_model` and `train_first_model`.
`PointerWatcher` makes every process that shares MODEL_DIR serve the model its pointer
names, whoever switched it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import Callable
from pathlib import Path

from bot.core.settings import Settings
from recommender import DataError, Recommender
from recommender.artifacts import ArtifactError
from recommender.blessing import Floor, Gate
from recommender.data import ensure_dataset
from recommender.retrain_job import TrainingJob, progress_line
from recommender.store import ModelStore, Why

log = logging.getLogger(__name__)


class ModelNotReady(RuntimeError):
    """No model has been loaded yet (start-up still running)."""


class ModelHolder:
    """The model every handler reads, swapped atomically when a new one is ready.

    Handlers take `holder.current` once per request and use that object throughout, so a
    swap in the middle of a request never mixes two models.
    """

    def __init__(self, model: Recommender | None = None) -> None:
        self._model = model
        self._lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self._model is not None

    @property
    def current(self) -> Recommender:
        model = self._model
        if model is None:
            raise ModelNotReady("the model is still loading")
        return model

    def swap(self, model: Recommender) -> Recommender | None:
        """Make `model` current; return the previous one (None on first load)."""
        with self._lock:
            previous, self._model = self._model, model
        log.info("model %s is current (%d tracks)", model.version, len(model))
        settle_memory()
        return previous


def settle_memory() -> None:
    """Collect once, then leave everything alive now out of later garbage collections;
    done whenever a model starts serving.

    A model's catalog is a few hundred thousand long-lived Python objects (names, ids,
    lookup tables). Python's full collection walks every one of them, holding the GIL for
    0.1-0.25 s on the shared 2-core machine, whenever enough allocations add up: in the
    middle of a burst of requests, every answer waited for it. Frozen objects are still
    freed when nothing uses them; only reference cycles among them wait for the next
    call, which unfreezes first (so a replaced model's cycles are collected then)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class PointerWatcher:
    """Serves the model MODEL_DIR's pointer names, checking every `interval` seconds.

    Another bot process sharing MODEL_DIR may publish a retrained model or roll back; this
    process then swaps to it within one interval, so `!status` names the same model in
    every process. A version that cannot be loaded is reported once and skipped until the
    pointer moves again; the model already serving stays.
    """

    def __init__(self, holder: ModelHolder, store: ModelStore, interval: float) -> None:
        self.holder = holder
        self.store = store
        self.interval = interval
        self._loaded: tuple[str, int] | None = None  # (pointer value, id of the model)
        self._failed: str | None = None  # a version that would not load: skip until it moves
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Poll in a background task on the running loop (no-op when interval is 0)."""
        if self.interval > 0 and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self._run(), name="model-pointer-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let one bad poll end the watch
                log.exception("could not check the model pointer in %s", self.store.root)

    async def check(self) -> bool:
        """One poll: swap to the pointer's version if it is not what serves. True if swapped.

        Compared with the model actually serving (this process's own retrain or rollback
        swaps it directly), not with the last pointer value seen: a pointer that moves
        away and back between two polls must still be followed.
        """
        try:
            name = self.store.current_version()
        except ArtifactError as error:
            if self._failed != "?":
                log.warning("cannot read the model pointer: %s", error)
                self._failed = "?"
            return False
        if name is None or not self.holder.ready:
            return False
        serving = self.holder.current
        if name == serving.version or self._loaded == (name, id(serving)) or name == self._failed:
            return False
        try:
            model = await asyncio.to_thread(
                self.store.load_to_serve, self.store.versions_dir / name
            )
        except ArtifactError as error:
            log.warning("not serving model %s, which %s names: %s", name, self.store.pointer, error)
            self._failed = name
            return False
        if self.store.current_version() != name:
            return False  # moved again while loading; the next poll takes the newer one
        previous = self.holder.swap(model)
        # A legacy model keeps its own version name: remember which pointer value it is.
        self._loaded, self._failed = (name, id(model)), None
        log.info(
            "serving model %s (published in %s; was %s)",
            name,
            self.store.root,
            previous.version if previous is not None else "none",
        )
        return True


def model_store(settings: Settings) -> ModelStore:
    """MODEL_DIR as a ModelStore: versions/<version>/ plus an atomic `current` pointer."""
    return ModelStore(settings.model_dir)


def blessing_gate(settings: Settings) -> Gate:
    """The thresholds a trained model must pass before it replaces the serving one."""
    return Gate(settings.retrain_max_catalog_shrink, settings.retrain_max_quality_drop)


def serving_floor(settings: Settings) -> Floor:
    """The least any model must answer with to replace the serving one, forced or not."""
    return Floor(
        settings.retrain_min_tracks, settings.retrain_min_track_share, settings.retrain_min_hit_rate
    )


def has_model(settings: Settings) -> bool:
    return model_store(settings).has_model()


def load_current_model(settings: Settings) -> Recommender:
    """The model the bot should serve: MODEL_DIR's current version (or legacy model); if
    that is damaged, the newest healthy kept version (logged once)."""
    return model_store(settings).load_or_fall_back()


class ModelRefused(Exception):
    """A trained model was not published: it is worse than the serving one (the reason
    is one line for people); it stays in MODEL_DIR, marked refused, for inspection."""


def publish_trained(settings: Settings, path: Path, *, force: bool = False) -> Recommender:
    """Make the trained version at `path` (in MODEL_DIR) current, as a retrain would: only
    if it is sane and, unless `force`, blessed against the model serving now (a truncated
    CSV or a worse model is refused and kept, and the serving model stays)."""
    store = model_store(settings)
    serving = None
    if store.has_model():  # forced too: the floor it must answer with is never skipped
        try:
            serving = store.load_or_fall_back()
        except ArtifactError:
            serving = None  # nothing healthy serves: anything sane is better
    try:
        gate = blessing_gate(settings) if serving is not None and not force else None
        # A broken version, or one below the floor, is discarded.
        admission = store.admit(path, serving, gate, serving_floor(settings))
        if admission.refusal is not None:
            raise ModelRefused(admission.refusal)
        store.switch(path.name, Why.FORCE if force else Why.PUBLISH)
        return admission.model
    finally:
        # As after a retrain: runs from the shell, refused or not, must not fill the disk.
        store.prune(settings.retrain_keep_versions)


class TrainingStopped(Exception):
    """The process was asked to stop while it trained its first model: the training
    process was killed and nothing was saved (the next start trains again)."""


def _why(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


async def train_first_model(settings: Settings, say: Callable[[str], None]) -> None:
    """Train MODEL_DIR's first model from DATA_PATH and make it current.

    In a child process, as a retrain does (`TrainingJob`): a stop (Ctrl-C, SIGTERM)
    cancels this coroutine, which kills the child at once rather than waiting for a
    training thread that cannot be interrupted, and the half-trained version is
    removed. There is no serving model to bless against; the trained one is only
    sanity-checked, as any version is before it serves."""
    try:
        data = await asyncio.to_thread(
            ensure_dataset, settings.data_path, download=settings.download_dataset
        )
    except OSError as error:  # a folder, unreadable: the setting, not "a crash"
        raise DataError(
            f"DATA_PATH: cannot read {settings.data_path} ({_why(error)}); point "
            "DATA_PATH at the songs CSV"
        ) from error
    store = model_store(settings)

    def shown(line: str) -> None:
        if (progress := progress_line(line)) is not None:
            say(f"  {progress}")

    job = TrainingJob(
        data,
        await asyncio.to_thread(store.new_version_dir),
        model=settings.train_model,
        threads=settings.train_threads,
        options={"device": settings.train_device},
        drop_env=("DISCORD_TOKEN",),  # the trainer has no business seeing it
        on_line=shown,
    )
    try:
        outcome = await job.wait()  # cancelled: the child is killed before this raises
    except asyncio.CancelledError:
        store.discard(job.out)
        raise TrainingStopped(
            "stopped while training the first model; nothing was saved (the next start "
            "trains again)"
        ) from None
    if not outcome.ok:
        await asyncio.to_thread(store.discard, job.out)
        raise DataError(f"training the first model failed: {outcome.error}")
    try:
        await asyncio.to_thread(store.publish, job.out)
    except BaseException:
        if store.current_version() != job.out.name:
            store.discard(job.out)
        raise
    seconds = outcome.result.train_seconds if outcome.result is not None else outcome.seconds
    say(f"Trained model {job.out.name} in {seconds}s, saved to {settings.model_dir}.")


async def load_or_train(
    settings: Settings,
    say: Callable[[str], None] | None = None,
) -> Recommender:
    """Load the current model, or train one once from DATA_PATH and save it first."""
    say = say or log.info
    try:
        if not await asyncio.to_thread(has_model, settings):
            say(
                f"No model in {settings.model_dir}; training one from {settings.data_path} "
                "(only this once)..."
            )
            await train_first_model(settings, say)
        model = await asyncio.to_thread(load_current_model, settings)
    except OSError as error:  # a file where the folder should be, read-only, disk full
        raise ArtifactError(
            f"MODEL_DIR: cannot use {settings.model_dir} ({_why(error)}); point MODEL_DIR "
            "at a writable directory with free space"
        ) from error
    counts = model.info.counts
    say(
        f"Loaded model {model.version} ({counts.get('tracks', len(model))} tracks, "
        f"{counts.get('playlists', '?')} playlists) from {settings.model_dir}."
    )
    return model
