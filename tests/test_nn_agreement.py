"""The bridge and the numba path agree on the same toy regression model: same data, same loss
L_n, same nβ, γ, w*, SGLD step and run length, independent random numbers."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from slt.estimators import estimate_llc as numba_llc  # noqa: E402
from slt.models import Regression  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.models import regression_module  # noqa: E402

# y = w1 w2 x + 0.5 ε at w* = (0, 0): a singular point (λ = 1/2). γ = 30 makes λ̂ depend on nβ
# strongly enough that a factor-2 error in nβ in either path is a > 4σ disagreement.
SETTINGS = dict(gamma=30.0, step_size=2e-3, num_chains=32, num_draws=2000, num_burnin=500)


@pytest.fixture(scope="module")
def toy():
    return Regression("w1*w2*x", n=100, seed=0, noise=0.5)


def test_regression_module_is_the_same_loss(toy):
    for w in ([0.0, 0.0], [0.7, -0.3]):
        module, (X, y), loss_fn = regression_module(toy, w)
        with torch.no_grad():
            assert float(loss_fn(module(X), y)) == pytest.approx(toy.loss(w), rel=1e-12)


@pytest.mark.slow  # tests/test_one_estimator.py checks the two doors against the exact value in less time
def test_bridge_and_numba_agree(toy):
    ref = numba_llc(toy, sampler="sgld", richardson=False, seed=1, **SETTINGS)
    module, data, loss_fn = regression_module(toy)
    res = estimate_llc(module, data, loss_fn=loss_fn, seed=2, **SETTINGS)
    assert res.nbeta == ref.nbeta and res.init_loss == pytest.approx(ref.init_loss, rel=1e-12)
    se = np.hypot(res.se, ref.se)
    assert abs(res.mean - ref.mean) < 3 * se
    # a bridge run at 2nβ (a mis-scaled nβ) is rejected by the same comparison
    wrong = estimate_llc(module, data, loss_fn=loss_fn, seed=2, nbeta=2 * ref.nbeta, **SETTINGS)
    assert abs(wrong.mean - ref.mean) > 4 * np.hypot(wrong.se, ref.se)
