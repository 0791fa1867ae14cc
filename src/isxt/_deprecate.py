"""Deprecation helpers: old names that keep working for one release, with a warning."""

from __future__ import annotations

import functools
import warnings

__all__ = ["renamed_kwargs", "warn_deprecated"]


def warn_deprecated(message, stacklevel=3):
    """Emit a :class:`DeprecationWarning` pointing at the caller of the deprecated API."""
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)


def renamed_kwargs(**renames):
    """Decorator: accept the keyword arguments' old names for one release, with a DeprecationWarning.

    Parameters
    ----------
    **renames : str
        ``old_name="new_name"`` for every renamed parameter.

    Examples
    --------
    >>> import warnings
    >>> @renamed_kwargs(fwhm="fwhm_um")
    ... def blur(fwhm_um):
    ...     return fwhm_um
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     blur(fwhm=0.03)
    0.03
    """

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(f"{fn.__name__}() got both {old!r} and its new name {new!r}; pass only {new!r}")
                    warn_deprecated(f"{fn.__name__}(): the argument {old!r} is now called {new!r}; "
                                    f"the old name goes in the next release")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate
