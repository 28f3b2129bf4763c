"""Basin volumes of XOR networks (seed 003): train 2-h-1 tanh networks by SGD from many starts and,
at every minimum w*, measure the volume of its low-loss set V(ε) = P_{w ~ N(w*, σ²I)}(K(w) < ε)
by nested sampling (:func:`slt.volume.basin_report`) for the first ``measured`` of them and
the first ``per_class`` of each class (solved, stuck), with K(w) = ½ mean_x ‖f_w(x) − f_{w*}(x)‖²
(the network's own outputs as targets: K ≥ 0, zero at w*, the realizable K with w* as the truth).
Beside it: the fitted exponent, λ̂ (LLC, SGLD at nβ), rank(H)/2, d/2, the Hessian trace and top
eigenvalue, the Gaussian (Hessian) volume and the ray-based lower bound.  The summary answers the
seed's question with bootstrap intervals: does flatness (trace, top eigenvalue, the Gaussian
volume) or λ predict the volume, and does SGD land in the functions of larger volume more often?

    python simulations/basin_volume.py [--quick] [--out DIR] [--starts N] [--no-progress]

Training runs every start of a width at once (vmapped SGD, batches of 2 of the 4 points), stored
in ``DIR/trained_h<h>.npz``; the frequencies of the function classes count every start; every minimum's record goes to ``DIR/basin_volume_runs.jsonl`` as it
finishes (resumable: rerun the same command after an interruption, finished minima are skipped);
the summary is ``DIR/basin_volume.json`` / ``.npz``.  ``--quick`` runs a few minima small.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from slt.io import ResumableLog, save_json, save_npz

NAME = "basin_volume"
CONFIG = {
    "full": dict(widths=[2, 3], starts=400, measured=30, per_class=6, steps=4000, lr=0.1, batch_size=2, sigma=1.0, num_live=400, num_runs=2,
                 num_steps=None, decades=6.0, eps_star=1e-4, nbeta=1e4, llc_draws=1000, rays=256, seed=0),
    "quick": dict(widths=[2], starts=8, measured=2, per_class=1, steps=1200, lr=0.1, batch_size=2, sigma=1.0, num_live=60, num_runs=2,
                  num_steps=6, decades=3.0, eps_star=1e-3, nbeta=1e3, llc_draws=60, rays=32, seed=0),
}
SOLVED = 1e-3  # final loss below which XOR counts as solved
BOOT = 1000  # bootstrap resamples of the minima for the correlations' intervals


def _key(cfg: dict) -> str:
    return hashlib.sha1(json.dumps(cfg, sort_keys=True).encode()).hexdigest()[:12]


def train_starts(hidden: int, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """SGD from every start at once: (weights (starts, d), final full-batch losses)."""
    import torch

    from slt.nn.data import xor_data
    from slt.nn.flat import ChainEvaluator, FlatNetwork
    from slt.nn.models import gaussian_nll, xor_mlp

    X, y = xor_data()
    seeds = [int(np.random.SeedSequence([cfg["seed"], hidden, s]).generate_state(1)[0]) for s in range(cfg["starts"])]
    nets = [xor_mlp(hidden, seed=s) for s in seeds]
    W = torch.stack([torch.nn.utils.parameters_to_vector(m.parameters()).detach() for m in nets])
    ev = ChainEvaluator(FlatNetwork(nets[0], gaussian_nll, torch.device("cpu")), X, y)
    rng = np.random.default_rng([cfg["seed"], hidden])
    for _ in range(cfg["steps"]):
        idx = torch.as_tensor(np.argsort(rng.random((W.shape[0], X.shape[0])), axis=1)[:, : cfg["batch_size"]])
        grads, _ = ev(W, idx)
        W = W - cfg["lr"] * grads
    _, losses = ev(W, None)
    return W.numpy(), losses.numpy()


def trained(out: Path, hidden: int, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """The trained weights of one width, from ``out`` when trained before with the same settings."""
    path = out / f"trained_h{hidden}.npz"
    key = _key({k: cfg[k] for k in ("starts", "steps", "lr", "batch_size", "seed")})
    if path.exists():
        z = np.load(path)
        if str(z["key"]) == key:
            return z["weights"], z["losses"]
    W, losses = train_starts(hidden, cfg)
    save_npz(path, weights=W, losses=losses, key=key)
    return W, losses


def outputs_of(hidden: int, weights: np.ndarray) -> np.ndarray:
    """(starts, 4) outputs of every trained network on the four XOR points."""
    import torch

    from slt.nn.data import xor_data
    from slt.nn.models import xor_mlp

    X, _ = xor_data()
    net = xor_mlp(hidden)
    rows = []
    for w in weights:
        torch.nn.utils.vector_to_parameters(torch.as_tensor(w), net.parameters())
        with torch.no_grad():
            rows.append(net(X).numpy().ravel())
    return np.array(rows)


def function_class(loss: float) -> str:
    """"solved" (XOR fitted) or "stuck" (SGD ended on a plateau or a minimum of positive loss)."""
    return "solved" if loss < SOLVED else "stuck"


def pattern(outputs: np.ndarray) -> str:
    """The function on the four points, rounded to 0.1 (the stuck networks compute many)."""
    return " ".join(f"{v + 0.0:.1f}" for v in np.round(np.asarray(outputs).ravel(), 1))


def chosen(classes: list[str], measured: int, per_class: int) -> list[int]:
    """The starts measured: the first ``measured``, and the first ``per_class`` of every class."""
    pick = set(range(min(measured, len(classes))))
    for c in set(classes):
        pick.update([i for i, k in enumerate(classes) if k == c][:per_class])
    return sorted(pick)


def measure(hidden: int, start: int, w: np.ndarray, loss: float, cfg: dict) -> dict:
    """One minimum: its basin report (volume, exponent, λ̂, Hessian, Gaussian and ray views)."""
    import torch

    from slt.nn.data import xor_data
    from slt.nn.models import gaussian_nll, xor_mlp
    from slt.volume import basin_report

    X, _ = xor_data()
    net = xor_mlp(hidden)
    torch.nn.utils.vector_to_parameters(torch.as_tensor(w), net.parameters())
    with torch.no_grad():
        f_star = net(X)
    seed = int(np.random.SeedSequence([cfg["seed"], hidden, start, 1]).generate_state(1)[0])
    llc = dict(sampler="sgld", num_chains=8, num_draws=cfg["llc_draws"], num_burnin=cfg["llc_draws"],
               step_size="curvature", thin=1, richardson=False, gamma=1 / cfg["sigma"] ** 2, fluctuation_points=0)
    t0 = time.time()
    rep = basin_report(net, data=(X, f_star), loss_fn=gaussian_nll, sigma=cfg["sigma"], m=1, seed=seed,
                       nbeta=cfg["nbeta"], llc_options=llc, num_rays=cfg["rays"], num_live=cfg["num_live"],
                       num_runs=cfg["num_runs"], num_steps=cfg["num_steps"], batch=0.5, decades=cfg["decades"])
    s, at = rep.scaling, rep.at(cfg["eps_star"])
    return {
        "key": f"{hidden}-{start}", "hidden": hidden, "start": start, "dim": s.dim, "loss": float(loss),
        "cls": function_class(float(loss)), "pattern": pattern(f_star.numpy()), "outputs": f_star.numpy().ravel(),
        "log_eps": s.log_eps, "log_volume": s.log_volume, "log_volume_se": s.log_volume_se,
        "gaussian": rep.gaussian, "ray": rep.ray.log_volume, "lam": s.lam, "lam_se": s.lam_se,
        "lam_uncorrected": s.lam_uncorrected, "ray_lam": rep.ray.lam, "ray_lam_se": rep.ray.lam_se,
        "llc": rep.llc, "llc_se": rep.llc_se, "rank": rep.rank, "rank_half": rep.rank_half, "half_dim": rep.half_dim,
        "trace": rep.hessian_trace, "top": rep.hessian_top, "logdet": rep.hessian_logdet,
        "log_v_star": at["log_volume"], "log_v_star_se": at["log_volume_se"], "gaussian_star": at["gaussian"],
        "ray_star": at["ray"], "fit_range": s.fit_range, "warnings": list(s.warnings), "llc_warnings": list(rep.llc_warnings),
        "seconds": time.time() - t0,
    }


def local_slope(r: dict, eps: float) -> float:
    """d log V / d log ε over the decade around ``eps`` (NaN outside the measured range): the
    exponent V shows at that scale, which the LLC at nβ = 1/ε probes."""
    x = np.log([eps / math.sqrt(10), eps * math.sqrt(10)])
    le = np.asarray(r["log_eps"])
    if x[0] < le[0] or x[1] > le[-1]:
        return math.nan
    v = np.interp(x, le, np.asarray(r["log_volume"]))
    return float((v[1] - v[0]) / (x[1] - x[0]))


def _spearman(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> dict:
    """Spearman ρ with a bootstrap 95% interval over the minima (NaN with fewer than 4)."""
    from scipy.stats import spearmanr

    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 4 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"rho": math.nan, "lo": math.nan, "hi": math.nan, "n": int(x.size)}
    boot = []
    for _ in range(BOOT):
        i = rng.integers(0, x.size, x.size)
        if np.ptp(x[i]) > 0 and np.ptp(y[i]) > 0:
            boot.append(spearmanr(x[i], y[i])[0])
    lo, hi = np.quantile(boot, [0.025, 0.975])
    return {"rho": float(spearmanr(x, y)[0]), "lo": float(lo), "hi": float(hi), "n": int(x.size)}


def summarise(runs: list[dict], starts: dict[int, list[str]], patterns: dict[int, np.ndarray]) -> dict:
    """Per width: the correlations of log V(ε*) with each predictor among solved minima (and all),
    and per class its frequency over all starts (``starts``: the class of every start; ``patterns``:
    the rounded function of every start) against the volume of its measured minima."""
    rng = np.random.default_rng(0)
    out = {}
    for h in sorted({r["hidden"] for r in runs}):
        rs = [r for r in runs if r["hidden"] == h]
        v = np.array([r["log_v_star"] for r in rs])
        solved = np.array([r["cls"] == "solved" for r in rs])
        pred = {"-trace": -np.array([r["trace"] for r in rs]), "-top eigenvalue": -np.array([r["top"] for r in rs]),
                "Gaussian log V": np.array([r["gaussian_star"] for r in rs]),
                "ray log V": np.array([r["ray_star"] for r in rs]),
                "-llc": -np.array([np.nan if r["llc"] is None else r["llc"] for r in rs]),
                "-volume exponent": -np.array([r["lam"] for r in rs])}
        corr = {group: {name: _spearman(p[sel], v[sel], rng) for name, p in pred.items()}
                for group, sel in (("solved", solved), ("all", np.ones_like(solved)))}
        classes = {}
        every = np.array(starts[h])
        for c in sorted({r["cls"] for r in rs}, key=lambda c: (c != "solved", c)):
            sel = np.array([r["cls"] == c for r in rs])
            p = float(np.mean(every == c))
            classes[c] = {"count": int(np.sum(every == c)), "measured": int(sel.sum()), "frequency": p,
                          "frequency_se": float(math.sqrt(p * (1 - p) / every.size)),
                          "log_v_star": float(v[sel].mean()),
                          "log_v_star_se": float(v[sel].std(ddof=1) / math.sqrt(sel.sum())) if sel.sum() > 1
                          else float(np.array([r["log_v_star_se"] for r in rs])[sel][0]),
                          "lam": float(np.mean([r["lam"] for r, s in zip(rs, sel) if s])),
                          "slope_at_nbeta": float(np.nanmean([r["slope_at_nbeta"] for r, s in zip(rs, sel) if s])),
                          "llc": float(np.nanmean([np.nan if r["llc"] is None else r["llc"] for r, s in zip(rs, sel) if s])),
                          "rank_half": float(np.mean([r["rank_half"] for r, s in zip(rs, sel) if s]))}
        out[str(h)] = {"dim": rs[0]["dim"], "minima": len(rs), "starts": int(every.size), "correlations": corr,
                       "classes": classes, "patterns": {str(c): len(set(patterns[h][every == c])) for c in set(every)}}
    return out


def checks(runs: list[dict]) -> dict:
    """What every run must satisfy: finite decreasing curves, the exponent at rank(H)/2 where H has
    the full rank 4 (K is then regular across the zero set), the ray estimate below the volume."""
    bad = []
    for r in runs:
        lv = np.asarray(r["log_volume"])
        if not (np.all(np.isfinite(lv)) and np.all(np.diff(lv) >= -1e-9)):
            bad.append(f"{r['key']}: curve not finite and increasing in ε")
        if r["rank"] == 4 and abs(r["lam"] - 2.0) > 4 * r["lam_se"] + 0.2:
            bad.append(f"{r['key']}: exponent {r['lam']:.3f} ± {r['lam_se']:.3f} far from rank(H)/2 = 2")
        if r["ray_star"] > r["log_v_star"] + 4 * r["log_v_star_se"] + 1.0:
            bad.append(f"{r['key']}: ray estimate {r['ray_star']:.2f} above the volume {r['log_v_star']:.2f}")
        if r["llc"] is None or not math.isfinite(r["llc"]):
            bad.append(f"{r['key']}: no LLC estimate")
    lam = np.array([r["lam"] for r in runs])
    llc = np.array([r["llc"] for r in runs], dtype=float)
    return {"passed": not bad, "failures": bad, "lam_over_llc": float(np.nanmean(lam) / np.nanmean(llc))}


def main(argv=None) -> int:
    from tqdm.auto import tqdm

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two minima of the 2-2-1 network, small runs (seconds)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / NAME))
    ap.add_argument("--starts", type=int, default=None, help="starts per width (default 400; quick 8)")
    ap.add_argument("--measured", type=int, default=None, help="minima measured per width (default 30; quick 2)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    cfg = dict(CONFIG["quick" if args.quick else "full"])
    if args.starts is not None:
        if args.starts < 1:
            raise ValueError(f"--starts={args.starts}; must be >= 1")
        cfg["starts"] = args.starts
    if args.measured is not None:
        if args.measured < 1:
            raise ValueError(f"--measured={args.measured}; must be >= 1")
        cfg["measured"] = args.measured
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    t0 = time.time()
    log = ResumableLog(out / f"{NAME}_runs.jsonl")
    done = log.done()
    weights = {h: trained(out, h, cfg) for h in cfg["widths"]}
    starts = {h: [function_class(float(loss)) for loss in weights[h][1]] for h in cfg["widths"]}
    patterns = {h: np.array([pattern(o) for o in outputs_of(h, weights[h][0])]) for h in cfg["widths"]}
    cells = [(h, s) for h in cfg["widths"] for s in chosen(starts[h], cfg["measured"], cfg["per_class"])]
    for h, s in tqdm(cells, desc=NAME, unit="minimum", disable=args.no_progress):
        if f"{h}-{s}" not in done:
            log.append(measure(h, s, weights[h][0][s], float(weights[h][1][s]), cfg))
    runs = {r["key"]: r for r in log.records()}
    runs = [runs[f"{h}-{s}"] for h, s in cells]
    for r in runs:  # the class from the loss (records of earlier versions labelled by the rounded function)
        r["cls"] = function_class(r["loss"])
        r["slope_at_nbeta"] = local_slope(r, 1 / cfg["nbeta"])
    summary = {"config": cfg, "solved_below": SOLVED, "seconds_this_call": time.time() - t0,
               "measured": {str(h): [s for g, s in cells if g == h] for h in cfg["widths"]},
               "widths": summarise(runs, starts, patterns), "checks": checks(runs)}
    save_json(out / f"{NAME}.json", summary)
    cols = ("hidden", "start", "dim", "loss", "lam", "lam_se", "lam_uncorrected", "slope_at_nbeta", "ray_lam", "llc",
            "llc_se", "rank_half",
            "half_dim", "trace", "top", "logdet", "log_v_star", "log_v_star_se", "gaussian_star", "ray_star")
    save_npz(out / f"{NAME}.npz", **{c: np.array([np.nan if r[c] is None else r[c] for r in runs], dtype=float) for c in cols},
             cls=np.array([r["cls"] for r in runs]), log_eps=np.array([r["log_eps"] for r in runs], dtype=object),
             log_volume=np.array([r["log_volume"] for r in runs], dtype=object))
    for h, w in summary["widths"].items():
        print(f"h={h} (d={w['dim']}), {w['starts']} starts, {w['minima']} minima measured, functions per class "
              f"(rounded to 0.1) {w['patterns']}:")
        for c, k in w["classes"].items():
            print(f"  {c:28s} frequency {k['frequency']:.3f} ± {k['frequency_se']:.3f}  log V(ε*) {k['log_v_star']:.2f} "
                  f"± {k['log_v_star_se']:.2f}  exponent {k['lam']:.3f}  slope at 1/nβ {k['slope_at_nbeta']:.3f}  "
                  f"λ̂ {k['llc']:.3f}  rank/2 {k['rank_half']:.2f}")
        for name, c in w["correlations"]["solved"].items():
            print(f"  solved: ρ(log V, {name:16s}) = {c['rho']:+.2f} [{c['lo']:+.2f}, {c['hi']:+.2f}] (n = {c['n']})")
    print("checks:", "passed" if summary["checks"]["passed"] else summary["checks"]["failures"])
    return 0 if summary["checks"]["passed"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
