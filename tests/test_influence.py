"""Loss kernel, Bayesian influence and susceptibilities of toy models against exact values.

- a linear-Gaussian regression: the localized tempered posterior is Gaussian and every
  covariance of two per-sample losses is closed form (:mod:`slt.estimators.influence_exact`);
- singular toy regressions of 1–3 parameters against quadrature;
- the regular limit: at large nβ the BIF is the classical influence −(1/nβ) ∇ℓ_iᵀ H⁻¹ ∇φ, and at
  small nβ it is not (the test has power);
- the running sums against numpy's covariance of stored draws, and the result's files.

Tolerances are the estimator's own between-chain standard errors (3 se), fixed seeds.
"""
from __future__ import annotations

import numpy as np
import pytest

from slt import potentials
from slt.estimators import influence as I
from slt.estimators import influence_exact as E
from slt.estimators.numba_backend import NumbaBackend
from slt.models import Regression

RUN = dict(seed=0, progress=False, gamma=1.0)


def _query_model(m: Regression, xq: np.ndarray, yq: np.ndarray) -> Regression:
    return Regression.from_data(m.f, xq, yq, parameters=tuple(str(p) for p in m.params))


def test_running_sums_equal_the_pooled_covariance_of_stored_draws():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 50, 3))  # chains, draws, p
    b = a[..., :2] ** 2 + rng.normal(size=(4, 50, 2))
    sums = I.CrossSums(shift_a=np.ones(3), shift_b=np.zeros(2))
    for t in range(50):
        sums.add(a[:, t], b[:, t])
    per_chain = I.chain_covariances(*sums.totals())
    assert per_chain.shape == (4, 3, 2) and sums.sab.shape == (4, 3, 2)  # no draw axis is kept
    pooled = np.cov(np.concatenate([a.reshape(200, 3), b.reshape(200, 2)], axis=1).T, bias=True)[:3, 3:]
    np.testing.assert_allclose(per_chain.mean(axis=0), pooled, rtol=1e-12, atol=1e-14)
    mean, se = I.between_chains(per_chain)
    np.testing.assert_allclose(se, per_chain.std(axis=0, ddof=1) / 2)
    sym = I.CrossSums()
    for t in range(50):
        sym.add(a[:, t], None)
    np.testing.assert_allclose(I.chain_covariances(*sym.totals()).mean(0), np.cov(a.reshape(200, 3).T, bias=True),
                               rtol=1e-12)


@pytest.fixture(scope="module")
def linear():
    m = Regression("w1*x + w2*x**2", n=6, seed=1, w_true=(0.5, -0.3))
    w = m.fit()
    nbeta, gamma = 200.0, 1.0
    G = np.column_stack([m.data[:, 0], m.data[:, 0] ** 2])
    mean, cov = E.gaussian_posterior(G, m.data[:, 1], m.loss_noise, nbeta, gamma, w)
    return m, w, nbeta, gamma, G, mean, cov


def test_linear_gaussian_loss_kernel_and_bif_within_3_se_of_closed_form(linear):
    m, w, nbeta, gamma, G, mean, cov = linear
    y = m.data[:, 1]
    exact = E.linear_gaussian_covariance(G, y, G, y, m.loss_noise, mean, cov)
    res = I.loss_kernel(m, w, nbeta=nbeta, **RUN)
    assert res.values.shape == res.se.shape == (6, 6) and res.num_chains == 64
    z = res.z(exact)
    assert np.abs(z).max() < 3, z
    np.testing.assert_allclose(res.values, res.values.T, atol=1e-15)
    rng = np.random.default_rng(3)
    xq = rng.normal(0, 2, 2)
    yq = 0.5 * xq - 0.3 * xq**2 + rng.normal(size=2)
    exact_q = -E.linear_gaussian_covariance(G, y, np.column_stack([xq, xq**2]), yq, m.loss_noise, mean, cov)
    b = I.bif(m, w, query=(xq, yq), nbeta=nbeta, **RUN)
    assert b.values.shape == (6, 2) and np.abs(b.z(exact_q)).max() < 3
    assert np.abs(b.z(-exact_q)).max() > 10  # the sign is tested: +Cov is far off


def test_quadrature_covariance_equals_the_closed_form(linear):
    m, w, nbeta, gamma, G, mean, cov = linear
    y = m.data[:, 1]
    q = E.tempered_covariance(m, lambda W: (m.per_sample_losses(W), m.per_sample_losses(W)), nbeta, gamma=gamma,
                              center=w)
    exact = E.linear_gaussian_covariance(G, y, G, y, m.loss_noise, mean, cov)
    np.testing.assert_allclose(q.cov, exact, rtol=1e-9, atol=1e-15)


