"""The torch backend's kernels, for all chains at once: :data:`KERNELS` maps each sampler name of
the registry (:mod:`slt.samplers`) that this backend runs to its :class:`Kernel`.

A :class:`Kernel` is an init/step pair (BlackJAX style): ``init(group, W) -> (state, loss)`` and
``step(group, state, step_size, length) -> (state, loss)``, where ``group`` (a
:class:`slt.nn.groups.ChainGroup`) supplies the potential, the chains' random streams and
minibatches and the sampler's options record (``group.cfg.options``).  The stochastic-gradient
updates below are pure functions ``update(state, grad, noise, step_size, options) -> state`` of
``w``, a ``(chains, d)`` tensor of flattened parameters, ``grad`` the gradient of the *potential*

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
- ``"metric_sgld"``: SGLD with the run's frozen diagonal inverse metric G (``LLCConfig.inv_metric``,
  :mod:`slt.estimators.metric`): ``Δw = −(ε/2) G⊙∇U + sqrt(ε G)⊙N(0, 1)``.
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

import math
from typing import Any, Callable, NamedTuple

import torch

from slt.samplers import sghmc_friction

__all__ = ["KERNELS", "Kernel", "SGMCMCState", "MetropolisState", "hmc_step", "mala_step", "metric_factors"]

MIN_STEP_FACTOR = 1e-12  # the metric's smallest per-coordinate factor (as the numba kernel)


class SGMCMCState(NamedTuple):
    """State of a chain ensemble: positions ``w`` (chains, d); ``aux`` is the momentum (SGNHT,
    SGHMC) or the squared-gradient average (RMSprop SGLD), ``thermostat`` the SGNHT ξ (chains, 1)
    or SGHMC's last ∇U (chains, d), ``count`` the number of steps taken."""

    w: torch.Tensor
    aux: torch.Tensor | None = None
    thermostat: torch.Tensor | None = None
    count: int = 0


def _sgld(state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, opts: Any) -> SGMCMCState:
    w = state.w - 0.5 * step_size * grad + step_size**0.5 * noise
    return SGMCMCState(w, None, None, state.count + 1)


def _sgnht(state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, opts: Any) -> SGMCMCState:
    p, xi = state.aux, state.thermostat
    p = p - step_size * xi * p - step_size * grad + (2.0 * opts.diffusion * step_size) ** 0.5 * noise
    w = state.w + step_size * p
    xi = xi + step_size * ((p * p).mean(dim=1, keepdim=True) - 1.0)
    return SGMCMCState(w, p, xi, state.count + 1)


def _rmsprop_sgld(state: SGMCMCState, grad: torch.Tensor, noise: torch.Tensor, step_size: float, opts: Any
                  ) -> SGMCMCState:
    v = opts.alpha * state.aux + (1.0 - opts.alpha) * grad * grad
    precond = 1.0 / (opts.eps + v.sqrt())
    w = state.w - 0.5 * step_size * precond * grad + (step_size * precond).sqrt() * noise
    return SGMCMCState(w, v, None, state.count + 1)


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
    inv_metric: torch.Tensor | None = None,
) -> MetropolisState:
    """One Hamiltonian Monte Carlo trajectory of every chain (Duane et al. 1987; Neal 2011, §5.3).

    ``leapfrog`` steps of size h = √ε from momentum p (``momentum``, standard normal):
    p ← p − (h/2)∇U, then ``leapfrog`` times w ← w + h p, p ← p − h∇U (the last a half step),
    accepted when log u < U(w) + ‖p‖²/2 − U(w') − ‖p'‖²/2. ε is in SGLD's convention, so with
    ``leapfrog=1`` the proposal is w' = w − (ε/2)∇U(w) + √ε p and the acceptance is MALA's
    (Roberts & Tweedie 1996): this *is* MALA. Longer trajectories (time L√ε) cross a valley of
    curvature spread κ in ~√κ gradients instead of MALA's ~κ. ``potential(W) -> (U, ∇U, L)``
    per chain (full batch), ``uniform`` in (0, 1] of shape (chains,).  With a diagonal inverse
    metric G (``inv_metric``, (d,)) the momentum is p = ξ/√G ~ N(0, G⁻¹), positions move by
    h G⊙p and the kinetic energy is ½ Σ G_d p_d² (Neal 2011, §4.1).
    """
    h = step_size**0.5
    w, u_y, g_y, loss_y = state.w, state.u, state.grad, state.loss
    if inv_metric is not None:
        momentum = momentum / inv_metric.sqrt()
    p = momentum - 0.5 * h * g_y
    for i in range(leapfrog):
        w = w + h * (p if inv_metric is None else inv_metric * p)
        u_y, g_y, loss_y = potential(w)
        p = p - (h if i + 1 < leapfrog else 0.5 * h) * g_y
    if inv_metric is None:
        kinetic = momentum.square().sum(dim=1) - p.square().sum(dim=1)
    else:
        kinetic = (inv_metric * (momentum.square() - p.square())).sum(dim=1)
    log_alpha = state.u - u_y + 0.5 * kinetic
    acc = torch.log(uniform) < log_alpha  # NaN at the proposal rejects
    a = acc.unsqueeze(1)
    return MetropolisState(
        torch.where(a, w, state.w), torch.where(acc, u_y, state.u), torch.where(a, g_y, state.grad),
        torch.where(acc, loss_y, state.loss), state.accepted + acc.to(state.accepted.dtype),
        torch.nan_to_num(log_alpha, nan=-torch.inf).clamp(max=0.0).exp(),
    )


