"""slt.pacbayes against pacbb (PyPI, Mardan, Tretiakov & Fortuin): the same bounds from the same inputs.

On a grid of (empirical 0-1 risk ê_m of m Monte Carlo draws, KL, n, δ, δ') the script computes
pacbb's ``KLBound`` and ``McAllesterBound`` (``calculate(avg_loss, kl, num_samples_bound,
num_samples_loss) -> (risk, empirical_risk)``), its ``inv_kl`` and ``GaussianVariable.compute_kl``,
and slt's :func:`slt.pacbayes.certificate`, :func:`slt.pacbayes.kl_inverse` and
:func:`slt.pacbayes.gaussian_kl` on the same numbers, and prints the largest differences.

pacbb is never a dependency of slt: the script creates ``benchmarks/out/pacbb-venv``
(``python -m venv --system-site-packages``) and runs ``pip install --no-deps pacbb==0.1.2``
there (its declared dependencies torchvision, lightning and wandb are not used by the bound
code; torch and numpy come from the system site).  If pacbb cannot be imported the script says
exactly why; ``--pacbb-src DIR`` then points at a checkout of its source repository
(github.com/fortuinlab/pacbb, the folder holding ``core/``) to compare against that code instead.

Run: ``python benchmarks/bench_pacbayes.py [--pacbb-src DIR] [--timeout 600]``
"""
from __future__ import annotations

import argparse
import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out"
VENV = OUT / "pacbb-venv"
PACBB = "pacbb==0.1.2"
GRID = dict(mc_risk=[0.0, 0.01, 0.05, 0.2, 0.5], kl=[0.0, 0.5, 10.0, 500.0], n=[100, 719, 30000],
            num_samples=[150, 1000, 10000], delta=[0.025], delta_mc=[0.01])

# Runs inside the pacbb venv: every case through pacbb's own classes.
PACBB_SCRIPT = r"""
import json, sys
s = json.loads(sys.argv[1])
if s["src"]:
    sys.path.insert(0, s["src"])
import core
out = {"core_file": core.__file__}
from core.bound import KLBound, McAllesterBound
from core.utils.kl import inv_kl
import torch
rows = []
for c in s["cases"]:
    kb = KLBound(bound_delta=c["delta"], loss_delta=c["delta_mc"])
    mb = McAllesterBound(bound_delta=c["delta"], loss_delta=c["delta_mc"])
    r, e = kb.calculate(avg_loss=c["mc_risk"], kl=c["kl"], num_samples_bound=c["n"], num_samples_loss=c["num_samples"])
    rm, em = mb.calculate(avg_loss=c["mc_risk"], kl=c["kl"], num_samples_bound=c["n"], num_samples_loss=c["num_samples"])
    rows.append({"kl_bound": float(r), "emp_risk_bound": float(e), "mcallester": float(rm)})
out["bounds"] = rows
out["inv_kl"] = [float(inv_kl(q, c)) for q, c in s["inv_kl"]]
try:
    from core.distribution import GaussianVariable
    g = s["gauss"]
    sig = lambda v: torch.log(torch.expm1(torch.tensor(v, dtype=torch.float64) ** 0.5))
    Q = GaussianVariable(mu=torch.tensor(g["mq"], dtype=torch.float64), rho=sig(g["vq"]))
    P = GaussianVariable(mu=torch.tensor(g["mp"], dtype=torch.float64), rho=sig(g["vp"]))
    out["gaussian_kl"] = float(Q.compute_kl(P))
except Exception as exc:  # the bounds are the point; say why the KL could not be compared
    out["gaussian_kl_error"] = repr(exc)
print(json.dumps(out))
"""


def cases() -> list[dict]:
    keys = list(GRID)
    return [dict(zip(keys, v)) for v in itertools.product(*GRID.values())]


def ensure_venv(timeout: float) -> str | None:
    """Create the venv and install pacbb; None on success, else the reason."""
    py = VENV / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(VENV)], check=True,
                           capture_output=True, text=True, timeout=timeout)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", PACBB], check=True,
                       capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        return f"pip install {PACBB} failed: {(exc.stderr or exc.stdout).strip()[-600:]}"
    except subprocess.TimeoutExpired:
        return f"pip install {PACBB} timed out after {timeout:.0f}s"
    return None


