"""Covariance observables under the localized posterior: the loss kernel, Bayesian influence and
susceptibilities, from running sums during the estimator's chains.

Every quantity here is a covariance under the posterior the LLC estimator samples,
p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²) (restricted to a weight subset C for susceptibilities):

- the loss kernel K_iq = Cov_w(ℓ_i(w), ℓ_q(w)) between samples (or tokens) i of the data and q
  of a query set (Adam, Furman & Hoogland 2025, arXiv:2509.26537);
- the Bayesian influence function BIF(z_i, φ) = −Cov_w(ℓ_i(w), φ(w)) of training sample z_i on
  an observable φ, e.g. a query loss ℓ_q (Kreer et al. 2025, arXiv:2509.26544) — exactly minus
  the covariance, with no other factor.  In a regular model at large nβ it tends to the
  classical influence −(1/nβ) ∇ℓ_iᵀ H⁻¹ ∇φ (Koh & Liang 2017;
  :func:`slt.estimators.influence_exact.classical_influence`);
- the susceptibility of component C to the loss on token y in context x,
  χ_xy^C = −Cov_C[φ_C, ℓ_xy − L] (Baker, Wang, Hoogland & Murfet 2025, arXiv:2504.18274, §3 and
  App. C.4; "Embryology of a language model", arXiv:2508.00331), the covariance under the
  posterior restricted to C (the other weights held at w*), φ_C(w) = L(w) − L(w*) the loss
  change the restricted posterior explores (nβ E_C[φ_C] is the restricted LLC) and L the loss
  on the data the posterior is built from, at the same draw.  devinterp 2.x
  (``devinterp.slt.susceptibilities.compute_susceptibilities``) instead centres ℓ_xy − L with
  the *unrestricted* run's mean: it returns E_C[φ (L − ℓ_xy)] − E_C[φ] E_full[L − ℓ_xy], which
  differs from −Cov_C by E_C[φ] (E_C[L − ℓ_xy] − E_full[L − ℓ_xy]); it also has no nβ factor,
  and its BIF default is a Pearson correlation over the pooled draws.

Estimator.  At every recorded draw each chain c adds its values a (the data's losses) and b (the
query's) to per-chain running sums Σa, Σb, Σ a bᵀ and a count (:class:`CrossSums`): memory
O(chains·|A|·|B|), never draws × samples.  The chain's covariance is taken about the pooled
means ā, b̄ (:func:`chain_covariances`), C_c = Σ_t (a_ct − ā)(b_ct − b̄)ᵀ / T, so that their
mean over chains is the pooled covariance; the standard error is the spread of the C_c over the
chains, sd/√chains (between-chain standard errors).  The values are shifted by their value at
w* before summing, which keeps the sums' cancellation small.

The doors for toy models (the numba backend) are :func:`loss_kernel`, :func:`bif` and
:func:`susceptibilities` here; the torch doors are in :mod:`slt.nn.influence`.  Both hook into
the one estimator (:func:`slt.estimators.llc.estimate`) through ``Request.observers``: the same
samplers, step rules, burn-in and convergence extension as the LLC.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from slt.estimators.backend import Backend
from slt.estimators.doors import resolve_nbeta, resolve_point
from slt.estimators.llc import Request, estimate
from slt.estimators.numba_backend import NumbaBackend
from slt.estimators.results import LLCResult
from slt.estimators.settings import Settings, with_settings

__all__ = ["CrossSums", "CovarianceProbe", "InfluenceResult", "chain_covariances", "between_chains", "SIGNS",
           "covariance_run", "loss_kernel", "bif", "susceptibilities"]

#: the sign each observable puts on the covariance (and nothing else)
SIGNS = {"loss_kernel": 1.0, "bif": -1.0, "susceptibility": -1.0}

Pair = Callable[[Any], tuple[Any, Any]]  # positions (chains, d) -> (a (chains, p), b (chains, q) or None)


def _numpy(x: Any) -> np.ndarray:
    """A float64 numpy copy of a numpy array or torch tensor (no torch import)."""
    if hasattr(x, "detach"):
        x = x.detach().double().cpu().numpy()
    return np.array(x, dtype=float)


class CrossSums:
    """Running per-chain sums of a (chains, p) and b (chains, q) over draws: Σa, Σb, Σ a bᵀ, count.

    ``b=None`` at every :meth:`add` means b = a (a kernel of a set with itself; Σb is Σa).  The
    arrays stay in the caller's type (numpy, or torch on its device) until :meth:`totals`.

    >>> s = CrossSums()
    >>> s.add(np.array([[1.0], [2.0]]), np.array([[2.0], [0.0]]))
    >>> s.add(np.array([[3.0], [4.0]]), np.array([[4.0], [2.0]]))
    >>> s.count, chain_covariances(*s.totals())[:, 0, 0].tolist()
    (2, [0.5, 0.5])
    """

    def __init__(self, shift_a: Any = 0.0, shift_b: Any = 0.0):
        self.shift_a, self.shift_b = shift_a, shift_b
        self.sa = self.sb = self.sab = None
        self.count = 0

    def add(self, a: Any, b: Any | None) -> None:
        a = a - self.shift_a
        b_ = a if b is None else b - self.shift_b
        outer = a[:, :, None] * b_[:, None, :]
        if self.sab is None:
            self.sa, self.sab = a, outer
            self.sb = None if b is None else b_
        else:
            self.sa = self.sa + a
            self.sab = self.sab + outer
            if b is not None:
                self.sb = self.sb + b_
        self.count += 1

    def totals(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """(Σa (chains, p), Σb (chains, q), Σ a bᵀ (chains, p, q), count) as float64 numpy."""
        if self.count == 0:
            raise ValueError("no draws were recorded for the covariance")
        sa = _numpy(self.sa)
        return sa, (sa if self.sb is None else _numpy(self.sb)), _numpy(self.sab), self.count


def chain_covariances(sa: np.ndarray, sb: np.ndarray, sab: np.ndarray, count: int) -> np.ndarray:
    """Per-chain covariances about the pooled means, C_c = Σ_t (a_ct − ā)(b_ct − b̄)ᵀ / T.

    C_c = Σab_c/T − ā_c b̄ᵀ − ā b̄_cᵀ + ā b̄ᵀ with ā_c = Σa_c/T and ā the mean of the ā_c; the mean
    of the C_c over the chains is the pooled covariance (divisor: all draws).  Shapes: sa
    (chains, p), sb (chains, q), sab (chains, p, q) → (chains, p, q).

    >>> float(chain_covariances(np.array([[2.0]]), np.array([[2.0]]), np.array([[[2.0]]]), 2)[0, 0, 0])
    0.0
    """
    ma, mb = sa / count, sb / count
    pa, pb = ma.mean(axis=0), mb.mean(axis=0)
    return (sab / count - ma[:, :, None] * pb[None, None, :] - pa[None, :, None] * mb[:, None, :]
            + np.outer(pa, pb)[None])


def between_chains(per_chain: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean over chains, between-chain standard error sd/√chains) of per-chain estimates
    (chains, ...); the se is NaN with one chain.

    >>> [float(x) for x in between_chains(np.array([1.0, 3.0]))]
    [2.0, 1.0]
    """
    c = per_chain.shape[0]
    mean = per_chain.mean(axis=0)
    se = per_chain.std(axis=0, ddof=1) / math.sqrt(c) if c > 1 else np.full_like(mean, np.nan)
    return mean, se


