"""The peer LLC tools the benchmarks compare with -- devinterp 2.x and canonical-interp -- each in
its own virtual environment under ``benchmarks/out/``, run in a subprocess, never a dependency of
slt; and the small helpers the benchmarks share (:func:`guard`, :func:`best_of`,
:func:`chain_stats`).

Environments (created on first use, reused after):

- :func:`devinterp_python`: ``benchmarks/out/devinterp-venv``, a ``venv --system-site-packages``
  of this Python with ``pip install devinterp==2.0.1``.
- :func:`canonical_python`: ``benchmarks/out/canonical-venv``, a venv of Python ≥ 3.12 (which
  canonical-interp 0.1.5 needs for ``itertools.batched``) with torch (the CPU wheel index first,
  then PyPI), ``pip install --no-deps canonical-interp==0.1.5`` and the packages it imports.
- :func:`linked_python`: a venv of *this* interpreter that sees its packages and the repository
  through a ``.pth`` file, with one requirement installed (from PyPI or a folder of wheels): what
  ``bench_gpu.py`` uses on a GPU machine without network.

A run (:func:`run_peer`) starts ``python -c "...peer_main(...)"`` in the peer's venv with one JSON
argument: the peer's name, the benchmark module that rebuilds the problem
(``<module>.peer_problem(settings) -> (model, X, y, per_sample_loss)``, importable with torch
only) and the settings (``chains``, ``draws``, ``warm_draws``, ``repeats`` or ``budget_s``, and
whichever of ``step``, ``nbeta``, ``gamma``, ``batch_size``, ``burnin``, ``steps_bw_draws``, ``seed``,
``device`` the benchmark fixes; a key left out keeps the peer's own default).  :func:`peer_main`
rebuilds the problem, warms up, times the calls and prints one JSON line: each chain's λ̂
(:func:`chain_stats`), the seconds, versions and, with ``traces``, the per-chain loss traces.

Conventions (read from the peers' sources): both take ε with the drift −(ε/2)(nβ∇L + γ(w − w*))
and noise N(0, ε); devinterp 2.x wants language-model rows ``input_ids`` and a per-token loss, so
each row carries (x, y) and the per-sample loss is repeated along the token axis (its token mean is
that loss); canonical-interp takes a DataLoader, here one handing out whole shuffled batches by
index.

Used by ``bench_gpu.py``, ``bench_llc_vs_devinterp.py`` and ``bench_networks.py``; run one of
those (this module has no command line).
"""
from __future__ import annotations

import importlib
import inspect
import json
import math
import os
import shutil
import site
import subprocess
import sys
import time
import traceback
import venv
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
VENV = OUT / "devinterp-venv"
CANONICAL_VENV = OUT / "canonical-venv"
DEVINTERP = "devinterp==2.0.1"
CANONICAL = "canonical-interp==0.1.5"
CANONICAL_DEPS = ["numpy", "pandas", "tqdm"]  # what canonical_interp imports besides torch
TORCH_312 = "torch==2.13.0"  # this environment's torch, for the Python 3.12 venv
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PY312_CANDIDATES = ["python3.12", "/root/.pyenv/versions/3.12.1/bin/python3.12"]  # the first that runs
DIST = {"devinterp": "devinterp", "canonical": "canonical-interp"}  # peer name -> distribution


# ---- shared helpers ----
def guard(fn: Callable[[], dict], limit: int = 800) -> dict:
    """``fn()``, or ``{"error": ...}`` with the exception's text (``limit`` characters) and the
    traceback's tail: one failure ends no run.  After a CUDA out-of-memory error the cache is
    emptied, so the next case starts clean."""
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001 - recorded in the JSON and printed
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(exc, torch.OutOfMemoryError) and torch.cuda.is_available():
            torch.cuda.empty_cache()
        return {"error": f"{type(exc).__name__}: {exc}"[:limit], "traceback": traceback.format_exc()[-1500:]}


def best_of(fn: Callable[[], dict], repeats: int) -> dict:
    """``fn()``, a row with ``seconds``, ``repeats`` times: the first row with the least of the
    times (the call least disturbed by other load on a shared machine), all in ``seconds_all``,
    and the 1-minute load average before and after."""
    load = [os.getloadavg()[0]]
    rows = [fn() for _ in range(max(1, repeats))]
    load.append(os.getloadavg()[0])
    if any("seconds" not in r for r in rows):
        return next(r for r in rows if "seconds" not in r)
    secs = [r["seconds"] for r in rows]
    return {**rows[0], "seconds": min(secs), "seconds_all": secs, "load_avg_1min": load}


