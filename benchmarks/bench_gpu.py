"""The torch bridge on a GPU: throughput against devinterp and canonical-interp, the largest
deep linear network that fits, and the effect of the dtype on λ̂ (issue 24).

One prepared run prints, and writes to ``--out``/``bench_gpu.json``:

1. **throughput** -- chains × draws per second of :func:`slt.nn.estimate_llc` (public API,
   SGLD, no burn-in, no ν̂: the work the peers do) against devinterp 2.0.1 (chains one after
   another) and canonical-interp 0.2.7 (chains vmapped, ``torch.compile``) on the same model,
   data, step, nβ, γ, batch size, chains and draws: an MLP, the CIFAR CNN
   (:func:`slt.nn.models.small_cnn` on CIFAR-shaped synthetic data; labels drawn from the
   network itself, so w* is a true parameter) and a deep linear network of ~10⁶ parameters at
   a low-rank teacher.  The step is the bridge's ``step_size="auto"`` from a warm-up run.
   Peers run in their own virtual environments under ``benchmarks/out/gpu-peers/`` (created
   by this script; the main environment is untouched) and are skipped, with the reason, when
   they cannot be installed.  Syncs per step: host-device synchronisations per sampling step
   of the bridge (``torch.cuda.set_sync_debug_mode``; CUDA only).
2. **largest** -- the largest deep linear network of a ladder (10⁸, 5·10⁷, 10⁷ parameters)
   that fits: λ̂, λ̂ + βν̂ (``LLCResult.corrected``; over data sets E[λ̂] = λ_β − βν, Watanabe
   2009 §6.3), Aoyagi's λ (:func:`slt.rlct.deep_linear_network`; Aoyagi 2024, Thm 1), wall
   time and peak memory (``torch.cuda.max_memory_allocated``).  The reference for scale is
   Furman & Lau (2024, "Estimating the local learning coefficient at scale").
3. **dtype** -- λ̂ on one DLN built in float64 and cast to float32 and bfloat16, at the same
   step, nβ, γ, seed and step count.

``--device cpu --quick`` runs every code path above (peers excepted) in seconds; it is part of
the test suite (``tests/test_bench_gpu.py``).

GPU machine without network: ``--prepare-wheels .whl`` here downloads the peers and what the GPU
image lacks (CPython 3.12); carry ``.whl``, install slt's part there (``pip install --no-deps
--target /tmp/site .whl/{arviz,xarray_einstats,h5netcdf,platformdirs}*``, on PYTHONPATH), pass ``--wheels .whl``.

Run: ``python benchmarks/bench_gpu.py [--device cuda] [--quick] [--skip-peers] [--out DIR]``, e.g.
``python benchmarks/bench_gpu.py --device cpu --quick --out /tmp/gpu`` (CPU, seconds).
"""
from __future__ import annotations

import argparse
import copy
import functools
import inspect
import json
import resource
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from benchmarks import peers  # noqa: E402 - the peers' venvs and runs, shared with the other benchmarks
from benchmarks.peers import guard, linked_python  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "gpu"
PEER_DIR = ROOT / "benchmarks" / "out" / "gpu-peers"
PEERS = {"devinterp": "devinterp==2.0.1", "canonical-interp": "canonical-interp==0.2.7"}
# what the peers need beyond the GPU image's packages (KINDS.md lists the image), for --prepare-wheels
PEER_WHEELS = ["devinterp==2.0.1", "canonical-interp==0.2.7", "datasets", "dill", "multiprocess", "zarr", "numcodecs",
               "donfig", "google-crc32c", "msgspec", "pydantic", "pydantic-core==2.50.5", "annotated-types",
               "typing-inspection", "arviz==0.23.4", "xarray-einstats", "h5netcdf", "platformdirs"]

