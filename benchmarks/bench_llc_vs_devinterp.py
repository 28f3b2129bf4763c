"""Throughput of slt.nn.estimate_llc against devinterp 2.0.1 on the same MLP, data and settings.

MLP 2→64→64→1, n = 4096 regression points, batch 256, 8 chains, SGLD with the same step,
nβ and γ; CPU with ``torch.set_num_threads(1)`` (two torch threads stall on these machines).
devinterp is never a dependency of slt: this script creates ``benchmarks/out/devinterp-venv``
(``python -m venv --system-site-packages``) and runs ``pip install devinterp==2.0.1`` there, so
the main environment is untouched. If that install or import fails it says why and still
measures the bridge. Prints draws × chains per second of both and their ratio (same run),
and both estimates with standard errors.

``--dln`` instead compares accuracy (issue 6): the 75-parameter deep linear network 5-5-5-5 at
a rank-2 teacher (λ = 11, Aoyagi), n = 10⁴, Gaussian NLL, nβ = n/log n, γ = 1, batch 500.
devinterp runs 4 chains × 5000 draws at each step size in ``--lrs`` (its defaults otherwise,
no burn-in); slt runs its defaults (``slt.nn.llc.dln_llc``: ``step_size="auto"``).

Run: ``python benchmarks/bench_llc_vs_devinterp.py [--draws 500] [--skip-devinterp]``
     ``python benchmarks/bench_llc_vs_devinterp.py --dln [--lrs 1e-7 3e-7 1e-6]``
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
VENV = OUT / "devinterp-venv"
SETTINGS = dict(n=4096, batch_size=256, num_chains=8, step_size=1e-4, nbeta=100.0, gamma=100.0, seed=0)
DLN = dict(widths=(5, 5, 5, 5), rank=2, n=10_000, batch_size=500, num_chains=4, draws=5000, gamma=1.0, seed=0)

# Runs inside the devinterp venv; the problem is rebuilt from the same seeds.
DEVINTERP_SCRIPT = r"""
import json, sys, time, inspect, tempfile
import torch
torch.set_num_threads(1)
s = json.loads(sys.argv[1])
sys.path.insert(0, s["repo"])
from benchmarks.bench_llc_vs_devinterp import dln_problem, problem
model, X, y = problem(s["n"], s["seed"]) if s["problem"] == "mlp" else dln_problem()
import devinterp
from devinterp.slt import llc as llc_mod
fn = llc_mod.llc
print("devinterp", devinterp.__version__ if hasattr(devinterp, "__version__") else "?", "llc", inspect.signature(fn), file=sys.stderr)
import datasets
# devinterp 2.x is language-model shaped: rows of "input_ids" and a per-token loss
# loss_fn(model, input_ids) -> (batch, seq-1). Each row carries (x, y); the per-sample loss
# (squared error for the MLP, Gaussian NLL ½‖f(x) − y‖² for the DLN) is repeated in every
# "token" column, so devinterp's mean over tokens is the per-sample loss.
ds = datasets.Dataset.from_dict({"input_ids": torch.cat([X, y], 1).numpy()}).with_format("torch")
d_in, dtype = X.shape[1], X.dtype
def loss(model, ids):
    ids = ids.to(dtype)
    r = model(ids[:, :d_in]) - ids[:, d_in:]
    per_sample = (r ** 2).sum(1, keepdim=True) * (0.5 if s["problem"] == "dln" else 1.0)
    return per_sample.expand(-1, ids.shape[1] - 1)
kw = dict(model=model, dataset=ds, observables={}, loss_fn=loss, num_chains=s["num_chains"], num_draws=s["draws"],
          batch_size=s["batch_size"], lr=s["step_size"], n_beta=s["nbeta"], localization=s["gamma"], device="cpu",
          batches_per_draw=1, output_path=tempfile.mkdtemp() + "/run.zarr")
t = time.perf_counter()
res = fn(**kw)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "mean": float(res["llc_mean"]), "std": float(res["llc_std"]),
                  "init_loss": float(res["init_loss"]), "mean_loss": float(res["loss_trace"].mean())}))
