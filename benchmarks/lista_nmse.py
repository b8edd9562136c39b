"""Unfolded ISTA at the papers' scale: NMSE per layer and the ISTA iterations it is worth.

Run from the repository root:  python benchmarks/lista_nmse.py  [--steps 3000] [--quick]

The benchmark of Chen et al. (NeurIPS 2018) and Liu et al. (ICLR 2019): m = 250, n = 500,
Gaussian dictionary with unit-norm columns, Bernoulli(0.1)-Gaussian codes, noiseless,
T = 16 layers. ISTA and FISTA get the lambda of a grid chosen on the training codes; the
networks (LISTA, LISTA-CP with support selection, ALISTA with support selection) are trained
end to end on fresh batches for ``--steps`` steps (the papers train for hours on a GPU;
this is a CPU budget, so the learned networks are under-trained). Reported: test NMSE (dB)
at layers 4, 8, 12, 16 on 1000 test codes, and how many ISTA / FISTA iterations (their best
lambda, chosen on the training codes) reach each network's 16-layer NMSE.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mbdl_teach import config, data, solvers, unfolding  # noqa: E402
from mbdl_teach.plotting import format_table  # noqa: E402

LAMS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5]
SHOW = (4, 8, 12, 16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3000, help="training steps per network")
    parser.add_argument("--max-iter", type=int, default=5000, help="ISTA/FISTA iteration budget")
    parser.add_argument("--quick", action="store_true", help="the notebook's small problem (m=50, n=100)")
    args = parser.parse_args()
    config.setup(seed=0, threads=1, verbose=False)  # one thread: small matrices, shared CPU
    m, n = (50, 100) if args.quick else (250, 500)
    T = 16
    prob = data.SyntheticSparse(m, n, 0.1, generator=torch.Generator().manual_seed(1))
    train = prob.sample(1000, torch.Generator().manual_seed(2))
    test = prob.sample(1000, torch.Generator().manual_seed(3))
    D = prob.D
    lam_i, _ = solvers.tune_lambda(*train, D, LAMS, T)
    lam_f, _ = solvers.tune_lambda(*train, D, LAMS, T, method="fista")
    curves = {f"ISTA (lam {lam_i:g})": solvers.ista(test[0], D, solvers.prox_l1(lam_i), T,
                                                    ref=test[1])[1].nmse,
              f"FISTA (lam {lam_f:g})": solvers.fista(test[0], D, solvers.prox_l1(lam_f), T,
                                                      ref=test[1])[1].nmse}
    nets = {"LISTA": solvers.LISTA(D, T, lam=lam_i),
            "LISTA-CPSS": solvers.LISTA_CP(D, T, lam=lam_i, support_selection=(0.012, 0.13)),
            "ALISTA": solvers.ALISTA(D, T, lam=lam_i, support_selection=(0.012, 0.13))}
    lr = 3e-3 if args.quick else 5e-4
    seconds = {}
    for name, net in nets.items():
        t0 = time.perf_counter()
        unfolding.train_unfolded(net, prob.batches(64), args.steps, lr=lr, progress=True,
                                 milestones=[int(0.6 * args.steps), int(0.85 * args.steps)],
                                 gamma=0.3)
        seconds[name] = time.perf_counter() - t0
        curves[name] = unfolding.nmse_per_layer(net, *test)
    print(f"\nm = {m}, n = {n}, p = 0.1, noiseless, {T} layers, 1000 test codes; "
          f"{args.steps} training steps per network (batch 64)")
    print(format_table([[k] + [v[j] for j in SHOW] for k, v in curves.items()],
                       ["method", *[f"NMSE@{j} (dB)" for j in SHOW]], ".1f"))
    rows = []
    for name, net in nets.items():
        res = {m: solvers.iterations_matched(net, train, test, D, LAMS, args.max_iter, method=m) for m in ("ista", "fista")}
        row = [name, res["ista"][0], f"{seconds[name] / 60:.1f}"]
        for _, _, its in res.values():
            row += [f">{args.max_iter}" if its is None else its,
                    f">{args.max_iter / T:.0f}x" if its is None else f"{its / T:.1f}x"]
        rows.append(row)
    print("\nISTA / FISTA iterations (best lambda on the training codes) to reach each network's NMSE@16")
    print(format_table(rows, ["network", "NMSE@16", "train min", "ISTA its", "ratio", "FISTA its", "ratio"], ".1f"))


if __name__ == "__main__":
    main()
