"""Start or connect to a Dask cluster from ``--scheduler local[:N] | ADDRESS``."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys

from ..errors import InputError

__all__ = ["dask_available", "require_dask", "parse_scheduler", "open_client", "follow"]

INSTALL = "pip install 'isxt[dask]'"


def dask_available():
    """True when ``dask.distributed`` can be imported."""
    return importlib.util.find_spec("distributed") is not None and importlib.util.find_spec("dask") is not None


def require_dask(what="a scheduler"):
    """Raise :class:`InputError` (one line, with the fix) unless Dask distributed is installed."""
    if not dask_available():
        raise InputError(f"{what} needs Dask distributed, which is not installed; {INSTALL}")


def parse_scheduler(spec, where="--scheduler"):
    """``('local', n_workers)`` or ``('address', address)`` for a scheduler spec.

    Parameters
    ----------
    spec : str
        ``local`` (one worker per CPU core), ``local:N`` (N worker processes)
        or the address of a running scheduler (``tcp://host:8786``, or a
        scheduler file ``*.json`` written by ``dask scheduler --scheduler-file``).
    where : str
        The option or key the value came from, for the error message.

    Examples
    --------
    >>> parse_scheduler("local:2")
    ('local', 2)
    >>> parse_scheduler("tcp://10.0.0.1:8786")
    ('address', 'tcp://10.0.0.1:8786')
    """
    if not isinstance(spec, str) or not spec.strip():
        raise InputError(f"{where}: give 'local', 'local:N' or a scheduler address such as tcp://host:8786")
    spec = spec.strip()
    if spec == "local" or spec.startswith("local:"):
        n = spec.partition(":")[2]
        if not n:
            return ("local", max(1, os.cpu_count() or 1))
        if not n.isdigit() or int(n) < 1:
            raise InputError(f"{where}: {spec!r} needs a positive worker count, e.g. local:4")
        return ("local", int(n))
    if "://" in spec or spec.endswith(".json") or ":" in spec:
        return ("address", spec)
    raise InputError(f"{where}: {spec!r} is neither 'local[:N]' nor a scheduler address such as tcp://host:8786")


@contextlib.contextmanager
def open_client(spec, where="--scheduler", quiet=False):
    """A :class:`distributed.Client` for ``spec`` (see :func:`parse_scheduler`), closed on exit.

    ``local:N`` starts a ``LocalCluster`` of N worker processes with one
    thread each (the projectors parallelise with numba inside a process; one
    thread per worker keeps N workers from oversubscribing the cores). The
    dashboard link is printed to stderr unless ``quiet``.
    """
    kind, value = parse_scheduler(spec, where)
    require_dask(f"{where} {spec}")
    from distributed import Client, LocalCluster

    if kind == "local":
        cluster = LocalCluster(n_workers=value, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        cluster = None
        try:
            if value.endswith(".json"):
                client = Client(scheduler_file=value, timeout="20s")
            else:
                client = Client(value, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"{where}: cannot connect to the scheduler at {value} ({exc}); is it running?") from None
    try:
        if not quiet:
            n = len(client.scheduler_info().get("workers", {}))
            print(f"dask: {n} workers, dashboard {client.dashboard_link}", file=sys.stderr)
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def follow(futures, desc="tasks", progress=True):
    """Yield ``(index, future)`` as the futures finish, with a tqdm bar over them."""
    from distributed import as_completed

    index = {f.key: i for i, f in enumerate(futures)}
    bar = None
    if progress:
        from .._progress import progress_bar

        bar = progress_bar(total=len(futures), desc=desc, leave=False)
    try:
        for f in as_completed(futures):
            if bar is not None:
                bar.update(1)
            yield index[f.key], f
    finally:
        if bar is not None:
            bar.close()
