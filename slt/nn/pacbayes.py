"""PAC-Bayes on torch networks: a Gaussian stochastic network trained by minimising a bound,
a data-dependent prior, Monte Carlo risk certificates, and the Gaussian fit of a pushforward.

Q = N(μ, diag σ²) over a network's parameters, σ = softplus(ρ), against a prior
P = N(μ_P, σ_P² I).  Training minimises a differentiable PAC-Bayes objective of the bounded
cross-entropy ℓ = −log max(p_y, p_min) / log(1/p_min) ∈ [0, 1] of one network drawn from Q per
minibatch (reparametrisation), with r = (KL(Q‖P) + log(2√n/δ)) / (2n):

- ``"fquad"``:      (sqrt(ℓ + r) + sqrt(r))²   (Pérez-Ortiz, Rivasplata, Shawe-Taylor & Szepesvári 2021)
- ``"fclassic"``:   ℓ + sqrt(r)               (McAllester's bound; Pérez-Ortiz et al. 2021)
- ``"mcallester"``: the same as ``"fclassic"``; ``"bbb"``: ℓ + KL/n (Blundell et al. 2015).

The certificate (Dziugaite & Roy 2017; Pérez-Ortiz et al. 2021): draw m networks from Q, take
their mean 0-1 error on the n bound points, bound ê_Q by :func:`slt.pacbayes.mc_risk_bound`
and e_Q by :func:`slt.pacbayes.seeger_bound` (:func:`certify`).  The prior must not depend on
the bound points: a data-dependent prior is fitted on a disjoint part (:func:`fit_prior_mean`).
"""
from __future__ import annotations

import copy
import math
import numpy as np
import torch
from torch import nn
from torch.func import functional_call

from slt import pacbayes as pb
from slt.nn.data import as_tensors
from slt.nn.models import generator, train

__all__ = ["GaussianPosterior", "bounded_cross_entropy", "bound_objective", "train_posterior", "mc_error",
           "certify", "fit_prior_mean", "flat_parameters", "tempered_kl", "OBJECTIVES"]

OBJECTIVES = ("fquad", "fclassic", "mcallester", "bbb")


def flat_parameters(model: nn.Module) -> torch.Tensor:
    """The trainable parameters of ``model`` as one detached vector (``parameters()`` order)."""
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


