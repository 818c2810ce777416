"""Writes the API reference pages (``api/<package>.rst``) from the packages themselves, at each build.

Every public module (no leading underscore) of each package gets a section: its docstring and a table of the names it
defines (its ``__all__`` when it has one), each with a page of its own in ``api/generated/``. A name re-exported by a
package or by another module is documented once, where it is defined, and :func:`resolve_alias` sends references to
the other spellings (``rmt.LinearManifold``, ``rmt.mp.MPSolver``) to that page. Nothing here is committed output: the
pages are rebuilt from the code every time, so a new public name appears without editing the docs.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path

PACKAGES = ("rmt", "simulate", "trained", "specgap.reproduce", "specgap.sweep")
TITLES = {
    "rmt": "rmt: the analytic theory",
    "simulate": "simulate: random matrices, exact scores, samplers",
    "trained": "trained: networks, adapters, the Jacobian engine",
    "specgap.reproduce": "specgap.reproduce: the paper reproductions",
    "specgap.sweep": "specgap.sweep: parameter sweeps on Dask",
}


def public_modules(package: str) -> list[str]:
    """The package and its public submodules, depth first, sorted (private ``_x`` modules and ``__main__`` left out)."""
    pkg = importlib.import_module(package)
    names = [package]
    if hasattr(pkg, "__path__"):
        for info in pkgutil.walk_packages(pkg.__path__, prefix=package + "."):
            if any(part.startswith("_") for part in info.name.split(".")):
                continue
            names.append(info.name)
    return sorted(names)


def _defined_in(obj, module) -> bool:
    """Defined in ``module``, or in a private module (``trained._cloud``) and exported by this public one."""
    home = getattr(obj, "__module__", None) or ""
    return home == module.__name__ or any(part.startswith("_") for part in home.split("."))


def _has_doc_comment(src: str, name: str) -> bool:
    lines = src.splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith(f"{name} ="))
    return i > 0 and lines[i - 1].startswith("#:")


def module_names(modname: str) -> list[tuple[str, object]]:
    """(name, object) pairs a module documents: those of ``__all__`` it defines itself (functions and classes whose
    ``__module__`` is this module; constants listed in ``__all__`` and assigned here), else every public function
    and class it defines."""
    mod = importlib.import_module(modname)
    listed = getattr(mod, "__all__", None)
    if listed is None:
        listed = [n for n in vars(mod) if not n.startswith("_")]
    out = []
    src = inspect.getsource(mod) if listed else ""
    for name in listed:
        try:
            obj = getattr(mod, name)
        except AttributeError:
            continue
        if inspect.ismodule(obj):
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj) or callable(obj) and hasattr(obj, "__module__"):
            if _defined_in(obj, mod):
                out.append((name, obj))
        elif f"\n{name} =" in src or f"\n{name}: " in src:
            if f"\n{name} =" in src and not _has_doc_comment(src, name):
                raise RuntimeError(f"{modname}.{name} is public but has no '#:' comment above it to document it")
            out.append((name, obj))
    return out


def write_pages(srcdir: Path) -> dict[str, str]:
    """Write ``api/index.rst`` and one page per package; return the alias map (any spelling -> documented name)."""
    api = srcdir / "api"
    api.mkdir(exist_ok=True)
    documented: dict[int, str] = {}
    aliases: dict[str, str] = {}
    for package in PACKAGES:
        lines = [TITLES[package], "=" * len(TITLES[package]), ""]
        for modname in public_modules(package):
            names = module_names(modname)
            mod = importlib.import_module(modname)
            lines += [f".. _api-{modname}:", "", f"``{modname}``", "-" * (len(modname) + 4), "",
                      f".. automodule:: {modname}", "   :no-members:", "", f".. currentmodule:: {modname}", ""]
            if names:
                lines += [".. autosummary::", "   :toctree: generated", "   :nosignatures:", ""]
                lines += [f"   {n}" for n, _ in names] + [""]
            for n, obj in names:
                documented.setdefault(id(obj), f"{modname}.{n}")
            del mod
        (api / f"{package}.rst").write_text("\n".join(lines))
    # every other public spelling of a documented object: attributes of the packages and their modules
    for package in PACKAGES:
        for modname in public_modules(package):
            mod = importlib.import_module(modname)
            for n in list(getattr(mod, "__all__", [])) + [n for n in vars(mod) if not n.startswith("_")]:
                obj = getattr(mod, n, None)
                target = documented.get(id(obj))
                if target and target != f"{modname}.{n}":
                    aliases[f"{modname}.{n}"] = target
    index = ["API reference", "=============", "",
             "Every public module of the three libraries and of the application's reproductions and sweeps, generated",
             "from the docstrings. Each name has one page, in the module that defines it; the packages re-export the",
             "common ones (``from rmt import LinearManifold``).", "", ".. toctree::", "   :maxdepth: 2", ""]
    index += [f"   {p}" for p in PACKAGES]
    (api / "index.rst").write_text("\n".join(index) + "\n")
    return aliases
