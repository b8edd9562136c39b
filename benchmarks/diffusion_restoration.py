"""Chapter 07's comparison at a larger scale: diffusion-prior solvers on held-out patches.

Run from the repository root:
    python benchmarks/diffusion_restoration.py [--n-test 32] [--steps 50] [--n-mean 8]

Two problems on 32x32 patches of ``data.TEST_IMAGES``, made on a grid twice as fine
(``data.degraded_patches``): Gaussian deblurring (std 1.6 px) and 4x block-mean
super-resolution, both with noise 0.01. Baselines: Tikhonov/Wiener (lambda tuned) and, for
super-resolution, bicubic interpolation. Solvers, all with the same number of network
evaluations: DiffPIR (``pnp.hqs`` with the model as denoiser, lambda tuned), DPS (zeta
tuned), DDNM (regularised pseudo-inverse, delta tuned), INDigo with the plain Haar INN and
with the shipped learned INNs. Every hyper-parameter is tuned on patches of
``data.TRAIN_IMAGES``. PSNR (dB) is the mean over patches of the output clipped to [0, 1];
"mean of K" averages K samples. Time is seconds per patch on one torch thread.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import data, diffusion, metrics, operators, pnp, weights  # noqa: E402
from mbdl_teach.inn import DegradationINN  # noqa: E402

SIGMA = 0.01


def psnr(out, x) -> float:
    return float(metrics.psnr(out.clamp(0, 1), x).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=32)
    parser.add_argument("--n-tune", type=int, default=16)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--n-mean", type=int, default=8)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = diffusion.load_model("diffusion")
    den = diffusion.as_denoiser(model)
    print(f"model: {model.info['steps']} training steps; {args.steps} sampler steps, "
          f"{args.n_test} test / {args.n_tune} tuning patches, means of {args.n_mean}")
    tasks = {
        "deblur": dict(op=operators.Blur(operators.gaussian_kernel(1.6)), std=1.6, factor=1,
                       inns={"Haar": DegradationINN(1, 0),
                             "learned, papers' loss": weights.load("inn_blur_l2")[0],
                             "learned, stable": weights.load("inn_blur")[0]},
                       coarse=lambda y: F.avg_pool2d(y, 2), deltas=(0.01, 0.03, 0.1)),
        "sr4": dict(op=operators.Downsample(4, operators.box_kernel(4)), std=None, factor=4,
                    inns={"Haar": DegradationINN(2, 0), "learned": weights.load("inn_sr4")[0]},
                    coarse=lambda y: y, deltas=(0.001, 0.01, 0.1)),
    }
    for name, t in tasks.items():
        op, s = t["op"], args.steps
        (xt, yt), (x, y) = (data.degraded_patches(images, n, 32, t["std"], SIGMA,
                                                  factor=t["factor"],
                                                  generator=torch.Generator().manual_seed(seed))
                            for images, n, seed in ((data.TRAIN_IMAGES, args.n_tune, 20),
                                                    (data.TEST_IMAGES, args.n_test, 10)))
        with torch.no_grad():
            lam = max([1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2],
                      key=lambda v: psnr(op.solve_normal(op.T(yt), v), xt))
            plam = max([0.05, 0.23, 1.0], key=lambda v: psnr(
                pnp.hqs(yt, op, den, s, noise_level=SIGMA, lam=v)[0], xt))
            zeta = max([0.3, 1.0, 3.0, 10.0], key=lambda z: psnr(diffusion.dps(
                yt, op, model, s, zeta=z, generator=torch.Generator().manual_seed(5)), xt))
            delta = max(t["deltas"], key=lambda d: psnr(diffusion.ddnm(
                yt, op, model, s, delta=d, generator=torch.Generator().manual_seed(5)), xt))
        print(f"\n{name}: tuned on training patches: Wiener lambda {lam:g}, DiffPIR lambda "
              f"{plam:g}, DPS zeta {zeta:g}, DDNM delta {delta:g}")
        rows = [("Wiener / Tikhonov", psnr(op.solve_normal(op.T(y), lam), x), None, None)]
        if t["factor"] > 1:
            rows.append(("bicubic", psnr(F.interpolate(y, scale_factor=4, mode="bicubic"), x),
                         None, None))
        methods = {
            "DiffPIR": (lambda g: pnp.hqs(y, op, den, s, noise_level=SIGMA, lam=plam)[0], 1),
            "DPS": (lambda g: diffusion.dps(y, op, model, s, zeta=zeta, generator=g), 1),
            "DDNM": (lambda g: diffusion.ddnm(y, op, model, s, delta=delta, generator=g),
                     args.n_mean),
        }
        for iname, net in t["inns"].items():
            methods[f"INDigo, {iname}"] = (
                lambda g, net=net: diffusion.indigo(t["coarse"](y), net, model, s, generator=g),
                args.n_mean if iname.startswith("learned") else 1)
        for method, (fn, k) in methods.items():
            g = torch.Generator().manual_seed(6)
            with torch.no_grad():
                t0 = time.perf_counter()
                samples = [fn(g)]
                sec = (time.perf_counter() - t0) / x.shape[0]
                samples += [fn(g) for _ in range(k - 1)]
            mean = psnr(torch.stack(samples).mean(0), x) if k > 1 else None
            rows.append((method, psnr(samples[0], x), mean, sec))
        base = rows[-len(methods) - 1][1]
        print(f"| method | one sample (dB) | gain | mean of {args.n_mean} (dB) | gain | s / patch |")
        print("|---|---|---|---|---|---|")
        for method, one, mean, sec in rows:
            m = f"{mean:.2f} | {mean - base:+.2f}" if mean is not None else "- | -"
            tm = f"{sec:.3f}" if sec is not None else "-"
            print(f"| {method} | {one:.2f} | {one - base:+.2f} | {m} | {tm} |")


if __name__ == "__main__":
    main()
