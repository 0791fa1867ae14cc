"""Thin-walled glass capillary, axis along z, filled with amorphous ice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._deprecate import renamed_fields, renamed_kwargs, warn_deprecated
from ..errors import InputError
from .base import LABELS

__all__ = ["Capillary", "default_capillary", "paint_capillary"]


@renamed_fields(inner_radius="inner_radius_um", outer_radius="outer_radius_um", center_xy="center_xy_um")
@dataclass(frozen=True)
class Capillary:
    """A glass tube around the z axis through ``center_xy_um``; radii in µm.

    ``inner_radius``, ``outer_radius``, ``center_xy`` and ``wall`` are the
    deprecated names (keywords and attributes).
    """

    inner_radius_um: float
    outer_radius_um: float
    center_xy_um: tuple = (0.0, 0.0)

    @property
    def wall_um(self):
        """Wall thickness in µm."""
        return self.outer_radius_um - self.inner_radius_um

    @property
    def wall(self):
        """Deprecated name of :attr:`wall_um` (goes in the next release)."""
        warn_deprecated("Capillary.wall is now called Capillary.wall_um; the old name goes in the next release")
        return self.wall_um


@renamed_kwargs(outer_radius="outer_radius_um", wall="wall_um")
def default_capillary(geometry, outer_radius_um=None, wall_um=None):
    """A capillary that just fits the volume's xy extent.

    The outer radius defaults to 48 % of the smaller xy extent; the wall to
    5 % of that radius, clipped to 0.2–0.5 µm and at least two voxels (SXT
    capillaries are thin-walled glass, tapered to a few µm at the tip).
    ``outer_radius`` and ``wall`` are the deprecated names.
    """
    if outer_radius_um is None:
        outer_radius_um = 0.48 * min(geometry.extent[0], geometry.extent[1])
    if wall_um is None:
        wall_um = max(float(np.clip(0.05 * outer_radius_um, 0.2, 0.5)), 2 * geometry.voxel_size_um)
    outer_radius_um, wall_um = float(outer_radius_um), float(wall_um)
    if not (0 < wall_um < outer_radius_um):
        raise InputError(
            f"capillary wall ({wall_um} µm) must be positive and thinner than its outer radius ({outer_radius_um} µm)"
        )
    return Capillary(outer_radius_um - wall_um, outer_radius_um, (geometry.center_um[0], geometry.center_um[1]))


def paint_capillary(labels, geometry, capillary):
    """Paint glass in the capillary wall and ice in its lumen, where ``labels`` is background.

    The tube is infinite along z: it crosses the whole volume.
    """
    r = geometry.radial_distance(capillary.center_xy_um)
    empty = labels == LABELS["background"]
    wall = (r > capillary.inner_radius_um) & (r <= capillary.outer_radius_um)
    lumen = r <= capillary.inner_radius_um
    labels[empty & wall[None]] = LABELS["glass"]
    labels[empty & lumen[None]] = LABELS["ice"]
    return labels
