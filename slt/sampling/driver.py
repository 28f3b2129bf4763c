"""The ensemble runner: validate, initialise, loop over chunks, record, check divergence."""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from tqdm.auto import tqdm

from slt import _codegen, samplers
from slt.errors import DivergenceError
from slt.samplers import count as _count
from slt.samplers import positive as _positive
from slt.sampling.params import SAMPLERS, kernel_params
from slt.sampling.rng import VELOCITY_STREAMS, fill_normal, seed_to_int, stream_keys

NUM_TILES = 64  # fixed walker tiles: parallel units whose results do not depend on threads


class LossModel(Protocol):
    """What :func:`run` needs: a compiled module, a dimension, a name and (optional) data."""

    dim: int
    name: str

    @property
    def kernels(self) -> Any: ...


@dataclass(frozen=True)
class SampleResult:
    """Output of :func:`run`.

    Attributes
    ----------
    positions : (walkers, dim) final positions.
    velocities : (walkers, dim) final velocities (zeros for first-order samplers).
    samples : (walkers, draws, dim) positions after every ``thin``-th step.
    energies : (walkers, draws) potential V (not tempered) at those positions.
    histogram : counts of the first one or two coordinates over all steps after
        ``num_burnin`` on a fixed grid over the box, or None without a box.
    hist_edges : bin edges per histogrammed coordinate.
    acceptance : (walkers,) MALA acceptance rates, or None.
    settings : every argument used, seed included.
    """

    positions: np.ndarray
    velocities: np.ndarray
    samples: np.ndarray
    energies: np.ndarray
    histogram: np.ndarray | None
    hist_edges: tuple[np.ndarray, ...] | None
    acceptance: np.ndarray | None
    settings: dict[str, Any] = field(repr=False)

    @property
    def num_walkers(self) -> int:
        return self.positions.shape[0]

    def density(self) -> np.ndarray:
        """Histogram normalised to a probability density on its grid."""
        if self.histogram is None:
            raise ValueError("no histogram was recorded (run without a box or with hist_bins=0)")
        widths = [np.diff(e) for e in self.hist_edges]
        cell = widths[0][:, None] * widths[1][None, :] if len(widths) == 2 else widths[0]
        return self.histogram / (self.histogram.sum() * cell)

    def to_inference_data(self):
        """Recorded samples and energies as an ArviZ ``InferenceData`` (chains = walkers)."""
        import arviz as az

        return az.from_dict(posterior={"x": self.samples, "energy": self.energies})


