"""Text of an acquisition file (TOML) for scans written by isxt itself.

:func:`acquisition_toml` is the one writer behind ``isxt simulate`` and
``isxt plan``: each scan points to ``<name>.mrc`` and ``<name>_angles.txt``
(degrees) beside the file; :func:`isxt.acquisition.load_acquisition` reads it.
"""

from __future__ import annotations

__all__ = ["acquisition_toml"]


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, (int, float)):
        return repr(value)
    return "[" + ", ".join(_toml_value(v) for v in value) + "]"


def acquisition_toml(volume, scans, title, reconstruction=None, output_dir="recon", comments=()):
    """The acquisition file of ``scans`` as TOML text.

    Parameters
    ----------
    volume : VolumeGeometry
        The reconstruction grid (``[volume]``).
    scans : sequence of (name, ScanGeometry, photons)
        One ``[[scan]]`` each: transmission stack ``<name>.mrc``, angles in
        ``<name>_angles.txt`` (degrees), pixel size and centre of the
        geometry; ``photons`` (incident photons per pixel, or None) adds the
        noise level and a transmission floor of half a photon.
    title : str
    reconstruction : dict, optional
        Keys of ``[reconstruction]``; default CGLS, 30 iterations.
    output_dir : str
        ``[output] dir``.
    comments : sequence of str
        Lines written as ``# ...`` at the top.

    Returns
    -------
    str
    """
    lines = [f"# {c}" for c in comments]
    c = volume.center
    lines += [
        f"title = {_toml_value(title)}",
        "",
        "[volume]",
        f"shape = [{volume.nz}, {volume.ny}, {volume.nx}]",
        f"voxel_size_um = {volume.voxel_size!r}",
        f"center_um = [{c[0]!r}, {c[1]!r}, {c[2]!r}]",
        "",
    ]
    for name, g, photons in scans:
        lines += [
            "[[scan]]",
            f"name = {_toml_value(name)}",
            f"file = {_toml_value(name + '.mrc')}",
            'kind = "transmission"',
            f"angles = {_toml_value(name + '_angles.txt')}",
            'angle_unit = "deg"',
            f"pixel_size_um = {g.pixel_size!r}",
            f"center_um = [{g.center[0]!r}, {g.center[1]!r}, {g.center[2]!r}]",
        ]
        if photons is not None:
            lines.append(f"photons = {float(photons)!r}")
            lines.append(f"clip_transmission = {0.5 / float(photons)!r}")
        lines.append("")
    recon = {"method": "cgls", "iterations": 30} if reconstruction is None else dict(reconstruction)
    lines.append("[reconstruction]")
    lines += [f"{k} = {_toml_value(v)}" for k, v in recon.items()]
    lines += ["", "[output]", f"dir = {_toml_value(output_dir)}", ""]
    return "\n".join(lines)
