"""Experiment planning: a recommended protocol, its dose and predicted quality (``isxt plan``).

* :func:`plan` — cell, ROI, lenses and dose budget → :class:`Plan`.
* :func:`write_plan` — ``plan.json``, ``plan.md``, ``plan.png``, the
  acquisition file and angle lists (and, with ``simulate=True``, stacks that
  ``isxt reconstruct`` reads as they stand).
* :mod:`isxt.planning.protocol` — the analytic steps (pixels, N_interior, anchors).
"""

from .core import Plan, plan
from .files import write_plan

__all__ = ["Plan", "plan", "write_plan"]
