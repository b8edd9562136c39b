"""Speed of mbdl_teach.lifting.dwt2 / idwt2 beside PyWavelets' wavedec2 / waverec2.

Run from the repository root:  python benchmarks/lifting_speed.py  [--repeats 7] [--threads N]

The workload of the course's claim: CDF 9/7, 3 levels, a batch of 16 grayscale images of
512x512 (the bundled training images, then held-out ones to make 16), float32.
PyWavelets gets its best: wavedec2 with wavelet "bior4.4" and mode "periodization" (the
transform lifting computes), image by image in a loop, on float32 and on float64 input;
the faster of the two is the baseline (a batched call with axes=(-2, -1) is timed too).
Every timing is the median of --repeats runs after one warm-up run. The ratio is
PyWavelets' best time / lifting's time (> 1: lifting is faster). Torch runs with its default
thread count (printed) and again with one thread, the fair match for PyWavelets' single
thread. On a machine shared with other jobs, multi-threaded timings vary from run to run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pywt
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import data, lifting  # noqa: E402


def median_time(fn, repeats: int) -> float:
    """Median wall time of ``fn()`` over ``repeats`` runs, after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def images(batch: int = 16, size: int = 512) -> torch.Tensor:
    """``batch`` bundled grayscale images, (batch, 1, size, size) float32."""
    names = (list(data.TRAIN_IMAGES) + list(data.TEST_IMAGES))[:batch]
    return data.load_images(names, size).float()


def time_pywt(x: torch.Tensor, levels: int, repeats: int) -> dict:
    """PyWavelets' wavedec2 / waverec2 in a loop (float32 and float64) and batched."""
    out = {}
    for name, dtype in (("float32", np.float32), ("float64", np.float64)):
        ims = [im.astype(dtype) for im in x[:, 0].numpy()]
        out[f"wavedec2 loop {name}"] = median_time(
            lambda: [pywt.wavedec2(im, "bior4.4", mode="periodization", level=levels) for im in ims], repeats
        )
        cs = [pywt.wavedec2(im, "bior4.4", mode="periodization", level=levels) for im in ims]
        out[f"waverec2 loop {name}"] = median_time(
            lambda: [pywt.waverec2(c, "bior4.4", mode="periodization") for c in cs], repeats
        )
    xb = x[:, 0].numpy()
    out["wavedec2 batched float32"] = median_time(
        lambda: pywt.wavedec2(xb, "bior4.4", mode="periodization", level=levels, axes=(-2, -1)), repeats
    )
    return out


def time_lifting(x: torch.Tensor, levels: int, repeats: int) -> dict:
    """lifting.dwt2 / idwt2 on the whole batch."""
    coeffs = lifting.dwt2(x, "cdf97", levels)
    return {
        "dwt2": median_time(lambda: lifting.dwt2(x, "cdf97", levels), repeats),
        "idwt2": median_time(lambda: lifting.idwt2(coeffs, "cdf97"), repeats),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per measurement (median)")
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    x = images()
    print(f"batch {tuple(x.shape)} {x.dtype}, CDF 9/7 (bior4.4, periodization), {args.levels} levels, "
          f"median of {args.repeats} after a warm-up")
    # the two transforms agree (lifting's detail bands carry the signs PYWT_SIGNS)
    ref = pywt.wavedec2(x[0, 0].double().numpy(), "bior4.4", mode="periodization", level=args.levels)
    ours = lifting.dwt2(x[:1].double(), "cdf97", args.levels)
    err = max(float(np.abs(ours[0][0, 0].numpy() - ref[0]).max()),
              *(float(np.abs(sg * b[0, 0].numpy() - r).max())
                for cb, rb in zip(ours[1:], ref[1:]) for sg, b, r in zip(lifting.PYWT_SIGNS[1:], cb, rb)))
    print(f"largest |lifting - PyWavelets| over all bands (float64): {err:.1e}")

    base = time_pywt(x, args.levels, args.repeats)
    for k, v in base.items():
        print(f"  PyWavelets {k:26s} {1e3 * v:8.1f} ms")
    best_dec = min(base["wavedec2 loop float32"], base["wavedec2 loop float64"])
    best_rec = min(base["waverec2 loop float32"], base["waverec2 loop float64"])
    default_threads = torch.get_num_threads()
    thread_counts = [default_threads] + ([1] if default_threads != 1 else [])
    for n in thread_counts:
        torch.set_num_threads(n)
        t = time_lifting(x, args.levels, args.repeats)
        print(f"torch threads = {n}:")
        print(f"  lifting dwt2  {1e3 * t['dwt2']:8.1f} ms   ratio PyWavelets wavedec2 (best loop) / "
              f"lifting dwt2 = {best_dec / t['dwt2']:.1f}")
        print(f"  lifting idwt2 {1e3 * t['idwt2']:8.1f} ms   ratio PyWavelets waverec2 (best loop) / "
              f"lifting idwt2 = {best_rec / t['idwt2']:.1f}")
    torch.set_num_threads(default_threads)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
