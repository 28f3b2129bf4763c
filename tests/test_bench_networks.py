"""benchmarks/bench_networks.py: the exact Gaussian targets against a direct numerical integral,
the common judge, the peers' problem files, and a --quick run (peers skipped) whose cells carry
the fields the table and the report read."""
from __future__ import annotations

import importlib
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::slt.errors.SLTWarning")

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def mods():
    return (importlib.import_module("benchmarks.networks_cases"), importlib.import_module("benchmarks.networks_tools"),
            importlib.import_module("benchmarks.bench_networks"))


def quadrature(loss, theta: torch.Tensor, nbeta: float, gamma: float, half: float = 6.0, k: int = 401) -> float:
    """nβ E[L − L(θ*)] under exp(−nβ (L − L(θ*)) − γ/2 ‖θ − θ*‖²) on a 2-D grid, L evaluated by the model."""
    u = torch.linspace(-half, half, k, dtype=torch.float64)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    L0 = loss(theta)
    d = nbeta * (torch.func.vmap(loss)(theta + grid) - L0)
    logw = -d - 0.5 * gamma * grid.pow(2).sum(1)
    w = torch.exp(logw - logw.max())
    return float((w * d).sum() / w.sum())


def test_exact_gaussian_matches_a_direct_integral(mods):
    """A 2-coordinate restriction (the first layer of a 2-1-1 deep linear network): the closed
    form, at the teacher (gradient ≠ 0) and at the restricted minimum, equals the integral."""
    cases, _, _ = mods
    from slt.nn.data import dln_data
    from slt.nn.models import dln_teacher

    model = dln_teacher([2, 1, 1], 1, seed=3)
    X, y = dln_data(model, 40, seed=4)
    nbeta, gamma = 5.0, 1.0
    *_, theta0, loss = cases.restricted_loss(model, X, y, "nll", "0.*")
    at_teacher = quadrature(loss, theta0.clone(), nbeta, gamma)
    facts = cases.quadratic_target(model, X, y, "0.*", nbeta, gamma)
    assert facts["dim"] == 2 and facts["grad_norm_at_w_star"] < 1e-10
    assert facts["exact_at_teacher"] == pytest.approx(at_teacher, rel=1e-6)
    *_, theta, loss = cases.restricted_loss(model, X, y, "nll", "0.*")
    assert not torch.allclose(theta, theta0)  # the layer moved to the restricted minimum
    assert facts["exact"] == pytest.approx(quadrature(loss, theta, nbeta, gamma), rel=1e-6)
    assert facts["exact"] == pytest.approx(facts["closed_form"], rel=1e-9)
    assert facts["kappa"] == pytest.approx((nbeta * facts["h_max"] + gamma) / gamma)


def test_judge_and_problem_files(mods, tmp_path):
    cases, tools, _ = mods
    rng = np.random.default_rng(0)
    iid = {"mean": 2.0, "loss_trace": 1.0 + 0.01 * rng.standard_normal((4, 400))}
    j = tools.judge(iid, nbeta=200.0, init_loss=0.99, exact=2.0, exact_se=0.0, rhat_max=1.05, rse_max=0.05)
    assert j["converged"] and j["rhat"] < 1.02 and j["llc_traces"] == pytest.approx(2.0, abs=0.1)
    assert j["se"] == pytest.approx(200 * 0.01 / math.sqrt(1600), rel=0.25) and j["z"] == 0.0
    apart = {"mean": 2.0, "loss_trace": iid["loss_trace"] + np.arange(4)[:, None] * 0.05}
    assert not tools.judge(apart, nbeta=200.0, init_loss=0.99, exact=None, exact_se=0.0, rhat_max=1.05,
                           rse_max=0.05)["converged"]
    bad = {"mean": 2.0, "loss_trace": np.full((2, 8), np.nan)}
    assert tools.judge(bad, nbeta=1.0, init_loss=0.0, exact=None, exact_se=0.0, rhat_max=1.05, rse_max=0.05)["diverged"]
    spec = cases.CASES["quick"][1]  # the read-out: peers see only the last layer as parameters
    case = cases.build_case(spec, tmp_path)
    model, X, y, loss = cases.peer_problem({"problem_file": cases.save_peer_problem(case, tmp_path / "p.pt")})
    assert [n for n, _ in model.named_parameters()] == ["2.weight", "2.bias"]
    with torch.no_grad():
        assert torch.equal(model(X), case.model(X)) and loss(model(X), y).mean() == pytest.approx(
            cases.full_batch_loss(case))
    assert "sgld" in tools.sampler_names()


