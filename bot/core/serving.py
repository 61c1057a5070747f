"""Where the bot's model lives on disk, and the holder the running bot reads it from.

Everything that finds, loads or trains "the current model" goes through this module, so
versioned model directories with a pointer file (the retrain issue) change one place:
`load_current_model`, `has_model`, and `save_new_model`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from bot.core.settings import Settings
from recommender import Recommender
from recommender.data import ensure_dataset
from recommender.store import ModelStore

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
        return previous


def model_store(settings: Settings) -> ModelStore:
    """MODEL_DIR as a ModelStore: versions/<version>/ plus an atomic `current` pointer."""
    return ModelStore(settings.model_dir)


def has_model(settings: Settings) -> bool:
    return model_store(settings).has_model()


def load_current_model(settings: Settings) -> Recommender:
    """The model the bot should serve: MODEL_DIR's current version (or legacy model)."""
    return model_store(settings).load_current()


def save_new_model(settings: Settings, model: Recommender) -> Path:
    """Store a freshly trained model as a new version and make it current (checked)."""
    store = model_store(settings)
    path = store.new_version_dir()
    model.metadata["version"] = path.name  # the version names its directory
    model.save(path)
    store.publish(path)
    return path


def train_model(settings: Settings, progress: bool = False) -> Recommender:
    """Train on DATA_PATH with TRAIN_MODEL (blocking; callers run it off the event loop)."""
    data = ensure_dataset(settings.data_path, download=settings.download_dataset)
    return Recommender.train(data, model=settings.train_model, progress=progress)


def load_or_train(
    settings: Settings,
    progress: bool = False,
    say: Callable[[str], None] | None = None,
) -> Recommender:
    """Load the current model, or train one once from DATA_PATH and save it first."""
    say = say or log.info
    if not has_model(settings):
        say(
            f"No model in {settings.model_dir}; training one from {settings.data_path} "
            "(only this once)..."
        )
        model = train_model(settings, progress=progress)
        save_new_model(settings, model)
        seconds = model.metadata.get("train_seconds", "?")
        say(f"Trained model {model.version} in {seconds}s, saved to {settings.model_dir}.")
    model = load_current_model(settings)
    counts = model.metadata.get("counts", {})
    say(
        f"Loaded model {model.version} ({counts.get('tracks', len(model))} tracks, "
        f"{counts.get('playlists', '?')} playlists) from {settings.model_dir}."
    )
    return model
