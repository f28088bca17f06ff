"""Griffe extension used by the documentation build: Sphinx roles in docstrings -> links.

The docstrings of ``mor`` and ``mor_torch`` are numpydoc, written with Sphinx cross-reference
roles (``:func:`mor.gramians```, ``:class:`~mor.errors.UnstableSystemError```).  mkdocstrings
renders Markdown, where those roles would show up verbatim.  This extension rewrites each role
into an *optional* mkdocs-autorefs reference: a link when the target is rendered somewhere in
the API reference, plain code otherwise (optional references never warn, so ``--strict`` stays
meaningful for everything else).  It also drops the ``.. math::`` directive line (the indented
formula below it then renders as a code block).

Targets are resolved by importing them, relative to the module (and class) of the docstring, and
mapped to their canonical ``module.qualname`` path, which is the anchor mkdocstrings gives the
object on the module pages of the API reference.
"""

from __future__ import annotations

import html
import importlib
import re
from typing import Any

from griffe import Extension, Module, Object

_ROLE = re.compile(r":(?:py:)?(func|class|meth|mod|data|attr|exc|obj|const):`(?P<target>[^`]+)`")
_MATH = re.compile(r"^([ \t]*)\.\. math::[ \t]*\n", flags=re.MULTILINE)


def _import_path(path: str, *, prefer_attribute: bool = False) -> Any:
    """Import a dotted path (module, then attributes); raise LookupError when it does not resolve.

    With ``prefer_attribute`` the last part is looked up as an attribute of its parent first
    (``mor.gramians`` is then the function, not the submodule of the same name).
    """
    parts = path.split(".")
    cuts = list(range(len(parts), 0, -1))
    if prefer_attribute and len(parts) > 1:
        cuts = cuts[1:] + cuts[:1]
    for cut in cuts:
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            continue
        return obj
    raise LookupError(path)


def _canonical(obj: Any, fallback: str) -> str:
    """``module.qualname`` of functions, classes and methods; the module name of modules."""
    if isinstance(obj, type(importlib)):
        return obj.__name__
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(module, str) and isinstance(qualname, str) and "<" not in qualname:
        return f"{module}.{qualname}"
    return fallback


def _resolve(target: str, obj: Object, role: str) -> str | None:
    """Canonical identifier of ``target`` as written in the docstring of ``obj``, or None."""
    module = obj.module.path
    candidates = []
    if target.startswith("."):
        package = module if obj.module.is_package else module.rpartition(".")[0]
        candidates.append(package + target if target.count(".") == 1 else target.lstrip("."))
    else:
        candidates.append(target)
        # relative to the enclosing class(es) and module, then the two packages
        parent = obj if obj.is_class else obj.parent
        while parent is not None:
            candidates.append(f"{parent.path}.{target}")
            parent = parent.parent
        candidates += [f"mor.{target}", f"mor_torch.{target}"]
    for path in candidates:
        try:
            found = _import_path(path, prefer_attribute=role != "mod")
        except LookupError:
            continue
        return _canonical(found, path)
    return None


def rewrite(text: str, obj: Object) -> str:
    """Replace the Sphinx roles and ``.. math::`` lines of one docstring."""

    def role(match: re.Match) -> str:
        raw = match["target"].strip()
        short = raw.startswith("~")
        target = raw.lstrip("~")
        shown = target.rsplit(".", 1)[-1] if short else target.lstrip(".")
        if match.group(1) in ("func", "meth"):
            shown += "()"
        code = f"<code>{html.escape(shown)}</code>"
        ident = _resolve(target, obj, match.group(1))
        if ident is None:
            return f"`{shown}`"
        return f'<autoref identifier="{html.escape(ident)}" optional>{code}</autoref>'

    text = _MATH.sub("", text)
    return _ROLE.sub(role, text)


class SphinxRoles(Extension):
    """Rewrite Sphinx cross-reference roles in every docstring (see the module docstring)."""

    def on_package(self, *, pkg: Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None and ":" in obj.docstring.value:
                obj.docstring.value = rewrite(obj.docstring.value, obj)
            stack.extend(m for m in obj.members.values() if not m.is_alias)
