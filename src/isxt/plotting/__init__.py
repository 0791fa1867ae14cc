"""Every figure isxt draws: the one module that imports matplotlib.

Core modules (calibration, provenance, sampling, dose, planning, the
experiments) compute numbers; the functions here turn them into PNG files.
The old names (``isxt.calibration.plot_calibration``,
``isxt.provenance.write_quicklook``, ``isxt.sampling.bowtie_plot``,
``isxt.dose.plot_dose_maps``, ``isxt.planning.report.plot_plan``,
``isxt.experiments.demo.plot_demo``) call these.

* :mod:`.results` — reconstruction quick-look and the calibration fit.
* :mod:`.analysis` — Fig. 11 bow-tie, dose maps, the acquisition plan.
* :mod:`.experiments` — the figures of ``isxt experiment`` and ``isxt demo``.

matplotlib is imported when a figure is drawn, not when isxt is imported.
"""

from __future__ import annotations

__all__ = [
    "pyplot",
    "write_quicklook",
    "plot_calibration",
    "bowtie_plot",
    "plot_dose_maps",
    "plot_plan",
    "plot_demo",
]


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def __getattr__(name):
    # the figure functions, imported on first use (keeps ``import isxt.plotting`` light)
    homes = {"write_quicklook": "results", "plot_calibration": "results", "bowtie_plot": "analysis",
             "plot_dose_maps": "analysis", "plot_plan": "analysis", "plot_demo": "experiments"}
    if name in homes:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{homes[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
