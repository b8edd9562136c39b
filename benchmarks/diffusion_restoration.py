"""Chapter 07's comparison at a larger scale: diffusion-prior solvers on held-out patches.

Run from the repository root:
    python benchmarks/diffusion_restoration.py [--n-test 32] [--n-steps 50] [--n-mean 8]
                                               [--tasks deblur sr4 camera]
                                               [--methods hqs diffpir dps ddnm indigo]

``--methods`` restricts deblurring and super-resolution to some methods (their tuning and
their rows; Wiener and bicubic always run): every row draws from its own seeded generator,
so a row does not depend on which others ran.

Three problems on 32x32 patches of ``data.TEST_IMAGES``, made on a grid twice as fine
(``data.degraded_patches``):

* ``deblur``: Gaussian blur (std 1.6 px) and noise 0.01;
* ``sr4``: 4x block means and noise 0.01;
* ``camera``: the blur, then a camera's read-out (``inn.degradation.camera``: noise 0.01, a
  saturating response, 8-bit quantisation), a degradation with no usable closed form,
  known only from (clean, degraded) pairs of training patches.

Every sampler runs ``--n-steps`` network evaluations. For deblurring and super-resolution
each sampler runs with its noise-aware defaults (``sigma_y = 0.01`` given, everything else
left alone) and, beside that, with its main parameter tuned on a grid on
``data.TRAIN_IMAGES`` patches; "HQS + diffusion denoiser" is ``pnp.hqs`` with the model as
its denoiser (lambda tuned); DiffPIR is ``diffusion.diffpir``, the paper's sampler. For the
camera, the linear model is ``inn.degradation.fit_linear_blur`` on 64 training pairs; the
learned INN is the shipped ``inn_camera``; each sampler's ``sigma_y`` (noise plus its model's
own error) is chosen on training patches. PSNR (dB) is the mean over patches of the output
clipped to [0, 1]; "mean of K" averages K samples. Time is seconds per patch on one torch
thread.
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
from mbdl_teach.inn.degradation import (degraded_pairs, fit_linear_blur,  # noqa: E402
                                        quantile_linearisation)

SIGMA = 0.01
METHODS = ("hqs", "diffpir", "dps", "ddnm", "indigo")
LAMBDAS = [1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1]


def psnr(out, x) -> float:
    return float(metrics.psnr(out.clamp(0, 1), x).mean())


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def tune(grid, score, name):
    """The grid value with the best score; says so when it lies on the grid's edge."""
    scores = [score(v) for v in grid]
    k = max(range(len(grid)), key=scores.__getitem__)
    edge = " (edge of the grid)" if k in (0, len(grid) - 1) else ""
    print(f"  {name}: " + ", ".join(f"{v:g}: {s:.2f}" for v, s in zip(grid, scores))
          + f" -> {grid[k]:g}{edge}", flush=True)
    return grid[k]


def measure(methods, x, n_mean):
    """Rows (name, one sample, mean of n_mean or None, seconds per patch)."""
    rows = []
    for name, (fn, k) in methods.items():
        g = gen(6)
        t0 = time.perf_counter()
        samples = [fn(g)]
        sec = (time.perf_counter() - t0) / x.shape[0]
        samples += [fn(g) for _ in range(k - 1)]
        mean = psnr(torch.stack(samples).mean(0), x) if k > 1 else None
        rows.append((name, psnr(samples[0], x), mean, sec))
        print(f"  {name}: {rows[-1][1]:.2f}" + (f", mean {mean:.2f}" if mean else ""),
              flush=True)
    return rows


def table(rows, base_name, n_mean):
    base = next(r[1] for r in rows if r[0] == base_name)
    print(f"\n| method | one sample (dB) | gain | mean of {n_mean} (dB) | gain | s / patch |")
    print("|---|---|---|---|---|---|")
    for method, one, mean, sec in rows:
        m = f"{mean:.2f} | {mean - base:+.2f}" if mean is not None else "- | -"
        tm = f"{sec:.3f}" if sec is not None else "-"
        print(f"| {method} | {one:.2f} | {one - base:+.2f} | {m} | {tm} |")


