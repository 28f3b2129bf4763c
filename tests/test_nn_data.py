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


def test_least_squares_rows_keep_loss_and_gradient_of_every_linear_network():
    from slt.nn.data import dln_data, least_squares_rows
    from slt.nn.models import deep_linear_network, dln_teacher, gaussian_nll

    T = dln_teacher([4, 3, 2], 1, seed=0)
    X, y = dln_data(T, 500, seed=1)
    Xc, yc = least_squares_rows(X, y)
    assert Xc.shape == (6, 4) and yc.shape == (6, 2)
    for seed in range(3):  # arbitrary networks, not only the teacher
        net = deep_linear_network([4, 3, 2], dtype=torch.float64)
        torch.manual_seed(seed)
        for layer in net:
            torch.nn.init.normal_(layer.weight)
        full = gaussian_nll(net(X), y)
        grads = torch.autograd.grad(full, list(net.parameters()))
        small = gaussian_nll(net(Xc), yc)
        assert abs(float(full - small)) < 1e-10 * float(full)
        for g, h in zip(grads, torch.autograd.grad(small, list(net.parameters()))):
            assert torch.allclose(g, h, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="d \\+ k"):
        least_squares_rows(X[:5], y[:5])


def test_dln_population_rows_give_the_population_loss():
    """mean over the rows of ½‖A x − y‖² = ½‖A − A₀‖²_F, which a large sample approaches."""
    from slt.nn.data import dln_data, dln_population_rows
    from slt.nn.models import deep_linear_network, dln_teacher, gaussian_nll

    T = dln_teacher([4, 3, 2], 1, seed=0)
    Xp, yp = dln_population_rows(T)
    assert Xp.shape == (4, 4) and yp.shape == (4, 2)
    A0 = (T[1].weight @ T[0].weight).detach()
    X, y = dln_data(T, 200_000, noise=0.0, seed=1)
    for seed in range(3):
        net = deep_linear_network([4, 3, 2], seed=seed)
        A = (net[1].weight @ net[0].weight).detach()
        pop = float(gaussian_nll(net(Xp), yp))
        assert pop == pytest.approx(0.5 * float(((A - A0) ** 2).sum()), rel=1e-12)
        assert float(gaussian_nll(net(X), y)) == pytest.approx(pop, rel=0.02)
