"""Time to a converged LLC on networks, and the error against exact values (issue 29).

For every case of a ladder the project builds itself (:mod:`benchmarks.networks_cases`: quadratic
restrictions with Gaussian answers -- a layer of a deep linear network, the read-out of a tanh MLP
on frozen features -- at condition numbers κ = (nβ h_max + γ)/γ from about 10² to 10⁵; whole deep
linear networks against the HMC references; a trained one-layer transformer on a + b mod p) and
every tool (:mod:`benchmarks.networks_tools`: slt's default, slt with each sampler the torch
backend registers, devinterp and canonical-interp at their defaults), one *cell* measures:

- the time to a converged estimate: the tool runs at its defaults; while the targets (split R-hat
  ≤ ``--rhat`` (``--rhat-transformer`` on the transformer) and relative se ≤ ``--rse``) do not hold,
  it runs again with twice the draws, as long as the next run is expected to fit the budget
  (``--budget-s`` seconds of the tool's own calls per cell, wall clock, one torch thread; a run
  still going at the end of the budget is ended).  Time to converged = the seconds of all runs up
  to the first that met the targets (a peer's one-off warm-up / compile call counted once);
- of the last run: λ̂, se, R-hat, relative se (all by :func:`networks_tools.judge`, the same
  diagnostic for every tool, from the per-chain loss traces), the error against the exact value in
  combined se, the draws, the step, and the 1-minute load average before and after (the machine may
  be shared).  The transformer has no exact value: two estimator seeds must agree within 3
  combined se (printed per tool).

Results go to ``--out``/``networks.json`` after every cell; a rerun skips the cells already there
with the same settings (resume).  ``--report`` writes the table into a "Networks" section of
``benchmarks/VALIDATION.md`` from that JSON.  ``--quick``: every code path at tiny sizes with the
peers skipped (``tests/test_bench_networks.py``).

A sampler with options is named ``name+option`` (a boolean option set to True), e.g.
``--samplers hmc+adapt_metric``.

Run: ``python benchmarks/bench_networks.py [--budget-s 600] [--samplers sgld hmc ...]
[--cases NAME ...] [--skip-peers] [--report]``; ``python benchmarks/bench_networks.py --quick
--out /tmp/networks`` (seconds); ``python benchmarks/bench_networks.py --report-only``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import networks_tools as tools  # noqa: E402
from benchmarks import peers  # noqa: E402
from benchmarks.networks_cases import (  # noqa: E402
    CASES, Case, build_case, full_batch_loss, kappa_text, save_peer_problem)

OUT = ROOT / "benchmarks" / "out" / "networks"
REPORT = ROOT / "benchmarks" / "VALIDATION.md"
SECTION = "## 5. Networks: time to a converged LLC (`bench_networks.py`)"
MAX_ATTEMPTS = 8
PEER_TOOLS = {"devinterp 2.0.1": "devinterp", "canonical-interp 0.1.5": "canonical"}


OLD_DEFAULT = "slt old default"  # the network default before issue 29: 8 chains of SGLD, 2000 draws, γ = 1
OLD_DEFAULT_DRAWS = 2000


def tool_names(samplers: list[str], skip_peers: bool) -> list[str]:
    """``slt default``, slt's old default, ``slt <sampler>`` for each sampler, then the peers."""
    return ["slt default", OLD_DEFAULT, *(f"slt {s}" for s in samplers), *([] if skip_peers else PEER_TOOLS)]


def settings_key(spec: dict, tool: str, seed: int, args: argparse.Namespace) -> str:
    """A hash of everything that defines a cell's result (resume skips cells with the same)."""
    s = {"case": spec, "tool": tool, "seed": seed, "budget_s": args.budget_s, "rse": args.rse,
         "rhat": rhat_target(spec, args), "quick": args.quick,
         "peer": tools.PEER_DEFAULTS.get(PEER_TOOLS.get(tool, ""), None)}
    if tool.startswith("devinterp") and seed:
        s["init_seed"] = tools.DEVINTERP_INIT_SEED + 1000 * seed
    return hashlib.sha1(json.dumps(s, sort_keys=True).encode()).hexdigest()[:16]


def rhat_target(spec: dict, args: argparse.Namespace) -> float:
    return args.rhat_transformer if spec["kind"] == "transformer" else args.rhat


