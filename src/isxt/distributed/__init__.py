"""Scale-out on Dask distributed: batches, sweeps and slab-distributed solves.

Everything here is optional: the rest of isxt runs in one process and never
imports Dask. Asking for a scheduler without Dask installed is one clear
error (``pip install 'isxt[dask]'``).

* :mod:`.cluster` — ``--scheduler local[:N] | ADDRESS``: start or connect a
  :class:`distributed.Client`, print the dashboard, follow tasks with a bar.
* :mod:`.batch` — many acquisitions, one task each, a closing table.
* :mod:`.sweep` — map an experiment's independent configurations.
* :mod:`.slabs` — one volume split into z-slabs over the workers, CGLS with
  the single-process iterates.
"""

from __future__ import annotations

from .cluster import dask_available, open_client, parse_scheduler, require_dask

__all__ = ["dask_available", "require_dask", "parse_scheduler", "open_client"]
