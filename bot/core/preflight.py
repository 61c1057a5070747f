"""What a start needs from the machine, checked before anything slow.

A first start trains for a minute or more; a folder it cannot write, or a dataset it
cannot read, used to be found only when training ended. `path_problems` looks at every
path the run will use first, each problem one line naming the setting and the fix.
`musicbot run`, `musicbot chat` and `musicbot doctor` share it; `musicbot train` has
`training_problems`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from bot.core.settings import Settings


@dataclass(frozen=True)
class Problem:
    """One setting that will not work, and what to do: `str()` is the line to print."""

    setting: str
    why: str

    def __str__(self) -> str:
        return f"{self.setting}: {self.why}"


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()


def _existing(path: Path) -> Path:
    """`path`, or its nearest ancestor that exists (where it would be created)."""
    path = path.absolute()
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def unwritable(path: Path) -> str | None:
    """None if `path` is (or can be made) a folder this process writes in; else why not.

    Tried with a real file, not with permission bits: root ignores those, and a
    read-only mount or a full disk shows only when something is written."""
    where = _existing(path)
    if not where.is_dir():
        return f"cannot use {path} ({where} is a file, not a folder)"
    try:
        handle, name = tempfile.mkstemp(prefix=".musicbot-check-", dir=where)
    except OSError as error:
        return f"cannot use {path} (cannot write in {where}: {_reason(error)})"
    os.close(handle)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def unreadable(path: Path) -> str | None:
    """None if `path` is a file this process can read; else why not."""
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except IsADirectoryError:
        return f"cannot read {path} (a folder, not the songs CSV)"
    except FileNotFoundError:
        return f"cannot read {path} (it does not exist)"
    except OSError as error:
        return f"cannot read {path} ({_reason(error)})"
    return None


def model_present(settings: Settings) -> bool:
    """MODEL_DIR holds a model to load (a start will not train)."""
    from bot.core.serving import has_model

    try:
        return has_model(settings)
    except OSError:
        return False


def path_problems(settings: Settings) -> list[Problem]:
    """Every path problem that would stop (or later fail) a start, cheapest first."""
    problems: list[Problem] = []
    if (why := unwritable(settings.data_dir)) is not None:
        problems.append(
            Problem(
                "DATA_DIR",
                f"{why}; the bot keeps its database and state there: point DATA_DIR at a "
                "writable folder",
            )
        )
    if settings.log_file is not None and (why := unwritable(settings.log_file.parent)):
        problems.append(Problem("LOG_FILE", f"{why}; point LOG_FILE into a writable folder"))
    if (why := unwritable(settings.model_dir)) is not None:
        problems.append(
            Problem(
                "MODEL_DIR",
                f"{why}; models are trained into it: point MODEL_DIR at a writable folder "
                "with about 100 MB free",
            )
        )
    elif not model_present(settings):
        problems.extend(dataset_problems(settings))
    return problems


def training_problems(settings: Settings, out: Path | None, data: Path | None) -> list[Problem]:
    """What `musicbot train` needs before it trains: a folder it can write the model in
    (`out`, else MODEL_DIR) and, given `data`, a file it can read (else DATA_PATH, as a
    start would read it). A read-only MODEL_DIR used to be found after the training."""
    problems: list[Problem] = []
    if out is not None and (why := unwritable(out)) is not None:
        problems.append(Problem("--out", f"{why}; give --out a writable folder"))
    if out is None and (why := unwritable(settings.model_dir)) is not None:
        problems.append(
            Problem(
                "MODEL_DIR",
                f"{why}; point MODEL_DIR at a writable folder with about 100 MB free, or "
                "give --out",
            )
        )
    if data is not None and (why := unreadable(data)) is not None:
        problems.append(Problem("--data", f"{why}; give --data the songs CSV"))
    if data is None:
        problems.extend(
            dataset_problems(settings, needed="`musicbot train` reads it, unless given --data")
        )
    return problems


def dataset_problems(
    settings: Settings, needed: str = "no model in MODEL_DIR yet, so one is trained"
) -> list[Problem]:
    """DATA_PATH, when something trains from it (`needed` says what): it must be
    readable, or (with DOWNLOAD_DATASET on) missing where the download can be written."""
    data = settings.data_path
    if not data.exists() and settings.download_dataset:
        why = unwritable(data.parent)
        if why is None:
            return []
        return [Problem("DATA_PATH", f"{data} is missing, and to download it: {why}")]
    why = unreadable(data)
    if why is None:
        return []
    fix = "point DATA_PATH at the songs CSV"
    if not data.exists():
        fix += " (or set DOWNLOAD_DATASET=on to fetch the public copy)"
    return [Problem("DATA_PATH", f"{why}; {needed}; {fix}")]


def free_megabytes(path: Path) -> int:
    """Free space where `path` is (or would be created), in MB."""
    return shutil.disk_usage(_existing(path)).free // 2**20
