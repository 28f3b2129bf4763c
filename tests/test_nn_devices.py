"""Speed for bigger models, the parts that need no compiler (issue 19): chains split across devices
give the numbers of one device (each chain's random stream comes from (seed, chain index)), and
memory grows with chains × parameters, not with draws."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.data import xor_data  # noqa: E402
from slt.nn.models import xor_mlp  # noqa: E402
from slt.nn.streams import split_chains  # noqa: E402

XOR = dict(loss_fn=nn.functional.mse_loss, nbeta=10.0, gamma=10.0, step_size=1e-3, num_draws=30, num_burnin=10,
           fluctuation_points=0, seed=3)


def quiet(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(model, data, **kw)


@pytest.mark.parametrize("sampler,extra", [("sgld", {"batch_size": 2, "richardson": False}),
                                           ("mala", {"metric": 0.0}), ("hmc", {"sampler_options": {"leapfrog": 3}})])
def test_split_across_devices_gives_the_numbers_of_one_device(sampler, extra):
    data = xor_data()
    one = quiet(xor_mlp(seed=0), data, sampler=sampler, num_chains=3, **XOR, **extra)
    two = quiet(xor_mlp(seed=0), data, sampler=sampler, num_chains=3, devices=["cpu", "cpu"], **XOR, **extra)
    three = quiet(xor_mlp(seed=0), data, sampler=sampler, num_chains=3, devices=["cpu"] * 4, **XOR, **extra)
    assert two.info["devices"] == ["cpu", "cpu"] and "devices" not in one.info
    for split in (two, three):  # 2 + 1 chains; 1 + 1 + 1 (the fourth device gets none)
        np.testing.assert_allclose(split.loss_traces, one.loss_traces, rtol=1e-12, atol=0)
        assert split.mean == pytest.approx(one.mean, rel=1e-12, abs=1e-12)
    assert not np.allclose(one.loss_traces[0], one.loss_traces[1])  # chains have their own streams


def test_a_chain_draws_the_same_numbers_beside_any_number_of_chains():
    data = xor_data()
    two = quiet(xor_mlp(seed=0), data, sampler="mala", metric=0.0, num_chains=2, **XOR)
    four = quiet(xor_mlp(seed=0), data, sampler="mala", metric=0.0, num_chains=4, **XOR)
    np.testing.assert_array_equal(four.loss_traces[:2], two.loss_traces)


def test_split_chains_and_device_errors():
    assert split_chains(5, 2) == [range(3), range(3, 5)]
    assert split_chains(2, 3) == [range(1), range(1, 2)]
    data = xor_data()
    for bad in ([], "cpu"):
        with pytest.raises(ValueError, match="devices"):
            estimate_llc(xor_mlp(seed=0), data, devices=bad, **XOR)
    with pytest.raises(ValueError, match="disagree"):
        estimate_llc(xor_mlp(seed=0), data, device="cpu", devices=["meta"], **XOR)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="not available"):
            estimate_llc(xor_mlp(seed=0), data, devices=["cpu", "cuda:0"], **XOR)


def _peak_rss_growth(run) -> int:
    """Bytes by which the process's resident high-water mark rose above its level before ``run()``."""
    def status(key: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current resident size
    before = status("VmRSS")
    run()
    return status("VmHWM") - before


def test_memory_grows_with_chains_times_parameters_not_with_draws():
    """Four times the draws leave the peak resident memory where it was; storing the draws
    (draws × chains × parameters floats) would raise it by ``stored`` bytes, five times the allowance."""
    try:
        open("/proc/self/clear_refs", "w").close()
    except OSError:
        pytest.skip("needs Linux's /proc/self/clear_refs to reset the peak resident size")
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 140), nn.Tanh(), nn.Linear(140, 140), nn.Tanh(), nn.Linear(140, 1))
    d = sum(p.numel() for p in model.parameters())
    X = torch.randn(32, 8)
    data = (X, X[:, :1].sin())
    kw = dict(loss_fn=nn.functional.mse_loss, nbeta=30.0, gamma=100.0, step_size=1e-6, num_chains=2, num_burnin=0,
              sampler="sgld", richardson=False, fluctuation_points=8, per_sample=True, seed=0)
    quiet(model, data, num_draws=20, **kw)  # warm-up: vmap, allocator pools
    short = _peak_rss_growth(lambda: quiet(model, data, num_draws=100, **kw))
    long = _peak_rss_growth(lambda: quiet(model, data, num_draws=400, **kw))
    stored = 300 * 2 * d * 4
    assert stored > 40e6
    assert long - short < stored / 5, (short, long, stored)
