"""Dynamics on a singular potential against the exact Gibbs measure and the regular view.

Used by ``slt simulate``, ``simulations/singular_potential.py`` and the
``singular_dynamics`` paper figure.  For each temperature T it measures the probability of
the ball of radius r around the singular point under

- the exact Gibbs measure exp(−V/T)/Z (quadrature, :func:`slt.gibbs.gibbs_density`),
- the regular (harmonic-valley) prediction (:func:`slt.gibbs.regular_density`),
- the empirical ensemble of each sampler (mean over walkers, with its standard error),

so the seed post's claim (singularities attract more than "regular physics" predicts, and
momentum weakens the pull) is measured with error bars.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from slt import gibbs, sampling
from slt.potentials import Potential, check_bounded_below, library_table, resolve

#: the dynamics compared by default: label -> (sampler, options)
DEFAULT_DYNAMICS: dict[str, tuple[str, dict]] = {
    "langevin": ("langevin", {}),
    "sgd μ=0.5": ("sgd_momentum", {"momentum": 0.5}),
    "sgd μ=0.9": ("sgd_momentum", {"momentum": 0.9}),
}


@dataclass(frozen=True)
class MassComparison:
    """Mass within ``radius`` of ``center`` per temperature under each view."""

    temperatures: np.ndarray
    radius: float
    center: tuple[float, ...]
    exact: np.ndarray
    regular: np.ndarray
    empirical: dict[str, np.ndarray]
    empirical_se: dict[str, np.ndarray]
    settings: dict


def run_dynamics(potential: Potential, label: str, *, temperature: float, box, periodic: bool,
                 num_walkers: int, num_steps: int, step_size: float, seed: int,
                 dynamics: dict[str, tuple[str, dict]] = DEFAULT_DYNAMICS, hist_bins: int = 64,
                 progress: bool = False) -> sampling.SampleResult:
    """One run of the dynamics called ``label``; the histogram counts the second half."""
    sampler, options = dynamics[label]
    return sampling.run(potential, sampler, num_walkers=num_walkers, num_steps=num_steps,
                        step_size=step_size, temperature=temperature, box=box, periodic=periodic,
                        seed=seed, thin=max(1, num_steps // 100), num_burnin=num_steps // 2,
                        hist_bins=hist_bins, progress=progress, **options)


def compare_masses(potential: Potential, *, temperatures: Sequence[float], radius: float, box,
                   periodic: bool = True, num_walkers: int = 2000, num_steps: int = 4000,
                   step_size: float = 2e-3, seed: int = 0,
                   dynamics: dict[str, tuple[str, dict]] = DEFAULT_DYNAMICS,
                   progress: bool = True) -> MassComparison:
    """Mass near the singular point ``potential.point`` against temperature, all views.

    Empirical masses use the second half of each run (recorded every num_steps/100 steps);
    the standard error treats walkers as independent replicates.
    """
    from tqdm.auto import tqdm

    center = tuple(potential.point)
    temps = np.asarray(temperatures, float)
    exact, regular = np.zeros(len(temps)), np.zeros(len(temps))
    emp = {k: np.zeros(len(temps)) for k in dynamics}
    emp_se = {k: np.zeros(len(temps)) for k in dynamics}
    jobs = [(i, T, k) for i, T in enumerate(temps) for k in dynamics]
    for i, T in enumerate(temps):
        exact[i] = gibbs.gibbs_density(potential, box, temperature=T, bins=200).mass_within(center, radius, periodic=periodic)
        regular[i] = gibbs.regular_density(potential, box, temperature=T, bins=200).mass_within(center, radius, periodic=periodic)
    for i, T, k in tqdm(jobs, disable=not progress, desc="dynamics"):
        res = run_dynamics(potential, k, temperature=T, box=box, periodic=periodic,
                           num_walkers=num_walkers, num_steps=num_steps, step_size=step_size,
                           seed=seed + i, dynamics=dynamics, hist_bins=0)
        half = res.samples[:, res.samples.shape[1] // 2:, :]
        bm = gibbs.empirical_ball_mass(half, center, radius, box=box, periodic=periodic)
        emp[k][i], emp_se[k][i] = bm.mass, bm.se
    settings = dict(potential=potential.name, box=box, periodic=periodic, num_walkers=num_walkers,
                    num_steps=num_steps, step_size=step_size, seed=seed,
                    dynamics={k: [s, o] for k, (s, o) in dynamics.items()})
    return MassComparison(temperatures=temps, radius=float(radius), center=center, exact=exact,
                          regular=regular, empirical=emp, empirical_se=emp_se, settings=settings)


def resolve_potential(spec: str, box=None) -> Potential:
    """A library name (:func:`slt.potentials.library`) or a formula, checked for use on ``box``.

    Raises ``ValueError`` for an unknown name (listing the library names) and, with ``box``,
    for a potential that is not bounded below on it (:func:`slt.potentials.check_bounded_below`).
    """
    V = resolve(spec)
    if box is not None:
        check_bounded_below(V, box)
    return V


def save_comparison(cmp: MassComparison, out: Path, name: str) -> Path:
    """Write the comparison as JSON (data for redrawing the figure); returns the path."""
    from slt.io import save_json

    return save_json(Path(out) / f"{name}.json", asdict(cmp))


def plot_comparison(cmp: MassComparison, ax, *, legend_outside: bool = True) -> None:
    """Mass near the singular point against T for every view, with bars of 2 SE each way.

    The exact Gibbs mass is the thick line drawn on top; each sampler's points sit slightly
    apart in T (a few percent) so their error bars do not hide one another or the line.
    """
    from slt.plotting import plain_log_ticks

    T = cmp.temperatures
    k = len(cmp.empirical)
    for j, label in enumerate(cmp.empirical):
        shift = 1.0 + 0.04 * (j - (k - 1) / 2)
        ax.errorbar(T * shift, cmp.empirical[label], yerr=2 * cmp.empirical_se[label], fmt="o", ms=3.5,
                    capsize=2, lw=1, zorder=3, label=f"{label} (±2 se)")
    ax.plot(T, cmp.regular, "--", color="0.35", lw=1.3, zorder=4, label="regular (harmonic valleys)")
    ax.plot(T, cmp.exact, "-", color="k", lw=1.6, alpha=0.85, zorder=5, label="exact Gibbs")
    ax.set_xscale("log")
    plain_log_ticks(ax.xaxis, T)
    ax.set_xlim(T.min() / 1.25, T.max() * 1.25)
    ax.set_xlabel("temperature T")
    ax.set_ylabel(f"mass within r = {cmp.radius:g} of the singular point")
    if legend_outside:
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0)
    else:
        ax.legend()


def default_out(potential: str) -> Path:
    """Where ``slt simulate`` writes without ``--out``: ./slt_out/simulate/<potential>."""
    slug = re.sub(r"[^A-Za-z0-9_.+-]+", "_", potential).strip("_") or "potential"
    return Path("slt_out") / "simulate" / slug[:60]


def build_parser() -> argparse.ArgumentParser:
    """The ``slt simulate`` argument parser."""
    from slt.cli import HelpFormatter

    ap = argparse.ArgumentParser(prog="slt simulate", formatter_class=HelpFormatter,
                                 description="Dynamics on a singular potential against the exact Gibbs "
                                             "measure and the regular view:\nthe mass within --radius of "
                                             "the singular point per temperature, saved as JSON + PNG.")
    ap.add_argument("--potential", default="min_crossing",
                    help="library name (see --list-potentials) or a formula in sympy syntax, e.g. 'x**2*y**4'")
    ap.add_argument("--list-potentials", action="store_true", help="list the library potentials and exit")
    ap.add_argument("--temperatures", type=float, nargs="+", default=[0.05, 0.1, 0.2, 0.4],
                    help="temperatures T of the Gibbs measure exp(-V/T)")
    ap.add_argument("--radius", type=float, default=0.2, help="radius of the ball around the singular point")
    ap.add_argument("--box", type=float, nargs=2, default=[-1.0, 1.0], metavar=("LO", "HI"),
                    help="box [LO, HI) in every coordinate (walkers start uniform in it)")
    ap.add_argument("--open", action="store_true", help="open box instead of periodic (walkers may leave it)")
    ap.add_argument("--walkers", type=int, default=10_000, help="walkers per dynamics and temperature")
    ap.add_argument("--steps", type=int, default=20_000, help="steps per walker (the second half is measured)")
    ap.add_argument("--step-size", type=float, default=1e-3, help="step dt (learning rate η for SGD)")
    ap.add_argument("--seed", type=int, default=0, help="random seed")
    ap.add_argument("--quick", action="store_true",
                    help="small run: 1,000 walkers x 2,000 steps at T = 0.1, 0.4 (under a minute)")
    ap.add_argument("--out", default=None,
                    help="output folder (default: ./slt_out/simulate/<potential>)")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``slt simulate``; returns 0 on success, 2 on bad input."""
    args = build_parser().parse_args(argv)
    if args.list_potentials:
        print(library_table())
        return 0
    if args.quick:
        args.walkers, args.steps, args.temperatures = 1000, 2000, [0.1, 0.4]
    try:
        V = resolve_potential(args.potential, tuple(args.box))
    except ValueError as exc:
        print(f"slt simulate: {exc}", file=sys.stderr)
        return 2
    cmp = compare_masses(V, temperatures=args.temperatures, radius=args.radius, box=tuple(args.box),
                         periodic=not args.open, num_walkers=args.walkers, num_steps=args.steps,
                         step_size=args.step_size, seed=args.seed)
    out = Path(args.out) if args.out else default_out(args.potential)
    data = save_comparison(cmp, out, "mass_near_singular_point")
    from slt.plotting import pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7.2, 3.6))
    plot_comparison(cmp, ax)
    ax.set_title(V.name)
    paths = save_figure(fig, out, "mass_near_singular_point")
    for i, T in enumerate(cmp.temperatures):
        row = ", ".join(f"{k} {cmp.empirical[k][i]:.4f}±{cmp.empirical_se[k][i]:.4f}" for k in cmp.empirical)
        print(f"T={T:g}: exact {cmp.exact[i]:.4f}, regular {cmp.regular[i]:.4f}, {row}")
    print(f"wrote {data.resolve()}, {', '.join(str(p.resolve()) for p in paths)}")
    return 0
