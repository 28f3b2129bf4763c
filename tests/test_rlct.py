"""Tests of slt.rlct against literature values (source cited next to each value)."""
from __future__ import annotations

import itertools

import pytest
import sympy as sp

from slt.rlct import (
    RLCT, UnresolvedError, blow_up, deep_linear_network, reduced_rank_regression, regular, rlct, tanh_network,
)
from slt.rlct import newton
from slt.rlct.blowup import Chart
from slt.rlct.cli import main as cli_main
from slt.rlct.gallery import GALLERY

R = sp.Rational
W09 = "Watanabe (2009), Algebraic Geometry and Statistical Learning Theory"


# ---------------------------------------------------------------- literature values
@pytest.mark.parametrize("entry", GALLERY, ids=[e.name for e in GALLERY])
def test_gallery_matches_literature(entry):
    # sources: entry.source (Watanabe 2009 ch. 2, 3, 7; Lin 2011 thesis)
    res = rlct(entry.K)
    assert (res.lam, res.m) == (entry.lam, entry.m)
    assert isinstance(res.lam, sp.Rational) and isinstance(res, RLCT)


@pytest.mark.parametrize(
    "K, prior, lam, m",
    [
        # Watanabe (2009) ch. 2: lambda = min (h_j+1)/(2k_j), m = #argmin
        ("x**2*y**4", {"x": 2}, R(1, 4), 1),
        ("x**2*y**4", {"y": 1}, R(1, 2), 2),
        ("x**4*y**6*z**2", {"x": 1, "z": 2}, R(1, 6), 1),
        ("x**4*y**6*z**2", {"x": 1, "y": 2}, R(1, 2), 3),
        ("x**2*y**2*z**2", None, R(1, 2), 3),
        ("3*x**6*(1 + y**2)", None, R(1, 6), 1),  # monomial times a unit
    ],
)
def test_normal_crossing_with_prior(K, prior, lam, m):
    res = rlct(K, prior=prior)
    assert (res.lam, res.m, res.method) == (lam, m, "normal crossing")


def test_newton_with_prior_and_face():
    # Newton polyhedron with monomial amplitude (Lin 2011, ch. 4): x^2 + y^4, prior |y|^1:
    # the ray t(1, 2) meets x/2 + y/4 = 1 at t = 1, so lambda = 1, on the edge: m = 1.
    res = rlct("x**2 + y**4", prior={"y": 1})
    assert (res.lam, res.m, res.method) == (1, 1, "newton")
    assert res.face == ((0, 4), (2, 0))
    # x^2 + y^4 + z^6 (sum of monomials: Watanabe 2009 ch. 7): 1/2 + 1/4 + 1/6 = 11/12
    assert rlct("x**2 + y**4 + z**6").lam == R(11, 12)
    # the diagonal through a vertex: x^2 y^2 + x^6 + y^6 meets (2, 2), a vertex: m = 2
    res = rlct("x**2*y**2 + x**6 + y**6")
    assert (res.lam, res.m, res.face) == (R(1, 2), 2, ((2, 2),))


def test_regular_quadratic_form_is_d_over_2():
    # a positive-definite quadratic form: regular, lambda = d/2 (Watanabe 2009 ch. 1)
    res = rlct("x**2 + y**2 + z**2 + w**2")
    assert (res.lam, res.m) == (2, 1)
    assert regular(4).lam == 2 and regular(4).m == 1


@pytest.mark.parametrize("k", [3, 4, 5])
def test_concurrent_lines(k):
    # k >= 3 lines through 0, squared: lambda = 1/k, m = 1 (Watanabe 2009 ch. 3; Lin 2011)
    x, y = sp.symbols("x y")
    K = sp.Mul(*[(y - i * x) for i in range(k)]) ** 2
    res = rlct(K)
    assert (res.lam, res.m, res.method) == (R(1, k), 1, "blow-up")


