"""The figure runner, the figure scripts' interface and the plotting helpers (no long runs)."""
import ast
import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from slt import figures, plotting

FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"test_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(FIGURES.glob("fig_*.py")), ids=lambda p: p.stem)
def test_figure_scripts_follow_the_interface(path):
    tree = ast.parse(path.read_text())
    assert ast.get_docstring(tree), path.name
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), path.name
    quick = [n for n in tree.body if isinstance(n, ast.Assign) and any(getattr(t, "id", "") == "QUICK" for t in n.targets)]
    assert quick and isinstance(quick[0].value, ast.Constant) and isinstance(quick[0].value.value, bool), path.name
    text = path.read_text()
    assert '"--quick"' in text and '"--out"' in text, path.name
    assert 'set_ylabel("F_n")' not in text  # mathtext, not a literal underscore


def test_runner_prints_each_warning_once_and_lists_only_the_quick_set(tmp_path, monkeypatch, capsys):
    for name, quick in (("noisy", True), ("slow", False)):
        (tmp_path / f"fig_{name}.py").write_text(
            f'"""A test figure."""\nimport warnings\nQUICK = {quick}\n\n\ndef main(argv=None):\n'
            f'    for _ in range(5):\n        warnings.warn("not converged", UserWarning)\n    return 0\n')
    monkeypatch.setenv("SLT_FIGURES_DIR", str(tmp_path))
    assert figures.main(["--list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["noisy  (quick set)", "slow"]
    assert figures.main(["--quick", "--out", str(tmp_path / "out")]) == 0
    out, err = capsys.readouterr()
    assert "noisy: ok" in out and "slow" not in out  # only the quick set runs
    assert err.count("not converged") == 1 and "(x5)" in err


def test_heatmap_labels_axes_and_colourbar():
    plt = plotting.pyplot()
    fig, ax = plt.subplots()
    plotting.heatmap(ax, np.random.default_rng(0).random((4, 5)), [-1, 1, -1, 1], xlabel="x", ylabel="y",
                     cbar_label="density")
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("x", "y")
    assert fig.axes[1].get_ylabel() == "density"
    plotting.integer_ticks(ax.yaxis)
    ax.set_ylim(0, 2.5)
    ticks = [t for t in ax.get_yticks() if 0 <= t <= 2.5]
    assert all(float(t).is_integer() for t in ticks)
    plt.close(fig)


def test_llc_diagnostics_draws_few_lines_for_many_chains():
    rng = np.random.default_rng(0)
    traces = rng.gamma(1.0, 0.75, size=(64, 500))
    res = SimpleNamespace(llc_traces=traces, per_chain=traces.mean(1), mean=traces.mean(), se=0.01, exact=0.75,
                          rhat=1.0, ess=3e4, acceptance=0.9, warnings=())
    fig = plotting.llc_diagnostics(res, title="test", max_chains=8)
    assert len(fig.axes[0].lines) <= 8 + 2  # 8 chains' running means, all chains, the exact value
    plotting.pyplot().close(fig)


def test_nn_llc_marks_unconverged_estimates(tmp_path, monkeypatch):
    module = _module(FIGURES / "fig_nn_llc.py")
    res = dict(dln_exact=[6.0, 11.0], dln_llc=[5.0, 7.0], dln_se=[0.3, 0.5], dln_reference=[5.2, 9.8],
               dln_reference_se=[0.2, 0.3], dln_corrected=[5.8, 8.0], dln_corrected_se=[0.3, 0.5],
               dln_population=[5.9, 10.6], dln_population_se=[0.1, 0.2], dln_flagged=[True, False], dln_warnings=3,
               xor_epochs=[0, 1, 10, 100], xor_llc=[-40.0, -3.0, 0.5, 1.2], xor_se=[1.0, 0.5, 0.1, 0.1], xor_warnings=2,
               cnn_epochs=[0, 1, 2, 4], cnn_llc=[0.3, 2.0, 1.0, 4.0], cnn_se=[0.2, 0.5, 0.9, 0.4], cnn_warnings=0)
    figs = []
    save = plotting.save_figure

    def keep(fig, out, name, **kw):
        figs.append(fig)
        return save(fig, out, name, **kw)

    monkeypatch.setattr(plotting, "save_figure", keep)
    module.plot(res, tmp_path)
    assert (tmp_path / "nn_llc.png").exists()
    json.dumps({k: v for k, v in res.items()})  # the raw numbers stay JSON-able
    dln, xor, cnn = figs[0].axes
    # DLN: the flagged estimate is redrawn hollow, λ̂ and λ̂ + βν̂ alike, and the panel says how many warned
    hollow = [ln for ln in dln.lines if ln.get_markerfacecolor() == "white"]
    assert sorted(float(ln.get_ydata()[0]) for ln in hollow) == [5.0, 5.8] and all(len(ln.get_xdata()) == 1 for ln in hollow)
    assert texts(dln) == ["not converged: 3 diagnostics warnings over 6 estimates (hollow)"]
    # XOR: the negative estimates (no minimum yet) are their own hollow series; CNN: nothing to flag
    negative = [c for c in xor.containers if c.get_label() == "λ̂ < 0: not yet a minimum"]
    assert len(negative) == 1 and negative[0].lines[0].get_ydata().tolist() == [-40.0, -3.0]
    assert texts(xor) == ["not converged: 2 diagnostics warnings over 4 estimates"]
    assert texts(cnn) == [] and all(c.get_label() != "λ̂ < 0: not yet a minimum" for c in cnn.containers)


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]
