"""Throughput and λ̂ of slt.nn.estimate_llc against devinterp 2.0.1 and canonical-interp 0.1.5,
each tool on the same model, data and settings, in one run.

Measured on each model of ``--models``: draws × chains per second of every tool (SGLD with the
same step ε, nβ, γ, batch size, chains and draws, no burn-in, all on the CPU with
``torch.set_num_threads(1)``; each tool first warmed up by a short call, then the least time of
``repeats`` identical calls, with the load average, since the machine may be shared), the
throughput ratio slt vmap / peer, and each tool's λ̂ with its between-chain standard error (the
spread of the per-chain λ̂ over √chains; slt's own se, from its effective sample size, too).

- ``mlp``: MLP 2→64→64→1 at its seeded initialisation; n = 4096 regression points
  y = sin(x1 x2) + 0.1 ε; squared error; batch 256, 8 chains, ε = 1e-4, nβ = γ = 100.
- ``attention``: a + b mod p with p = 64 (all n = p² pairs): token embedding (d = 48), one
  ``nn.MultiheadAttention`` layer (4 heads), a linear read-out of the last position plus its
  residual; trained here from a seeded initialisation (full-batch Adam with cosine decay), then
  sampled with cross-entropy at the MLP's batch, chains, ε, nβ and γ.  The trained weights go to
  ``out/attention_w_star.pt``; the peers load them and rebuild the data from the same seed.
  slt samples attention through the math kernel itself; a peer that fails on it is recorded
  with its error text.

Tools: slt vmapped over chains and looped over chains; devinterp 2.0.1 in
``benchmarks/out/devinterp-venv`` (``venv --system-site-packages`` of this Python, ``pip
install devinterp==2.0.1``); canonical-interp 0.1.5 in ``benchmarks/out/canonical-venv`` (a
venv of Python ≥ 3.12, which it needs for ``itertools.batched``: torch from the CPU wheel index,
else from PyPI; then ``pip install --no-deps canonical-interp==0.1.5`` and numpy, pandas, tqdm,
its imports: it declares torchvision but never imports it).  Neither peer is a dependency of
slt.  Each peer runs in a subprocess in its venv, rebuilds the problem from the same seeds,
runs a short warm-up call, then the timed calls.  canonical-interp runs with its default
``compile=True`` (its SGLD step is compiled in any case); when compiling fails it falls back
to ``compile=False`` and says so.  A peer that cannot be installed or run is reported with the
reason, and the others are still measured.  Conventions (read from the peers' sources): all
three take ε with the drift −(ε/2)(nβ∇L + γ(w − w*)) and noise N(0, ε); devinterp and
canonical-interp record the minibatch loss of each step before the step; L(w*) is taken over
all n samples by slt and canonical-interp, over 32 minibatches by devinterp; canonical-interp
gives every chain the same minibatch each step and, after one shuffled pass, repeats that pass.

``--dln`` instead compares accuracy (issue 6): the 75-parameter deep linear network 5-5-5-5 at
a rank-2 teacher (λ = 11, Aoyagi), n = 10⁴, Gaussian NLL, nβ = n/log n, γ = 1, batch 500.
devinterp runs 4 chains × 5000 draws at each step size in ``--lrs`` (its defaults otherwise,
no burn-in); slt runs its defaults (``slt.nn.dln.dln_llc``: ``step_size="auto"``).

``--quick`` runs every code path of the comparison at tiny sizes with the peers skipped (the
test suite's smoke test).

Run: ``python benchmarks/bench_llc_vs_devinterp.py [--draws 500] [--models mlp attention]
[--skip-devinterp] [--skip-canonical]``; ``python benchmarks/bench_llc_vs_devinterp.py --dln
[--lrs 1e-7 3e-7 1e-6]``; ``python benchmarks/bench_llc_vs_devinterp.py --quick --out DIR``.
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.peers import (  # noqa: E402 - the peers' venvs, runs and shared helpers
    CANONICAL, DEVINTERP, OUT, best_of, canonical_python, chain_stats, devinterp_python, guard, run_peer)

PEER_LABELS = {"devinterp": f"devinterp {DEVINTERP.split('==')[1]}",
               "canonical": f"canonical-interp {CANONICAL.split('==')[1]}"}
SAMPLING = dict(batch_size=256, num_chains=8, step_size=1e-4, nbeta=100.0, gamma=100.0, seed=0)
MODELS = {  # the problems and their sampling settings, the same for every tool
    "full": {"mlp": dict(problem="mlp", n=4096, **SAMPLING),
             "attention": dict(problem="attention", p=64, d=48, heads=4, train_steps=300, train_lr=1e-2,
                               **SAMPLING)},
    "quick": {"mlp": dict(problem="mlp", n=64, **{**SAMPLING, "batch_size": 16, "num_chains": 2}),
              "attention": dict(problem="attention", p=5, d=8, heads=2, train_steps=20, train_lr=1e-2,
                                **{**SAMPLING, "batch_size": 5, "num_chains": 2})},
}
SETTINGS = MODELS["full"]["mlp"]
DRAWS = {"full": dict(draws=500, warm_draws=20, repeats=3), "quick": dict(draws=8, warm_draws=8, repeats=1)}
DLN = dict(widths=(5, 5, 5, 5), rank=2, n=10_000, batch_size=500, num_chains=4, draws=5000, gamma=1.0, seed=0)


# ---- problems: torch only, no slt (the peers' subprocesses import these) ----
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


def attention_model(p: int, d: int, heads: int, seed: int):
    """Token embedding (p tokens, width d), one ``nn.MultiheadAttention`` layer, a linear read-out
    of the last position plus its residual; initialised under ``seed``."""
    import torch
    from torch import nn

    class AttentionAdder(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb = nn.Embedding(p, d)
            self.att = nn.MultiheadAttention(d, heads, batch_first=True)
            self.out = nn.Linear(d, p)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.emb(x)
            a, _ = self.att(h, h, h)
            return self.out(a[:, -1] + h[:, -1])

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return AttentionAdder()


def attention_data(p: int):
    """All p² pairs (a, b) as token sequences and their labels a + b mod p."""
    import torch

    X = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    return X, (X[:, 0] + X[:, 1]) % p


def train_attention(spec: dict):
    """The attention model of ``spec`` trained full batch on all pairs from its seeded
    initialisation (Adam, learning rate cosine-decayed to 0); the model (eval mode) and facts."""
    import torch
    from torch import nn

    model = attention_model(spec["p"], spec["d"], spec["heads"], spec["seed"])
    X, y = attention_data(spec["p"])
    opt = torch.optim.Adam(model.parameters(), lr=spec["train_lr"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec["train_steps"])
    t = time.perf_counter()
    for _ in range(spec["train_steps"]):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        sched.step()
    model.eval()
    with torch.no_grad():
        out = model(X)
    return model, {"train_seconds": time.perf_counter() - t, "train_loss": float(nn.functional.cross_entropy(out, y)),
                   "train_accuracy": float((out.argmax(1) == y).float().mean())}


def build_problem(spec: dict):
    """(model at w*, X, y) of ``spec["problem"]``: the MLP, the DLN, or the attention model with
    the trained weights saved at ``spec["weights"]``."""
    import torch

    if spec["problem"] == "mlp":
        return problem(spec["n"], spec["seed"])
    if spec["problem"] == "dln":
        return dln_problem()
    model = attention_model(spec["p"], spec["d"], spec["heads"], spec["seed"])
    model.load_state_dict(torch.load(spec["weights"]))
    return model.eval(), *attention_data(spec["p"])


def per_sample_loss(kind: str, out, y):
    """Each sample's loss, shape (batch,): squared error (mlp), ½‖f − y‖² (dln, the Gaussian
    NLL) or cross-entropy (attention)."""
    import torch

    if kind == "attention":
        return torch.nn.functional.cross_entropy(out, y.reshape(-1).long(), reduction="none")
    sq = (out - y).pow(2).reshape(out.shape[0], -1).sum(1)
    return 0.5 * sq if kind == "dln" else sq


def mean_loss(kind: str, out, y):
    """The mean of :func:`per_sample_loss` over the batch (the loss every tool is given)."""
    return per_sample_loss(kind, out, y).mean()


# ---- slt ----
def bridge(spec: dict, draws: int, vectorize: bool = True) -> dict:
    """One timed :func:`slt.nn.estimate_llc` call on ``spec``'s problem: SGLD at its settings, no
    burn-in, no Richardson, no ν̂ (the peers compute none: the same work on every side)."""
    import warnings

    import torch

    from slt.nn import estimate_llc

    torch.set_num_threads(1)
    model, X, y = build_problem(spec)
    t = time.perf_counter()
    with warnings.catch_warnings():  # short unburnt chains: the diagnostics' warnings go to the JSON
        warnings.simplefilter("ignore")
        res = estimate_llc(model, (X, y), loss_fn=functools.partial(mean_loss, spec["problem"]), nbeta=spec["nbeta"],
                           gamma=spec["gamma"], step_size=spec["step_size"], num_chains=spec["num_chains"],
                           num_draws=draws, num_burnin=0, thin=1, sampler="sgld", richardson=False,
                           batch_size=spec["batch_size"], seed=spec["seed"], device="cpu", vectorize=vectorize,
                           fluctuation_points=0)
    dt = time.perf_counter() - t
    row = {"seconds": dt, "mean": float(res.mean), "se": float(res.se), "se_chains": chain_stats(res.per_chain)["se"],
           "std": float(res.std), "rhat": float(res.rhat), "warnings": list(res.warnings)}
    return {**row, "attention": res.info["attention"]} if "attention" in res.info else row


def devinterp(draws: int, timeout: float, settings: dict | None = None) -> dict:
    """devinterp on ``settings``' problem (default the MLP), ``draws`` draws, no warm-up."""
    py, how = devinterp_python(timeout)
    if py is None:
        return {"error": how}
    return run_peer(py, "devinterp", peer_spec({**SETTINGS, **(settings or {}), "draws": draws, "warm_draws": 0}),
                    timeout)