PROBLEMS = {  # full (GPU) and quick (CPU, seconds)
    "full": {"mlp": dict(kind="mlp", widths=(64, 512, 512, 1), n=65_536, batch=512),
             "cnn": dict(kind="cnn", width=16, image=32, n=50_000, batch=512),
             "dln": dict(kind="dln", widths=(500,) * 5, rank=50, n=100_000, batch=500)},
    "quick": {"mlp": dict(kind="mlp", widths=(4, 8, 1), n=256, batch=32),
              "cnn": dict(kind="cnn", width=2, image=8, n=64, batch=16),
              "dln": dict(kind="dln", widths=(5, 5, 5, 5), rank=2, n=500, batch=50)},
}
LADDER = {"full": [((2000,) * 26, 100), ((1000,) * 51, 50), ((1000,) * 11, 50)],  # largest first: (widths, rank)
          "quick": [((6,) * 5, 2), ((4,) * 3, 1)]}
RUNS = {  # chains, draws (throughput), burn-in and draws (largest, dtype)
    "full": dict(chains=8, draws=400, warm_draws=20, sync_draws=100, large_chains=4, large_burnin=1000,
                 large_draws=1000, large_n=100_000, large_batch=500, dtype_problem="dln", dtype_chains=4,
                 dtype_burnin=2000, dtype_draws=1000),
    "quick": dict(chains=2, draws=16, warm_draws=8, sync_draws=8, large_chains=2, large_burnin=8, large_draws=8,
                  large_n=200, large_batch=50, dtype_problem="dln", dtype_chains=2, dtype_burnin=8, dtype_draws=8),
}
GAMMA = 1.0
SEED = 0


