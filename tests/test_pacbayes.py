"""PAC-Bayes bounds against high-precision and hand-computed values; KL(Q_β‖φ) against quadrature."""
import math

import mpmath as mp
import numpy as np
import pytest
from scipy import stats

from slt import pacbayes as pb
from slt.estimators import exact_free_energy, fit_lambda
from slt.potentials import harmonic, sum_of_monomials

QUASI = sum_of_monomials([1, 2])  # x² + y⁴, λ = 3/4, m = 1


# --- kl and its inverse --------------------------------------------------------------------------

def _mp_kl(q, p):
    out = mp.mpf(0)
    if q > 0:
        out += q * mp.log(q / p)
    if q < 1:
        out += (1 - q) * mp.log((1 - q) / (1 - p))
    return out


def _mp_kl_inverse(q, c, upper):
    """Bisection at 50 digits, 170 halvings (2^-170 ≪ 1e-9), no closed forms."""
    with mp.workdps(50):
        q, c = mp.mpf(q), mp.mpf(c)
        inner, outer = (q, mp.mpf(1)) if upper else (q, mp.mpf(0))
        for _ in range(170):
            mid = (inner + outer) / 2
            if (mid >= 1 or mid <= 0) and mid != q:
                outer = mid
                continue
            if _mp_kl(q, mid) <= c:
                inner = mid
            else:
                outer = mid
        return float(inner)


QS = [0.0, 1e-9, 1e-4, 0.01, 0.1, 0.5, 0.9, 0.999, 1 - 1e-9, 1.0]
CS = [0.0, 1e-10, 1e-4, 0.05, 0.7, 5.0, 50.0, 1e4]


@pytest.mark.parametrize("upper", [True, False])
def test_kl_inverse_against_mpmath_bisection(upper):
    worst = 0.0
    for q in QS:
        for c in CS:
            p = pb.kl_inverse(q, c, upper=upper)
            ref = _mp_kl_inverse(q, c, upper)
            worst = max(worst, abs(p - ref))
            assert abs(p - ref) < 1e-9, (q, c, upper, p, ref)
            assert (p >= q) if upper else (p <= q)
    assert worst < 1e-9


def test_kl_inverse_keeps_float_precision_for_tiny_c():
    """c ≤ 1e-15 puts p within ~1e-7 of q, where the textbook kl cancels (it erred by 5e-9)."""
    worst = 0.0
    for q in [1e-9, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999, 1 - 1e-9]:
        for c in [1e-300, 1e-20, 1e-18, 1e-16, 1e-15, 1e-12]:
            for upper in (True, False):
                worst = max(worst, abs(pb.kl_inverse(q, c, upper=upper) - _mp_kl_inverse(q, c, upper)))
    assert worst <= 3e-16, worst


def test_bernoulli_kl_has_relative_precision_near_p_equal_q():
    with mp.workdps(50):
        for q in [1e-6, 0.3, 0.5, 0.97]:
            for rel in [1e-12, -1e-9, 1e-6, -0.3, 0.49]:
                p = q + rel * min(q, 1 - q)
                ref = float(_mp_kl(mp.mpf(q), mp.mpf(p)))
                assert pb.bernoulli_kl(q, p) == pytest.approx(ref, rel=1e-13, abs=0), (q, p)
        assert pb.bernoulli_kl(1e-300, 3e-300) == pytest.approx(1e-300 * (math.log(1 / 3) + 2), rel=1e-13, abs=0)


def test_kl_inverse_is_the_extreme_point():
    """kl(q‖p) = c at the inverse, and a point 1e-6 further out violates it (a loose inverse fails)."""
    for q, c in [(0.1, 0.05), (0.0, 0.3), (0.7, 0.01), (0.02, 2.0)]:
        p = pb.kl_inverse(q, c)
        assert pb.bernoulli_kl(q, p) == pytest.approx(c, rel=1e-7)
        assert pb.bernoulli_kl(q, p + 1e-6) > c
        lo = pb.kl_inverse(q, c, upper=False)
        if lo > 1e-6:
            assert pb.bernoulli_kl(q, lo) == pytest.approx(c, rel=1e-7)
            assert pb.bernoulli_kl(q, lo - 1e-6) > c
    assert pb.kl_inverse(0.0, math.log(2)) == pytest.approx(0.5, abs=1e-15)
    assert pb.kl_inverse(1.0, math.log(2), upper=False) == pytest.approx(0.5, abs=1e-15)
    assert pb.kl_inverse(0.3, math.inf) == 1.0 and pb.kl_inverse(0.3, math.inf, upper=False) == 0.0


