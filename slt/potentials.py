"""Singular potentials: sympy expressions compiled to numba energy and exact gradient.

A :class:`Potential` holds a sympy expression V(x) and, where known, the exact learning
coefficient λ (RLCT) and multiplicity m of V at ``point`` (uniform prior).  Its compiled
module (``Potential.kernels``) contains ``energy``, ``grad`` and the sampler kernels of
:mod:`slt.sampling.kernels`, compiled once and cached on disk.

References: Watanabe, *Algebraic Geometry and Statistical Learning Theory* (2009), ch. 2
(normal crossings, λ = min_j (h_j+1)/(2 k_j)); Lin (2011) and Watanabe (2009) for the cusp.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cached_property
from tokenize import TokenError
from types import ModuleType
from typing import Callable, Sequence

import numpy as np
import sympy as sp
from sympy.printing.pycode import PythonCodePrinter

from slt import _codegen

__all__ = [
    "Potential",
    "parse_expression",
    "normal_crossing",
    "sum_of_monomials",
    "cusp",
    "crossing_lines",
    "min_crossing",
    "harmonic",
    "library",
    "library_table",
    "resolve",
    "check_bounded_below",
    "check_local_minimum",
]


def _default_names(dim: int) -> tuple[str, ...]:
    if dim <= 3:
        return ("x", "y", "z")[:dim]
    return tuple(f"w{i + 1}" for i in range(dim))


def parse_expression(
    expr: str | sp.Expr, variables: Sequence[str | sp.Symbol] | None = None
) -> tuple[sp.Expr, tuple[sp.Symbol, ...]]:
    """Parse ``expr`` and resolve its variables (sorted by name unless given).

    Raises
    ------
    ValueError
        If the string does not parse, the result is not a scalar expression, or it has a
        free symbol that is not among ``variables``.
    """
    if isinstance(expr, str):
        try:
            parsed = sp.sympify(expr, convert_xor=True)
        except (sp.SympifyError, SyntaxError, TypeError, TokenError) as exc:
            raise ValueError(f"could not parse expression {expr!r}: {exc}") from None
    elif isinstance(expr, sp.Basic):
        parsed = expr
    else:
        raise ValueError(f"expression must be a string or sympy expression, got {type(expr).__name__}")
    if not isinstance(parsed, sp.Expr):
        raise ValueError(f"expression {expr!r} is not a scalar expression (got {type(parsed).__name__})")
    if variables is None:
        syms = tuple(sorted(parsed.free_symbols, key=lambda s: _natural_key(s.name)))
    else:
        syms = tuple(sp.Symbol(v) if isinstance(v, str) else v for v in variables)
        if len(set(syms)) != len(syms):
            raise ValueError(f"variables must be distinct, got {[str(s) for s in syms]}")
        extra = parsed.free_symbols - set(syms)
        if extra:
            names = ", ".join(sorted(str(s) for s in extra))
            raise ValueError(
                f"expression {str(parsed)!r} has free symbol(s) {names} that are not variables "
                f"{[str(s) for s in syms]}; substitute numbers for parameters first"
            )
    if not syms:
        raise ValueError(f"expression {str(parsed)!r} has no variables")
    return parsed, syms


def _natural_key(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


class _Printer(PythonCodePrinter):
    """Python printer whose output numba compiles (math functions, builtin min/max)."""

    def _print_Heaviside(self, expr):  # d/dx Min(...) produces Heaviside
        arg = self._print(expr.args[0])
        return f"(1.0 if ({arg}) > 0 else (0.5 if ({arg}) == 0 else 0.0))"

    def _print_sign(self, expr):
        arg = self._print(expr.args[0])
        return f"(1.0 if ({arg}) > 0 else (-1.0 if ({arg}) < 0 else 0.0))"


#: header of every generated loss module and the decorator of its functions (IEEE semantics,
#: so a division by zero gives inf that the samplers' finiteness checks catch)
LOSS_HEADER = "import math\n\nimport numba as nb\n\n\n"
NJIT = "@nb.njit(cache=True, error_model=\"numpy\")\n"


def cse_code(exprs: Sequence[sp.Expr], indent: str) -> tuple[str, list[str]]:
    """Common-subexpression elimination, printed for numba: (assignment lines, outputs)."""
    printer = _Printer({"fully_qualified_modules": True})
    repl, reduced = sp.cse(list(exprs), symbols=sp.numbered_symbols("_c"))
    lines = "".join(f"{indent}{printer.doprint(s)} = {printer.doprint(v)}\n" for s, v in repl)
    return lines, [printer.doprint(r) for r in reduced]


def second_derivative(expr: sp.Expr, sym: sp.Symbol) -> sp.Expr:
    """∂²expr/∂sym², with the point masses of kinks (DiracDelta from |w|, sign, Min) dropped:
    the curvature away from them, which is what the samplers' step metric uses."""
    return sp.diff(expr, sym, 2).replace(sp.DiracDelta, lambda *args: sp.S.Zero)