# ---- problems ----
@dataclass
class Problem:
    """A model at w*, its data on the device, the loss and (for a DLN) Aoyagi's λ."""

    name: str
    model: nn.Module
    X: torch.Tensor
    y: torch.Tensor
    loss: str  # "nll" (½‖f − y‖², Gaussian NLL) or "ce" (cross-entropy)
    batch_size: int
    lam: float | None = None

    @property
    def dim(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def n(self) -> int:
        return self.X.shape[0]


def per_sample_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample negative log-likelihood, shape (batch,): ½‖f(x) − y‖² or cross-entropy."""
    if kind == "ce":
        return nn.functional.cross_entropy(out, y.reshape(-1).long(), reduction="none")
    return 0.5 * (out - y).pow(2).reshape(out.shape[0], -1).sum(dim=1)


def nll_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean Gaussian NLL ½‖f − y‖² (:func:`slt.nn.models.gaussian_nll`)."""
    return per_sample_loss("nll", out, y).mean()


def ce_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy."""
    return per_sample_loss("ce", out, y).mean()


LOSSES: dict[str, Callable] = {"nll": nll_loss, "ce": ce_loss}


def build_problem(name: str, spec: dict, device: str, *, dtype: torch.dtype = torch.float32,
                  seed: int = SEED) -> Problem:
    """The model (at w*, on ``device``) and n samples drawn on ``device`` from the model itself.

    mlp: ``Linear``-ReLU stack, y = f(x) + N(0, 1); cnn: :func:`slt.nn.models.small_cnn`,
    x ~ N(0, 1) CIFAR-shaped, labels ~ softmax(f(x)); dln: :func:`slt.nn.models.dln_teacher`
    (every layer rank ``rank``), y = f(x) + N(0, 1), with Aoyagi's λ.  Same name, spec,
    device and seed give the same problem in every process (the peers rebuild it).

    >>> p = build_problem("dln", PROBLEMS["quick"]["dln"], "cpu")
    >>> p.dim, p.lam is not None
    (75, True)
    """
    from slt.nn.models import dln_teacher, generator, small_cnn

    g = generator(seed + 1, device)
    n, kind = int(spec["n"]), spec["kind"]
    lam = None
    if kind == "mlp":
        w = spec["widths"]
        with torch.random.fork_rng(devices=[]):  # the layers' initialisation draws from the global RNG
            torch.manual_seed(seed)
            layers = [m for a, b in zip(w[:-1], w[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
            model = nn.Sequential(*layers[:-1])
        shape = (n, w[0])
    elif kind == "cnn":
        model = small_cnn(width=spec["width"], image_size=spec["image"], seed=seed)
        shape = (n, 3, spec["image"], spec["image"])
    elif kind == "dln":
        from slt.rlct import deep_linear_network

        model = dln_teacher(spec["widths"], spec["rank"], seed=seed, dtype=torch.float64)
        lam = float(deep_linear_network(list(spec["widths"]), spec["rank"]).lam)
        shape = (n, spec["widths"][0])
    else:
        raise ValueError(f"kind={kind!r}; expected 'mlp', 'cnn' or 'dln'")
    model = model.to(device=device, dtype=dtype).eval()
    X = torch.randn(shape, generator=g, device=device, dtype=dtype)
    with torch.no_grad():
        f = torch.cat([model(X[i:i + 8192]) for i in range(0, n, 8192)])
    if kind == "cnn":
        y = torch.multinomial(torch.softmax(f.float(), dim=1), 1, generator=g).reshape(-1)
        return Problem(name, model, X, y, "ce", int(spec["batch"]))
    y = f + torch.randn(f.shape, generator=g, device=device, dtype=dtype)
    return Problem(name, model, X, y, "nll", int(spec["batch"]), lam)


def cast(p: Problem, dtype: torch.dtype) -> Problem:
    """The same problem with model and inputs in ``dtype`` (labels of a classifier stay int)."""
    y = p.y if p.loss == "ce" else p.y.to(dtype)
    return Problem(p.name, copy.deepcopy(p.model).to(dtype), p.X.to(dtype), y, p.loss, p.batch_size, p.lam)


# ---- the bridge: timing, memory, syncs ----
def synchronize(device: str, reset_peak: bool = False) -> None:
    """Wait for the device (CUDA); with ``reset_peak`` also restart the peak-memory count."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
        if reset_peak:
            torch.cuda.reset_peak_memory_stats()


def peak_memory(device: str) -> dict:
    """Peak GPU memory allocated since the last reset (CUDA), else the process's peak RSS."""
    if str(device).startswith("cuda"):
        return {"peak_gpu_bytes": int(torch.cuda.max_memory_allocated())}
    return {"peak_rss_bytes": int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024}


def llc_kwargs(**kw: Any) -> tuple[dict, list[str]]:
    """Keep the keywords :func:`slt.nn.estimate_llc` has (its signature may change under a
    refactor); return them and the names dropped."""
    from slt.nn import estimate_llc

    known = inspect.signature(estimate_llc).parameters
    return {k: v for k, v in kw.items() if k in known}, sorted(k for k in kw if k not in known)


def run_bridge(p: Problem, device: str, *, chains: int, draws: int, burnin: int = 0, step: float | str = "auto",
               nbeta: float | None = None, fluctuation: bool = False, seed: int = SEED,
               extra: dict | None = None) -> dict:
    """One :func:`slt.nn.estimate_llc` call: seconds, chains × steps per second, λ̂ and its se,
    λ̂ + βν̂, the step and nβ used, peak memory and warnings.

    >>> p = build_problem("dln", PROBLEMS["quick"]["dln"], "cpu")
    >>> r = run_bridge(p, "cpu", chains=2, draws=8, step=1e-4)  # doctest: +SKIP
    >>> r["chain_steps_per_s"] > 0, r["dim"]  # doctest: +SKIP
    (True, 75)
    """
    from slt.nn import estimate_llc

    kw, dropped = llc_kwargs(loss_fn=LOSSES[p.loss], nbeta=nbeta, gamma=GAMMA, step_size=step, num_chains=chains,
                             num_draws=draws, num_burnin=burnin, thin=1, sampler="sgld", richardson=False,
                             batch_size=p.batch_size, device=device, seed=seed,
                             fluctuation_points=1024 if fluctuation else 0, **(extra or {}))
    synchronize(device, reset_peak=True)
    t = time.perf_counter()
    res = estimate_llc(p.model, (p.X, p.y), **kw)
    synchronize(device)
    dt = time.perf_counter() - t
    fl = res.fluctuation
    return {"problem": p.name, "dim": p.dim, "n": p.n, "chains": chains, "draws": draws, "burnin": burnin,
            "seconds": dt, "chain_steps_per_s": chains * (draws + burnin) / dt, "mean": res.mean, "se": res.se,
            "corrected": getattr(res, "corrected", None), "nu": None if fl is None else getattr(fl, "nu", None),
            "step_size": res.config.step_size, "nbeta": res.config.nbeta, "lambda": p.lam,
            "device": str(res.info.get("device")), "warnings": list(res.warnings), "dropped_keywords": dropped,
            **peak_memory(device)}


def count_syncs(fn: Callable[[], Any]) -> tuple[Any, int | None]:
    """``fn()`` and the number of synchronising CUDA calls it made (None off CUDA), counted by
    ``torch.cuda.set_sync_debug_mode("warn")``, which warns at every ``.item()``, ``bool(t)``,
    device-to-host copy or stream synchronisation.

    >>> count_syncs(lambda: 1)[0]
    1
    """
    if not torch.cuda.is_available():
        return fn(), None
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            out = fn()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return out, sum("synchroniz" in str(w.message) for w in rec)


def syncs_per_step(p: Problem, device: str, *, chains: int, draws: int, step: float) -> float | None:
    """Host-device syncs per sampling step: (syncs at 2·draws − syncs at draws) / draws, so the
    set-up's syncs cancel.  None off CUDA."""
    if not str(device).startswith("cuda"):
        return None
    counts = [count_syncs(lambda d=d: run_bridge(p, device, chains=chains, draws=d, step=step))[1]
              for d in (draws, 2 * draws)]
    return (counts[1] - counts[0]) / draws


# ---- peers, each in its own virtual environment (benchmarks/peers.py) ----
def peer_python(name: str, wheels: str | None, timeout: float) -> tuple[Path | None, str | None]:
    """A venv for ``name`` under :data:`PEER_DIR` that sees this interpreter's packages and pip and
    the repository, with the peer installed (:func:`peers.linked_python`); (python, None) or
    (None, why)."""
    if name == "canonical-interp" and sys.version_info < (3, 12):
        return None, f"canonical-interp 0.2.x needs Python >= 3.12 (this is {sys.version.split()[0]})"
    return linked_python(PEER_DIR / name, PEERS[name], timeout, wheels)


def run_peer(name: str, spec: dict, timeout: float, wheels: str | None) -> dict:
    """The peer ``name`` in its venv on the problem described by ``spec`` (one warm-up call, then
    one timed call: :func:`peers.peer_main`), with its chains × steps per second."""
    py, why = peer_python(name, wheels, timeout)
    if py is None:
        return {"error": why}
    row = peers.run_peer(py, "devinterp" if name == "devinterp" else "canonical",
                         {**spec, "module": "benchmarks.bench_gpu", "gamma": GAMMA, "seed": SEED, "burnin": 0,
                          "batches_per_draw": 1, "autocast_dtype": True}, timeout)
    if "seconds" in row:
        row["chain_steps_per_s"] = spec["chains"] * spec["draws"] / row["seconds"]
    return row


def peer_problem(s: dict) -> tuple:
    """Inside a peer's venv: (model, X, y, per-sample loss) of the problem ``s`` describes."""
    p = build_problem(s["problem"], s["spec"], s["device"])
    return p.model, p.X, p.y, functools.partial(per_sample_loss, p.loss)


# ---- the three sections ----
def throughput_problem(name: str, spec: dict, args: argparse.Namespace) -> dict:
    """Section 1 for one problem: the bridge (warm-up with the auto step, then timed at that
    step), its syncs per step, a compiled run if ``estimate_llc`` has ``compile``, and the peers."""
    cfg, dev = RUNS[args.mode], args.device
    p = build_problem(name, spec, dev)
    warm = run_bridge(p, dev, chains=cfg["chains"], draws=cfg["warm_draws"], burnin=cfg["warm_draws"], step="auto")
    step, nbeta = warm["step_size"], warm["nbeta"]
    row: dict[str, Any] = {"dim": p.dim, "n": p.n, "batch_size": p.batch_size, "step_size": step, "nbeta": nbeta,
                           "chains": cfg["chains"], "draws": cfg["draws"], "warm_up": warm}
    row["slt"] = run_bridge(p, dev, chains=cfg["chains"], draws=cfg["draws"], step=step, nbeta=nbeta)
    row["slt_syncs_per_step"] = syncs_per_step(p, dev, chains=cfg["chains"], draws=cfg["sync_draws"], step=step)
    if "compile" in llc_kwargs(compile=True)[0] and args.quick and name != "mlp":
        row["slt compiled"] = {"skipped": "--quick compiles the MLP only (compiling costs seconds per problem)"}
    elif "compile" in llc_kwargs(compile=True)[0]:
        row["slt compiled"] = guard(lambda: run_bridge(p, dev, chains=cfg["chains"], draws=cfg["draws"], step=step,
                                                       nbeta=nbeta, extra={"compile": True}))
    peer_spec = {"problem": name, "spec": spec, "device": dev, "chains": cfg["chains"], "draws": cfg["draws"],
                 "warm_draws": cfg["warm_draws"], "step": step, "nbeta": nbeta, "batch_size": p.batch_size}
    for peer in PEERS:
        if args.skip_peers:
            row[peer] = {"skipped": "--quick" if args.quick else "--skip-peers"}
        else:
            row[peer] = run_peer(peer, peer_spec, args.timeout, args.wheels)
            if "chain_steps_per_s" in row[peer]:
                row[f"slt/{peer} throughput"] = row["slt"]["chain_steps_per_s"] / row[peer]["chain_steps_per_s"]
    return row


def fit_steps(p: Problem, device: str, *, chains: int, burnin: int, draws: int, budget: float) -> dict:
    """Burn-in and draws scaled down (same ratio, at least 8 draws) to fit ``budget`` seconds of
    sampling, from the seconds per step of two short runs (10 and 30 draws: the set-up cancels)."""
    t10, t30 = (run_bridge(p, device, chains=chains, draws=d, step=1e-12)["seconds"] for d in (10, 30))
    per_step = max((t30 - t10) / 20, 1e-9)
    scale = min(1.0, budget / (per_step * (burnin + draws)))
    return {"burnin": int(burnin * scale), "draws": max(8, int(draws * scale)), "probe_seconds_per_step": per_step}


def largest_one(spec: dict, args: argparse.Namespace) -> dict:
    """One rung of the ladder: build, fit the steps to ``--large-seconds``, run with ν̂."""
    cfg, dev = RUNS[args.mode], args.device
    p = build_problem("dln-large", spec, dev)
    steps = fit_steps(p, dev, chains=cfg["large_chains"], burnin=args.large_burnin, draws=args.large_draws,
                      budget=args.large_seconds)
    r = run_bridge(p, dev, chains=cfg["large_chains"], draws=steps["draws"], burnin=steps["burnin"], fluctuation=True)
    return {**r, "probe_seconds_per_step": steps["probe_seconds_per_step"]}


def largest_dln(args: argparse.Namespace) -> dict:
    """Section 2: the first DLN of :data:`LADDER` that runs (largest first; out of memory moves
    down), with λ̂, λ̂ + βν̂, Aoyagi's λ, relative errors, time and peak memory."""
    cfg, tried = RUNS[args.mode], []
    for widths, rank in LADDER[args.mode]:
        spec = dict(kind="dln", widths=widths, rank=rank, n=cfg["large_n"], batch=cfg["large_batch"])
        r = guard(lambda: largest_one(spec, args))
        entry = {"widths": list(widths), "rank": rank, "params": sum(a * b for a, b in zip(widths[:-1], widths[1:]))}
        if "error" in r:
            tried.append({**entry, "error": r["error"]})
            if "OutOfMemory" in r["error"]:
                continue
            return {"result": None, "tried": tried}
        r["relative_error"] = r["mean"] / r["lambda"] - 1
        if r.get("corrected") is not None:
            r["relative_error_corrected"] = r["corrected"] / r["lambda"] - 1
        return {"result": {**entry, **r}, "tried": tried}
    return {"result": None, "tried": tried}


def dtype_effect(args: argparse.Namespace) -> dict:
    """Section 3: one DLN built in float64, cast to float32 and bfloat16; the step from a short
    auto warm-up in float64, then the same step, nβ, γ, seed and steps in every dtype."""
    cfg, dev = RUNS[args.mode], args.device
    base = build_problem("dln", PROBLEMS[args.mode][cfg["dtype_problem"]], dev, dtype=torch.float64)
    warm = run_bridge(base, dev, chains=cfg["dtype_chains"], draws=cfg["warm_draws"], burnin=cfg["warm_draws"])
    out: dict[str, Any] = {"problem": base.name, "dim": base.dim, "lambda": base.lam, "step_size": warm["step_size"],
                           "nbeta": warm["nbeta"]}
    for name, dt in (("float64", torch.float64), ("float32", torch.float32), ("bfloat16", torch.bfloat16)):
        out[name] = guard(lambda dt=dt: run_bridge(cast(base, dt), dev, chains=cfg["dtype_chains"],
                                                   draws=cfg["dtype_draws"], burnin=cfg["dtype_burnin"],
                                                   step=warm["step_size"], nbeta=warm["nbeta"]))
    return out


# ---- printing, wheels, main ----
def _fmt(r: dict) -> str:
    if "error" in r or "skipped" in r:
        return r.get("error") or f"skipped ({r['skipped']})"
    est = f"λ̂ {r['mean']:.4g}" + (f" ± {r['se']:.2g}" if r.get("se") is not None else "")
    return f"{r['seconds']:8.2f} s {r['chain_steps_per_s']:10.0f} chain-steps/s  {est}"


def report(results: dict) -> None:
    """Print the sections in a few lines each."""
    env = results["environment"]
    print(f"device {env['device']} ({env['device_name']}), torch {env['torch']}, {results['mode']}")
    for name, row in results.get("throughput", {}).items():
        if "error" in row:
            print(f"[1] {name}: {row['error']}")
            continue
        print(f"[1] {name}: {row['dim']} params, n {row['n']}, batch {row['batch_size']}, {row['chains']} chains x "
              f"{row['draws']} draws, step {row['step_size']:.3g}, nβ {row['nbeta']:.4g}, "
              f"syncs/step {row['slt_syncs_per_step']}")
        for key in ("slt", "slt compiled", *PEERS):
            if key in row:
                print(f"      {key:18s} {_fmt(row[key])}")
        for key in (k for k in row if k.endswith("throughput")):
            print(f"      {key}: {row[key]:.2f}x")
    big = results.get("largest", {})
    r = big.get("result")
    for t in big.get("tried", []):
        print(f"[2] {t['params']:.3g} params: {t['error']}")
    if r:
        mem = r.get("peak_gpu_bytes", r.get("peak_rss_bytes", 0)) / 2**30
        corr = r.get("corrected")
        corr = "" if corr is None else f"λ̂+βν̂ {corr:.4g} ({r['relative_error_corrected']:+.1%}), "
        print(f"[2] largest DLN {r['params']:.3g} params ({len(r['widths']) - 1} layers of {r['widths'][0]}, rank "
              f"{r['rank']}, {r['chains']} chains, {r['burnin']} + {r['draws']} steps): λ̂ {r['mean']:.4g} ± "
              f"{r['se']:.2g} ({r['relative_error']:+.1%}), {corr}λ {r['lambda']:.6g}, {r['seconds']:.1f} s, "
              f"peak {mem:.2f} GiB")
    dt = results.get("dtype", {})
    for name in ("float64", "float32", "bfloat16"):
        if name in dt:
            print(f"[3] {name:9s} {_fmt(dt[name])}  (λ {dt.get('lambda')})")


def prepare_wheels(folder: str) -> int:
    """Download :data:`PEER_WHEELS` for the GPU image (CPython 3.12, manylinux x86-64) into
    ``folder``, without dependencies (the image has the rest)."""
    plat = ["--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64",
            "--platform", "manylinux2014_x86_64"]
    failed = []
    for req in PEER_WHEELS:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
               "3.12", "--implementation", "cp", *plat, "-d", folder, req]
        if subprocess.run(cmd, capture_output=True, text=True).returncode:
            failed.append(req)
    print(f"wheels in {folder}; failed: {failed or 'none'}")
    return 1 if failed else 0


