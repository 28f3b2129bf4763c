"""Result types of the estimators, the same from every backend (frozen dataclasses).

References
----------
Lau, Furman, Wang, Murfet & Wei (2023), *The local learning coefficient*, arXiv:2308.12108.
Watanabe (2009), *Algebraic Geometry and Statistical Learning Theory*, CUP, §6.3; Watanabe
(2010), *Asymptotic equivalence of Bayes cross validation and WAIC*, JMLR 11.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from slt.estimators.config import LLCConfig

__all__ = ["Fluctuation", "LLCResult", "FreeEnergyResult"]


@dataclass(frozen=True)
class Fluctuation:
    """The singular fluctuation ν(β) estimated from the draws, and the data term of λ̂.

    Over data sets the estimator has mean E[λ̂] = λ_β − β ν(β) + o(1), with λ_β its population
    value at nβ (→ λ as nβ → ∞): nβ (E_w[L_n] − L_n(w₀)) is nβ times the Gibbs training error,
    whose expectation is L(w₀) + (λ/β − ν(β))/n (Watanabe 2009, §6.3). A regular model has
    ν = d/2 = λ, so λ̂ sits about βλ low at β = 1/log n (11% at n = 10⁴, 7% at 10⁶), and
    exactly d/2 − βχ²_d/2 for a linear-Gaussian one. ``corrected`` adds β ν̂ back.

    Attributes
    ----------
    nu : ν̂ = (β/2) V_n, V_n = Σ_i Var_w[ℓ_i(w)] the functional variance of WAIC (Watanabe 2010),
        over ``points`` of the ``n`` samples (scaled by n/points).
    se : its standard error (spread of the chains' own estimates, plus the subsample's share).
    beta : β = nβ/n.
    points, n : samples used, and the data set's size.
    """

    nu: float
    se: float
    beta: float
    points: int
    n: int

    @property
    def correction(self) -> float:
        """β ν̂, the expected data term that :attr:`LLCResult.corrected` adds back."""
        return self.beta * self.nu



@dataclass(frozen=True)
class LLCResult:
    """A local learning coefficient estimate with its traces and diagnostics.

    Attributes
    ----------
    mean : λ̂ = nβ (E[L] − L(w*)), averaged over chains and draws.
    std : standard deviation of the per-chain estimates.
    se : Monte Carlo standard error of ``mean``: nβ · sd(L) / sqrt(ESS_mean).
    per_chain : (chains,) λ̂ of each chain.
    loss_traces : (chains, draws) recorded losses L(w) after burn-in.
    init_loss : L(w*).
    config : the :class:`LLCConfig` used.
    rhat, ess : split R-hat and bulk ESS of the loss traces.
    acceptance : mean MALA acceptance rate (for SGLD: that of a MALA step of the same size
        started from the recorded draws, an estimate of the discretization error), or None.
    exact : the value the estimator converges to (e.g. exact tempered expectation), if known.
    warnings : diagnostic messages (also emitted once as :class:`slt.errors.SLTWarning`).
    fluctuation : the singular fluctuation ν̂ and the data term β ν̂ (:class:`Fluctuation`), when
        per-sample losses were recorded; :attr:`corrected` is then λ̂ + β ν̂.
    per_sample : (n,) per-sample LLCs λ̂_i = nβ (E_w[ℓ_i(w)] − ℓ_i(w*)) when asked
        (``per_sample=True``), or (n, seq) per-token LLCs of a sequence model
        (``per_sample="token"``, the torch door); their mean is λ̂ (up to minibatch noise in
        the traces).
    """

    mean: float
    std: float
    se: float
    per_chain: np.ndarray
    loss_traces: np.ndarray
    init_loss: float
    config: LLCConfig
    rhat: float
    ess: float
    acceptance: float | None = None
    exact: float | None = None
    warnings: tuple[str, ...] = ()
    info: dict = field(default_factory=dict, compare=False, repr=False)
    fluctuation: Fluctuation | None = None
    per_sample: np.ndarray | None = field(default=None, compare=False, repr=False)

    @property
    def nbeta(self) -> float:
        return self.config.nbeta

    @property
    def gamma(self) -> float:
        return self.config.gamma

    @property
    def llc_traces(self) -> np.ndarray:
        """(chains, draws) per-draw values nβ (L(w) − L(w*))."""
        return self.config.nbeta * (self.loss_traces - self.init_loss)

    def to_inference_data(self):
        """Loss and per-draw LLC traces as an ArviZ ``InferenceData`` (posterior group)."""
        import arviz as az

        return az.from_dict(posterior={"loss": self.loss_traces, "llc": self.llc_traces},
                            attrs={"init_loss": self.init_loss, "nbeta": self.nbeta, "gamma": self.gamma})

    @property
    def corrected(self) -> float | None:
        """λ̂ + β ν̂: the estimate with its expected data term added back (see :class:`Fluctuation`)."""
        return None if self.fluctuation is None else self.mean + self.fluctuation.correction

    @property
    def corrected_se(self) -> float | None:
        """se of :attr:`corrected`: √(se² + (β se_ν)²)."""
        f = self.fluctuation
        return None if f is None else math.hypot(self.se, f.beta * f.se)

    def with_exact(self, exact: float | None) -> "LLCResult":
        """A copy with ``exact`` filled in."""
        return replace(self, exact=None if exact is None else float(exact))

    def summary(self) -> str:
        """One line: estimate and se, exact value and diagnostics."""
        s = f"λ̂ = {self.mean:.4f} ± {self.se:.4f} (std over chains {self.std:.4f})"
        if self.exact is not None:
            s += f", exact {self.exact:.4f}"
        s += f", R-hat {self.rhat:.3f}, ESS {self.ess:.0f}"
        if self.acceptance is not None:
            s += f", acceptance {self.acceptance:.2f}"
        if self.fluctuation is not None:
            s += (f"; ν̂ = {self.fluctuation.nu:.4f} ± {self.fluctuation.se:.4f}, "
                  f"λ̂ + βν̂ = {self.corrected:.4f} ± {self.corrected_se:.4f}")
        return s



@dataclass(frozen=True)
class FreeEnergyResult:
    """F_n (or WBIC) with its standard error and the β grid it came from, from every backend.

    Attributes
    ----------
    value, se : the estimate and its Monte Carlo standard error.
    n : sample size.
    betas, mean_nL, se_nL : the β grid and E_β[n L] and its se there (one point for WBIC).
    method : "ti" or "wbic".
    n_loss_at_center : n L(w₀), the leading term of F_n.
    """

    value: float
    se: float
    n: float
    betas: np.ndarray
    mean_nL: np.ndarray
    se_nL: np.ndarray
    method: str
    n_loss_at_center: float

    def __iter__(self):
        """``value, se = result`` unpacks like a pair."""
        return iter((self.value, self.se))
