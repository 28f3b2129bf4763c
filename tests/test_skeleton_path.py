"""The low-loss (Rashomon) path between two networks: slt.nn.landscape.low_loss_path and
slt.nn.skeleton.path_barrier beside the straight-line barrier."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt.nn import prune as P  # noqa: E402
from slt.nn import skeleton as S  # noqa: E402
from slt.nn.landscape import low_loss_path  # noqa: E402


class Ring(nn.Module):
    """Two parameters with loss (‖w‖² − 1)²: a circle of minima, a bump of height 1 at 0."""

    def __init__(self, angle: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([np.cos(angle), np.sin(angle)], dtype=torch.float64))

    def forward(self, x):
        return ((self.w**2).sum() - 1) ** 2 * torch.ones(x.shape[0], dtype=torch.float64)


def mean_output(out, y):
    return out.mean()


RING_DATA = (torch.zeros(4, 1, dtype=torch.float64), torch.zeros(4, dtype=torch.float64))


def test_ring_path_follows_the_valley_the_line_crosses_the_bump():
    a, b = Ring(2.5), Ring(-0.3)
    path = low_loss_path(a, b, RING_DATA, mean_output, num_points=17, steps=300, lr=1e-2)
    mid = np.cos(1.4) ** 2  # the chord's closest approach to 0 is cos(half the angle between the ends)
    assert path.linear_barrier == pytest.approx((mid - 1) ** 2, rel=1e-3)
    assert 0 <= path.barrier < 1e-3 and path.rise < 1e-3 and path.best_iteration > 0
    radii = np.linalg.norm(path.points, axis=1)
    assert np.all(np.abs(radii - 1) < 0.02)  # the images lie on the circle of minima
    np.testing.assert_array_equal(path.points[0], a.w.detach().numpy())
    np.testing.assert_array_equal(path.points[-1], b.w.detach().numpy())
    assert path.length == pytest.approx(2.8, rel=0.02)  # the arc, not the chord
    line = low_loss_path(a, b, RING_DATA, mean_output, num_points=17, steps=0)
    assert line.barrier == line.linear_barrier == path.linear_barrier and line.best_iteration == 0


@pytest.fixture(scope="module")
def skeletons():
    """Two small MLPs trained from different seeds on a digits subset, pruned at 0.05."""
    from slt.nn.data import load_digits
    from slt.nn.models import train

    X, y = load_digits()
    data = (X[:300], y[:300])
    nets = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        net = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 10))
        train(net, data, loss_fn=nn.functional.cross_entropy, lr=1e-2, epochs=40, batch_size=64, seed=seed)
        nets.append(P.magnitude_prune(net.eval(), threshold=0.05))
    return nets, data


def test_path_barrier_between_skeletons(skeletons):
    (a, b), data = skeletons
    aligned = S.align(a, b)
    for other in (b, aligned):
        path = S.path_barrier(a, other, data, num_points=9, steps=40, resolution=2)
        m = len(path.losses)
        assert m == 17 and np.all(np.isfinite(path.losses)) and path.barrier <= path.linear_barrier
        assert path.barrier < 0.5 * path.linear_barrier  # the string relaxed the straight line
        for end, model in ((0, a), (-1, other)):  # the endpoints are the skeletons, masks applied
            assert path.losses[end] == pytest.approx(P.evaluate(model, data)[1], rel=1e-5)
        line = S.loss_barrier(a, other, data, num=m)
        assert path.linear_barrier == pytest.approx(line.barrier, rel=1e-4, abs=1e-6)
        np.testing.assert_allclose(path.linear, line.losses, rtol=1e-5)
    assert S.loss_barrier(a, b, data).barrier > 0.05  # a real barrier on the straight line to relax


def test_path_arguments_are_checked(skeletons):
    (a, _), data = skeletons
    with pytest.raises(ValueError, match="num_points=2"):
        low_loss_path(Ring(0.0), Ring(1.0), RING_DATA, mean_output, num_points=2)
    with pytest.raises(ValueError, match="lr=0"):
        low_loss_path(Ring(0.0), Ring(1.0), RING_DATA, mean_output, lr=0)
    with pytest.raises(ValueError, match=r"target has shape \(3,\)"):
        low_loss_path(Ring(0.0), np.zeros(3), RING_DATA, mean_output)
    wider = nn.Sequential(nn.Flatten(), nn.Linear(64, 9), nn.ReLU(), nn.Linear(9, 10))
    with pytest.raises(ValueError, match="different parameters"):
        S.path_barrier(a, wider, data)
