"""Light-field microscopy (chapter 10): the PSF from wave optics, the operator, the solvers.

* :mod:`.optics` - :class:`Optics` and :func:`psf` (Broxton et al. 2013's wave model);
* :mod:`.forward` - :class:`LightField`, the operator ``H`` (filter bank / per-frequency form);
* :mod:`.data` - synthetic volumes (neurons, nuclei, beads) and light fields from a finer model, noise, PSNR;
* :mod:`.recon` - the baselines (ISRA, Richardson-Lucy, ADMM) and the unfolded network :class:`UnfoldedLFM`;
* :mod:`.reference` - pyolaf's PSF for the same optics, for the comparison;
* :mod:`.adapt` - the subspace ceiling of a rank, and :func:`adapt`: fine-tuning a network on
  a user's own unlabelled light fields (a head, and Richardson-Lucy as its teacher).
"""

from .optics import Optics, psf, native_field, airy_radius
from .forward import LightField, polyphase, unpolyphase
from .data import (KINDS, TEST_SEED, TRAINING_SEED, VALIDATION_SEED, FineModel, add_noise,
                   bin_volume, fine_optics, lfm_batches, synthetic_volume, training_set, volume_psnr)
from .recon import (ADMM_GRID, BASELINES, Critic, Tracker, UnfoldedLFM, WithCritic,
                    baseline, build_unfolded, check_psnr, check_shipped, compare, lfm_loss,
                    time_per_volume, tune_baselines)
from .reference import psf_correlation, pyolaf_psf
from .adapt import adapt, subspace_psnr
