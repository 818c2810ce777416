"""Command groups of the ``specgap`` CLI; each module defines ``register(subparsers)``.

Handlers import numpy/scipy/torch/JAX lazily so that ``--help`` and ``theory`` commands start fast.
"""
from __future__ import annotations

import importlib

MODULES = {
    "theory": "specgap.commands.theory",
    "simulate": "specgap.commands.simulate",
    "spectra": "specgap.commands.spectra",
    "dimension": "specgap.commands.dimension",
    "train": "specgap.commands.train",
    "reproduce": "specgap.commands.reproduce",
}


def register_all(sub, groups):
    for name, mod in MODULES.items():
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            module = None
        if module is None:
            p = sub.add_parser(name, help=groups[name] + " [not yet available]")
            p.set_defaults(handler=_unavailable(name))
            continue
        module.register(sub, groups[name])


def _unavailable(name):
    def handler(args):
        from ..cli import UsageError
        raise UsageError(f"specgap {name}: this command group is not available in this version")
    return handler
