"""Light-field reconstruction: ISRA, Richardson-Lucy, ADMM and the unfolded networks.

Run from the repository root:  python benchmarks/lfm_reconstruction.py  [--n-val 4]
[--n-test 8] [--device cpu|cuda]  [--unseen [--kind beads]]  [--study]  [--kinds-study]
[--samples-study]

Chapter 10's microscope (``lfm.Optics()``: 20x / 0.5 NA, 15x15 pixels per lenslet, 15
depths, 3x3 voxels per lenslet) on 21x21 lenslets. Light fields of synthetic neuron
volumes from the finer model (2x voxels and depths), Poisson noise at 100 and 1000 photons
at the brightest pixel plus one count of read noise. Each baseline runs to its best
iteration and ADMM with its best (rho, lambda), both chosen on the validation volumes;
the shipped networks ``lfm_unfolded`` (semi-supervised, 3 layers, rank 48),
``lfm_unfolded_labelled`` (its labelled-only ablation), ``lfm_unfolded_fast``
(semi-supervised, 2 layers, rank 32) and ``lfm_unfolded_single`` (one layer, rank 32) with
its labelled-only ablation run as they are. Reported: mean PSNR on the test volumes, time per
volume (one CPU thread by default, batch of all test volumes), and each method's time over
the network's.

``--unseen``: a kind of sample the shipped network (``--net``, default
``lfm_unfolded_mult_fast``: 2 additive layers at rank 64 and one multiplicative, ISRA-like,
at rank 32) was not trained on (``--kind``, default beads; it was trained on neurons and
nuclei), light fields from the finer model.
Per photon level: ISRA's iteration chosen on 4 validation volumes of that kind; the shipped
network as it is, and after :func:`mbdl_teach.lfm.adapt` on 8 more light fields of that
kind (another seed, the same photon level; no volumes; its defaults: a head and a
Richardson-Lucy teacher, or ``--adapt-teacher none``: the re-synthesis loss, no head,
and ``--adapt-steps``, ``--adapt-lr``); per test volume: ISRA at the
validation-chosen iteration, ISRA at each volume's own best iteration (an oracle),
Richardson-Lucy at its validation-chosen iteration, the shipped and the adapted network,
and the times; Richardson-Lucy and ADMM (tuned on the same validation volumes) against the
adapted network.

``--study``: the rank and layer choice. Short trainings (``--study-steps``) of the
semi-supervised recipe on neurons and nuclei for several (rank, layers), scored on the
validation volumes of both kinds; and the subspace ceiling (the truth projected on the
leading eigenvectors) per rank, on validation volumes of every kind.

``--kinds-study``: ``lfm_unfolded_mult``'s recipe trained on all three kinds (beads too)
against the shipped network, per kind, on validation volumes (``--study-steps 1000`` is the
shipped network's length).

``--samples-study``: what held ``adapt``'s re-synthesis loss back on beads
(``lfm_unfolded_mult``): adapting on 8 or 32 unlabelled light fields against fine-tuning
the same network on 8 or 32 labelled bead volumes (``--study-steps 1200``), on the bead
validation volumes.
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


ADAPT_SEED = 400  # the unseen-sample mode's adaptation light fields (not training/val/test)
STUDY = ((48, 3), (80, 3), (96, 2), (96, 3), (96, 4), (112, 3))
CEILING_RANKS = (32, 48, 64, 80, 96, 112, 128)


def unseen(args, device) -> None:
    """The unseen-sample mode (see the module docstring)."""
    import time

    optics = lfm.Optics()
    op = lfm.LightField(lfm.psf(optics)).float().to(device)
    fine = lfm.FineModel(optics)
    lenslets = (21, 21)
    x_val, y_val = fine.sample(lenslets, args.n_val, seed=lfm.VALIDATION_SEED, kind=args.kind)
    x_ad, y_ad = fine.sample(lenslets, 8, seed=ADAPT_SEED, kind=args.kind)
    x_test, y_test = fine.sample(lenslets, args.n_test, seed=lfm.TEST_SEED, kind=args.kind)
    x_val, x_test = x_val.to(device), x_test.to(device)
    net, info = weights.load(args.net, device=device)
    print(f"{args.net}: trained on {info['data'].get('kinds', ['neurons'])}; unseen kind: "
          f"{args.kind}; {net.n_layers} layers, rank {net.rank}")
    rows, summary, baselines = [], [], []
    for p in args.photons:
        yv = lfm.add_noise(y_val, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0).to(device)
        ya = lfm.add_noise(y_ad, p, seed=ADAPT_SEED + p).clamp_min(0).to(device)
        yt = lfm.add_noise(y_test, p, seed=lfm.TEST_SEED + p).clamp_min(0).to(device)
        tr = lfm.Tracker(x_val, patience=30).start()
        lfm.baseline("ISRA", op, {"isra": args.max_isra})(yv, tr)
        k_val = tr.best[0]
        # Richardson-Lucy and ADMM, tuned on the same validation volumes, for reference
        tuned = lfm.tune_baselines(yv, x_val, op, args.max_isra, args.max_rl, args.admm_iters)
        other = {}
        for m in ("Richardson-Lucy", "ADMM"):
            tm = lfm.Tracker(x_test).start()
            out = lfm.baseline(m, op, tuned)(yt, callback=tm)
            other[m] = (lfm.volume_psnr(out, x_test), tm.seconds[-1] / len(yt))
        setting = {"Richardson-Lucy": f"{tuned['rl']} it",
                   "ADMM": "{2} it, rho {0}, lam {1}".format(*tuned["admm"])}
        # ISRA on the test volumes to max_isra, each volume's PSNR after every iteration
        per_it, secs = [], []
        t0 = time.perf_counter()

        def cb(k, x):
            secs.append(time.perf_counter() - t0)
            per_it.append(lfm.volume_psnr(x, x_test))
            return False

        with torch.no_grad():
            torch.manual_seed(0)
            import mbdl_teach.solvers as solvers
            solvers.isra(yt, op, args.max_isra, callback=cb)
        per_it = torch.stack(per_it)  # (n_iter, B)
        # time of ISRA alone (no PSNR in the loop) to the validation-chosen iteration
        _, t_isra = lfm.time_per_volume(
            lambda y: solvers.isra(y, op, k_val)[0], yt, repeat=3)
        t_ad = time.perf_counter()
        kw = {} if args.adapt_steps is None else {"n_steps": args.adapt_steps}
        if args.adapt_lr is not None:
            kw["lr"] = args.adapt_lr
        if args.adapt_teacher == "none":
            kw.update(teacher=None, head=0)
        adapted = lfm.adapt(net, ya, generator=torch.Generator().manual_seed(0), **kw)
        t_ad = time.perf_counter() - t_ad
        out_s, t_s = lfm.time_per_volume(net, yt, repeat=5)
        out_a, t_a = lfm.time_per_volume(adapted, yt, repeat=5)
        ps, pa = lfm.volume_psnr(out_s, x_test), lfm.volume_psnr(out_a, x_test)
        pi = per_it[k_val - 1]
        best_k = per_it.argmax(0) + 1
        po = per_it.max(0).values
        for b in range(len(x_test)):
            rows.append([p, b, f"{float(pi[b]):.2f}", f"{float(po[b]):.2f} ({int(best_k[b])})",
                         f"{float(other['Richardson-Lucy'][0][b]):.2f}",
                         f"{float(ps[b]):.2f}", f"{float(pa[b]):.2f}",
                         f"{float(pa[b] - pi[b]):+.2f}", f"{float(pa[b] - po[b]):+.2f}"])
        summary.append([p, k_val, f"{float(pi.mean()):.2f}", f"{float(po.mean()):.2f}",
                        f"{float(ps.mean()):.2f}", f"{float(pa.mean()):.2f}",
                        f"{1e3 * t_isra:.1f}", f"{1e3 * t_s:.1f}", f"{1e3 * t_a:.1f}",
                        f"{t_isra / t_a:.0f}x", f"{t_ad:.0f}",
                        f"{int((pa >= pi).sum())}/{len(pa)}", f"{int((pa >= po).sum())}/{len(pa)}"])
        for m, (pm, tm) in other.items():
            baselines.append([p, m, setting[m], f"{float(pm.mean()):.2f}", f"{1e3 * tm:.1f}",
                              f"{tm / t_a:.0f}x", f"{float((pa - pm).mean()):+.2f}",
                              f"{int((pa >= pm).sum())}/{len(pa)}"])
    steps = len(adapted.adapt_history)  # the steps adapt ran
    print(f"{args.n_test} test volumes of {args.kind} (21x21 lenslets, 15x63x63 voxels), "
          f"device {device}, adapt: {steps} steps on 8 light fields, teacher "
          f"{args.adapt_teacher}, head {'none' if adapted.head is None else adapted.head[0].out_channels}")
    print(format_table(rows, ["photons", "volume", "ISRA (val. it)", "ISRA oracle (it)",
                              "Richardson-Lucy (val. it)", "shipped", "adapted", "adapted - ISRA", "adapted - oracle"]))
    print(format_table(summary, ["photons", "ISRA it (val.)", "ISRA", "ISRA oracle", "shipped",
                                 "adapted", "ISRA ms/vol", "shipped ms/vol",
                                 "adapted ms/vol", "ISRA / adapted time", "adapt s",
                                 ">= ISRA", ">= oracle"]))
    print("the other baselines, tuned on the same validation volumes, against the adapted network")
    print(format_table(baselines, ["photons", "method", "setting", "PSNR", "ms/vol",
                                   "its time / adapted's", "adapted - it", "adapted >= it"]))


def study(args, device) -> None:
    """The rank and layer study (see the module docstring)."""
    import time

    from mbdl_teach.recipes.lfm import train_lfm

    optics = lfm.Optics()
    op = lfm.LightField(lfm.psf(optics)).float()
    fine = lfm.FineModel(optics)
    lenslets = (21, 21)
    rows = []
    val = {k: fine.sample(lenslets, 4, seed=lfm.VALIDATION_SEED, kind=k) for k in lfm.KINDS}
    for k, (x, _) in val.items():
        c = lfm.subspace_psnr(op, x, CEILING_RANKS)
        rows.append([k] + [f"{float(v.mean()):.2f}" for v in c.values()])
    print("subspace ceiling: PSNR (dB) of the truth projected on the leading eigenvectors, "
          "mean of 4 validation volumes")
    print(format_table(rows, ["kind"] + [f"rank {r}" for r in CEILING_RANKS]))
    rows = []
    for p in args.photons:
        for k in ("neurons", "nuclei"):
            x, y = val[k]
            yv = lfm.add_noise(y, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0)
            tr = lfm.Tracker(x, patience=30).start()
            lfm.baseline("ISRA", op, {"isra": args.max_isra})(yv, tr)
            rows.append(["ISRA (best it)", p, k, f"{tr.best[1]:.2f}", tr.best[0], ""])
    for rank, n_layers in STUDY:
        t0 = time.perf_counter()
        ck = Path(args.study_dir) / f"lfm_study_r{rank}_l{n_layers}.pt"
        train_lfm("lfm_unfolded", n_steps=args.study_steps, progress=False, checkpoint=ck,
                  sizes={"rank": rank, "n_layers": n_layers, "kinds": ("neurons", "nuclei")})
        t_train = time.perf_counter() - t0
        from mbdl_teach.training import load_checkpoint
        net = lfm.build_unfolded({k: list(v) if isinstance(v, tuple) else v
                                  for k, v in __import__("dataclasses").asdict(optics).items()},
                                 lenslets, n_layers, rank)
        net.load_state_dict(load_checkpoint(ck)["model"])
        for p in args.photons:
            for k in ("neurons", "nuclei"):
                x, y = val[k]
                yv = lfm.add_noise(y, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0)
                out, sec = lfm.time_per_volume(net, yv, repeat=3)
                rows.append([f"rank {rank}, {n_layers} layers", p, k,
                             f"{float(lfm.volume_psnr(out, x).mean()):.2f}",
                             f"{1e3 * sec:.1f} ms", f"{t_train:.0f} s"])
        print(rows[-1], flush=True)
    print(f"validation PSNR (dB), 4 volumes per kind, after {args.study_steps} training steps")
    print(format_table(rows, ["method", "photons", "kind", "PSNR", "it / time per volume",
                              "training"]))


def kinds_study(args, device) -> None:
    """Training on every kind at once: ``lfm_unfolded_mult``'s recipe on neurons, nuclei
    and beads (``--study-steps`` steps) against the shipped network (neurons and nuclei),
    scored per kind on 4 validation volumes beside ISRA at its best iteration."""
    import time

    from mbdl_teach.recipes.lfm import train_lfm
    from mbdl_teach.training import load_checkpoint

    optics = lfm.Optics()
    op = lfm.LightField(lfm.psf(optics)).float()
    fine = lfm.FineModel(optics)
    shipped = weights.load("lfm_unfolded_mult")[0]
    every = weights.load("lfm_unfolded_mult")[0]
    ck = Path(args.study_dir) / "lfm_study_mult_all_kinds.pt"
    t0 = time.perf_counter()
    train_lfm("lfm_unfolded_mult", n_steps=args.study_steps, progress=False, checkpoint=ck,
              sizes={"kinds": lfm.KINDS})
    t_train = time.perf_counter() - t0
    every.load_state_dict(load_checkpoint(ck)["model"])
    rows = []
    for kind in lfm.KINDS:
        x, y = fine.sample((21, 21), 4, seed=lfm.VALIDATION_SEED, kind=kind)
        for p in args.photons:
            yv = lfm.add_noise(y, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0)
            tr = lfm.Tracker(x, patience=30).start()
            lfm.baseline("ISRA", op, {"isra": args.max_isra})(yv, tr)
            with torch.no_grad():
                a, b = (float(lfm.volume_psnr(n(yv), x).mean()) for n in (shipped, every))
            rows.append([kind, p, f"{tr.best[1]:.2f} ({tr.best[0]} it)", f"{a:.2f}",
                         f"{b:.2f}", f"{b - a:+.2f}"])
    print(f"validation PSNR (dB), 4 volumes per kind; every kind: {args.study_steps} steps, "
          f"{t_train:.0f} s")
    print(format_table(rows, ["kind", "photons", "ISRA (best it)", "shipped (neurons, nuclei)",
                              "every kind", "difference"]))


def _fine_tune_labelled(net, x, y, photons: int, n_steps: int, lr: float, fresh: bool):
    """A copy of ``net`` fine-tuned on labelled volumes ``x`` (the labelled term of
    ``lfm_loss``; Adam, cosine schedule, batch 4), each step's light fields noised afresh
    (``fresh``) or noised once (seed 9), as a user with these volumes would have them."""
    import copy

    model = copy.deepcopy(net)
    model.op = net.op.twin()
    for q in model.parameters():
        q.requires_grad_(True)
    model.train()
    loss_fn = lfm.lfm_loss(model.op, resynthesis=0.0)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, n_steps)
    g = torch.Generator().manual_seed(0)
    fixed = lfm.add_noise(y, photons, seed=9).clamp_min(0)
    labelled = torch.ones(min(4, len(x)), dtype=torch.bool)
    for _ in range(n_steps):
        idx = torch.randperm(len(x), generator=g)[:4]
        yb = lfm.add_noise(y[idx], photons, seed=g).clamp_min(0) if fresh else fixed[idx]
        loss = loss_fn(model, (yb, x[idx], labelled))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    return model


def samples_study(args) -> None:
    """What limits ``adapt`` on beads: the shipped ``lfm_unfolded_mult`` adapted on 8 and on
    32 unlabelled bead light fields, against the same network fine-tuned on 8 and on 32
    labelled bead volumes (what no user has: the capacity check), on the 4 bead validation
    volumes beside ISRA at its best iteration (100 photons, ``--study-steps`` for the
    labelled fine-tunes)."""
    import time

    optics = lfm.Optics()
    op = lfm.LightField(lfm.psf(optics)).float()
    fine = lfm.FineModel(optics)
    L, p = (21, 21), 100
    x, y = fine.sample(L, 4, seed=lfm.VALIDATION_SEED, kind="beads")
    yv = lfm.add_noise(y, p, seed=lfm.VALIDATION_SEED + p).clamp_min(0)
    _, ya = fine.sample(L, 32, seed=500, kind="beads")  # the validation adaptation seed
    ya = lfm.add_noise(ya, p, seed=500 + p).clamp_min(0)
    xl, yl = fine.sample(L, 32, seed=lfm.TRAINING_SEED, kind="beads")
    net = weights.load("lfm_unfolded_mult")[0]
    tr = lfm.Tracker(x, patience=30).start()
    lfm.baseline("ISRA", op, {"isra": args.max_isra})(yv, tr)
    ref = lfm.volume_psnr(lfm.baseline("ISRA", op, {"isra": tr.best[0]})(yv), x)
    rows = [[f"ISRA ({tr.best[0]} it)", "", ""] + [f"{float(v):.2f}" for v in ref]
            + [f"{float(ref.mean()):.2f}", "", ""]]
    # adapt as this study measured it (2026-12-07, fourth session): the re-synthesis loss,
    # no head, 200 steps at lr 3e-3 (then constant; a cosine schedule since)
    rs = dict(teacher=None, head=0, n_steps=200, lr=3e-3)
    runs = [("shipped", 0, lambda: net),
            ("adapt, re-synthesis (unlabelled)", 8, lambda: lfm.adapt(net, ya[:8], **rs)),
            ("adapt, re-synthesis, 8 others", 8, lambda: lfm.adapt(net, ya[8:16], **rs)),
            ("adapt, re-synthesis (unlabelled)", 32, lambda: lfm.adapt(net, ya, **rs)),
            ("labelled, noise once", 8, lambda: _fine_tune_labelled(
                net, xl[:8], yl[:8], p, args.study_steps, args.study_lr, fresh=False)),
            ("labelled, fresh noise", 32, lambda: _fine_tune_labelled(
                net, xl, yl, p, args.study_steps, args.study_lr, fresh=True))]
    for name, n, make in runs:
        t0 = time.perf_counter()
        model = make()
        sec = time.perf_counter() - t0
        with torch.no_grad():
            v = lfm.volume_psnr(model(yv), x)
        rows.append([name, n or "", f"{sec:.0f}"] + [f"{float(a):.2f}" for a in v]
                    + [f"{float(v.mean()):.2f}", f"{float((v - ref).mean()):+.2f}",
                       f"{int((v >= ref).sum())}/4"])
        print(rows[-1], flush=True)
    print(f"4 bead validation volumes, {p} photons; labelled fine-tunes: {args.study_steps} "
          f"steps, lr {args.study_lr} (cosine), batch 4")
    print(format_table(rows, ["method", "samples", "s", "vol 0", "vol 1", "vol 2", "vol 3",
                              "mean", "- ISRA", ">= ISRA"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unseen", action="store_true")
    parser.add_argument("--kind", default="beads", choices=lfm.KINDS)
    parser.add_argument("--net", default="lfm_unfolded_mult_fast")
    parser.add_argument("--photons", type=int, nargs="+", default=list(PHOTONS))
    parser.add_argument("--adapt-steps", type=int, default=None,
                        help="lfm.adapt's n_steps (default: adapt's own default)")
    parser.add_argument("--adapt-lr", type=float, default=None,
                        help="lfm.adapt's lr (default: adapt's own default)")
    parser.add_argument("--adapt-teacher", default="richardson-lucy",
                        choices=("richardson-lucy", "none"),
                        help="none: adapt's re-synthesis loss, without a head")
    parser.add_argument("--study", action="store_true")
    parser.add_argument("--kinds-study", action="store_true")
    parser.add_argument("--samples-study", action="store_true")
    parser.add_argument("--study-steps", type=int, default=300)
    parser.add_argument("--study-dir", default="/tmp")
    parser.add_argument("--study-lr", type=float, default=1e-3,
                        help="--samples-study's labelled fine-tunes' learning rate")
    parser.add_argument("--n-val", type=int, default=4)
    parser.add_argument("--n-test", type=int, default=8)
    parser.add_argument("--max-isra", type=int, default=400)
    parser.add_argument("--max-rl", type=int, default=500)
    parser.add_argument("--admm-iters", type=int, default=80)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    config.setup(seed=0, threads=1, verbose=False)
    device = torch.device(args.device)
    if args.unseen:
        return unseen(args, device)
    if args.study:
        return study(args, device)
    if args.kinds_study:
        return kinds_study(args, device)
    if args.samples_study:
        return samples_study(args)
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
