"""Mixed X-ray separation on held-out synthetic panels: regression, ablation, method, bound.

Run from the repository root:
    python benchmarks/xray_separation.py [--panel 0 1 2] [--steps 150]
        [--supervised-steps 5000] [--export]

For each test panel (made from ``data.TEST_IMAGES`` only, see ``PANELS``): the regression
split of degree 2 and 3, and four :class:`~mbdl_teach.xray.SeparationNet` s trained on the
panel itself, all started from the degree-3 regression split: the *ablation* (self-supervised
without the exclusion term), the *method* (self-supervised: mixture + photograph +
exclusion, the paper's loss), *exclusion only* (no photograph term) and the *supervised
bound* (trained on this panel's ground truth: an oracle, not a method). Self-supervised runs
take at most ``--steps`` steps, keep the state with the lowest exclusion loss on the whole
panel and stop when it rises (``xray.train_separation``); the bound trains
``--supervised-steps`` steps and keeps its state of lowest error against the truth.
``--budget`` runs only the study that chose ``--steps`` on panels of training images.

``--unseen`` measures what a user gets on panels nothing was chosen on
(``UNSEEN_PANELS``: other pairs of test images, other seeds, noise ``--noise``): the
degree-3 regression split, the paper's per-panel self-supervised training with the
chapter's settings (seeds 0, 1, 2) and the network pre-trained on synthetic panels of
training images (``xray.separate``'s default, the shipped ``xray_pretrained`` for seed 0,
the same recipe with seeds 1 and 2), per panel, x1 and x2 gain over the regression.
``--options`` runs the study that chose between them on the validation panels (training
images): pre-trained as is, then adapted self-supervised on the panel for 50 or 150 steps
(all of them, or stopped by the exclusion loss), and per-panel training from scratch.
Reported: PSNR and SSIM
of ``x1`` and ``x2`` after mean matching. The panels, settings and training are the recipes'
(:mod:`mbdl_teach.recipes.xray`); ``--export`` ships each network as its recipe does
(``python -m mbdl_teach.recipes xray_<panel>_<variant> --export`` rebuilds one), and the
chapter-08 notebook scores the shipped networks.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import config, training, weights, xray  # noqa: E402
from mbdl_teach.recipes import xray as xrecipes  # noqa: E402
from mbdl_teach.xray import gain_over_regression as gain  # noqa: E402

PANELS, TRAINING_PANELS, SETTINGS = xrecipes.PANELS, xrecipes.TRAINING_PANELS, xrecipes.SETTINGS


def scores(a, b, p) -> dict:
    return {"x1_psnr": round(xray.mean_matched_psnr(a, p.x1), 2),
            "x2_psnr": round(xray.mean_matched_psnr(b, p.x2), 2),
            "x1_ssim": round(xray.mean_matched_ssim(a, p.x1), 3),
            "x2_ssim": round(xray.mean_matched_ssim(b, p.x2), 3),
            "exclusion": round(float(xray.exclusion_loss(a, b)), 4)}


train = xrecipes.train_on_panel


def run_panel(i: int, size: int, steps: int, sup_steps: int, export: bool) -> dict:
    vis, con, seed = PANELS[i]
    p = xray.synthetic_panel(vis, con, seed=seed, size=size)
    out = {"panel": f"{vis}/{con}", "size": size}
    for deg in (2, 3):
        out[f"regression{deg}"] = scores(*xray.regression_split(p.x, p.r1, deg), p)
    for variant, kw in SETTINGS.items():
        truth = (p.x1, p.x2) if kw.get("supervised") else None
        t0 = time.perf_counter()
        n = sup_steps if kw.get("supervised") else steps
        net, hist = train(p, seed, n, truth=truth, **kw)
        with torch.no_grad():
            a, b = net(p.x, p.r1)
        out[variant] = scores(a, b, p) | {"steps": hist.steps, "best_step": net.best_step,
                                          "seconds": round(time.perf_counter() - t0)}
        print(vis, con, variant, out[variant], flush=True)
        if export:  # ship it as its recipe does (python -m mbdl_teach.recipes NAME --export)
            name = f"xray_{vis}_{variant}"
            ckpt = weights.RESUME_DIR / f"{name}.resume.pt"
            training.save_checkpoint(ckpt, net, step=net.best_step, history=hist,
                                     extra={"budget": n})
            with open("/tmp/mbdl_manifest.lock", "w") as lock:  # panels run in parallel
                fcntl.flock(lock, fcntl.LOCK_EX)
                xrecipes.export_xray(name, "quick", ckpt)
    return out


def budget_study(size: int, budgets=(150, 300, 600)) -> None:
    """The self-supervised method on the training panels with growing step budgets, and
    started from degree 2 instead of 3: x2 PSNR against regression (how the budget and the
    start of the test runs were chosen)."""
    print("method on training panels: x2 PSNR (dB) by start and step budget (steps run)")
    for vis, con, seed in TRAINING_PANELS:
        p = xray.synthetic_panel(vis, con, seed=seed, size=size)
        reg = [scores(*xray.regression_split(p.x, p.r1, d), p)["x2_psnr"] for d in (2, 3)]
        row = [f"{vis}/{con}: regression 2 {reg[0]:.2f}, 3 {reg[1]:.2f}"]
        for degree, n in [(2, budgets[0])] + [(3, b) for b in budgets]:
            net, h = train(p, seed, n, degree, **SETTINGS["method"])
            with torch.no_grad():
                row.append(f"degree {degree}, {n}: {scores(*net(p.x, p.r1), p)['x2_psnr']:.2f} "
                           f"({h.steps})")
        print(", ".join(row), flush=True)


def pretrained(seed: int):
    """The shipped ``xray_pretrained`` (seed 0) or its recipe run with another seed (its
    best state cached in ``checkpoints/xray_pretrained_seed<seed>.pt``)."""
    if seed == 0:
        return weights.load("xray_pretrained")[0]
    cache = weights.RESUME_DIR / f"xray_pretrained_seed{seed}.pt"
    net = xray.SeparationNet(**xrecipes.NET)
    if cache.is_file():
        net.load_state_dict(torch.load(cache, weights_only=True))
        return net.eval()
    net, hist = xrecipes.pretrain(seed)
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(net.state_dict(), cache)
    print(f"pre-trained seed {seed}: {hist.steps} steps, {hist.seconds:.0f} s, best step "
          f"{net.best_step}, validation gain {max(hist.val_values):+.2f} dB", flush=True)
    return net


def summary(rows: list[tuple[float, float]]) -> str:
    t = torch.tensor(rows)
    return " ".join(f"x{c + 1}: mean {t[:, c].mean():+.2f}, > 0 on {int((t[:, c] > 0).sum())}, "
                    f">= 0.3 on {int((t[:, c] >= 0.3).sum())} of {len(rows)};" for c in (0, 1))


def unseen(size: int, noise: float, seeds=(0, 1, 2), steps: int = 150,
           out: str | None = None, methods=("pretrained", "per-panel")) -> None:
    """Per panel and seed: x1/x2 gain over degree-3 regression on :data:`UNSEEN_PANELS`."""
    panels = [xray.synthetic_panel(v, c, seed=s, size=size, noise=noise)
              for v, c, s in xrecipes.UNSEEN_PANELS]
    names = [f"{v}/{c}" for v, c, _ in xrecipes.UNSEEN_PANELS]
    res = {}
    for seed in seeds if "pretrained" in methods else ():
        net = pretrained(seed)
        t0 = time.perf_counter()
        rows = [gain(*xray.separate(p.x, p.r1, net), p).tolist() for p in panels]
        ms = (time.perf_counter() - t0) / len(panels) * 1e3
        res[f"pretrained, seed {seed}"] = rows
        print(f"pre-trained seed {seed} ({ms:.0f} ms/panel): " + summary(rows), flush=True)
    for seed in seeds if "per-panel" in methods else ():
        rows, t0 = [], time.perf_counter()
        for p in panels:
            n, _ = train(p, seed, steps, **SETTINGS["method"])
            with torch.no_grad():
                rows.append(gain(*n(p.x, p.r1), p).tolist())
        res[f"per-panel, seed {seed}"] = rows
        print(f"per-panel seed {seed} ({(time.perf_counter() - t0) / len(panels):.0f} "
              f"s/panel): " + summary(rows), flush=True)
    print(f"\nx1 / x2 gain over degree-3 regression (dB), noise {noise}")
    print("panel".ljust(15) + "".join(k.ljust(22) for k in res))
    for i, name in enumerate(names):
        print(name.ljust(15) + "".join(f"{r[i][0]:+.2f} / {r[i][1]:+.2f}".ljust(22)
                                       for r in res.values()))
    if out:
        Path(out).write_text(json.dumps({"noise": noise, "panels": names, "gains": res},
                                        indent=1) + "\n")


def options(size: int, noise: float = 0.01) -> None:
    """The choice between pre-trained, pre-trained and adapted, and per-panel training,
    on the validation panels (training images; the pre-training left their pairs out)."""
    import copy

    net0 = weights.load("xray_pretrained")[0]
    rows = {}
    for v, c, s in xrecipes.VALIDATION_PANELS:
        p = xray.synthetic_panel(v, c, seed=s, size=size, noise=noise)
        row = {"pre-trained": gain(*xray.separate(p.x, p.r1, net0), p).tolist()}
        for n in (50, 150):
            row[f"adapted {n}"] = gain(*xray.separate(p.x, p.r1, net0, adapt_steps=n), p).tolist()
            net = copy.deepcopy(net0).train()
            xray.train_separation(net, p.x, p.r1, n_steps=n, patch=32, batch=8,
                                  check_every=10, patience=3, **SETTINGS["method"])
            with torch.no_grad():
                row[f"adapted {n}, exclusion stop"] = gain(*net(p.x, p.r1), p).tolist()
        n, _ = train(p, 0, 150, **SETTINGS["method"])
        with torch.no_grad():
            row["per-panel"] = gain(*n(p.x, p.r1), p).tolist()
        rows[f"{v}/{c}"] = row
        print(f"{v}/{c}: " + ", ".join(f"{k} {a:+.2f}/{b:+.2f}" for k, (a, b) in row.items()),
              flush=True)
    for k in next(iter(rows.values())):
        print(f"{k}: " + summary([r[k] for r in rows.values()]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--panel", type=int, nargs="*", default=list(range(len(PANELS))))
    parser.add_argument("--steps", type=int, default=150,
                        help="most steps of the self-supervised runs (chosen on training "
                             "panels: longer runs lowered the exclusion loss and worsened x2)")
    parser.add_argument("--supervised-steps", type=int, default=5000)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--export", action="store_true")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    parser.add_argument("--budget", action="store_true",
                        help="only the step-budget study on the training panels")
    parser.add_argument("--unseen", action="store_true",
                        help="only the panels nothing was chosen on (UNSEEN_PANELS)")
    parser.add_argument("--options", action="store_true",
                        help="only the study of pre-training and adaptation (validation)")
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="*", default=["pretrained", "per-panel"],
                        choices=["pretrained", "per-panel"], help="with --unseen")
    args = parser.parse_args()
    config.setup(seed=0, threads=1, verbose=False)
    if args.unseen:
        unseen(args.size, args.noise, args.seeds, args.steps, args.out, args.methods)
        return
    if args.options:
        options(args.size, args.noise)
        return
    if args.budget:
        budget_study(args.size)
        return
    results = [run_panel(i, args.size, args.steps, args.supervised_steps, args.export)
               for i in args.panel]
    cols = ("regression2", "regression3", "ablation", "method", "exclusion_only", "supervised")
    print("\nx2 PSNR (dB) / SSIM after mean matching")
    print("panel".ljust(14) + "".join(c.ljust(16) for c in cols))
    for r in results:
        print(r["panel"].ljust(14) + "".join(
            f"{r[c]['x2_psnr']:.2f}/{r[c]['x2_ssim']:.3f}".ljust(16) for c in cols))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
