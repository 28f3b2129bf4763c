"""Walker-steps per second of overdamped Langevin on V = x²y²: numba vs NumPy vs the RNG.

Three rates measured in one run (the goal is a ratio, not a time):
  numba : slt.sampling.run, 10,000 walkers (no recording),
  numpy : the same Euler–Maruyama update vectorised over walkers, numpy's default Generator,
  rng   : slt's own generator filling an array with the same number of normal variates
          (2 per walker-step): the floor of the cost, since the noise must be drawn.
Goals (issue 2): numba ≥ 2.5× numpy and ≥ 60% of the RNG rate.  The three are timed in
``--repeat`` interleaved rounds and each keeps its best round, so that a burst of load from
other processes on a shared machine does not land on one of them only.  The RNG fill runs right
after the numba run in each round, and the median of those pairs' ratios is printed too: the
machine drifts between states (the same fill takes 5.7 or 9 ns per walker-step), and a ratio of
two bests can pair different states.

Run: python benchmarks/bench_langevin.py [--walkers 10000] [--steps 10000] [--threads N] [--repeat 3]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numba
import numpy as np

from slt import potentials as P, sampling
from slt.sampling import rng as slt_rng


def numpy_langevin(walkers: int, steps: int, dt: float, seed: int) -> float:
    gen = np.random.default_rng(seed)
    x = gen.uniform(-2, 2, size=(walkers, 2))
    sd = np.sqrt(2 * dt)
    g = np.empty_like(x)
    t0 = time.perf_counter()
    for _ in range(steps):
        x0, x1 = x[:, 0], x[:, 1]
        g[:, 0] = 2 * x0 * x1 * x1
        g[:, 1] = 2 * x0 * x0 * x1
        x += -dt * g + sd * gen.standard_normal(x.shape)
    return time.perf_counter() - t0


def numba_langevin(V, walkers: int, steps: int, dt: float, seed: int) -> float:
    kw = dict(num_walkers=walkers, step_size=dt, box=(-2, 2), seed=seed, hist_bins=0, progress=False)
    sampling.run(V, num_steps=10, thin=10, **kw)  # compile / load cache
    t0 = time.perf_counter()
    sampling.run(V, num_steps=steps, thin=steps, **kw)
    return time.perf_counter() - t0


def rng_fill(walkers: int, steps: int, seed: int) -> float:
    states = slt_rng.stream_keys(seed, walkers)
    block = min(steps, 1000)
    out = np.empty((walkers, 2 * block))
    slt_rng.fill_normal(states, out)  # compile, and touch every page before timing
    t0 = time.perf_counter()
    for _ in range(steps // block):
        slt_rng.fill_normal(states, out)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--walkers", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=10_000)
    ap.add_argument("--numpy-steps", type=int, default=1_000, help="steps for the (slow) numpy baseline")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved rounds; the best of each is kept")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args(argv)
    if args.threads:
        numba.set_num_threads(args.threads)
    V = P.normal_crossing([1, 1])
    w, s, dt = args.walkers, args.steps, 1e-3
    rounds = []
    for _ in range(max(1, args.repeat)):
        t_nb = numba_langevin(V, w, s, dt, 0)
        t_rng = rng_fill(w, s, 0)  # right after the numba run: the pair sees the same machine state
        t_np = numpy_langevin(w, args.numpy_steps, dt, 0)
        rounds.append((t_nb, t_np, t_rng))
    t_nb, t_np, t_rng = (min(r[i] for r in rounds) for i in range(3))
    rate = {"numba": w * s / t_nb, "numpy": w * args.numpy_steps / t_np, "rng": w * s / t_rng}
    per_round = [r[2] / r[0] for r in rounds]
    res = {
        "threads": numba.get_num_threads(), "walkers": w, "steps": s, "repeat": args.repeat,
        "walker_steps_per_s": rate,
        "numba_over_numpy": rate["numba"] / rate["numpy"],
        "numba_over_rng_limit": rate["numba"] / rate["rng"],
        "numba_over_rng_limit_per_round": per_round,
        "numba_over_rng_limit_median": statistics.median(per_round),
    }
    print(f"threads={res['threads']}  walkers={w}  steps={s}")
    for k, v in rate.items():
        print(f"  {k:<6} {v / 1e6:8.1f} M walker-steps/s")
    print(f"  numba / numpy     = {res['numba_over_numpy']:.2f}  (goal >= 2.5)")
    print(f"  numba / RNG limit = {res['numba_over_rng_limit']:.2f}  (goal >= 0.60; best of each)")
    print(f"  numba / RNG limit = {res['numba_over_rng_limit_median']:.2f}  median of the rounds' ratios "
          f"({min(per_round):.2f}-{max(per_round):.2f})")
    if args.json:
        from slt.io import save_json

        save_json(args.json, res)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
