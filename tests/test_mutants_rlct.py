"""slt.rlct: the checks a mutation run showed missing (docs/testing.md, "Mutation run").

What a result records besides λ and m (method, where, reference, variables, details, its text),
the argument checks of the closed forms at their bounds, the case boundaries of reduced rank
regression, the certificate steps of the blow-up search on hand-made charts (a singular zero
set, two zero sets that meet, no real zero), and the Monte-Carlo cross-check's likelihood,
interval and tail selection against values written out here.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import sympy as sp

import slt.rlct as pkg
from slt.rlct import RLCT, deep_linear_network, reduced_rank_regression, regular, rlct, tanh_network
from slt.rlct import closed_forms as cf
from slt.rlct._core import to_terms
from slt.rlct.blowup import Chart, UnresolvedError, _has_real_zero, transversal_leaves
from slt.rlct.engine import REFERENCES
from slt.rlct.numeric import _draw, _halfwidth, _loglik, estimate_rlct

R = sp.Rational


# --- the package's lazy names ------------------------------------------------------------------

def test_lazy_names_resolve_and_are_cached():
    from slt.rlct import blowup, engine

    assert pkg.__getattr__("blow_up") is blowup.blow_up  # the hook itself, whatever is cached already
    assert vars(pkg)["blow_up"] is blowup.blow_up
    assert pkg.__getattr__("UnresolvedError") is blowup.UnresolvedError and pkg.__getattr__("rlct") is engine.rlct
    listed = dir(pkg)
    assert set(pkg.__all__) <= set(listed) and "__getattr__" in listed and listed == sorted(listed)


# --- what a result records -----------------------------------------------------------------------

def test_rlct_text_lists_every_field_that_is_set():
    full = RLCT(R(1, 2), 2, "blow-up", where="chart", face=((2, 0), (0, 2)), coordinates=("y = x*y'", "y' -> y' + 1"),
                reference="ref")
    assert str(full) == ("lambda = 1/2\nm = 2\nmethod: blow-up\nwhere: chart\nface: [(2, 0), (0, 2)]\n"
                         "coordinates: y = x*y', y' -> y' + 1\nreference: ref")
    assert str(RLCT(R(3, 4), 1, "newton")) == "lambda = 3/4\nm = 1\nmethod: newton\nwhere: origin"


def test_closed_forms_record_method_where_and_reference():
    reg = regular(3)
    assert (reg.lam, reg.m, reg.method, reg.where) == (R(3, 2), 1, "regular", "regular model, d = 3")
    assert reg.reference == "Schwarz (1978); Watanabe (2009) ch. 1"
    rr = reduced_rank_regression(5, 5, 3, 0)
    assert (rr.method, rr.reference) == ("closed form", cf.RRR_REF)
    assert rr.where == "reduced rank regression M=5, N=5, H=3, r=0: case 1"
    dl = deep_linear_network([5, 5, 5, 5], 0)
    assert (dl.method, dl.reference) == ("closed form", cf.DLN_REF)
    assert dl.where == "deep linear network widths=[5, 5, 5, 5], rank=0: subset M=[5, 5, 5, 5], l=3, a=2"
    assert dl.details == {"subset": [5, 5, 5, 5], "ell": 3, "a": 2}
    th = tanh_network(5)
    assert (th.method, th.reference) == ("closed form", cf.TANH_REF)
    assert th.where == "tanh network, 5 hidden units, zero true function (i = 2)"


@pytest.mark.parametrize("M, N, H, r, case", [
    (5, 5, 3, 0, 1), (4, 8, 3, 0, 2), (8, 4, 3, 1, 3), (3, 4, 8, 0, 4),
    # on the boundaries the inequalities of cases 2-4 are strict: case 1 (with the same λ there)
    (2, 3, 1, 0, 1), (3, 2, 1, 0, 1), (1, 1, 2, 0, 1),
])
def test_reduced_rank_regression_names_its_case(M, N, H, r, case):
    assert reduced_rank_regression(M, N, H, r).where.endswith(f": case {case}")


def test_deep_linear_network_subset_obeys_the_strict_inequality():
    """Widths (1, 1, 2), rank 0: M = (1, 1, 2); {1, 1} has Σ = 2 = ℓ·min(rest), not < : the subset is all three."""
    res = deep_linear_network([1, 1, 2], 0)
    assert res.details == {"subset": [1, 1, 2], "ell": 2, "a": 2} and (res.lam, res.m) == (R(1, 2), 1)


@pytest.mark.parametrize("call, match", [
    (lambda: reduced_rank_regression(2, 0, 1, 0), r"^N must be a positive integer, got 0$"),
    (lambda: reduced_rank_regression(2, 2, 0, 0), r"^H must be a positive integer, got 0$"),
    (lambda: reduced_rank_regression(1, 3, 3, 2), r"^rank r must be an integer with 0 <= r <= 1 \(r <= min\(M, N, H\)\), got 2$"),
    (lambda: reduced_rank_regression(3, 1, 3, 2), r"^rank r must be an integer with 0 <= r <= 1 "),
    (lambda: reduced_rank_regression(3, 3, 3, 1.0), r"got 1.0$"),
    (lambda: reduced_rank_regression(3, 3, 3, True), r"got True$"),
    (lambda: deep_linear_network([3, 2], 3), r"^rank r must be an integer with 0 <= r <= 2 \(r <= min\(widths\)\), got 3$"),
])
def test_closed_form_arguments_at_their_bounds(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_independent_parts_record_where_variables_and_reference():
    res = rlct("(y**2 - x**3)**2 + z**2")
    assert res.variables == ("x", "y", "z") and res.reference == REFERENCES["sum of independent parts"]
    assert res.where == ("[x**6 - 2*x**3*y**2 + y**4: lambda=5/12, m=1, blow-up]; "
                         "[z**2: lambda=1/2, m=1, normal crossing]")


# --- the blow-up search's certificates, on hand-made charts --------------------------------------

X, YP, ZP = sp.symbols("x y' z'")


def chart(expr, h=(2, 0, 0)) -> Chart:
    """K in the x chart of the blow-up of the origin of R³ (Jacobian x²)."""
    return Chart(to_terms(sp.expand(expr), (X, YP, ZP)), h, ("x", "y'", "z'"), ("y = x*y'", "z = x*z'"), 1)


def test_chart_describes_its_path_and_K():
    assert chart(X**4 * (1 + YP**2 - ZP**2) ** 2).describe() == "[y = x*y', z = x*z'] K = x**4*(y'**2 - z'**2 + 1)**2"
    root = Chart(to_terms(X**2 + YP**2, (X, YP, ZP)), (0, 0, 0), ("x", "y'", "z'"))
    assert root.describe() == "[original coordinates] K = x**2 + y'**2"


def test_a_smooth_conic_on_the_divisor_is_a_leaf():
    """K = x⁴ f², f = 1 − x + y'² − z'²: on x = 0 the conic is smooth, so λ = min(3/4, 1/2); at x = 1 it
    would be two crossing lines (the restriction must be taken at x = 0)."""
    c = chart(X**4 * (1 - X + YP**2 - ZP**2) ** 2)
    (leaf,) = transversal_leaves(c, 0)
    assert (leaf.lam, leaf.m, leaf.method) == (R(1, 2), 1, "normal crossing")
    assert leaf.chart == Chart(c.terms, c.h, c.names, c.coordinates + ("along x - y'**2 + z'**2 - 1 = 0",), 1)
    unit = chart(X**4 * (1 + X * YP) * (1 - X + YP**2 - ZP**2) ** 2)  # a unit factor: 1 on the divisor, no zero set
    assert [lf.lam for lf in transversal_leaves(unit, 0)] == [R(1, 2)]
    res = rlct("(x**2 - x**3 + y**2 - z**2)**2")  # its chart x: the leaf is the answer
    assert (res.lam, res.m, res.method, res.details["leaf_method"]) == (R(1, 2), 1, "blow-up", "normal crossing")


@pytest.mark.parametrize("h", [(2, 0, 0), (2, 1, 0)])  # with a prior exponent on y' the meet checks come too
def test_a_singular_zero_set_on_the_divisor_is_refused(h):
    c = chart(X**6 * (YP**2 - ZP**3 + X) ** 2, h)  # the cusp y'² = z'³ on x = 0
    with pytest.raises(UnresolvedError, match=r"^the zero set x \+ y'\*\*2 - z'\*\*3 = 0 on the divisor is singular "
                                              r"or tangent to the divisor: \[y = x\*y', z = x\*z'\] K = "):
        transversal_leaves(c, 0)


def test_two_zero_sets_that_meet_on_the_divisor_are_refused():
    c = chart(X**8 * (1 + YP**2 - ZP**2) ** 2 * (1 + 2 * YP**2 - ZP**2) ** 2)  # they meet at y' = 0, z' = ±1
    with pytest.raises(UnresolvedError, match=r"on the divisor meets 2\*y'\*\*2 - z'\*\*2 \+ 1 = 0"):
        transversal_leaves(c, 0)


def test_a_zero_set_without_real_points_is_refused():
    c = chart(X**4 * (1 + X + YP**2 + ZP**2) ** 2)
    with pytest.raises(UnresolvedError, match=r"^could not certify a real zero of y'\*\*2 \+ z'\*\*2 \+ 1 on the "
                                              r"divisor: \[y = x\*y', z = x\*z'\]"):
        transversal_leaves(c, 0)


@pytest.mark.parametrize("f, changes", [
    (X**2 + 1, False), (-(X**2), False), (X**2, False),  # no sign change (touching 0 is not one)
    (X**2 - 2, True), ((X**2 - 1) / 100, True),  # |f| < 1 at its positive points
    (X - R(29, 10), True), (X + R(29, 10), True),  # a zero near either end of the sampled box [-3, 3]
])
def test_has_real_zero_needs_a_sign_change(f, changes):
    assert _has_real_zero(f, [X]) is changes


# --- the Monte-Carlo cross-check -----------------------------------------------------------------

def test_tail_loglik_against_its_formula():
    """ℓ(λ, m) = Σ w [−λ s + (m − 1) log(1 + s/L₀) + log(λ − (m − 1)/(L₀ + s))], −inf where the rate is ≤ 0."""
    s, wt, L0 = np.array([0.5, 1.0]), np.array([1.0, 2.0]), 3.0
    lam, m = np.array([1.0, 2.0, 0.1]), np.array([1.0, 2.0])
    got = _loglik(s, wt, lam, m, L0)

    def by_hand(la, mm):
        rates = [la - (mm - 1) / (L0 + si) for si in s]
        if min(rates) <= 0:
            return -math.inf
        return sum(w * (-la * si + (mm - 1) * math.log1p(si / L0) + math.log(r)) for si, w, r in zip(s, wt, rates))

    expected = np.array([[by_hand(la, mm) for mm in m] for la in lam])
    assert got.shape == (3, 2) and got[2, 1] == -math.inf
    np.testing.assert_allclose(got, expected, rtol=1e-12)


@pytest.mark.parametrize("grid, profile, width", [
    ([1.0, 1.5, 2.0, 2.5, 3.0], [-3.0, -0.5, 0.0, -0.3, -1.2], 0.5),  # max − 1/2 is inside; −1.2 is not
    ([1.0, 1.5, 2.0, 2.5, 3.0], [-3.0, -2.0, -1.0, -0.2, 0.0], math.inf),  # reaches the upper edge
    ([1.0, 1.5, 2.0, 2.5, 3.0], [0.0, -0.2, -1.0, -2.0, -3.0], 0.25),  # m's grid starts at its bound 1: no edge
    ([1.5, 2.0, 2.5, 3.0], [0.0, -1.0, -2.0, -3.0], math.inf),  # reaches a lower edge that is not a bound
    ([1.5, 2.0, 2.5, 3.0], [-2.0, -0.3, 0.0, -1.0], 0.25),  # inside, on a grid starting above 1
    ([1.0, 1.5, 2.0, 2.5, 3.0], [-3.0, -2.0, -1.0, -2.0, 0.0], math.inf),  # the last point alone reaches it
])
def test_halfwidth_of_the_half_unit_drop_interval(grid, profile, width):
    assert _halfwidth(np.array(grid), np.array(profile)) == width


def test_estimate_rlct_defaults():
    est = estimate_rlct("x**2 + y**4")
    assert est.num_samples == 1_000_000
    assert est == estimate_rlct("x**2 + y**4", num_samples=1_000_000, radius=1.0, seed=0, tail=0.002)


def test_tail_selection_against_the_draws_written_out():
    """Uniform draws in [−r, r]^d, the `tail` share of them with the smallest K (flat prior): with
    variables = (x, z) the draws are 2-D though K depends on x alone."""
    est = estimate_rlct("x**2", variables=("x", "z"), num_samples=4000, tail=0.05, radius=0.5, seed=3)
    w = np.random.default_rng(3).uniform(-0.5, 0.5, size=(4000, 2))
    k = np.sort(w[:, 0] ** 2)
    assert est.num_tail == 200  # the share reaches 0.05 at the 200th draw: ε₀ is the 201st smallest K
    assert est.eps0 == k[200]
    s = np.log(k[200] / k[:200])
    assert est.lam_hill == pytest.approx(200 / s.sum(), rel=1e-12)


def test_exactly_fifty_tail_draws_are_enough():
    est = estimate_rlct("x**2 + y**4", num_samples=1000, tail=0.05)  # the share reaches 0.05 at the 50th draw
    assert est.num_tail == 50


@pytest.mark.parametrize("kwargs, match", [
    ({"tail": 0.0}, r"^tail must be in \(0, 1\), got 0.0$"),
    ({"tail": 1.0}, r"^tail must be in \(0, 1\), got 1.0$"),
    ({"tail": 1.5}, r"^tail must be in \(0, 1\), got 1.5$"),
    ({"radius": 0.0}, r"^radius must be positive, got 0.0$"),
])
def test_estimate_rlct_arguments_at_their_bounds(kwargs, match):
    with pytest.raises(ValueError, match=match):
        estimate_rlct("x**2 + y**4", **kwargs)


def test_rounding_level_negatives_are_tolerated_relative_to_the_scale_of_K():
    """K = x⁶ − y²/10¹³ on [−2, 2]²: max |K| ≈ 64, negatives down to −4e-13 ≥ −1e-12·64 pass (clipped to 0)."""
    vals, weights = _draw("x**6 - y**2/10**13", None, None, 200_000, 2.0, 0)
    assert vals.min() == 0.0 and np.all(weights == 1.0)
    with pytest.raises(ValueError, match="takes negative values"):
        _draw("x**6 - y**2/10**10", None, None, 200_000, 2.0, 0)  # −4e-10 is not rounding


def estimate_by_hand(K, prior_x, num_samples, tail, seed, top):
    """estimate_rlct written out from the module docstring, for K in (x, y) on [−1, 1]², prior |x|^h."""
    w = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(num_samples, 2))
    vals = K(w[:, 0], w[:, 1])
    weights = np.abs(w[:, 0]) ** prior_x
    order = np.argsort(vals)
    cut = int(np.searchsorted(np.cumsum(weights[order]) / weights.sum(), tail)) + 1
    eps0, sel = vals[order][cut], order[:cut]
    s = np.log(eps0 / vals[sel])
    wt = weights[sel] / weights[sel].mean()
    lam_hill = wt.sum() / (wt * s).sum()
    lam_grid = np.linspace(0.5 * lam_hill, 2.5 * lam_hill, 201)
    m_grid = np.linspace(1.0, max(top, 1.0 + 1e-9), 41)
    counts, edges = np.histogram(s, bins=512, weights=wt)
    mids, c = 0.5 * (edges[1:] + edges[:-1])[counts > 0], counts[counts > 0]
    L0 = math.log(1 / eps0)
    ll = np.empty((201, 41))
    for i, la in enumerate(lam_grid):
        for j, mm in enumerate(m_grid):
            rate = la - (mm - 1) / (L0 + mids)
            ll[i, j] = (c * (-la * mids + (mm - 1) * np.log1p(mids / L0) + np.log(rate))).sum() if rate.min() > 0 \
                else -math.inf
    i, j = np.unravel_index(np.argmax(ll), ll.shape)
    return dict(lam_hill=lam_hill, lam_hill_se=lam_hill / math.sqrt(wt.sum() ** 2 / (wt**2).sum()),
                lam=lam_grid[i], lam_se=_halfwidth(lam_grid, ll.max(axis=1)), m=m_grid[j],
                m_se=_halfwidth(m_grid, ll.max(axis=0)), eps0=eps0, num_tail=cut, num_samples=num_samples)


@pytest.mark.parametrize("prior_x, max_m", [(0, None), (1, 1), (2, 3)])
def test_estimate_rlct_against_its_definition(prior_x, max_m):
    """Every field, on 20 000 draws of K = x²y² (a weighted tail when the prior is |x|^h)."""
    est = estimate_rlct("x**2*y**2", prior={"x": prior_x}, num_samples=20_000, tail=0.05, seed=1, max_m=max_m)
    ref = estimate_by_hand(lambda x, y: x**2 * y**2, prior_x, 20_000, 0.05, 1, 6.0 if max_m is None else max_m)
    for name, value in ref.items():
        assert getattr(est, name) == pytest.approx(value, rel=1e-12), name
    assert est.m_se == ref["m_se"] and est.lam_se == ref["lam_se"]
