"""Random walks on intersecting lattices: builders, exact laws, the numba walker, errors."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import networkx as nx
import numba
import numpy as np
import pytest
from scipy import stats

from slt import lattices as Lt
from slt.errors import SLTWarning
from slt.lattices import exact as Lx
from slt.lattices import walk as Lw
from slt.sampling.rng import next_u64, stream_keys

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- builders
def test_intersecting_cycles_structure():
    k, L = 4, 6
    G = Lt.intersecting_cycles(k, L)
    assert G.number_of_nodes() == k * (L - 1) + 1 and G.number_of_edges() == k * L
    assert G.nodes[0]["junction"] and G.degree[0] == 2 * k
    assert all(G.degree[v] == 2 and not G.nodes[v]["junction"] for v in G if v != 0)
    assert nx.cycle_basis(G) and len(nx.cycle_basis(G)) == k
    assert Lt.intersecting_cycles(1, 5).degree[0] == 2


def test_glued_tori_counts_and_degrees():
    n = 5
    plane_line = Lt.glued_tori(n, [(0, 1), (2,)])  # a plane and a line through one point
    assert plane_line.number_of_nodes() == n * n + n - 1
    junctions = [v for v, j in plane_line.nodes(data="junction") if j]
    assert junctions == [(0, 0, 0)] and plane_line.degree[(0, 0, 0)] == 6
    planes = Lt.glued_tori(n, [(0, 1), (0, 2)])  # two planes meeting in the x axis
    assert planes.number_of_nodes() == 2 * n * n - n
    line = [v for v, j in planes.nodes(data="junction") if j]
    assert sorted(line) == [(x, 0, 0) for x in range(n)] and {planes.degree[v] for v in line} == {6}
    pi = Lt.stationary_distribution(planes)
    assert pi[(0, 0, 0)] / pi[(0, 1, 0)] == pytest.approx(1.5, rel=1e-12)
    T = Lt.torus((3, 4, 5))
    assert nx.is_isomorphic(T, nx.grid_graph((5, 4, 3), periodic=True))
    g = Lt.glued_tori(4, [(0, 1, 2), (3, 4, 5)], sparse=True)
    assert g.num_nodes == 2 * 64 - 1 and int(g.junction.sum()) == 1 and g.num_edges == 2 * 3 * 64


def test_zero_set_graph_cross_and_node():
    cross = Lt.zero_set_graph("x*y", num=21)
    assert cross.number_of_nodes() == 41
    junctions = [v for v, j in cross.nodes(data="junction") if j]
    assert junctions == [(10, 10)] and cross.degree[(10, 10)] == 4
    assert cross.nodes[(10, 10)]["coord"] == pytest.approx((0.0, 0.0), abs=1e-12)
    node = Lt.zero_set_graph(lambda x, y: y**2 - x**2 * (x + 1), box=(-1.5, 1.5), num=61)
    jc = np.array([node.nodes[v]["coord"] for v, j in node.nodes(data="junction") if j])
    assert jc.size and np.abs(jc).max() < 0.1  # branch points only at the singular point
    assert max(dict(node.degree).values()) <= 4 and nx.is_connected(node)


# ---------------------------------------------------------------- exact answers
def test_stationary_degree_formula_matches_sparse_solve():
    G = nx.karate_club_graph()  # has 'weight' edge attributes
    for weight in (None, "weight"):
        for lazy in (0.0, 0.3):
            a = Lt.stationary_vector(G, lazy=lazy, weight=weight, method="degree")
            b = Lt.stationary_vector(G, lazy=lazy, weight=weight, method="solve")
            np.testing.assert_allclose(a, b, rtol=1e-10)
    pi = Lt.stationary_distribution(G)
    assert pi[0] == pytest.approx(G.degree[0] / (2 * G.number_of_edges()), rel=1e-14)
    D = nx.DiGraph([(0, 1), (1, 2), (2, 0), (0, 2)])  # directed: only the solve applies
    p = Lt.stationary_vector(D)
    P = Lt.transition_matrix(D).toarray()
    np.testing.assert_allclose(p @ P, p, atol=1e-14)
    np.testing.assert_allclose(p, [0.4, 0.2, 0.4], rtol=1e-12)  # π0 = π2, π1 = π0/2


def test_expected_return_time_kac_against_hitting_time_solve():
    k, L = 3, 5
    G = Lt.intersecting_cycles(k, L)
    assert Lt.expected_return_time(G, 0) == pytest.approx(L)
    assert Lt.expected_return_time(G, 3) == pytest.approx(k * L)
    P = Lt.transition_matrix(G).toarray()
    for v in (0, 3):  # E_v[τ_v+] = 1 + Σ_u P(v,u) h(u), h(u) = E_u[hit v] from (I - P_-v) h = 1
        keep = [u for u in range(P.shape[0]) if u != v]
        h = np.zeros(P.shape[0])
        h[keep] = np.linalg.solve(np.eye(len(keep)) - P[np.ix_(keep, keep)], np.ones(len(keep)))
        assert 1 + P[v] @ h == pytest.approx(Lt.expected_return_time(G, v), rel=1e-12)


def test_spectral_gap_closed_forms():
    n = 9  # odd cycle: eigenvalues cos(2πj/n)
    r = Lt.spectral_gap(nx.cycle_graph(n))
    assert r.lambda2 == pytest.approx(math.cos(2 * math.pi / n), abs=1e-12)
    assert r.lambda_min == pytest.approx(math.cos(2 * math.pi * 4 / n), abs=1e-12)
    assert r.absolute_gap == pytest.approx(1 + r.lambda_min, abs=1e-12)
    assert r.mixing_time_lower <= r.mixing_time_upper
    K = Lt.spectral_gap(nx.complete_graph(6), lazy=0.5)  # eigenvalues 1 and -1/5, lazy: (1+λ)/2
    assert K.lambda2 == pytest.approx(0.4, abs=1e-12) and K.gap == pytest.approx(0.6, abs=1e-12)
    a, b = 45, 47  # > dense limit: Lanczos on the deflated operator; torus eigenvalues (cos+cos)/2
    T = Lt.glued_tori(0, [(0, 1)], shape=(a, b), sparse=True)
    r = Lt.spectral_gap(T)
    assert T.num_nodes > Lx.DENSE_MAX
    assert r.lambda2 == pytest.approx((1 + math.cos(2 * math.pi / b)) / 2, abs=1e-9)
    lmin = (math.cos(2 * math.pi * 22 / a) + math.cos(2 * math.pi * 23 / b)) / 2
    assert r.lambda_min == pytest.approx(lmin, abs=1e-9)


def test_spectral_gap_glued_tori_against_secular_equation(monkeypatch):
    small = Lt.glued_tori(7, [(0, 1, 2), (3, 4, 5)], sparse=True)  # 685 nodes: dense eigenvalues
    assert Lt.spectral_gap(small).lambda2 == pytest.approx(Lt.glued_tori_lambda2(7, 3), abs=1e-12)
    # two 9-cycles at a node: the killed cycle is a path of 8 nodes, top eigenvalue cos(π/9)
    assert Lt.glued_tori_lambda2(9, 1) == pytest.approx(math.cos(math.pi / 9), abs=1e-12)
    assert Lt.spectral_gap(Lt.glued_tori(9, [(0,), (1,)])).lambda2 == pytest.approx(math.cos(math.pi / 9), abs=1e-12)
    m = 11  # 2661 nodes: LOBPCG + AMG; odd side, so not bipartite and λ_min comes from Lanczos
    g = Lt.glued_tori(m, [(0, 1, 2), (3, 4, 5)], sparse=True)
    assert g.num_nodes > Lx.DENSE_MAX
    exact = Lt.glued_tori_lambda2(m, 3)
    torus_lambda2 = (2 + math.cos(2 * math.pi / m)) / 3
    assert 1 - exact < 0.1 * (1 - torus_lambda2)  # the junction bottleneck, not a torus mode
    r = Lt.spectral_gap(g, lazy=0.5)
    assert r.gap == pytest.approx(0.5 * (1 - exact), rel=1e-8) and not r.warnings
    s = Lt.spectral_gap(g)
    assert s.lambda2 == pytest.approx(exact, abs=1e-12)
    assert s.lambda_min == pytest.approx(math.cos(2 * math.pi * 5 / m), abs=1e-9)  # the torus minimum
    monkeypatch.setattr(Lx, "LOBPCG_MAXITER", 2)  # too few iterations for tol: a warning
    with pytest.warns(SLTWarning, match="LOBPCG stopped"):
        assert Lt.spectral_gap(g).warnings


def test_continuum_limit_ratio_survives_node_weight_vanishes():
    rows = Lt.continuum_limit(4, Ls=(10, 100, 1000), radius=0.1)
    for row in rows:
        assert row["ball_ratio"] == pytest.approx(4.0, rel=1e-12)
        assert row["junction_node"] == pytest.approx(1 / row["L"])
        assert row["node_share"] == pytest.approx(1 / (1 + 2 * row["steps"]))
    assert rows[-1]["junction_ball"] == pytest.approx(rows[-1]["continuum_junction_ball"], abs=2e-3)
    assert rows[-1]["regular_ball"] == pytest.approx(rows[-1]["continuum_regular_ball"], abs=1e-3)


# ---------------------------------------------------------------- the walker
@pytest.mark.parametrize("k", [1, 3])
def test_junction_ratio_equals_k_and_a_wrong_walker_fails(k):
    G = Lt.intersecting_cycles(k, 7)  # odd L: aperiodic
    res = Lt.simulate_walk(G, num_walkers=400, num_steps=4000, seed=3)
    est = Lt.visit_ratio(res, 0)
    assert est.covers(k) and est.stderr < 0.02 * k
    assert sum(res.visits.values()) == 400 * 4000
    # a walker picking neighbours wrongly (∝ the neighbour's degree): same estimator, CI misses k
    nx.set_edge_attributes(G, {(u, v): G.degree[u] * G.degree[v] for u, v in G.edges}, "w")
    wrong = Lt.simulate_walk(G, num_walkers=400, num_steps=4000, seed=3, weight="w")
    west = Lt.visit_ratio(wrong, 0)
    pi = Lt.stationary_vector(G, weight="w")
    exact_wrong = pi[0] / ((1 - pi[0]) / (len(pi) - 1))
    assert west.covers(exact_wrong)
    if k > 1:
        assert not west.covers(k)


def test_neighbour_index_is_exactly_uniform():
    # deg = 3·2³⁰: ⌊x·deg / 2³²⌋ hits k ≡ 0 (mod 3) twice as often as the others unless the
    # 2³² mod deg = 2³⁰ low products are rejected (Lemire); with rejection k mod 3 is uniform
    deg = np.uint64(3 << 30)
    draws = [(s, np.uint64(next_u64(s)[1])) for s in stream_keys(5, 30_000)]
    exact = np.array([int(Lw.uniform_below(s, z, deg)[1]) % 3 for s, z in draws])
    assert stats.chisquare(np.bincount(exact, minlength=3)).pvalue > 1e-3
    naive = np.array([((int(z) >> 32) * int(deg) >> 32) % 3 for _, z in draws])
    assert stats.chisquare(np.bincount(naive, minlength=3)).pvalue < 1e-10


def test_one_lazy_step_from_a_hub():
    G = nx.star_graph(7)  # hub 0 with 7 leaves: hold with prob. 0.3, else each leaf 0.1
    res = Lt.simulate_walk(G, num_walkers=70_000, num_steps=1, lazy=0.3, start=0, seed=9)
    obs = np.bincount(res.final, minlength=8)
    assert stats.chisquare(obs, np.r_[0.3, np.full(7, 0.1)] * obs.sum()).pvalue > 1e-3
    assert stats.chisquare(obs, np.r_[0.33, np.full(7, 0.67 / 7)] * obs.sum()).pvalue < 1e-6


def test_karate_frequencies_match_degree_law_chi_square():
    G = nx.karate_club_graph()
    res = Lt.simulate_walk(G, num_walkers=20_000, num_steps=60, start=0, seed=5)
    pi = Lt.stationary_vector(G)
    obs = np.bincount(res.final, minlength=len(pi))  # one independent draw per walker
    assert stats.chisquare(obs, pi * obs.sum()).pvalue > 1e-3
    uniform = np.full(len(pi), obs.sum() / len(pi))
    assert stats.chisquare(obs, uniform).pvalue < 1e-10  # the wrong law is rejected
    freq = res.frequencies()  # all visits: close to π up to the burn-in from node 0
    assert np.abs(freq - pi).max() < 0.01


def test_lazy_walk_on_bipartite_graph_converges():
    G = Lt.intersecting_cycles(2, 6)  # even cycles: bipartite
    pi = Lt.stationary_vector(G)
    lazy = Lt.simulate_walk(G, num_walkers=10_000, num_steps=200, lazy=0.5, start=0, seed=7)
    obs = np.bincount(lazy.final, minlength=len(pi))
    assert stats.chisquare(obs, pi * obs.sum()).pvalue > 1e-3 and not lazy.warnings
    with pytest.warns(SLTWarning, match="lazy"):
        simple = Lt.simulate_walk(G, num_walkers=10_000, num_steps=200, start=0, seed=7)
    obs = np.bincount(simple.final, minlength=len(pi))
    assert obs[1] == 0 and obs[0] > 0  # after an even time only one colour class is occupied
    with pytest.warns(SLTWarning, match="bipartite"):
        assert Lt.spectral_gap(G).absolute_gap == pytest.approx(0.0, abs=1e-12)
    assert Lt.spectral_gap(G, lazy=0.5).absolute_gap > 0


def test_weighted_walk_matches_strength_law():
    G = nx.karate_club_graph()
    res = Lt.simulate_walk(G, num_walkers=20_000, num_steps=80, start=0, weight="weight", seed=11, track=[33, 5])
    assert [res.tracked[:, j].sum() for j in range(2)] == [res.visits[33], res.visits[5]]
    pi = Lt.stationary_vector(G, weight="weight")
    obs = np.bincount(res.final, minlength=len(pi))
    assert stats.chisquare(obs, pi * obs.sum()).pvalue > 1e-3
    assert stats.chisquare(obs, Lt.stationary_vector(G) * obs.sum()).pvalue < 1e-10


def test_reproducible_across_thread_counts():
    G = Lt.intersecting_cycles(3, 9)
    kw = dict(num_walkers=257, num_steps=300, lazy=0.2, burnin=10, seed=21)
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = Lt.simulate_walk(G, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        b = Lt.simulate_walk(G, **kw)
    finally:
        numba.set_num_threads(old)
    assert np.array_equal(a.counts, b.counts) and np.array_equal(a.tracked, b.tracked)
    assert np.array_equal(a.final, b.final)
    c = Lt.simulate_walk(G, **{**kw, "seed": 22})
    assert not np.array_equal(a.final, c.final)


# ---------------------------------------------------------------- bad input
def test_error_paths():
    with pytest.raises(ValueError, match="empty"):
        Lt.stationary_distribution(nx.Graph())
    with pytest.raises(ValueError, match="not connected"):
        Lt.simulate_walk(nx.disjoint_union(nx.cycle_graph(3), nx.cycle_graph(3)), num_walkers=2, num_steps=2)
    iso = nx.path_graph(3)
    iso.add_node(9)
    with pytest.raises(ValueError, match="disconnected: node 9"):
        Lt.stationary_distribution(iso)
    single = nx.Graph()
    single.add_node("a")
    with pytest.raises(ValueError, match="nothing to walk"):
        Lt.spectral_gap(single)
    with pytest.raises(ValueError, match="not strongly connected"):
        Lt.stationary_vector(nx.DiGraph([(0, 1), (1, 2), (2, 1)]))
    G = Lt.intersecting_cycles(2, 5)
    for kw, pat in [({"lazy": 1.0}, "lazy"), ({"lazy": -0.1}, "lazy"), ({"num_walkers": 0}, "num_walkers"),
                    ({"num_steps": 1.5}, "num_steps"), ({"burnin": -1}, "burnin"), ({"start": 99}, "node 99"),
                    ({"track": ["x"]}, "node 'x'"), ({"track": [1, 1]}, "twice")]:
        args = {"num_walkers": 2, "num_steps": 3, **kw}
        with pytest.raises(ValueError, match=pat):
            Lt.simulate_walk(G, **args)
    for args in [(0, 5), (2, 2), (1.5, 5)]:
        with pytest.raises(ValueError, match="must be an int"):
            Lt.intersecting_cycles(*args)
    with pytest.raises(ValueError, match="torus shape"):
        Lt.torus((2, 5))
    with pytest.raises(ValueError, match="components"):
        Lt.glued_tori(5, [])
    with pytest.raises(ValueError, match="side n >= 3"):
        Lt.glued_tori_lambda2(2, 3)
    with pytest.raises(ValueError, match="weights"):
        Lt.to_csr(nx.Graph([(0, 1, {"w": -1.0})]), "w")
    with pytest.raises(ValueError, match="multigraph"):
        Lt.to_csr(nx.MultiGraph([(0, 1), (0, 1)]))
    with pytest.raises(ValueError, match="method"):
        Lt.stationary_vector(G, method="eig")
    with pytest.raises(ValueError, match="undirected"):
        Lt.spectral_gap(nx.DiGraph([(0, 1), (1, 0)]))
    with pytest.raises(ValueError, match="eps"):
        Lt.spectral_gap(G, eps=0.7)
    with pytest.raises(ValueError, match="radius"):
        Lt.ball_masses(3, 10, 0.6)
    with pytest.raises(ValueError, match="too small"):
        Lt.ball_masses(3, 5, 0.45)
    with pytest.raises(ValueError, match="box"):
        Lt.zero_set_graph("x*y", box=(1, 0))
    res = Lt.simulate_walk(G, num_walkers=3, num_steps=5, seed=0)
    with pytest.raises(ValueError, match="not tracked"):
        Lt.visit_ratio(res, 1)
    with pytest.raises(ValueError, match="tracks no node"):
        Lt.visit_ratio(Lt.simulate_walk(G, num_walkers=3, num_steps=5, seed=0, track=[]))
    with pytest.raises(ValueError, match="num_walkers >= 2"):
        Lt.visit_ratio(Lt.simulate_walk(G, num_walkers=1, num_steps=5, seed=0))


# ---------------------------------------------------------------- scripts
def _load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("script", ["simulations/lattice_walk.py", "paper_figures/fig_lattice_walk.py"])
def test_scripts_quick(script, tmp_path):
    mod = _load(ROOT / script)
    assert mod.main(["--quick", "--out", str(tmp_path)]) == 0
    assert any(tmp_path.glob("*.json")) or any(tmp_path.glob("*.npz"))
