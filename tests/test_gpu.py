"""The torch bridge on a CUDA device (skipped without one): device placement, no host-device
syncs inside the sampling loop, reproducibility with a seed, multi-chain memory scaling."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.gpu

DEVICE = "cuda"


@pytest.fixture(scope="module")
def bench():
    """benchmarks/bench_gpu.py: its problems, timing and sync counter are what is tested here."""
    from test_bench_gpu import load_bench

    return load_bench()


@pytest.fixture(scope="module")
def dln(bench):
    """A deep linear network of 750k float32 parameters (widths 500-500-500-500) on the GPU."""
    return bench.build_problem("dln", dict(kind="dln", widths=(500,) * 4, rank=20, n=20_000, batch=500), DEVICE)


def run(bench, p, **kw):
    kw = {"chains": 4, "draws": 50, "step": 1e-6, **kw}
    return bench.run_bridge(p, DEVICE, **kw)


def test_device_placement(bench):
    """A CPU model and CPU data sampled on the GPU: the result says cuda, the model stays put."""
    from slt.nn import estimate_llc

    p = bench.build_problem("mlp", bench.PROBLEMS["quick"]["mlp"], "cpu")
    before = [q.detach().clone() for q in p.model.parameters()]
    res = estimate_llc(p.model, (p.X, p.y), loss_fn=bench.nll_loss, sampler="sgld", step_size=1e-4, num_chains=2,
                       num_draws=20, num_burnin=0, thin=1, richardson=False, fluctuation_points=0, device=DEVICE,
                       seed=0)
    assert str(res.info["device"]).startswith("cuda") and np.isfinite(res.mean)
    assert all(q.device.type == "cpu" and torch.equal(q, b) for q, b in zip(p.model.parameters(), before))
    gp = bench.build_problem("mlp", bench.PROBLEMS["quick"]["mlp"], DEVICE)  # everything on the GPU already
    assert bench.run_bridge(gp, DEVICE, chains=2, draws=20, step=1e-4)["device"].startswith("cuda")


def test_no_host_syncs_inside_the_sampling_loop(bench, dln):
    """Syncs per step (the set-up's cancel between 100 and 200 draws): the loop may check for
    divergence every ~100 steps, not synchronise at every step."""
    per_step = bench.syncs_per_step(dln, DEVICE, chains=4, draws=100, step=1e-6)
    assert per_step is not None and per_step <= 0.05, f"{per_step} host-device syncs per sampling step"
    _, n = bench.count_syncs(lambda: torch.ones(2, device=DEVICE).sum().item())
    assert n >= 1  # the counter sees a sync when there is one


def test_seed_reproducible_on_one_device(bench, dln):
    from slt.nn import estimate_llc

    kw = dict(loss_fn=bench.nll_loss, sampler="sgld", step_size=1e-6, num_chains=4, num_draws=50, num_burnin=10,
              thin=1, richardson=False, batch_size=500, fluctuation_points=0, device=DEVICE)
    a = estimate_llc(dln.model, (dln.X, dln.y), seed=3, **kw)
    b = estimate_llc(dln.model, (dln.X, dln.y), seed=3, **kw)
    c = estimate_llc(dln.model, (dln.X, dln.y), seed=4, **kw)
    assert np.array_equal(a.loss_traces, b.loss_traces) and a.mean == b.mean
    assert not np.array_equal(a.loss_traces, c.loss_traces)


def test_memory_scales_linearly_in_chains_and_not_with_draws(bench, dln):
    """Peak memory grows by about the same amount per chain (parameters, gradient, noise and
    the step's temporaries: a few copies of d floats, plus that chain's activations), and
    recording more draws adds only the traces."""
    peaks = {c: run(bench, dln, chains=c)["peak_gpu_bytes"] for c in (1, 2, 4, 8)}
    per_chain = [(peaks[b] - peaks[a]) / (b - a) for a, b in ((1, 2), (2, 4), (4, 8))]
    assert max(per_chain) < 2 * min(per_chain) and min(per_chain) > 0, peaks
    bytes_d = 4 * dln.dim
    activations = 4 * dln.batch_size * 500 * 4 * 8  # batch × width × layers, generously
    assert max(per_chain) < 16 * bytes_d + activations, (per_chain, bytes_d)
    short, long = (run(bench, dln, chains=4, draws=d)["peak_gpu_bytes"] for d in (100, 400))
    assert long - short < 4 * 2**20, (short, long)


def test_quick_benchmark_on_cuda(bench, tmp_path):
    assert bench.main(["--device", DEVICE, "--quick", "--out", str(tmp_path), "--sections", "throughput",
                       "--problems", "dln"]) == 0
    import json

    row = json.loads((tmp_path / "bench_gpu.json").read_text())["throughput"]["dln"]
    assert row["slt"]["device"].startswith("cuda") and row["slt_syncs_per_step"] is not None
