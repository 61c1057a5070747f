"""The rules docs/ARCHITECTURE.md states, checked on the source: `recommender/` imports
nothing of `bot` or `discord`, `bot/` nothing of torch or numpy and only the recommender
modules the page lists, only training imports torch, a feature's code stays in its
folder, and no module of either package imports another that imports it back (imports
inside functions and under TYPE_CHECKING count too)."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "recommender")
PAGE = ROOT / "docs" / "ARCHITECTURE.md"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name → file, for every .py file of a package."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(name: str, path: Path) -> set[str]:
    """Every module name `name` imports anywhere in its file, relative ones resolved; for
    `from a import b` both `a` and `a.b` (b may be a submodule)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module → the modules of the two packages it imports (not its own parents)."""
    known = {name: path for package in PACKAGES for name, path in modules(root, package).items()}
    return {
        name: {
            target
            for target in imported(name, path)
            if target in known and target != name and not name.startswith(target + ".")
        }
        for name, path in known.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of modules that reach each other through imports (Tarjan's components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_recommender_imports_nothing_of_the_bot_or_discord() -> None:
    offending = sorted(
        f"{name} imports {target}"
        for name, path in modules(ROOT, "recommender").items()
        for target in imported(name, path)
        if target.split(".")[0] in ("bot", "discord")
    )
    assert offending == []


def test_the_bot_knows_nothing_of_tensors() -> None:
    offending = sorted(
        f"{name} imports {target}"
        for name, path in modules(ROOT, "bot").items()
        for target in imported(name, path)
        if target.split(".")[0] in ("torch", "torch_geometric", "numpy")
    )
    assert offending == []


# Where torch may be imported: the training package, and the evaluation's LightGCN
# baseline (PyTorch Geometric's own model, scored next to ours).
TORCH_ALLOWED = ("recommender.training", "recommender.baselines")


def test_only_training_imports_torch() -> None:
    offending = sorted(
        f"{name} imports {target}"
        for package in PACKAGES
        for name, path in modules(ROOT, package).items()
        for target in imported(name, path)
        if target.split(".")[0] in ("torch", "torch_geometric")
        and not any(name == allowed or name.startswith(allowed + ".") for allowed in TORCH_ALLOWED)
    )
    assert offending == []


def test_no_module_imports_one_that_imports_it_back() -> None:
    graph = import_graph(ROOT)
    assert len(graph) > 50 and graph["bot.frontends.discord_app"], "the graph was read"
    assert cycles(graph) == []


def test_a_cycle_hidden_in_a_function_is_found(tmp_path: Path) -> None:
    """The check itself: an import inside a function closes a cycle."""
    for package in PACKAGES:
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot" / "a.py").write_text("from bot.b import thing\n")
    (tmp_path / "bot" / "b.py").write_text("def thing():\n    from . import a\n")
    (tmp_path / "recommender" / "c.py").write_text("def f():\n    import discord\n")
    assert cycles(import_graph(tmp_path)) == [["bot.a", "bot.b"]]
    assert "discord" in imported("recommender.c", tmp_path / "recommender" / "c.py")


def listed_for_the_bot(page: Path = PAGE) -> list[str]:
    """The modules under the page's "What `bot/` may import from `recommender/`"."""
    text = page.read_text(encoding="utf-8")
    section = text.split("### What `bot/` may import from `recommender/`", 1)[1]
    section = re.split(r"^#", section, maxsplit=1, flags=re.MULTILINE)[0]
    return re.findall(r"^- `(recommender[\w.]*)`", section, flags=re.MULTILINE)


def recommender_modules_the_bot_imports() -> dict[str, set[str]]:
    """Recommender module → the bot modules that import it (a name imported from a module
    counts as that module)."""
    known = set(modules(ROOT, "recommender"))
    used: dict[str, set[str]] = {}
    for name, path in modules(ROOT, "bot").items():
        for target in imported(name, path):
            if target.split(".")[0] != "recommender":
                continue
            parts = target.split(".")
            while parts and ".".join(parts) not in known:
                parts.pop()
            used.setdefault(".".join(parts), set()).add(name)
    return used


def test_the_bot_imports_the_recommender_modules_the_page_lists_and_no_other() -> None:
    listed = listed_for_the_bot()
    assert len(listed) > 5, "the list was read"

    def allowed(module: str) -> bool:
        # A package listed allows its modules; the top package only itself.
        return any(
            module == entry or (entry != "recommender" and module.startswith(entry + "."))
            for entry in listed
        )

    used = recommender_modules_the_bot_imports()
    unlisted = sorted(
        f"{m} (by {', '.join(sorted(by))})" for m, by in used.items() if not allowed(m)
    )
    assert unlisted == []
    unused = [
        entry for entry in listed if not any(m == entry or m.startswith(entry + ".") for m in used)
    ]
    assert unused == []


def test_importing_the_bot_does_not_load_torch() -> None:
    """Every bot module imported, as a running bot does: torch stays out (it loads only
    when a command trains)."""
    names = sorted(name for name in modules(ROOT, "bot") if name != "bot.__main__")
    code = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torch_geometric')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    assert done.stdout.strip() == "[]"


def test_every_table_lives_in_a_features_tables_module() -> None:
    misplaced = []
    for package in PACKAGES:
        for name, path in modules(ROOT, package).items():
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.ClassDef)
                    and any(
                        isinstance(item, ast.Assign)
                        and any(getattr(t, "id", None) == "__tablename__" for t in item.targets)
                        for item in node.body
                    )
                    and not re.fullmatch(r"bot\.features\.\w+\.tables", name)
                ):
                    misplaced.append(f"{node.name} in {name}")
    assert misplaced == []


# The one import of a feature `core/` makes besides the registry: validating the
# RETRAIN_CRON setting needs the retrain schedule's parser.
CORE_MAY_IMPORT = {("bot.core.settings", "bot.features.retrain.schedule")}


def test_core_imports_nothing_of_a_feature_but_the_registry() -> None:
    offending = sorted(
        f"{name} imports {target}"
        for name, path in modules(ROOT, "bot").items()
        if name.startswith("bot.core.")
        for target in imported(name, path)
        if target.startswith("bot.features.")
        and target.rsplit(".", 1)[0] != "bot.features"  # a name from the registry
        and (name, target.rsplit(".", 1)[0]) not in CORE_MAY_IMPORT
        and (name, target) not in CORE_MAY_IMPORT
    )
    assert offending == []
