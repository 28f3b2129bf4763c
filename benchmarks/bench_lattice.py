"""Random walks on lattices: numba ensemble vs a plain-Python walker, and exact answers at 10⁶ nodes.

Measured in one run (the goal is a ratio, not a time):
  numba  : slt.lattices.simulate_walk on intersecting_cycles(k, L), many walkers;
  python : the same walk in plain Python over the networkx adjacency (neighbour lists built
           once, random.Random.choice per step), and python_nx reading G.adj[v] every step;
  exact  : stationary law and spectral gap (lazy walk, 1/2) of two 3-d tori of side n glued at a
           point (n = 80: 1,023,999 nodes), built directly as CSR arrays; the gap is checked
           against the closed form slt.lattices.glued_tori_lambda2.
Goals (issue 3): numba ≥ 100× python; exact answers in seconds.

Each walker is timed --repeat times, interleaved, and its best time kept; rates per CPU second
(summed over threads) are printed too, being less sensitive to other load on the machine.

Run: python benchmarks/bench_lattice.py [--walkers 2000] [--steps 20000] [--side 80] [--threads N]
"""
from __future__ import annotations

import argparse
import random
import time

import numba

from slt import lattices as Lt


def _clock() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def python_walk(G, walkers: int, steps: int, seed: int, *, prebuilt: bool = True) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain-Python walker; ``prebuilt=False`` reads ``G.adj[v]`` each step."""
    rng = random.Random(seed)
    nbrs = {v: list(G.adj[v]) for v in G} if prebuilt else None
    counts = dict.fromkeys(G, 0)
    nodes = list(G)
    t0, c0 = _clock()
    for _ in range(walkers):
        v = rng.choice(nodes)
        for _ in range(steps):
            v = rng.choice(nbrs[v] if prebuilt else list(G.adj[v]))
            counts[v] += 1
    t1, c1 = _clock()
    return t1 - t0, c1 - c0


def numba_walk(G, walkers: int, steps: int, seed: int) -> tuple[float, float]:
    """(wall, CPU summed over threads) seconds of :func:`slt.lattices.simulate_walk`."""
    t0, c0 = _clock()
    Lt.simulate_walk(G, num_walkers=walkers, num_steps=steps, seed=seed)
    t1, c1 = _clock()
    return t1 - t0, c1 - c0


def best_rates(G, args) -> tuple[dict[str, float], dict[str, float]]:
    """Walker-steps per wall second and per CPU second of each walker, from the best of
    ``args.repeat`` interleaved rounds (the least disturbed by other load on the machine)."""
    Lt.simulate_walk(G, num_walkers=2, num_steps=2, seed=0)  # compile / load the cache
    py_w, py_s = 10, args.python_steps // 10
    runs = {"numba": (lambda: numba_walk(G, args.walkers, args.steps, 0), args.walkers * args.steps),
            "python": (lambda: python_walk(G, py_w, py_s, 0), py_w * py_s),
            "python_nx": (lambda: python_walk(G, py_w, py_s, 0, prebuilt=False), py_w * py_s)}
    wall = dict.fromkeys(runs, float("inf"))
    cpu = dict.fromkeys(runs, float("inf"))
    for _ in range(args.repeat):
        for name, (run, _) in runs.items():
            w, c = run()
            wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)
    return ({name: steps / wall[name] for name, (_, steps) in runs.items()},
            {name: steps / cpu[name] for name, (_, steps) in runs.items()})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=20_000)
    ap.add_argument("--python-steps", type=int, default=200_000, help="total steps of the slow baseline")
    ap.add_argument("--repeat", type=int, default=5, help="rounds of each walker timing (best kept)")
    ap.add_argument("--side", type=int, default=80, help="torus side for the exact timing (0: skip)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    G = Lt.intersecting_cycles(5, 101)
    rate, cpu_rate = best_rates(G, args)
    res = {"threads": numba.get_num_threads(), "walker_steps_per_s": rate, "walker_steps_per_cpu_s": cpu_rate,
           "numba_over_python": rate["numba"] / rate["python"], "numba_over_python_nx": rate["numba"] / rate["python_nx"],
           "cpu_numba_over_python": cpu_rate["numba"] / cpu_rate["python"]}
    print(f"threads={res['threads']}  (best of {args.repeat}; per wall second | per CPU second)")
    for k in rate:
        print(f"  {k:<9} {rate[k] / 1e6:9.2f} | {cpu_rate[k] / 1e6:9.2f} M walker-steps/s")
    print(f"  numba / python (neighbour lists) = {res['numba_over_python']:.0f}  (goal >= 100)")
    print(f"  numba / python (G.adj each step) = {res['numba_over_python_nx']:.0f}")
    print(f"  per CPU second: numba / python = {res['cpu_numba_over_python']:.0f}, "
          f"numba / python_nx = {cpu_rate['numba'] / cpu_rate['python_nx']:.0f}")
    if args.side:
        t0, c0 = _clock()
        g = Lt.glued_tori(args.side, [(0, 1, 2), (3, 4, 5)], sparse=True)
        t1, c1 = _clock()
        Lt.stationary_vector(g)
        t2, c2 = _clock()
        gap = Lt.spectral_gap(g, lazy=0.5)
        t3, c3 = _clock()
        exact_gap = 0.5 * (1 - Lt.glued_tori_lambda2(args.side, 3))  # lazy 1/2 halves 1 − λ₂
        res["exact"] = {"nodes": g.num_nodes, "build_s": t1 - t0, "stationary_s": t2 - t1, "spectral_gap_s": t3 - t2,
                        "cpu_s": {"build": c1 - c0, "stationary": c2 - c1, "spectral_gap": c3 - c2},
                        "gap": gap.gap, "gap_closed_form": exact_gap, "gap_rel_error": gap.gap / exact_gap - 1,
                        "mixing_time_upper": gap.mixing_time_upper}
        print(f"  glued tori: {g.num_nodes} nodes; build {t1 - t0:.1f} s, stationary {t2 - t1:.2f} s, "
              f"spectral gap {t3 - t2:.1f} s (gap {gap.gap:.6e}, t_mix <= {gap.mixing_time_upper:.3e})")
        print(f"  CPU seconds: build {c1 - c0:.1f}, stationary {c2 - c1:.2f}, spectral gap {c3 - c2:.1f}")
        print(f"  closed form (secular equation) {exact_gap:.6e}: relative error {res['exact']['gap_rel_error']:.1e}")
    if args.json:
        from slt.io import save_json

        save_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
