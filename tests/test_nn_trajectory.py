"""llc_trajectory as a sweep over checkpoints: restricted LLC of a tiny attention model, an
interrupted run resumed with identical numbers, changed checkpoints redone, Dask workers on a
store begun in process, and the ``llc_checkpoint`` task from a config."""
from __future__ import annotations

import json
import os
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
from torch import nn  # noqa: E402

from slt import sweeps  # noqa: E402
from slt.errors import SLTWarning  # noqa: E402
from slt.nn import estimate_llc, llc_trajectory  # noqa: E402
from slt.nn.trajectory import digest  # noqa: E402
from test_nn_attention import P, AttentionAdder as Adder  # noqa: E402  (the tiny attention model)

LLC = dict(nbeta=50.0, gamma=100.0, step_size=1e-3, sampler="sgld", richardson=False, num_chains=2, num_draws=30,
           num_burnin=20, fluctuation_points=0, progress=False)


@pytest.fixture(scope="module")
def adder():
    """Three checkpoints (steps 0, 30, 100 of Adam) of the attention model, and its data."""
    torch.manual_seed(0)
    X = torch.cartesian_prod(torch.arange(P), torch.arange(P))
    y = (X[:, 0] + X[:, 1]) % P
    model = Adder()
    opt = torch.optim.Adam(model.parameters(), lr=0.03)
    ckpts = []
    for step in range(101):
        if step in (0, 30, 100):
            ckpts.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    return Adder(), (X, y), ckpts


