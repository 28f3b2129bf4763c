"""Per-token Bayesian influence on a small language model: slt against devinterp 2.x.

The model and data of ``simulations/influence.py`` (a two-layer attention-only transformer on
repeated token sequences), briefly trained.  Both tools run SGLD with the same settings (ε, nβ, γ,
minibatch, chains, draws, burn-in; both take the drift −(ε/2)(nβ∇L + γ(w − w*)) and noise N(0, ε))
and compute the per-token covariance of every training token's loss with every query token's loss:

- **time and memory**: each in its own process (devinterp in its venv, ``benchmarks/peers.py``),
  the wall time of sampling plus the covariance and the process's peak RSS; and the arrays each
  keeps: devinterp stores every draw's per-token losses (chains × draws × sequences × tokens) and
  a T × T block per pair of sequences, slt per-chain running sums (chains × data tokens × query
  tokens);
- **the same numbers on the same draws**, where the definitions coincide: devinterp's stored
  per-draw losses fed through slt's running sums (:class:`slt.estimators.influence.CrossSums`)
  against devinterp's ``compute_bif(correlation_method="token", compute_covariance=True)`` (its
  covariance divides by N − 1 over the pooled draws, slt's by N, and slt's BIF is minus the
  covariance), and against ``compute_susceptibilities`` with the same run passed as "full" and as
  the restriction (with a real unrestricted run it centres differently:
  :mod:`slt.estimators.influence`).

Run: ``python benchmarks/bench_influence.py [--quick] [--report]``; writes
``benchmarks/out/influence/bench_influence.json`` (``--report``: and the Influence section of
``benchmarks/VALIDATION.md``; ``--report-only`` rewrites that section from the JSON).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out" / "influence"
sys.path.insert(0, str(ROOT / "benchmarks"))

CHILD_COMMON = """
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from slt.figures import load_simulation
cfg = json.loads(sys.argv[1])
sim = load_simulation("influence")
problem = torch.load(cfg["problem"])
model = sim.build(0)
model.load_state_dict(problem["state"])
model.eval()
data, query = problem["data"], problem["query"]
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

SLT_CHILD = CHILD_COMMON + """
import slt.nn
X, Y = data[:, :-1], data[:, 1:]
Xq, Yq = query[:, :-1], query[:, 1:]
t = time.perf_counter()
res = slt.nn.bif(model, (X, Y), loss_fn=sim.token_ce, query=(Xq, Yq), per="token", sampler="sgld",
                 step_size=cfg["lr"], nbeta=cfg["nbeta"], gamma=cfg["gamma"], batch_size=cfg["batch"],
                 num_chains=cfg["chains"], num_draws=cfg["draws"], num_burnin=cfg["burnin"], thin=1,
                 fluctuation_points=0, seed=0, progress=False)
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb(), "shape": list(res.values.shape),
                  "kept_mb": res.per_chain.nbytes / 2**20, "median_se": float(np.median(res.se))}))
"""

DEVINTERP_CHILD = CHILD_COMMON + """
from datasets import Dataset
from devinterp.slt.sampling import sample
from devinterp.slt.bif import compute_bif
from devinterp.slt.susceptibilities import compute_susceptibilities
from slt.estimators.influence import CrossSums, chain_covariances
ds = Dataset.from_dict({"input_ids": data.tolist()}).with_format("torch")
qds = Dataset.from_dict({"input_ids": query.tolist()}).with_format("torch")
b = cfg["batch"]
t = time.perf_counter()
samples = sample(model, ds, {"train": (ds, len(ds) // b), "query": (qds, len(qds) // b)}, lr=cfg["lr"],
                 n_beta=cfg["nbeta"], localization=cfg["gamma"], num_chains=cfg["chains"], num_draws=cfg["draws"],
                 batch_size=b, num_burnin_steps=cfg["burnin"], num_steps_bw_draws=1, device="cpu",
                 output_path=cfg["zarr"])
bif = compute_bif(samples, correlation_method="token", compute_covariance=True, device="cpu")
seconds = time.perf_counter() - t
influences = bif["influences"].values  # (n + m, n + m, T, T): every pair of sequences, both observables
d = samples.dataset
train = d["loss_train"].values.astype(np.float64)  # (chain, draw, n, T)
q = d["loss_query"].values.astype(np.float64)
C, D, n, T = train.shape
m = q.shape[2]
sums = CrossSums()
for k in range(D):
    sums.add(train[:, k].reshape(C, n * T), q[:, k].reshape(C, m * T))
pooled = chain_covariances(*sums.totals()).mean(0) * (C * D) / (C * D - 1)  # devinterp divides by N - 1
order = [str(v)[5:] for v in sorted(v for v in d.data_vars if str(v).startswith("loss_") and v != "sampling_loss")]
rows = slice(0, n) if order[0] == "train" else slice(m, m + n)  # compute_bif concatenates the observables by name
cols = slice(n, n + m) if order[0] == "train" else slice(0, m)
theirs = influences[rows, cols].transpose(0, 2, 1, 3).reshape(n * T, m * T)
bif_diff = float(np.abs(pooled - theirs).max() / np.abs(theirs).max())
sus = compute_susceptibilities({"full": samples, "same": samples}, "train")
theirs_chi = sus["susceptibilities"]["sus"].values[:, 0]
pt = train.mean(axis=(2, 3))[..., None]  # L at each draw, as devinterp's phi (its init loss is a constant)
chi = CrossSums()
for k in range(D):
    chi.add(q[:, k].reshape(C, m * T) - pt[:, k], pt[:, k])
ours_chi = -chain_covariances(*chi.totals()).mean(0)[:, 0]
chi_diff = float(np.abs(ours_chi - theirs_chi).max() / np.abs(theirs_chi).max())
print(json.dumps({"seconds": seconds, "peak_rss_mb": peak_mb(), "influences_shape": list(influences.shape),
                  "kept_mb": (train.nbytes + q.nbytes) / 2 / 2**20 + influences.nbytes / 2**20,
                  "same_draws_bif_max_rel_diff": bif_diff, "same_draws_chi_max_rel_diff": chi_diff,
                  "draws_pooled": C * D}))
"""


