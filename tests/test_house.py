"""The layout rules of the project, checked on the source tree.

* ``mor`` never imports torch; ``import mor_torch`` loads no training, data, matplotlib or tqdm
  code (and not even torch until a name is used), nor does ``import mor_torch.lra``;
* ``python -m mor_torch.lra`` sets its OpenMP thread policy before torch loads, without
  re-executing itself;
* no module (nor benchmark) imports another module's underscore name (shared helpers live in named
  modules);
* the lazily exported names of both packages exist and are exactly ``__all__``;
* no import cycle among the modules of ``mor``, ``mor_torch`` and ``mor_torch.lra`` (imports inside
  function bodies included), apart from the listed ones being removed;
* every ``raise`` site with its class is the table checked in as ``docs/guide/errors.md``.
"""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("mor", "mor_torch")


def _run(code: str, env: dict | None = None) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env, cwd=ROOT)
    return out.stdout.strip()


def test_import_mor_torch_loads_no_training_stack():
    pytest.importorskip("torch")
    probe = "import sys, mor_torch{extra}; print(sorted(m for m in sys.modules if m.split('.')[0] in {mods}))"
    mods = {"torch", "matplotlib", "tqdm"}
    assert _run(probe.format(extra="", mods=mods)) == "[]"
    assert _run(probe.format(extra=", mor_torch.lra", mods=mods)) == "[]"
    code = "import sys, mor_torch; mor_torch.compress; print(sorted(m for m in sys.modules if 'mor_torch' in m))"
    loaded = eval(_run(code))  # the adapter's modules only
    assert loaded and not [m for m in loaded if m.startswith("mor_torch.lra")]
    # using the adapter loads torch, and beyond what `import torch` itself loads nothing of the stack
    baseline = set(eval(_run("import sys, torch; print(sorted(sys.modules))")))
    used = set(eval(_run("import sys, mor_torch; mor_torch.compress; mor_torch.DSS; print(sorted(sys.modules))")))
    assert "torch" in used
    extra = {m.split(".")[0] for m in used - baseline}
    assert not extra & {"matplotlib", "tqdm"} and not [m for m in used if m.startswith("mor_torch.lra")]


def test_cli_sets_the_thread_policy_before_torch_loads():
    pytest.importorskip("torch")
    code = (
        "import os, sys, runpy\n"
        "sys.argv = ['mor_torch.lra', '--help']\n"
        "try:\n    runpy.run_module('mor_torch.lra', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "import torch\n"
        "print(os.environ.get('OMP_WAIT_POLICY'))"
    )
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    assert _run(code, env).splitlines()[-1] == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"  # a value the user set wins
    assert _run(code, env).splitlines()[-1] == "ACTIVE"
    source = (ROOT / "mor_torch" / "lra" / "__main__.py").read_text()
    assert "execv" not in source  # no re-execution


def _modules():
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path, ast.parse(path.read_text(), str(path))


def _benchmarks():
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        yield path, ast.parse(path.read_text(), str(path))


def test_no_module_imports_another_modules_private_name():
    """Also the benchmarks: they measure the packages through named entries, not private names."""
    bad = []
    for path, tree in [*_modules(), *_benchmarks()]:
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            ours = node.level > 0 or (node.module or "").split(".")[0] in PACKAGES
            if ours:
                bad += [f"{path.relative_to(ROOT)}: {a.name}" for a in node.names if a.name.startswith("_")]
    assert bad == []


def test_mor_never_imports_torch():
    for path, tree in _modules():
        if path.relative_to(ROOT).parts[0] != "mor":
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [n for n in names if n.split(".")[0] in ("torch", "mor_torch")], path


@pytest.mark.parametrize("package", ["mor_torch", "mor_torch.lra"])
def test_lazy_exports_match_all(package):
    pytest.importorskip("torch")
    mod = importlib.import_module(package)
    assert sorted(mod.__all__) == sorted(mod._EXPORTS)
    for name in mod.__all__:
        assert getattr(mod, name) is not None
    with pytest.raises(AttributeError):
        mod.no_such_name  # noqa: B018


