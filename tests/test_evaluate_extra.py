"""`implicit` and `matplotlib` are the `evaluate` extra's: a bot installed without them
answers, and `musicbot evaluate` without them says in one line how to install them.
Each check runs in a child Python where the two cannot be imported, as after a plain
`pip install .`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Put in front of every other finder: importing either module fails as if not installed.
WITHOUT_EXTRA = """
import sys
class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("implicit", "matplotlib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, _NotInstalled())
from bot.frontends.cli import main
raise SystemExit(main(sys.argv[1:]))
"""


def _musicbot(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_EXTRA, *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
    )


def test_a_bot_without_the_extra_answers(trained_model_dir: Path, tmp_path: Path) -> None:
    env = {"DATA_DIR": str(tmp_path), "MODEL_DIR": str(tmp_path / "models")}
    done = _musicbot("recommend", "bad guy", "--model", str(trained_model_dir), env=env)
    assert done.returncode == 0, done.stderr
    assert "bad guy" in done.stdout.lower() and "Traceback" not in done.stderr


def test_evaluate_without_the_extra_says_how_to_install_it(
    dataset_path: Path, tmp_path: Path
) -> None:
    env = {"DATA_DIR": str(tmp_path)}
    done = _musicbot("evaluate", "--data", str(dataset_path), env=env)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "musicbot evaluate needs implicit and matplotlib, which a bot install leaves out: "
        "install them with `pip install -e '.[evaluate]'`"
    ]