def test_bernoulli_kl_values_and_errors():
    assert pb.bernoulli_kl(0.1, 0.3) == pytest.approx(0.1 * math.log(1 / 3) + 0.9 * math.log(0.9 / 0.7), rel=1e-14)
    assert pb.bernoulli_kl(0.0, 0.5) == pytest.approx(math.log(2), rel=1e-14)
    assert pb.bernoulli_kl(0.2, 0.0) == math.inf and pb.bernoulli_kl(0.0, 0.0) == 0.0
    with pytest.raises(ValueError, match="1.5"):
        pb.bernoulli_kl(1.5, 0.2)
    with pytest.raises(ValueError, match="-0.1"):
        pb.kl_inverse(0.2, -0.1)
    with pytest.raises(ValueError, match="q must"):
        pb.kl_inverse(-0.2, 0.1)


# --- Gaussian KL -----------------------------------------------------------------------------------

def test_gaussian_kl_closed_forms():
    # scalar: KL(N(1, 2) ‖ N(0, 1)) = ½(2 + 1 − 1 − log 2)
    assert pb.gaussian_kl(1.0, 2.0, 0.0, 1.0) == pytest.approx(0.5 * (2 - math.log(2)), rel=1e-14)
    rng = np.random.default_rng(0)
    mq, mp_, vq, vp = rng.normal(size=5), rng.normal(size=5), rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    diag = pb.gaussian_kl(mq, vq, mp_, vp)
    assert diag == pytest.approx(pb.gaussian_kl_full(mq, np.diag(vq), mp_, np.diag(vp)), rel=1e-12)
    assert diag == pytest.approx(sum(pb.gaussian_kl(a, b, c, d) for a, b, c, d in zip(mq, vq, mp_, vp)), rel=1e-12)
    assert pb.gaussian_kl(mq, vq, mq, vq) == 0.0
    # a scalar prior variance broadcasts
    assert pb.gaussian_kl(mq, vq, 0.0, 0.5) == pytest.approx(pb.gaussian_kl(mq, vq, np.zeros(5), np.full(5, 0.5)))
    # full covariance: invariant under a common rotation, and equal to the rotated diagonal
    Rm, _ = np.linalg.qr(rng.normal(size=(5, 5)))
    full = pb.gaussian_kl_full(Rm @ mq, Rm @ np.diag(vq) @ Rm.T, Rm @ mp_, Rm @ np.diag(vp) @ Rm.T)
    assert full == pytest.approx(diag, rel=1e-10)


def test_gaussian_kl_against_monte_carlo():
    rng = np.random.default_rng(1)
    k = 3
    A, B = rng.normal(size=(k, k)), rng.normal(size=(k, k))
    sq, sp = A @ A.T + 0.5 * np.eye(k), B @ B.T + 0.5 * np.eye(k)
    mq, mp_ = rng.normal(size=k), rng.normal(size=k)
    x = rng.multivariate_normal(mq, sq, size=200_000)
    ratio = stats.multivariate_normal(mq, sq).logpdf(x) - stats.multivariate_normal(mp_, sp).logpdf(x)
    mc, se = ratio.mean(), ratio.std(ddof=1) / math.sqrt(x.shape[0])
    kl = pb.gaussian_kl_full(mq, sq, mp_, sp)
    assert abs(kl - mc) < 4 * se
    # the same KL without the log-det term (a classic slip) is many se away
    wrong = kl - 0.5 * (np.linalg.slogdet(sp)[1] - np.linalg.slogdet(sq)[1])
    assert abs(wrong - mc) > 10 * se
    # diagonal: Monte Carlo of the coordinatewise log ratio
    vq, vp = np.diag(sq), np.diag(sp)
    y = mq + np.sqrt(vq) * rng.normal(size=(200_000, k))
    r = (stats.norm(mq, np.sqrt(vq)).logpdf(y) - stats.norm(mp_, np.sqrt(vp)).logpdf(y)).sum(1)
    assert abs(pb.gaussian_kl(mq, vq, mp_, vp) - r.mean()) < 4 * r.std(ddof=1) / math.sqrt(r.size)


def test_gaussian_kl_errors():
    with pytest.raises(ValueError, match="var_q"):
        pb.gaussian_kl(0.0, -1.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="var_p"):
        pb.gaussian_kl(0.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="positive definite"):
        pb.gaussian_kl_full([0, 0], [[1, 2], [2, 1]], [0, 0], np.eye(2))


# --- bounds against hand-computed values ------------------------------------------------------------

