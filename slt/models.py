"""Toy statistical models from a formula, with finite-data losses compiled by numba.

``Regression("w1*w2**2*x", n=1000, seed=0)`` is the model y = f(w, x) + σ ε with ε ~ N(0, 1),
x drawn from a chosen distribution and the data generated at a true parameter w₀.  Its loss
is the average negative log-likelihood

    L_n(w) = (1/n) Σ_i [ (y_i − f(w, x_i))² / (2σ²) + ½ log(2πσ²) ]     (σ = ``loss_noise``),

compiled (with its sympy gradient) into the kernel module of :mod:`slt._codegen`, so the
samplers of :mod:`slt.sampling` run SGLD on the real finite-data loss, full batch or with
minibatches of rows.  For f polynomial in x the same loss is also available in closed form
through the data moments (:meth:`Regression.empirical_potential`), and the population loss
K(w) = E_x[(f(w, x) − f(w₀, x))²] / (2σ²) through the moments of x
(:meth:`Regression.population_potential`): both are :class:`slt.potentials.Potential`, so
exact quadrature (:mod:`slt.estimators`) applies to them.

Reference: Watanabe (2009), ch. 1 (K(w) and L_n(w) of a regression model); the devinterp
toy models f = x ∏ w_i^(p_i) follow Lau et al. (2023), §5.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from types import ModuleType
from typing import Sequence

import numpy as np
import sympy as sp

from slt import _codegen
from slt.potentials import LOSS_HEADER, NJIT, Potential, cse_code, parse_expression, second_derivative

__all__ = ["Regression", "X_DISTRIBUTIONS"]

X_DISTRIBUTIONS = ("normal", "uniform")


def _x_moment(k: int, dist: str, scale: float) -> sp.Expr:
    """E[x^k] for x ~ N(0, scale²) or U(−scale, scale) (exact, sympy)."""
    s = sp.nsimplify(scale)
    if k % 2:
        return sp.Integer(0)
    if dist == "normal":
        return s**k * sp.factorial2(k - 1)
    return s**k / (k + 1)


def _regression_source(residual: sp.Expr, params: Sequence[sp.Symbol], inputs: Sequence[sp.Symbol],
                       noise: float) -> str:
    """``energy``/``grad``/``hdiag`` (contract of :mod:`slt._codegen`) for the Gaussian NLL of the
    rows: L = (1/(2σ²n)) Σ r², ∇L = (1/(σ²n)) Σ r ∇r, ∂²L/∂w_d² = (1/(σ²n)) Σ ((∂_d r)² + r ∂²_d r)."""
    wsym = [sp.Symbol(f"_w{i}", real=True) for i in range(len(params))]
    xsym = [sp.Symbol(f"_d{j}", real=True) for j in range(len(inputs) + 1)]  # inputs, then y
    r = residual.subs(dict(zip(list(params) + list(inputs) + [sp.Symbol("_y")], wsym + xsym)), simultaneous=True)
    grads = [sp.diff(r, w) for w in wsym]
    seconds = [second_derivative(r, w) for w in wsym]
    cse_lines, (r_out, *g_out) = cse_code([r] + grads, "        ")
    h_cse, (hr_out, *hg_out) = cse_code([r] + grads + seconds, "        ")
    hg_out, hs_out = hg_out[:len(wsym)], hg_out[len(wsym):]
    unpack_w = "".join(f"    _w{i} = x[{i}]\n" for i in range(len(params)))
    unpack_d = "".join(f"        _d{j} = data[_row, {j}]\n" for j in range(len(xsym)))
    inv = 1.0 / noise**2
    const = 0.5 * math.log(2.0 * math.pi * noise**2)
    zero_g = "".join(f"    g[{i}] = 0.0\n" for i in range(len(params)))
    acc_g = "".join(f"        g[{i}] += _r * ({o})\n" for i, o in enumerate(g_out))
    scale_g = "".join(f"    g[{i}] *= {inv!r} / nidx\n" for i in range(len(params)))
    loop = f"    for _j in range(nidx):\n        _row = idx[_j]\n{unpack_d}{cse_lines}        _r = {r_out}\n"
    zero_h = zero_g.replace("g[", "h[")
    acc_h = "".join(f"        h[{i}] += ({g}) ** 2 + _r * ({o})\n" for i, (g, o) in enumerate(zip(hg_out, hs_out)))
    h_loop = f"    for _j in range(nidx):\n        _row = idx[_j]\n{unpack_d}{h_cse}        _r = {hr_out}\n"
    return (
        LOSS_HEADER
        + NJIT + f"def energy(x, data, idx, nidx):\n{unpack_w}    _s = 0.0\n{loop}        _s += _r * _r\n"
        f"    return 0.5 * {inv!r} * _s / nidx + {const!r}\n\n\n"
        + NJIT + f"def grad(x, data, idx, nidx, g):\n{unpack_w}{zero_g}{loop}{acc_g}{scale_g}\n\n"
        + NJIT + f"def hdiag(x, data, idx, nidx, h):\n{unpack_w}{zero_h}{h_loop}{acc_h}{scale_g.replace('g[', 'h[')}"
    )


@dataclass(frozen=True)
class Regression:
    """y = f(w, x) + σ ε at a true parameter w₀, with n samples of x.

    Parameters
    ----------
    formula : str or sympy expression f(w, x); the symbols in ``inputs`` are inputs, every
        other symbol is a parameter (sorted by name, w1 < w2 < w10).
    n : number of samples.
    seed : int or numpy Generator for x and the noise.
    w_true : true parameter w₀ (default: the origin).
    x_dist : "normal" (x ~ N(0, x_scale²)) or "uniform" (x ~ U(−x_scale, x_scale)), per input.
    x_scale : scale of the inputs.
    noise : σ > 0, the noise of the data.
    loss_noise : σ_L > 0 of the likelihood in the loss (default: ``noise``, the
        well-specified model).  ``loss_noise=sqrt(1/2)`` makes L_n the mean squared error
        plus a constant, the loss devinterp uses.
    inputs : names of the input symbols.
    parameters : names of the parameters, in order (default: every other symbol of f);
        may include parameters f does not depend on, e.g. ``Regression("x*w2",
        parameters=("w1", "w2"), ...)`` for the devinterp power (0, 1).

    Examples
    --------
    >>> m = Regression("w1*w2*x", n=100, seed=0)
    >>> m.dim, m.data.shape, [str(p) for p in m.params]
    (2, (100, 2), ['w1', 'w2'])
    >>> str(m.population_potential().expr)
    '2*w1**2*w2**2'
    """

    formula: str | sp.Expr
    n: int
    seed: int | np.random.Generator | None = None
    w_true: tuple[float, ...] | None = None
    x_dist: str = "normal"
    x_scale: float = 2.0
    noise: float = 1.0
    loss_noise: float | None = None
    inputs: tuple[str, ...] = ("x",)
    parameters: tuple[str, ...] | None = None
    f: sp.Expr = field(init=False, repr=False, compare=False)
    params: tuple[sp.Symbol, ...] = field(init=False, repr=False, compare=False)
    input_symbols: tuple[sp.Symbol, ...] = field(init=False, repr=False, compare=False)
    data: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        ins = tuple(sp.Symbol(s) for s in self.inputs)
        if self.parameters is None:
            expr, syms = parse_expression(self.formula)
            params = tuple(s for s in syms if s not in ins)
        else:
            params = tuple(sp.Symbol(s) for s in self.parameters)
            expr, _ = parse_expression(self.formula, params + ins)
        if not params:
            raise ValueError(f"formula {self.formula!r} has no parameters besides the inputs {list(self.inputs)}")
        if isinstance(self.n, bool) or not isinstance(self.n, (int, np.integer)) or self.n < 1:
            raise ValueError(f"n must be an integer >= 1, got {self.n!r}")
        if self.x_dist not in X_DISTRIBUTIONS:
            raise ValueError(f"x_dist must be one of {X_DISTRIBUTIONS}, got {self.x_dist!r}")
        if self.loss_noise is None:
            object.__setattr__(self, "loss_noise", self.noise)
        for name in ("x_scale", "noise", "loss_noise"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive finite number, got {v!r}")
        w0 = (0.0,) * len(params) if self.w_true is None else tuple(float(v) for v in self.w_true)
        if len(w0) != len(params):
            raise ValueError(f"w_true has {len(w0)} values but the model has parameters {[str(p) for p in params]}")
        rng = self.seed if isinstance(self.seed, np.random.Generator) else np.random.default_rng(self.seed)
        k = len(ins)
        if self.x_dist == "normal":
            x = rng.normal(0.0, self.x_scale, size=(self.n, k))
        else:
            x = rng.uniform(-self.x_scale, self.x_scale, size=(self.n, k))
        f0 = sp.lambdify(ins, expr.subs(dict(zip(params, w0))), modules="numpy")
        y = np.broadcast_to(np.asarray(f0(*x.T), dtype=float), (self.n,)) + self.noise * rng.normal(size=self.n)
        object.__setattr__(self, "w_true", w0)
        object.__setattr__(self, "f", expr)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "input_symbols", ins)
        object.__setattr__(self, "data", np.ascontiguousarray(np.column_stack([x, y])))

    @classmethod
    def from_data(cls, formula: str | sp.Expr, x: np.ndarray, y: np.ndarray, **kwargs) -> "Regression":
        """The model on a given data set (x: (n,) or (n, inputs), y: (n,)) instead of a generated one.

        ``kwargs`` as for the constructor (``x_dist``/``x_scale``/``noise`` then only describe
        the population the data are assumed to come from, for :meth:`population_potential`).
        """
        y = np.asarray(y, dtype=float).reshape(-1)
        x = np.asarray(x, dtype=float).reshape(y.size, -1)
        model = cls(formula, n=int(y.size), seed=0, **kwargs)
        if x.shape[1] != len(model.input_symbols) or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            raise ValueError(f"x must be finite with {len(model.input_symbols)} column(s) per row and y finite, "
                             f"got shapes {np.shape(x)}, {np.shape(y)}")
        object.__setattr__(model, "data", np.ascontiguousarray(np.column_stack([x, y])))
        return model

    @property
    def dim(self) -> int:
        """Number of parameters."""
        return len(self.params)

    @property
    def name(self) -> str:
        return f"regression y = {self.f} (n={self.n})"

    @property
    def point(self) -> tuple[float, ...]:
        """The true parameter w₀ (where the LLC is estimated by default)."""
        return self.w_true

    def _residual(self) -> sp.Expr:
        return sp.Symbol("_y") - self.f

    @cached_property
    def kernels(self) -> ModuleType:
        """Compiled module: energy/grad = L_n over rows ``idx[:nidx]`` of ``data``, plus samplers."""
        src = _regression_source(self._residual(), self.params, self.input_symbols, self.loss_noise)
        return _codegen.load_module(src, dim=self.dim, tag="reg")

    def loss(self, w: Sequence[float], rows: np.ndarray | None = None) -> float:
        """L_n(w) (or the average over ``rows``), evaluated by the compiled kernel."""
        w = np.asarray(w, dtype=float).reshape(-1)
        if w.shape != (self.dim,):
            raise ValueError(f"w must have {self.dim} coordinates, got shape {w.shape}")
        idx = np.arange(self.n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
        return float(self.kernels.energy(w, self.data, idx, idx.size))

    @cached_property
    def full_batch_potential(self) -> Potential | None:
        """L_n as a compiled :class:`Potential` (:meth:`empirical_potential`), or None when f is
        not polynomial in the inputs.

        Full-batch samplers run on it: the same loss and gradient as :attr:`kernels` up to
        float64 rounding, at a cost independent of n (the data enter through their moments).
        """
        try:
            return self.empirical_potential()
        except ValueError:
            return None

    @cached_property
    def _f_numpy(self):
        return sp.lambdify(self.params + self.input_symbols, self.f, modules="numpy")

    def per_sample_losses(self, W: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """ℓ_i(w) = (y_i − f(w, x_i))² / (2σ_L²) for every row w of ``W`` (k, dim) and sample i
        of ``rows`` (default all): a (k, samples) array. L_n(w) is their mean plus ½ log(2πσ_L²)."""
        W = np.atleast_2d(np.asarray(W, dtype=float))
        if W.shape[1] != self.dim:
            raise ValueError(f"W must have {self.dim} columns, got shape {W.shape}")
        data = self.data if rows is None else self.data[np.asarray(rows, dtype=np.int64)]
        args = [W[:, j, None] for j in range(self.dim)] + [data[None, :, j] for j in range(data.shape[1] - 1)]
        f = np.broadcast_to(self._f_numpy(*args), (W.shape[0], data.shape[0]))
        return (data[None, :, -1] - f) ** 2 / (2 * self.loss_noise**2)

    def fit(self, start: Sequence[float] | None = None) -> np.ndarray:
        """A local minimizer of L_n (BFGS with the compiled gradient) from ``start``.

        Default start: w₀ + 0.1 in every coordinate, i.e. the "trained" parameter near the
        truth at which the LLC of a finite-data model is usually estimated.
        """
        from scipy.optimize import minimize

        idx = np.arange(self.n, dtype=np.int64)
        k = self.kernels

        def fun(w):
            g = np.zeros(self.dim)
            k.grad(w, self.data, idx, self.n, g)
            return k.energy(w, self.data, idx, self.n), g

        x0 = np.asarray(self.w_true, dtype=float) + 0.1 if start is None else np.asarray(start, dtype=float)
        return minimize(fun, x0, jac=True, method="BFGS", options={"gtol": 1e-12}).x

    def _poly_in_x(self) -> sp.Poly:
        try:
            return sp.Poly(self.f, *self.input_symbols)
        except sp.PolynomialError:
            raise ValueError(f"f = {self.f} is not polynomial in the inputs: no closed-form loss") from None

    def population_potential(self) -> Potential:
        """K(w) = E_x[(f(w, x) − f(w₀, x))²] / (2σ²), exact through the moments of x.

        Raises ValueError when f is not polynomial in the inputs.
        """
        self._poly_in_x()
        diff = self.f - self.f.subs(dict(zip(self.params, self.w_true)))
        poly = sp.Poly(sp.expand(diff**2), *self.input_symbols)
        total = sp.Integer(0)
        for monom, coeff in poly.terms():
            mom = sp.Mul(*[_x_moment(k, self.x_dist, self.x_scale) for k in monom])
            total += coeff * mom
        expr = sp.expand(total / (2 * sp.nsimplify(self.loss_noise) ** 2))
        return Potential.from_expr(expr, self.params, name=f"K of {self.f}", point=self.w_true,
                                   reference=f"population loss of y = {self.f} + N(0, {self.noise}²), x ~ {self.x_dist}({self.x_scale})")

    def empirical_potential(self) -> Potential:
        """L_n(w) as a closed-form polynomial in the coefficients of f, via data moments.

        f = Σ_a c_a(w) x^a, so (y − f)² needs only Σ y², Σ y x^a and Σ x^(a+b): exact (in
        float64) and cheap to evaluate on quadrature grids.  Raises ValueError when f is not
        polynomial in the inputs.
        """
        poly = self._poly_in_x()
        terms = poly.terms()
        x, y = self.data[:, :-1], self.data[:, -1]

        def moment(powers, ypow):
            return sp.Float(float(np.mean(np.prod(x ** np.asarray(powers), axis=1) * y**ypow)), 17)

        quad = sp.Integer(0)
        for i, (ma, ca) in enumerate(terms):
            quad -= 2 * ca * moment(ma, 1)
            for mb, cb in terms:
                quad += ca * cb * moment(tuple(a + b for a, b in zip(ma, mb)), 0)
        quad += moment((0,) * len(self.input_symbols), 2)
        s2 = sp.nsimplify(self.loss_noise) ** 2
        expr = sp.expand(quad / (2 * s2)) + sp.Float(0.5 * math.log(2 * math.pi * self.loss_noise**2), 17)
        return Potential.from_expr(expr, self.params, name=f"L_n of {self.f}", point=self.w_true,
                                   reference=f"empirical loss, n={self.n}")