def slt_runs(case: Case, tool: str, seed: int, env: dict, args: argparse.Namespace) -> Iterator[dict]:
    """slt's runs on ``case``: the tool's defaults, then twice the draws each time while the next
    run is expected to fit the budget; a run still going when the budget ends is ended.  With the
    library's own "run until converged" option (:func:`networks_tools.converge_kwargs`): one run."""
    sampler, options = tools.sampler_and_options(None if tool in ("slt default", OLD_DEFAULT)
                                                 else tool.removeprefix("slt "))
    old = tool == OLD_DEFAULT
    spent, draws = 0.0, OLD_DEFAULT_DRAWS if old and not args.quick else None
    for k in range(MAX_ATTEMPTS):
        remaining = args.budget_s - spent
        if k and 2 * att["seconds"] > remaining:
            yield {"stop": f"not converged: the next run ({2 * att['seconds']:.0f} s) would pass the budget"}
            return
        conv = {} if old else tools.converge_kwargs(remaining, rhat_target(env["spec"], args), args.rse)
        if tool == "slt default" and conv:  # the library's own targets and draw budget; only the time is the cell's
            conv = {k: v for k, v in conv.items() if not k.startswith("target_")}
        att = tools.slt_attempt(case, "sgld" if old else sampler, seed=seed, draws=draws, timeout=remaining,
                                quick=args.quick, converge=conv, default_gamma=tool == "slt default",
                                sampler_options=options)
        att.setdefault("seconds", remaining)
        yield att
        if conv or "draws" not in att:
            return
        spent, draws = spent + att["seconds"], 2 * int(att["draws"])


def peer_runs(case: Case, tool: str, seed: int, env: dict, args: argparse.Namespace) -> Iterator[dict]:
    """The peer's runs on ``case`` (one process: :func:`networks_tools.peer_runs`)."""
    peer = PEER_TOOLS[tool]
    py = env["peers"][peer].get("python")
    if py is None:
        yield {"error": env["peers"][peer].get("error", "not installed")}
        return
    runs = tools.peer_runs(Path(py), peer, env["problem_file"], seed=seed, nbeta=case.nbeta, gamma=case.gamma,
                           budget_s=args.budget_s, timeout=args.budget_s + args.peer_overhead_s)
    yield from runs
    if "error" not in runs[-1]:
        yield {"stop": "not converged: the next run would pass the budget"}


RUN_KEYS = ("seconds", "cpu_seconds", "warm_seconds", "sampler", "step_size", "gamma", "gamma_search", "chains",
            "draws", "burnin", "thin",
            "own_se", "own_rhat", "init_loss", "warnings", "info", "compile", "versions")


def run_cell(case: Case, tool: str, seed: int, env: dict, args: argparse.Namespace) -> dict:
    """Runs of ``tool`` with doubling draws until the targets hold or the budget is spent: each
    run judged by :func:`networks_tools.judge`; the time to converged counts every run up to the
    first that met the targets (and a peer's warm-up call)."""
    rhat_max = rhat_target(env["spec"], args)
    spent, runs, load = 0.0, [], [tools.load_avg()]
    status, ttc = "not converged: budget", None
    for att in (peer_runs if tool in PEER_TOOLS else slt_runs)(case, tool, seed, env, args):
        if "stop" in att:
            status = att["stop"]
            break
        spent += att.get("seconds", 0.0) + (att.get("warm_seconds") or 0.0)
        row = {key: att[key] for key in RUN_KEYS if key in att}
        if "error" in att or "timeout" in att:
            runs.append({**row, "error": att.get("error") or att["timeout"]})
            status = "error" if "error" in att else "not converged: ended at the budget"
            break
        same_gamma = att.get("gamma", case.gamma) == case.gamma  # the exact values hold at the case's γ
        row.update(tools.judge(att, nbeta=case.nbeta, init_loss=env["init_loss"], exact=case.exact if same_gamma
                               else None, exact_se=case.exact_se, rhat_max=rhat_max, rse_max=args.rse))
        runs.append(row)
        if row.get("diverged") or row["converged"]:
            status, ttc = ("diverged", None) if row.get("diverged") else ("converged", spent)
            break
    load.append(tools.load_avg())
    last = next((r for r in reversed(runs) if "llc" in r), runs[-1] if runs else {})
    return {"case": case.name, "tool": tool, "seed": seed, "status": status, "time_to_converged": ttc,
            "seconds_total": spent, "runs": runs, "last": last, "load_avg_1min": load}


