"""The ladder of ``bench_networks.py``: networks at w* with their exact LLC targets where one exists.

Three kinds of case, each a JSON-able spec turned into a :class:`Case` by :func:`build_case`:

- ``"quadratic"``: a restriction on which the loss is exactly quadratic, so the tempered,
  localized posterior is Gaussian and the target is a closed form (:func:`gaussian_llc`).
  ``model="dln_layer"``: one layer of a deep linear network (``f = A W B x`` is linear in W);
  ``model="readout"``: the last ``Linear`` of a tanh MLP whose hidden layers are frozen (a linear
  model on fixed features).  The data are y = teacher(x) + N(0, 1) with the Gaussian NLL
  ½‖f − y‖² (:func:`per_sample_loss` ``"nll"``), and w* is moved to the minimum of the restricted
  loss (the least-squares solution of minimum norm), so the gradient there is zero.  The exact
  Hessian H of L_n in the restricted coordinates comes from ``torch.func.hessian``; with
  eigenvalues h_k the target is nβ E[L − L(w*)] = ½ Σ_k nβ h_k / (nβ h_k + γ), and the condition
  number κ = (nβ h_max + γ)/γ is set through nβ.
- ``"dln"``: a whole deep linear network at its rank-r teacher (:func:`slt.nn.dln.dln_problem`,
  the data of ``benchmarks/accuracy_dln.py``); the reference is the estimator's exact value by HMC
  recorded in ``benchmarks/VALIDATION_EARLIER.md`` (:data:`DLN_HMC`), with its se.
- ``"transformer"``: a one-layer attention model trained here on a + b mod p (all p² pairs,
  seeded full-batch AdamW; weights cached under the output folder); no exact value.

Everything imported at module level is torch or the standard library: the peers' venvs import
this module (:func:`peer_problem`) to load a case that :func:`save_peer_problem` wrote.
"""
from __future__ import annotations

import copy
import fnmatch
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

# the estimator's exact value (HMC on the least-squares rows, n = 10⁴, nβ = n/log n, γ = 1, seed 0),
# as measured by dln_reference_llc and recorded in VALIDATION_EARLIER.md: (value, se)
DLN_HMC = {"4-3-4:1": (4.90, 0.14), "5-5-5-5:2": (9.79, 0.21), "6-6-6:3": (14.02, 0.26),
           "10-10-10-10:3": (36.43, 0.45), "20-20-20:5": (151.65, 1.16)}


@dataclass
class Case:
    """One rung: the model at w*, its data, the loss kind, the restriction and the target."""

    name: str
    kind: str
    model: nn.Module
    X: torch.Tensor
    y: torch.Tensor
    loss: str  # "nll" (½‖f − y‖²) or "ce"
    nbeta: float
    gamma: float
    restrict: str | None = None
    exact: float | None = None
    exact_se: float = 0.0
    facts: dict = field(default_factory=dict)


def per_sample_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Each sample's negative log-likelihood, shape (batch,): ½‖f(x) − y‖² or cross-entropy."""
    if kind == "ce":
        return nn.functional.cross_entropy(out, y.reshape(-1).long(), reduction="none")
    return 0.5 * (out - y).pow(2).reshape(out.shape[0], -1).sum(dim=1)