def _loss_source(expr: sp.Expr, syms: tuple[sp.Symbol, ...]) -> str:
    """Source of ``energy``/``grad``/``hdiag`` (see :mod:`slt._codegen`) for V = ``expr``."""
    internal = [sp.Symbol(f"_x{i}", real=True) for i in range(len(syms))]
    e = expr.subs(dict(zip(syms, internal)), simultaneous=True)
    grads = [sp.diff(e, s) for s in internal]
    unpack = "".join(f"    _x{i} = x[{i}]\n" for i in range(len(syms)))
    e_lines, (e_out,) = cse_code([e], "    ")
    g_lines, g_out = cse_code(grads, "    ")
    g_assign = "".join(f"    g[{i}] = {o}\n" for i, o in enumerate(g_out))
    h_lines, h_out = cse_code([second_derivative(e, s) for s in internal], "    ")
    h_assign = "".join(f"    h[{i}] = {o}\n" for i, o in enumerate(h_out))
    return (
        LOSS_HEADER
        + NJIT + f"def energy(x, data, idx, nidx):\n{unpack}{e_lines}    return {e_out}\n\n\n"
        + NJIT + f"def grad(x, data, idx, nidx, g):\n{unpack}{g_lines}{g_assign}\n\n"
        + NJIT + f"def hdiag(x, data, idx, nidx, h):\n{unpack}{h_lines}{h_assign}"
    )