# -- the groups of mor ----------------------------------------------------------------------
#: floor of each group of ``mor``: a module may import its own floor and the floors below it.
MOR_FLOORS = {"ground": 0, "linalg": 1, "systems": 2, "models": 3, "gramians": 3, "analysis": 4, "reduction": 5}
#: the modules directly in ``mor/`` and their floor (``__init__`` and ``_aliases`` are the public face).
MOR_TOP = {"errors": "ground", "validation": "ground", "_guard": "ground", "_display": "ground", "models": "models"}


def _mor_group(module: str) -> str | None:
    """The group of a dotted module under ``mor`` (None for the package's public face)."""
    parts = module.split(".")
    if parts[0] != "mor" or len(parts) == 1 or parts[1] in ("__init__", "_aliases"):
        return None
    return MOR_TOP.get(parts[1], parts[1])


def test_every_mor_module_sits_in_a_group():
    stray = [
        path.name
        for path in (ROOT / "mor").glob("*.py")
        if path.stem not in MOR_TOP and path.stem not in ("__init__", "_aliases")
    ]
    groups = {p.name for p in (ROOT / "mor").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stray == [] and groups == set(MOR_FLOORS) - {"ground", "models"}


def test_mor_groups_import_downwards_only():
    bad = [
        f"{module} ({_mor_group(module)}) imports {target} ({_mor_group(target)})"
        for module, imported in import_graph().items()
        if _mor_group(module) is not None
        for target in imported
        if _mor_group(target) is not None
        and MOR_FLOORS.get(_mor_group(target), 99) > MOR_FLOORS.get(_mor_group(module), -1)
    ]
    assert bad == []


KNOWN_CYCLES: set[frozenset[str]] = set()  # none: keep it so


def _module_names() -> dict[str, Path]:
    names = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return names


def _imported(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known) -> list[str]:
    """The modules of ``known`` that ``node`` (in ``module``) loads: ``from p import m`` is ``p.m`` if a module."""
    if isinstance(node, ast.Import):
        targets = [a.name for a in node.names]
    else:
        base = module if is_package else module.rpartition(".")[0]
        for _ in range(max(node.level - 1, 0)):
            base = base.rpartition(".")[0]
        target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module or ""
        targets = [f"{target}.{a.name}" if f"{target}.{a.name}" in known else target for a in node.names]
    out = []
    for t in targets:
        while t and t not in known:
            t = t.rpartition(".")[0]
        if t and t != module:
            out.append(t)
    return out


def _module_imports(module: str, is_package: bool, tree: ast.AST, known) -> set[str]:
    """The modules of ``known`` that ``tree`` (the source of ``module``) imports anywhere, except under
    ``if TYPE_CHECKING:``."""
    typing_only = {
        id(x)
        for n in ast.walk(tree)
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
        for s in n.body
        for x in ast.walk(s)
    }
    return {
        t
        for n in ast.walk(tree)
        if isinstance(n, (ast.Import, ast.ImportFrom)) and id(n) not in typing_only
        for t in _imported(module, is_package, n, known)
    }


def import_graph() -> dict[str, set[str]]:
    """``{module: modules it imports}`` over ``mor`` and ``mor_torch`` (with ``mor_torch.lra``): every
    ``import`` statement anywhere in a module (function bodies included), except under ``if TYPE_CHECKING:``."""
    known = _module_names()
    return {
        module: _module_imports(module, path.name == "__init__.py", ast.parse(path.read_text(), str(path)), known)
        for module, path in known.items()
    }


def cyclic_components(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of ``graph`` that hold a cycle (Tarjan)."""
    order, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(v):
        order[v] = low[v] = len(order)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in order:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], order[w])
        if low[v] == order[v]:
            component = set()
            while v not in component:
                component.add(stack.pop())
            on_stack.difference_update(component)
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(component)

    for v in sorted(graph):
        if v not in order:
            visit(v)
    return components


def cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the smallest name of ``component`` (breadth-first inside it)."""
    start = min(component)
    parent, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return [start, *reversed(path[:-1]), start] if len(path) > 1 else [start, start]
                if w not in parent:
                    parent[w] = v
                    nxt.append(w)
        frontier = nxt
    raise AssertionError(component)  # a strongly connected component always has a cycle


def test_cycle_finder_reports_a_cycle_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}, "f": {"a"}}
    components = cyclic_components(graph)
    assert sorted(map(sorted, components)) == [["a", "b", "c"], ["e"]]
    assert sorted(cycle_in(graph, c) for c in components) == [["a", "b", "c", "a"], ["e", "e"]]
    assert cyclic_components({"a": {"b"}, "b": set()}) == []


