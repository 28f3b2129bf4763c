import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from slt.nn.data import xor_data
from slt.nn.models import train, xor_mlp


def test_xor_mlp_shape_and_params():
    m = xor_mlp()
    assert [type(l).__name__ for l in m] == ["Linear", "Tanh", "Linear"]
    assert sum(p.numel() for p in m.parameters()) == 9
    assert all(p.dtype == torch.float64 for p in m.parameters())
    assert sum(p.numel() for p in xor_mlp(5, "relu").parameters()) == 2 * 5 + 5 + 5 + 1


def test_xor_mlp_seed_reproducible():
    a, b, c = xor_mlp(seed=3), xor_mlp(seed=3), xor_mlp(seed=4)
    for pa, pb in zip(a.parameters(), b.parameters()):
        assert torch.equal(pa, pb)
    assert not all(torch.equal(pa, pc) for pa, pc in zip(a.parameters(), c.parameters()))


def test_train_solves_xor():
    X, y = xor_data()
    m = xor_mlp(seed=0)
    hist = train(m, (X, y), loss_fn=torch.nn.functional.mse_loss, lr=0.05, epochs=400, seed=0)
    assert len(hist) == 400
    assert hist[-1] < 1e-6 < hist[0]
    # the loss reported is the loss of the model that comes out (full batch, last step)
    final = float(torch.nn.functional.mse_loss(m(X), y))
    assert final < 1e-6


def test_train_errors():
    X, y = xor_data()
    m = xor_mlp(seed=0)
    mse = torch.nn.functional.mse_loss
    with pytest.raises(ValueError, match="activation"):
        xor_mlp(activation="nope")
    with pytest.raises(ValueError, match="optimizer"):
        train(m, (X, y), loss_fn=mse, lr=0.1, epochs=1, optimizer="lbfgs")
    with pytest.raises(ValueError, match="empty"):
        train(m, (X[:0], y[:0]), loss_fn=mse, lr=0.1, epochs=1)
    with pytest.raises(ValueError, match="scalar"):
        train(m, (X, y), loss_fn=lambda o, t: (o - t) ** 2, lr=0.1, epochs=1)


def test_small_cnn_and_checkpoints(tmp_path):
    from slt.nn.models import small_cnn, train_with_checkpoints

    m = small_cnn(1, 10, width=2, image_size=8, seed=0)
    assert m(torch.zeros(3, 1, 8, 8)).shape == (3, 10)
    X = torch.randn(32, 1, 8, 8)
    y = torch.randint(0, 10, (32,))
    ckpts, hist = train_with_checkpoints(m, (X, y), loss_fn=torch.nn.functional.cross_entropy, lr=0.01,
                                         epochs=3, checkpoint_epochs=[0, 3], out=tmp_path, seed=0)
    assert sorted(ckpts) == [0, 3] and len(hist) == 3
    assert (tmp_path / "epoch_0003.pt").exists()
    for k, v in torch.load(tmp_path / "epoch_0003.pt").items():
        assert torch.equal(v, m.state_dict()[k])
    with pytest.raises(ValueError, match="checkpoint_epochs"):
        train_with_checkpoints(m, (X, y), loss_fn=torch.nn.functional.cross_entropy, lr=0.01, epochs=2,
                               checkpoint_epochs=[5])


def test_dln_parameter_count():
    from slt.nn.models import deep_linear_network

    assert sum(p.numel() for p in deep_linear_network([5, 5, 5, 5]).parameters()) == 75
    with pytest.raises(ValueError, match="widths"):
        deep_linear_network([5])


def _run_script(rel, args, tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("script", root / rel)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--quick", "--out", str(tmp_path / rel), *args]) == 0


def test_scripts_quick(tmp_path):
    from slt.errors import SLTWarning

    with pytest.warns(SLTWarning):  # early checkpoints are no minimum, and quick chains are short
        _run_script("simulations/xor_llc.py", [], tmp_path)
    out = np.load(tmp_path / "simulations/xor_llc.py" / "xor_llc.npz")
    assert out["epochs"][0] == 0 and np.all(np.diff(out["epochs"]) > 0) and np.all(out["se"] > 0)
    assert out["loss"][-1] < out["loss"][0] and out["train_loss"][-1] < out["train_loss"][0]  # it trained


@pytest.mark.slow
def test_cifar_script_quick_on_fake_batches(tmp_path):
    """A minute: a CNN trained on fake CIFAR-10 batches, λ̂ at five checkpoints."""
    _run_script("simulations/cifar_llc.py", ["--fake"], tmp_path)
    assert (tmp_path / "simulations/cifar_llc.py" / "fake_llc.json").exists()


@pytest.mark.slow
def test_nn_llc_figure_quick(tmp_path):
    """Minutes even when quick (it is out of the quick set of figures)."""
    _run_script("paper_figures/fig_nn_llc.py", [], tmp_path)
    assert (tmp_path / "paper_figures/fig_nn_llc.py" / "nn_llc.png").exists()