def environment(device: str) -> dict:
    """Versions and the device, for the JSON."""
    cuda = device.startswith("cuda")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    except OSError:
        commit = ""
    return {"device": device, "device_name": torch.cuda.get_device_name() if cuda else "cpu",
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": sys.version.split()[0],
            "commit": commit, "threads": torch.get_num_threads()}


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, no peers: every code path in seconds")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--with-peers", action="store_true", help="run the peers in --quick mode too")
    parser.add_argument("--wheels", default=None, help="install the peers offline from this folder of wheels")
    parser.add_argument("--prepare-wheels", default=None, metavar="DIR", help="download the peers' wheels and exit")
    parser.add_argument("--sections", nargs="+", default=["throughput", "largest", "dtype"],
                        choices=["throughput", "largest", "dtype"])
    parser.add_argument("--problems", nargs="+", default=["mlp", "cnn", "dln"], choices=["mlp", "cnn", "dln"])
    parser.add_argument("--large-burnin", type=int, default=None)
    parser.add_argument("--large-draws", type=int, default=None)
    parser.add_argument("--large-seconds", type=float, default=120.0, help="sampling budget of section 2")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per peer install and per peer run")
    args = parser.parse_args(argv)
    args.mode = "quick" if args.quick else "full"
    args.skip_peers = args.skip_peers or (args.quick and not args.with_peers)
    args.large_burnin = RUNS[args.mode]["large_burnin"] if args.large_burnin is None else args.large_burnin
    args.large_draws = RUNS[args.mode]["large_draws"] if args.large_draws is None else args.large_draws
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections, print them and write ``bench_gpu.json`` to ``--out``."""
    args = parse(argv)
    if args.prepare_wheels:
        return prepare_wheels(args.prepare_wheels)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("--device cuda: no CUDA device here (use --device cpu --quick for the CPU run)", file=sys.stderr)
        return 2
    if args.device == "cpu":
        torch.set_num_threads(1)
    from slt.errors import SLTWarning

    warnings.filterwarnings("ignore", category=SLTWarning)  # each result keeps its warnings in the JSON
    results: dict[str, Any] = {"mode": args.mode, "environment": environment(args.device), "gamma": GAMMA,
                               "seed": SEED, "runs": RUNS[args.mode]}
    t0 = time.perf_counter()
    if "throughput" in args.sections:
        results["throughput"] = {name: guard(lambda name=name: throughput_problem(name, PROBLEMS[args.mode][name],
                                                                                 args))
                                 for name in args.problems}
    if "largest" in args.sections:
        results["largest"] = largest_dln(args)
    if "dtype" in args.sections:
        results["dtype"] = guard(lambda: dtype_effect(args))
    results["seconds"] = time.perf_counter() - t0
    report(results)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.json").write_text(json.dumps(results, indent=2, default=str))
    print(f"total {results['seconds']:.1f} s; wrote {out / 'bench_gpu.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
