"""The backend contract: one conformance suite over every backend, the sampler registry, no cycles.

Every backend answers the same small problem (``Regression("w1*w2*x")``, 2 coordinates): every
required member and capability of :class:`slt.estimators.backend.Backend`, shapes, dtypes, seeds
(the same seed gives the same numbers, another seed other numbers) and values that the backends
must agree on (the loss, per-sample losses, Hessians).
"""
from __future__ import annotations

import ast
import math
import pathlib

import networkx as nx
import numpy as np
import pytest

from slt import samplers
from slt.estimators.backend import CAPABILITIES, REQUIRED, RunSpec, capabilities, check_backend
from slt.estimators.config import LLCConfig
from slt.estimators.llc import Request, estimate
from slt.estimators.numba_backend import NumbaBackend
from slt.models import Regression

NBETA, GAMMA = 50.0, 1.0
CENTER = np.array([0.3, -0.2])


@pytest.fixture(scope="module")
def toy() -> Regression:
    return Regression("w1*w2*x", n=64, seed=0)


def _numba(toy):
    return NumbaBackend(toy, NBETA), CENTER.copy()


def _torch(toy):
    pytest.importorskip("torch")
    from slt.nn.backend import TorchBackend
    from slt.nn.models import regression_module

    module, data, loss_fn = regression_module(toy)
    backend = TorchBackend(module, data, loss_fn, device="cpu")
    return backend, backend.point(CENTER)


BACKENDS = {"numba": _numba, "torch": _torch}


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def backend_and_center(request, toy):
    return BACKENDS[request.param](toy)


def _cfg(sampler: str, **kw) -> LLCConfig:
    base = dict(nbeta=NBETA, gamma=GAMMA, step_size=1e-3, num_chains=3, num_draws=10, num_burnin=0, thin=2,
                sampler=sampler, seed=0)
    if samplers.get(sampler).inv_metric == "hessian":  # a sampler that runs only with the estimator's metric
        base["inv_metric"] = np.array([1.0, 0.5])
    return LLCConfig(**{**base, **kw})


def test_required_members_and_capabilities(backend_and_center):
    backend, _ = backend_and_center
    check_backend(backend)
    for name in REQUIRED:
        assert hasattr(backend, name), name
    assert capabilities(backend) == frozenset(CAPABILITIES)
    assert (backend.dim, backend.n) == (2, 64)
    assert set(backend.samplers) <= set(samplers.estimator_samplers())
    assert isinstance(backend.name, str) and isinstance(backend.info(), dict) and "backend" in backend.info()
    backend.clear_notes()
    backend.note("a")
    backend.note("a")
    assert backend.notes() == ("a",)
    backend.clear_notes()
    assert backend.notes() == ()


def test_every_estimator_sampler_runs_somewhere():
    pytest.importorskip("torch")
    from slt.nn.backend import TorchBackend

    assert set(samplers.estimator_samplers()) == set(NumbaBackend.samplers) | set(TorchBackend.samplers)


def _pts(backend, arr: np.ndarray):
    """Points in the backend's own array type."""
    if type(backend).__name__ == "TorchBackend":
        import torch

        return torch.as_tensor(arr, dtype=torch.float64)
    return arr


def test_loss_and_per_sample_losses_agree_across_backends(toy):
    """Per-sample losses ℓ_i may drop a constant (only differences ℓ_i(w) − ℓ_i(w*) enter the
    estimator), so their mean is L_n up to that constant."""
    losses, per = {}, {}
    pts = np.array([CENTER, CENTER + 0.1])
    for name, make in BACKENDS.items():
        backend, _ = make(toy)
        losses[name] = np.array([backend.loss(_pts(backend, p)) for p in pts])
        per[name] = np.asarray(backend.per_sample_losses(_pts(backend, pts), np.arange(toy.n)))
        assert per[name].shape == (2, toy.n) and per[name].dtype == np.float64
        assert np.diff(per[name].mean(axis=1))[0] == pytest.approx(np.diff(losses[name])[0], rel=1e-10)
    np.testing.assert_allclose(losses["numba"], losses["torch"], rtol=1e-12)
    np.testing.assert_allclose(per["numba"][1] - per["numba"][0], per["torch"][1] - per["torch"][0], rtol=1e-10)


def test_start_shapes_and_seeds(backend_and_center):
    backend, center = backend_and_center
    init = np.asarray(backend.start(center, 5, NBETA, GAMMA))
    assert init.shape == (5, 2)
    a = np.asarray(backend.start(center, 5, NBETA, GAMMA, spread_seed=1))
    b = np.asarray(backend.start(center, 5, NBETA, GAMMA, spread_seed=1))
    c = np.asarray(backend.start(center, 5, NBETA, GAMMA, spread_seed=2))
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    spread = (a - np.asarray(center)).std()  # N(0, 1/(γ + nβ)) around the center
    assert 0.2 / math.sqrt(GAMMA + NBETA) < spread < 3 / math.sqrt(GAMMA + NBETA)


