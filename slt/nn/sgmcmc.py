"""Stochastic-gradient MCMC kernels in torch, for all chains at once.

Every kernel follows the init/step pattern of DESIGN.md (BlackJAX style): ``init(w) -> state``
and ``step(state, grad, noise, step_size) -> state``, where ``w`` is a ``(chains, d)`` tensor of
flattened parameters, ``grad`` the gradient of the *potential*

    U(w) = nβ L_batch(w) + (γ/2) ‖w − w*‖²

at ``state.w`` (computed by the caller, so kernels know nothing about networks), and ``noise``
a standard normal tensor of the shape of ``w`` drawn by the caller from its own generator (so
vectorised and looped evaluations of the loss see identical randomness).

Kernels
-------
- ``"sgld"``: stochastic-gradient Langevin dynamics with localization (Welling & Teh 2011;
  Lau et al. 2023), ``Δw = −(ε/2) ∇U(w) + N(0, ε)``.
- ``"sgnht"``: stochastic-gradient Nosé–Hoover thermostat (Ding et al. 2014), momentum
  ``p`` and one thermostat ``ξ`` per chain:
  ``p ← p − ε ξ p − ε ∇U(w) + sqrt(2 a ε) N(0, 1)``, ``w ← w + ε p``,
  ``ξ ← ξ + ε (‖p‖²/d − 1)`` (``a`` the diffusion factor, ``ξ₀ = a``).
- ``"rmsprop_sgld"``: RMSprop-preconditioned SGLD (Li et al. 2016):
  ``V ← α V + (1 − α) g⊙g``, ``G = 1/(δ + sqrt(V))``, ``Δw = −(ε/2) G⊙∇U + sqrt(ε G)⊙N(0, 1)``
  with ``g = ∇U``, ``V₀ = 0`` (the small Γ correction term is dropped, as in the paper's
  experiments). ``δ`` (``eps``, default 1) is in units of ∇U, which includes the factor nβ, so
  directions whose gradient is below one unit of the potential get plain SGLD steps; a tiny δ
  would make the first steps from a minimum (where ∇U ≈ 0) explode.

MALA (:func:`mala_step`, with step levels and the per-coordinate metric, the same algorithm as
the numba kernel :func:`slt.sampling.kernels.mala_step`) and HMC (:func:`hmc_step`) are not
stochastic-gradient kernels: they need the full-batch U and ∇U, so they take a ``potential``
callable instead of a gradient.  They are exact (no step-size bias).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from slt.estimators.tuning import StepAdapter

__all__ = ["SAMPLERS", "SGMCMCState", "MetropolisState", "StepAdapter", "init", "step", "hmc_step", "mala_step"]

MIN_STEP_FACTOR = 1e-12  # the metric's smallest per-coordinate factor (as the numba kernel)


class SGMCMCState(NamedTuple):
    """State of a chain ensemble: positions ``w`` (chains, d); ``aux`` is the momentum (SGNHT)
    or the squared-gradient average (RMSprop SGLD), ``thermostat`` the SGNHT ξ (chains, 1),
    ``count`` the number of steps taken."""

    w: torch.Tensor
    aux: torch.Tensor | None = None
    thermostat: torch.Tensor | None = None
    count: int = 0


def _sgld(state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, **_) -> SGMCMCState:
    w = state.w - 0.5 * step_size * grad + step_size**0.5 * noise
    return SGMCMCState(w, None, None, state.count + 1)


def _sgnht(
    state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, *, diffusion: float = 0.01, **_
) -> SGMCMCState:
    p, xi = state.aux, state.thermostat
    p = p - step_size * xi * p - step_size * grad + (2.0 * diffusion * step_size) ** 0.5 * noise
    w = state.w + step_size * p
    xi = xi + step_size * ((p * p).mean(dim=1, keepdim=True) - 1.0)
    return SGMCMCState(w, p, xi, state.count + 1)


def _rmsprop_sgld(
    state: SGMCMCState,
    grad: torch.Tensor,
    noise: torch.Tensor,
    step_size: float,
    *,
    alpha: float = 0.99,
    eps: float = 1.0,
    **_,
) -> SGMCMCState:
    v = alpha * state.aux + (1.0 - alpha) * grad * grad
    precond = 1.0 / (eps + v.sqrt())
    w = state.w - 0.5 * step_size * precond * grad + (step_size * precond).sqrt() * noise
    return SGMCMCState(w, v, None, state.count + 1)


SAMPLERS = {"sgld": _sgld, "sgnht": _sgnht, "rmsprop_sgld": _rmsprop_sgld}


def init(sampler: str, w: torch.Tensor, *, diffusion: float = 0.01) -> SGMCMCState:
    """Initial state of ``sampler`` at positions ``w`` (chains, d)."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler={sampler!r}; expected one of {sorted(SAMPLERS)}")
    if sampler == "sgnht":
        return SGMCMCState(w, torch.zeros_like(w), torch.full_like(w[:, :1], diffusion), 0)
    if sampler == "rmsprop_sgld":
        return SGMCMCState(w, torch.zeros_like(w), None, 0)
    return SGMCMCState(w)


def step(
    sampler: str, state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, **options
) -> SGMCMCState:
    """One step of ``sampler`` given ∇U at ``state.w`` and standard normal ``noise``."""
    return SAMPLERS[sampler](state, grad, noise, step_size, **options)