"""


def problem(n: int, seed: int):
    """The benchmark MLP (float32) and data: y = sin(x1 x2) + 0.1 ε."""
    import torch
    from torch import nn

    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 2, generator=g)
    y = torch.sin(X[:, :1] * X[:, 1:]) + 0.1 * torch.randn(n, 1, generator=g)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))
    return model, X, y


def dln_problem():
    """The deep linear network of ``DLN`` at its rank-``rank`` teacher (float64) and its data."""
    from slt.nn.data import dln_data
    from slt.nn.models import dln_teacher

    teacher = dln_teacher(DLN["widths"], DLN["rank"], seed=DLN["seed"])
    X, y = dln_data(teacher, DLN["n"], seed=DLN["seed"] + 1)
    return teacher, X, y


def bridge(draws: int, vectorize: bool = True) -> dict:
    import torch

    from slt.nn import estimate_llc

    torch.set_num_threads(1)
    s = SETTINGS
    model, X, y = problem(s["n"], s["seed"])
    t = time.perf_counter()
    res = estimate_llc(model, (X, y), loss_fn=torch.nn.functional.mse_loss, nbeta=s["nbeta"], gamma=s["gamma"],
                       step_size=s["step_size"], num_chains=s["num_chains"], num_draws=draws, num_burnin=0,
                       batch_size=s["batch_size"], seed=s["seed"], device="cpu", vectorize=vectorize,
                       fluctuation_points=0)  # devinterp computes no ν̂: the same work on both sides
    dt = time.perf_counter() - t
    return {"seconds": dt, "mean": res.mean, "se": res.se, "std": res.std}


def devinterp(draws: int, timeout: float, settings: dict | None = None) -> dict:
    py = VENV / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True,
                           capture_output=True, text=True, timeout=timeout)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "devinterp==2.0.1"], check=True,
                       capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        return {"error": f"devinterp install failed: {(exc.stderr or exc.stdout).strip()[-600:]}"}
    except subprocess.TimeoutExpired:
        return {"error": f"devinterp install timed out after {timeout:.0f}s"}
    args = json.dumps({**SETTINGS, "problem": "mlp", **(settings or {}), "draws": draws,
                       "repo": str(Path(__file__).resolve().parent.parent)})
    try:
        done = subprocess.run([str(py), "-c", DEVINTERP_SCRIPT, args], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"devinterp run timed out after {timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": f"devinterp import/run failed: {done.stderr.strip()[-800:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def dln_accuracy(lrs: list[float], timeout: float, skip_devinterp: bool) -> dict:
    """λ̂ of slt's defaults and of devinterp at each step size on the DLN, against λ."""
    import torch

    from slt.estimators import default_nbeta
    from slt.nn.dln import dln_llc
    from slt.nn.models import gaussian_nll

    torch.set_num_threads(1)
    nbeta = default_nbeta(DLN["n"])
    t = time.perf_counter()
    res, lam = dln_llc(DLN["widths"], DLN["rank"], n=DLN["n"], gamma=DLN["gamma"], seed=DLN["seed"])
    rows = {"slt defaults": {"seconds": time.perf_counter() - t, "mean": res.mean, "se": res.se,
                             "step_size": res.config.step_size, "draws": res.config.num_draws,
                             "chains": res.config.num_chains}}
    teacher, X, y = dln_problem()
    with torch.no_grad():
        full_loss = float(gaussian_nll(teacher(X), y))  # L_n(w*) on all n samples
    for lr in [] if skip_devinterp else lrs:
        r = devinterp(DLN["draws"], timeout, dict(
            problem="dln", n=DLN["n"], seed=DLN["seed"], batch_size=DLN["batch_size"], num_chains=DLN["num_chains"],
            step_size=lr, nbeta=nbeta, gamma=DLN["gamma"]))
        rows[f"devinterp lr={lr:g}"] = r
        if "error" not in r:  # devinterp's L(w*) is a 32-minibatch estimate: its error, times nβ, shifts λ̂
            rows["  same, exact L_n(w*)" + f" lr={lr:g}"] = {**r, "mean": nbeta * (r["mean_loss"] - full_loss),
                                              "init_loss_error_x_nbeta": nbeta * (r["init_loss"] - full_loss)}
    print(f"DLN {'-'.join(map(str, DLN['widths']))} rank {DLN['rank']}: λ = {lam:g}, n = {DLN['n']}, "
          f"nβ = {nbeta:.1f}, γ = {DLN['gamma']:g}, batch {DLN['batch_size']}")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:22s} {r['error']}")
            continue
        se = f" ± {r['se']:.2f}" if r.get("se") is not None else f" (chain std {r['std']:.2f})"
        extra = (f"  (nβ·(devinterp's L(w*) − L_n(w*)) = {r['init_loss_error_x_nbeta']:+.2f})"
                 if "init_loss_error_x_nbeta" in r else "")
        print(f"{name:22s} λ̂ = {r['mean']:6.2f}{se}  error {r['mean'] / lam - 1:+6.1%}  {r['seconds']:6.1f} s{extra}")
    return {"lambda": lam, "nbeta": nbeta, "full_loss_at_w_star": full_loss, **rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--skip-devinterp", action="store_true")
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--dln", action="store_true", help="accuracy on the 75-parameter DLN instead of speed")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-7, 3e-7, 1e-6])
    args = parser.parse_args(argv)
    if args.dln:
        rows = dln_accuracy(args.lrs, args.timeout, args.skip_devinterp)
        OUT.mkdir(parents=True, exist_ok=True)
        (OUT / "bench_llc_vs_devinterp_dln.json").write_text(json.dumps(rows, indent=2))
        return 0
    chains = SETTINGS["num_chains"]
    bridge(20)  # warm-up (imports, first vmap trace)
    rows = {"slt vmap": bridge(args.draws), "slt loop": bridge(args.draws, vectorize=False)}
    if not args.skip_devinterp:
        rows["devinterp 2.0.1"] = devinterp(args.draws, args.timeout)
    print(f"MLP 2-64-64-1, batch {SETTINGS['batch_size']}, {chains} chains x {args.draws} draws, 1 torch thread")
    for name, r in rows.items():
        if "error" in r:
            print(f"{name:16s} {r['error']}")
            continue
        rate = chains * args.draws / r["seconds"]
        est = f"llc {r['mean']:.3f}" + (f" ± {r['se']:.3f}" if r.get("se") is not None else "")
        print(f"{name:16s} {r['seconds']:7.2f} s  {rate:8.0f} draws*chains/s  {est}")
    base = rows.get("devinterp 2.0.1", {})
    if "seconds" in base:
        print(f"ratio slt vmap / devinterp throughput: {base['seconds'] / rows['slt vmap']['seconds']:.1f}x")
        d = abs(rows["slt vmap"]["mean"] - base["mean"]) / rows["slt vmap"]["se"]
        print(f"estimates differ by {d:.1f} bridge standard errors")
    print(f"ratio slt vmap / slt loop: {rows['slt loop']['seconds'] / rows['slt vmap']['seconds']:.2f}x")
    print(f"vs devinterp's measured 566-648 draws*chains/s (goal >= 5x = 2830-3240): "
          f"{chains * args.draws / rows['slt vmap']['seconds'] / 607:.1f}x the midpoint")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_llc_vs_devinterp.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