class CovarianceProbe:
    """An estimator observer (:class:`slt.estimators.recording.Recording`): at every draw
    ``pair(positions) -> (a, b)`` is added to :class:`CrossSums`, shifted by its value at w*.

    ``pair`` returns a (chains, p) and b (chains, q) — or None for b = a — as numpy arrays or
    torch tensors.  Each drawing run starts the sums again (:meth:`start`); a convergence
    extension continues them.
    """

    every = 1

    def __init__(self, pair: Pair):
        self.pair = pair
        self.sums = CrossSums()

    def start(self, backend: Backend, center: Any) -> None:
        a, b = self.pair(center[None])
        self.sums = CrossSums(a[0], 0.0 if b is None else b[0])

    def __call__(self, positions: Any, draw: int) -> None:
        self.sums.add(*self.pair(positions))

    def per_chain(self) -> np.ndarray:
        """(chains, p, q) per-chain covariances (:func:`chain_covariances`)."""
        return chain_covariances(*self.sums.totals())


def covariance_run(backend: Backend, center: Any, request: Request, pair: Pair) -> tuple[np.ndarray, LLCResult]:
    """Run the one estimator on ``backend`` with ``pair`` recorded at every draw; returns the
    per-chain covariances (chains, p, q) and the run's :class:`LLCResult` (its diagnostics)."""
    probe = CovarianceProbe(pair)
    res = estimate(backend, center, replace(request, observers=tuple(request.observers) + (probe,)))
    return probe.per_chain(), res