def prepare_case(spec: dict, args: argparse.Namespace, peer_envs: dict) -> tuple[Case, dict]:
    """Build the case, its facts, and what the tools need (L_n(w*), the peers' problem file)."""
    import torch

    torch.manual_seed(0)
    case = build_case(spec, Path(args.out))
    env = {"spec": spec, "init_loss": full_batch_loss(case), "peers": peer_envs}
    if peer_envs:
        env["problem_file"] = save_peer_problem(case, Path(args.out) / "problems" / f"{slug(case.name)}.pt")
    facts = {**case.facts, "name": case.name, "kind": case.kind, "exact": case.exact, "exact_se": case.exact_se}
    return case, {**env, "facts": facts}


def slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name)


def install_peers(args: argparse.Namespace) -> dict:
    """Each peer's venv python, or why it is missing or skipped."""
    if args.skip_peers:
        return {}
    out = {}
    for peer, make in (("devinterp", lambda: peers.devinterp_python(args.install_timeout)),
                       ("canonical", lambda: peers.canonical_python(args.install_timeout, args.install_timeout))):
        py, how = make()
        out[peer] = {"python": str(py), "install": how} if py else {"error": how}
    return out


def load_results(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"cells": {}, "cases": {}}


def save_results(path: Path, results: dict) -> None:
    """Write atomically (a killed run leaves the previous file)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str))
    tmp.replace(path)


def run(args: argparse.Namespace) -> dict:
    """Every cell of the chosen cases × tools × seeds not yet in the JSON; returns the results."""
    import torch
    from tqdm import tqdm

    torch.set_num_threads(1)
    tools.preload()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "networks.json"
    results = load_results(path)
    specs = [s for s in CASES["quick" if args.quick else "full"] if not args.cases or s["name"] in args.cases]
    names = [t for t in tool_names(args.samplers, args.skip_peers)
             if not args.tools or any(t.startswith(prefix) for prefix in args.tools)]
    peer_envs = install_peers(args)
    results["peers"] = peer_envs
    todo = [(spec, tool, seed) for spec in specs for tool in names
            for seed in (args.seeds_transformer if spec["kind"] == "transformer" else [0])]
    bar = tqdm(todo, desc="cells", unit="cell", file=sys.stderr)
    prepared: dict[str, tuple[Case, dict]] = {}
    for spec, tool, seed in bar:
        key, skey = f"{spec['name']}|{tool}|{seed}", settings_key(spec, tool, seed, args)
        if results["cells"].get(key, {}).get("settings_key") == skey:
            continue
        bar.set_postfix_str(f"{spec['name']} / {tool} / seed {seed}")
        if spec["name"] not in prepared:
            prepared[spec["name"]] = prepare_case(spec, args, peer_envs)
            results["cases"][spec["name"]] = prepared[spec["name"]][1]["facts"]
        case, env = prepared[spec["name"]]
        cell = peers.guard(lambda: run_cell(case, tool, seed, env, args))
        results["cells"][key] = {**cell, "case": spec["name"], "tool": tool, "seed": seed, "settings_key": skey,
                                 "budget_s": args.budget_s}
        save_results(path, results)
    save_results(path, results)
    return results


# ---- tables ----
def _num(v: Any, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def cell_order(key: str) -> tuple:
    """Cells by the ladder's case order, then slt's default, slt's samplers, the peers; then seed."""
    names = [s["name"] for s in CASES["full"] + CASES["quick"]]
    case, tool, seed = key.split("|")
    rank = 0 if tool == "slt default" else 1 if tool == OLD_DEFAULT else 2 if tool.startswith("slt ") else \
        3 + list(PEER_TOOLS).index(tool) if tool in PEER_TOOLS else 9
    return (names.index(case) if case in names else len(names), rank, tool, int(seed))