class MetropolisState(NamedTuple):
    """Chains of an exact (Metropolis-adjusted) kernel: positions ``w`` (chains, d), potential ``u``
    (chains,), its gradient ``grad``, the loss ``loss`` (chains,) at ``w`` and the number of
    accepted proposals per chain."""

    w: torch.Tensor
    u: torch.Tensor
    grad: torch.Tensor
    loss: torch.Tensor
    accepted: torch.Tensor
    accept_prob: torch.Tensor | None = None  # min(1, α) of the last proposal, per chain
    factors: torch.Tensor | None = None  # MALA's per-coordinate step factors at ``w`` (metric on)


def metric_factors(hdiag: torch.Tensor, dt: float, nbeta: float, gamma: float, metric: float) -> torch.Tensor:
    """f_d = min(1, c/(dt |nβ ∂²L/∂w_d² + γ|)), at least MIN_STEP_FACTOR: MALA's per-coordinate
    step factors from the Hessian diagonal of L (c = ``metric`` > 0, dt = ε/2)."""
    curv = (nbeta * hdiag + gamma).abs() * dt
    return torch.where(curv > metric, (metric / curv).clamp(min=MIN_STEP_FACTOR), torch.ones_like(curv))


def mala_step(
    state: MetropolisState,
    potential,
    factors,
    noise: torch.Tensor,
    uniform: torch.Tensor,
    level: torch.Tensor,
    step_size: float,
) -> MetropolisState:
    """One MALA step of every chain (Roberts & Tweedie 1996) with step levels and a diagonal metric.

    dt = (ε/2)·4^(−k) with k = ``level`` (chains,), drawn independently of the state; f = the
    per-coordinate factors (``factors(W)``, None for isotropic steps, computed at the base dt);
    proposal y = x − dt f_x ∇U(x) + √(2 dt f_x) ξ, accepted when log u < −(U(y) − U(x)) +
    Σ_d [a_d²/f_x,d − b_d²/f_y,d]/(4dt) + ½ Σ_d log(f_x,d/f_y,d), with a = y − x + dt f_x ∇U(x),
    b = x − y + dt f_y ∇U(y) (Girolami & Calderhead 2011, a position-dependent diagonal metric;
    exact under the Metropolis step). ``potential(W) -> (U, ∇U, L)`` per chain (full batch).
    """
    x, gx = state.w, state.grad
    dt = (0.5 * step_size) * torch.pow(0.25, level.to(x.dtype)).unsqueeze(1)
    fx = state.factors if state.factors is not None else torch.ones_like(x)
    y = x - dt * fx * gx + (2.0 * dt * fx).sqrt() * noise
    u_y, g_y, loss_y = potential(y)
    fy = factors(y) if factors is not None else torch.ones_like(y)
    a = y - x + dt * fx * gx
    b = x - y + dt * fy * g_y
    log_q = ((a * a / fx - b * b / fy) / (4.0 * dt)).sum(dim=1)
    if factors is not None:
        log_q = log_q + 0.5 * torch.log(fx / fy).sum(dim=1)
    log_alpha = state.u - u_y + log_q
    acc = torch.log(uniform) < log_alpha
    m = acc.unsqueeze(1)
    return MetropolisState(
        torch.where(m, y, x), torch.where(acc, u_y, state.u), torch.where(m, g_y, gx),
        torch.where(acc, loss_y, state.loss), state.accepted + acc.to(state.accepted.dtype),
        torch.nan_to_num(log_alpha, nan=-torch.inf).clamp(max=0.0).exp(),
        None if factors is None else torch.where(m, fy, fx),
    )


def hmc_step(
    state: MetropolisState,
    potential,
    momentum: torch.Tensor,
    uniform: torch.Tensor,
    step_size: float,
    leapfrog: int = 1,
) -> MetropolisState:
    """One Hamiltonian Monte Carlo trajectory of every chain (Duane et al. 1987; Neal 2011, §5.3).

    ``leapfrog`` steps of size h = √ε from momentum p (``momentum``, standard normal):
    p ← p − (h/2)∇U, then ``leapfrog`` times w ← w + h p, p ← p − h∇U (the last a half step),
    accepted when log u < U(w) + ‖p‖²/2 − U(w') − ‖p'‖²/2. ε is in SGLD's convention, so with
    ``leapfrog=1`` the proposal is w' = w − (ε/2)∇U(w) + √ε p and the acceptance is MALA's
    (Roberts & Tweedie 1996): this *is* MALA. Longer trajectories (time L√ε) cross a valley of
    curvature spread κ in ~√κ gradients instead of MALA's ~κ. ``potential(W) -> (U, ∇U, L)``
    per chain (full batch), ``uniform`` in (0, 1] of shape (chains,).
    """
    h = step_size**0.5
    w, u_y, g_y, loss_y = state.w, state.u, state.grad, state.loss
    p = momentum - 0.5 * h * g_y
    for i in range(leapfrog):
        w = w + h * p
        u_y, g_y, loss_y = potential(w)
        p = p - (h if i + 1 < leapfrog else 0.5 * h) * g_y
    log_alpha = state.u - u_y + 0.5 * (momentum.square().sum(dim=1) - p.square().sum(dim=1))
    acc = torch.log(uniform) < log_alpha  # NaN at the proposal rejects
    a = acc.unsqueeze(1)
    return MetropolisState(
        torch.where(a, w, state.w), torch.where(acc, u_y, state.u), torch.where(a, g_y, state.grad),
        torch.where(acc, loss_y, state.loss), state.accepted + acc.to(state.accepted.dtype),
        torch.nan_to_num(log_alpha, nan=-torch.inf).clamp(max=0.0).exp(),
    )
