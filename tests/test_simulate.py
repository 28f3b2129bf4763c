"""The issue-2 simulation, figure runner and CLI, in quick mode."""
import json

import numpy as np
import pytest

from slt import cli, figures, potentials as P, sampling


def test_sgd_without_momentum_is_euler_maruyama():
    """v = −η∇V + sqrt(2Tη) ξ, x += v is the Langevin update: same seed, same numbers."""
    kw = dict(num_walkers=64, num_steps=200, step_size=1e-3, temperature=0.3, box=(-1, 1),
              periodic=True, seed=5, progress=False)
    V = P.normal_crossing([1, 1])
    a = sampling.run(V, "langevin", **kw)
    b = sampling.run(V, "sgd_momentum", momentum=0.0, **kw)
    assert np.array_equal(a.positions, b.positions)


def test_simulate_quick(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without --out it writes under ./slt_out/simulate/<potential> and says so
    assert cli.main(["simulate", "--quick", "--potential", "x2y2"]) == 0
    out = tmp_path / "slt_out" / "simulate" / "x2y2"
    assert f"wrote {out / 'mass_near_singular_point.json'}" in capsys.readouterr().out
    data = json.loads((out / "mass_near_singular_point.json").read_text())
    assert (out / "mass_near_singular_point.png").exists()
    for k, v in data["empirical"].items():  # every view agrees with the exact Gibbs mass
        se = np.array(data["empirical_se"][k])
        assert np.all(np.abs(np.array(v) - np.array(data["exact"])) < 5 * se + 0.01), k


def test_figure_runner_lists_and_runs(tmp_path, capsys):
    assert "singular_dynamics" in figures.discover()
    assert cli.main(["figures", "--list"]) == 0
    assert "singular_dynamics  (quick set)" in capsys.readouterr().out
    assert cli.main(["figures", "--quick", "--out", str(tmp_path), "lattice_walk"]) == 0
    assert (tmp_path / "lattice_walk.png").exists() and (tmp_path / "lattice_walk.npz").exists()
    assert cli.main(["figures", "no_such_figure"]) == 2


@pytest.mark.slow
def test_singular_dynamics_figure_quick(tmp_path):
    """The figure on top of compare_masses (which test_simulate_quick covers): densities, layout."""
    assert cli.main(["figures", "--quick", "--out", str(tmp_path), "singular_dynamics"]) == 0
    assert (tmp_path / "singular_dynamics.png").exists() and (tmp_path / "singular_dynamics.npz").exists()


def test_cli_usage(capsys):
    assert cli.main([]) == 0 and "commands" in capsys.readouterr().out
    assert cli.main(["frobnicate"]) == 2