def quiet(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short chains: R-hat and ESS warnings
        return llc_trajectory(*args, **kwargs)


def test_restricted_trajectory_resumes_with_identical_numbers(adder, tmp_path):
    model, data, ckpts = adder
    kw = dict(loss_fn=nn.functional.cross_entropy, model=model, restrict="att.*", **LLC)
    first = quiet(ckpts[:1], data, out=tmp_path / "traj", **kw)  # "killed" after the first checkpoint
    stamp = sweeps.load(tmp_path / "traj").finished[0]
    full = quiet(ckpts, data, out=tmp_path / "traj", **kw)
    df = sweeps.load(tmp_path / "traj")
    assert full.keys == (0, 1, 2) and full.store == tmp_path / "traj"
    assert df.finished[0] == stamp and full.llc[0] == first.llc[0]  # read back, not rerun
    assert np.all(np.isfinite(full.llc)) and np.all(np.isfinite(full.se)) and np.all(full.se > 0)
    assert set(df.sampled) == {"att.in_proj_weight,att.in_proj_bias,att.out_proj.weight,att.out_proj.bias"}
    assert (df.dim == 4 * 8 * 8 + 4 * 8).all()  # the attention block only
    fresh = quiet(ckpts, data, **kw)  # uninterrupted, in a temporary store
    np.testing.assert_array_equal(fresh.llc, full.llc)
    np.testing.assert_array_equal(fresh.se, full.se)
    assert fresh.store is None
    unrestricted = quiet(ckpts[2:], data, **{**kw, "restrict": None})
    assert unrestricted.llc[0] != full.llc[2]


def test_changed_checkpoints_are_redone_and_changed_settings_refused(adder, tmp_path):
    model, data, ckpts = adder
    kw = dict(loss_fn=nn.functional.cross_entropy, model=model, restrict="out.*", **LLC)
    out = tmp_path / "traj"
    quiet({"a": ckpts[0], "b": ckpts[1]}, data, out=out, **kw)
    stamps = sweeps.load(out).set_index("checkpoint").finished
    swapped = quiet({"a": ckpts[0], "b": ckpts[2]}, data, out=out, **kw)  # "b" now holds another state
    after = sweeps.load(out).set_index("checkpoint").finished
    assert after["a"] == stamps["a"] and after["b"] != stamps["b"]
    assert swapped.llc[1] == quiet([ckpts[2]], data, **kw).llc[0]
    with pytest.raises(ValueError, match="use another out"):
        quiet({"a": ckpts[0]}, data, out=out, **{**kw, "nbeta": 60.0})
    with pytest.raises(ValueError, match="'x' is a state dict.*model="):
        quiet({"x": ckpts[0]}, data, out=tmp_path / "t2", **{**kw, "model": None})
    with pytest.raises(ValueError, match="checkpoint key"):
        quiet({(1, 2): ckpts[0]}, data, **kw)
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        quiet(ckpts[:1], data, out=tmp_path / "file", **kw)


def test_failed_checkpoint_is_named(tmp_path):
    data = (torch.randn(8, 3), torch.randn(8, 1))
    wrong = nn.Linear(3, 2).state_dict()  # does not fit the architecture
    with pytest.raises(RuntimeError, match=r"(?s)checkpoints \[1\].*size mismatch"):
        quiet([nn.Linear(3, 1).state_dict(), wrong], data, loss_fn=nn.functional.mse_loss, model=nn.Linear(3, 1),
              out=tmp_path / "t", **LLC)
    assert sweeps.load(tmp_path / "t").status.tolist() == ["ok", "error"]


def _sequential_problem():
    torch.manual_seed(1)
    data = (torch.randn(16, 3), torch.randn(16, 1))
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    ckpts = [{k: v + 0.1 * i for k, v in model.state_dict().items()} for i in range(3)]
    return data, model, ckpts


def test_saved_inputs_give_the_numbers_of_the_in_process_run(tmp_path):
    """scheduler="synchronous" runs in process but through the files the workers read."""
    data, model, ckpts = _sequential_problem()
    kw = dict(loss_fn=lambda out, y: ((out - y) ** 2).mean(), model=model, restrict="2.*", **LLC)
    out = tmp_path / "traj"
    first = quiet(ckpts[:1], data, out=out, **kw)
    assert not list((out / "inputs").glob("**/*.pt"))  # in process: nothing saved but the index
    full = quiet(ckpts, data, out=out, scheduler="synchronous", **kw)
    assert len(list((out / "inputs" / "checkpoints").glob("*.pt"))) == 3
    assert len(list((out / "inputs").glob("bundle-*.pt"))) == 1  # the lambda travels by value
    assert full.llc[0] == first.llc[0]
    np.testing.assert_array_equal(full.llc, quiet(ckpts, data, **kw).llc)


@pytest.mark.slow
def test_dask_workers_resume_a_store_begun_in_process(tmp_path):
    """In-memory checkpoints and inputs are saved under out for two worker processes; same numbers."""
    data, model, ckpts = _sequential_problem()
    kw = dict(loss_fn=nn.functional.mse_loss, model=model, restrict="2.*", **LLC)
    out = tmp_path / "traj"
    first = quiet(ckpts[:1], data, out=out, **kw)
    full = quiet(ckpts, data, out=out, workers=2, **kw)
    assert full.llc[0] == first.llc[0]
    np.testing.assert_array_equal(full.llc, quiet(ckpts, data, **kw).llc)
    workers = set(sweeps.load(out).worker)
    assert len(workers) >= 2 and f"{os.uname().nodename}:{os.getpid()}" in workers


def test_llc_checkpoint_task_from_factories(tmp_path):
    """The registered task as a config would call it: checkpoint files, factories by name."""
    from slt.nn.models import xor_mlp

    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"c{i}.pt"))
        torch.save(xor_mlp(2, seed=i).state_dict(), paths[-1])
    settings = {k: v for k, v in LLC.items() if k != "progress"}
    with pytest.warns(SLTWarning) as rec:  # untrained networks and 30 draws: the diagnostics complain
        out = sweeps.run("llc_checkpoint", {"checkpoint": paths}, out=tmp_path / "s", scheduler="synchronous",
                         progress=False, fixed={"model": "xor_mlp", "model_kwargs": {"hidden": 2}, "data": "xor_data",
                                                "restrict": "0.*", **settings})
    df = sweeps.load(out).sort_values("checkpoint")
    assert (df.status == "ok").all(), df.error.tolist()
    assert (df.dim == 6).all() and df.llc.iloc[0] != df.llc.iloc[1]
    # each row is the door's own estimate on that checkpoint, with its warnings recorded
    from slt.nn.data import xor_data
    from slt.nn.models import gaussian_nll
    from slt.nn.trajectory import load_checkpoint

    for row in df.itertuples():
        net = load_checkpoint(row.checkpoint, xor_mlp(2))
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always", SLTWarning)
            direct = estimate_llc(net, xor_data(), loss_fn=gaussian_nll, restrict="0.*", seed=int(row.seed), **settings)
        assert (row.llc, row.se, row.init_loss) == (direct.mean, direct.se, direct.init_loss)
        assert row.warnings == "\n".join(direct.warnings)
    assert sorted(str(w.message) for w in rec) == sorted("\n".join(df.warnings).splitlines())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["task"] == "llc_checkpoint"


def test_digest_sees_content_not_identity():
    a = {"w": torch.arange(3.0)}
    assert digest(a) == digest({"w": torch.arange(3.0)}) != digest({"w": torch.arange(3.0) + 1})
    assert digest(nn.functional.mse_loss) == digest(nn.functional.mse_loss) != digest(nn.functional.l1_loss)
