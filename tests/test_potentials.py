import numpy as np
import pytest
import sympy as sp

from slt import potentials as P

EMPTY = (np.zeros((0, 0)), np.zeros(0, dtype=np.int64), 0)


def compiled_grad(V, x):
    g = np.zeros(V.dim)
    V.kernels.grad(np.asarray(x, float), *EMPTY, g)
    return g


def test_from_expr_sorted_variables_and_values():
    V = P.Potential.from_expr("y**2*x**4")
    assert [str(v) for v in V.variables] == ["x", "y"]
    assert V([[2.0, 3.0]])[0] == pytest.approx(16 * 9)
    V2 = P.Potential.from_expr("x**4*y**2", variables=["y", "x"])
    assert V2([[3.0, 2.0]])[0] == pytest.approx(144)


def test_natural_variable_order():
    V = P.Potential.from_expr("w10 + 2*w2 + 3*w1")
    assert [str(v) for v in V.variables] == ["w1", "w2", "w10"]


@pytest.mark.parametrize("name", sorted(P.library()))
def test_compiled_gradient_matches_sympy(name):
    V = P.library()[name]
    rng = np.random.default_rng(0)
    for x in rng.uniform(-1.5, 1.5, size=(5, V.dim)):
        exact = np.array([float(sp.diff(V.expr, v).subs(dict(zip(V.variables, x)))) for v in V.variables])
        assert np.allclose(compiled_grad(V, x), exact, rtol=1e-10, atol=1e-12)
        assert V.kernels.energy(x, *EMPTY) == pytest.approx(float(V([x])[0]), rel=1e-12, abs=1e-14)
        assert np.allclose(V.gradient([x])[0], exact, rtol=1e-10, atol=1e-12)
        h = np.empty(V.dim)
        V.kernels.hdiag(x, *EMPTY, h)  # MALA's step metric
        assert np.allclose(h, np.diag(V.hessian(x)), rtol=1e-10, atol=1e-12)


def test_library_learning_coefficients():
    assert P.normal_crossing([1, 1]).lam == sp.Rational(1, 2) and P.normal_crossing([1, 1]).m == 2
    assert P.normal_crossing([1, 2, 2]).lam == sp.Rational(1, 4) and P.normal_crossing([1, 2, 2]).m == 2
    assert P.sum_of_monomials([1, 2]).lam == sp.Rational(3, 4)
    assert P.cusp().lam == sp.Rational(5, 12)
    assert [P.crossing_lines(k).lam for k in (1, 2, 3, 4)] == [sp.Rational(1, 2), sp.Rational(1, 2),
                                                                  sp.Rational(1, 3), sp.Rational(1, 4)]
    assert P.crossing_lines(2).m == 2 and P.crossing_lines(5).m == 1
    assert P.harmonic([1, 2, 3]).lam == sp.Rational(3, 2)


def test_crossing_lines_vanish_on_their_lines():
    V = P.crossing_lines(4)
    for (p, d) in V.branches:
        pts = np.array(p) + np.linspace(-1, 1, 7)[:, None] * np.array(d)
        assert np.allclose(V(pts), 0, atol=1e-12)
    assert V([[0.3, 0.7]])[0] > 0


def test_min_crossing_is_min_of_valleys():
    V = P.min_crossing(c=2.0, a=0.5, b=-0.25)
    x = np.array([[0.7, 0.4], [0.0, -0.2]])
    expected = 2.0 * np.minimum((x[:, 0] - 0.5) ** 2, (x[:, 1] + 0.25) ** 2)
    assert np.allclose(V(x), expected)
    assert np.allclose(compiled_grad(V, [0.7, 0.4]), [2 * 2 * 0.2, 0.0])


@pytest.mark.parametrize(
    "expr, variables, match",
    [
        ("x**", None, "could not parse"),
        ("x*y + a", ["x", "y"], "free symbol"),
        ("3", None, "no variables"),
        ("x + x", ["x", "x"], "distinct"),
        (12, None, "string or sympy"),
    ],
)
def test_from_expr_errors(expr, variables, match):
    with pytest.raises(ValueError, match=match):
        P.Potential.from_expr(expr, variables)


@pytest.mark.parametrize("bad", [lambda: P.normal_crossing([]), lambda: P.normal_crossing([0, 1]),
                                 lambda: P.crossing_lines(0), lambda: P.harmonic([1, -1]),
                                 lambda: P.crossing_lines(2, angles=[0.0, np.pi])])
def test_library_errors(bad):
    with pytest.raises(ValueError):
        bad()


def test_resolve_library_names_and_formulas():
    assert P.resolve("cusp").lam == sp.Rational(5, 12)
    assert str(P.resolve("x**2 + y**4").expr) == "x**2 + y**4"
    V = P.resolve("x2y4", point=(0.5, 0.0))  # a library potential at another point: λ unknown there
    assert V.point == (0.5, 0.0) and V.lam is None and V.expr == P.library()["x2y4"].expr
    assert P.resolve(V) is V


@pytest.mark.parametrize("name", ["nosuchname", "x2y3", "w1"])
def test_resolve_rejects_unknown_names(name):
    with pytest.raises(ValueError, match=rf"unknown potential name '{name}'.*min_crossing"):
        P.resolve(name)


def test_library_table_lists_every_name():
    lines = P.library_table().splitlines()
    assert [line.split()[0] for line in lines] == list(P.library())


@pytest.mark.parametrize("expr", ["log(x**2) + y**2", "-1/x**2 + y**2", "x*y - 1/(x - y)"])
def test_check_bounded_below_rejects(expr):
    with pytest.raises(ValueError, match="not bounded below on the box"):
        P.check_bounded_below(P.resolve(expr), (-1, 1))


def test_check_bounded_below_accepts_the_library_and_high_dimensions():
    for V in P.library().values():
        P.check_bounded_below(V, (-2, 2))
    P.check_bounded_below(P.resolve("w1**2*w2**2 + w3**4 + w4**2"), [[-1, 1]] * 4)
    with pytest.raises(ValueError, match="box"):
        P.check_bounded_below(P.resolve("x**2"), (1, -1))


@pytest.mark.parametrize("expr, point", [("x**2 - y**2", None), ("x**3 + y**2", None),
                                         ("x**2 + y**4", (0.5, 0.0)), ("log(x)", (0.0,))])
def test_check_local_minimum_rejects(expr, point):
    with pytest.raises(ValueError, match="not a local minimum|not finite"):
        P.check_local_minimum(P.resolve(expr, point=point))


def test_check_local_minimum_accepts_the_library_and_shifted_minima():
    for V in P.library().values():
        P.check_local_minimum(V)
    P.check_local_minimum(P.resolve("(x - 1)**2*y**2 + 3", point=(1.0, 0.0)))