def mean_loss(kind: str, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The mean of :func:`per_sample_loss` (the loss every tool is given)."""
    return per_sample_loss(kind, out, y).mean()


# ---- exact Gaussian targets ----
def gaussian_llc(H: torch.Tensor, g: torch.Tensor, nbeta: float, gamma: float) -> float:
    """nβ E[L(w) − L(w*)] under p(w) ∝ exp(−nβ L(w) − (γ/2)‖w − w*‖²) for the quadratic
    L(w*+δ) = L(w*) + gᵀδ + ½ δᵀHδ: with A = nβH + γI and μ = −nβ A⁻¹g,
    nβ gᵀμ + ½ tr(nβ H A⁻¹) + ½ nβ μᵀHμ; for g = 0 it is ½ Σ_k nβ h_k/(nβ h_k + γ).

    >>> round(gaussian_llc(torch.eye(2), torch.zeros(2), 99.0, 1.0), 6)
    0.99
    """
    H, g = H.double(), g.double()
    A = nbeta * H + gamma * torch.eye(H.shape[0], dtype=H.dtype)
    mu = -nbeta * torch.linalg.solve(A, g)
    trace = torch.trace(torch.linalg.solve(A, nbeta * H))
    return float(nbeta * g @ mu + 0.5 * trace + 0.5 * nbeta * mu @ H @ mu)


def restricted_loss(model: nn.Module, X: torch.Tensor, y: torch.Tensor, kind: str, pattern: str):
    """(names, shapes, θ*, L) with L(θ) the full-data mean loss as a function of the flat vector of
    the parameters whose names match ``pattern``, the others held at their values."""
    params = dict(model.named_parameters())
    names = [k for k in params if fnmatch.fnmatchcase(k, pattern)]
    shapes = [params[k].shape for k in names]
    theta = torch.cat([params[k].detach().reshape(-1) for k in names])
    fixed = {k: v.detach() for k, v in params.items() if k not in names}

    def loss(flat: torch.Tensor) -> torch.Tensor:
        parts, i = {}, 0
        for k, s in zip(names, shapes):
            parts[k] = flat[i:i + s.numel()].reshape(s)
            i += s.numel()
        return mean_loss(kind, torch.func.functional_call(model, {**fixed, **parts}, (X,)), y)

    return names, shapes, theta, loss


def quadratic_target(model: nn.Module, X: torch.Tensor, y: torch.Tensor, pattern: str, nbeta: float,
                     gamma: float) -> dict:
    """Move the matching parameters of ``model`` (in place) to the minimum-norm minimiser of the
    restricted loss and return the exact target there with its facts: dimension, the Hessian's
    eigenvalues summary, κ, the gradient norm left, and the value at the old point."""
    names, shapes, theta, loss = restricted_loss(model, X, y, "nll", pattern)
    H = torch.func.hessian(loss)(theta)
    g = torch.func.grad(loss)(theta)
    at_start = gaussian_llc(H, g, nbeta, gamma)
    theta = theta - torch.linalg.pinv(H, hermitian=True) @ g  # exact: L is quadratic in θ
    with torch.no_grad():
        params, i = dict(model.named_parameters()), 0
        for k, s in zip(names, shapes):
            params[k].copy_(theta[i:i + s.numel()].reshape(s))
            i += s.numel()
    g = torch.func.grad(loss)(theta)
    h = torch.linalg.eigvalsh(H).clamp_min(0)
    exact = gaussian_llc(H, g, nbeta, gamma)
    return {"exact": exact, "closed_form": float(0.5 * (nbeta * h / (nbeta * h + gamma)).sum()),
            "dim": int(theta.numel()), "kappa": float((nbeta * h.max() + gamma) / gamma),
            "h_max": float(h.max()), "h_min": float(h.min()), "rank_H": int((h > 1e-10 * h.max()).sum()),
            "grad_norm_at_w_star": float(g.norm()), "exact_at_teacher": at_start}


# ---- models ----
def tanh_mlp(widths: list[int], seed: int) -> nn.Sequential:
    """``Linear``-tanh stack (no tanh after the last layer), float64, initialised under ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers = [m for a, b in zip(widths[:-1], widths[1:]) for m in (nn.Linear(a, b), nn.Tanh())]
        return nn.Sequential(*layers[:-1]).double()


class ModAdd(nn.Module):
    """a + b mod p: token and position embeddings, one ``nn.MultiheadAttention`` layer and an MLP
    with residuals, a read-out of the last position."""

    def __init__(self, p: int, d: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.emb = nn.Embedding(p, d)
        self.pos = nn.Parameter(torch.zeros(2, d))
        self.att = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
        self.out = nn.Linear(d, p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x) + self.pos
        a, _ = self.att(h, h, h, need_weights=False)
        h = h + a
        h = h + self.mlp(h)
        return self.out(h[:, -1])


def train_transformer(spec: dict, cache: Path) -> tuple[nn.Module, dict]:
    """The :class:`ModAdd` of ``spec`` trained full batch on all p² pairs from a seeded
    initialisation (AdamW, cosine decay), or loaded from ``cache`` when trained before."""
    p = spec["p"]
    X = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    y = (X[:, 0] + X[:, 1]) % p
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec["train_seed"])
        model = ModAdd(p, spec["d"], spec["heads"], spec["hidden"])
    if cache.exists():
        model.load_state_dict(torch.load(cache))
        return model.eval(), {"cached": str(cache)}
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=spec["wd"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, spec["steps"])
    for _ in range(spec["steps"]):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
        sched.step()
    cache.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), cache)
    return model.eval(), {"trained": spec["steps"]}


