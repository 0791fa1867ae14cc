"""Which NCC peak a neighbour pair takes: the highest, unless the anchors say it is a side peak.

Two neighbouring interior images can correlate almost as well at a side
offset as at the true one (a repeating texture, a sharp edge that a shifted
edge half matches). Measured on a 3D cell: one pair in fifty took a side
peak 5–9 px away with a NCC within 0.01 of the true peak's, and a
least-squares fit spread the error over its correct neighbours (2–3 px on
three views). The anchors, interpolated in angle, say roughly where every
view is (to the jitter between them); a pair whose highest peak is far from
what they imply, while another peak of nearly the same height is near it,
takes that one (:func:`choose_peaks`).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import maximum_filter

__all__ = ["local_peaks", "anchor_prior", "choose_peaks", "jumps_kept", "far_from_prior"]


def local_peaks(nmap, radius_px, *, within=0.15, max_peaks=4):
    """Sub-pixel local maxima of an NCC map whose value is within ``within`` of the best.

    Parameters
    ----------
    nmap : NCCMap
    radius_px : int
        Half-width of the spline window around each maximum.
    within : float
        Keep maxima with NCC ≥ best − ``within``.
    max_peaks : int

    Returns
    -------
    list of ``(shift, value)``
        Best first; ``shift`` is ``(s_row, s_col)`` px.
    """
    v = np.where(np.isfinite(nmap.values), nmap.values, -np.inf)
    is_max = (v == maximum_filter(v, size=3, mode="constant", cval=-np.inf)) & np.isfinite(v)
    idx = np.argwhere(is_max)
    vals = v[is_max]
    order = np.argsort(vals)[::-1]
    best = vals[order[0]] if len(order) else -np.inf
    out = []
    for k in order[:max_peaks]:
        if vals[k] < best - within:
            break
        coarse = np.array([nmap.rows[idx[k][0]], nmap.cols[idx[k][1]]], dtype=np.float64)
        out.append(nmap.spline(coarse, radius_px).peak(coarse))
    return out


def anchor_prior(angles, anchor_obs):
    """Every view's shift ``(rows, cols)`` px from the anchors alone, interpolated in angle (None: < 2 anchors)."""
    sums, counts = {}, {}
    for i, a in anchor_obs:
        sums[i] = sums.get(i, 0.0) + np.asarray(a, dtype=np.float64)
        counts[i] = counts.get(i, 0) + 1
    if len(sums) < 2:
        return None
    views = np.array(sorted(sums, key=lambda i: angles[i]))
    at = np.asarray(angles, dtype=np.float64)
    known = np.array([sums[i] / counts[i] for i in views])
    return np.column_stack([np.interp(at, at[views], known[:, k]) for k in range(2)])


def choose_peaks(pair_obs, hypotheses, offsets, prior, *, far_px=2.5, gain_px=2.0, within=0.1, spread=3.0):
    """Switch pairs from a side peak to the one the anchors imply; name the pairs that have none.

    Parameters
    ----------
    pair_obs : list of ``(i, j, d)``
        ``d`` = the highest peak less ``offsets[k]`` (the parallax).
    hypotheses : list of list of ``(shift, value)``
        :func:`local_peaks` of each pair (raw relative shifts, best first).
    offsets : list of ndarray ``(2,)``
    prior : ndarray ``(n, 2)`` or None
        :func:`anchor_prior`.
    far_px : float
        The highest peak is questioned only when it is farther than this
        from the relative shift the prior implies.
    gain_px : float
        Another peak is taken only when it is at least this much closer.
    within : float
        … and its NCC is within this of the highest.
    spread : float
        A pair left farther from the prior than ``max(far_px + 1.5, median
        + spread × 1.4826 MAD)`` of all pairs' distances (the jitter the
        anchors cannot see sets the scale) is *suspect*: no peak of its map
        agrees with the anchors, and a least-squares fit would spread its
        error over its neighbours.

    Returns
    -------
    list of ``(i, j, d)``
        The observations, switched where the rule says.
    list of dict
        ``pair``, ``old``, ``new`` and ``ncc_drop`` per switch.
    list of int
        Indices of the suspect pairs.
    """
    if prior is None:
        return list(pair_obs), [], []
    out, switches = [], []
    for (i, j, d), hyps, off in zip(pair_obs, hypotheses, offsets):
        want = prior[i] - prior[j] + off
        dist = [float(np.hypot(*(h - want))) for h, _ in hyps]
        if not hyps or dist[0] <= far_px:
            out.append((i, j, d))
            continue
        k = int(np.argmin(dist))
        if k > 0 and dist[k] <= dist[0] - gain_px and hyps[k][1] >= hyps[0][1] - within:
            new = np.asarray(hyps[k][0]) - off
            out.append((i, j, new))
            switches.append({"pair": (int(i), int(j)), "old": np.asarray(d).tolist(), "new": new.tolist(),
                             "ncc_drop": float(hyps[0][1] - hyps[k][1])})
        else:
            out.append((i, j, d))
    dist = np.array([float(np.hypot(*(np.asarray(d) - (prior[i] - prior[j])))) for i, j, d in out])
    return out, switches, [int(k) for k in np.flatnonzero(_beyond(dist, far_px + 1.5, spread))]


def _beyond(dist, floor, spread):
    """``dist`` above ``max(floor, median + spread · 1.4826 MAD)``: beyond what the jitter explains."""
    if len(dist) == 0:
        return np.zeros(0, bool)
    med = float(np.median(dist))
    return dist > max(floor, med + spread * 1.4826 * float(np.median(np.abs(dist - med))))


def far_from_prior(shifts_px, prior, *, floor_px=4.0, spread=3.0):
    """Views whose shift is farther from the anchors' prior than the jitter explains (empty without a prior).

    A view both of whose neighbour pairs took a side peak follows them; its
    distance from the anchors' interpolation gives it away.
    """
    if prior is None:
        return np.zeros(len(shifts_px), bool)
    return _beyond(np.hypot(*(np.asarray(shifts_px) - prior).T), floor_px, spread)


def jumps_kept(pair_obs, suspect, prior, *, tolerance_px=2.5):
    """``suspect`` less the two pairs of a view that jumped: they disagree with the anchors but not each other.

    A stage jump moves one view by ``J``: its pairs read ``−J`` and ``+J``
    (less the neighbours' small relative shift), and their sum agrees with what
    the anchors imply for the two neighbours. Side peaks do not line up so.
    Such a view keeps its own shift (flagged ``outlier`` later).
    """
    if prior is None or not suspect:
        return list(suspect)
    by_view = {}
    for k in suspect:
        i, j, _ = pair_obs[k]
        by_view.setdefault(i, []).append(k)
        by_view.setdefault(j, []).append(k)
    keep = set()
    for v, ks in by_view.items():
        before = [k for k in ks if pair_obs[k][1] == v]
        after = [k for k in ks if pair_obs[k][0] == v]
        if len(before) == 1 and len(after) == 1:
            (a, _, d1), (_, b, d2) = pair_obs[before[0]], pair_obs[after[0]]
            if np.hypot(*(np.asarray(d1) + np.asarray(d2) - (prior[a] - prior[b]))) <= tolerance_px:
                keep.update((before[0], after[0]))
    return [k for k in suspect if k not in keep]