def test_degenerate_cases_never_get_the_naive_newton_answer():
    # (x - y)^2: naive Newton 1/t = 1, truth 1/2 (smooth, Watanabe 2009 ch. 2)
    terms = {(2, 0): R(1), (1, 1): R(-2), (0, 2): R(1)}
    assert newton.newton_distance(terms, (0, 0)).lam == 1
    assert newton.degenerate_faces(terms, newton.facets(list(terms)))
    res = rlct("(x - y)**2")
    assert (res.lam, res.method, res.coordinates) == (R(1, 2), "newton after linear change", ("u = x - y",))
    # (y - x^2)^2: naive Newton 3/4, truth 1/2 (smooth curve squared); needs blow-ups
    naive = newton.newton_distance({(0, 2): R(1), (2, 1): R(-2), (4, 0): R(1)}, (0, 0)).lam
    assert naive == R(3, 4)
    res = rlct("(y - x**2)**2")
    assert (res.lam, res.m, res.method) == (R(1, 2), 1, "blow-up")
    # the cusp is degenerate (its edge polynomial vanishes at x = y = 1): not answered by Newton
    res = rlct("(y**2 - x**3)**2")
    assert (res.lam, res.m, res.method) == (R(5, 12), 1, "blow-up")
    assert res.coordinates[0] in ("y = x*y'", "x = y*x'")
    # (x - y)^2 + z^4 after the linear change is non-degenerate: 1/2 + 1/4
    assert rlct("(x - y)**2 + z**4").lam == R(3, 4)


@pytest.mark.parametrize(
    "K, lam, m, method",
    [
        # Watanabe (2009) ch. 7 / Lin (2011): independent sums add (m = m1 + m2 - 1),
        # independent products take the minimum (orders add on ties)
        ("(y**2 - x**3)**2 + z**2", R(5, 12) + R(1, 2), 1, "sum of independent parts"),
        ("(y**2 - x**3)**2 + (z**2 - w**3)**2", R(5, 6), 1, "sum of independent parts"),
        ("(y**2 - x**3)**2*z**2", R(5, 12), 1, "product of independent factors"),
        ("(y - x**2)**2*z**2", R(1, 2), 2, "product of independent factors"),
    ],
)
def test_independent_parts(K, lam, m, method):
    res = rlct(K)
    assert (res.lam, res.m, res.method) == (lam, m, method)
    assert len(res.details["parts"]) == 2


@pytest.mark.parametrize("K", ["(x**2 + y**2 - z**2)**2", "(x**2 - y*z)**2"])
def test_cone_resolved_along_a_smooth_conic(K):
    # a quadric cone squared: after one blow-up K = x^4 f^2 with the conic f = 0 smooth and
    # transversal on the divisor (Jacobian x^2): lambda = min(3/4, 1/2) = 1/2, m = 1 (a smooth
    # hypersurface squared away from the vertex gives 1/2; Watanabe 2009 ch. 2-3)
    res = rlct(K)
    assert (res.lam, res.m, res.method) == (R(1, 2), 1, "blow-up")
    assert "along" in res.where


def test_blow_up_charts_and_jacobian():
    # blowing up the origin of the cusp: chart x has y = x y', K = x^4 (y'^2 - x)^2, Jacobian x
    x, y = sp.symbols("x y")
    terms = {a: R(c) for a, c in sp.Poly(sp.expand((y**2 - x**3) ** 2), x, y).terms()}
    cx, cy = blow_up(Chart(terms, (0, 0), ("x", "y")))
    yp = sp.Symbol("y'")
    assert sp.expand(cx.expr() - x**4 * (yp**2 - x) ** 2) == 0
    assert cx.h == (1, 0) and cx.coordinates == ("y = x*y'",)
    assert cy.h == (0, 1) and cy.coordinates == ("x = y*x'",)
    # along a coordinate subspace {x = y = 0} in 3-D: Jacobian exponent |C| - 1 = 1
    t3 = {(2, 0, 0): R(1), (0, 2, 0): R(1), (0, 0, 2): R(1)}
    charts = blow_up(Chart(t3, (1, 0, 0), ("x", "y", "z")), center=(0, 1))
    assert [c.h for c in charts] == [(2, 0, 0), (1, 2, 0)]  # h_i' = h_x + h_y + 1
    with pytest.raises(ValueError, match="at least two"):
        blow_up(Chart(t3, (0, 0, 0), ("x", "y", "z")), center=(0,))


def test_newton_facets_exact():
    fs = newton.facets([(0, 4), (3, 2), (6, 0)])
    assert {(f.normal, f.offset) for f in fs} == {((2, 3), 12), ((1, 0), 0), ((0, 1), 0)}
    assert newton.compact_faces({(0, 4): 1, (3, 2): -2, (6, 0): 1}, fs) == [((0, 4), (3, 2), (6, 0))]
    assert newton.vertices([(0, 4), (3, 2), (6, 0)], fs) == [(0, 4), (6, 0)]


