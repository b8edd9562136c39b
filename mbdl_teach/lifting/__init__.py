"""The lifting scheme in torch: Haar, LeGall 5/3, CDF 9/7 and learnable lifting.

A lifting transform splits a signal into its even and odd samples (the *lazy wavelet*),
then alternates **predict** steps, which replace the odd samples by what the even ones fail
to predict (the details ``d``), and **update** steps, which correct the even samples so
that they keep the signal's average (the coarse part ``s``)
{cite}`sweldens1998lifting,daubechies1998factoring`::

    s, d = x[0::2], x[1::2]
    d <- d + P(s)            (predict, e.g. P(s)[k] = -(s[k] + s[k+1]) / 2)
    s <- s + U(d)            (update,  e.g. U(d)[k] = (d[k-1] + d[k]) / 4)
    s, d <- K s, d / K       (scaling, fixed schemes only)

Each step is inverted by subtracting what was added, in reverse order, whatever ``P`` and
``U`` are: this is why the scheme is perfectly invertible even with rounding
(integer-to-integer lifting) or with neural networks as ``P`` and ``U``.

Conventions
-----------
* **Axis.** :meth:`LiftingScheme.forward` works along one axis (``dim``) of a tensor of any
  shape, vectorised over all other axes (batch, channels, rows).
* **Boundary.** ``boundary="periodic"`` (default) extends even-length signals periodically;
  this is PyWavelets' ``mode="periodization"``. An odd-length signal cannot be split
  periodically into two interleaved sequences, so odd lengths are always extended
  *whole-sample symmetrically* (``x[-n] = x[n]``, ``x[N-1+n] = x[N-1-n]``) as in JPEG 2000;
  ``boundary="symmetric"`` uses that extension for every length. In the lifting domain this
  means the neighbours of ``s`` and ``d`` beyond the ends are read from their mirror images;
  for the symmetric schemes (5/3, 9/7) that is exactly lifting the symmetrically extended
  signal. Haar's steps are one-sided: the only neighbour it ever needs beyond an end is
  for the last even sample of an odd-length signal, which is updated with the last detail.
  A signal of length ``N``
  gives ``ceil(N/2)`` coarse and ``floor(N/2)`` detail coefficients (non-expansive), and the
  inverse rebuilds length ``len(s) + len(d)`` exactly.
* **Scaling and PyWavelets.** With the scaling step (``K = sqrt(2)`` for Haar and LeGall
  5/3, ``K = zeta = 1.149604398`` for CDF 9/7), and for even lengths with periodic
  boundary, the transform equals PyWavelets' ``dwt(x, w, mode="periodization")`` for
  ``w = "haar"``, ``"bior2.2"``, ``"bior4.4"`` with **no shift**: ``cA = s`` and
  ``cD = -d`` (lifting's detail is "odd minus prediction", PyWavelets' high-pass has the
  opposite sign). In 2-D the bands therefore agree with signs ``(+1, -1, -1, +1)`` for
  ``(cA, cH, cV, cD)`` (:data:`PYWT_SIGNS`).
* **2-D bands** (:func:`dwt2`): the rows are transformed first (along the width, ``dim=-1``),
  then the columns (along the height, ``dim=-2``). As in PyWavelets, ``cH`` is low-pass
  along the width and high-pass along the height (it responds to *horizontal* edges),
  ``cV`` is high-pass along the width (vertical edges), ``cD`` is high-pass along both.
"""

from .schemes import (BOUNDARIES, PYWT_NAMES, PYWT_SIGNS, SCHEMES, IntegerStep, LiftingScheme,
                      LiftingStep)
from .learnable import LearnableLifting, LiftingCoupling, MedianPredict
from .transform2d import Scheme, dwt2, idwt2, max_level

__all__ = [
    "SCHEMES",
    "PYWT_NAMES",
    "PYWT_SIGNS",
    "LiftingStep",
    "IntegerStep",
    "LiftingScheme",
    "LiftingCoupling",
    "LearnableLifting",
    "MedianPredict",
    "dwt2",
    "idwt2",
    "max_level",
]
