"""The layout rules of the project, checked on the source tree.

* ``mor`` never imports torch; ``import mor_torch`` loads no training, data, matplotlib or tqdm
  code (and not even torch until a name is used), nor does ``import mor_torch.lra``;
* ``python -m mor_torch.lra`` sets its OpenMP thread policy before torch loads, without
  re-executing itself;
* no module imports another module's underscore name (shared helpers live in named modules);
* the lazily exported names of both packages exist and are exactly ``__all__``.
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


def test_no_module_imports_another_modules_private_name():
    bad = []
    for path, tree in _modules():
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
MOR_TOP = {"errors": "ground", "validation": "ground", "_guard": "ground", "models": "models"}


def _mor_group(module: str) -> str | None:
    """The group of a dotted module under ``mor`` (None for the package's public face)."""
    parts = module.split(".")
    if parts[0] != "mor" or len(parts) == 1 or parts[1] in ("__init__", "_aliases"):
        return None
    return MOR_TOP.get(parts[1], parts[1])


def _imported_modules(path: Path, tree: ast.AST):
    """Every module an import statement of ``path`` names (function bodies included), absolute."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}" if module else base
            yield module
            yield from (f"{module}.{a.name}" for a in node.names)  # `from . import lti` names a module


def test_every_mor_module_sits_in_a_group():
    stray = [
        path.name
        for path in (ROOT / "mor").glob("*.py")
        if path.stem not in MOR_TOP and path.stem not in ("__init__", "_aliases")
    ]
    groups = {p.name for p in (ROOT / "mor").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert stray == [] and groups == set(MOR_FLOORS) - {"ground", "models"}


def test_mor_groups_import_downwards_only():
    bad = []
    for path, tree in _modules():
        rel = path.relative_to(ROOT).with_suffix("")
        source = _mor_group(".".join(rel.parts))
        if rel.parts[0] != "mor" or source is None:
            continue
        for module in _imported_modules(path, tree):
            target = _mor_group(module)
            if target is not None and target in MOR_FLOORS and MOR_FLOORS[target] > MOR_FLOORS[source]:
                bad.append(f"{rel}: {source} imports {module} ({target})")
    assert bad == []