def parse_box(box: Any, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """``(lo, hi)`` for all coordinates or a (dim, 2) array -> (lo, hi) arrays."""
    if box is None:
        return None
    arr = np.asarray(box, dtype=float)
    if arr.shape == (2,):
        arr = np.tile(arr, (dim, 1))
    if arr.shape != (dim, 2):
        raise ValueError(f"box must be (lo, hi) or a ({dim}, 2) array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr[:, 0] >= arr[:, 1]):
        raise ValueError(f"box needs finite lo < hi in every coordinate, got {arr.tolist()}")
    return arr[:, 0].copy(), arr[:, 1].copy()


def data_rows(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """The kernels' ``data`` argument (rows of a finite data set, or an empty array for a pure
    potential) and the index of every row (one dummy row for a potential)."""
    data = getattr(model, "data", None)
    data = np.zeros((0, 0)) if data is None else np.ascontiguousarray(data, dtype=float)
    return data, np.arange(max(1, data.shape[0]), dtype=np.int64)


def _initial_positions(init: Any, bounds: Any, lo: np.ndarray, hi: np.ndarray, num_walkers: int, dim: int,
                       periodic: bool, seed_int: int) -> np.ndarray:
    """Starting points: ``init`` (one point or one per walker, wrapped on a torus) or uniform on the box."""
    if init is None:
        if bounds is None:
            raise ValueError("init=None draws uniformly over the box: give a box or an init array")
        return np.random.default_rng(seed_int).uniform(lo, hi, size=(num_walkers, dim))
    pos = np.array(init, dtype=float, copy=True)
    if pos.shape == (dim,):
        pos = np.tile(pos, (num_walkers, 1))
    if pos.shape != (num_walkers, dim):
        raise ValueError(f"init must have shape ({num_walkers}, {dim}), got {pos.shape}")
    if not np.all(np.isfinite(pos)):
        raise ValueError("init contains NaN or inf")
    if periodic:
        pos = lo + np.mod(pos - lo, hi - lo)
    return pos


def _initial_velocities(init_velocities: Any, sampler: str, kinetic: bool, num_walkers: int, dim: int,
                        temperature: float, seed_int: int) -> np.ndarray:
    """Starting velocities: zeros (None), N(0, T) per coordinate from each walker's velocity stream
    ("thermal"), or ``init_velocities`` (one vector or one per walker)."""
    vel = np.zeros((num_walkers, dim))
    if init_velocities is None:
        return vel
    if not kinetic:
        raise ValueError(f"init_velocities is for samplers with a velocity; {sampler!r} has none")
    if isinstance(init_velocities, str):
        if init_velocities != "thermal":
            raise ValueError(f"init_velocities must be None, 'thermal' or an array, got {init_velocities!r}")
        if sampler != "underdamped":
            raise ValueError(f"init_velocities='thermal' draws N(0, T), the Gibbs law of a unit-mass velocity; "
                             f"{sampler!r} has no such law: pass an array")
        fill_normal(stream_keys(seed_int, num_walkers, offset=VELOCITY_STREAMS), vel)
        return vel * math.sqrt(temperature)
    given = np.asarray(init_velocities, dtype=float)
    if given.shape == (dim,):
        given = np.broadcast_to(given, (num_walkers, dim))
    if given.shape != (num_walkers, dim):
        raise ValueError(f"init_velocities must have shape ({num_walkers}, {dim}), got {given.shape}")
    if not np.all(np.isfinite(given)):
        raise ValueError("init_velocities contains NaN or inf")
    vel[:] = given
    return vel


def _summed_histogram(hist: np.ndarray | None, hist_dims: int, bins: list[int], lo: np.ndarray, hi: np.ndarray
                      ) -> tuple[np.ndarray | None, tuple[np.ndarray, ...] | None]:
    """The tiles' histograms summed, and the bin edges per histogrammed coordinate."""
    if hist is None:
        return None, None
    histogram = hist.sum(axis=0)
    if hist_dims == 1:
        histogram = histogram[:, 0]
    return histogram, tuple(np.linspace(lo[i], hi[i], bins[i] + 1) for i in range(hist_dims))


def run(
    potential: LossModel,
    sampler: str = "langevin",
    *,
    num_walkers: int,
    num_steps: int,
    step_size: float,
    temperature: float = 1.0,
    box: Any = None,
    periodic: bool = False,
    init: np.ndarray | None = None,
    init_velocities: np.ndarray | str | None = None,
    thin: int | None = None,
    seed: int | np.random.Generator | None = None,
    num_burnin: int = 0,
    hist_bins: int | Sequence[int] = 64,
    nbeta: float = 1.0,
    gamma: float = 0.0,
    center: Sequence[float] | None = None,
    batch_size: int | None = None,
    progress: bool = True,
    **sampler_options: Any,
) -> SampleResult:
    """Run an ensemble of walkers on ``potential`` with one of the numba samplers.

    The target is p(x) ∝ exp(−U(x)/T) with U = nbeta·V + (gamma/2)|x − center|²; plain
    dynamics on V use the defaults nbeta = 1, gamma = 0.  "underdamped" is BAOAB at dt with unit
    mass and friction γ_f (Leimkuhler & Matthews 2013):

        v ← v − (dt/2)∇U(x),  x ← x + (dt/2)v,  v ← c v + √((1 − c²)T) ξ  (c = exp(−γ_f dt)),
        x ← x + (dt/2)v,  v ← v − (dt/2)∇U(x),

    which leaves p(x) N(v; 0, T I) invariant up to O(dt²) in x (exactly, in x, for a quadratic
    U, at any stable dt).  At T = 1 and dt = √ε this is the estimator's
    "sghmc" (:mod:`slt.samplers`; ε in SGLD's convention, where "langevin" runs at dt = ε/2).

    Parameters
    ----------
    potential : Potential or any loss model with ``kernels``, ``dim``, ``name`` (and
        optionally ``data``, rows of a finite data set for minibatch gradients).
    sampler : "langevin" (Euler–Maruyama), "underdamped" (BAOAB; option ``friction``),
        "sgd_momentum" (heavy ball + noise; options ``momentum``, ``noise`` (σ, default
        sqrt(2 T dt (1 − momentum)), the value whose small-dt stationary law has
        temperature T)), or "mala".
    num_walkers, num_steps : ensemble size and number of steps.
    step_size : dt (the learning rate η for "sgd_momentum").
    temperature : T > 0.
    box : (lo, hi) or (dim, 2) array; where ``init=None`` draws from, and the histogram grid.
    periodic : wrap positions into the box after every step (torus).
    init : (num_walkers, dim) starting points; None draws uniformly over ``box``.
    init_velocities : starting velocities of a kinetic sampler: None (v = 0), "thermal"
        ("underdamped" only: v ~ N(0, T I), the velocity's Gibbs law, so the ensemble starts
        stationary in v; walker w draws from its own stream of ``seed``, apart from its step
        noise), or a (num_walkers, dim) or (dim,) array, e.g. ``SampleResult.velocities`` to
        continue a run.
    thin : record positions and energies every ``thin`` steps (default: 1,000 records).
    seed : int or numpy Generator. Walker w uses its own counter-based stream, so results
        are bit-identical for any number of threads.
    num_burnin : steps before the histogram starts counting.
    hist_bins : bins per histogrammed coordinate (the first one or two); 0 disables.
    nbeta, gamma, center : tempering and localization (see above).
    batch_size : minibatch size for models with data (None: full batch).
    progress : show a tqdm progress bar.

    Raises
    ------
    ValueError
        For a bad argument, or a potential that is not finite at a starting point.
    DivergenceError
        When a walker reaches NaN or inf (names walker, step and value).

    Examples
    --------
    >>> from slt.potentials import harmonic
    >>> res = run(harmonic([1.0]), num_walkers=100, num_steps=200, step_size=0.01,
    ...           box=(-3, 3), seed=0, progress=False)
    >>> res.positions.shape
    (100, 1)
    >>> res = run(harmonic([1.0]), "underdamped", num_walkers=4, num_steps=1, step_size=1e-9, friction=1.0,
    ...           init=[0.0], init_velocities="thermal", seed=0, progress=False)
    >>> bool(np.all(res.velocities != 0))
    True
    """
    dim = int(potential.dim)
    num_walkers = _count("num_walkers", num_walkers)
    num_steps = _count("num_steps", num_steps)
    dt = _positive("step_size", step_size)
    temperature = _positive("temperature", temperature)
    nbeta = _positive("nbeta", nbeta)
    gamma = float(gamma)
    if not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be a finite number >= 0, got {gamma!r}")
    thin = max(1, num_steps // 1000) if thin is None else _count("thin", thin)
    num_burnin = _count("num_burnin", num_burnin, minimum=0)
    p, opts = kernel_params(sampler, dt, temperature, nbeta, gamma, sampler_options)
    kind = SAMPLERS[sampler]
    record = samplers.get(sampler)

    bounds = parse_box(box, dim)
    if periodic and bounds is None:
        raise ValueError("periodic=True needs a box")
    if periodic and gamma > 0:
        raise ValueError("localization (gamma > 0) is not defined on a periodic box")
    lo, hi = bounds if bounds is not None else (np.zeros(dim), np.ones(dim))
    ctr = np.zeros(dim) if center is None else np.asarray(center, dtype=float).reshape(-1)
    if ctr.shape != (dim,):
        raise ValueError(f"center must have {dim} coordinates, got shape {np.shape(center)}")

    seed_int = seed_to_int(seed)
    pos = _initial_positions(init, bounds, lo, hi, num_walkers, dim, periodic, seed_int)

    data, full_idx = data_rows(potential)
    if batch_size is not None:
        if data.shape[0] == 0:
            raise ValueError("batch_size needs a model with data; a potential has none")
        if record.exact:
            raise ValueError(f"{sampler!r} needs full-batch energies (it is Metropolis-adjusted): use batch_size=None")
        _count("batch_size", batch_size)
    batch_idx = None if batch_size is None else np.zeros((num_walkers, int(batch_size)), dtype=np.int64)

    k = _codegen.for_sampler(potential.kernels, kind)
    if k.DIM != dim:
        raise ValueError(f"{potential.name!r}: kernels compiled for dimension {k.DIM}, model has {dim}")
    vel = _initial_velocities(init_velocities, sampler, record.kinetic, num_walkers, dim, temperature, seed_int)
    grd = np.zeros_like(pos)
    aux = np.zeros_like(pos)
    ucur = np.zeros(num_walkers)
    bad = k.init_walkers(pos, grd, ucur, p, ctr, data, full_idx)
    if np.any(bad >= 0):
        w = int(np.flatnonzero(bad >= 0)[0])
        raise ValueError(
            f"potential {potential.name!r} (or its gradient) is not finite at the start point of "
            f"walker {w}: {pos[w].tolist()}"
        )

    nrec = num_steps // thin
    rec_pos = np.zeros((num_walkers, nrec, dim))
    rec_ene = np.zeros((num_walkers, nrec))
    bins = [int(hist_bins)] * 2 if np.isscalar(hist_bins) else [int(b) for b in hist_bins]
    hist_dims = min(dim, 2)
    use_hist = bounds is not None and bins[0] > 0
    ntiles = min(NUM_TILES, num_walkers)
    hist = np.zeros((ntiles, bins[0], bins[1] if hist_dims == 2 else 1), dtype=np.int64) if use_hist else None
    hist_scale = np.array([bins[i] / (hi[i] - lo[i]) if i < hist_dims else 1.0 for i in range(2)])
    hist_lo = np.array([lo[i] if i < hist_dims else 0.0 for i in range(2)])
    accepts = np.zeros(num_walkers, dtype=np.int64)
    div_step = np.full(num_walkers, -1, dtype=np.int64)
    div_val = np.zeros(num_walkers)
    states = stream_keys(seed_int, num_walkers)

    # 50 chunks to update a progress bar; one without (each parallel launch costs a barrier)
    chunk = max(thin, (max(1, num_steps // 50) // thin) * thin) if progress else num_steps
    with tqdm(total=num_steps, disable=not progress, desc=f"{sampler} on {potential.name}",
              unit="step", leave=False) as bar:
        step0 = 0
        while step0 < num_steps:
            n = min(chunk, num_steps - step0)
            k.run_chunk(pos, vel, grd, aux, ucur, states, p, ctr, lo, hi, bool(periodic),
                        data, full_idx, batch_idx, step0, n, thin, rec_pos, rec_ene,
                        ntiles, hist, hist_lo, hist_scale, num_burnin, accepts,
                        div_step, div_val)
            if np.any(div_step >= 0):
                w = int(np.flatnonzero(div_step >= 0)[0])
                raise DivergenceError(w, int(div_step[w]), float(div_val[w]),
                                      hint=f"step_size={dt} is probably too large for this potential")
            step0 += n
            bar.update(n)

    histogram, edges = _summed_histogram(hist, hist_dims, bins, lo, hi)
    settings = dict(
        sampler=sampler, num_walkers=num_walkers, num_steps=num_steps, step_size=dt,
        temperature=temperature, box=None if bounds is None else np.stack([lo, hi], 1).tolist(),
        periodic=bool(periodic), thin=thin, seed=seed_int, num_burnin=num_burnin,
        nbeta=nbeta, gamma=gamma, center=ctr.tolist(), batch_size=batch_size,
        init_velocities=init_velocities if init_velocities is None or isinstance(init_velocities, str) else "given",
        potential=potential.name, **opts,
    )
    return SampleResult(
        positions=pos, velocities=vel if record.kinetic else np.zeros_like(pos),
        samples=rec_pos, energies=rec_ene, histogram=histogram, hist_edges=edges,
        acceptance=accepts / num_steps if record.exact else None, settings=settings,
    )


def mala_acceptance(
    potential: LossModel,
    points: np.ndarray,
    *,
    step_size: float,
    temperature: float = 1.0,
    nbeta: float = 1.0,
    gamma: float = 0.0,
    center: Sequence[float] | None = None,
    seed: int | np.random.Generator | None = None,
    metric: float = 0.0,
) -> np.ndarray:
    """Metropolis–Hastings acceptance probability of one Langevin step from each point.

    From x, one proposal y = x − dt ∇U(x) + sqrt(2 T dt) ξ (U = nbeta·V + (gamma/2)|x − center|²,
    full-batch loss) is accepted with probability

        α(x, y) = min(1, exp(−(U(y) − U(x))/T) q(x | y) / q(y | x)),
        q(y | x) ∝ exp(−|y − x + dt ∇U(x)|² / (4 T dt))

    (Roberts & Tweedie 1996).  For points (walkers, draws, dim) recorded by an unadjusted
    sampler ("langevin", SGLD), the mean of α is the acceptance rate MALA would have at the
    same step: an estimate of the discretization error (1 as dt → 0).  Returns α with shape
    (walkers, draws); ``seed`` drives the proposals (one stream per walker); ``metric`` is
    MALA's per-coordinate step scale (see :func:`slt.sampling.kernels.mala_step`).

    Examples
    --------
    >>> from slt.potentials import harmonic
    >>> import numpy as np
    >>> a = mala_acceptance(harmonic([1.0]), np.zeros((2, 3, 1)), step_size=0.01, seed=0)
    >>> a.shape, bool(np.all((0 <= a) & (a <= 1)))
    ((2, 3), True)
    """
    pts = np.ascontiguousarray(points, dtype=float)
    dim = int(potential.dim)
    if pts.ndim != 3 or pts.shape[2] != dim:
        raise ValueError(f"points must have shape (walkers, draws, {dim}), got {pts.shape}")
    p, _ = kernel_params("mala", _positive("step_size", step_size), _positive("temperature", temperature),
                           _positive("nbeta", nbeta), float(gamma), {"metric": metric})
    ctr = np.zeros(dim) if center is None else np.asarray(center, dtype=float).reshape(dim)
    data, full_idx = data_rows(potential)
    out = np.zeros(pts.shape[:2])
    potential.kernels.mala_acceptance(pts, stream_keys(seed_to_int(seed), pts.shape[0]), p, ctr, data, full_idx, out)
    return out


def mala_step_factors(
    potential: LossModel,
    points: np.ndarray,
    *,
    step_size: float,
    nbeta: float = 1.0,
    gamma: float = 0.0,
    metric: float,
) -> np.ndarray:
    """MALA's per-coordinate step factors f_d = min(1, c/(dt |∂²U/∂x_d²|)) at each point (n, dim).

    The factors the sampler itself uses (:func:`slt.sampling.kernels.mala_metric`, from the
    loss's generated Hessian diagonal), U = nbeta·V + (gamma/2)|x − center|², c = ``metric``,
    dt = ``step_size``; all ones for ``metric=0``.
    """
    pts = np.ascontiguousarray(points, dtype=float)
    dim = int(potential.dim)
    if pts.ndim != 2 or pts.shape[1] != dim:
        raise ValueError(f"points must have shape (n, {dim}), got {pts.shape}")
    p, _ = kernel_params("mala", _positive("step_size", step_size), 1.0, _positive("nbeta", nbeta), float(gamma),
                           {"metric": metric})
    out = np.ones(pts.shape)
    potential.kernels.mala_step_factors(pts, p, *data_rows(potential), out)
    return out
