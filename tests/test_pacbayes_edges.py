"""Edge cases of slt.pacbayes against closed forms and 50-digit arithmetic (mpmath); the kl inverse's are in
test_pacbayes.py beside its 50-digit reference."""
import math

import mpmath as mp
import numpy as np
import pytest

from slt import pacbayes as pb
from slt.potentials import harmonic, normal_crossing


def test_exact_tempered_kl_normalises_a_prior_with_monomial_factors():
    """V = w², φ ∝ w² N(0, 1/γ): Q ∝ w² exp(−(nβ + γ/2) w²); the KL by 50-digit quadrature is
    4.42715 at nβ = 100, γ = 4 (the unnormalised prior gave 5.813, off by −log E|w|² = log 4)."""
    nbeta, gamma = 100, 4

    def kl_mp(center):
        with mp.workdps(50):
            def prior(w):
                return w ** 2 * mp.exp(-gamma * (w - center) ** 2 / 2)

            def post(w):
                return prior(w) * mp.exp(-nbeta * w ** 2)

            zp, zq = mp.quad(prior, [-mp.inf, 0, center, mp.inf]), mp.quad(post, [-mp.inf, 0, mp.inf])
            mean_v = mp.quad(lambda w: w ** 2 * post(w), [-mp.inf, 0, mp.inf]) / zq
            return float(-nbeta * mean_v - mp.log(zq / zp))

    V = normal_crossing([1], h=[2])
    assert pb.exact_tempered_kl(V, nbeta, gamma=gamma) == pytest.approx(kl_mp(0), rel=1e-6)
    assert kl_mp(0) == pytest.approx(4.42715, abs=1e-5)
    assert pb.exact_tempered_kl(V, nbeta, gamma=gamma, center=[0.3]) == pytest.approx(kl_mp(mp.mpf("0.3")), rel=1e-6)


def test_gaussian_abs_moment_against_quadrature():
    with mp.workdps(30):
        for h in (1, 2, 3, 6):
            for mean, sd in ((0.0, 0.5), (0.3, 0.5), (2.0, 0.1), (-1.0, 3.0)):
                ref = mp.quad(lambda w: abs(w) ** h * mp.npdf(w, mean, sd), [-mp.inf, *sorted((0.0, mean)), mp.inf])
                assert pb.gaussian_abs_moment(h, mean, sd) == pytest.approx(float(ref), rel=1e-12)
    with pytest.raises(ValueError, match="sd=0.0"):
        pb.gaussian_abs_moment(2, 0.0, 0.0)


def test_tempered_kl_on_a_fine_beta_grid():
    """40 βs failed in the step scan (steps grown 10× per β reached 2.7e12): redone at the step of β = 1."""
    exact = pb.exact_tempered_kl(harmonic([1.0]), 100.0, gamma=1.0)
    res = pb.tempered_kl(harmonic([1.0]), 100.0, gamma=1.0, num_betas=40, num_chains=16, num_draws=200,
                         num_burnin=500, seed=0)
    assert abs(res.value - exact) < 4 * res.se + 0.01 * exact, (res, exact)
    assert res.step_rule.startswith("step of β = 1 at every β") and "no scanned step size" in res.step_rule
    with pytest.raises(ValueError, match="unknown setting.*bogus"):  # a bad argument is not retried away
        pb.tempered_kl(harmonic([1.0]), 100.0, bogus=1)


@pytest.mark.parametrize("args, match", [
    ((np.nan, 1.0, 0.0, 1.0), "mu_q.*nan"),
    (([0.0, np.inf], 1.0, 0.0, 1.0), "mu_q.*inf"),
    ((0.0, 1.0, -np.inf, 1.0), "mu_p.*-inf"),
])
def test_gaussian_kl_refuses_non_finite_means(args, match):
    with pytest.raises(ValueError, match=match):
        pb.gaussian_kl(*args)


def test_gaussian_kl_full_refuses_non_symmetric_or_non_finite_input():
    with pytest.raises(ValueError, match="cov_q is not symmetric.*0.5"):
        pb.gaussian_kl_full([0, 0], [[1.0, 0.5], [0.0, 1.0]], [0, 0], np.eye(2))
    with pytest.raises(ValueError, match="cov_p is not symmetric"):
        pb.gaussian_kl_full([0, 0], np.eye(2), [0, 0], [[1.0, 0.0], [0.2, 1.0]])
    with pytest.raises(ValueError, match="mu_p must be finite.*nan"):
        pb.gaussian_kl_full([0, 0], np.eye(2), [0, np.nan], np.eye(2))
    a = np.random.default_rng(0).normal(size=(3, 3))
    assert pb.gaussian_kl_full(np.zeros(3), a @ a.T + np.eye(3), np.zeros(3), np.eye(3)) > 0  # rounding-level asymmetry passes


def test_counts_and_confidences_are_checked():
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 1000.5"):
        pb.mcallester_bound(0.1, 5.0, 1000.5, 0.05)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 718.4"):
        pb.certificate(0.1, 1000, 5.0, 718.4)
    assert pb.seeger_bound(0.1, 5.0, 1e3, 0.05) == pb.seeger_bound(0.1, 5.0, 1000, 0.05)  # 1e3 is an integer
    grid = pb.PriorGrid()
    for call in (lambda: grid.variance(2.5), lambda: grid.delta(0.05, 2.5),
                 lambda: pb.dziugaite_roy_bound(0.1, 5.0, 1000, 0.05, j=2.5)):
        with pytest.raises(ValueError, match="grid index j must be an integer >= 1, got 2.5"):
            call()
    with pytest.raises(ValueError, match="delta=0.6, delta_mc=0.5"):
        pb.certificate(0.1, 1000, 5.0, 1000, delta=0.6, delta_mc=0.5)
