"""Light-field reconstruction: ISRA, Richardson-Lucy, ADMM and the unfolded networks.

Run from the repository root:  python benchmarks/lfm_reconstruction.py  [--n-val 4]
[--n-test 8] [--device cpu|cuda]

Chapter 10's microscope (``lfm.Optics()``: 20x / 0.5 NA, 15x15 pixels per lenslet, 15
depths, 3x3 voxels per lenslet) on 21x21 lenslets. Light fields of synthetic neuron
volumes from the finer model (2x voxels and depths), Poisson noise at 100 and 1000 photons
at the brightest pixel plus one count of read noise. Each baseline runs to its best
iteration and ADMM with its best (rho, lambda), both chosen on the validation volumes;
the shipped networks ``lfm_unfolded`` (semi-supervised, 3 layers, rank 48),
``lfm_unfolded_labelled`` (its labelled-only ablation), ``lfm_unfolded_fast``
(semi-supervised, 2 layers, rank 32) and ``lfm_unfolded_single`` (one layer, rank 32) with
its labelled-only ablation run as they are. Reported: mean PSNR on the test volumes, time per volume (one CPU thread
by default, batch of all test volumes), and each method's time over the network's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import config, lfm, weights  # noqa: E402
from mbdl_teach.plotting import format_table  # noqa: E402

PHOTONS = (100, 1000)
BASELINES = lfm.BASELINES
NETS = ("lfm_unfolded", "lfm_unfolded_labelled", "lfm_unfolded_fast", "lfm_unfolded_single",
        "lfm_unfolded_single_labelled")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-val", type=int, default=4)
    parser.add_argument("--n-test", type=int, default=8)
    parser.add_argument("--max-isra", type=int, default=400)
    parser.add_argument("--max-rl", type=int, default=300)
    parser.add_argument("--admm-iters", type=int, default=80)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config.setup(seed=0, threads=1, verbose=False)
    device = torch.device(args.device)
    optics = lfm.Optics()
    op = lfm.LightField(lfm.psf(optics)).float().to(device)
    fine = lfm.FineModel(optics)
    lenslets = (21, 21)
    x_val, y_val = fine.sample(lenslets, args.n_val, seed=lfm.VALIDATION_SEED)
    x_test, y_test = fine.sample(lenslets, args.n_test, seed=lfm.TEST_SEED)
    x_val, x_test = x_val.to(device), x_test.to(device)
    nets = {n: weights.load(n, device=device)[0] for n in NETS}
    rows, ratio_rows = [], []
    for p in PHOTONS:
        yv = lfm.add_noise(y_val, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0).to(device)
        yt = lfm.add_noise(y_test, p, seed=lfm.TEST_SEED + p).clamp_min(0).to(device)
        tuned = lfm.tune_baselines(yv, x_val, op, args.max_isra, args.max_rl, args.admm_iters)
        res, _, _ = lfm.compare(yt, x_test, op, tuned, nets, repeat=5)
        setting = {"ISRA": f"{tuned['isra']} it", "Richardson-Lucy": f"{tuned['rl']} it",
                   "ADMM": "{} it, rho {}, lam {}".format(tuned["admm"][2], *tuned["admm"][:2])}
        for m in BASELINES + NETS:
            layers = f"{nets[m].n_layers} layers, rank {nets[m].rank}" if m in nets else ""
            rows.append([p, m, setting.get(m, layers), res[m][0], f"{1e3 * res[m][1]:.1f}"])
        for net in NETS:
            ratio_rows.append([p, net] + [f"{res[m][1] / res[net][1]:.0f}x" for m in BASELINES]
                              + [f"{res[net][0] - res[m][0]:+.2f}" for m in BASELINES])
    print(f"{args.n_test} test volumes (21x21 lenslets, 15x63x63 voxels), device {device}")
    print(format_table(rows, ["photons", "method", "setting", "PSNR (dB)", "ms / volume"]))
    print(format_table(ratio_rows, ["photons", "net"] + [f"time {m} / net" for m in BASELINES]
                       + [f"net - {m} (dB)" for m in BASELINES]))


if __name__ == "__main__":
    main()
