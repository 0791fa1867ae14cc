"""The paper's experiments, one ``run(size, out_dir, progress=True, force=False) -> dict`` each.

``isxt experiment NAME`` runs one of :data:`EXPERIMENTS`; each writes
``NAME.csv``, ``NAME.png`` and ``NAME.md`` and returns a dict with the rows
and its checked ``claims`` (``{name: {"passed": bool, "detail": str}}``).
Every experiment module declares its ``SIZES``, ``compute``, ``claims``,
``plot`` and ``describe``; one runner (:mod:`._runner`) does the rest.
See ``docs/experiments.md``.
"""

from __future__ import annotations

import importlib

from ..errors import InputError
from ._runner import SIZES, check_size

__all__ = ["EXPERIMENTS", "SIZES", "names", "get", "run"]

#: name → (module, paper figure)
EXPERIMENTS = {
    "nullspace": ("isxt.experiments.nullspace", "Fig. 2"),
    "dof": ("isxt.experiments.dof", "Fig. 3"),
    "dose": ("isxt.experiments.dose", "Figs. 4–5"),
    "sampling": ("isxt.experiments.sampling", "Fig. 11"),
    "fractionation": ("isxt.experiments.fractionation", "Fig. 12"),
    "baselines": ("isxt.experiments.baselines", "comparison with the sinogram extension"),
    "tv": ("isxt.experiments.tv", "TV with an automatic weight vs oracle CGLS (beyond the paper)"),
    "alignment": ("isxt.experiments.alignment", "Fig. 9; off-centre ROIs on a 3D cell (issue 10)"),
}


def names():
    """The valid experiment names, in order."""
    return tuple(EXPERIMENTS)


def get(name):
    """The module of experiment ``name`` (an :class:`InputError` listing valid names otherwise)."""
    if name not in EXPERIMENTS:
        raise InputError(f"unknown experiment {name!r}; choose one of {', '.join(names())}")
    return importlib.import_module(EXPERIMENTS[name][0])


def run(name, size="small", out_dir=".", progress=True, force=False):
    """Run experiment ``name``; see the module of each experiment."""
    check_size(size)
    return get(name).run(size=size, out_dir=out_dir, progress=progress, force=force)