def frozen_except(model: nn.Module, pattern: str | None) -> nn.Module:
    """A copy of ``model`` whose parameters not matching ``pattern`` are buffers: the restricted
    model as a tool without a ``restrict=`` option sees it (only the matching ones are sampled)."""
    m = copy.deepcopy(model)
    if pattern is None:
        return m
    for mod_name, mod in m.named_modules():
        for name, p in list(mod._parameters.items()):
            full = f"{mod_name}.{name}" if mod_name else name
            if p is not None and not fnmatch.fnmatchcase(full, pattern):
                del mod._parameters[name]
                mod.register_buffer(name, p.detach().clone())
    return m


# ---- cases ----
def _quadratic(spec: dict) -> Case:
    from slt.nn.data import dln_data
    from slt.nn.models import dln_teacher

    if spec["model"] == "dln_layer":
        teacher = dln_teacher(spec["widths"], spec["rank"], seed=spec["seed"])
        pattern = f"{spec['layer']}.*"
    else:
        teacher = tanh_mlp(spec["widths"], spec["seed"])
        pattern = f"{len(teacher) - 1}.*"
    X, y = dln_data(teacher, spec["n"], seed=spec["seed"] + 1)
    facts = quadratic_target(teacher, X, y, pattern, spec["nbeta"], spec["gamma"])
    return Case(spec["name"], "quadratic", teacher.eval(), X, y, "nll", spec["nbeta"], spec["gamma"], pattern,
                facts["exact"], 0.0, facts)


def _dln(spec: dict) -> Case:
    from slt.estimators.core import default_nbeta
    from slt.nn.dln import dln_problem

    widths, rank = spec["widths"], spec["rank"]
    teacher, (X, y), lam = dln_problem(widths, rank, spec["n"], 1.0, spec["seed"])
    key = f"{'-'.join(map(str, widths))}:{rank}"
    exact, se = DLN_HMC.get(key, (None, 0.0)) if spec["seed"] == 0 and spec["n"] == 10_000 else (None, 0.0)
    dim = sum(p.numel() for p in teacher.parameters())
    return Case(spec["name"], "dln", teacher.eval(), X, y, "nll", default_nbeta(spec["n"]), spec["gamma"], None,
                exact, se, {"dim": dim, "lambda_aoyagi": lam, "reference": "HMC, VALIDATION_EARLIER.md" if exact else
                            "none at these settings"})


def _transformer(spec: dict, out: Path) -> Case:
    from slt.estimators.core import default_nbeta

    model, how = train_transformer(spec, out / f"transformer_{spec['name']}_seed{spec['train_seed']}.pt")
    p = spec["p"]
    X = torch.cartesian_prod(torch.arange(p), torch.arange(p))
    y = (X[:, 0] + X[:, 1]) % p
    with torch.no_grad():
        logits = model(X)
    facts = {"dim": sum(q.numel() for q in model.parameters()), "n": int(X.shape[0]),
             "train_loss": float(nn.functional.cross_entropy(logits, y)),
             "train_accuracy": float((logits.argmax(1) == y).float().mean()), **how}
    return Case(spec["name"], "transformer", model, X, y, "ce", default_nbeta(X.shape[0]), spec["gamma"], None,
                None, 0.0, facts)