@dataclass(frozen=True)
class InfluenceResult:
    """A covariance observable with its between-chain standard errors.

    Attributes
    ----------
    kind : "loss_kernel" (Cov), "bif" (−Cov) or "susceptibility" (−Cov_C[φ_C, ℓ − L]).
    values : (rows, cols): rows the data's samples (or tokens, sample-major), cols the query's
        samples / tokens / observable outputs, or the components for susceptibilities.
    se : (rows, cols) standard errors, sd of the chains' estimates / √chains.
    per_chain : (chains, rows, cols) each chain's estimate (their mean is ``values``).
    row_dims, row_shape, col_dims, col_shape : how rows and cols unflatten, e.g.
        ("sample", "token"), (n, seq).
    coords : coordinate values by dim name (e.g. the components' names).
    runs : the estimator's result of each run (one per component for susceptibilities): the
        LLC, its diagnostics and the config used.
    info : facts about the run (per sample or token, the query's kind, the formula).
    """

    kind: str
    values: np.ndarray
    se: np.ndarray
    per_chain: np.ndarray
    row_dims: tuple[str, ...]
    row_shape: tuple[int, ...]
    col_dims: tuple[str, ...]
    col_shape: tuple[int, ...]
    runs: tuple[LLCResult, ...] = ()
    coords: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)

    @classmethod
    def from_chains(cls, kind: str, per_chain: np.ndarray, rows: tuple[tuple[str, ...], tuple[int, ...]],
                    cols: tuple[tuple[str, ...], tuple[int, ...]], **kw: Any) -> InfluenceResult:
        """The result of per-chain covariances (chains, rows, cols), signed by :data:`SIGNS`."""
        signed = SIGNS[kind] * per_chain
        mean, se = between_chains(signed)
        return cls(kind, mean, se, signed, rows[0], tuple(rows[1]), cols[0], tuple(cols[1]), **kw)

    @property
    def num_chains(self) -> int:
        return int(self.per_chain.shape[0])

    def z(self, exact: np.ndarray) -> np.ndarray:
        """(values − exact) / se, elementwise."""
        return (self.values - np.asarray(exact, dtype=float)) / self.se

    def summary(self) -> str:
        """One line: kind, shape, chains and the size of values and se."""
        return (f"{self.kind}: values {self.values.shape} over {self.num_chains} chains, "
                f"|value| ≤ {np.abs(self.values).max():.3g}, median se {np.median(self.se):.3g}")

    def to_xarray(self) -> Any:
        """An ``xarray.Dataset`` with ``value``, ``se`` (row dims + col dims) and ``per_chain``
        (``chain`` first); attributes: kind, nβ, γ, sampler, chains, draws."""
        import xarray as xr

        dims = self.row_dims + self.col_dims
        shape = self.row_shape + self.col_shape
        cfg = self.runs[0].config if self.runs else None
        attrs = {"kind": self.kind, "sign": SIGNS[self.kind]}
        if cfg is not None:
            attrs.update(nbeta=cfg.nbeta, gamma=cfg.gamma, sampler=cfg.sampler, num_draws=cfg.num_draws,
                         step_size=cfg.step_size)
        attrs.update({k: v for k, v in self.info.items() if isinstance(v, (str, int, float))})
        return xr.Dataset(
            {"value": (dims, self.values.reshape(shape)), "se": (dims, self.se.reshape(shape)),
             "per_chain": (("chain",) + dims, self.per_chain.reshape((self.num_chains,) + shape))},
            coords={k: list(v) for k, v in self.coords.items()}, attrs=attrs)

    def to_netcdf(self, path: str | Path) -> Path:
        """Write :meth:`to_xarray` as NetCDF-4 (h5netcdf) atomically (:func:`slt.io.atomic_write`)."""
        from slt.io import atomic_write

        data = bytes(self.to_xarray().to_netcdf(engine="h5netcdf"))
        return atomic_write(path, data)

    def to_zarr(self, path: str | Path) -> Path:
        """Write :meth:`to_xarray` as a Zarr store, atomically: into a temporary folder beside
        ``path``, then renamed over it (needs the ``zarr`` package)."""
        import shutil
        import tempfile

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.")) / "store.zarr"
        try:
            self.to_xarray().to_zarr(tmp, mode="w")
            if path.exists():
                shutil.rmtree(path)
            tmp.rename(path)
        finally:
            shutil.rmtree(tmp.parent, ignore_errors=True)
        return path