def peer_spec(spec: dict) -> dict:
    """``spec`` (a problem of :data:`MODELS` or the DLN, with ``draws``, ``warm_draws``,
    ``repeats``) as the settings :func:`peers.peer_main` reads: this module rebuilds the problem."""
    return {**spec, "module": "benchmarks.bench_llc_vs_devinterp", "chains": spec["num_chains"],
            "step": spec["step_size"], "burnin": 0, "steps_bw_draws": 1, "batches_per_draw": 1, "device": "cpu"}


def peer_problem(s: dict):
    """Inside a peer's venv: (model at w*, X, y, per-sample loss) of the problem ``s`` names."""
    return (*build_problem(s), functools.partial(per_sample_loss, s["problem"]))


# ---- the comparison ----
def install_peers(args: argparse.Namespace) -> dict:
    """Each peer's venv python and how it was installed, or why it is skipped or missing."""
    peers: dict[str, dict] = {}
    for peer, skip in (("devinterp", args.skip_devinterp), ("canonical", args.skip_canonical)):
        if args.quick or skip:
            peers[peer] = {"skipped": "--quick" if args.quick else f"--skip-{peer}"}
            continue
        py, how = devinterp_python(args.timeout) if peer == "devinterp" else canonical_python(args.timeout,
                                                                                            args.install_timeout)
        peers[peer] = {"python": str(py), "install": how} if py else {"error": how}
    return peers