R, KL, N, DELTA = 0.1, 5.0, 1000, 0.05
EPS = math.log(2 * math.sqrt(N) / DELTA)  # log(2√1000/0.05) = 7.1427571


def test_bounds_against_hand_computed_values():
    assert EPS == pytest.approx(7.142757, abs=1e-6)
    assert pb.mcallester_bound(R, KL, N, DELTA) == pytest.approx(0.1 + math.sqrt(12.1427571 / 2000), abs=1e-7)
    # Seeger: kl⁻¹(0.1, 0.0121428...) = 0.1531096... (50-digit bisection in the kl-inverse test above)
    assert pb.seeger_bound(R, KL, N, DELTA) == pytest.approx(_mp_kl_inverse(0.1, (KL + EPS) / N, True), abs=1e-12)
    assert pb.seeger_bound(R, KL, N, DELTA) == pytest.approx(0.1531096, abs=1e-7)
    # Catoni, C = 1: (1 − exp(−0.1 − (5 + log 20)/1000)) / (1 − e⁻¹)
    assert pb.catoni_bound(R, KL, N, DELTA, C=1.0) == pytest.approx(0.1619447, abs=1e-7)
    # λ-bound at λ = 1: 0.1/0.5 + 12.1427571/(1000·0.5) = 0.2242855
    assert pb.lambda_bound(R, KL, N, DELTA, lam=1.0) == pytest.approx(0.2242855, abs=1e-7)
    lam = pb.optimal_lambda(R, KL, N, DELTA)
    grid = np.linspace(0.01, 1.99, 4000)
    assert pb.lambda_bound(R, KL, N, DELTA) == pytest.approx(min(pb.lambda_bound(R, KL, N, DELTA, lam=x) for x in grid),
                                                             abs=1e-6)
    assert 0 < lam < 2
    # Dziugaite–Roy at j = 50: δ_j = 6·0.05/(π²·2500) = 1.21585e-5
    g = pb.PriorGrid(c=0.1, b=100)
    assert g.delta(DELTA, 50) == pytest.approx(1.2158542e-5, rel=1e-7)
    assert g.index(g.variance(50)) == 50 and sum(g.delta(DELTA, j) for j in range(1, 200_000)) == pytest.approx(DELTA,
                                                                                                             rel=1e-4)
    assert pb.dziugaite_roy_bound(R, KL, N, DELTA, j=50, grid=g) == pytest.approx(0.1713124, abs=1e-7)
    # Langford–Caruana: kl⁻¹(0.1, log(200)/1000)
    assert pb.mc_risk_bound(0.1, 1000, 0.01) == pytest.approx(0.1336794, abs=1e-7)
    # the ordering: kl bound tighter than McAllester here, all bounds above the empirical risk
    assert R < pb.seeger_bound(R, KL, N, DELTA) < pb.mcallester_bound(R, KL, N, DELTA)


def test_certificate_chains_the_two_inversions():
    c = pb.certificate(0.05, 500, 12.0, 800, delta=0.025, delta_mc=0.01)
    e = pb.kl_inverse(0.05, math.log(2 / 0.01) / 500)
    assert c.emp_risk_bound == pytest.approx(e, abs=1e-15)
    assert c.risk_bound == pytest.approx(pb.kl_inverse(e, (12.0 + math.log(2 * math.sqrt(800) / 0.025)) / 800), abs=1e-15)
    assert c.mcallester >= c.risk_bound


def test_bound_errors_name_the_value():
    with pytest.raises(ValueError, match="1.2"):
        pb.seeger_bound(1.2, 1.0, 100, 0.05)
    with pytest.raises(ValueError, match="delta.*1.5"):
        pb.mcallester_bound(0.1, 1.0, 100, 1.5)
    with pytest.raises(ValueError, match="kl.*-3"):
        pb.mcallester_bound(0.1, -3.0, 100, 0.05)
    with pytest.raises(ValueError, match="n must.*0.5"):
        pb.seeger_bound(0.1, 1.0, 0.5, 0.05)
    with pytest.raises(ValueError, match="lam.*2.5"):
        pb.lambda_bound(0.1, 1.0, 100, 0.05, lam=2.5)
    with pytest.raises(ValueError, match="C must.*-1"):
        pb.catoni_bound(0.1, 1.0, 100, 0.05, C=-1.0)
    with pytest.raises(ValueError, match="num_samples.*0"):
        pb.mc_risk_bound(0.1, 0, 0.05)
    with pytest.raises(ValueError, match="variance.*-1"):
        pb.PriorGrid().index(-1.0)
    with pytest.raises(ValueError, match="samples"):
        pb.fit_diagonal_gaussian(np.zeros((1, 3)))


