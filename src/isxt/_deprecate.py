"""Deprecation helpers: old names that keep working for one release, with a warning."""

from __future__ import annotations

import functools
import inspect
import warnings

__all__ = ["IsxtDeprecationWarning", "renamed_kwargs", "renamed_fields", "warn_deprecated"]


class IsxtDeprecationWarning(DeprecationWarning):
    """A deprecated isxt name was used (the test suite turns these into errors, so the package
    itself never uses its own old names)."""


def warn_deprecated(message, stacklevel=3):
    """Emit an :class:`IsxtDeprecationWarning` pointing at the caller of the deprecated API."""
    warnings.warn(message, IsxtDeprecationWarning, stacklevel=stacklevel)


def _display_name(fn):
    # "VolumeGeometry" for a constructor, "ZonePlate.na_at" for a method, "frc" for a function
    return fn.__qualname__.removesuffix(".__init__")


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
        name = _display_name(fn)
        params = list(inspect.signature(fn).parameters.values())
        # how many positional arguments it takes to reach each new name (None: keyword-only)
        reach = {new: next((i + 1 for i, p in enumerate(params) if p.name == new
                            and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)), None)
                 for new in renames.values()}

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs or (reach[new] is not None and len(args) >= reach[new]):
                        raise TypeError(f"{name}() got both {old!r} and its new name {new!r}; pass only {new!r}")
                    warn_deprecated(f"{name}(): the argument {old!r} is now called {new!r}; "
                                    f"the old name goes in the next release")
                    kwargs[new] = kwargs.pop(old)
            return fn(*args, **kwargs)

        return wrapper

    return decorate


def _renamed_attribute(cls_name, old, new, writable):
    message = f"{cls_name}.{old} is now called {cls_name}.{new}; the old name goes in the next release"

    def get(self):
        warn_deprecated(message)
        return getattr(self, new)

    def set(self, value):
        warn_deprecated(message)
        setattr(self, new, value)

    return property(get, set if writable else None, doc=f"Deprecated name of :attr:`{new}` (goes in the next release).")


def renamed_fields(**renames):
    """Class decorator, above ``@dataclass``: renamed fields keep their old names for one release.

    The old names work as keyword arguments of the constructor and as attributes (read-only on a
    frozen dataclass), both with a DeprecationWarning; ``dataclasses.replace`` takes the new names.

    Examples
    --------
    >>> import warnings
    >>> from dataclasses import dataclass
    >>> @renamed_fields(size="size_um")
    ... @dataclass(frozen=True)
    ... class Box:
    ...     size_um: float
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     box = Box(size=2.0)
    ...     box.size
    2.0
    """

    def decorate(cls):
        cls.__init__ = renamed_kwargs(**renames)(cls.__init__)
        writable = not cls.__dataclass_params__.frozen
        for old, new in renames.items():
            setattr(cls, old, _renamed_attribute(cls.__name__, old, new, writable))
        return cls

    return decorate
