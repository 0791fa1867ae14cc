"""Progress reporting shared by every long step: one helper, :func:`progress_bar`.

On a terminal it is a tqdm bar. When stderr is not a terminal (a log file, a
batch job, a pipe) a bar's redraws would fill the log, so each stage prints one
line when it ends instead (``desc: 12/12 in 3.4 s``). ``isxt ... --no-progress``
turns both off for the whole command (:func:`quiet`).
"""

from __future__ import annotations

import contextlib
import sys
import time

__all__ = ["progress_bar", "quiet", "enabled"]

_state = {"enabled": True}


def enabled():
    """False inside :func:`quiet` (``--no-progress``)."""
    return _state["enabled"]


@contextlib.contextmanager
def quiet(on=True):
    """Within the block, every :func:`progress_bar` is silent (when ``on``)."""
    before = _state["enabled"]
    _state["enabled"] = before and not on
    try:
        yield
    finally:
        _state["enabled"] = before


def progress_bar(iterable=None, desc=None, total=None, disable=False, leave=True, unit="it", **kwargs):
    """A tqdm bar on a terminal, else a one-line-per-stage reporter with the same methods; silent if disabled.

    Takes tqdm's arguments; use it wherever tqdm would be used.

    Examples
    --------
    >>> for i in progress_bar(range(3), desc="demo", disable=True):
    ...     pass
    """
    if disable or not enabled():
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, disable=True, **kwargs)
    if _isatty(sys.stderr):
        from tqdm.auto import tqdm

        return tqdm(iterable, desc=desc, total=total, leave=leave, unit=unit, **kwargs)
    return _StageLine(iterable, desc, total, unit)


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class _StageLine:
    """The tqdm methods isxt uses; prints ``desc: n/total [postfix] in T s`` once, on close."""

    def __init__(self, iterable, desc, total, unit):
        self.iterable, self.desc, self.unit = iterable, desc or "progress", unit
        self.total = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
        self.n, self.postfix, self._t0, self._closed = 0, "", time.perf_counter(), False

    def __iter__(self):
        try:
            for item in self.iterable:
                yield item
                self.n += 1
        finally:
            self.close()

    def __len__(self):
        return self.total or 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1):
        self.n += n

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        items = {**(ordered_dict or {}), **kwargs}
        self.postfix = ", ".join(f"{k}={v}" for k, v in items.items())

    def set_postfix_str(self, s="", refresh=True):
        self.postfix = str(s)

    def set_description(self, desc=None, refresh=True):
        self.desc = desc or self.desc

    def refresh(self):
        pass

    def close(self):
        if self._closed:
            return
        self._closed = True
        count = f"{self.n}/{self.total}" if self.total else f"{self.n}"
        extra = f" [{self.postfix}]" if self.postfix else ""
        print(f"{self.desc}: {count} {self.unit}{extra} in {time.perf_counter() - self._t0:.1f} s", file=sys.stderr)