def linear_task(name, args, model):
    s, n_mean = args.n_steps, args.n_mean
    den = diffusion.as_denoiser(model)
    if name == "deblur":
        op = operators.Blur(operators.gaussian_kernel(1.6))
        std, factor = 1.6, 1
        inns = {"Haar": DegradationINN(1, 0), "learned, papers' loss":
                weights.load("inn_blur_l2")[0], "learned, stable": weights.load("inn_blur")[0]}
        coarse, sigma_c = (lambda y: F.avg_pool2d(y, 2)), SIGMA / 2
        grids = dict(hqs=[0.05, 0.23, 1.0], delta=[0.03, 0.1, 0.3], dps=[1.0, 3.0, 10.0],
                     annealed=[0.5, 1.0, 1.5, 2.0], diffpir=[0.3, 1.0, 3.0, 10.0])
    else:
        op = operators.Downsample(4, operators.box_kernel(4))
        std, factor = None, 4
        inns = {"Haar": DegradationINN(2, 0), "learned": weights.load("inn_sr4")[0]}
        coarse, sigma_c = (lambda y: y), SIGMA
        grids = dict(hqs=[0.02, 0.05, 0.23],
                     delta=[1e-4, 0.001, 0.003, 0.01, 0.03, 0.1], dps=[3.0, 10.0, 30.0],
                     annealed=[0.5, 1.0, 1.5, 2.0],
                     diffpir=[0.03, 0.1, 0.3, 1.0, 3.0, 10.0])
    (xt, yt), (x, y) = (data.degraded_patches(images, n, 32, std, SIGMA, factor=factor,
                                              generator=gen(seed))
                        for images, n, seed in ((data.TRAIN_IMAGES, args.n_tune, 20),
                                                (data.TEST_IMAGES, args.n_test, 10)))
    print(f"\n{name}: tuning on {args.n_tune} training patches", flush=True)
    use = set(args.methods)
    with torch.no_grad():
        lam = tune(LAMBDAS, lambda v: psnr(op.solve_normal(op.T(yt), v), xt), "Wiener lambda")
        if "hqs" in use:
            hqs_lam = tune(grids["hqs"], lambda v: psnr(
                pnp.hqs(yt, op, den, s, noise_level=SIGMA, lam=v)[0], xt), "HQS lambda")
        if "ddnm" in use:
            delta = tune(grids["delta"], lambda d: psnr(diffusion.ddnm(
                yt, op, model, s, delta=d, generator=gen(5)), xt), "DDNM delta")
        if "diffpir" in use:
            dp_lam = tune(grids["diffpir"], lambda v: psnr(diffusion.diffpir(
                yt, op, model, s, sigma_y=SIGMA, lam=v, generator=gen(5)), xt),
                "DiffPIR lambda")
    if "dps" in use:
        zeta = tune(grids["dps"], lambda z: psnr(diffusion.dps(
            yt, op, model, s, guidance="constant", zeta=z, generator=gen(5)), xt),
            "DPS (constant) zeta")
        zeta_a = tune(grids["annealed"], lambda z: psnr(diffusion.dps(
            yt, op, model, s, sigma_y=SIGMA, zeta=z, generator=gen(5)), xt),
            "DPS (annealed) scale")
    rows = [("Wiener / Tikhonov", psnr(op.solve_normal(op.T(y), lam), x), None, None)]
    if factor > 1:
        rows.append(("bicubic", psnr(F.interpolate(y, scale_factor=4, mode="bicubic"), x),
                     None, None))
    k = n_mean
    methods = {}
    if "hqs" in use:
        methods[f"HQS + diffusion denoiser (lambda {hqs_lam:g})"] = (
            lambda g: pnp.hqs(y, op, den, s, noise_level=SIGMA, lam=hqs_lam)[0], 1)
    if "diffpir" in use:
        methods["DiffPIR, defaults"] = (lambda g: diffusion.diffpir(
            y, op, model, s, sigma_y=SIGMA, generator=g), 1)
        methods[f"DiffPIR, lambda {dp_lam:g}"] = (lambda g: diffusion.diffpir(
            y, op, model, s, sigma_y=SIGMA, lam=dp_lam, generator=g), 1)
    if "dps" in use:
        methods["DPS annealed, defaults"] = (lambda g: diffusion.dps(
            y, op, model, s, sigma_y=SIGMA, generator=g), 1)
        methods[f"DPS annealed, scale {zeta_a:g}"] = (lambda g: diffusion.dps(
            y, op, model, s, sigma_y=SIGMA, zeta=zeta_a, generator=g), 1)
        methods[f"DPS constant (paper), zeta {zeta:g}"] = (lambda g: diffusion.dps(
            y, op, model, s, guidance="constant", zeta=zeta, generator=g), 1)
    if "ddnm" in use:
        methods["DDNM, defaults"] = (lambda g: diffusion.ddnm(
            y, op, model, s, sigma_y=SIGMA, generator=g), k)
        methods[f"DDNM, delta {delta:g}"] = (lambda g: diffusion.ddnm(
            y, op, model, s, delta=delta, generator=g), 1)
    if "indigo" not in use:
        inns = {}
    for iname, net in inns.items():
        methods[f"INDigo, {iname}, defaults"] = (
            lambda g, net=net: diffusion.indigo(coarse(y), net, model, s, sigma_y=sigma_c,
                                                generator=g),
            k if iname in ("learned", "learned, stable") else 1)
    print(f"{name}: {args.n_test} held-out patches", flush=True)
    with torch.no_grad():
        rows += measure(methods, x, n_mean)
    print(f"\n{name}: tuned on training patches: Wiener lambda {lam:g}")
    table(rows, "Wiener / Tikhonov" if factor == 1 else "bicubic", n_mean)


