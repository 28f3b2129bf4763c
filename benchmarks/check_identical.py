"""Bit-identity check for refactors: a fixed sample of validation cells, rerun and compared.

Cells (seed 0, library defaults as in ``benchmarks/validation.py``):

- section 1 (potentials): the first three cases of
  :func:`slt.estimators.validation.potential_cases` at nβ = 10⁴ (x² + y⁴, x² + y⁴ + z⁶ and
  x²y⁴ + x⁴y² + x⁸ + y⁸: MALA with its measured burn-in and the step scan);
- section 3 (two doors): ``Regression("w1*w2*x", n=1000)`` through both doors (γ = 1);
- one short run of every sampler the torch backend registers, on a 2→4→1 tanh MLP at a given
  step (so each kernel's numbers are compared, not only the defaults' choice).

``--save FILE`` stores every number (full precision); ``--compare FILE`` reruns and reports the
largest absolute difference per cell (0.0 everywhere: bit-identical).

Run: ``python benchmarks/check_identical.py --save out/before.json`` before a change and
``python benchmarks/check_identical.py --compare out/before.json`` after it.
"""
from __future__ import annotations

import argparse
import json
import math
import warnings

import numpy as np


def _llc_row(res) -> dict:
    return dict(llc=res.mean, se=res.se, rhat=res.rhat, ess=res.ess, acceptance=res.acceptance,
                step=res.config.step_size, burnin=res.config.num_burnin, thin=res.config.thin,
                sampler=res.config.sampler, trace_sum=float(np.sum(res.loss_traces)),
                nu=None if res.fluctuation is None else res.fluctuation.nu)


def cells() -> dict[str, dict]:
    """Every cell's numbers, keyed by a readable name."""
    import torch

    from slt.errors import SLTWarning
    from slt.estimators import estimate_llc
    from slt.estimators.validation import potential_cases
    from slt.models import Regression
    from slt.nn import estimate_llc as nn_llc
    from slt.nn.backend import TorchBackend
    from slt.nn.models import regression_module

    torch.set_num_threads(1)
    out: dict[str, dict] = {}
    warnings.simplefilter("ignore", SLTWarning)
    for case in [c for c in potential_cases() if c.nbeta == 1e4][:3]:
        res = estimate_llc(case.model, nbeta=case.nbeta, gamma=case.gamma, seed=0, exact=False)
        out[f"potential {case.name}"] = _llc_row(res)
    toy = Regression("w1*w2*x", n=1000, seed=0)
    out["doors numba"] = _llc_row(estimate_llc(toy, gamma=1.0, seed=0))
    module, data, loss_fn = regression_module(toy)
    out["doors torch"] = _llc_row(nn_llc(module, data, loss_fn=loss_fn, gamma=1.0, seed=0))
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    X = torch.randn(64, 2, dtype=torch.float64)
    y = torch.sin(X[:, :1]) + 0.1 * torch.randn(64, 1, dtype=torch.float64)
    mse = torch.nn.functional.mse_loss
    for sampler in TorchBackend.samplers:
        res = nn_llc(net, (X, y), loss_fn=mse, nbeta=50.0, sampler=sampler, step_size=1e-3, num_chains=4,
                     num_draws=40, num_burnin=20, seed=0, fluctuation_points=0)
        out[f"torch {sampler}"] = _llc_row(res)
    return out


def compare(before: dict, after: dict) -> list[str]:
    """One line per cell: the largest absolute difference of its numbers (or what differs)."""
    lines = []
    for name, row in before.items():
        new = after.get(name)
        if new is None:
            lines.append(f"{name}: missing after")
            continue
        diffs = []
        for k, v in row.items():
            w = new.get(k)
            if isinstance(v, (int, float)) and isinstance(w, (int, float)) and v is not None:
                diffs.append(0.0 if (math.isnan(v) and math.isnan(w)) else abs(v - w))
            elif v != w:
                diffs.append(math.inf)
        lines.append(f"{name}: max |difference| {max(diffs):.3g}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", help="store the numbers in this JSON file")
    g.add_argument("--compare", help="rerun and compare with this JSON file")
    args = ap.parse_args(argv)
    now = cells()
    if args.save:
        with open(args.save, "w") as f:
            json.dump(now, f, indent=1)
        print(f"saved {len(now)} cells to {args.save}")
        return 0
    with open(args.compare) as f:
        before = json.load(f)
    lines = compare(before, now)
    print("\n".join(lines))
    return 0 if all(line.endswith(" 0") for line in lines) else 1


if __name__ == "__main__":
    raise SystemExit(main())
