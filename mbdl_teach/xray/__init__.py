"""Mixed X-ray separation for paintings with a concealed design (chapter 08).

An X-ray of a panel painted on both sides, or of a painting over an abandoned one, shows
both designs superimposed: ``x = x1 + x2``. Only the visible surface has a colour
photograph ``r1``. Pu, Huang et al. (IEEE TIP 2022) model ``x1`` and ``x2`` as convolutional
sparse codes in one shared dictionary ``Xi``, with ``x1``'s codes also explaining the
photograph (``r1 ~ Omega * z1``), plus an *exclusion* term that keeps the edges of the two
components apart; they unfold the iterations into a network trained on the painting itself.

This package holds

* the data: :func:`synthetic_panel` (a documented, non-linear paint model applied to the
  bundled images) and :func:`load_panel` (a real X-ray and photograph pair from files);
* the baselines: :func:`regression_split` (``x1`` as a polynomial of ``r1``, fitted by least
  squares) and the network trained without the exclusion term;
* the method: :class:`ConvDictionary` (a convolutional dictionary as an operator, with its
  closed-form normal solve), :class:`SeparationOperator` (the mixture and the photograph term
  as one operator on both components' codes),
  :class:`SeparationNet` (an :class:`~mbdl_teach.unfolding.Unfolded` subclass started from
  the regression split), :func:`exclusion_loss`, :func:`separation_loss`,
  :func:`train_separation` (self-supervised on one panel, the paper's way) and
  :func:`pretrain_separation` (with the truth of many synthetic panels of other images,
  :func:`random_panels`, :func:`pretrain_batches`), and :func:`separate`, which by default
  separates with the shipped pre-trained network (on panels nothing was tuned on, the
  per-panel training over-separated; ``benchmarks/xray_separation.py --unseen``);
* the measure: :func:`mean_matched_psnr` and :func:`mean_matched_ssim` (the constant part
  of the split cannot be recovered from ``x`` and ``r1``).

Images are tensors: ``x`` (1, 1, H, W), ``r1`` (1, 3, H, W), values in [0, 1].
"""

from .paint import PIGMENTS, Panel, load_panel, paint_xray, random_panels, synthetic_panel
from .regression import regression_split
from .operators import ConvDictionary, SeparationOperator
from .exclusion import edge_map, exclusion_loss
from .network import SeparationNet, ista_codes_step
from .measures import mean_matched_psnr, mean_matched_ssim
from .training import (allocate_residual, gain_over_regression, network_gains, panel_batches,
                       pretrain_batches, pretrain_separation, separate, separation_loss,
                       train_separation)

__all__ = [
    "PIGMENTS", "Panel", "synthetic_panel", "random_panels", "paint_xray", "load_panel", "regression_split",
    "ConvDictionary", "SeparationOperator", "SeparationNet", "ista_codes_step", "edge_map", "exclusion_loss",
    "separation_loss", "panel_batches", "train_separation", "separate", "allocate_residual",
    "pretrain_batches", "pretrain_separation", "gain_over_regression", "network_gains",
    "mean_matched_psnr",
    "mean_matched_ssim",
]
