"""PAC-Bayes and the KL "true name" of compression (issue 21), measured against the free energy.

Three parts, each written to ``DIR`` (``pacbayes.json`` / ``.npz``; per-run records in
``pacbayes_runs.jsonl``, so an interrupted run resumes where it stopped):

1. SLT: KL(Q_β‖φ) of the tempered posterior Q_β ∝ exp(−nβ V) N(0, I) against log nβ, by
   quadrature (:func:`slt.pacbayes.exact_tempered_kl`) and thermodynamic integration
   (:func:`slt.pacbayes.tempered_kl`), for V = x² + y⁴ (λ = 3/4) and V = (x² + y²)/2 (λ = d/2 = 1):
   the slope is λ, not the parameter count.
2. The seed post's Q: train 2-h-1 tanh networks on XOR (and 64-h-10 MLPs on digits) from many
   random starts, fit diagonal Gaussians to the initial and the trained weights, and take
   KL(fit(trained) ‖ fit(init)) (:func:`slt.pacbayes.pushforward_kl`) per width, next to the
   near-zero Hessian count (the Rashomon dimension; :func:`slt.nn.hessian.spectrum`) and the
   LLC estimate (:func:`slt.nn.estimate_llc`) on XOR.
3. Certificates on digits: Q = N(μ, σ²) trained on the f-quad bound with a data-dependent
   prior (ERM on half the training split), certified on the other half by the Maurer–Seeger
   bound at δ = 0.025 and m Monte Carlo draws (δ' = 0.01), per width; the test error of Q next to it.

    python simulations/pacbayes.py [--quick] [--out DIR] [--no-progress]
"""
from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from slt import pacbayes as pb
from slt.estimators import fit_lambda
from slt.io import ResumableLog, load_json, save_json, save_npz
from slt.potentials import harmonic, sum_of_monomials
from slt.report import Column, number, quantity, table

NAME = "pacbayes"
CONFIG = {
    "full": {"nbetas": [1e2, 1e3, 1e4, 1e5], "ti_nbetas": [1e2, 1e3, 1e4, 1e5],
             "ti": dict(num_betas=16, num_chains=64, num_draws=1000, num_burnin=2000),
             "xor_widths": list(range(2, 9)), "xor_runs": 16, "xor_epochs": 2000, "llc_draws": 200,
             "digits_widths": [8, 16, 32, 64, 128], "digits_runs": 10, "digits_epochs": 40,
             "cert_prior_epochs": 60, "cert_epochs": 30, "cert_samples": 10000},
    "quick": {"nbetas": [1e2, 1e3, 1e4], "ti_nbetas": [1e2, 1e3],
              "ti": dict(num_betas=12, num_chains=32, num_draws=300, num_burnin=1000),
              "xor_widths": [2, 3, 4], "xor_runs": 4, "xor_epochs": 800, "llc_draws": 0,
              "digits_widths": [8, 32], "digits_runs": 3, "digits_epochs": 10,
              "cert_prior_epochs": 20, "cert_epochs": 3, "cert_samples": 200},
}
CERT = {"sigma": 0.03, "delta": 0.025, "delta_mc": 0.01, "lr": 0.01, "objective": "fquad", "test": 360}
LLC = {"nbeta": 1000.0, "gamma": 10.0, "num_chains": 4, "num_burnin": 200}  # as in simulations/xor_rashomon.py
SOLVED = 1e-6
POTENTIALS = {"x^2+y^4": (lambda: sum_of_monomials([1, 2]), 0.75), "(x^2+y^2)/2": (lambda: harmonic([1.0, 1.0]), 1.0)}


def slt_part(cfg: dict, seed: int = 0) -> dict:
    """KL(Q_β‖φ) against nβ: quadrature for both potentials, TI for x² + y⁴, fitted slopes."""
    out = {}
    for i, (name, (make, lam)) in enumerate(POTENTIALS.items()):
        V = make()
        nbs = np.array(cfg["nbetas"], dtype=float)
        exact = np.array([pb.exact_tempered_kl(V, nb, gamma=1.0) for nb in nbs])
        rec = {"lam": lam, "dim": V.dim, "nbeta": nbs, "exact": exact, "slope_exact": fit_lambda(nbs, exact).lam}
        if i == 0:
            ti = [pb.tempered_kl(V, nb, gamma=1.0, seed=seed + j, **cfg["ti"]) for j, nb in enumerate(cfg["ti_nbetas"])]
            val, se = np.array([r.value for r in ti]), np.array([r.se for r in ti])
            rec.update(ti_nbeta=np.array(cfg["ti_nbetas"], dtype=float), ti=val, ti_se=se,
                       ti_exact=np.array([pb.exact_tempered_kl(V, nb, gamma=1.0) for nb in cfg["ti_nbetas"]]))
            if len(ti) >= 2:
                fit = fit_lambda(cfg["ti_nbetas"], val, se=se)
                rec.update(slope_ti=fit.lam, slope_ti_se=fit.lam_se)
        out[name] = rec
    return out


def _flat(model: nn.Module) -> list[float]:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().tolist()


