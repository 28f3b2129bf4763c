"""The estimator's diagnostics through the public door, both ways: a healthy run with the
defaults raises no warning at all; runs made sick on purpose (too few draws, a start at w* with
no burn-in) raise the warning that names their problem."""
from __future__ import annotations

import warnings

import pytest

from slt import potentials as P
from slt.errors import SLTWarning
from slt.estimators import estimate_llc

QUASI = P.sum_of_monomials([1, 2])  # x² + y⁴: λ = 3/4 exactly at any nβ (quasi-homogeneous)


def test_defaults_on_a_healthy_problem_raise_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = estimate_llc(QUASI, nbeta=1e3, seed=0)
    assert res.warnings == () and abs(res.mean - 0.75) < 4 * res.se


def test_too_few_draws_warn_about_the_effective_sample_size():
    with pytest.warns(SLTWarning) as rec:  # R-hat may complain too: 32 draws in all
        res = estimate_llc(QUASI, nbeta=1e3, seed=0, num_chains=4, num_draws=8)
    assert any(w.startswith("effective sample size") for w in res.warnings), res.warnings
    assert [str(w.message) for w in rec] == list(res.warnings)


def test_a_start_at_w_star_without_burn_in_warns_that_the_chains_still_move():
    """SGLD from w* with no burn-in and a small step: the chains still spread along the flat
    quartic valley while they record, which the distance trend and R-hat both see."""
    with pytest.warns(SLTWarning) as rec:
        res = estimate_llc(QUASI, nbeta=1e3, seed=0, sampler="sgld", step_size=3e-5, num_burnin=0, gamma=0.0,
                           richardson=False, num_chains=16, num_draws=500)
    assert [str(w.message) for w in rec] == list(res.warnings)
    assert any(w.startswith("distances ‖w − w*‖² still trend") for w in res.warnings), res.warnings
    assert any(w.startswith("R-hat") for w in res.warnings), res.warnings