@pytest.mark.filterwarnings("ignore:LLC estimate is negative")  # w* = 0 is not the minimum of L_n
@pytest.mark.parametrize("formula,n,nbeta", [("w1**2*x", 10, 100.0), ("w1*w2*x", 10, 100.0)])
def test_singular_toys_against_quadrature(formula, n, nbeta):
    """Singular at w* = 0: the posterior is far from Gaussian; kernel, BIF on an observable and
    susceptibilities, each within 3 se of quadrature."""
    m = Regression(formula, n=n, seed=2)
    w = np.zeros(m.dim)
    phi = lambda W: np.sum(W**2, axis=1)  # noqa: E731 - an observable of the weights
    k = I.loss_kernel(m, w, nbeta=nbeta, **RUN)
    bq = I.bif(m, w, query=phi, nbeta=nbeta, **RUN)
    s = I.susceptibilities(m, w, nbeta=nbeta, **RUN)
    losses = m.per_sample_losses
    qk = E.tempered_covariance(m, lambda W: (losses(W), losses(W)), nbeta, gamma=1.0, center=w)
    qb = E.tempered_covariance(m, lambda W: (losses(W), phi(W)[:, None]), nbeta, gamma=1.0, center=w)
    qs = E.tempered_covariance(m, lambda W: (losses(W), losses(W).mean(1, keepdims=True)), nbeta, gamma=1.0,
                               center=w)
    chi = -(qs.cov[:, 0] - qs.cov.mean(0)[0])  # −Cov[L, ℓ_q − L] = −(Cov[ℓ_q, L] − Var[L])
    assert max(qk.error.max() / np.abs(qk.cov).max(), qb.error.max() / np.abs(qb.cov).max()) < 1e-6
    assert np.abs(k.z(qk.cov)).max() < 3
    assert bq.values.shape == (n, 1) and bq.col_dims == ("observable",) and np.abs(bq.z(-qb.cov)).max() < 3
    assert s.values.shape == (n, 1) and np.abs(s.z(chi[:, None])).max() < 3


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:LLC estimate is negative")
def test_three_parameter_toy_against_quadrature():
    m = Regression("w1*w2*w3*x", n=8, seed=4)
    w = np.zeros(3)
    k = I.loss_kernel(m, w, nbeta=100.0, **RUN)
    q = E.tempered_covariance(m, lambda W: (m.per_sample_losses(W), m.per_sample_losses(W)), 100.0, gamma=1.0,
                              center=w)
    assert q.error.max() / np.abs(q.cov).max() < 1e-2  # the 81-point grid's error; 161 points are used
    assert np.abs(k.z(q.cov)).max() < 3


@pytest.fixture(scope="module")
def regular():
    m = Regression("w1*x + w1*w2*x**2", n=20, seed=0, w_true=(0.8, 0.5))
    w = m.fit()
    rng = np.random.default_rng(5)
    xq = rng.normal(0, 2, 3)
    yq = 0.8 * xq + 0.4 * xq**2 + rng.normal(size=3)
    grads = E.regression_gradients(m, w), E.regression_gradients(m, w, xq, yq)
    return m, w, (xq, yq), grads, NumbaBackend(m, 1.0).hessians(w[None])[0]


def test_bif_tends_to_the_classical_influence_in_a_regular_model(regular):
    """Koh & Liang's −(1/nβ) ∇ℓ_iᵀ (H + γ/nβ)⁻¹ ∇φ at nβ = 10⁴ within 3 se; at nβ = 10² the BIF is
    the quadrature's, which the classical value misses by many se."""
    m, w, query, (gi, gq), H = regular
    big = I.bif(m, w, query=query, nbeta=1e4, **RUN)
    assert np.abs(big.z(E.classical_influence(gi, gq, H, 1e4, 1.0))).max() < 3
    small = I.bif(m, w, query=query, nbeta=100.0, **RUN)
    qm = _query_model(m, *query)
    q = E.tempered_covariance(m, lambda W: (m.per_sample_losses(W), qm.per_sample_losses(W)), 100.0, gamma=1.0,
                              center=w)
    assert np.abs(small.z(-q.cov)).max() < 3
    assert np.abs(small.z(E.classical_influence(gi, gq, H, 100.0, 1.0))).max() > 5


def test_result_as_xarray_and_netcdf(tmp_path, linear):
    pytest.importorskip("h5netcdf")
    import xarray as xr

    m, w, nbeta, gamma, *_ = linear
    res = I.loss_kernel(m, w, nbeta=nbeta, num_draws=200, num_burnin=200, num_chains=8, **RUN)
    ds = res.to_xarray()
    assert ds["per_chain"].dims == ("chain", "sample", "query") and ds.attrs["kind"] == "loss_kernel"
    path = res.to_netcdf(tmp_path / "k.nc")
    back = xr.load_dataset(path, engine="h5netcdf")
    np.testing.assert_array_equal(back["value"].values, res.values)
    np.testing.assert_array_equal(back["se"].values, res.se)
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file is gone
    if pytest.importorskip("zarr", reason="zarr not installed"):
        res.to_zarr(tmp_path / "k.zarr")


def test_bad_input_is_a_clear_error(linear):
    m, w, *_ = linear
    with pytest.raises(ValueError, match="potential has no data"):
        I.loss_kernel(potentials.resolve("x**2 + y**4"), nbeta=10.0)
    with pytest.raises(ValueError, match="per_sample"):
        I.loss_kernel(m, w, nbeta=10.0, per_sample=True)
    with pytest.raises(ValueError, match="query must be"):
        I.bif(m, w, query="tokens", nbeta=10.0)
    with pytest.raises(ValueError, match="unknown setting"):
        I.bif(m, w, query=None, nbeta=10.0, num_chain=4)