def xor_run(h: int, seed: int, cfg: dict) -> dict:
    """One 2-h-1 tanh network on XOR (½ MSE, Adam, full batch): weights before/after, Hessian count, LLC."""
    from slt.nn import estimate_llc
    from slt.nn.data import xor_data
    from slt.nn.hessian import spectrum
    from slt.nn.models import gaussian_nll, train, xor_mlp

    data = xor_data()
    model = xor_mlp(h, seed=seed)
    w0 = _flat(model)
    train(model, data, loss_fn=gaussian_nll, lr=0.05, epochs=cfg["xor_epochs"], seed=seed)
    sp = spectrum(model, data, gaussian_nll)
    rec = {"key": f"xor-{h}-{seed}", "part": "xor", "hidden": h, "seed": seed, "dim": sp.dim, "loss": sp.loss,
           "solved": sp.loss < SOLVED, "near_zero": sp.near_zero, "w0": w0, "w": _flat(model), "llc": None}
    if cfg["llc_draws"] and rec["solved"]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = estimate_llc(model, data, loss_fn=gaussian_nll, num_draws=cfg["llc_draws"], seed=seed, **LLC)
        rec["llc"] = float(res.mean)
    return rec


def digits_split(seed: int = 0):
    """Digits as (N, 64): test (360), prior half and bound half of the rest, by a fixed permutation."""
    from slt.nn.data import load_digits

    X, y = load_digits(torch.float32)
    X = X.reshape(len(X), -1)
    perm = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    te, tr = perm[:CERT["test"]], perm[CERT["test"]:]
    half = tr.numel() // 2
    return {"test": (X[te], y[te]), "train": (X[tr], y[tr]), "prior": (X[tr[:half]], y[tr[:half]]),
            "bound": (X[tr[half:]], y[tr[half:]])}


def mlp(h: int, seed: int) -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, 10))


def digits_run(h: int, seed: int, cfg: dict, split: dict) -> dict:
    """One 64-h-10 MLP trained by Adam on the digits training split: weights before/after, test error."""
    from slt.nn.models import train

    model = mlp(h, seed)
    w0 = _flat(model)
    train(model, split["train"], loss_fn=nn.functional.cross_entropy, lr=3e-3, epochs=cfg["digits_epochs"],
          batch_size=64, seed=seed)
    X, y = split["test"]
    with torch.no_grad():
        err = float((model(X).argmax(-1) != y).double().mean())
    return {"key": f"digits-{h}-{seed}", "part": "digits", "hidden": h, "seed": seed, "dim": len(w0),
            "w0": w0, "w": _flat(model), "test_error": err}


def certificate_run(h: int, cfg: dict, split: dict, seed: int = 0) -> dict:
    """Data-dependent prior on the prior half, Q trained on f-quad on the bound half, certified there."""
    from slt.nn.pacbayes import GaussianPosterior, certify, fit_prior_mean, mc_error, train_posterior

    t = time.time()
    model = mlp(h, seed)
    pm = fit_prior_mean(model, split["prior"], epochs=cfg["cert_prior_epochs"], lr=3e-3, seed=seed)
    q = GaussianPosterior(model, sigma=CERT["sigma"], prior_sigma=CERT["sigma"], mean=pm, prior_mean=pm)
    train_posterior(q, split["bound"], objective=CERT["objective"], delta=CERT["delta"], epochs=cfg["cert_epochs"],
                    lr=CERT["lr"], seed=seed)
    c = certify(q, split["bound"], num_samples=cfg["cert_samples"], delta=CERT["delta"], delta_mc=CERT["delta_mc"],
                seed=seed + 1)
    return {"key": f"cert-{h}", "part": "cert", "hidden": h, "dim": q.dim, **c.__dict__,
            "test_error_Q": mc_error(q, split["test"], num_samples=min(1000, cfg["cert_samples"]), seed=seed + 2),
            "test_error_mean": mc_error(q, split["test"], deterministic=True),
            "prior_test_error": mc_error(GaussianPosterior(model, sigma=1.0, prior_sigma=1.0, mean=pm), split["test"],
                                         deterministic=True), "seconds": time.time() - t}


def summarise(runs: list[dict], part: str) -> dict:
    """Per width: pushforward KL over the (solved) runs, Rashomon count, rank/2 and LLC (XOR)."""
    out = {}
    for h in sorted({r["hidden"] for r in runs if r["part"] == part}):
        rs = [r for r in runs if r["part"] == part and r["hidden"] == h and r.get("solved", True)]
        rec = {"dim": rs[0]["dim"] if rs else None, "runs": len(rs), "pushforward_kl": None}
        if len(rs) >= 2:
            rec["pushforward_kl"] = pb.pushforward_kl(np.array([r["w0"] for r in rs]), np.array([r["w"] for r in rs]))
        if part == "xor" and rs:
            nz = np.array([r["near_zero"] for r in rs], dtype=float)
            llc = [r["llc"] for r in rs if r["llc"] is not None]
            rec.update(near_zero_mean=float(nz.mean()), rank_mean=float(rec["dim"] - nz.mean()),
                       llc_mean=float(np.mean(llc)) if llc else None,
                       solved=len(rs), total=sum(r["part"] == "xor" and r["hidden"] == h for r in runs))
        if part == "digits" and rs:
            rec["test_error_mean"] = float(np.mean([r["test_error"] for r in rs]))
        out[str(h)] = rec
    return out


