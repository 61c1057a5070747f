"""The rules docs/ARCHITECTURE.md states, checked on the source: `recommender/` imports
nothing of `bot` or `discord`, `bot/` nothing of torch or numpy, and no module of either
package imports another that imports it back (imports inside functions and under
TYPE_CHECKING count too)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("bot", "recommender")


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
