"""Sphinx configuration of specgap's documentation (``make docs``; warnings are errors, references are checked).

Sphinx + numpydoc + myst-nb, the stack of SciPy, scikit-learn and xarray: numpydoc reads the docstrings' sections,
myst-nb renders the stored notebooks (not executed here) and the Markdown pages. The API pages and the gallery are
generated from the code and the notebooks at each build (``_ext/apigen.py``, ``_ext/gallery.py``).
"""
import os
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE / "_ext")]
os.environ.setdefault("MPLBACKEND", "Agg")

import apigen  # noqa: E402
import gallery  # noqa: E402

import specgap  # noqa: E402

project = "specgap"
author = "the specgap developers"
copyright = "2026, the specgap developers"
release = version = specgap.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]
templates_path = ["_templates"]
exclude_patterns = ["_build", "**.ipynb_checkpoints", "gallery/thumbs"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"

# -- references: every one must resolve (nitpicky), or the build fails under -W
nitpicky = True
default_role = "code"
# types from outside the package: no inventory can be fetched offline, so these names stay plain text
nitpick_ignore_regex = [
    ("py:class", r"(np|numpy|torch|jax|jnp|xr|xarray|dask|distributed|scipy|sympy|matplotlib|sklearn|zarr|numba|os|"
                 r"pathlib|collections|typing|enum|concurrent|dataclasses|contextlib|argparse|abc|io|"
                 r"diffusers|nn|optax|PIL|pd|pandas)\..*"),
    ("py:class", r"(int|float|str|bool|complex|object|tuple|list|dict|set|bytes|slice|type|callable|Callable|"
                 r"Any|Path|Iterable|Iterator|Sequence|Mapping|Generator|Literal|Optional|Union|None|NoneType|"
                 r"ArrayLike|Array|Tensor|Module|Dataset|Figure|Axes|Client|ndarray|PathLike|BaseEstimator|"
                 r"Enum|Protocol|NamedTuple|TypeVar|Self|ClassVar|Exception|ValueError|array_like|array-like)"),
]

# -- autodoc / autosummary / numpydoc
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_inherit_docstrings = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- Markdown and notebooks
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3
nb_execution_mode = "off"            # the notebooks carry their outputs (make notebooks); nothing runs here

# -- HTML
html_theme = "pydata_sphinx_theme"
html_title = f"specgap {release}"
html_static_path = []
html_theme_options = {"navigation_depth": 2, "show_toc_level": 2}

_ALIASES: dict = {}
OWN = ("rmt", "simulate", "trained", "specgap")


def _resolve_alias(app, env, node, contnode):
    """Resolve a reference Sphinx did not find, in this order: another spelling of a documented name
    (``rmt.LinearManifold`` for ``rmt.manifold.LinearManifold``, ``Bulk`` written inside :mod:`rmt.gaps`, a method
    reached through a re-export); else a short name that ends exactly one documented full name
    (``LinearManifold`` in :mod:`rmt.mp`). Anything else stays unresolved and fails the build."""
    if node.get("refdomain") != "py":
        return None
    dom = env.get_domain("py")
    target = node.get("reftarget", "").lstrip("~.")
    here = node.get("py:module")
    args = (env, node.get("refdoc"), app.builder, node.get("reftype"))
    for cand in [target] + ([f"{here}.{target}"] if here else []):
        parts = cand.split(".")
        for i in range(len(parts), 0, -1):
            head = ".".join(parts[:i])
            if head in _ALIASES:
                return dom.resolve_xref(*args, ".".join([_ALIASES[head]] + parts[i:]), node, contnode)
    ends = [name for name in dom.objects if name.endswith("." + target)]
    if len(ends) == 1:
        return dom.resolve_xref(*args, ends[0], node, contnode)
    return None


def _public_bases(app, name, obj, options, bases):
    """Show public base classes only: a private base (``_Adapter``) is replaced by its own bases."""
    def public(cls):
        if not cls.__name__.startswith("_"):
            return [cls]
        return [b for base in cls.__bases__ for b in public(base)]
    bases[:] = list(dict.fromkeys(b for base in bases for b in public(base)))


def _skip_foreign(app, what, name, obj, skip, options):
    """Leave out members a class inherits from another library (scikit-learn's ``set_*_request``, ``get_params``,
    ``Mapping.get``, torch's ``Module`` methods): their docstrings are that library's and point to its pages."""
    inner = getattr(obj, "fget", None) or getattr(obj, "func", None) or obj      # property, cached_property
    module = getattr(inner, "__module__", None) or ""
    if module and module.split(".")[0] not in OWN or name.startswith("set_") and name.endswith("_request"):
        return True
    return None


#: pages the site must have (issue 29's check): a build that lost one of them fails
REQUIRED_PAGES = ("api/generated/rmt.manifold.LinearManifold.html", "api/generated/trained.jacobian.engine.jacobian_spectrum.html",
                  "api/generated/trained.descriptors.local_scaling.html", "api/generated/simulate.ridge.project_to_ridge.html",
                  "api/generated/specgap.sweep.engine.run_sweep.html", "api/generated/trained.adapters.from_diffusers.html",
                  "api/generated/trained.adapters.from_denoiser.html", "api/generated/trained.adapters.from_score.html",
                  "getting-started.html", "theory.html", "findings.html", "testing.html", "gallery/index.html",
                  "gallery/fig2.html")


def _check_pages(app, exception):
    if exception is None and app.builder.format == "html":
        missing = [p for p in REQUIRED_PAGES if not (Path(app.outdir) / p).is_file()]
        if missing:
            raise RuntimeError(f"the built site lacks {missing}")


_THEORY_SECTION = re.compile(r"docs/theory\.md,? (?:sections? )?(\d+)[a-z]?\b")


def _theory_labels(app, docname, source):
    """Give each numbered section of theory.md a label ``theory-N`` at build time (the file stays plain Markdown)."""
    if docname == "theory":
        source[0] = re.sub(r"^## (\d+)\. ", r"(theory-\1)=\n## \1. ", source[0], flags=re.M)


def _link_theory(app, what, name, obj, options, lines):
    """"docs/theory.md section N" in a docstring becomes a link to that section of the theory page."""
    for i, line in enumerate(lines):
        lines[i] = _THEORY_SECTION.sub(lambda m: f":ref:`{m.group(0)} <theory-{m.group(1)}>`", line)


def _generate(app, config):
    _ALIASES.clear()
    _ALIASES.update(apigen.write_pages(HERE))
    gallery.write_gallery(HERE, ROOT / "notebooks")


def setup(app):
    app.connect("config-inited", _generate)       # before Sphinx lists the sources and autosummary writes stubs
    app.connect("missing-reference", _resolve_alias)
    app.connect("autodoc-process-bases", _public_bases)
    app.connect("autodoc-skip-member", _skip_foreign)
    app.connect("build-finished", _check_pages)
    app.connect("source-read", _theory_labels)
    app.connect("autodoc-process-docstring", _link_theory)