def test_fit_diagonal_gaussian_recovers_the_law():
    rng = np.random.default_rng(2)
    x = rng.normal([1.0, -2.0], [0.5, 2.0], size=(20_000, 2))
    m, v = pb.fit_diagonal_gaussian(x)
    assert np.allclose(m, [1.0, -2.0], atol=4 * np.sqrt([0.25, 4.0]) / math.sqrt(20_000))
    assert np.allclose(v, [0.25, 4.0], rtol=0.05)


# --- KL(Q_β‖φ): quadrature, closed form, thermodynamic integration --------------------------------

def test_exact_tempered_kl_gaussian_closed_form():
    """V = Σ a_i x_i²/2, φ = N(0, I/γ): Q = N(0, 1/(nβ a + γ)) per coordinate, a Gaussian KL."""
    a, gamma, nbeta = np.array([1.0, 3.0]), 2.0, 50.0
    kl = pb.exact_tempered_kl(harmonic(list(a)), nbeta, gamma=gamma)
    closed = pb.gaussian_kl(0.0, 1.0 / (nbeta * a + gamma), 0.0, 1.0 / gamma)
    assert kl == pytest.approx(closed, rel=1e-5)
    assert abs(kl - pb.gaussian_kl(0.0, 1.0 / (nbeta * a), 0.0, 1.0 / gamma)) > 1e-3 * kl  # dropping γ from Q


def test_exact_tempered_kl_is_free_energy_minus_mean_loss():
    nbeta = 1e3
    kl = pb.exact_tempered_kl(QUASI, nbeta, gamma=1.0)
    from slt.estimators import exact_tempered_expectation

    mean_nl = exact_tempered_expectation(QUASI, nbeta, gamma=1.0)  # nβ E[V], V(0) = 0
    assert kl == pytest.approx(exact_free_energy(QUASI, nbeta, gamma=1.0) - mean_nl, rel=1e-3)


def test_exact_tempered_kl_grows_like_lambda_log_n():
    """KL(Q_β‖φ) = λ log(nβ) − λ + O(1): the slope over nβ = 10²…10⁵ is λ = 3/4, not d/2 = 1."""
    nbs = [1e2, 1e3, 1e4, 1e5]
    kls = [pb.exact_tempered_kl(QUASI, nb, gamma=1.0) for nb in nbs]
    fit = fit_lambda(nbs, kls)
    assert abs(fit.lam - 0.75) < 0.03
    assert abs(fit.lam - 1.0) > 0.15  # the regular count d/2 is excluded


def test_tempered_kl_by_thermodynamic_integration_matches_quadrature():
    nbeta = 1e3
    exact = pb.exact_tempered_kl(QUASI, nbeta, gamma=1.0)
    res = pb.tempered_kl(QUASI, nbeta, gamma=1.0, num_betas=16, num_chains=32, num_draws=400, num_burnin=1000, seed=0)
    assert res.se > 0 and res.value == pytest.approx(res.free_energy - res.mean_nL)
    tol = 4 * res.se + 0.01 * res.free_energy  # + the TI grid bias (≤ 1% of F_n, test_estimators)
    assert abs(res.value - exact) < tol
    # forgetting the mean-loss term (reporting F_n as the KL) is far outside the tolerance
    assert abs(res.free_energy - exact) > tol


def test_tempered_kl_argument_errors():
    with pytest.raises(ValueError, match="end at 1.*0.5"):
        pb.tempered_kl(QUASI, 100.0, betas=[0.1, 0.5])
    with pytest.raises(ValueError, match="gamma.*0"):
        pb.exact_tempered_kl(QUASI, 100.0, gamma=0.0)


@pytest.mark.slow
def test_tempered_kl_of_a_regression_against_quadrature():
    """y = w1 w2 x + ε, n = 1000 (about 30 s of CPU): KL(Q‖φ) by TI on the data's L_n against
    quadrature of its empirical potential (measured 2.538 ± 0.067 against 2.485)."""
    from slt.models import Regression

    m = Regression("w1*w2*x", n=1000, seed=0)
    exact = pb.exact_tempered_kl(m.empirical_potential(), 1000.0, gamma=1.0, center=m.point)
    res = pb.tempered_kl(m, 1000.0, gamma=1.0, num_betas=12, num_chains=32, num_draws=300, num_burnin=1000, seed=0)
    tol = 4 * res.se + 0.02 * exact
    assert abs(res.value - exact) < tol
    assert abs((res.free_energy - 1000.0 * m.loss(m.point)) - exact) > tol  # F_n − n L_n(w₀), no −E_Q term
