"""Thin-walled glass capillary, axis along z, filled with amorphous ice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .base import LABELS

__all__ = ["Capillary", "default_capillary", "paint_capillary"]


@dataclass(frozen=True)
class Capillary:
    """A glass tube around the z axis through ``center_xy``; radii in µm."""

    inner_radius: float
    outer_radius: float
    center_xy: tuple = (0.0, 0.0)

    @property
    def wall(self):
        return self.outer_radius - self.inner_radius


def default_capillary(geometry, outer_radius=None, wall=None):
    """A capillary that just fits the volume's xy extent.

    The outer radius defaults to 48 % of the smaller xy extent; the wall to
    5 % of that radius, clipped to 0.2–0.5 µm and at least two voxels (SXT
    capillaries are thin-walled glass, tapered to a few µm at the tip).
    """
    if outer_radius is None:
        outer_radius = 0.48 * min(geometry.extent[0], geometry.extent[1])
    if wall is None:
        wall = max(float(np.clip(0.05 * outer_radius, 0.2, 0.5)), 2 * geometry.voxel_size_um)
    outer_radius, wall = float(outer_radius), float(wall)
    if not (0 < wall < outer_radius):
        raise InputError(
            f"capillary wall ({wall} µm) must be positive and thinner than its outer radius ({outer_radius} µm)"
        )
    return Capillary(outer_radius - wall, outer_radius, (geometry.center_um[0], geometry.center_um[1]))


def paint_capillary(labels, geometry, capillary):
    """Paint glass in the capillary wall and ice in its lumen, where ``labels`` is background.

    The tube is infinite along z: it crosses the whole volume.
    """
    r = geometry.radial_distance(capillary.center_xy)
    empty = labels == LABELS["background"]
    wall = (r > capillary.inner_radius) & (r <= capillary.outer_radius)
    lumen = r <= capillary.inner_radius
    labels[empty & wall[None]] = LABELS["glass"]
    labels[empty & lumen[None]] = LABELS["ice"]
    return labels
