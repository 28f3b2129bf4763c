"""The LLC of your own torch model, with its convergence report (about a minute on one core).

    python examples/llc_of_your_model.py [--quick]

Swap in your own model and data: `make_model_and_data` returns any `nn.Module` trained to a
minimum of its loss and the data it was trained on.  Here a 2-8-1 tanh network is fitted to data
from a 2-2-1 teacher: it has more parameters than the function needs, so its minimum is singular
and the LLC sits far below half the parameter count d/2 (the value of a regular model).
`slt.nn.estimate_llc` runs with its defaults (sampler, chains, step and burn-in chosen from the
problem's size) and reports how far to trust the number: R-hat and ESS of the loss traces, and a
warning for every check that failed, saying what to change (more draws, a larger gamma, ...).
The Hessian's rank(H)/2 … d/2 are the bounds on λ as nβ → ∞; at this nβ eigenvalues below
about 1/nβ look flat to the sampler, so λ̂ may sit below rank(H)/2.
"""
import argparse
import time
import warnings

import torch
from torch import nn

import slt.nn
from slt.nn.hessian import spectrum
from slt.nn.models import gaussian_nll, train
from slt.report import Column, quantity, table


def make_model_and_data(n: int, epochs: int) -> tuple[nn.Module, tuple[torch.Tensor, torch.Tensor]]:
    """A trained 2-8-1 tanh network and its data (y = teacher(x) + N(0, 0.1²))."""
    g = torch.Generator().manual_seed(0)
    X = torch.randn(n, 2, generator=g, dtype=torch.float64)
    teacher = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1)).double()
    with torch.no_grad():
        y = teacher(X) + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1)).double()
    train(model, (X, y), loss_fn=gaussian_nll, lr=1e-2, epochs=epochs, seed=0)
    return model, (X, y)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer samples, epochs and draws (seconds)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    model, data = make_model_and_data(n=300 if args.quick else 1000, epochs=300 if args.quick else 1500)
    d = sum(p.numel() for p in model.parameters())
    rank_half, d_half = spectrum(model, data, gaussian_nll).llc_bounds()
    settings = {"num_draws": 200, "num_burnin": 500} if args.quick else {}
    with warnings.catch_warnings(record=True) as caught:  # the report below lists them
        warnings.simplefilter("always")
        res = slt.nn.estimate_llc(model, data, loss_fn=gaussian_nll, seed=0, progress=False, **settings)
    cfg = res.config
    print(f"2-8-1 tanh network, d = {d} parameters, n = {data[0].shape[0]}; trained and estimated in "
          f"{time.time() - t0:.0f} s")
    print(table([
        {"quantity": "LLC λ̂", "value": quantity(res.mean, se=res.se)},
        {"quantity": "λ̂ + βν̂ (data term added back)", "value": quantity(res.corrected, se=res.corrected_se)},
        {"quantity": "Hessian bounds rank/2 … d/2", "value": f"{rank_half:g} … {d_half:g}"},
        {"quantity": "sampler, chains × draws", "value": f"{cfg.sampler}, {cfg.num_chains} × {res.loss_traces.shape[1]}"},
        {"quantity": "nβ, γ, step", "value": f"{res.nbeta:.4g}, {res.gamma:.4g}, {float(cfg.step_size):.3g}"},
        {"quantity": "R-hat (split, loss traces)", "value": quantity(res.rhat, digits=3)},
        {"quantity": "ESS (bulk)", "value": quantity(res.ess, digits=3)},
        {"quantity": "acceptance of a MALA step", "value": quantity(res.acceptance, digits=3)},
    ], [Column("quantity", "convergence report"), Column("value")]))
    print("warnings: " + ("none" if not res.warnings else "\n  " + "\n  ".join(res.warnings)))
    checks_hold = res.rhat <= 1.01 and res.ess >= 100
    top = res.corrected if res.corrected is not None else res.mean
    top_se = res.corrected_se if res.corrected_se is not None else res.se
    print(f"claim: the network is singular, λ̂ + βν̂ below d/2 by more than 3 se: "
          f"{'yes' if top + 3 * top_se < d_half else 'NO'} ({top:.2f} against {d_half:g})")
    print(f"claim: the report flags what did not converge (R-hat ≤ 1.01 and ESS ≥ 100, or a warning): "
          f"{'yes' if checks_hold or res.warnings else 'NO'} ({len(caught)} warnings)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
