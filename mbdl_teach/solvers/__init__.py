"""Solvers: iterations on any linear operator with any prior.

One signature, ``solver(y, op, prior, n_iter, x0=None, callback=None, ...) -> (x,
history)``, one :class:`History`, one callback ``callback(k, x)`` (True stops):

* proximal gradient (:mod:`.gradient`): :func:`ista`, :func:`fista` with a :class:`Prox`
  (:func:`prox_l1`, :func:`prox_nonneg`): the LASSO, non-negative least squares;
* splitting (:mod:`.splitting`): :func:`hqs`, :func:`admm` with a denoiser (plug-and-play)
  or a proximal map;
* multiplicative (:mod:`.multiplicative`): :func:`isra`, :func:`richardson_lucy` for
  non-negative data;
* the LASSO's bookkeeping (:mod:`.lasso`) and the LISTA family (:mod:`.lista`), the
  iterations unfolded into networks.

Every solver rejects a measurement with NaN or inf.
"""

from .core import Callback, History, Prox, as_operator, check_measurement, check_n_iter, \
    prox_l1, prox_nonneg
from .gradient import fista, ista, proximal_gradient, step_size
from .lasso import (METHODS, iterations_matched, iterations_to_reach, lasso_objective,
                    lipschitz, tune_lambda)
from .lista import ALISTA, LISTA, LISTA_CP, analytic_weight, soft_threshold_ss
from .multiplicative import flat_start, isra, richardson_lucy
from .splitting import DenoiserFn, admm, dpir_sigmas, hqs, initial_estimate

__all__ = [
    "Callback", "History", "Prox", "as_operator", "check_measurement", "check_n_iter",
    "prox_l1", "prox_nonneg", "proximal_gradient", "ista", "fista", "step_size",
    "METHODS", "lipschitz", "lasso_objective", "iterations_to_reach", "tune_lambda",
    "iterations_matched", "LISTA", "LISTA_CP", "ALISTA", "analytic_weight",
    "soft_threshold_ss", "isra", "richardson_lucy", "flat_start", "hqs", "admm",
    "dpir_sigmas", "initial_estimate", "DenoiserFn",
]
