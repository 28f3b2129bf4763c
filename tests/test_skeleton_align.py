"""Activation matching of hidden units: eval mode (Dropout off, modes restored) and dead units said."""
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from slt.errors import SLTWarning  # noqa: E402
from slt.nn import skeleton as S  # noqa: E402


def _net(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Dropout(0.9), nn.Linear(12, 10), nn.Tanh(), nn.Dropout(0.9),
                         nn.Linear(10, 3)).double()


def test_activation_matching_ignores_dropout_and_restores_the_modes():
    """With Dropout in train mode the matching read random masks (a planted permutation was not found)."""
    net = _net().train()
    net[2].eval()  # a mixed state must come back as it was
    rng = np.random.default_rng(0)
    perms = [rng.permutation(12), rng.permutation(10)]
    planted = S.permute_units(net, perms)
    planted.train()
    X = torch.randn(100, 6, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SLTWarning)  # no unit is dead here: nothing to say
        found = S.match_units(net, planted, method="activations", X=X)
    assert all(np.array_equal(f, np.argsort(p)) for f, p in zip(found, perms))
    assert [m.training for m in net] == [True, True, False, True, True, True, True]
    assert all(m.training for m in planted)


def test_dead_units_are_listed_and_the_matching_says_so():
    net = _net(1).eval()
    with torch.no_grad():
        net[0].weight[[3, 7]] = 0.0  # two units of the first layer pruned whole: constant outputs
    other = S.permute_units(net, [np.random.default_rng(1).permutation(12), np.arange(10)])
    X = torch.randn(200, 6, dtype=torch.float64)
    assert [d.tolist() for d in S.dead_units(net, X)] == [[3, 7], []]
    with pytest.warns(SLTWarning, match="matched arbitrarily; layer 0: 2 in the reference, 2 in the model"):
        S.align(net, other, method="activations", X=X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SLTWarning)
        S.align(net, other, method="weights")  # weight matching has no such blind spot: silent