def test_import_graph_sees_imports_in_function_bodies():
    source = (
        "from typing import TYPE_CHECKING\n"
        "from . import c\n"
        "if TYPE_CHECKING:\n    from .e import T\n"
        "def f():\n    from .b import x\n    import pkg.d\n    import numpy\n"
    )
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d", "pkg.e"}
    assert _module_imports("pkg.a", False, ast.parse(source), known) == {"pkg.b", "pkg.c", "pkg.d"}
    assert "mor_torch.lra.compression" in import_graph()["mor_torch.lra.pipeline"]  # `from . import compression`


def test_no_import_cycles():
    graph = import_graph()
    components = cyclic_components(graph)
    new = [" -> ".join(cycle_in(graph, c)) for c in components if frozenset(c) not in KNOWN_CYCLES]
    assert new == [], "import cycles: " + "; ".join(new)
    gone = KNOWN_CYCLES - {frozenset(c) for c in components}
    assert not gone, f"remove from KNOWN_CYCLES (no longer cycles): {sorted(map(sorted, gone))}"


# --------------------------------------------------------------------------- raise sites
RAISE_TABLE = ROOT / "docs" / "guide" / "errors.md"
_BEGIN, _END = "<!-- raise-sites:begin -->", "<!-- raise-sites:end -->"


def raise_sites() -> list[tuple[str, str, str, int]]:
    """``(module, function, class raised, count)`` for every ``raise`` statement of ``mor`` and
    ``mor_torch`` (with ``mor_torch.lra``); a bare ``raise`` is ``(re-raise)``, a raised call is
    named by its callee (``_diverged`` builds a ``TrainingDivergedError``)."""
    counts: dict[tuple[str, str, str], int] = {}

    def visit(node: ast.AST, module: str, scope: tuple[str, ...]) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, module, (*scope, child.name))
                continue
            if isinstance(child, ast.Raise):
                exc = child.exc
                name = "(re-raise)" if exc is None else ast.unparse(exc.func if isinstance(exc, ast.Call) else exc)
                key = (module, ".".join(scope) or "(module)", name)
                counts[key] = counts.get(key, 0) + 1
            visit(child, module, scope)

    for module, path in _module_names().items():
        visit(ast.parse(path.read_text(), str(path)), module, ())
    return sorted((*key, n) for key, n in counts.items())


def format_raise_table(sites: list[tuple[str, str, str, int]]) -> str:
    rows = ["| module | function | raises | sites |", "|---|---|---|---|"]
    rows += [f"| `{m}` | `{f}` | `{c}` | {n} |" for m, f, c, n in sites]
    return "\n".join(rows)


def test_raise_sites_match_the_table_in_the_docs():
    """Every raise site with its class, as checked in (docs/guide/errors.md): a changed error class
    is a visible change of that table.  On a mismatch, paste the table this test prints."""
    text = RAISE_TABLE.read_text()
    documented = text[text.index(_BEGIN) + len(_BEGIN) : text.index(_END)].strip()
    table = format_raise_table(raise_sites())
    assert documented == table, f"update the table of {RAISE_TABLE.relative_to(ROOT)}:\n{table}"


def test_raise_sites_see_every_kind_of_raise():
    sites = {(m, f, c) for m, f, c, _ in raise_sites()}
    assert any(m.endswith(".balanced") and (f, c) == ("_check_arguments", "ArgumentConflictError") for m, f, c in sites)
    assert any(c == "(re-raise)" for _, _, c in sites)
    assert ("mor_torch._lazy", "lazy_exports.__getattr__", "AttributeError") in sites  # nested scopes named


def test_old_module_paths_import_the_modules_of_the_groups():
    from mor._aliases import OLD_PATHS

    for old, new in OLD_PATHS.items():
        assert importlib.import_module(f"mor.{old}") is importlib.import_module(f"mor.{new}"), old
    import mor.balanced as old_balanced  # the statement form users write

    assert old_balanced.balanced_truncation is importlib.import_module("mor").balanced_truncation