def measure_model(spec: dict, draws: dict, peers: dict, timeout: float, out: Path) -> dict:
    """Every tool on one problem (the attention model trained first): slt vmapped and looped
    (after an untimed warm-up call), then each peer; rates, ratios slt vmap / peer and the
    difference of the estimates in their combined between-chain standard errors."""
    facts: dict[str, Any] = {}
    if spec["problem"] == "attention":
        import torch

        model, facts = train_attention(spec)
        out.mkdir(parents=True, exist_ok=True)
        spec = {**spec, "weights": str(out / "attention_w_star.pt")}
        torch.save(model.state_dict(), spec["weights"])
    model, X, _ = build_problem(spec)
    facts.update(params=sum(p.numel() for p in model.parameters()), n=X.shape[0])
    guard(lambda: bridge(spec, draws["warm_draws"]))  # imports, the first vmap trace
    rows = {"slt vmap": guard(lambda: best_of(lambda: bridge(spec, draws["draws"]), draws["repeats"])),
            "slt loop": guard(lambda: best_of(lambda: bridge(spec, draws["draws"], False), draws["repeats"]))}
    for peer, how in peers.items():
        rows[PEER_LABELS[peer]] = run_peer(Path(how["python"]), peer, peer_spec({**spec, **draws}), timeout) \
            if "python" in how else dict(how)
    base = rows["slt vmap"]
    for row in rows.values():
        if "seconds" not in row:
            continue
        row["draws_chains_per_s"] = spec["num_chains"] * draws["draws"] / row["seconds"]
        if "seconds" in base and row is not base:
            row["slt_vmap_speedup"] = row["seconds"] / base["seconds"]
            row["difference_in_chain_se"] = (row["mean"] - base["mean"]) / math.hypot(row["se_chains"], base["se_chains"])
    return {"settings": spec, **facts, "tools": rows}