# ---------------------------------------------------------------------------------------------
# doors for toy models (the numba backend)
# ---------------------------------------------------------------------------------------------
def _query_losses(model: Any, query: Any) -> tuple[Callable[[np.ndarray], np.ndarray], int, str]:
    """(W (k, d) -> (k, m) values, m, kind) of a query: (x, y) data of the same regression, or a
    callable φ(W) -> (k,) or (k, m)."""
    if callable(query):
        def phi(W: np.ndarray) -> np.ndarray:
            v = np.asarray(query(W), dtype=float)
            return v.reshape(W.shape[0], -1)

        probe = phi(np.asarray(model.point, dtype=float)[None])
        return phi, probe.shape[1], "observable"
    if not (isinstance(query, (tuple, list)) and len(query) == 2):
        raise ValueError(f"query must be None, (x, y) data or a callable φ(W); got {type(query).__name__}")
    from slt.models import Regression

    if not isinstance(model, Regression):
        raise ValueError(f"query data need a slt.models.Regression model, got {type(model).__name__}")
    other = Regression.from_data(model.f, query[0], query[1], inputs=model.inputs,
                                 parameters=tuple(str(p) for p in model.params), loss_noise=model.loss_noise)
    return other.per_sample_losses, other.n, "data"


def _data_losses(model: Any, door: str) -> Callable[[np.ndarray], np.ndarray]:
    fn = getattr(model, "per_sample_losses", None)
    if fn is None or getattr(model, "n", None) is None:
        raise ValueError(f"{door} needs a model with data (per-sample losses ℓ_i), such as slt.models.Regression; "
                         f"{getattr(model, 'name', model)!r} has none (a potential has no data)")
    return lambda W: fn(np.asarray(W, dtype=float))


def _numba_run(model: Any, w_star: Any, settings: dict, pair: Pair) -> tuple[np.ndarray, LLCResult]:
    s = Settings.from_kwargs(settings)
    if s.per_sample:
        raise ValueError("per_sample is the LLC's decomposition; the covariance doors record their own sums")
    nbeta = resolve_nbeta(model, s.nbeta)
    backend = NumbaBackend(model, nbeta, s.batch_size)
    return covariance_run(backend, resolve_point(model, w_star), Request(**{**s.request_fields(), "nbeta": nbeta}),
                          pair)


@with_settings
def loss_kernel(model: Any, w_star: Sequence[float] | None = None, *, query: Any = None,
                **settings: Any) -> InfluenceResult:
    """The loss kernel K_iq = Cov_w(ℓ_i(w), ℓ_q(w)) of a toy model (Adam, Furman & Hoogland 2025).

    The covariance under p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²), from running sums during the
    one estimator's chains (module docstring); ℓ_i(w) = (y_i − f(w, x_i))²/(2σ²).

    Parameters
    ----------
    model : a :class:`slt.models.Regression` (a model with data; a potential has none).
    w_star : the point (default: ``model.point``).
    query : None (the data themselves: K is (n, n)), (x, y) data of the same model, or a
        callable φ(W) taking positions (k, d) and returning (k,) or (k, m) values.
    settings : the estimator's settings (:class:`slt.estimators.settings.Settings`).

    Returns
    -------
    InfluenceResult with values and se of shape (n, n_query).

    Examples
    --------
    >>> from slt.models import Regression
    >>> res = loss_kernel(Regression("w1*x", n=8, seed=0), nbeta=100.0, seed=0)  # doctest: +SKIP
    >>> res.values.shape  # doctest: +SKIP
    (8, 8)
    """
    return _toy_door("loss_kernel", model, w_star, query, settings)


