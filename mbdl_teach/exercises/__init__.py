"""Checkers that give a learner feedback on their own implementation of an exercise.

The generic :func:`check` runs the learner's function and a reference on random cases and
prints either a pass or what differs (shapes, dtype, the worst error and where). Each
exercise of the book has a small wrapper ``check_<name>(fn)``, in the module of its idea,
that knows how to make cases for it; this package gathers them all.
"""

from .harness import CheckResult, check
from .inverse import (reference_tikhonov_fourier, check_tikhonov_fourier,
    reference_hqs_x_step, check_hqs_x_step)
from .thresholding import (reference_soft_threshold, check_soft_threshold,
    reference_mad_sigma, check_mad_sigma, reference_bayes_threshold,
    check_bayes_threshold)
from .lifting import (reference_haar_lift, reference_haar_unlift, check_haar_lifting,
    reference_legall53_predict, reference_legall53_update, check_legall53_steps)
from .coupling import (reference_coupling_forward, reference_coupling_inverse,
    check_lifting_coupling)
from .noise_threshold import reference_noise_soft_threshold, check_noise_soft_threshold
from .splitting import reference_hqs_fourier_x_step, check_hqs_fourier_x_step
from .unfolding import (reference_ista_step, check_ista_step, reference_lista_layer,
    check_lista_layer)
from .diffusion import (reference_q_sample, check_q_sample, reference_ddnm_projection,
    check_ddnm_projection)
from .separation import (reference_exclusion_loss, check_exclusion_loss,
    reference_xray_ista_layer, check_xray_ista_layer)
from .pulses import (reference_annihilating_filter, check_annihilating_filter,
    reference_gaussian_preweight, check_gaussian_preweight)
from .light_field import (reference_strided_adjoint, check_strided_adjoint,
    reference_isra_update, check_isra_update)

__all__ = [
    "CheckResult", "check", "reference_tikhonov_fourier", "check_tikhonov_fourier",
    "reference_hqs_x_step", "check_hqs_x_step", "reference_soft_threshold",
    "check_soft_threshold", "reference_mad_sigma", "check_mad_sigma",
    "reference_bayes_threshold", "check_bayes_threshold", "reference_haar_lift",
    "reference_haar_unlift", "check_haar_lifting", "reference_legall53_predict",
    "reference_legall53_update", "check_legall53_steps", "reference_coupling_forward",
    "reference_coupling_inverse", "check_lifting_coupling",
    "reference_noise_soft_threshold", "check_noise_soft_threshold",
    "reference_hqs_fourier_x_step", "check_hqs_fourier_x_step", "reference_ista_step",
    "check_ista_step", "reference_lista_layer", "check_lista_layer",
    "reference_q_sample", "check_q_sample", "reference_ddnm_projection",
    "check_ddnm_projection", "reference_exclusion_loss", "check_exclusion_loss",
    "reference_xray_ista_layer", "check_xray_ista_layer",
    "reference_annihilating_filter", "check_annihilating_filter",
    "reference_gaussian_preweight", "check_gaussian_preweight",
    "reference_strided_adjoint", "check_strided_adjoint", "reference_isra_update",
    "check_isra_update",
]