@dataclass(frozen=True)
class Potential:
    """A potential V(x) with its compiled kernels and, where known, exact λ and m.

    Parameters
    ----------
    expr : sympy.Expr
        The energy V as a function of ``variables``.
    variables : tuple of sympy.Symbol
        Coordinates, in the order of the arrays the samplers use.
    name : str
        Short label for tables and figures.
    lam, m : sympy.Rational, int or None
        Learning coefficient (RLCT) and multiplicity of V at ``point`` under the prior
        (uniform unless ``prior_exponents``): vol_φ{V < ε} ≈ c ε^λ (−log ε)^(m−1) near ``point``.
    point : tuple of float
        The (singular) point that ``lam``/``m`` refer to; defaults to the origin.
    reference : str
        Where λ and m come from.
    branches : tuple of (point, direction)
        The zero set as straight lines through ``point`` along ``direction`` (library
        potentials in 2-D); used by :func:`slt.gibbs.regular_density`.
    prior_exponents : tuple of float or None
        h with prior φ(x) ∝ ∏ |x_i|^(h_i) (Watanabe 2009, normal-crossing form); ``lam``/``m``
        refer to it.  Only :mod:`slt.estimators` uses it (``kernels`` and the samplers see V).
    """

    expr: sp.Expr
    variables: tuple[sp.Symbol, ...]
    name: str = ""
    lam: sp.Rational | None = None
    m: int | None = None
    point: tuple[float, ...] | None = None
    reference: str = field(default="", compare=False)
    branches: tuple[tuple[tuple[float, ...], tuple[float, ...]], ...] = ()
    prior_exponents: tuple[float, ...] | None = None

    @classmethod
    def from_expr(
        cls,
        expr: str | sp.Expr,
        variables: Sequence[str | sp.Symbol] | None = None,
        *,
        name: str | None = None,
        lam: sp.Rational | float | None = None,
        m: int | None = None,
        point: Sequence[float] | None = None,
        reference: str = "",
        branches: Sequence[tuple[Sequence[float], Sequence[float]]] = (),
        prior_exponents: Sequence[float] | None = None,
    ) -> "Potential":
        """Build a potential from a string or sympy expression.

        Examples
        --------
        >>> V = Potential.from_expr("x**2*y**2")
        >>> V.dim, [str(v) for v in V.variables]
        (2, ['x', 'y'])
        >>> float(V([[1.0, 2.0]])[0])
        4.0
        """
        parsed, syms = parse_expression(expr, variables)
        pt = tuple(float(c) for c in point) if point is not None else (0.0,) * len(syms)
        if len(pt) != len(syms):
            raise ValueError(f"point has {len(pt)} coordinates but the potential has {len(syms)} variables")
        h = None if prior_exponents is None else tuple(float(v) for v in prior_exponents)
        if h is not None and (len(h) != len(syms) or not all(math.isfinite(v) and v >= 0 for v in h)):
            raise ValueError(f"prior_exponents must be {len(syms)} finite numbers >= 0, got {prior_exponents!r}")
        return cls(
            expr=parsed,
            variables=syms,
            name=name if name is not None else str(parsed),
            lam=sp.nsimplify(lam) if lam is not None else None,
            m=m,
            point=pt,
            reference=reference,
            branches=tuple((tuple(map(float, p)), tuple(map(float, d))) for p, d in branches),
            prior_exponents=h,
        )

    @property
    def dim(self) -> int:
        """Number of coordinates."""
        return len(self.variables)

    @cached_property
    def kernels(self) -> ModuleType:
        """Compiled module with ``energy``, ``grad`` and the sampler kernels."""
        return _codegen.load_module(_loss_source(self.expr, self.variables), dim=self.dim, tag="pot")

    @cached_property
    def _numpy_funcs(self) -> tuple[Callable, list[Callable]]:
        f = sp.lambdify(self.variables, self.expr, modules="numpy")
        gs = [sp.lambdify(self.variables, sp.diff(self.expr, v), modules="numpy") for v in self.variables]
        return f, gs

    def _columns(self, points: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        pts = np.asarray(points, dtype=float)
        if pts.shape[-1] != self.dim:
            raise ValueError(f"points must have last axis {self.dim}, got shape {pts.shape}")
        return pts, [pts[..., i] for i in range(self.dim)]

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """V at ``points`` (..., dim), vectorised with numpy."""
        pts, cols = self._columns(points)
        return np.broadcast_to(self._numpy_funcs[0](*cols), pts.shape[:-1]).astype(float)

    def gradient(self, points: np.ndarray) -> np.ndarray:
        """∇V at ``points`` (..., dim), vectorised with numpy."""
        pts, cols = self._columns(points)
        return np.stack([np.broadcast_to(g(*cols), pts.shape[:-1]) for g in self._numpy_funcs[1]], axis=-1).astype(float)

    def hessian(self, point: Sequence[float]) -> np.ndarray:
        """Exact Hessian of V at one point (sympy), as a float (dim, dim) array."""
        H = sp.hessian(self.expr, self.variables)
        return np.array(H.subs(dict(zip(self.variables, point))).evalf(), dtype=float)


# --- a library with exact learning coefficients --------------------------------------------


def _axes(dim: int) -> list[tuple[tuple[float, ...], tuple[float, ...]]]:
    """The coordinate axes as zero-set branches (2-D only: in higher dims they are planes)."""
    if dim != 2:
        return []
    return [((0.0, 0.0), (1.0, 0.0)), ((0.0, 0.0), (0.0, 1.0))]


def _symbols(dim: int) -> tuple[sp.Symbol, ...]:
    return tuple(sp.Symbol(n) for n in _default_names(dim))


def normal_crossing(k: Sequence[int], *, c: float = 1.0, h: Sequence[int] | None = None) -> Potential:
    """V = c ∏ w_i^(2 k_i), prior ∏ |w_i|^(h_i): λ = min_i (h_i+1)/(2 k_i), m = #argmin.

    Watanabe (2009), Thm 2.4 (normal-crossing form of the zeta function); ``h=None`` is
    the uniform prior (h = 0).
    """
    k = [int(v) for v in k]
    if not k or min(k) < 1:
        raise ValueError(f"normal_crossing needs exponents k_i >= 1, got {k}")
    hs = [0] * len(k) if h is None else [int(v) for v in h]
    if len(hs) != len(k) or min(hs) < 0:
        raise ValueError(f"normal_crossing needs one prior exponent h_i >= 0 per variable, got {h}")
    syms = _symbols(len(k))
    expr = sp.nsimplify(c) * sp.Mul(*[s ** (2 * ki) for s, ki in zip(syms, k)])
    ratios = [sp.Rational(hi + 1, 2 * ki) for hi, ki in zip(hs, k)]
    lam = min(ratios)
    name = "normal crossing " + "·".join(f"{s}^{2 * ki}" for s, ki in zip(syms, k))
    if h is not None:
        name += ", prior " + "·".join(f"|{s}|^{hi}" for s, hi in zip(syms, hs) if hi)
    return Potential.from_expr(
        expr, syms, name=name, lam=lam, m=ratios.count(lam),
        reference="Watanabe (2009), normal crossing rule λ = min (h_i+1)/(2k_i)",
        branches=_axes(len(k)), prior_exponents=None if h is None else hs,
    )


def sum_of_monomials(k: Sequence[int], *, c: float = 1.0) -> Potential:
    """V = c Σ w_i^(2 k_i): quasi-homogeneous, λ = Σ_i 1/(2 k_i), m = 1 (Watanabe 2009, §7)."""
    k = [int(v) for v in k]
    if not k or min(k) < 1:
        raise ValueError(f"sum_of_monomials needs exponents k_i >= 1, got {k}")
    syms = _symbols(len(k))
    expr = sp.nsimplify(c) * sp.Add(*[s ** (2 * ki) for s, ki in zip(syms, k)])
    return Potential.from_expr(
        expr, syms, name=" + ".join(f"{s}^{2 * ki}" for s, ki in zip(syms, k)),
        lam=sum(sp.Rational(1, 2 * ki) for ki in k), m=1,
        reference="quasi-homogeneous sum: λ = Σ 1/(2k_i) (Watanabe 2009)",
    )


def cusp(*, c: float = 1.0) -> Potential:
    """V = c (y² − x³)²: λ = lct(y² − x³)/2 = (1/2 + 1/3)/2 = 5/12, m = 1."""
    x, y = sp.symbols("x y")
    return Potential.from_expr(
        sp.nsimplify(c) * (y**2 - x**3) ** 2, (x, y), name="cusp (y²−x³)²",
        lam=sp.Rational(5, 12), m=1,
        reference="log canonical threshold of the cusp is 5/6 (Kollár 1997, Ex. 8.14); λ(f²) = lct(f)/2",
    )


def crossing_lines(k: int, *, c: float = 1.0, angles: Sequence[float] | None = None) -> Potential:
    """V = c ∏_{i<k} dist(x, ℓ_i)², with k distinct lines ℓ_i through the origin.

    Default angles θ_i = iπ/k; dist to ℓ_i is |−sin θ_i x + cos θ_i y|.  One blow-up at the
    origin resolves it: exceptional divisor gives 2/(2k) = 1/k, each line 1/2, so
    λ = 1/2, m = 1 for k = 1; λ = 1/2, m = 2 for k = 2; λ = 1/k, m = 1 for k ≥ 3.
    """
    if int(k) != k or k < 1:
        raise ValueError(f"crossing_lines needs k >= 1 lines, got {k!r}")
    th = [sp.Float(a) for a in angles] if angles is not None else [i * sp.pi / k for i in range(k)]
    if len(th) != k:
        raise ValueError(f"got {len(th)} angles for {k} lines")
    if len({round(float(a) % math.pi, 12) for a in th}) != k:
        raise ValueError(f"line angles must be distinct modulo π, got {[float(a) for a in th]}")
    x, y = sp.symbols("x y")
    prod = sp.expand(sp.Mul(*[(-sp.sin(a) * x + sp.cos(a) * y) ** 2 for a in th]))
    if prod.atoms(sp.sin, sp.cos):
        prod = prod.evalf(17)
    lam, m = (sp.Rational(1, 2), 1) if k == 1 else (sp.Rational(1, 2), 2) if k == 2 else (sp.Rational(1, k), 1)
    return Potential.from_expr(
        sp.nsimplify(c) * prod, (x, y), name=f"{k} crossing lines", lam=lam, m=m,
        reference="one blow-up of the origin (lct of k ≥ 2 concurrent lines is 2/k)",
        branches=[((0.0, 0.0), (math.cos(float(a)), math.sin(float(a)))) for a in th],
    )


def min_crossing(*, c: float = 1.0, a: float = 0.0, b: float = 0.0) -> Potential:
    """V = c min((x−a)², (y−b)²): two valleys crossing at (a, b) (seed post 002).

    Not analytic: near (a, b), vol{V < ε} = area of two crossing strips of width 2√(ε/c),
    which scales as ε^(1/2) with no logarithm, so λ = 1/2 and m = 1 (as for one valley).
    """
    x, y = sp.symbols("x y")
    expr = sp.nsimplify(c) * sp.Min((x - sp.nsimplify(a)) ** 2, (y - sp.nsimplify(b)) ** 2)
    return Potential.from_expr(
        expr, (x, y), name="min crossing", lam=sp.Rational(1, 2), m=1, point=(a, b),
        reference="volume scaling of two crossing strips",
        branches=[((a, b), (1.0, 0.0)), ((a, b), (0.0, 1.0))],
    )


def harmonic(curvatures: Sequence[float]) -> Potential:
    """V = Σ a_i x_i² / 2 (regular): λ = d/2, m = 1; Gibbs law N(0, T/a_i) per coordinate."""
    a = [float(v) for v in curvatures]
    if not a or min(a) <= 0:
        raise ValueError(f"harmonic needs positive curvatures, got {a}")
    syms = _symbols(len(a))
    expr = sp.Add(*[sp.nsimplify(ai) * s**2 / 2 for s, ai in zip(syms, a)])
    return Potential.from_expr(expr, syms, name="harmonic", lam=sp.Rational(len(a), 2), m=1,
                               reference="regular model: λ = d/2")


def library() -> dict[str, Potential]:
    """The named potentials used across tests, benchmarks and figures."""
    return {
        "x2y2": normal_crossing([1, 1]),
        "x2y4": normal_crossing([1, 2]),
        "x2+y4": sum_of_monomials([1, 2]),
        "cusp": cusp(),
        "3lines": crossing_lines(3),
        "min_crossing": min_crossing(),
        "harmonic2": harmonic([1.0, 1.0]),
    }


def library_table() -> str:
    """One line per library potential: name, formula, λ and m at its point.

    Example
    -------
    >>> print(library_table().splitlines()[0])  # doctest: +NORMALIZE_WHITESPACE
    x2y2  x**2*y**2  λ = 1/2, m = 2
    """
    lib = library()
    width, fwidth = max(map(len, lib)), max(len(str(V.expr)) for V in lib.values())
    return "\n".join(f"{name:<{width}}  {str(V.expr):<{fwidth}}  λ = {V.lam}, m = {V.m}"
                     for name, V in lib.items())


def resolve(spec: "str | Potential", *, point: Sequence[float] | None = None) -> Potential:
    """A library name (:func:`library`) or a formula in sympy syntax, as a :class:`Potential`.

    A bare identifier that is not a library name is an error, not the linear potential of
    that name: ``resolve("nosuchname")`` raises and lists the library names.

    Parameters
    ----------
    spec : library name, formula string (``"x**2*y**4"``) or a Potential (returned as is).
    point : the point of interest of a formula (default the origin); library potentials keep
        their own unless ``point`` is given.

    Raises
    ------
    ValueError
        Naming ``spec`` when it is an unknown name or does not parse.

    Example
    -------
    >>> resolve("cusp").lam, str(resolve("x**2 + y**4").expr)
    (5/12, 'x**2 + y**4')
    """
    if isinstance(spec, Potential):
        return spec
    lib = library()
    if spec in lib:
        V = lib[spec]
        if point is None:
            return V
        return Potential.from_expr(V.expr, V.variables, name=V.name, point=point, branches=(),
                                   prior_exponents=V.prior_exponents)
    if isinstance(spec, str) and spec.strip().isidentifier():
        raise ValueError(f"unknown potential name {spec!r}: library names are {', '.join(lib)}; "
                         f"or give a formula in sympy syntax, e.g. 'x**2*y**4'")
    return Potential.from_expr(spec, point=point)


def _box_grid(V: Potential, box: Sequence[float] | np.ndarray, num: int) -> np.ndarray:
    """Grid points over ``box`` ((lo, hi) or (dim, 2)): num per side up to 3-D, else random."""
    arr = np.asarray(box, dtype=float)
    bounds = np.tile(arr, (V.dim, 1)) if arr.shape == (2,) else arr
    if bounds.shape != (V.dim, 2) or not np.all(bounds[:, 0] < bounds[:, 1]):
        raise ValueError(f"box must be (lo, hi) with lo < hi or a ({V.dim}, 2) array, got {arr.tolist()}")
    if V.dim <= 3:
        axes = [np.linspace(lo, hi, num) for lo, hi in bounds]
        return np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, V.dim)
    rng = np.random.default_rng(0)
    return rng.uniform(bounds[:, 0], bounds[:, 1], size=(num**3, V.dim))


