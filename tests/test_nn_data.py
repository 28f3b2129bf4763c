import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

from slt.nn.data import xor_data


def test_xor_data():
    X, y = xor_data()
    assert X.shape == (4, 2) and y.shape == (4, 1) and X.dtype == torch.float64
    assert torch.equal(y[:, 0], (X[:, 0] != X[:, 1]).to(torch.float64))
    assert xor_data(torch.float32)[0].dtype == torch.float32


def test_fake_cifar_roundtrip(tmp_path, monkeypatch):
    import pickle

    from slt.nn.data import load_cifar10, write_fake_cifar10

    write_fake_cifar10(tmp_path, per_batch=6, seed=1)
    with (tmp_path / "data_batch_1").open("rb") as fh:
        raw = pickle.load(fh, encoding="bytes")
    X, y = load_cifar10(str(tmp_path))
    assert X.shape == (30, 3, 32, 32) and y.shape == (30,) and y.dtype == torch.int64
    assert y[:6].tolist() == raw[b"labels"]
    # pixel (channel 0, row 0, col 1) of image 0 is byte 1 of the row-major 3072 vector
    u = torch.tensor(raw[b"data"][:, 1], dtype=torch.float32) / 255
    col = X[:6, 0, 0, 1]
    assert torch.corrcoef(torch.stack([col, u]))[0, 1] > 0.9999
    assert load_cifar10(str(tmp_path), train=False)[0].shape == (6, 3, 32, 32)
    assert load_cifar10(str(tmp_path), limit=8)[0].shape[0] == 8
    monkeypatch.setenv("SLT_DATA", str(tmp_path))
    assert load_cifar10()[0].shape[0] == 30
    monkeypatch.delenv("SLT_DATA")
    with pytest.raises(FileNotFoundError, match="SLT_DATA"):
        load_cifar10()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10"):
        load_cifar10(str(tmp_path / "nowhere"))


def test_digits_and_dln_data():
    from slt.nn.data import dln_data, load_digits
    from slt.nn.models import dln_teacher

    X, y = load_digits()
    assert X.shape == (1797, 1, 8, 8) and set(y.tolist()) == set(range(10))
    assert abs(float(X.mean())) < 1e-5 and abs(float(X.std()) - 1) < 1e-3
    T = dln_teacher([5, 4, 3], 2, seed=0)
    prod = T[1].weight @ T[0].weight
    assert torch.linalg.matrix_rank(prod) == 2
    assert [int(torch.linalg.matrix_rank(layer.weight)) for layer in T] == [2, 2]  # every layer: deepest stratum
    # unit singular values: the teacher stays visible in n samples (n σ_min² ≫ 1)
    assert torch.allclose(torch.linalg.svdvals(prod.detach())[:2], torch.ones(2, dtype=prod.dtype))
    X, y = dln_data(T, 20000, noise=0.5, seed=0)
    resid = y - T(X).detach()
    assert abs(float(resid.std()) - 0.5) < 0.01
    with pytest.raises(ValueError, match="rank"):
        dln_teacher([3, 2, 3], 3)