@with_settings
def bif(model: Any, w_star: Sequence[float] | None = None, *, query: Any, **settings: Any) -> InfluenceResult:
    """The Bayesian influence BIF(z_i, φ) = −Cov_w(ℓ_i(w), φ(w)) of a toy model's samples
    (Kreer et al. 2025): exactly minus the covariance, no other factor.

    In a regular model at large nβ it tends to −(1/nβ) ∇ℓ_iᵀ H⁻¹ ∇φ (Koh & Liang 2017;
    :func:`slt.estimators.influence_exact.classical_influence`).  Arguments as in
    :func:`loss_kernel`; ``query`` is required: (x, y) data (φ = the query's per-sample losses),
    a callable φ(W), or None (the data themselves: BIF = −K).

    >>> from slt.models import Regression
    >>> m = Regression("w1*x", n=8, seed=0)
    >>> res = bif(m, query=lambda W: W[:, 0] ** 2, nbeta=100.0, seed=0)  # doctest: +SKIP
    >>> res.values.shape  # doctest: +SKIP
    (8, 1)
    """
    return _toy_door("bif", model, w_star, query, settings)


def _toy_door(kind: str, model: Any, w_star: Any, query: Any, settings: dict) -> InfluenceResult:
    """The kernel or BIF of a toy model: rows its samples, cols the query's (module docstring)."""
    data = _data_losses(model, kind)
    if query is None:
        pair, m, qkind = (lambda W: (data(W), None)), model.n, "data"
    else:
        q, m, qkind = _query_losses(model, query)
        pair = lambda W: (data(W), q(W))  # noqa: E731
    per_chain, res = _numba_run(model, w_star, settings, pair)
    cols = ("observable",) if qkind == "observable" else ("query",)
    return InfluenceResult.from_chains(kind, per_chain, (("sample",), (model.n,)), (cols, (m,)), runs=(res,),
                                       info={"query": qkind, "backend": "numba"})


def susceptibility_pair(query_losses: Callable[[Any], Any], data_loss: Callable[[Any], Any]) -> Pair:
    """The pair whose covariance gives χ: a = [ℓ_q − L, …], b = L (both at the same draw), so that
    Cov(a, b) = Cov[ℓ_q − L, φ_C] with φ_C = L − L(w*) (the constant does not change it)."""
    def pair(W: Any) -> tuple[Any, Any]:
        L = data_loss(W)[:, None]
        return query_losses(W) - L, L

    return pair


@with_settings
def susceptibilities(model: Any, w_star: Sequence[float] | None = None, *, query: Any = None,
                     **settings: Any) -> InfluenceResult:
    """Susceptibilities χ_q = −Cov_w[φ, ℓ_q − L] of a toy model, C = all its parameters.

    φ(w) = L_n(w) − L_n(w*) and L = L_n(w) at the same draw (Baker et al. 2025, arXiv:2504.18274;
    the module docstring says how devinterp 2.x differs).  The toy doors sample every
    coordinate; restricted components are the torch door's (:func:`slt.nn.susceptibilities`).

    Parameters
    ----------
    query : None (the data's own samples), or (x, y) data of the same model: the ℓ_q probed.
    settings : the estimator's settings.

    Returns
    -------
    InfluenceResult with values (n_query, 1), the one component "all".

    >>> from slt.models import Regression
    >>> res = susceptibilities(Regression("w1*x", n=8, seed=0), nbeta=100.0, seed=0)  # doctest: +SKIP
    >>> res.values.shape  # doctest: +SKIP
    (8, 1)
    """
    data = _data_losses(model, "susceptibilities")
    if query is None:
        q, m = data, model.n
    elif callable(query):
        raise ValueError("susceptibilities probe losses ℓ_q of data: give query as (x, y) data or None")
    else:
        q, m, _ = _query_losses(model, query)
    per_chain, res = _numba_run(model, w_star, settings, susceptibility_pair(q, lambda W: data(W).mean(axis=1)))
    return InfluenceResult.from_chains("susceptibility", per_chain, (("sample",), (m,)), (("component",), (1,)),
                                       runs=(res,), coords={"component": ["all"]},
                                       info={"query": "data", "backend": "numba"})