def check_bounded_below(V: Potential, box: Sequence[float] | np.ndarray, *, num: int = 41,
                        floor: float = -1e12) -> None:
    """Raise unless V is finite and bounded below on a grid over ``box``.

    The Gibbs measure exp(−V/T)/Z on the box needs V > −∞ (a finite Z); a formula such as
    ``log(x**2)`` or ``-1/x**2`` is not.  The check evaluates V on ``num`` points per side
    (a random sample of num³ points above three dimensions), the box corners and centre
    included, and fails where V is NaN or below ``floor``.

    Example
    -------
    >>> check_bounded_below(resolve("cusp"), (-1, 1))
    >>> check_bounded_below(resolve("log(x**2) + y**2"), (-1, 1))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: potential y**2 + log(x**2) is not bounded below on the box ...: V(0, -1) = -inf
    """
    pts = _box_grid(V, box, num)
    with np.errstate(all="ignore"):
        vals = np.asarray(V(pts), dtype=float)
    bad = np.isnan(vals) | (vals < floor)
    if bad.any():
        i = int(np.argmax(bad))
        where = ", ".join(f"{c:g}" for c in pts[i])
        arr = np.asarray(box, dtype=float)
        shown = (np.tile(arr, (V.dim, 1)) if arr.shape == (2,) else arr).tolist()
        raise ValueError(f"potential {V.name} is not bounded below on the box {shown}: V({where}) = {vals[i]:g}")