def test_face_torus_zero_decisions():
    # edge (x^2 + y^2): u = (y/x)^2 > 0 never -1: no torus zero; (x^2 - y^2)^2 has one
    assert newton.face_has_torus_zero({(2, 0): 1, (0, 2): 1}, [(0, 2), (2, 0)]) is False
    t = {(4, 0): 1, (2, 2): -2, (0, 4): 1}
    assert newton.face_has_torus_zero(t, sorted(t)) is True
    # a 2-D face with a complex-torus-smooth polynomial: x^2 + y^2 + z^2 - xy (Groebner path)
    t = {(2, 0, 0): 1, (0, 2, 0): 1, (0, 0, 2): 1, (1, 1, 0): R(-1)}
    assert newton.face_has_torus_zero(t, sorted(t)) is False


# ---------------------------------------------------------------- closed forms
@pytest.mark.parametrize(
    "M, N, H, r, lam, m",
    [
        # Aoyagi & Watanabe (2005), Theorem 1, by case
        (5, 5, 3, 0, R(2 * 3 * 10 - 0 - 9 + 1, 8), 2),  # case 1, M+H+N+r = 13 odd
        (5, 5, 4, 0, R(2 * 4 * 10 - 0 - 16, 8), 1),     # case 1, even
        (3, 3, 2, 1, R(2 * 3 * 6 - 0 - 9 + 1, 8), 2),   # case 1, odd
        (4, 8, 3, 0, R(3 * 4, 2), 1),                   # case 2: M + H < N + r
        (8, 4, 3, 1, R(3 * 4 - 3 + 8, 2), 1),           # case 3: N + H < M + r
        (3, 4, 8, 0, R(12, 2), 1),                      # case 4: M + N < H + r
        # case 1 with H = r = M = N = 2: (2*4*4 - 0 - 16)/8 = 2 = MN/2, the image is regular
        (2, 2, 2, 2, R(2), 1),
    ],
)
def test_reduced_rank_regression(M, N, H, r, lam, m):
    res = reduced_rank_regression(M, N, H, r)
    assert (res.lam, res.m) == (lam, m)


def test_rrr_small_cases_against_engine():
    # 1x1x1 reduced rank regression with r = 0: K = (a b)^2: lambda = 1/2, m = 2 (normal crossing)
    assert (reduced_rank_regression(1, 1, 1, 0).lam, reduced_rank_regression(1, 1, 1, 0).m) == (R(1, 2), 2)
    assert (rlct("a**2*b**2").lam, rlct("a**2*b**2").m) == (R(1, 2), 2)
    # M = 2, N = 1, H = 1, r = 0: K = (b a1)^2 + (b a2)^2 = b^2 (a1^2 + a2^2): lambda = 1/2, m = 1
    res = reduced_rank_regression(2, 1, 1, 0)
    eng = rlct("b**2*a1**2 + b**2*a2**2")
    assert (res.lam, res.m) == (eng.lam, eng.m) == (R(1, 2), 1)


def test_deep_linear_network_reference_values():
    # 75 parameters (4 layers of width 5, three 5x5 matrices), rank-2 teacher: lambda = 11
    # (Aoyagi 2024, Theorem 1; the value the torch bridge validates against)
    res = deep_linear_network([5, 5, 5, 5], 2)
    assert (res.lam, res.m) == (11, 1)
    # one linear layer is a regular model: lambda = d/2
    assert deep_linear_network([3, 4], 0).lam == 6 and deep_linear_network([3, 4], 2).lam == 6


def test_deep_linear_network_with_one_hidden_layer_is_reduced_rank_regression():
    # Aoyagi (2024) reduces to Aoyagi & Watanabe (2005) for three layers; every small case
    for M, H, N in itertools.product(range(1, 7), repeat=3):
        for r in range(min(M, H, N) + 1):
            dln, rrr = deep_linear_network([M, H, N], r), reduced_rank_regression(M, N, H, r)
            assert (dln.lam, dln.m) == (rrr.lam, rrr.m), (M, H, N, r)