def report(results: dict) -> None:
    """The table: per model, each tool's time, throughput, λ̂ ± se and slt vmap's speed-up."""
    print(f"{results['draws']} draws x chains per call, no burn-in, SGLD, 1 torch thread; each tool warmed up "
          f"({results['warm_draws']} draws), then the least time of {results['repeats']} calls; draws*chains per s; "
          f"λ̂ ± its between-chain se; speed-up = slt vmap throughput / the tool's; Δ = (λ̂ − slt vmap's λ̂) "
          f"in combined between-chain se")
    for name in results["models"]:
        r, s = results[name], results[name]["settings"]
        trained = (f", trained {s['train_steps']} Adam steps: loss {r['train_loss']:.3f}, "
                   f"accuracy {r['train_accuracy']:.3f}" if "train_loss" in r else ", seeded init")
        print(f"\n{name}: {r['params']} parameters, n = {r['n']}{trained}; batch {s['batch_size']}, "
              f"{s['num_chains']} chains, eps = {s['step_size']:g}, nbeta = {s['nbeta']:g}, gamma = {s['gamma']:g}")
        print(f"  {'tool':24s} {'time':>10s} {'rate':>10s}  {'λ̂ ± se':>22s}  speed-up  Δ")
        for tool, row in r["tools"].items():
            if "seconds" not in row:
                print(f"  {tool:24s} {'skipped: ' + row['skipped'] if 'skipped' in row else row['error']}")
                continue
            ratio = f"{row['slt_vmap_speedup']:5.2f}x  {row['difference_in_chain_se']:+5.1f}" \
                if "slt_vmap_speedup" in row else ""
            own = f" (own se {row['se']:.3f})" if row["se"] != row["se_chains"] else ""
            print(f"  {tool:24s} {row['seconds']:8.2f} s {row['draws_chains_per_s']:8.0f}/s  "
                  f"λ̂ = {row['mean']:9.3f} ± {row['se_chains']:6.3f}  {ratio}{own}")
            if "compile" in row:
                print(f"  {'':24s} {row['compile']}; warm-up call {row['warm_seconds']:.1f} s")
    for peer, how in results["peers"].items():
        print(f"{PEER_LABELS[peer]}: {how.get('install') or how.get('skipped') or how.get('error')}")


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


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=None, help="draws per chain (default 500; 8 with --quick)")
    parser.add_argument("--models", nargs="+", choices=["mlp", "attention"], default=["mlp", "attention"])
    parser.add_argument("--skip-devinterp", action="store_true")
    parser.add_argument("--skip-canonical", action="store_true")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, peers skipped (the smoke test)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds for one peer run or small install")
    parser.add_argument("--install-timeout", type=float, default=3600.0, help="seconds for installing torch")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the JSON and the attention weights")
    parser.add_argument("--dln", action="store_true", help="accuracy on the 75-parameter DLN instead of speed")
    parser.add_argument("--lrs", type=float, nargs="+", default=[1e-7, 3e-7, 1e-6])
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import torch

    args = parse(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.dln:
        rows = dln_accuracy(args.lrs, args.timeout, args.skip_devinterp)
        (args.out / "bench_llc_vs_devinterp_dln.json").write_text(json.dumps(rows, indent=2))
        return 0
    mode = "quick" if args.quick else "full"
    draws = {**DRAWS[mode], **({"draws": args.draws} if args.draws else {})}
    from importlib.metadata import version

    results: dict[str, Any] = {"mode": mode, "models": args.models, **draws, "torch_threads": 1,
                               "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                                            "slt": version("slt")},
                               "peers": install_peers(args)}
    for name in args.models:
        results[name] = measure_model(MODELS[mode][name], draws, results["peers"], args.timeout, args.out)
    report(results)
    (args.out / "bench_llc_vs_devinterp.json").write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