class Kernel(NamedTuple):
    """One sampler on the torch backend: ``init(group, W) -> (state, loss)`` and
    ``step(group, state, step_size, length) -> (state, loss)`` (loss: per chain, None before the
    first step of a stochastic-gradient kernel; ``length``: HMC's leapfrog steps this step)."""

    init: Callable[..., tuple[Any, torch.Tensor | None]]
    step: Callable[..., tuple[Any, torch.Tensor]]


def stochastic_gradient(update: Callable[..., SGMCMCState],
                        start: Callable[[torch.Tensor, Any], SGMCMCState] = lambda W, opts: SGMCMCState(W)) -> Kernel:
    """The :class:`Kernel` of a stochastic-gradient ``update`` (∇U on the group's next minibatch)."""

    def step(group, state: SGMCMCState, step_size: float, length: int):
        noise = group.streams.normal()
        _, grad_u, loss = group.potential(state.w, group.batches.next())
        return update(state, grad_u, noise, step_size, group.cfg.options), loss

    return Kernel(lambda group, W: (start(W, group.cfg.options), None), step)


def _metropolis_init(group, W: torch.Tensor) -> tuple[MetropolisState, torch.Tensor]:
    u, g, loss = group.potential(W)
    accepted = torch.zeros(W.shape[0], dtype=torch.int64, device=W.device)
    return MetropolisState(W, u, g, loss, accepted, None, None if group.factors is None else group.factors(W)), loss


def _mala(group, state: MetropolisState, step_size: float, length: int):
    noise, u = group.streams.normal(), group.streams.uniform()
    levels = group.cfg.options.step_levels
    level = (u[:, 1] * levels).to(torch.int64).clamp(max=levels - 1)
    out = mala_step(state, group.potential, group.factors, noise, 1.0 - u[:, 0], level, step_size)
    return out, out.loss


def _hmc(group, state: MetropolisState, step_size: float, length: int):
    noise, u = group.streams.normal(), group.streams.uniform()
    out = hmc_step(state, group.potential, noise, 1.0 - u[:, 0], step_size, length, group.inv_metric)
    return out, out.loss


def _metric_sgld(group, state: SGMCMCState, step_size: float, length: int):
    """Δw = −(ε/2) G⊙∇U + √(ε G)⊙ξ with the run's frozen diagonal G (``group.inv_metric``)."""
    noise = group.streams.normal()
    _, grad_u, loss = group.potential(state.w, group.batches.next())
    g = group.inv_metric
    if g is None:
        raise ValueError("sampler 'metric_sgld' runs with the metric the estimator sets (LLCConfig.inv_metric)")
    w = state.w - 0.5 * step_size * g * grad_u + (step_size * g).sqrt() * noise
    return SGMCMCState(w, None, None, state.count + 1), loss


def friction(opts: Any, gamma: float) -> float:
    """SGHMC's friction for the options record ``opts`` (:func:`slt.samplers.sghmc_friction`)."""
    return sghmc_friction(opts.friction, gamma)


def _sghmc_init(group, W: torch.Tensor) -> tuple[SGMCMCState, torch.Tensor]:
    """Velocities from their stationary law N(0, I); ∇U and the loss at W on the first minibatch."""
    _, grad_u, loss = group.potential(W, group.batches.next())
    return SGMCMCState(W, group.streams.normal(), grad_u, 0), loss


def _sghmc(group, state: SGMCMCState, step_size: float, length: int):
    """One BAOAB step at h = √ε: v ← v − (h/2)∇U, w ← w + (h/2)v, v ← c v + √(1 − c²) ξ with
    c = exp(−γ_f h), w ← w + (h/2)v, then ∇U at the new w (next minibatch), v ← v − (h/2)∇U."""
    h = step_size**0.5
    c = math.exp(-friction(group.cfg.options, group.cfg.gamma) * h)
    v = state.aux - 0.5 * h * state.thermostat
    w = state.w + 0.5 * h * v
    v = c * v + math.sqrt(1.0 - c * c) * group.streams.normal()
    w = w + 0.5 * h * v
    _, grad_u, loss = group.potential(w, group.batches.next())
    return SGMCMCState(w, v - 0.5 * h * grad_u, grad_u, state.count + 1), loss


KERNELS: dict[str, Kernel] = {
    "sgld": stochastic_gradient(_sgld),
    "mala": Kernel(_metropolis_init, _mala),
    "hmc": Kernel(_metropolis_init, _hmc),
    "sgnht": stochastic_gradient(_sgnht, lambda W, o: SGMCMCState(W, torch.zeros_like(W),
                                                                     torch.full_like(W[:, :1], o.diffusion), 0)),
    "rmsprop_sgld": stochastic_gradient(_rmsprop_sgld, lambda W, o: SGMCMCState(W, torch.zeros_like(W), None, 0)),
    "sghmc": Kernel(_sghmc_init, _sghmc),
    "metric_sgld": Kernel(lambda group, W: (SGMCMCState(W), None), _metric_sgld),
}