def run_pacbb(payload: dict, timeout: float) -> dict:
    py = VENV / "bin" / "python"
    try:
        done = subprocess.run([str(py), "-c", PACBB_SCRIPT, json.dumps(payload)], capture_output=True, text=True,
                              timeout=timeout, cwd=str(OUT))
    except subprocess.TimeoutExpired:
        return {"error": f"pacbb run timed out after {timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}",
                "traceback": done.stderr.strip()[-1500:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def slt_side(cs: list[dict], inv: list[tuple[float, float]], gauss: dict) -> dict:
    from slt import pacbayes as pb

    rows = []
    for c in cs:
        cert = pb.certificate(c["mc_risk"], c["num_samples"], c["kl"], c["n"], delta=c["delta"],
                              delta_mc=c["delta_mc"])
        rows.append({"kl_bound": cert.risk_bound, "emp_risk_bound": cert.emp_risk_bound,
                     "mcallester": pb.mcallester_bound(cert.emp_risk_bound, c["kl"], c["n"], c["delta"])})
    return {"bounds": rows, "inv_kl": [pb.kl_inverse(q, k) for q, k in inv],
            "gaussian_kl": pb.gaussian_kl(gauss["mq"], gauss["vq"], gauss["mp"], gauss["vp"])}


def compare(ours: dict, theirs: dict, cs: list[dict]) -> dict:
    """Largest absolute and relative differences per quantity; McAllester also against pacbb's
    expression as written (log(2√n)/δ instead of log(2√n/δ))."""
    import math

    res = {}
    for key in ("kl_bound", "emp_risk_bound", "mcallester"):
        a = np.array([r[key] for r in ours["bounds"]])
        b = np.array([r[key] for r in theirs["bounds"]])
        res[key] = {"max_abs": float(np.max(np.abs(a - b))), "max_rel": float(np.max(np.abs(a - b) / np.maximum(b, 1e-12)))}
    as_written = np.array([r["emp_risk_bound"] + math.sqrt((c["kl"] + math.log(2 * math.sqrt(c["n"])) / c["delta"])
                                                           / (2 * c["n"])) for r, c in zip(ours["bounds"], cs)])
    theirs_m = np.array([r["mcallester"] for r in theirs["bounds"]])
    res["mcallester_vs_pacbb_expression_as_written"] = float(np.max(np.abs(as_written - theirs_m)))
    a, b = np.array(ours["inv_kl"]), np.array(theirs["inv_kl"])
    res["inv_kl"] = {"max_abs": float(np.max(np.abs(a - b))), "max_rel": float(np.max(np.abs(a - b) / np.maximum(b, 1e-12)))}
    if "gaussian_kl" in theirs:
        res["gaussian_kl"] = {"slt": ours["gaussian_kl"], "pacbb": theirs["gaussian_kl"],
                              "rel": abs(ours["gaussian_kl"] / theirs["gaussian_kl"] - 1)}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pacbb-src", default=None, help="a checkout of github.com/fortuinlab/pacbb (holds core/)")
    ap.add_argument("--timeout", type=float, default=600.0)
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    cs = cases()
    inv = [(q, k) for q in (0.0, 0.01, 0.1, 0.5, 0.9) for k in (1e-3, 0.05, 0.5, 3.0)]
    rng = np.random.default_rng(0)
    gauss = {"mq": rng.normal(size=50).tolist(), "vq": rng.uniform(0.01, 0.1, 50).tolist(),
             "mp": rng.normal(size=50).tolist(), "vp": [0.05] * 50}
    ours = slt_side(cs, inv, gauss)
    report: dict = {"pacbb": PACBB, "cases": len(cs)}
    why = ensure_venv(args.timeout)
    theirs = {"error": why} if why else run_pacbb({"src": None, "cases": cs, "inv_kl": inv, "gauss": gauss}, args.timeout)
    report["pypi"] = {k: v for k, v in theirs.items() if k not in ("bounds", "inv_kl")}
    if "error" in theirs:
        print(f"pacbb from PyPI ({PACBB}) unusable: {theirs['error']}")
        if args.pacbb_src:
            theirs = run_pacbb({"src": str(Path(args.pacbb_src).resolve()), "cases": cs, "inv_kl": inv, "gauss": gauss},
                               args.timeout)
            report["source"] = {"path": args.pacbb_src, **{k: v for k, v in theirs.items() if k not in ("bounds", "inv_kl")}}
    if "error" not in theirs:
        report["comparison"] = compare(ours, theirs, cs)
        print(f"pacbb code from {theirs['core_file']}, {len(cs)} cases (ê_m, KL, n, m; δ = 0.025, δ' = 0.01):")
        for k, v in report["comparison"].items():
            print(f"  {k}: {v}")
    (OUT / "bench_pacbayes.json").write_text(json.dumps(report, indent=2))
    print(f"wrote {OUT / 'bench_pacbayes.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