@pytest.mark.parametrize("L", [2, 3, 4])
def test_deep_linear_network_chains_against_engine(L):
    # widths all 1, rank 0: K = (w_1 ... w_L)^2, lambda = 1/2, m = L (normal crossing,
    # Watanabe 2009 ch. 2), checked against Aoyagi (2024) lambda and the m rule
    syms = sp.symbols(f"w1:{L + 1}")
    eng = rlct(sp.Mul(*syms) ** 2)
    res = deep_linear_network([1] * (L + 1), 0)
    assert (res.lam, res.m) == (eng.lam, eng.m) == (R(1, 2), L)
    assert (res.details["ell"], res.details["a"]) == (L, 1)
    # widths (2, 1, 1, 1): K = (b c)^2 (a1^2 + a2^2): lambda = 1/2, m = 2
    eng = rlct("(b*c)**2*(a1**2 + a2**2)")
    res = deep_linear_network([2, 1, 1, 1], 0)
    assert (res.lam, res.m) == (eng.lam, eng.m) == (R(1, 2), 2)


@pytest.mark.parametrize("widths, rank, ell, a, lam", [
    ((5, 5, 5, 5), 0, 3, 2, R(17, 2)),
    ((2, 2, 2, 2), 0, 3, 2, R(3, 2)),
    ((5, 5, 5, 5), 3, 3, 2, 12),
    ((3, 3, 3, 3, 3), 0, 4, 3, 3),
])
def test_deep_linear_network_multiplicity_where_the_theorem_differs(widths, rank, ell, a, lam):
    # Aoyagi (2024), Theorem 1: m = a(l - a) + 1, which exceeds l - a + 1 exactly when
    # 1 < a < l; e.g. widths (5, 5, 5, 5), rank 0: l = 3, a = 2, m = 3 (not 2)
    res = deep_linear_network(list(widths), rank)
    assert (res.details["ell"], res.details["a"]) == (ell, a)
    assert res.m == a * (ell - a) + 1 > ell - a + 1
    assert res.lam == lam
    assert deep_linear_network([5, 5, 5, 5], 0).m == 3


def test_deep_linear_network_multiplicity_formula_everywhere():
    # m = a(l - a) + 1 in every small case, and equal to l - a + 1 iff a is 1 or l
    for widths in itertools.product(range(1, 5), repeat=5):
        for r in range(min(widths) + 1):
            res = deep_linear_network(widths, r)
            ell, a = res.details["ell"], res.details["a"]
            assert 1 <= a <= ell and res.m == a * (ell - a) + 1
            assert (res.m == ell - a + 1) == (a in (1, ell)), (widths, r)


def test_deep_linear_network_bounded_by_regular():
    # an admissible subset exists for every small network (Aoyagi 2024), and the value obeys
    # lambda <= d/2 (Watanabe 2009) and lambda >= that of the rank-r input-output map alone
    for widths in list(itertools.product(range(1, 5), repeat=4)) + [(3, 3, 3, 3, 3), (6, 2, 5, 3)]:
        d = sum(a * b for a, b in zip(widths, widths[1:]))
        for r in range(min(widths) + 1):
            res = deep_linear_network(widths, r)
            assert R(r * (widths[0] + widths[-1] - r), 2) <= res.lam <= R(d, 2), (widths, r)
            assert res.m >= 1