def chain_stats(per_chain) -> dict:
    """λ̂ as the mean of the per-chain values; se = their spread (ddof 1) / √chains."""
    v = [float(x) for x in per_chain]
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float("nan")
    return {"mean": m, "std": sd, "se": sd / math.sqrt(len(v)), "se_chains": sd / math.sqrt(len(v)), "per_chain": v}


# ---- environments ----
def call(cmd: list, timeout: float) -> str | None:
    """Run ``cmd``: None when it succeeded, else why not (the tail of its output)."""
    try:
        subprocess.run([str(c) for c in cmd], check=True, capture_output=True, text=True, timeout=timeout)
    except subprocess.CalledProcessError as exc:
        return (exc.stderr or exc.stdout or f"exit status {exc.returncode}").strip()[-600:]
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout:.0f}s"
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pip_install(py: Path, args: list[str], timeout: float, wheels: str | None = None) -> str | None:
    """``pip install -q ARGS`` with ``py`` (offline from the folder ``wheels`` when given)."""
    offline = ["--no-index", "--find-links", str(Path(wheels).resolve())] if wheels else []
    return call([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *offline, *args], timeout)


def devinterp_python(timeout: float) -> tuple[Path | None, str]:
    """``VENV`` (a ``--system-site-packages`` venv of this Python) with devinterp installed:
    (its python, how) or (None, why not)."""
    py = VENV / "bin" / "python"
    err = None if py.exists() else call([sys.executable, "-m", "venv", "--system-site-packages", VENV], timeout)
    err = err or pip_install(py, [DEVINTERP], timeout)
    if err:
        return None, f"devinterp install failed: {err}"
    return py, (f"pip install {DEVINTERP} in {VENV.name} (venv --system-site-packages of Python "
                f"{sys.version.split()[0]})")


def python312() -> str | None:
    """The first of ``PY312_CANDIDATES`` that runs and is Python ≥ 3.12."""
    for cand in PY312_CANDIDATES:
        exe = shutil.which(cand)
        if exe and call([exe, "-c", "import sys; assert sys.version_info >= (3, 12)"], 60) is None:
            return exe
    return None


def _torch_312(py: Path, note: Path, install_timeout: float) -> str | None:
    """torch into the 3.12 venv: the CPU wheel index, then PyPI; how it went goes to ``note``."""
    tries: list[str] = []
    err: str | None = "not tried"
    for args, where in (([TORCH_312, "--index-url", TORCH_CPU_INDEX], "the CPU wheel index"),
                        ([TORCH_312], "PyPI (its CUDA build, which runs on the CPU)")):
        err = pip_install(py, args, install_timeout)
        why = " | ".join(line.strip() for line in (err or "").splitlines() if "rror" in line)[-400:] or err
        tries.append(f"{TORCH_312} from {where}: " + ("installed" if err is None else f"failed ({why})"))
        if err is None:
            break
    note.write_text("; ".join(tries))
    return None if err is None else "no torch for the Python 3.12 venv: " + "; ".join(tries)


def canonical_python(timeout: float, install_timeout: float) -> tuple[Path | None, str]:
    """``CANONICAL_VENV`` (a venv of Python ≥ 3.12) with torch (the CPU wheel index first, then
    PyPI), canonical-interp without its declared dependencies and the packages it imports:
    (its python, how) or (None, why not)."""
    py, note = CANONICAL_VENV / "bin" / "python", CANONICAL_VENV / "torch-install.txt"
    if not py.exists():
        base = python312()
        if base is None:
            return None, f"canonical-interp needs Python >= 3.12 (itertools.batched): none of {PY312_CANDIDATES} runs"
        if err := call([base, "-m", "venv", CANONICAL_VENV], timeout):
            return None, f"venv of {base} failed: {err}"
    if call([py, "-c", "import torch"], timeout) is not None and (err := _torch_312(py, note, install_timeout)):
        return None, err
    for args in (["--no-deps", CANONICAL], CANONICAL_DEPS):
        if err := pip_install(py, args, timeout):
            return None, f"pip install {' '.join(args)} failed: {err}"
    how_torch = note.read_text() if note.exists() else "torch was already in the venv"
    return py, (f"venv of Python 3.12 at {CANONICAL_VENV.name}; {how_torch}; pip install --no-deps {CANONICAL}; "
                f"pip install {' '.join(CANONICAL_DEPS)}")


