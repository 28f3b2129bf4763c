"""slt.pacbayes: the checks a mutation run showed missing (docs/testing.md, "Mutation run").

Every guard at both sides of its boundary (the edge value that is allowed, the one that is not,
and the error naming the argument), the fields a certificate stores, the bounds at KL = 0, and
arguments passed on (min_var) — each test kills mutants that survived the rest of the suite.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from slt import pacbayes as pb

REL = 1e-12
EPS = math.log(2 * math.sqrt(1000) / 0.05)  # log(2√n/δ) at n = 1000, δ = 0.05


# --- counts, KL and confidence -------------------------------------------------------------------

@pytest.mark.parametrize("n", ["1000", True, None, np.bool_(True), 0, 1000.5, math.inf])
def test_n_must_be_an_integer_valued_number(n):
    with pytest.raises(ValueError, match=r"^n must be an integer >= 1, got "):
        pb.mcallester_bound(0.1, 5.0, n, 0.05)


def test_n_of_one_and_of_integer_types_is_accepted():
    expected = 0.1 + math.sqrt((5.0 + math.log(2 / 0.05)) / 2)  # n = 1: log(2√1/δ)
    for n in (1, 1.0, np.int64(1), np.float32(1)):
        assert pb.mcallester_bound(0.1, 5.0, n, 0.05) == pytest.approx(expected, rel=REL)


def test_bounds_at_kl_zero_and_at_the_rounding_tolerance():
    """KL = 0 is allowed, and −1e-12 (rounding) is read as 0; −1e-9 is an error."""
    at_zero = 0.1 + math.sqrt(EPS / 2000)
    assert pb.mcallester_bound(0.1, 0.0, 1000, 0.05) == pytest.approx(at_zero, rel=REL)
    assert pb.mcallester_bound(0.1, -1e-12, 1000, 0.05) == pytest.approx(at_zero, rel=REL)
    assert pb.mcallester_bound(0.1, 0.5, 1000, 0.05) == pytest.approx(0.1 + math.sqrt((0.5 + EPS) / 2000), rel=REL)
    for kl in (-1e-9, -0.5, math.nan, math.inf):
        with pytest.raises(ValueError, match=r"^kl must be a finite number >= 0, got "):
            pb.mcallester_bound(0.1, kl, 1000, 0.05)


@pytest.mark.parametrize("delta", [0.0, 1.0, -0.1, 1.5])
def test_delta_must_lie_strictly_inside_zero_one(delta):
    with pytest.raises(ValueError, match=r"^delta must lie in \(0, 1\), got "):
        pb.seeger_bound(0.1, 5.0, 1000, delta)
    with pytest.raises(ValueError, match=r"^delta must lie in \(0, 1\), got "):
        pb.mc_risk_bound(0.1, 1000, delta)


@pytest.mark.parametrize("bound", [
    pb.mcallester_bound, pb.seeger_bound, pb.optimal_lambda, pb.lambda_bound,
    lambda r, kl, n, d: pb.catoni_bound(r, kl, n, d, C=1.0),
])
def test_every_bound_names_a_bad_empirical_risk(bound):
    with pytest.raises(ValueError, match=r"^emp_risk must lie in \[0, 1\], got 1.2$"):
        bound(1.2, 5.0, 1000, 0.05)


def test_catoni_and_lambda_refuse_their_edges():
    for C in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^C must be a finite number > 0"):
            pb.catoni_bound(0.1, 5.0, 1000, 0.05, C=C)
    for lam in (0.0, 2.0, -0.5):
        with pytest.raises(ValueError, match=r"^lam must lie in \(0, 2\)"):
            pb.lambda_bound(0.1, 5.0, 1000, 0.05, lam=lam)
    # just inside: λ → 2 makes the bound blow up but it is defined
    assert pb.lambda_bound(0.1, 5.0, 1000, 0.05, lam=1.999) == pytest.approx(
        0.1 / 0.0005 + (5.0 + EPS) / (1000 * 1.999 * 0.0005), rel=1e-9)


# --- the prior grid -------------------------------------------------------------------------------

@pytest.mark.parametrize("c, b", [(0.0, 100.0), (-1.0, 100.0), (math.inf, 100.0), (math.nan, 100.0),
                                  (0.1, 0.0), (0.1, -1.0), (0.1, math.inf), (0.1, math.nan)])
def test_prior_grid_needs_positive_finite_c_and_b(c, b):
    with pytest.raises(ValueError, match=rf"^PriorGrid needs c > 0 and b > 0, got c={c!r}, b={b!r}$"):
        pb.PriorGrid(c=c, b=b)


def test_prior_grid_with_fewer_than_one_point_per_e_fold():
    g = pb.PriorGrid(c=1.0, b=0.5)  # b < 1 is a coarse grid, not an error
    assert g.variance(1) == pytest.approx(math.exp(-2.0), rel=REL)
    assert g.index(math.exp(-2.0)) == 1


def test_prior_grid_index_is_at_least_one_and_refuses_zero_variance():
    g = pb.PriorGrid(c=0.1, b=100)
    assert g.index(0.1) == 1 and g.index(1.0) == 1  # at or above the largest variance: the first point
    assert g.index(0.1 * math.exp(-0.02)) == 2
    for bad in (0.0, -1.0, math.inf):
        with pytest.raises(ValueError, match=r"^variance must be a finite number > 0"):
            g.index(bad)


# --- Monte-Carlo risk and the certificate ---------------------------------------------------------

def test_mc_risk_bound_of_one_draw_and_its_errors():
    assert pb.mc_risk_bound(0.0, 1, 0.05) == pytest.approx(-math.expm1(-math.log(2 / 0.05)), rel=REL)  # 1 − δ/2
    with pytest.raises(ValueError, match=r"^mc_risk must lie in \[0, 1\], got -0.1$"):
        pb.mc_risk_bound(-0.1, 10, 0.05)
    with pytest.raises(ValueError, match=r"^num_samples must be an integer >= 1, got 0$"):
        pb.mc_risk_bound(0.1, 0, 0.05)


def test_mc_risk_bound_counts_draws_like_n():
    """A bool is not a count (True passed as one draw before); 1e3 is an integer, as it is for n."""
    for m in (2.5, True, np.bool_(True), "10"):
        with pytest.raises(ValueError, match=r"^num_samples must be an integer >= 1, got "):
            pb.mc_risk_bound(0.1, m, 0.05)
    assert pb.mc_risk_bound(0.1, 1e3, 0.01) == pb.mc_risk_bound(0.1, 1000, 0.01)


@pytest.mark.parametrize("delta, delta_mc", [(0.0, 0.01), (0.025, 0.0), (0.5, 0.5), (0.99, 0.02), (1.0, 0.01)])
def test_certificate_confidences_at_their_edges(delta, delta_mc):
    with pytest.raises(ValueError, match=r"^delta and delta_mc must lie in \(0, 1\) with delta \+ delta_mc < 1"):
        pb.certificate(0.1, 1000, 5.0, 1000, delta=delta, delta_mc=delta_mc)


def test_certificate_stores_every_field():
    c = pb.certificate(np.float32(0.25), np.int64(200), np.float32(3.0), 500, delta=0.04, delta_mc=0.02)
    e = pb.kl_inverse(0.25, math.log(2 / 0.02) / 200)
    assert (c.mc_risk, c.kl, c.n, c.num_samples, c.delta, c.delta_mc) == (0.25, 3.0, 500, 200, 0.04, 0.02)
    assert all(type(v) is float for v in (c.mc_risk, c.kl, c.delta, c.delta_mc))
    assert type(c.n) is int and type(c.num_samples) is int
    assert c.emp_risk_bound == pytest.approx(e, rel=REL)
    assert c.risk_bound == pytest.approx(pb.seeger_bound(e, 3.0, 500, 0.04), rel=REL)
    assert c.mcallester == pytest.approx(e + math.sqrt((3.0 + math.log(2 * math.sqrt(500) / 0.04)) / 1000), rel=REL)


def test_certificate_caps_mcallester_at_one():
    c = pb.certificate(0.5, 100, 400.0, 100)  # McAllester's ê + √(...) is about 2.0 here
    assert pb.mcallester_bound(c.emp_risk_bound, 400.0, 100, 0.025) > 1.5
    assert c.mcallester == 1.0


# --- Gaussian KLs -------------------------------------------------------------------------------

def test_gaussian_kl_names_the_bad_variance():
    with pytest.raises(ValueError, match=r"^var_q must be finite and > 0, got min -1.0$"):
        pb.gaussian_kl(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match=r"^var_p must be finite and > 0, got min 0.0$"):
        pb.gaussian_kl(0.0, 1.0, 0.0, 0.0)


def test_gaussian_kl_of_large_integer_means():
    """Integer means 4e9 apart: (μ_q − μ_p)² = 1.6e19 passes int64, as a float it is exact."""
    assert pb.gaussian_kl(4_000_000_000, 1, 0, 1) == 0.5 * 1.6e19
    assert pb.gaussian_kl([4_000_000_000, 0], [1, 1], 0, 1) == 0.5 * 1.6e19


def test_gaussian_kl_full_refuses_mismatched_or_non_finite_input():
    with pytest.raises(ValueError, match=r"^mu_p has shape \(3,\), mu_q \(2,\)$"):
        pb.gaussian_kl_full([0, 0], np.eye(2), [0, 0, 0], np.eye(2))
    for kwargs, name in (({"mu_q": [0.0, np.nan]}, "mu_q"), ({"cov_q": [[1.0, 0.0], [0.0, np.inf]]}, "cov_q"),
                         ({"cov_p": [[np.nan, 0.0], [0.0, 1.0]]}, "cov_p")):
        args = {"mu_q": [0.0, 0.0], "cov_q": np.eye(2), "mu_p": [0.0, 0.0], "cov_p": np.eye(2), **kwargs}
        with pytest.raises(ValueError, match=rf"^{name} must be finite, got an entry "):
            pb.gaussian_kl_full(**args)
    with pytest.raises(ValueError, match=r"^cov_q and cov_p must be symmetric positive definite$"):
        pb.gaussian_kl_full([0, 0], np.zeros((2, 2)), [0, 0], np.eye(2))


def test_gaussian_kl_full_symmetry_tolerance_is_relative():
    """Asymmetry up to 1e-12 of the largest entry passes (at the limit too), at any scale."""
    big = 1e6 * np.eye(2)
    big_q = big + np.array([[0.0, 5e-7], [0.0, 0.0]])  # 5e-13 of the scale: rounding
    kl = pb.gaussian_kl_full([0, 0], big_q, [0, 0], np.eye(2))
    assert kl == pytest.approx(0.5 * (2e6 - 2 - 2 * math.log(1e6)), rel=1e-12)
    at_limit = np.eye(2) + np.array([[0.0, 0.0], [2.0**-40, 0.0]])  # gap 9.1e-13 ≤ 1e-12 · 1
    assert pb.gaussian_kl_full([0, 0], at_limit, [0, 0], np.eye(2)) >= 0.0
    with pytest.raises(ValueError, match="cov_q is not symmetric"):
        pb.gaussian_kl_full([0, 0], big + np.array([[0.0, 1e-5], [0.0, 0.0]]), [0, 0], np.eye(2))


def test_pushforward_kl_passes_min_var_on():
    """A coordinate that training leaves constant gets variance min_var in both fits."""
    initial = [[0.0, 1.0], [2.0, 1.0]]
    trained = [[1.0, 1.0], [1.5, 1.0]]
    kl = pb.pushforward_kl(initial, trained, min_var=1e-4)
    expected = 0.5 * (0.125 / 2.0 + 0.25**2 / 2.0 - 1 + math.log(2.0 / 0.125))  # the varying coordinate
    assert kl == pytest.approx(expected, rel=REL)  # the constant one: N(1, 1e-4) against itself, 0
    assert pb.fit_diagonal_gaussian(trained, min_var=1e-4)[1].tolist() == [0.125, 1e-4]


# --- Gaussian absolute moments ------------------------------------------------------------------

def test_gaussian_abs_moment_at_h_zero_and_fractional_h():
    assert pb.gaussian_abs_moment(0, 0.7, 2.0) == pytest.approx(1.0, rel=REL)
    # E|w|^(1/2), w ~ N(0, 1): 2^(1/4) Γ(3/4)/√π
    assert pb.gaussian_abs_moment(0.5, 0.0, 1.0) == pytest.approx(2**0.25 * math.gamma(0.75) / math.sqrt(math.pi),
                                                                  rel=REL)
    with pytest.raises(ValueError, match="h=-0.5"):
        pb.gaussian_abs_moment(-0.5, 0.0, 1.0)


# --- kl and its inverse at their edges ------------------------------------------------------------

def test_bernoulli_kl_names_the_bad_argument():
    with pytest.raises(ValueError, match=r"^q must lie in \[0, 1\], got 1.5$"):
        pb.bernoulli_kl(1.5, 0.2)
    with pytest.raises(ValueError, match=r"^p must lie in \[0, 1\], got -0.2$"):
        pb.bernoulli_kl(0.2, -0.2)


def test_bernoulli_kl_at_the_ends_of_the_interval():
    assert pb.bernoulli_kl(1.0, 0.25) == pytest.approx(math.log(4.0), rel=REL)  # q = 1: −log p
    assert pb.bernoulli_kl(0.0, 0.75) == pytest.approx(math.log(4.0), rel=REL)  # q = 0: −log(1 − p)
    assert pb.bernoulli_kl(0.5, 1.0) == math.inf and pb.bernoulli_kl(0.0, 1.0) == math.inf
    assert pb.bernoulli_kl(1.0, 0.0) == math.inf and pb.bernoulli_kl(1.0, 1.0) == 0.0
    # q/p = 2e-300: 1 + (q − p)/p rounds to 0, so log(q/p) must come from the ratio itself
    assert pb.bernoulli_kl(1e-300, 0.5) == pytest.approx(1e-300 * math.log(2e-300) + (1 - 1e-300) * math.log(2),
                                                         rel=1e-15)


def test_x_minus_log1p_to_a_few_ulp():
    import mpmath as mp

    with mp.workdps(50):
        for x in (1e-3, -1e-3, 0.1, 0.3, -0.3, 0.5, -0.5):
            ref = float(mp.mpf(x) - mp.log1p(mp.mpf(x)))
            assert pb._x_minus_log1p(x) == pytest.approx(ref, rel=5e-16, abs=0), x


def test_kl_inverse_closed_forms_and_the_exact_boundary():
    p = pb.kl_inverse(0.1, 1.0)  # c = 1 is an ordinary value: kl(0.1‖p) = 1 at p = 0.7636285
    assert p == pytest.approx(0.7636285, abs=1e-7) and pb.bernoulli_kl(0.1, p) == pytest.approx(1.0, rel=1e-12)
    assert pb.kl_inverse(0.3, 0.0) == 0.3 and pb.kl_inverse(0.3, 0.0, upper=False) == 0.3
    for c in (0.1, 2.0, 3.0, 5.0):  # the closed form e^(−c), not a bisection one ulp off
        assert pb.kl_inverse(1.0, c, upper=False) == math.exp(-c)
        assert pb.kl_inverse(0.0, c) == -math.expm1(-c)
    # kl(0.5‖0.75) = c exactly at the bisection's first midpoint: the largest p with kl ≤ c is ≥ 0.75
    c = pb.bernoulli_kl(0.5, 0.75)
    p = pb.kl_inverse(0.5, c)
    assert p >= 0.75 and pb.bernoulli_kl(0.5, p) <= c


# --- KL(Q_β‖φ) by quadrature ------------------------------------------------------------------------

def test_exact_tempered_kl_defaults_guards_and_box():
    from slt.estimators import tempered_quadrature
    from slt.potentials import harmonic, normal_crossing

    V = harmonic([1.0])
    assert pb.exact_tempered_kl(V, 3.0) == pb.exact_tempered_kl(V, 3.0, gamma=1.0)  # γ = 1 by default
    for gamma in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match=r"^the Gaussian prior needs gamma > 0, got "):
            pb.exact_tempered_kl(V, 3.0, gamma=gamma)
    # a box that cuts the posterior: the quadrature on that box, KL = −nβ E[V] − log Z
    q = tempered_quadrature(V, 3.0, (-0.5, 0.5), gamma=2.0, center=np.zeros(1))
    cut = -3.0 * q.mean_v - (q.log_z + 0.5 * math.log(2.0 / (2 * math.pi)))
    assert pb.exact_tempered_kl(V, 3.0, gamma=2.0, box=(-0.5, 0.5)) == pytest.approx(cut, rel=REL)
    assert abs(cut - pb.exact_tempered_kl(V, 3.0, gamma=2.0)) > 0.1
    # a scalar centre for a one-coordinate potential with a monomial prior
    W = normal_crossing([1], h=[2])
    assert pb.exact_tempered_kl(W, 100, gamma=4, center=0.3) == pb.exact_tempered_kl(W, 100, gamma=4, center=[0.3])


def test_tempered_kl_records_its_step_rule_and_reproduces_with_its_seed():
    from slt.potentials import harmonic

    V, kw = harmonic([1.0]), dict(num_betas=4, num_chains=8, num_draws=200, num_burnin=200, seed=3)
    scan = pb.tempered_kl(V, 10.0, **kw)
    assert scan.step_rule == "scan per β" and scan.nbeta == 10.0
    assert scan == pb.tempered_kl(V, 10.0, gamma=1.0, center=[0.0], **kw)  # γ = 1 and w* = 0 by default; same seed
    assert scan.value == scan.free_energy - scan.mean_nL and scan.se == math.hypot(scan.free_energy_se, scan.mean_nL_se)
    given = pb.tempered_kl(V, 10.0, step_size=0.05, **kw)
    assert given.step_rule == "given" and given != scan
    kw["num_betas"] = None
    grid = pb.tempered_kl(V, 10.0, betas=[0.01, 0.1, 0.5, 1.0], step_size=0.05, **kw)  # a grid given, ending at 1
    assert grid.step_rule == "given" and grid != given
    with pytest.raises(ValueError, match=r"^the β grid must end at 1 to give E_Q\[nβ L\], got betas ending at 0.5$"):
        pb.tempered_kl(V, 10.0, betas=[0.0, 0.2, 0.5])


def test_tempered_kl_passes_its_prior_on_and_keeps_a_given_steps_error():
    """F(nβ) and E[nβ L] are free_energy's own at the same seed, prior N(c, I/γ) and method; a bad
    step that was given is an error, not a reason to fall back on the scanned step."""
    from slt.estimators import free_energy
    from slt.potentials import harmonic

    V, kw = harmonic([1.0]), dict(num_betas=4, num_chains=8, num_draws=200, num_burnin=200, seed=3)
    res = pb.tempered_kl(V, 10.0, gamma=2.0, center=[0.5], **kw)
    ref = free_energy(V, n=10.0, method="ti", gamma=2.0, center=[0.5], **kw)
    assert (res.free_energy, res.free_energy_se) == (ref.value, ref.se)
    assert (res.mean_nL, res.mean_nL_se) == (float(ref.mean_nL[-1]), float(ref.se_nL[-1]))
    with pytest.raises(ValueError, match=r"^step_size must be a positive finite number, got -1.0"):
        pb.tempered_kl(V, 10.0, step_size=-1.0, **kw)