def table(results: dict) -> list[str]:
    """The markdown table: one row per cell, in :func:`cell_order`."""
    lines = ["| case | κ | exact | tool | seed | γ | λ̂ ± se | R-hat | rel. se | z | draws | status | to converged (s) | "
             "CPU s | total (s) | budget (s) | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted(results["cells"], key=cell_order):
        c = results["cells"][key]
        f, last = results["cases"].get(c["case"], {}), c.get("last", {})
        exact = "—" if f.get("exact") is None else f"{f['exact']:.3f}" + (f" ± {f['exact_se']:.2f}" if f.get("exact_se")
                                                                            else "")
        est = "—" if last.get("llc") is None else f"{last['llc']:.4g}" + (f" ± {last['se']:.2g}" if "se" in last
                                                                           else "")
        status = c.get("status") or c.get("error", "error")[:60]
        cpu = sum(r.get("cpu_seconds") or 0.0 for r in c.get("runs", [])) if c.get("time_to_converged") else None
        gamma = last.get("gamma", f.get("gamma"))
        lines.append(f"| {c['case']} | {kappa_text(f.get('kappa'))} | {exact} | {c['tool']} | {c['seed']} | "
                     f"{_num(gamma, 'g')} | {est} | "
                     f"{_num(last.get('rhat'), '.3f')} | {_num(last.get('rse'), '.1%')} | {_num(last.get('z'), '+.1f')}"
                     f" | {last.get('draws', '—')} | {status} | {_num(c.get('time_to_converged'), '.0f')} | "
                     f"{_num(cpu, '.0f')} | "
                     f"{_num(c.get('seconds_total'), '.0f')} | {_num(c.get('budget_s'), '.0f')} | "
                     f"{max(c.get('load_avg_1min', [0])):.1f} |")
    return lines


def agreement(results: dict) -> list[str]:
    """Per tool on each case without an exact value: the seeds' λ̂ difference in combined se."""
    lines = []
    by: dict[tuple, list] = {}
    for c in results["cells"].values():
        if results["cases"].get(c["case"], {}).get("exact") is None and "se" in c.get("last", {}):
            by.setdefault((c["case"], c["tool"]), []).append(c)
    for (case, tool), cells in by.items():
        if len(cells) >= 2:
            a, b = cells[0]["last"], cells[1]["last"]
            z = abs(a["llc"] - b["llc"]) / math.hypot(a["se"], b["se"])
            ok = z <= 3 and max(a["rhat"], b["rhat"]) <= 1.1
            lines.append(f"- {case}, {tool}: seeds {cells[0]['seed']} and {cells[1]['seed']}: {a['llc']:.2f} ± "
                         f"{a['se']:.2f} and {b['llc']:.2f} ± {b['se']:.2f}, |Δ| = {z:.1f} combined se, R-hat "
                         f"{a['rhat']:.2f} / {b['rhat']:.2f}: {'agree' if ok else 'do not agree'} (3 se, R-hat ≤ 1.1)")
    return lines


def section(results: dict) -> list[str]:
    """The "Networks" section of the validation report."""
    m = results.get("meta", {})
    return [SECTION, "",
            f"`python benchmarks/bench_networks.py` (last run {m.get('when', '?')}, commit "
            f"{str(m.get('commit', '?'))[:9]}). Targets: R-hat ≤ {m.get('rhat', 1.05)} "
            f"({m.get('rhat_transformer', 1.1)} on the transformer) and relative se ≤ {m.get('rse', 0.05)}; a tool "
            "that misses them runs again with twice the draws while the next run is expected to fit the cell's "
            "budget (a run still going at the end of the budget is ended). `status` says whether the targets held "
            "(not whether λ̂ is right: that is `z`, the error against the exact value in combined se). One torch "
            "thread; wall seconds of the tool's own calls (a peer's one warm-up / compile call counted); `load` is "
            "the highest 1-minute load average during the cell (2 cores, shared with other work). se, R-hat and "
            "z come from the same diagnostic for every tool (`slt.diagnostics` on the per-chain loss traces); λ̂ "
            "is each tool's own. Exact: the Gaussian value ½ Σ nβh/(nβh + γ) of the restricted quadratic (w* at "
            "the restricted least-squares minimum); for whole DLNs the HMC references of VALIDATION_EARLIER.md. "
            "slt's default runs given only nβ, the restriction and the seed (it chooses γ: the γ column, "
            "`slt.estimators.localization`); slt's old default is 8 chains of SGLD, 2000 draws, γ = 1 (the network "
            "default before issue 29); `slt <sampler>` names one sampler at γ = 1 (`hmc+adapt_metric`: HMC with "
            "`sampler_options={'adapt_metric': True}`); slt's named samplers are not run on the transformer (the "
            "bench gives them the case's γ = 1, at which its chains leave the basin of w*: see the default's γ "
            "search); "
            "budgets differ between runs of the script (column `budget`); the peers get the case's nβ "
            "and γ and otherwise their defaults (devinterp 2.0.1: 4 chains × 200 draws, batch 32, no burn-in, "
            "lr 1e-3 from its README since it has no default; canonical-interp 0.1.5: its README's 10 chains × "
            "200 draws, 100 burn-in steps, lr 1e-5, batch 512).", ""] \
        + table(results) + [""] + (agreement(results) or ["(no case without an exact value)"]) + [""] + missing(results)


def missing(results: dict) -> list[str]:
    """A line naming the cases some tools have no cell on (not run yet), if any."""
    tools_seen = {c["tool"] for c in results["cells"].values()}
    gaps = []
    for case in results["cases"]:
        have = {c["tool"] for c in results["cells"].values() if c["case"] == case}
        if tools_seen - have:
            gaps.append(f"{case} ({', '.join(sorted(tools_seen - have))})")
    return [f"Not run yet: {'; '.join(gaps)}.", ""] if gaps else []


def write_section(results: dict, report: Path = REPORT) -> None:
    """Put :func:`section` into ``report``: replace the section if there, else insert it before
    the closing note on earlier figures (or at the end)."""
    text = report.read_text() if report.exists() else ""
    block = "\n".join(section(results))
    if SECTION in text:
        start = text.index(SECTION)
        nxt = [i for i in (text.find("\n## ", start + 1), text.find("\nFigures measured at earlier", start + 1))
               if i != -1]
        end = min(nxt) + 1 if nxt else len(text)
        text = text[:start] + block + "\n" + text[end:]
    else:
        i = text.find("Figures measured at earlier")
        text = text[:i] + block + "\n" + text[i:] if i != -1 else text.rstrip("\n") + "\n\n" + block + "\n"
    report.write_text(text)


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--quick", action="store_true", help="tiny cases, peers skipped: every code path in seconds")
    ap.add_argument("--samplers", nargs="*", default=None,
                    help="slt samplers to name explicitly (default: every sampler the torch backend registers)")
    ap.add_argument("--cases", nargs="*", default=None, help="case names (default: the whole ladder)")
    ap.add_argument("--budget-s", type=float, default=None, help="seconds per cell (default 600; 3 with --quick)")
    ap.add_argument("--rhat", type=float, default=1.05)
    ap.add_argument("--rhat-transformer", type=float, default=1.1)
    ap.add_argument("--rse", type=float, default=0.05)
    ap.add_argument("--seeds-transformer", type=int, nargs=2, default=[0, 1])
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--tools", nargs="*", default=None,
                    help="keep the tools whose names start with one of these (e.g. 'slt default' devinterp)")
    ap.add_argument("--peer-overhead-s", type=float, default=180.0, help="imports and compiling, beyond the budget")
    ap.add_argument("--install-timeout", type=float, default=3600.0)
    ap.add_argument("--report", action="store_true", help="also write the Networks section of VALIDATION.md")
    ap.add_argument("--report-only", action="store_true", help="only print the table and write the section")
    args = ap.parse_args(argv)
    args.skip_peers = args.skip_peers or args.quick
    args.budget_s = args.budget_s or (3.0 if args.quick else 600.0)
    if args.samplers is None and not args.report_only:
        args.samplers = tools.sampler_names()
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the cells (unless ``--report-only``), print the table, write the report if asked."""
    import subprocess

    args = parse(argv)
    path = Path(args.out) / "networks.json"
    if args.report_only:
        results = load_results(path)
    else:
        t0 = time.time()
        results = run(args)
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
        results["meta"] = {"when": time.strftime("%Y-%m-%d"), "commit": commit, "budget_s": args.budget_s,
                           "rhat": args.rhat, "rhat_transformer": args.rhat_transformer, "rse": args.rse,
                           "samplers": args.samplers, "wall_s": time.time() - t0, "quick": args.quick}
        save_results(path, results)
    print("\n".join(table(results) + [""] + agreement(results)))
    if args.report or args.report_only:
        write_section(results)
        print(f"wrote the Networks section of {REPORT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