def test_tanh_network():
    # Aoyagi & Watanabe (2005); Watanabe (2009) ch. 7: lambda = (H + i^2 + i)/(4i + 2)
    assert (tanh_network(1).lam, tanh_network(1).m) == (R(1, 2), 2)
    assert (tanh_network(2).lam, tanh_network(2).m) == (R(2, 3), 1)
    assert (tanh_network(4).lam, tanh_network(4).m) == (R(1), 2)
    assert (tanh_network(5).lam, tanh_network(5).m) == (R(11, 10), 1)
    # H = 1 against the engine: f = a tanh(bx) = ab x - ab^3 x^3/3 + ...; K ~ (ab)^2 + (ab^3)^2
    eng = rlct("(a*b)**2 + (a*b**3)**2")
    assert (eng.lam, eng.m) == (tanh_network(1).lam, tanh_network(1).m)


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "K, kwargs, match",
    [
        ("sin(x)**2", {}, "not a polynomial"),
        ("x**2 + 1", {}, r"K\(0\) = 1 != 0"),
        ("x**2 - y**3", {}, "negative near 0"),
        ("-x**2 - y**2", {}, "negative near 0"),
        ("x**2 - 3*x*y + y**2", {}, "negative near 0"),
        ("x*y", {}, "negative near 0"),
        ("x**2*y**2", {"prior": {"z": 1}}, "prior variable 'z'"),
        ("x**2*y**2", {"prior": {"x": -1}}, "non-negative integer"),
        ("x**2*y**2", {"prior": {"x": 0.5}}, "non-negative integer"),
        ("0*x", {"variables": ["x"]}, "identically zero"),
        ("x**2 + sqrt(2)*y**2", {}, "non-rational coefficient"),
        ("x**2", {"variables": ["y"]}, "not variables"),
        ("x**(", {}, "could not parse"),
        ("x**2", {"max_depth": -1}, "max_depth"),
    ],
)
def test_bad_input_raises_value_error(K, kwargs, match):
    with pytest.raises(ValueError, match=match):
        rlct(K, **kwargs)


def test_unresolved_errors_are_clear():
    with pytest.raises(UnresolvedError, match=r"not resolved after 1 blow-ups; charts left: \["):
        rlct("(y**2 - x**3)**2", max_depth=1)
    # irrational slopes: refused with the offending zeros named, never a wrong answer
    with pytest.raises(UnresolvedError, match="irrational zero"):
        rlct("(x**2 - 2*y**2)**2")
    # a cone times a plane through its vertex: after one blow-up the conic meets the other
    # component on the divisor; the search names the condition it cannot certify
    with pytest.raises(UnresolvedError, match="meets x' = 0"):
        rlct("((x**2 + y**2 - z**2)*x)**2")
    assert issubclass(UnresolvedError, ValueError)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: reduced_rank_regression(0, 1, 1, 0), "M must be a positive integer"),
        (lambda: reduced_rank_regression(2, 2, 1, 2), "rank r"),
        (lambda: deep_linear_network([3], 0), "at least input and output"),
        (lambda: deep_linear_network([3, 2.5], 0), r"widths\[1\]"),
        (lambda: deep_linear_network([3, 2], 3), "rank r"),
        (lambda: regular(0), "d must be a positive integer"),
        (lambda: tanh_network(True), "H must be a positive integer"),
    ],
)
def test_closed_form_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# ---------------------------------------------------------------- CLI and figure
def test_cli(capsys):
    assert cli_main(["x**2*y**4", "--prior", "y=1"]) == 0
    out = capsys.readouterr().out
    assert "lambda = 1/2" in out and "m = 2" in out and "normal crossing" in out
    assert cli_main(["(y**2 - x**3)**2"]) == 0
    out = capsys.readouterr().out
    assert "lambda = 5/12" in out and "blow-up" in out and "chart" in out
    assert cli_main(["x**2 + 1"]) == 2
    assert "K(0)" in capsys.readouterr().err
    assert cli_main(["x**2", "--prior", "x"]) == 2
    assert "name=exponent" in capsys.readouterr().err
    assert cli_main(["x**2", "--prior", "x=a"]) == 2
    capsys.readouterr()
    assert cli_main(["x**2 + y**4", "--check", "--seed", "1"]) == 0
    assert "Monte Carlo: lambda = 0.7" in capsys.readouterr().out


def test_slt_command_dispatch(capsys):
    from slt.cli import main

    assert main(["rlct", "x**2 + y**4", "--vars", "x,y"]) == 0
    assert "lambda = 3/4" in capsys.readouterr().out


def test_gallery_figure_smoke(tmp_path):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "paper_figures" / "fig_rlct_gallery.py"
    spec = importlib.util.spec_from_file_location("fig_rlct_gallery", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.QUICK is True
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "rlct_gallery.json").read_text())
    assert all(r["lambda"] == r["literature_lambda"] and r["m"] == r["literature_m"] for r in rows)
    assert (tmp_path / "rlct_gallery.png").exists() and (tmp_path / "rlct_gallery.pdf").exists()


def test_import_is_light():
    import subprocess
    import sys

    code = "import sys, slt.rlct; print('sympy' in sys.modules, 'scipy.spatial' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]  # names load on first use
    import slt.rlct

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        slt.rlct.nope  # noqa: B018