class GaussianPosterior(nn.Module):
    """Q = N(μ, diag softplus(ρ)²) over the parameters of ``model`` (a copy is kept as the architecture).

    Parameters
    ----------
    model : the network; μ starts at ``mean`` (default: its current parameters).
    sigma : initial σ (scalar), e.g. the prior's.
    prior_mean : μ_P (default: ``mean``); prior_sigma : σ_P > 0.

    Example
    -------
    >>> q = GaussianPosterior(nn.Linear(2, 1), sigma=0.1, prior_sigma=0.1)
    >>> round(float(q.kl().detach()), 6)
    0.0
    """

    def __init__(self, model: nn.Module, *, sigma: float, prior_sigma: float, mean: torch.Tensor | None = None,
                 prior_mean: torch.Tensor | None = None):
        super().__init__()
        for name, v in (("sigma", sigma), ("prior_sigma", prior_sigma)):
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {v!r}")
        self.net = copy.deepcopy(model).eval()
        named = [(k, p) for k, p in self.net.named_parameters() if p.requires_grad]
        self.names = [k for k, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        mu = flat_parameters(self.net) if mean is None else torch.as_tensor(mean).detach().reshape(-1)
        if mu.numel() != sum(self.numels):
            raise ValueError(f"mean has {mu.numel()} entries, the model {sum(self.numels)} parameters")
        self.mu = nn.Parameter(mu.clone().to(next(self.net.parameters()).dtype))
        rho0 = math.log(math.expm1(sigma))  # softplus⁻¹(σ)
        self.rho = nn.Parameter(torch.full_like(self.mu, rho0))
        pm = self.mu.detach().clone() if prior_mean is None else torch.as_tensor(prior_mean).reshape(-1).to(self.mu)
        if pm.numel() != self.mu.numel():
            raise ValueError(f"prior_mean has {pm.numel()} entries, the model {self.mu.numel()} parameters")
        self.register_buffer("prior_mean", pm.detach().clone())
        self.prior_sigma = float(prior_sigma)

    @property
    def dim(self) -> int:
        return self.mu.numel()

    def sigma(self) -> torch.Tensor:
        return nn.functional.softplus(self.rho)

    def kl(self) -> torch.Tensor:
        """KL(Q‖P) = ½ Σ [σ²/σ_P² + (μ − μ_P)²/σ_P² − 1 + log(σ_P²/σ²)] (differentiable)."""
        v, vp = self.sigma() ** 2, self.prior_sigma ** 2
        return 0.5 * torch.sum(v / vp + (self.mu - self.prior_mean) ** 2 / vp - 1.0 - torch.log(v / vp))

    def sample(self, g: torch.Generator | None = None) -> torch.Tensor:
        """One parameter vector w = μ + σ ⊙ ε (differentiable in μ, ρ)."""
        eps = torch.randn(self.mu.shape, generator=g, dtype=self.mu.dtype, device=self.mu.device)
        return self.mu + self.sigma() * eps

    def forward(self, x: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
        """The network at parameters ``w`` (default: the mean μ)."""
        w = self.mu if w is None else w
        params = {k: t.view(s) for k, t, s in zip(self.names, w.split(self.numels), self.shapes)}
        return functional_call(self.net, params, (x,))


def bounded_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, *, pmin: float = 1e-4) -> torch.Tensor:
    """Mean of −log max(p_y, p_min) / log(1/p_min) ∈ [0, 1] (Dziugaite & Roy 2018; Pérez-Ortiz et al. 2021)."""
    if not (0.0 < pmin < 1.0):
        raise ValueError(f"pmin must lie in (0, 1), got {pmin!r}")
    logp = torch.log_softmax(logits, dim=-1).gather(-1, targets.reshape(-1, 1)).squeeze(-1)
    return (-torch.clamp(logp, min=math.log(pmin))).mean() / math.log(1.0 / pmin)


def bound_objective(name: str, loss: torch.Tensor, kl: torch.Tensor, n: int, delta: float) -> torch.Tensor:
    """A training objective from the empirical bounded loss and KL (see the module docstring)."""
    if name not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {name!r}")
    if name == "bbb":
        return loss + kl / n
    r = (kl + math.log(2.0 * math.sqrt(n) / delta)) / (2.0 * n)
    if name == "fquad":
        return (torch.sqrt(loss + r) + torch.sqrt(r)) ** 2
    return loss + torch.sqrt(r)


def train_posterior(q: GaussianPosterior, data, *, n_bound: int | None = None, objective: str = "fquad",
                    delta: float = 0.025, epochs: int = 20, lr: float = 1e-3, momentum: float = 0.95,
                    batch_size: int = 128, pmin: float = 1e-4, seed: int | None = 0,
                    progress: bool = False) -> list[float]:
    """Minimise ``objective`` over (μ, ρ) by SGD with momentum, one draw of Q per minibatch.

    ``n_bound`` is the n in the objective (default: the number of points in ``data``).
    Returns the mean objective of every epoch.  Reference: Pérez-Ortiz et al. (2021), §5.
    """
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if epochs < 0 or batch_size < 1:
        raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {epochs!r}, {batch_size!r}")
    X, y = as_tensors(data)
    n = X.shape[0]
    nb = n if n_bound is None else int(n_bound)
    opt = torch.optim.SGD([q.mu, q.rho], lr=lr, momentum=momentum)
    g = generator(seed)
    from tqdm.auto import trange

    history = []
    for _ in trange(epochs, disable=not progress, desc="PAC-Bayes training"):
        order, total = torch.randperm(n, generator=g), 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            loss = bounded_cross_entropy(q(X[idx], q.sample(g)), y[idx], pmin=pmin)
            obj = bound_objective(objective, loss, q.kl(), nb, delta)
            opt.zero_grad(set_to_none=True)
            obj.backward()
            opt.step()
            total += float(obj.detach()) * idx.numel()
        history.append(total / n)
    return history


@torch.no_grad()
def mc_error(q: GaussianPosterior, data, *, num_samples: int = 1000, seed: int | None = 1,
             deterministic: bool = False) -> float:
    """Mean 0-1 error over ``num_samples`` networks drawn from Q, each on all of ``data``
    (Langford & Caruana 2001); ``deterministic=True`` gives the error of the mean network μ."""
    X, y = as_tensors(data)
    if deterministic:
        return float((q(X).argmax(-1) != y).double().mean())
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples!r}")
    g = generator(seed)
    errs = [float((q(X, q.sample(g)).argmax(-1) != y).double().mean()) for _ in range(num_samples)]
    return float(np.mean(errs))