def check_local_minimum(V: Potential, point: Sequence[float] | None = None, *, radius: float = 1e-2,
                        num: int = 2000, seed: int = 0) -> None:
    """Raise unless ``point`` (default ``V.point``) looks like a local minimum of V.

    The local learning coefficient λ(w*) is defined at a minimum w* of K (Lau et al. 2023):
    K(w) = V(w) − V(w*) ≥ 0 near w*.  The check draws ``num`` points uniformly in the cube of
    half-width ``radius`` (and ``radius``/100) around w* and fails where V(w*) is not finite or
    some V(w) < V(w*) − 1e-9 (1 + |V(w*)|).

    Example
    -------
    >>> check_local_minimum(resolve("x**2*y**4"))
    >>> check_local_minimum(resolve("x**2 - y**2"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: w* = (0, 0) is not a local minimum of x**2 - y**2: V(w*) = 0 but V(...) = ...
    """
    w0 = np.asarray(V.point if point is None else point, dtype=float)
    if w0.shape != (V.dim,):
        raise ValueError(f"point must have {V.dim} coordinates, got {w0.tolist()}")
    with np.errstate(all="ignore"):
        v0 = float(V(w0[None])[0])
        if not np.isfinite(v0):
            raise ValueError(f"V(w*) = {v0} is not finite at w* = {tuple(w0.tolist())} for {V.name}")
        rng = np.random.default_rng(seed)
        pts = w0 + rng.uniform(-1, 1, size=(num, V.dim)) * np.repeat([radius, radius / 100], num // 2 + 1)[:num, None]
        vals = np.asarray(V(pts), dtype=float)
    bad = ~(vals >= v0 - 1e-9 * (1 + abs(v0)))
    if bad.any():
        i = int(np.argmin(np.where(np.isnan(vals), -np.inf, vals)))
        where = ", ".join(f"{c:.3g}" for c in pts[i])
        here = ", ".join(f"{c:g}" for c in w0)
        raise ValueError(f"w* = ({here}) is not a local minimum of {V.name}: V(w*) = {v0:g} but V({where}) = "
                         f"{vals[i]:.3g}; an LLC target needs K(w) = V(w) - V(w*) >= 0 near w*")
