"""Versioned model directories with an atomic "current" pointer.

Layout under the store's root (the bot's MODEL_DIR)::

    root/
      current                  one line: the name of the current version directory
      versions/<version>/      complete model directories (recommender/artifacts.py)

Why a pointer file: switching models must be a single atomic step that a reader either
sees or not. A new model is written to its own fresh directory, loaded and sanity-checked,
and only then does `os.replace` swap the pointer. A reader that resolves the pointer gets
a whole, checked model, old or new, never a mix; a crash at any moment leaves the previous
model current. Old versions are pruned, never the current one.

A root that directly holds a model (metadata.json at the top, the layout before this
store) is served as is, and copied into `versions/` by `migrate_legacy()` before the
first new model is published, with no retraining.

A retrained model must also be *blessed* before the switch (the gate is in blessing.py).
A refused candidate stays in `versions/` with a `REFUSED` file saying why, for an admin
to inspect; it is never served by a fallback or a plain rollback.

Every pointer move is appended to `history.jsonl` with why (a retrain, a forced one, a
rollback, the fallback at start-up, ...): a rollback returns to the model that actually
served before the current one, not merely the newest older name, which may be a model
that was itself rolled back.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from recommender import artifacts
from recommender.artifacts import ArtifactError, is_model_dir
from recommender.blessing import Admission, Floor, Gate, bless, check_floor, sanity_check
from recommender.recommender import Recommender

log = logging.getLogger(__name__)

POINTER = "current"
VERSIONS = "versions"
# The files a model directory is made of (artifacts.py), in either format; used to move
# a legacy model.
MODEL_FILES = ("embeddings.npy", "tracks.csv", "playlists.csv", "memberships.csv")
MODEL_FILES_V2 = (*artifacts.FORMAT2_FILES, artifacts.ANN_FILE)
_VERSION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
# A file in a version directory: this candidate was refused by `bless`; it holds why.
REFUSED = "REFUSED"
# Leftovers of an interrupted save (hidden staging dirs, incomplete version dirs) are only
# removed once they are this old, so a training that is still writing is never touched.
STALE_SECONDS = 6 * 3600


# The serving history: one JSON line per pointer move, newest last; trimmed to the newest
# HISTORY_KEEP moves once it holds twice as many.
HISTORY = "history.jsonl"
HISTORY_KEEP = 200


class Why(StrEnum):
    """Why the pointer moved."""

    RETRAIN = "retrain"  # a retrained model passed the gate
    FORCE = "force"  # a retrain published without the gate (`!retrain force`)
    ROLLBACK = "rollback"
    FALLBACK = "fallback at start-up"  # the current model was damaged
    PUBLISH = "published"  # a model trained or published from the shell, or at first start
    LEGACY = "legacy model moved into versions"


@dataclass(frozen=True)
class Move:
    """One pointer move: `version` began serving at `at`, replacing `previous`."""

    at: datetime
    version: str
    previous: str | None
    why: str


def _new_version_name() -> str:
    """Sortable by time, like the metadata versions artifacts.py writes."""
    now = datetime.now(UTC)
    return now.strftime("%Y%m%d-%H%M%S-") + f"{now.microsecond:06d}"


class ModelStore:
    """Model versions under `root` and the pointer that says which one is served."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.versions_dir = self.root / VERSIONS
        self.pointer = self.root / POINTER

    # -- reading ------------------------------------------------------------------------
    def current_version(self) -> str | None:
        """The name in the pointer file, or None when no model was published yet."""
        try:
            name = self.pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        if not _VERSION_NAME.match(name):
            raise ArtifactError(f"{self.pointer} holds an invalid version name {name[:80]!r}")
        return name

    def current_path(self) -> Path | None:
        """The directory of the current model, or None when there is none."""
        name = self.current_version()
        return None if name is None else self.versions_dir / name

    def has_model(self) -> bool:
        """True when MODEL_DIR holds a model to serve (or to fall back from), so start-up
        must not train one: a pointer, a kept version, or a legacy model."""
        return self.current_version() is not None or bool(self.versions()) or self.is_legacy()

    def load_current(self) -> Recommender:
        """Load the current model; a legacy root (no pointer yet) is read in place.

        Reading never writes: the legacy model moves into versions/ only when a new one
        is published (`migrate_legacy`), so a read-only MODEL_DIR keeps working.
        """
        path = self.current_path()
        if path is None:
            if self.is_legacy():
                return Recommender.load(self.root)
            raise ArtifactError(f"no model has been published in {self.root}")
        return Recommender.load(path)

    def load_or_fall_back(self) -> Recommender:
        """The model to serve at start-up: the current one, or, when it is damaged
        (missing or truncated files), the newest healthy kept version, with one log line.

        Healthy means it loads and passes `sanity_check`; refused candidates never serve.
        The pointer moves to the fallback, so every process serves the same model. Raises
        the current model's error when no kept version is healthy either.
        """
        current = self.current_version()
        if current is None and (self.is_legacy() or not self.versions()):
            return self.load_current()
        try:
            if current is None:
                raise ArtifactError(f"{self.pointer} is missing")
            model = Recommender.load(self.versions_dir / current)
            sanity_check(model)
            return model
        except ArtifactError as error:
            damage = error
        older = [name for name in self.servable_versions() if current is None or name < current]
        newer = [
            name for name in self.servable_versions() if current is not None and name > current
        ]
        for name in [*reversed(older), *newer]:
            try:
                model = Recommender.load(self.versions_dir / name)
                sanity_check(model)
            except ArtifactError:
                continue
            try:
                self._write_pointer(name, Why.FALLBACK)
                moved = "the pointer now names it"
            except OSError as error:
                moved = f"the pointer could not be moved: {error}"
            log.warning(
                "model %s in %s cannot be served (%s); serving %s, the newest healthy kept "
                "version, instead (%s)",
                current or "(none)",
                self.root,
                damage,
                name,
                moved,
            )
            return model
        raise damage

    def versions(self) -> list[str]:
        """Complete version directories, oldest first (refused candidates included)."""
        if not self.versions_dir.is_dir():
            return []
        return sorted(
            entry.name
            for entry in self.versions_dir.iterdir()
            if not entry.name.startswith(".") and entry.is_dir() and is_model_dir(entry)
        )

    def servable_versions(self) -> list[str]:
        """Kept versions that may serve (not refused), oldest first."""
        return [name for name in self.versions() if self.refusal(name) is None]

    def refusal(self, name: str) -> str | None:
        """Why version `name` was refused, or None when it was not."""
        try:
            return (self.versions_dir / name / REFUSED).read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def previous_version(self) -> str | None:
        """The kept, servable version that served before the current one (what a plain
        rollback serves), from the serving history; when the version it replaced is gone,
        the one that served before that, and so on. A store without history (made by an
        older bot) gets the newest servable version older than the current one."""
        current = self.current_version()
        servable = set(self.servable_versions())
        moves = self.history()
        replaced = next(
            (i for i in range(len(moves) - 1, -1, -1) if moves[i].version == current), None
        )
        if replaced is not None:
            candidates: list[str | None] = [moves[replaced].previous]
            for move in reversed(moves[:replaced]):
                candidates += [move.version, move.previous]
            for name in candidates:
                if name is not None and name != current and name in servable:
                    return name
            return None
        older = [name for name in servable if current is None or name < current]
        return max(older) if older else None

    def history(self, last: int | None = None) -> list[Move]:
        """The pointer's moves, oldest first (the `last` newest ones when given)."""
        try:
            lines = (self.root / HISTORY).read_text(encoding="utf-8").splitlines()
        except (FileNotFoundError, NotADirectoryError):
            return []
        moves = []
        for line in lines[-last:] if last else lines:
            try:
                entry = json.loads(line)
                moves.append(
                    Move(
                        datetime.fromisoformat(entry["at"]),
                        str(entry["version"]),
                        entry.get("previous"),
                        str(entry.get("why", "?")),
                    )
                )
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash: the others still count
        return moves

    # -- writing ------------------------------------------------------------------------
    def new_version_dir(self) -> Path:
        """A fresh, not yet existing directory for a model about to be trained.

        Its name doubles as the model's version (the training job writes it into the
        metadata), so the version people see names the directory it lives in.
        """
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.versions_dir / _new_version_name()
            if not path.exists():
                return path
            time.sleep(0.001)

    def publish(self, path: str | Path, reference: Recommender | None = None) -> Recommender:
        """Load and sanity-check the model at `path`, then make it current atomically.

        `path` must be a version directory of this store (from `new_version_dir`). On any
        error the pointer is untouched, so the previous model stays current. Returns the
        loaded model so the caller can serve exactly what was checked.
        """
        model = self.load_checked(path, reference)
        self.switch(Path(path).name, Why.PUBLISH)
        return model

    def load_checked(self, path: str | Path, reference: Recommender | None = None) -> Recommender:
        """Load the version at `path` (a directory of this store) and sanity-check it."""
        path = Path(path)
        if path.resolve().parent != self.versions_dir.resolve():
            raise ArtifactError(f"{path} is not a version directory of {self.versions_dir}")
        if not _VERSION_NAME.match(path.name):
            raise ArtifactError(f"{path.name!r} is not a valid version name")
        model = Recommender.load(path)
        sanity_check(model, reference=reference)
        return model

    def load_to_serve(self, path: str | Path) -> Recommender:
        """`load_checked`, with the follow-up lookups built: for a model about to replace
        the serving one (a rollback, another process moving the pointer), built while the
        old model still answers, not by the first refinement it serves, which held
        everyone's answers up for 0.3-0.65 s at the real catalog's size."""
        model = self.load_checked(path)
        model.warm_up()
        return model

    def admit(
        self,
        path: str | Path,
        reference: Recommender | None,
        gate: Gate | None,
        floor: Floor = Floor(),  # noqa: B008 - frozen, so one shared default is safe
    ) -> Admission:
        """The one way a trained version is judged before it may serve: loaded and
        sanity-checked (against `reference`, including the `floor` it must answer with,
        which no forced run skips), then, with `gate`, blessed against it. A version that
        does not load, is not sane or cannot be judged is discarded (there is nothing to
        inspect) and the error raised; a refused one is kept, marked with why, for
        inspection (it never serves)."""
        try:
            model = self.load_checked(path, reference)
            blessing = None
            if gate is None:
                check_floor(model, reference, floor)
            else:
                blessing = bless(model, reference, gate)
                if blessing.blessed:  # a refused one is kept for inspection as it is
                    check_floor(model, reference, floor, probe=blessing.probe)
        except Exception:
            self.discard(path)
            raise
        admission = Admission(model, blessing)
        if admission.refusal is not None:
            self.refuse(path, admission.refusal)
            log.warning(
                "model %s refused, kept for inspection: %s", Path(path).name, admission.refusal
            )
        return admission

    def switch(self, name: str, why: Why = Why.PUBLISH) -> None:
        """Make kept version `name` current (the atomic step every publish ends with), and
        note why in the serving history."""
        self.migrate_legacy()  # the legacy model stays available as the previous version
        self._write_pointer(name, why)
        log.info("model %s is now current in %s (%s)", name, self.root, why)

    def refuse(self, path: str | Path, reason: str) -> None:
        """Keep an unpublished version for inspection, marked as refused with `reason`."""
        path = Path(path)
        if path.name == self.current_version():
            raise ArtifactError(f"refusing to mark the current model {path} as refused")
        (path / REFUSED).write_text(reason.strip() + "\n", encoding="utf-8")

    def discard(self, path: str | Path) -> None:
        """Remove an unpublished version (a failed run's output and its staging dirs)."""
        path = Path(path)
        if path.name == self.current_version():
            raise ArtifactError(f"refusing to discard the current model {path}")
        shutil.rmtree(path, ignore_errors=True)
        for staging in path.parent.glob(f".{path.name}.*"):
            shutil.rmtree(staging, ignore_errors=True)

    def prune(self, keep: int = 3) -> list[str]:
        """Delete all but the `keep` newest versions besides the current one.

        The current version is never deleted, whatever its age, and the one that served
        before it counts as one of the newest. Refused candidates are
        counted apart (the `keep` newest of them stay for inspection), so a string of
        refusals never costs the versions a rollback needs. Leftovers of interrupted
        saves are removed once they are older than STALE_SECONDS. Returns the removed names.
        """
        current = self.current_version()
        others = [name for name in self.versions() if name != current]
        servable = [name for name in others if self.refusal(name) is None]
        # Of the servable ones, what served before the current one is kept first: a plain
        # rollback goes back to it, however many newer versions came and went.
        previous = self.previous_version() if keep > 0 else None
        if previous in servable:
            servable.remove(previous)
            servable.append(previous)
        doomed: list[str] = []
        for group in (servable, [name for name in others if self.refusal(name) is not None]):
            doomed += group[: max(0, len(group) - max(0, keep))]
        doomed.sort()
        for name in doomed:
            shutil.rmtree(self.versions_dir / name, ignore_errors=True)
            log.info("pruned model version %s", name)
        if self.versions_dir.is_dir():
            cutoff = time.time() - STALE_SECONDS
            for entry in self.versions_dir.iterdir():
                complete = not entry.name.startswith(".") and is_model_dir(entry)
                if entry.name == current or complete or not entry.is_dir():
                    continue
                with contextlib.suppress(OSError):
                    if entry.stat().st_mtime < cutoff:
                        shutil.rmtree(entry, ignore_errors=True)
                        doomed.append(entry.name)
        return doomed

    # -- legacy layout ------------------------------------------------------------------
    def is_legacy(self) -> bool:
        """A model saved directly in the root (the layout before versions)."""
        return is_model_dir(self.root)

    def migrate_legacy(self) -> str | None:
        """Copy a model saved directly in the root into versions/ and make it current.

        Called before the first publish, so the legacy model becomes a version like any
        other (kept for rollback, pruned later). The root files are copied, not moved:
        every intermediate state still serves the old model, and an older bot (or a tool)
        reading MODEL_DIR directly keeps working; delete them by hand once you no longer
        need that. Returns the version name, or None when there was nothing to migrate.
        """
        if not self.is_legacy() or self.current_version() is not None:
            return None
        metadata = artifacts.load(self.root).metadata  # raises if the legacy model is damaged
        name = str(metadata.get("version", ""))
        if not _VERSION_NAME.match(name) or (self.versions_dir / name).exists():
            name = _new_version_name()
        self.versions_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=self.versions_dir))
        try:
            files = MODEL_FILES if metadata.get("format", 1) == 1 else MODEL_FILES_V2
            for filename in (*files, artifacts.METADATA):
                if filename == artifacts.ANN_FILE and "ann" not in metadata:
                    continue
                if filename == artifacts.SEARCH_FILE and not (self.root / filename).exists():
                    continue
                shutil.copy2(self.root / filename, staging / filename)
            os.replace(staging, self.versions_dir / name)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        self._write_pointer(name, Why.LEGACY)
        log.info(
            "copied the model in %s to version %s; the copies at the top of %s can go",
            self.root,
            name,
            self.root,
        )
        return name

    # -- helpers ------------------------------------------------------------------------
    def _write_pointer(self, name: str, why: Why = Why.PUBLISH) -> None:
        """Write the pointer to a temp file, fsync it, and os.replace it into place; then
        note the move in the serving history."""
        if not (self.versions_dir / name).is_dir():
            raise ArtifactError(f"no version directory {name} in {self.versions_dir}")
        try:
            previous = self.current_version()
        except ArtifactError:
            previous = None
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{POINTER}.", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(name + "\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.pointer)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(self.root)
        if previous != name:
            self._note_move(name, previous, why)

    def _note_move(self, name: str, previous: str | None, why: Why) -> None:
        """Append the move to the serving history (one short line: appends from several
        processes do not interleave). The switch is done whatever happens here: a full
        disk costs the note, logged, never the model."""
        entry = {"at": datetime.now(UTC).isoformat(), "version": name, "previous": previous}
        line = json.dumps({**entry, "why": str(why)}) + "\n"
        path = self.root / HISTORY
        try:
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line)
            lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            if len(lines) > 2 * HISTORY_KEEP:
                fd, tmp = tempfile.mkstemp(prefix=f".{HISTORY}.", dir=self.root)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.writelines(lines[-HISTORY_KEEP:])
                os.replace(tmp, path)
        except OSError as error:
            log.warning("could not note the move to model %s in %s: %s", name, path, error)


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable (POSIX); harmless to skip where unsupported."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
