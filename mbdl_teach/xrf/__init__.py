"""Macro X-ray fluorescence (MA-XRF): emission lines, detector, a synthetic painting, and
element maps by five methods that share one call, ``method(cube, lines, detector)``:

* :func:`roi_maps` - window integration (the naive baseline);
* :func:`pymca_maps` - PyMca's ``FastXRFLinearFit`` (the field's tool);
* :func:`nnls_maps` - non-negative least squares on the line library (batched FISTA);
* :func:`fri_maps` - finite-rate-of-innovation pulses (Prony, Cadzow) with element
  discovery, and :func:`fri_pulses` for one spectrum;
* :class:`UnfoldedUnmixing` ``(lines, detector, n_layers).maps(cube)`` - the unmixing
  iteration unfolded into a trained network.

One measured spectrum: :func:`fit_spectrum` fits line-family areas, calibration and
resolution; :func:`pymca_example` reads the spectra shipped with PyMca and :func:`pymca_fit`
runs PyMca's own fit.

Parts: :mod:`.physics` (lines, detector, cube, files), :mod:`.fitting` (ROI, NNLS, PyMca,
scores), :mod:`.fri`, :mod:`.unfolded`, :mod:`.training` (:func:`train_unmixing`, the
shipped kind), :mod:`.spectrum` (one measured spectrum).
"""

from .fitting import library_operator, map_scores, nnls_fista, nnls_maps, pymca_config, pymca_maps, roi_maps
from .fri import (annihilating_filter, assign_pulses, cadzow, candidate_lines, fri_maps, fri_pulses,
                  gaussian_preweight, prony, unwarp, warp, warped_samples)
from .physics import (ELEMENTS, PALETTE, PIGMENTS, Cube, Detector, Lines, atomic_number, check_cube,
                      continuum, efficiency, load_cube, mixture_amounts, save_cube, simulate_spectra,
                      synthetic_cube)
from .spectrum import (SpectrumFit, escape_fraction, family_lines, fit_spectrum, pymca_example,
                       pymca_fit, pymca_peaks, pymca_setup, thick_sample, transmission)
from .training import (build_unmixing, library_mixtures, train_unmixing, unmixing_config,
                       validation_error)
from .unfolded import UnfoldedUnmixing, amount_loss, pigment_mixtures, unmixing_batches

__all__ = ["Lines", "Detector", "Cube", "synthetic_cube", "simulate_spectra", "save_cube", "load_cube",
           "check_cube", "atomic_number", "efficiency", "continuum", "mixture_amounts", "PIGMENTS",
           "PALETTE", "ELEMENTS", "roi_maps", "nnls_maps", "nnls_fista", "pymca_maps", "pymca_config",
           "library_operator", "map_scores", "fri_pulses", "fri_maps", "warp", "unwarp",
           "warped_samples", "gaussian_preweight", "annihilating_filter", "cadzow", "prony",
           "candidate_lines", "assign_pulses", "UnfoldedUnmixing", "pigment_mixtures",
           "unmixing_batches", "amount_loss", "train_unmixing", "library_mixtures",
           "validation_error", "build_unmixing", "unmixing_config", "fit_spectrum", "SpectrumFit", "family_lines",
           "transmission", "thick_sample", "escape_fraction", "pymca_example", "pymca_fit",
           "pymca_peaks", "pymca_setup"]