def _run(python: str, code: str, cfg: dict) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}
    proc = subprocess.run([python, "-c", textwrap.dedent(code), json.dumps(cfg)], capture_output=True, text=True,
                          env=env, cwd=ROOT)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    return json.loads(lines[-1])


def problem(n: int, m: int, steps: int) -> Path:
    """Train the simulation's model briefly on n sequences; save it with m query sequences."""
    import torch

    from slt.figures import load_simulation

    sim = load_simulation("influence")
    torch.set_num_threads(1)
    (X, Y), (Xq, Yq) = sim.sequences(n, 0), sim.sequences(m, 1)
    model = sim.build(0)
    sim.train(model, (X, Y), steps, 0)
    full = lambda a, b: torch.cat([a, b[:, -1:]], dim=1)  # noqa: E731 - the whole sequence, devinterp's input_ids
    path = OUT / f"problem_n{n}.pt"
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({"state": model.state_dict(), "data": full(X, Y), "query": full(Xq, Yq)}, path)
    return path


REPORT = ROOT / "benchmarks" / "VALIDATION.md"


def section(results: list[dict]) -> list[str]:
    """The "Influence" section of the validation report from the benchmark's rows."""
    lines = ["## Influence: per-token BIF and susceptibilities against devinterp 2.x (`bench_influence.py`)", "",
             "The simulation's two-layer attention-only transformer (`simulations/influence.py`) trained briefly on n "
             "sequences; per-token covariance of every training token's loss with every query token's loss (16 query "
             "sequences), SGLD with the same settings in both tools (ε 1e-4, nβ 100, γ 100, batch 16), each tool in "
             "its own process, one torch thread. Seconds: sampling plus the covariance; RSS: the process's peak; kept: "
             "the arrays each keeps (devinterp: every draw's per-token losses and a T × T block per pair of "
             "sequences; slt: per-chain running sums). Same draws: devinterp's stored per-draw losses through slt's "
             "sums, largest relative difference from devinterp's `compute_bif` (covariance) and "
             "`compute_susceptibilities` (the same run as \"full\" and as the restriction).", "",
             "| n | tokens × query tokens | chains × draws | slt s | slt RSS (MB) | slt kept (MB) | devinterp s | "
             "devinterp RSS (MB) | devinterp kept (MB) | same draws: BIF | same draws: χ |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results:
        c, a, b = row["config"], row["slt"], row["devinterp"]
        if "error" in a or "error" in b:
            lines.append(f"| {c['n']} | — | — | {a.get('error', '')[:40]} | | | {b.get('error', '')[:40]} | | | | |")
            continue
        lines.append(f"| {c['n']} | {a['shape'][0]} × {a['shape'][1]} | {c['chains']} × {c['draws']} | "
                     f"{a['seconds']:.1f} | {a['peak_rss_mb']:.0f} | {a['kept_mb']:.1f} | {b['seconds']:.1f} | "
                     f"{b['peak_rss_mb']:.0f} | {b['kept_mb']:.1f} | {b['same_draws_bif_max_rel_diff']:.1e} | "
                     f"{b['same_draws_chi_max_rel_diff']:.1e} |")
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    from peers import devinterp_python
    from sections import put_section

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small size, few draws")
    parser.add_argument("--report", action="store_true", help="also write the Influence section of VALIDATION.md")
    parser.add_argument("--report-only", action="store_true", help="only write that section from the stored JSON")
    args = parser.parse_args(argv)
    if args.report_only:
        put_section(REPORT, "bench_influence", section(json.loads((OUT / "bench_influence.json").read_text())))
        print(f"wrote the Influence section of {REPORT}")
        return 0
    sizes = [64] if args.quick else [64, 256]
    base = dict(lr=1e-4, nbeta=100.0, gamma=100.0, batch=16, chains=4, draws=50 if args.quick else 200,
                burnin=50 if args.quick else 200)
    py, how = devinterp_python(900)
    results = []
    for n in sizes:
        cfg = {**base, "problem": str(problem(n, 16, 300)), "zarr": str(OUT / f"devinterp_n{n}.zarr"), "n": n, "m": 16}
        shutil.rmtree(cfg["zarr"], ignore_errors=True)  # devinterp refuses to reuse a store (and would cache)
        row = {"config": cfg, "slt": _run(sys.executable, SLT_CHILD, cfg),
               "devinterp": _run(str(py), DEVINTERP_CHILD, cfg) if py else {"error": how}}
        results.append(row)
        print(json.dumps({"n": n, "slt": row["slt"], "devinterp": row["devinterp"]}, indent=1), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_influence.json").write_text(json.dumps(results, indent=1))
    if args.report:
        put_section(REPORT, "bench_influence", section(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
