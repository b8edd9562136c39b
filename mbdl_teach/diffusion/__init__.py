"""Diffusion models as priors for inverse problems (chapter 07).

A denoising diffusion model (DDPM, Ho et al. 2020) learns to undo Gaussian noising. The
forward process ``q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)`` needs no learning;
a network ``eps(x_t, t)`` is trained to predict the noise that was added, and sampling
runs the noising backwards (ancestral DDPM, or DDIM's deterministic-to-stochastic family,
Song et al. 2021). The same network is a prior for inverse problems:

* :func:`as_denoiser`: the model as a :class:`mbdl_teach.denoisers.Denoiser` at any noise
  level, so chapter 05's :func:`mbdl_teach.pnp.hqs` takes it unchanged (HQS with the
  diffusion denoiser);
* :func:`diffpir`: DiffPIR (Zhu et al. 2023), that data step inside the sampler, with a
  weight from the noise level and re-noising between steps;
* :func:`dps`: diffusion posterior sampling (Chung et al. 2023), a gradient of the data term
  through the network's estimate of ``x_0`` (the paper's constant step, or a weight that
  follows the noise schedule);
* :func:`ddnm`: range-null-space projection (Wang et al. 2023) of that estimate onto the
  measurements, with a regularised pseudo-inverse set from the noise level (DDNM+);
* :func:`indigo`: INDigo (You, Floros & Dragotti 2023): an invertible network trained to
  simulate the degradation (:class:`mbdl_teach.inn.DegradationINN`) replaces the coarse part
  of the estimate by the measurement; no formula for ``H`` is needed.

Every guided sampler takes the measurement's noise std ``sigma_y`` ([0, 1] scale) and sets
its data weight from it. Images are ``(B, 1, H, W)`` tensors in [0, 1] with ``H`` and ``W`` multiples of 4; inside,
the network works on ``2 x - 1`` in [-1, 1], as diffusion models do.
"""

from .model import (SCHEDULES, DiffusionModel, Schedule, UNet, ddim_step, ddpm_step,
                    diffusion_batches, epsilon_loss, q_sample)
from .guidance import (DDNM_DELTA_MIN, DIFFPIR_LAM, DIFFPIR_ZETA, DPS_SCALE, GUIDANCE,
                       DiffusionDenoiser,
                       as_denoiser, check_shipped, ddnm, diffpir, dps, indigo,
                       load_model, posterior_mean)

__all__ = ["SCHEDULES", "Schedule", "q_sample", "UNet", "DiffusionModel", "ddpm_step",
           "ddim_step", "epsilon_loss", "diffusion_batches", "DiffusionDenoiser",
           "as_denoiser", "load_model", "ddnm", "dps", "diffpir", "indigo", "posterior_mean",
           "check_shipped", "GUIDANCE", "DDNM_DELTA_MIN", "DIFFPIR_LAM", "DIFFPIR_ZETA",
           "DPS_SCALE"]