def report(theory: dict, certs: dict, xor: dict) -> str:
    """The printed summary: KL slopes, the certificates per width, the XOR pushforward KLs per width."""
    th, reg = theory["x^2+y^4"], theory["(x^2+y^2)/2"]
    ti = quantity(th.get("slope_ti"), se=th.get("slope_ti_se"))
    slopes = (f"KL(Q_β‖φ) slope in log nβ: x²+y⁴ exact {number(th['slope_exact'])}, TI {ti} (λ = 0.75); "
              f"(x²+y²)/2 exact {number(reg['slope_exact'])} (λ = 1)")
    cert = table([{"h": h, **c} for h, c in certs.items()],
                 [Column("h", "digits 64-h-10"), Column("risk_bound", "risk bound"), Column("mc_risk", "ê_m"),
                  Column("kl", "KL", "nats"), Column("n"), Column("num_samples", "m"),
                  Column("test_error_Q", "test error of Q")], title="certificates")
    xor_rows = [{"h": h, **v, "solved_of": f"{v.get('solved')}/{v.get('total')}"} for h, v in xor.items()]
    pushed = table(xor_rows, [Column("h", "XOR h"), Column("pushforward_kl", "KL", "nats"),
                              Column("rank_mean", "Hessian rank"), Column("llc_mean", "LLC"),
                              Column("solved_of", "solved")], title="pushforward KL of trained vs initial weights")
    return "\n\n".join([slopes, cert, pushed])


def _todo(cfg: dict, done: set) -> list[tuple[str, int, int]]:
    jobs = [("cert", h, 0) for h in cfg["digits_widths"]]
    jobs += [("digits", h, s) for h in cfg["digits_widths"] for s in range(cfg["digits_runs"])]
    jobs += [("xor", h, s) for h in cfg["xor_widths"] for s in range(cfg["xor_runs"])]
    return [j for j in jobs if (f"{j[0]}-{j[1]}-{j[2]}" if j[0] != "cert" else f"cert-{j[1]}") not in done]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small settings (about 30 s of CPU)")
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / NAME))
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    cfg = CONFIG["quick" if args.quick else "full"]
    out = Path(args.out)
    t0 = time.time()
    cached = out / f"{NAME}_theory.json"  # the SLT part, kept for a resumed run with the same settings
    keys = ("nbetas", "ti_nbetas", "ti")
    if cached.exists() and load_json(cached)["config"] == {k: cfg[k] for k in keys}:
        theory = load_json(cached)["theory"]
    else:
        theory = slt_part(cfg)
        save_json(cached, {"config": {k: cfg[k] for k in keys}, "theory": theory})
    log = ResumableLog(out / f"{NAME}_runs.jsonl")
    todo = _todo(cfg, log.done())
    split = digits_split() if any(j[0] != "xor" for j in todo) else None
    from tqdm.auto import tqdm

    for part, h, s in tqdm(todo, desc=NAME, disable=args.no_progress):
        if part == "xor":
            log.append(xor_run(h, s, cfg))
        elif part == "digits":
            log.append(digits_run(h, s, cfg, split))
        else:
            log.append(certificate_run(h, cfg, split))
    wanted = {f"{p}-{h}-{s}" if p != "cert" else f"cert-{h}" for p, h, s in _todo(cfg, set())}
    runs = [r for r in {r["key"]: r for r in log.records()}.values() if r["key"] in wanted]
    certs = {str(r["hidden"]): {k: v for k, v in r.items() if k not in ("key", "part")}
             for r in runs if r["part"] == "cert"}
    summary = {"config": cfg, "certificate_settings": CERT, "llc_settings": LLC, "theory": theory,
               "xor": summarise(runs, "xor"),
               "digits": summarise(runs, "digits"), "certificates": certs, "seconds_this_call": time.time() - t0}
    save_json(out / f"{NAME}.json", summary)
    th = theory["x^2+y^4"]
    save_npz(out / f"{NAME}.npz", nbeta=th["nbeta"], kl_exact=th["exact"],
             kl_exact_regular=theory["(x^2+y^2)/2"]["exact"], ti_nbeta=th["ti_nbeta"], kl_ti=th["ti"], kl_ti_se=th["ti_se"],
             xor_width=np.array([int(h) for h in summary["xor"]]),
             xor_kl=np.array([v["pushforward_kl"] or np.nan for v in summary["xor"].values()], dtype=float),
             xor_rank=np.array([v.get("rank_mean", np.nan) for v in summary["xor"].values()], dtype=float),
             cert_width=np.array([int(h) for h in certs]), cert_bound=np.array([c["risk_bound"] for c in certs.values()]))
    print(report(theory, certs, summary["xor"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
