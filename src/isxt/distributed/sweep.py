"""Sweeps: an experiment's independent configurations as Dask tasks.

The experiments map their configurations with
:func:`isxt.experiments._common.sweep_map`; inside :func:`use_client` that
map runs one task per configuration on the client's cluster, else serially.
The results come back in the order of the configurations, so the CSV is the
serial one (seeded noise is drawn inside each configuration's task).
"""

from __future__ import annotations

import contextlib

__all__ = ["use_client", "current_client", "map_on_client"]

_CLIENT = []


@contextlib.contextmanager
def use_client(client):
    """Run the sweeps of the experiments inside this block on ``client``."""
    _CLIENT.append(client)
    try:
        yield client
    finally:
        _CLIENT.pop()


def current_client():
    """The client of the innermost :func:`use_client`, or None."""
    return _CLIENT[-1] if _CLIENT else None


def map_on_client(client, fn, items, progress=False, desc="sweep"):
    """``[fn(item) for item in items]`` as one task per item; results in item order."""
    from .cluster import follow

    futures = [client.submit(fn, item, pure=False, retries=1) for item in items]
    for _ in follow(futures, desc=desc, progress=progress):
        pass
    return client.gather(futures)