def test_quick_run_cells_and_report(mods, tmp_path, capsys):
    _, _, bench = mods
    out = tmp_path / "networks"
    argv = ["--quick", "--out", str(out), "--samplers", "--budget-s", "20", "--cases", "dln 3-2-3 L1", "transformer"]
    assert bench.main(argv) == 0
    res = json.loads((out / "networks.json").read_text())
    assert set(res["cells"]) == {f"{case}|slt {tool}|{seed}" for tool in ("default", "old default")
                                 for case, seed in (("dln 3-2-3 L1", 0), ("transformer", 0), ("transformer", 1))}
    q = res["cases"]["dln 3-2-3 L1"]
    assert q["exact"] == pytest.approx(q["closed_form"]) and q["dim"] == 6 and q["kappa"] > 1
    assert res["cases"]["transformer"]["exact"] is None and res["cases"]["transformer"]["dim"] > 0
    for cell in res["cells"].values():
        assert cell["status"] and cell["runs"] and cell["seconds_total"] > 0 and len(cell["load_avg_1min"]) == 2
        last = cell["last"]
        assert {"llc", "se", "rhat", "rse", "converged", "draws", "seconds"} <= set(last), last
        assert math.isfinite(last["llc"]) and last["draws"] >= 16
        assert ("z" in last) == (cell["case"] != "transformer")
        assert (cell["time_to_converged"] is not None) == (cell["status"] == "converged")
    printed = capsys.readouterr().out
    assert "| dln 3-2-3 L1 |" in printed and "transformer, slt default: seeds 0 and 1" in printed
    keys = dict(res["cells"])
    assert bench.main(argv) == 0  # resume: nothing reruns
    assert json.loads((out / "networks.json").read_text())["cells"] == keys
    report = tmp_path / "VALIDATION.md"
    report.write_text("# Validation report\n\n## 4. DLN\n\nrows\n\nFigures measured at earlier stops ...\n")
    for _ in range(2):  # inserted once, then replaced in place
        bench.write_section(res, report)
    text = report.read_text()
    assert text.count(bench.SECTION) == 1 and text.index("## 4.") < text.index(bench.SECTION) < text.index("Figures")


def test_the_validation_report_keeps_the_sections_other_benchmarks_write():
    """benchmarks/validation.py rewrites sections 1-4 and keeps the rest (Networks, volumes) as they are."""
    validation = importlib.import_module("benchmarks.validation")
    text = ("# Validation report\n\n## 1. LLC\n\nold rows\n\n## 5. Networks\n\nnet rows\n\n## Volume\n\nvol rows\n\n"
            "Figures measured at earlier stops ...\n\n<!-- volume: begin -->\n## Marked\nrows\n<!-- volume: end -->\n")
    kept = validation.kept_sections(text)
    assert kept == ["## 5. Networks", "", "net rows", "", "## Volume", "", "vol rows", "",
                    "<!-- volume: begin -->", "## Marked", "rows", "<!-- volume: end -->", ""]


def test_a_marked_section_is_replaced_in_place_or_put_before_the_footer(tmp_path):
    sections = importlib.import_module("benchmarks.sections")
    report = tmp_path / "VALIDATION.md"
    report.write_text("# Validation report\n\n## 5. Networks\n\nrows\n\nFigures measured at earlier stops ...\n")
    sections.put_section(report, "influence", ["## Influence", "", "old"])
    sections.put_section(report, "influence", ["## Influence", "", "new"])
    text = report.read_text()
    assert text.count("## Influence") == 1 and "new" in text and "old" not in text
    assert text.index("<!-- influence: end -->") < text.index("Figures measured at earlier stops")
