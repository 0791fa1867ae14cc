"""``--slabs N`` for ``isxt reconstruct``: plan, ``--dry-run`` lines and the distributed solve."""

from __future__ import annotations

from ..errors import InputError

__all__ = ["SlabRun", "slab_options"]


class SlabRun:
    """A slab-distributed reconstruction of one acquisition on a Dask scheduler."""

    def __init__(self, acq, slabs, scheduler, checkpoint_every):
        from ..operators import gaussian_kernel
        from .slab_cgls import SlabPlan

        geometries = [s.geometry() for s in acq.scans]
        kernels = [gaussian_kernel(s.psf_fwhm_um, g.pixel_size_um) if s.psf_fwhm_um else None
                   for s, g in zip(acq.scans, geometries)]
        try:
            self.plan = SlabPlan(geometries, kernels, acq.volume, slabs)
        except ValueError as e:
            raise InputError(f"{acq.path}: reconstruction.slabs: {e}") from None
        self.slabs, self.scheduler, self.checkpoint_every = slabs, scheduler, checkpoint_every

    def describe(self):
        return [f"scheduler: {self.scheduler}", *self.plan.describe()]

    def reconstruct(self, scans, volume, **options):
        """:func:`isxt.reconstruct`'s call, run by :func:`.slab_cgls.reconstruct_slabs` on the scheduler."""
        from .cluster import open_client
        from .slab_cgls import reconstruct_slabs

        with open_client(self.scheduler) as client:
            return reconstruct_slabs(scans, volume, client, self.slabs, checkpoint_every=self.checkpoint_every,
                                     **options)


def slab_options(args, acq):
    """A :class:`SlabRun` when ``--slabs`` / ``[reconstruction] slabs`` asks for more than one slab, else None."""
    r = acq.reconstruction
    slabs = getattr(args, "slabs", None) or r.get("slabs", 1)
    if slabs is None or slabs <= 1:
        if slabs is not None and slabs < 1:
            raise InputError(f"--slabs must be a positive integer, got {slabs}")
        return None
    scheduler = getattr(args, "scheduler", None) or acq.compute.get("scheduler")
    if scheduler is None:
        raise InputError(f"{acq.path}: slabs = {slabs} needs a Dask scheduler; add --scheduler local:{slabs} "
                         "(or [compute] scheduler)")
    every = getattr(args, "checkpoint_every", None) or r.get("checkpoint_every", 10)
    if every < 1:
        raise InputError(f"--checkpoint-every must be a positive integer, got {every}")
    if r["method"] not in ("cgls", "sirt", "pwls") or r["stop"] != "fixed" or r["backend"] != "numba":
        raise InputError(f"{acq.path}: slabs > 1 supports method = 'cgls', 'sirt' or 'pwls', stop = 'fixed', "
                         "backend = 'numba' only")
    return SlabRun(acq, slabs, scheduler, every)