def linked_python(env: Path, requirement: str, timeout: float,
                  wheels: str | None = None) -> tuple[Path | None, str | None]:
    """A venv of this interpreter at ``env`` that sees its packages and pip (a ``.pth`` file) and
    the repository, with ``requirement`` installed: (python, None) or (None, why)."""
    name = requirement.split("==")[0]
    py = env / "bin" / "python"
    try:
        if not py.exists():
            venv.create(env, system_site_packages=True, with_pip=False)  # pip comes through the .pth
            purelib = next((env / "lib").glob("python*/site-packages"))
            paths = [*site.getsitepackages(), site.getusersitepackages(), str(ROOT)]
            (purelib / "_bench_gpu_parent.pth").write_text("\n".join(p for p in paths if os.path.isdir(p)) + "\n")
    except (OSError, StopIteration) as exc:
        return None, f"{name} install failed: {type(exc).__name__}: {exc}"
    if err := pip_install(py, [requirement], timeout, wheels):
        return None, f"{name} install failed: {err}"
    return py, None


# ---- one peer run in its venv ----
def run_peer(py: Path, peer: str, spec: dict, timeout: float) -> dict:
    """:func:`peer_main` for ``peer`` ("devinterp" or "canonical") in its venv (python ``py``) on
    the problem ``spec["module"]`` rebuilds from ``spec``: its JSON line, or the error."""
    code = "import sys; from benchmarks.peers import peer_main; peer_main(sys.argv[1])"
    try:
        done = subprocess.run([str(py), "-c", code, json.dumps({**spec, "peer": peer})], capture_output=True,
                              text=True, timeout=timeout, cwd=str(ROOT), check=False)
    except subprocess.TimeoutExpired:
        return {"error": f"{peer} run timed out after {timeout:.0f}s"}
    if done.returncode != 0:
        return {"error": f"{peer} failed: {done.stderr.strip()[-800:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _synchronize(device: str) -> None:
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def peer_main(arg: str) -> None:
    """Inside a peer's venv: rebuild the problem (``<module>.peer_problem``), warm up with
    ``warm_draws`` draws (imports, compilation), then time ``repeats`` calls of ``draws`` draws
    (:func:`best_of`), or, when ``budget_s`` is given, :func:`doubling` calls; print one JSON line."""
    from importlib.metadata import version

    import torch

    s = json.loads(arg)
    torch.set_num_threads(s.get("threads", 1))
    model, X, y, loss = importlib.import_module(s["module"]).peer_problem(s)
    run = RUNNERS[s["peer"]](model, X, y, loss, s)
    device = s.get("device", "cpu")
    warm = None
    if s.get("warm_draws"):
        t = time.perf_counter()
        run(s["warm_draws"])
        _synchronize(device)
        warm = time.perf_counter() - t

    def timed(draws: int) -> dict:
        t, c = time.perf_counter(), time.process_time()
        row = run(draws)
        _synchronize(device)
        return {**row, "draws": draws, "seconds": time.perf_counter() - t, "cpu_seconds": time.process_time() - c}

    if s.get("budget_s") is not None:
        out: dict[str, Any] = {"runs": doubling(timed, s["draws"], s["budget_s"], s.get("max_runs", 8))}
    else:
        out = best_of(lambda: timed(s["draws"]), s.get("repeats", 1))
    versions = {"python": sys.version.split()[0], "torch": torch.__version__, DIST[s["peer"]]: version(DIST[s["peer"]])}
    print(json.dumps({**out, "warm_seconds": warm, "versions": versions}))


def doubling(timed: Callable[[int], dict], draws: int, budget_s: float, max_runs: int) -> list[dict]:
    """``timed(draws)``, ``timed(2 draws)``, ... while the next call (twice the last one's seconds)
    is expected to fit in what is left of ``budget_s``: every call's row, in order (the caller
    judges which first met its targets; the calls after it cost wall time only)."""
    rows: list[dict] = []
    left = budget_s
    while len(rows) < max_runs and (not rows or 2 * rows[-1]["seconds"] <= left):
        rows.append(timed(draws * 2 ** len(rows)))
        left -= rows[-1]["seconds"]
    return rows


def _given(s: dict, names: dict[str, str]) -> dict:
    """The peer's keywords for the settings ``s`` fixes (``names``: our key -> its keyword)."""
    return {theirs: s[ours] for ours, theirs in names.items() if s.get(ours) is not None}


def devinterp_runner(model, X, y, per_sample: Callable, s: dict) -> Callable[[int], dict]:
    """devinterp 2.x is language-model shaped: rows of ``input_ids`` and a per-token loss
    ``loss_fn(model, input_ids) -> (batch, seq - 1)``.  Each row carries (x, y) flattened (built
    once, untimed); the per-sample loss is repeated in every "token" column, so devinterp's mean
    over tokens is that loss.  Its ``lr`` has no default: ``s["step"]`` is required."""
    import tempfile

    import datasets
    import torch
    from devinterp.slt.llc import llc

    n, d_in, x_shape = X.shape[0], X[0].numel(), X.shape[1:]
    rows = torch.cat([X.reshape(n, -1), y.reshape(n, -1).to(X.dtype)], 1).cpu().numpy()
    ds = datasets.Dataset.from_dict({"input_ids": rows}).with_format("torch")

    def loss(model, ids):
        ids = ids.to(X.dtype)
        out = model(ids[:, :d_in].reshape(-1, *x_shape))
        return per_sample(out, ids[:, d_in:].reshape(-1, *y.shape[1:]))[:, None].expand(-1, ids.shape[1] - 1)

    kw = _given(s, {"chains": "num_chains", "batch_size": "batch_size", "gamma": "localization",
                    "burnin": "num_burnin_steps", "batches_per_draw": "batches_per_draw", "init_seed": "init_seed"})

    def run(draws: int) -> dict:
        res = llc(model=model, dataset=ds, observables={}, loss_fn=loss, num_draws=draws, lr=s["step"],
                  n_beta=s["nbeta"], device=s.get("device", "cpu"), output_path=tempfile.mkdtemp() + "/run.zarr",
                  **kw)
        row = {**chain_stats(res["llc_per_chain"].values), "init_loss": float(res["init_loss"]),
               "mean_loss": float(res["loss_trace"].mean())}
        return {**row, "loss_trace": res["loss_trace"].values.tolist()} if s.get("traces") else row

    return run


def canonical_runner(model, X, y, per_sample: Callable, s: dict) -> Callable[[int], dict]:
    """canonical-interp: a DataLoader handing out whole shuffled batches by index (no per-sample
    collation; ``s["batch_size"]`` at most n, default all n); its default ``compile=True``, or
    ``compile=False`` (said in ``compile``) once compiling has failed.  Keywords its
    ``LLCEstimator`` lacks (the API moved between 0.1 and 0.2) are left out."""
    import torch
    from torch.utils.data import BatchSampler, DataLoader, RandomSampler, TensorDataset

    try:
        from canonical_interp.slt import LLCEstimator  # 0.1.x
    except ImportError:
        from canonical_interp import LLCEstimator  # 0.2.x

    data = TensorDataset(X, y)
    order = RandomSampler(data, generator=torch.Generator().manual_seed(s.get("seed", 0)))
    batch = min(s.get("batch_size") or X.shape[0], X.shape[0])
    loader = DataLoader(data, sampler=BatchSampler(order, batch, drop_last=True), batch_size=None)
    kw: dict[str, Any] = dict(criterion_fn=lambda out, t: per_sample(out, t).mean(), devices=s.get("device", "cpu"),
                              seed=s.get("seed", 0), show_progress=False)
    est_kw = _given(s, {"chains": "chains", "burnin": "burnin_steps", "step": "learning_rate", "gamma": "localization",
                        "steps_bw_draws": "steps_bw_draws", "nbeta": "nbeta"})
    if s.get("autocast_dtype"):  # its dtype autocasts the forward pass (bench_gpu.py's dtype runs)
        est_kw["dtype"] = X.dtype
    known = inspect.signature(LLCEstimator).parameters
    est_kw = {k: v for k, v in est_kw.items() if k in known}
    mode = {"compile": "compile=True (its default)"}

    def run(draws: int) -> dict:
        est = LLCEstimator(draws=draws, **est_kw)
        try:
            est.estimate_llc(model, loader, **kw)
        except Exception as exc:  # compiling can fail on a machine: say so, run eager
            if kw.get("compile") is False:
                raise
            kw["compile"] = False
            mode["compile"] = f"compile=False, since compile=True failed: {type(exc).__name__}: {str(exc)[:400]}"
            est.estimate_llc(model, loader, **kw)
        metrics = est.get_metrics()
        src = Path(sys.modules[LLCEstimator.__module__].__file__).parent
        uses_tv = any("torchvision" in f.read_text() for f in src.glob("*.py"))
        row = {**chain_stats(metrics["llcs"].tolist()), **mode, "source_mentions_torchvision": uses_tv}
        if s.get("traces"):  # metrics: "losses" (chains, draws) and "llcs" = nβ (mean loss − L(w*)) per chain
            losses = metrics["losses"].double()
            row["loss_trace"] = losses.tolist()
            row["init_loss"] = float((losses.mean(1) - metrics["llcs"].double() / est.nbeta).mean())
        return row

    return run


RUNNERS: dict[str, Callable] = {"devinterp": devinterp_runner, "canonical": canonical_runner}
