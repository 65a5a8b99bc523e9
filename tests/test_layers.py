"""The house in layers (ARCHITECTURE.md): every module imports only from its own package or from
a lower layer, and no modules import each other in a circle, at module level or inside functions.

Imports are read with ``ast`` from the source, so nothing is imported to check them.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

# Low to high. Packages on one line are siblings: neither may import the other.
LAYERS: list[tuple[str, ...]] = [
    ("config",),
    ("data", "tracking"),        # tracking: the experiment tracker a run's stages all log into
    ("models",),
    ("generation", "training"),  # the two engines, both on models/
    ("testbed",),                # the offline world: tasks, writers, the tiny base policy
    ("worlds",),                 # the IF world (real instructions, IFEval checkers) and the one build entry
    ("judges",),
    ("evaluation",),             # metrics, the runner, benchmark prompt sets, the revision audit
    ("reviser",),                # `seft revise` audits its revisions with a judge
    ("evolution",),              # the round loop: it evaluates and audits every round
    ("report",),                 # rendering only: markdown, plots, from what runs stored
    ("runs",),                   # whole runs: pipeline, seeds, baselines, scaling, compare, export
    ("cli",),                    # the face: a table from command to run_<stage>
    ("__main__",),
]
RANK = {pkg: i for i, names in enumerate(LAYERS) for pkg in names}
TOP = ("__init__",)  # seft/__init__.py: the version only; anyone may read it


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every ``seft`` module ``path`` imports, anywhere in the file (functions included).

    ``from X import name`` counts as X.name when X.name is a module, else as X."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "seft"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != "seft":
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                found.add(sub if sub in MODULES else mod)
    return found - {name}


MODULES = {module_name(p): p for p in SRC.joinpath("seft").rglob("*.py")}
GRAPH = {m: imports_of(p) for m, p in MODULES.items()}


def layer_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_has_a_layer():
    unknown = sorted({layer_of(m) for m in MODULES} - set(RANK) - set(TOP))
    assert not unknown, f"packages with no layer in LAYERS (add them to the table and ARCHITECTURE.md): {unknown}"


def test_imports_point_down():
    bad = []
    for mod, deps in GRAPH.items():
        here = layer_of(mod)
        for dep in deps:
            there = layer_of(dep)
            if there == here or there in TOP or here in TOP:
                continue
            if RANK[there] >= RANK[here]:
                bad.append(f"{mod} -> {dep} ({here} may not import {there})")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    # A package's __init__ re-exports its modules; an edge into a package means "its __init__".
    assert _cycles(GRAPH) == []


def test_the_checks_can_fail():
    """The cycle finder and the layer rule catch what they are for (a check that cannot fail proves nothing)."""
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert RANK["runs"] > RANK["evolution"] > RANK["reviser"] > RANK["evaluation"] > RANK["models"]
    assert RANK["generation"] == RANK["training"]


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_modules_stay_small(mod):
    lines = len(MODULES[mod].read_text().splitlines())
    assert lines <= 320, f"{mod} has {lines} lines: split it (ARCHITECTURE.md)"