def indigo_weight_task(args, model):
    """INDigo on the deblurring data with its noise-aware default weight beside a fixed
    weight tuned on the training patches (the grid the default should be within 0.5 dB of)."""
    s = args.n_steps
    inn = weights.load("inn_blur")[0]  # the learned, stable INN
    (xt, yt), (x, y) = (data.degraded_patches(images, n, 32, 1.6, SIGMA, factor=1,
                                              generator=gen(seed))
                        for images, n, seed in ((data.TRAIN_IMAGES, args.n_tune, 20),
                                                (data.TEST_IMAGES, args.n_test, 10)))
    coarse, sigma_c = (lambda v: F.avg_pool2d(v, 2)), SIGMA / 2
    print(f"\nindigo-weight: tuning on {args.n_tune} training patches", flush=True)
    with torch.no_grad():
        w = tune([0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0], lambda v: psnr(diffusion.indigo(
            coarse(yt), inn, model, s, sigma_y=sigma_c, weight=v, generator=gen(5)), xt),
            "INDigo (learned, stable) weight")
        methods = {
            "INDigo, learned (stable), defaults": (lambda g: diffusion.indigo(
                coarse(y), inn, model, s, sigma_y=sigma_c, generator=g), 1),
            f"INDigo, learned (stable), weight {w:g} (tuned)": (lambda g: diffusion.indigo(
                coarse(y), inn, model, s, sigma_y=sigma_c, weight=w, generator=g), 1),
        }
        rows = measure(methods, x, 1)
    table(rows, "INDigo, learned (stable), defaults", 1)