def test_run_shapes_dtypes_and_seeds(backend_and_center):
    backend, center = backend_and_center
    for sampler in backend.samplers:
        cfg = _cfg(sampler)
        spec = RunSpec(cfg, center)
        init = backend.start(center, cfg.num_chains, NBETA, GAMMA)
        one = backend.run(spec, init, num_steps=24, thin=2, seed=0, skip=4)
        two = backend.run(spec, init, num_steps=24, thin=2, seed=0, skip=4)
        other = backend.run(spec, init, num_steps=24, thin=2, seed=1, skip=4)
        assert one.loss_traces.shape == one.distance_traces.shape == (3, 10), sampler
        assert one.loss_traces.dtype == np.float64 and np.all(np.isfinite(one.loss_traces)), sampler
        assert np.asarray(one.positions).shape == (3, 2)
        assert np.array_equal(one.loss_traces, two.loss_traces), sampler
        assert not np.array_equal(one.loss_traces, other.loss_traces), sampler
        assert one.step_size == cfg.step_size
        if cfg.record.exact:
            assert 0.0 <= one.acceptance <= 1.0
        else:
            assert one.acceptance is None
        dist = one.distance_traces
        assert np.all(dist >= 0) and np.all(np.isfinite(dist)) and dist.max() > 0  # the chains moved


def test_probe_sees_every_due_draw(backend_and_center):
    from slt.estimators.backend import Probe

    backend, center = backend_and_center
    seen = []
    spec = RunSpec(_cfg("sgld"), center)
    backend.run(spec, backend.start(center, 3, NBETA, GAMMA), num_steps=20, thin=2, seed=0,
                probe=Probe(3, lambda pos, j: seen.append((j, np.asarray(pos).shape))))
    assert seen == [(0, (3, 2)), (3, (3, 2)), (6, (3, 2)), (9, (3, 2))]


def test_curvature_probes_agree_across_backends(toy):
    out = {}
    for name, make in BACKENDS.items():
        backend, center = make(toy)
        pts = _pts(backend, CENTER[None])
        spec = RunSpec(_cfg("mala", metric=0.5), center)
        acc = np.asarray(backend.mala_acceptance(_pts(backend, np.repeat(CENTER[None, None], 4, axis=1)), spec, seed=0))
        assert acc.shape == (1, 4) and np.all((0 <= acc) & (acc <= 1))
        out[name] = dict(hess=np.asarray(backend.hessians(pts)), top=backend.top_curvature(pts, seed=0),
                         factors=np.asarray(backend.step_factors(pts, spec)))
        assert out[name]["hess"].shape == (1, 2, 2) and out[name]["factors"].shape == (1, 2)
    np.testing.assert_allclose(out["numba"]["hess"], out["torch"]["hess"], rtol=1e-5, atol=1e-7)
    assert out["numba"]["top"] == pytest.approx(out["torch"]["top"], rel=1e-3)
    np.testing.assert_allclose(out["numba"]["factors"], out["torch"]["factors"], rtol=1e-4)


class _Incomplete:
    """A backend that lacks one required member: everything of a real one but ``name``."""

    def __init__(self, real, missing: str):
        self._real, self._missing = real, missing

    def __getattr__(self, name):
        if name == self._missing:
            raise AttributeError(name)
        return getattr(self._real, name)


@pytest.mark.parametrize("missing", REQUIRED)
def test_a_backend_without_a_required_member_is_refused(toy, missing):
    real, center = _numba(toy)
    stub = _Incomplete(real, missing)
    with pytest.raises(TypeError, match=missing):
        check_backend(stub)
    with pytest.raises(TypeError, match="not an estimator backend"):
        estimate(stub, center, Request(nbeta=NBETA, num_draws=10, num_chains=2, step_size=1e-3, num_burnin=0))


def test_a_backend_naming_an_unknown_sampler_is_refused(toy):
    real, _ = _numba(toy)

    class Odd(NumbaBackend):
        samplers = ("sgld", "nope")

    with pytest.raises(TypeError, match="nope"):
        check_backend(Odd(toy, NBETA))
    assert real.samplers == ("sgld", "mala", "sghmc")


def test_registry_records():
    for name, rec in samplers.SAMPLERS.items():
        assert rec.name == name and rec.options() is not None  # defaults construct
        if rec.exact:
            assert rec.estimator and rec.adapt_acceptance is not None
    with pytest.raises(ValueError, match="unknown sampler"):
        samplers.get("nuts")
    with pytest.raises(ValueError, match="no option"):
        samplers.options("sgld", leapfrog=3)
    with pytest.raises(ValueError, match="already registered"):
        samplers.register(samplers.get("sgld"))


def _import_graph() -> nx.DiGraph:
    """Every import inside slt (module level and inside functions) as module -> module edges."""
    root = pathlib.Path(samplers.__file__).parent
    mods = {}
    for p in root.rglob("*.py"):
        parts = ("slt",) + p.relative_to(root).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph = nx.DiGraph()
    for name, path in mods.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    graph.add_edge(name, t)
    return graph


def test_no_import_cycle_inside_slt():
    graph = _import_graph()
    assert graph.number_of_edges() > 100  # the graph was read
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, f"import cycles: {cycles[:5]}"


def test_the_cycle_test_sees_a_cycle():
    graph = _import_graph()
    graph.add_edge("slt.samplers", "slt.estimators.llc")  # llc imports samplers: a planted cycle
    assert list(nx.simple_cycles(graph))


def test_readme_layout_names_every_entry_of_slt():
    """The README's Layout block lists every module and package directly under slt/."""
    root = pathlib.Path(samplers.__file__).parent
    readme = (root.parent / "README.md").read_text()
    block = readme.split("## Layout", 1)[1].split("```", 2)[1]
    entries = sorted(p.name for p in root.iterdir()
                     if (p.suffix == ".py" and p.name != "__init__.py") or (p / "__init__.py").exists())
    missing = [e for e in entries if f"slt/{e}" + ("/" if not e.endswith(".py") else "") not in block]
    assert not missing, f"README Layout lacks {missing}"
