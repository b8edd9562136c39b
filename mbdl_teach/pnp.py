"""Plug-and-play (chapter 05): HQS and ADMM with a denoiser as the prior.

The solvers live in :mod:`mbdl_teach.solvers` (the one solver layer of the package); this
module keeps the chapter-05 names: ``pnp.hqs`` is :func:`mbdl_teach.solvers.hqs`, and so on.
"""

from .solvers import DenoiserFn, History, admm, dpir_sigmas, hqs, initial_estimate

__all__ = ["DenoiserFn", "History", "admm", "dpir_sigmas", "hqs", "initial_estimate"]
