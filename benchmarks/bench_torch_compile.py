"""torch.compile of the torch backend's sampling step, and chains split across devices (issue 19).

For each model -- a small MLP, an MLP of about 10⁵ parameters and a one-layer attention model on
modular addition -- one prepared run of :meth:`slt.nn.backend.TorchBackend.run` (SGLD, 8 chains,
minibatches, the same seed) measures, in the same process and with one torch thread:

- **eager**: sampling steps per second without compiling (after a warm-up run);
  eager, compiled and split runs alternate for ``--rounds`` rounds, each keeping its fastest;
- **compiled**: steps per second with ``compile=True`` once compiled, and the compile time (the
  first run's excess over the second; the inductor cache starts empty unless ``--warm-cache``);
- **ratio** compiled / eager steps per second, and the break-even: the steps after which the
  compiled run has paid back its compile time;
- **same numbers**: the largest difference of the loss traces, compiled vs eager, same seed,
  relative to the largest loss, and the relative difference of the λ̂ they give,
  nβ (mean trace − L(w*)) (float rounding, amplified along the trajectories);
- **split**: eager steps per second with the chains split over ``[device, device]`` against one
  device, and whether the traces are identical (they must be: streams come from (seed, chain)).

Writes ``bench_torch_compile.json`` to ``--out``.  These numbers decide the ``compile="auto"``
rule of :func:`slt.nn.backend.resolve_compile`.

Run: ``python benchmarks/bench_torch_compile.py [--quick] [--device cpu] [--out DIR]``.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Problem:
    name: str
    model: object
    X: object
    y: object
    loss_fn: object
    batch_size: int
    step_size: float


def problems(quick: bool) -> list[Problem]:
    """The three models, each at a point near a minimum (a few Adam steps from initialisation);
    the attention model is the one of ``simulations/grokking_llc.py``."""
    import torch
    from torch import nn

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from simulations.grokking_llc import build as attention_adder

    gen = torch.Generator().manual_seed(0)

    def mlp(width: int, inputs: int) -> nn.Module:
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(inputs, width), nn.Tanh(), nn.Linear(width, width), nn.Tanh(),
                             nn.Linear(width, 1))

    out = []
    Xs = torch.randn(256, 2, generator=gen)
    out.append(Problem("small MLP", mlp(16, 2), Xs, torch.tanh(Xs[:, :1] * Xs[:, 1:]), nn.functional.mse_loss, 64,
                       1e-4))
    Xb = torch.randn(1024, 16, generator=gen)
    out.append(Problem("MLP 1e5", mlp(300, 16), Xb, Xb[:, :1].sin(), nn.functional.mse_loss, 128, 1e-5))
    p = 23
    Xa = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    out.append(Problem("attention", attention_adder(p, 32, 0), Xa, (Xa[:, 0] + Xa[:, 1]) % p,
                       nn.functional.cross_entropy, 64, 1e-5))
    for pr in out:
        opt = torch.optim.Adam(pr.model.parameters(), lr=1e-2)
        for _ in range(20 if quick else 200):
            opt.zero_grad()
            pr.loss_fn(pr.model(pr.X), pr.y).backward()
            opt.step()
        pr.model.eval()
    return out


def timed_run(backend, cfg, steps: int, seed: int = 0):
    """(seconds, loss traces) of one ``steps``-step run from w*."""
    import torch

    from slt.estimators.backend import RunSpec

    center = backend.point()
    init = backend.start(center, cfg.num_chains, cfg.nbeta, cfg.gamma)
    if backend.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    chains = backend.run(RunSpec(cfg, center), init, num_steps=steps, thin=1, seed=seed)
    if backend.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, chains.loss_traces


def measure(pr: Problem, device: str, steps: int, chains: int, rounds: int) -> dict:
    """One model's row.  After the compiled backend's first run (the compile), eager, compiled and
    split runs alternate for ``rounds`` rounds and each keeps its fastest round (robust to other
    load on the machine)."""
    import numpy as np

    from slt.estimators.config import LLCConfig
    from slt.nn.backend import TorchBackend

    cfg = LLCConfig(nbeta=float(pr.X.shape[0]), gamma=100.0, step_size=pr.step_size, num_chains=chains,
                    num_draws=steps, num_burnin=0, thin=1, sampler="sgld", seed=0, batch_size=pr.batch_size)
    data = (pr.X, pr.y)
    backends = {"eager": TorchBackend(pr.model, data, pr.loss_fn, device=device, compile=False),
                "compiled": TorchBackend(pr.model, data, pr.loss_fn, device=device, compile=True),
                "split": TorchBackend(pr.model, data, pr.loss_fn, devices=[device, device], compile=False)}
    first, _ = timed_run(backends["compiled"], cfg, steps)
    timed_run(backends["eager"], cfg, max(steps // 10, 2))  # warm-up
    best, traces = {}, {}
    for _ in range(rounds):
        for name, backend in backends.items():
            t, traces[name] = timed_run(backend, cfg, steps)
            best[name] = min(best.get(name, np.inf), t)
    per = {name: t / steps for name, t in best.items()}
    compile_s = max(first - best["compiled"], 0.0)
    saving = per["eager"] - per["compiled"]
    eager = traces["eager"]
    return {
        "model": pr.name, "parameters": backends["eager"].dim, "n": backends["eager"].n,
        "batch_size": pr.batch_size, "chains": chains, "steps": steps, "rounds": rounds,
        "compile_status": backends["compiled"].evaluate.compile_status,
        "eager_steps_per_s": 1 / per["eager"], "compiled_steps_per_s": 1 / per["compiled"],
        "ratio_compiled_over_eager": per["eager"] / per["compiled"], "compile_s": compile_s,
        "break_even_steps": compile_s / saving if saving > 0 else None,
        "max_rel_diff_compiled_vs_eager": float(np.max(np.abs(traces["compiled"] - eager)) / np.max(np.abs(eager))),
        "llc_rel_diff_compiled_vs_eager": float(abs(traces["compiled"].mean() - eager.mean())
                                                / abs(eager.mean() - backends["eager"].loss(backends["eager"].point()))),
        "split_steps_per_s": 1 / per["split"], "ratio_split_over_one": per["eager"] / per["split"],
        "split_identical": bool(np.array_equal(traces["split"], eager)),
    }


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few steps and training steps (seconds per model)")
    ap.add_argument("--device", default="cpu", help="torch device (default cpu)")
    ap.add_argument("--steps", type=int, default=None, help="sampling steps per timed run (default 200; 10 quick)")
    ap.add_argument("--chains", type=int, default=8, help="chains (default 8)")
    ap.add_argument("--rounds", type=int, default=None, help="alternating timed rounds (default 3; 1 quick)")
    ap.add_argument("--warm-cache", action="store_true", help="keep the inductor's on-disk cache (default: a new one)")
    ap.add_argument("--out", default="benchmarks/out", help="output folder (default benchmarks/out)")
    args = ap.parse_args(argv)
    if not args.warm_cache:
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-")
    import torch

    torch.set_num_threads(1)
    steps = args.steps or (10 if args.quick else 200)
    rows = []
    for pr in problems(args.quick):
        row = measure(pr, args.device, steps, args.chains, args.rounds or (1 if args.quick else 3))
        rows.append(row)
        be = row["break_even_steps"]
        print(f"{row['model']:10s} d={row['parameters']:6d}  eager {row['eager_steps_per_s']:7.1f}/s  compiled "
              f"{row['compiled_steps_per_s']:7.1f}/s  ratio {row['ratio_compiled_over_eager']:5.2f}  compile "
              f"{row['compile_s']:5.1f} s  break-even {'never' if be is None else f'{be:.0f} steps'}  diff "
              f"{row['max_rel_diff_compiled_vs_eager']:.1e} (llc {row['llc_rel_diff_compiled_vs_eager']:.1e})  split {row['ratio_split_over_one']:4.2f}x "
              f"identical={row['split_identical']}  [{row['compile_status']}]", flush=True)
    result = {"device": args.device, "torch": torch.__version__, "threads": torch.get_num_threads(),
              "cold_cache": not args.warm_cache, "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_torch_compile.json").write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