def camera_task(args, model):
    s, k = args.n_steps, args.n_mean
    inn, info = weights.load("inn_camera")
    cam = info["degradation"]["camera"]
    pairs = degraded_pairs(data.TRAIN_IMAGES, 64, 32, 1.6, 1, 1, gen(30), camera_args=cam,
                           coarse=False)
    op, b, res = fit_linear_blur(*pairs, size=9)
    lin = quantile_linearisation(*pairs)
    op_l, b_l, res_l = fit_linear_blur(pairs[0], lin(pairs[1]), size=9)
    with torch.no_grad():
        res_inn = float((inn.coarse(pairs[0]) - F.avg_pool2d(pairs[1], 2)).pow(2).mean().sqrt())
    print(f"\ncamera: linear fit y ~ k * x + {b:.3f}, residual {res:.4f}; after quantile "
          f"linearisation residual {res_l:.4f}; learned INN (2x2 means) residual "
          f"{res_inn:.4f}", flush=True)
    (xt, yt), (x, y) = (degraded_pairs(images, n, 32, 1.6, 1, 1, gen(seed), camera_args=cam,
                                       coarse=False)
                        for images, n, seed in ((data.TRAIN_IMAGES, args.n_tune, 20),
                                                (data.TEST_IMAGES, args.n_test, 10)))
    yct, yc = F.avg_pool2d(yt, 2), F.avg_pool2d(y, 2)
    sig = [0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16]
    print(f"camera: tuning on {args.n_tune} training patches", flush=True)
    with torch.no_grad():
        lam = tune(LAMBDAS, lambda v: psnr(op.solve_normal(op.T(yt - b), v), xt),
                   "Wiener (linear fit) lambda")
        lam_l = tune(LAMBDAS, lambda v: psnr(op_l.solve_normal(op_l.T(lin(yt) - b_l), v), xt),
                     "Wiener (linearised) lambda")
        s_in = tune(sig, lambda v: psnr(diffusion.indigo(yct, inn, model, s, sigma_y=v,
                                                         generator=gen(5)), xt),
                    "INDigo sigma_y")
        s_dd = tune(sig, lambda v: psnr(diffusion.ddnm(yt - b, op, model, s, sigma_y=v,
                                                       generator=gen(5)), xt),
                    "DDNM (linear fit) sigma_y")
        s_dl = tune(sig, lambda v: psnr(diffusion.ddnm(lin(yt) - b_l, op_l, model, s,
                                                       sigma_y=v, generator=gen(5)), xt),
                    "DDNM (linearised) sigma_y")
    s_ps = tune(sig, lambda v: psnr(diffusion.dps(yt - b, op, model, s, sigma_y=v,
                                                  generator=gen(5)), xt),
                "DPS (linear fit) sigma_y")
    s_pi = tune(sig, lambda v: psnr(diffusion.dps(yct, inn.coarse, model, s, sigma_y=v,
                                                  shape=xt.shape, generator=gen(5)), xt),
                "DPS (INN's coarse map) sigma_y")
    rows = [("degraded (as read out)", psnr(y, x), None, None),
            ("Wiener, linear fit", psnr(op.solve_normal(op.T(y - b), lam), x), None, None),
            ("Wiener, linearised data",
             psnr(op_l.solve_normal(op_l.T(lin(y) - b_l), lam_l), x), None, None)]
    methods = {
        "INDigo, learned INN": (lambda g: diffusion.indigo(yc, inn, model, s, sigma_y=s_in,
                                                           generator=g), k),
        "DDNM, linear fit": (lambda g: diffusion.ddnm(y - b, op, model, s, sigma_y=s_dd,
                                                      generator=g), k),
        "DPS, linear fit": (lambda g: diffusion.dps(y - b, op, model, s, sigma_y=s_ps,
                                                    generator=g), k),
        "DPS, learned INN's coarse map": (lambda g: diffusion.dps(
            yc, inn.coarse, model, s, sigma_y=s_pi, shape=x.shape, generator=g), k),
        "DDNM, linearised data": (lambda g: diffusion.ddnm(
            lin(y) - b_l, op_l, model, s, sigma_y=s_dl, generator=g), k),
    }
    print(f"camera: {args.n_test} held-out patches", flush=True)
    rows += measure(methods, x, k)
    table(rows, "Wiener, linearised data", k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-test", type=int, default=32)
    parser.add_argument("--n-tune", type=int, default=16)
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--n-mean", type=int, default=8)
    parser.add_argument("--tasks", nargs="+", default=["deblur", "sr4", "camera"],
                        choices=["deblur", "sr4", "camera", "indigo-weight"])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS),
                        help="deblur and sr4 only: the methods to tune and run")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = diffusion.load_model("diffusion")
    print(f"model: {model.info['steps']} training steps; {args.n_steps} sampler steps, "
          f"{args.n_test} test / {args.n_tune} tuning patches, means of {args.n_mean}")
    for task in args.tasks:
        if task == "camera":
            camera_task(args, model)
        elif task == "indigo-weight":
            indigo_weight_task(args, model)
        else:
            linear_task(task, args, model)


if __name__ == "__main__":
    main()
