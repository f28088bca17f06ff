"""Documentation checks: docstring parameters, API reference coverage, notebooks, page examples.

* fast: every public function, class and method of ``mor`` and ``mor_torch`` has a numpydoc
  ``Parameters`` section that documents exactly the parameters of its signature;
* fast: every name in ``mor.__all__`` and ``mor_torch.__all__`` is rendered by the API reference
  (``docs/api/*.md``);
* slow: every notebook under ``notebooks/`` executes without error (the same code path as
  ``make docs``), and every ``python`` code block of the guide pages runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import types
from pathlib import Path

import pytest

import mor

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


# --------------------------------------------------------------------------- numpydoc parsing
_HEADER = re.compile(r"^(?P<title>[A-Z][A-Za-z ]+)\n(?P<rule>-+)$", re.MULTILINE)
_ENTRY = re.compile(r"^(?P<names>\*{0,2}[A-Za-z_][\w]*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*)\s*(?::.*)?$")


def numpydoc_sections(doc: str) -> dict[str, str]:
    """Section title -> body of a numpydoc docstring (``inspect.cleandoc`` applied first)."""
    doc = inspect.cleandoc(doc)
    heads = [m for m in _HEADER.finditer(doc) if len(m["rule"]) >= len(m["title"]) - 1]
    out = {}
    for i, m in enumerate(heads):
        end = heads[i + 1].start() if i + 1 < len(heads) else len(doc)
        out[m["title"].strip()] = doc[m.end() : end]
    return out


def documented_parameters(doc: str | None, sections=("Parameters", "Other Parameters")) -> list[str] | None:
    """Names documented in the given sections (``None`` when none of them exists).

    Entries are the unindented lines ``name : type``, ``name`` or ``a, b : type``; ``*args`` and
    ``**kwargs`` are reported without their stars.
    """
    if not doc:
        return None
    found = numpydoc_sections(doc)
    if not any(s in found for s in sections):
        return None
    names = []
    for section in sections:
        for line in found.get(section, "").splitlines():
            if not line.strip() or line[:1].isspace():
                continue
            m = _ENTRY.match(line.strip())
            if m is None:
                names.append(f"<unparsable entry: {line.strip()!r}>")
                continue
            names += [n.strip().lstrip("*") for n in m["names"].split(",")]
    return names


def signature_parameters(obj) -> list[str]:
    params = inspect.signature(obj).parameters
    return [name for name in params if name not in ("self", "cls")]


# --------------------------------------------------------------------------- public objects
def _import_torch_package():
    pytest.importorskip("torch")
    return importlib.import_module("mor_torch")


def _is_exception(obj) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseException)


def _public_callables(package) -> list[tuple[str, object]]:
    """``(qualified name, object)`` for the functions, classes and public methods in ``__all__``.

    Exceptions and warnings are left out: library code raises them, users do not construct
    them (their docstrings document their attributes instead).
    """
    out = []
    for name in package.__all__:
        obj = getattr(package, name)
        if isinstance(obj, types.ModuleType) or _is_exception(obj):
            continue
        if inspect.isfunction(obj):
            out.append((f"{package.__name__}.{name}", obj))
        elif inspect.isclass(obj):
            out.append((f"{package.__name__}.{name}", obj))
            for attr, value in vars(obj).items():
                if attr.startswith("_"):
                    continue
                func = value.__func__ if isinstance(value, (classmethod, staticmethod)) else value
                if inspect.isfunction(func):
                    out.append((f"{package.__name__}.{name}.{attr}", getattr(obj, attr)))
    return out


def _check_parameters(qualname: str, obj) -> None:
    expected = signature_parameters(obj)
    if inspect.isclass(obj):
        doc = obj.__doc__
        documented = documented_parameters(doc)
        if documented is None and (obj.__init__.__doc__ or "") and obj.__init__ is not object.__init__:
            documented = documented_parameters(obj.__init__.__doc__)
        if documented is None:
            # dataclass-style records: the constructor arguments are the documented attributes
            documented = documented_parameters(doc, sections=("Attributes",))
    else:
        documented = documented_parameters(obj.__doc__)
    if not expected and documented is None:
        return
    if documented is None:
        pytest.fail(f"{qualname}{inspect.signature(obj)}: no numpydoc 'Parameters' section")
    missing = [p for p in expected if p not in documented]
    extra = [p for p in documented if p not in expected]
    assert not missing and not extra, (
        f"{qualname}{inspect.signature(obj)}: undocumented parameters {missing}, "
        f"documented but not in the signature {extra}"
    )


@pytest.mark.parametrize("qualname, obj", _public_callables(mor), ids=lambda x: x if isinstance(x, str) else "")
def test_mor_docstring_parameters_match_signature(qualname, obj):
    _check_parameters(qualname, obj)


@pytest.mark.parametrize("package_name", ["mor_torch", "mor_torch.lra"])
def test_mor_torch_docstring_parameters_match_signature(package_name):
    _import_torch_package()
    package = importlib.import_module(package_name)
    failures = []
    for qualname, obj in _public_callables(package):
        try:
            _check_parameters(qualname, obj)
        except (AssertionError, pytest.fail.Exception) as exc:
            failures.append(str(exc).splitlines()[0])
    assert not failures, "\n".join(failures)


def test_docstring_parser_sees_undocumented_parameters():
    def documented(a, b, *args, c=1, **kwargs):
        """Doc.

        Parameters
        ----------
        a, b : int
            Two.
        *args
            More.
        c : int, optional
        **kwargs
            Rest.

        Returns
        -------
        x : int
        """

    def undocumented(a, b):
        """Doc.

        Parameters
        ----------
        a : int
        """

    _check_parameters("documented", documented)
    with pytest.raises(AssertionError, match=r"undocumented parameters \['b'\]"):
        _check_parameters("undocumented", undocumented)
    with pytest.raises(pytest.fail.Exception, match="no numpydoc 'Parameters' section"):
        _check_parameters("bare", lambda x: x)


# --------------------------------------------------------------------------- API reference
def _api_directives() -> tuple[set[str], str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted((DOCS / "api").glob("*.md")))
    return set(re.findall(r"^:::\s+([\w.]+)\s*$", text, flags=re.MULTILINE)), text


def _rendered(package_name: str, name: str, obj, directives: set[str], text: str) -> bool:
    """Whether ``package.name`` is rendered by one of the ``::: identifier`` directives."""
    if f"{package_name}.{name}" in directives:
        return True
    if isinstance(obj, types.ModuleType):
        return obj.__name__ in directives
    if inspect.isclass(obj) or inspect.isfunction(obj):
        module = obj.__module__
        if f"{module}.{obj.__name__}" in directives:
            return True
        # a module directive renders the members listed in the module's __all__
        return module in directives and obj.__name__ in getattr(importlib.import_module(module), "__all__", ())
    return f"{package_name}.{name}" in text  # constants such as __version__: mentioned in the text


@pytest.mark.parametrize("package_name", ["mor", "mor_torch", "mor_torch.lra"])
def test_api_reference_covers_every_public_name(package_name):
    if package_name.startswith("mor_torch"):
        _import_torch_package()
    package = importlib.import_module(package_name)
    directives, text = _api_directives()
    for d in directives:  # every directive must name something importable
        head, _, tail = d.rpartition(".")
        try:
            importlib.import_module(d)
        except ImportError:
            assert hasattr(importlib.import_module(head), tail), f"API directive ::: {d} does not resolve"
    missing = [
        name for name in package.__all__ if not _rendered(package_name, name, getattr(package, name), directives, text)
    ]
    assert not missing, f"public names of {package_name} missing from docs/api/*.md: {missing}"


# --------------------------------------------------------------------------- executed material
def _build_notebooks_module():
    spec = importlib.util.spec_from_file_location("build_notebooks", DOCS / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3, NOTEBOOKS


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_executes(path, tmp_path):
    pytest.importorskip("nbclient")
    pytest.importorskip("jupytext")
    pytest.importorskip("torch")
    build = _build_notebooks_module()
    nb = build.execute_notebook(path, timeout=600)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    page = build.to_markdown(nb, path.stem, tmp_path, source=str(path.name), seconds=0.0)
    assert page.count("```python") >= 3
    assert list((tmp_path / f"{path.stem}_files").glob("*.png")), "the notebook produced no figure"


_PAGES = [DOCS / "index.md", *sorted((DOCS / "guide").glob("*.md"))]


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("page", _PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, tmp_path, monkeypatch):
    blocks = _python_blocks(page)
    if any("torch" in b for b in blocks):
        pytest.importorskip("torch")
    if any("control" in b for b in blocks):
        pytest.importorskip("control")
    monkeypatch.chdir(tmp_path)  # examples may write (run directories, generated data)
    monkeypatch.setenv("MOR_DATA_DIR", str(tmp_path / "data"))
    for i, block in enumerate(blocks):
        namespace: dict = {"__name__": f"doc_example_{i}"}
        exec(compile(block, f"{page.name}[block {i}]", "exec"), namespace)


def test_guide_pages_have_examples():
    assert all(_python_blocks(p) for p in _PAGES if p.parent.name == "guide" and p.stem != "pipeline")