def certify(q: GaussianPosterior, bound_data, *, num_samples: int = 1000, delta: float = 0.025,
            delta_mc: float = 0.01, grid_index: int | None = None, grid: pb.PriorGrid = pb.PriorGrid(),
            seed: int | None = 1) -> pb.Certificate:
    """Risk certificate of Q on the bound points (confidence 1 − δ − δ'): see :func:`slt.pacbayes.certificate`.

    ``grid_index`` j: the prior σ_P² was picked from ``grid`` (Dziugaite & Roy 2017), so the
    bound is taken at δ_j = 6δ/(π² j²) (the returned ``delta`` is δ_j).
    """
    n = as_tensors(bound_data)[0].shape[0]
    err = mc_error(q, bound_data, num_samples=num_samples, seed=seed)
    d = delta if grid_index is None else grid.delta(delta, grid_index)
    with torch.no_grad():  # the KL in float64, whatever the network's dtype
        kl = pb.gaussian_kl(q.mu.double().cpu().numpy(), nn.functional.softplus(q.rho.double()).cpu().numpy() ** 2,
                            q.prior_mean.double().cpu().numpy(), q.prior_sigma ** 2)
    return pb.certificate(err, num_samples, kl, n, delta=d, delta_mc=delta_mc)


def fit_prior_mean(model: nn.Module, prior_data, *, epochs: int = 100, lr: float = 1e-3, batch_size: int = 64,
                   seed: int | None = 0) -> torch.Tensor:
    """A data-dependent prior mean: ``model`` (copied) trained by Adam on cross-entropy on
    ``prior_data`` only — disjoint from the bound points (Pérez-Ortiz et al. 2021, §5)."""
    m = copy.deepcopy(model)
    train(m, prior_data, loss_fn=nn.functional.cross_entropy, lr=lr, epochs=epochs, batch_size=batch_size, seed=seed)
    return flat_parameters(m)


def tempered_kl(model: nn.Module, data, *, loss_fn, betas, gamma: float = 1.0, seed: int | None = 0,
                **kwargs) -> pb.TemperedKL:
    """KL(Q‖φ) of a network's localized posterior Q ∝ exp(−n L_n(w)) N(w; w*, I/γ) through the bridge.

    KL = F_n − E_Q[n L_n] (docs/theory.md): F_n from :func:`slt.nn.free_energy` (thermodynamic
    integration over ``betas``, ending at β = 1) and E_Q[n L_n] = λ̂ + n L_n(w*) from
    :func:`slt.nn.estimate_llc` at nβ = n, with the same sampler settings ``kwargs``.

    Example: ``tempered_kl(net, (X, y), loss_fn=gaussian_nll, betas=np.geomspace(1e-4, 1, 10),
    gamma=5.0, step_size=0.01)``.
    """
    from slt.nn import estimate_llc, free_energy

    betas = np.asarray(betas, dtype=float)
    if betas.ndim != 1 or betas.size < 2 or not math.isclose(float(betas[-1]), 1.0):
        raise ValueError(f"betas must be an increasing grid ending at 1, got {betas.tolist()}")
    n = as_tensors(data)[0].shape[0]
    F, F_se = free_energy(model, data, loss_fn=loss_fn, betas=betas, gamma=gamma, seed=seed, **kwargs)
    res = estimate_llc(model, data, loss_fn=loss_fn, nbeta=float(n), gamma=gamma, seed=seed, **kwargs)
    mean = float(res.mean + n * res.init_loss)
    return pb.TemperedKL(value=float(F) - mean, se=math.hypot(F_se, res.se), nbeta=float(n), free_energy=float(F),
                         free_energy_se=float(F_se), mean_nL=mean, mean_nL_se=float(res.se),
                         step_rule="given" if kwargs.get("step_size") is not None else "slt.nn defaults")
