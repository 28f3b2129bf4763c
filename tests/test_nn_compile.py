"""torch.compile of the torch backend's sampling step (issue 19): the same seed gives the same
numbers compiled or not, a compile that fails falls back to eager and says why in ``info``, and
the option's values and rule."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc  # noqa: E402
from slt.nn.backend import resolve_compile  # noqa: E402
from slt.nn.data import xor_data  # noqa: E402
from slt.nn.models import xor_mlp  # noqa: E402

KW = dict(loss_fn=nn.functional.mse_loss, nbeta=10.0, gamma=10.0, step_size=1e-3, num_chains=3, num_draws=40,
          num_burnin=10, sampler="sgld", richardson=False, fluctuation_points=0, seed=5)


def quiet(model, data, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SLTWarning)
        return estimate_llc(model, data, **kw)


@pytest.mark.slow  # compiling the step takes tens of seconds on a CPU
def test_compiled_step_gives_the_numbers_of_the_eager_step():
    data = xor_data()
    eager = quiet(xor_mlp(seed=0), data, compile=False, **KW)
    compiled = quiet(xor_mlp(seed=0), data, compile=True, **KW)
    assert compiled.info["compile"].startswith("compiled") and eager.info["compile"].startswith("eager")
    np.testing.assert_allclose(compiled.loss_traces, eager.loss_traces, rtol=1e-9)
    assert compiled.mean == pytest.approx(eager.mean, rel=1e-8)


class GraphBreak(nn.Module):
    """A module torch.compile cannot capture whole (an explicit graph break); vmap runs it fine."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 1).double()

    def forward(self, x):
        torch._dynamo.graph_break()
        return self.lin(x)


def test_failed_compile_falls_back_to_eager_and_says_why():
    data, model = xor_data(), GraphBreak()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", SLTWarning)
        res = estimate_llc(model, data, compile=True, **KW)
    assert res.info["compile"].startswith("eager: torch.compile failed"), res.info["compile"]
    assert any("compile=True" in str(w.message) for w in seen)
    eager = quiet(model, data, compile=False, **KW)
    np.testing.assert_array_equal(res.loss_traces, eager.loss_traces)


def test_compile_option_values_and_rule():
    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_compile("auto", [cpu], True)[0] is False
    assert resolve_compile("auto", [cuda], True)[0] is True
    assert resolve_compile("auto", [cuda], False)[0] is False  # the loop over chains is never compiled
    assert resolve_compile(True, [cpu], True) == (True, "compile=True")
    with pytest.raises(ValueError, match="compile"):
        estimate_llc(xor_mlp(seed=0), xor_data(), compile="yes", **KW)
    with pytest.raises(ValueError, match="compile=True"):
        estimate_llc(xor_mlp(seed=0), xor_data(), compile=True, vectorize=False, **KW)
    res = quiet(xor_mlp(seed=0), xor_data(), **{**KW, "num_draws": 10})
    assert res.info["compile"] == "eager (compile='auto': eager on cpu)"