def build_case(spec: dict, out: Path) -> Case:
    """The :class:`Case` of ``spec`` (``kind``: "quadratic", "dln" or "transformer")."""
    case = {"quadratic": _quadratic, "dln": _dln}.get(spec["kind"])
    c = case(spec) if case else _transformer(spec, out)
    c.facts.setdefault("n", int(c.X.shape[0]))
    c.facts.update(nbeta=c.nbeta, gamma=c.gamma, restrict=c.restrict)
    return c


def full_batch_loss(case: Case) -> float:
    """L_n(w*) over all n samples."""
    with torch.no_grad():
        return float(mean_loss(case.loss, case.model(case.X), case.y))


def save_peer_problem(case: Case, path: Path) -> str:
    """Write what a peer needs -- the model with only the sampled coordinates as parameters, the
    data, the loss kind -- to ``path``; return the path as a string."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": frozen_except(case.model, case.restrict), "X": case.X, "y": case.y, "loss": case.loss}, path)
    return str(path)


def peer_problem(s: dict) -> tuple:
    """Inside a peer's venv: (model, X, y, per-sample loss) from ``s["problem_file"]``."""
    import functools

    d = torch.load(s["problem_file"], weights_only=False)
    return d["model"], d["X"], d["y"], functools.partial(per_sample_loss, d["loss"])


def kappa_text(k: float | None) -> str:
    """κ as a power of ten for the table (``—`` when unknown)."""
    return "—" if k is None else f"{k:.1e}" if k >= 1000 else f"{k:.0f}"


# ---- the ladder ----
def _q(name: str, model: str, widths: list[int], nbeta: float, n: int, **kw) -> dict:
    return dict(name=name, kind="quadratic", model=model, widths=widths, nbeta=nbeta, n=n, gamma=1.0, seed=0, **kw)


CASES = {
    "full": [
        _q("dln5555-L1 nβ=1e2", "dln_layer", [5, 5, 5, 5], 100.0, 10_000, rank=2, layer=0),
        _q("dln5555-L1 nβ=n/log n", "dln_layer", [5, 5, 5, 5], 10_000 / math.log(10_000), 10_000, rank=2, layer=0),
        _q("dln5555-L1 nβ=1e5", "dln_layer", [5, 5, 5, 5], 1e5, 10_000, rank=2, layer=0),
        _q("tanh 8-32-32-4 read-out nβ=n/log n", "readout", [8, 32, 32, 4], 2000 / math.log(2000), 2000),
        _q("tanh 8-32-32-4 read-out nβ=3e4", "readout", [8, 32, 32, 4], 3e4, 2000),
        dict(name="dln 4-3-4:1", kind="dln", widths=[4, 3, 4], rank=1, n=10_000, seed=0, gamma=1.0),
        dict(name="dln 5-5-5-5:2", kind="dln", widths=[5, 5, 5, 5], rank=2, n=10_000, seed=0, gamma=1.0),
        dict(name="transformer", kind="transformer", p=23, d=32, heads=4, hidden=128, train_seed=0, steps=1500,
             lr=3e-3, wd=0.1, gamma=1.0),
    ],
    "quick": [
        _q("dln 3-2-3 L1", "dln_layer", [3, 2, 3], 50.0, 200, rank=1, layer=0),
        _q("tanh 3-4-2 read-out", "readout", [3, 4, 2], 5e3, 200),
        dict(name="dln 2-2-2:1", kind="dln", widths=[2, 2, 2], rank=1, n=200, seed=0, gamma=1.0),
        dict(name="transformer", kind="transformer", p=5, d=8, heads=2, hidden=8, train_seed=0, steps=30, lr=1e-2,
             wd=0.1, gamma=1.0),
    ],
}
