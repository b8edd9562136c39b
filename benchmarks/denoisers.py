"""The course's denoisers side by side: PSNR on the held-out images and run time.

Run from the repository root:  python benchmarks/denoisers.py  [--size 256] [--no-bm3d]

Every denoiser goes through the common interface ``denoisers.load(name)(y, sigma)`` with
the true sigma (non-blind). Noise: one draw per image and sigma (seed = CRC-32 of the name
+ sigma). PSNR (dB) of the output clipped to [0, 1], on ``data.TEST_IMAGES``; time is the
mean seconds per image on this machine (one torch thread). The shipped networks were
trained on sigma in [0, 25]/255 ("dncnn", "winnet") or at 50/255 ("dncnn50", "winnet50").
"""

from __future__ import annotations

import argparse
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import data, denoisers, metrics, weights  # noqa: E402
from mbdl_teach.plotting import format_table  # noqa: E402

SIGMAS = (15, 25, 50)


def noisy(name: str, size: int | None, sigma: float) -> tuple[torch.Tensor, torch.Tensor]:
    x = data.load_image(name, size=size)[None]
    g = torch.Generator().manual_seed(zlib.crc32(f"{name}{sigma:g}".encode()))
    return x, data.add_gaussian_noise(x, sigma / 255, generator=g)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side (0: full size)")
    parser.add_argument("--no-bm3d", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    size = args.size or None
    names = ["wavelet"] + ([] if args.no_bm3d or not denoisers.bm3d_available()[0] else ["bm3d"])
    names += [n for n in ("dncnn", "winnet", "dncnn50", "winnet50") if n in weights.read_manifest()]
    rows = []
    for name in names:
        den = denoisers.load(name)
        row, secs = [name, den.num_parameters()], []
        for s in SIGMAS:
            vals = []
            for img in data.TEST_IMAGES:
                x, y = noisy(img, size, s)
                t0 = time.perf_counter()
                out = den(y, s / 255)
                secs.append(time.perf_counter() - t0)
                vals.append(float(metrics.psnr(out.clamp(0, 1), x)))
            row.append(float(np.mean(vals)))
        rows.append(row + [float(np.mean(secs))])
        print(f"{name} done", flush=True)
    header = ["denoiser", "parameters"] + [f"sigma {s}" for s in SIGMAS] + ["s / image"]
    print(f"\nMean PSNR (dB) on {', '.join(data.TEST_IMAGES)} at size {size or 'full'}")
    print(format_table(rows, header, floatfmt=".2f"))


if __name__ == "__main__":
    main()
