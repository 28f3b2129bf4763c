"""Skeletons: L1 fine-tuning, magnitude pruning and out-of-distribution similarity.

The tools of the seed post "Finding Skeletons on Rashomon Ridge" (Udell, Park & NickyP 2022):
fine-tune a trained network with an L1 penalty, prune the small weights, and compare the
resulting "skeletons" by the cosine similarity of their predictions off distribution.

- :func:`l1_finetune`: minimise ``L(w) + α‖w_S‖₁`` over a chosen set ``S`` of parameters
  (weights by default), by the plain subgradient or by proximal gradient steps (soft
  thresholding, ISTA: Daubechies, Defrise & De Mol 2004; Beck & Teboulle 2009), which leave
  exact zeros.
- :func:`magnitude_prune`: a pruned copy through :mod:`torch.nn.utils.prune` (masks as
  ``*_mask`` buffers, the original as ``*_orig``; :func:`make_permanent` is ``prune.remove``).
- :func:`ood_similarity`: the (k, k) matrix of mean cosine similarities of the models'
  softmax (or logit) vectors on an input set.
- :func:`masks`, :func:`mask_overlap`, :func:`evaluate`, :func:`retention`: surviving weights,
  their Jaccard overlap, accuracy and loss retention.

Unit alignment (:func:`slt.nn.skeleton.align`), loss barriers and the SLT view of a skeleton (its
LLC restricted to the surviving weights, near-zero Hessian counts) live in :mod:`slt.nn.skeleton`,
which builds on this module.
"""

from __future__ import annotations

import copy
import fnmatch
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import prune as tprune

from slt.nn.data import as_tensors
from slt.nn.models import generator

__all__ = [
    "Include",
    "MaskOverlap",
    "Retention",
    "align",
    "clone",
    "density",
    "evaluate",
    "l1_finetune",
    "magnitude_prune",
    "make_permanent",
    "mask_overlap",
    "masks",
    "ood_similarity",
    "predict",
    "retention",
    "strength_schedule",
    "targets",
]

#: Which parameters a function acts on: ``"weights"`` (every parameter named ``weight`` with
#: ≥ 2 dimensions: Linear and convolution kernels, not norm-layer scales), ``"all"``, glob
#: patterns on the parameter names (``"0.weight"``, ``"*.bias"``), or a predicate
#: ``(name, tensor) -> bool``. Names are those of ``named_parameters()`` with a pruning
#: ``_orig`` suffix dropped.
Include = str | Sequence[str] | Callable[[str, torch.Tensor], bool]
def _selected(name: str, tensor: torch.Tensor, include: Include) -> bool:
    if callable(include):
        return bool(include(name, tensor))
    attr = name.rsplit(".", 1)[-1]
    if include == "weights":
        return attr == "weight" and tensor.ndim >= 2
    if include == "all":
        return True
    patterns = [include] if isinstance(include, str) else list(include)
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def targets(model: nn.Module, include: Include = "weights") -> list[tuple[str, nn.Module, str]]:
    """``(name, module, attribute)`` of every selected parameter, pruned or not (a pruned
    ``weight`` appears once, under ``weight``, though it is stored as ``weight_orig``)."""
    if not (callable(include) or isinstance(include, (str, list, tuple))):
        raise ValueError(f"include={include!r}; expected 'weights', 'all', glob patterns or a predicate")
    out = []
    for mod_name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            attr = pname[: -len("_orig")] if pname.endswith("_orig") and hasattr(module, f"{pname[:-5]}_mask") else pname
            name = f"{mod_name}.{attr}" if mod_name else attr
            if _selected(name, getattr(module, attr) if attr != pname else p, include):
                out.append((name, module, attr))
    return out


def clone(model: nn.Module) -> nn.Module:
    """``copy.deepcopy`` that also works on pruned modules: the cached ``weight = weight_orig ·
    weight_mask`` of a pruned module is a non-leaf tensor that deepcopy refuses, so it is first
    replaced by its detached value (the pruning hook recomputes it at every forward pass)."""
    detach_cached(model)
    return copy.deepcopy(model)


def detach_cached(model: nn.Module) -> None:
    """Detach the masked weights that ``torch.nn.utils.prune`` caches on ``model`` (so it can be copied)."""
    for module in model.modules():
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, tprune.BasePruningMethod):
                name = hook._tensor_name
                setattr(module, name, getattr(module, name).detach())


def _raw_parameter(module: nn.Module, attr: str) -> nn.Parameter:
    """The trainable tensor behind ``module.attr`` (``attr_orig`` when pruned)."""
    return getattr(module, f"{attr}_orig") if hasattr(module, f"{attr}_mask") else getattr(module, attr)


def magnitude_prune(
    model: nn.Module,
    *,
    threshold: float | None = None,
    fraction: float | None = None,
    scope: str = "layer",
    include: Include = "weights",
    permanent: bool = False,
) -> nn.Module:
    """A pruned copy of ``model``: the selected weights of smallest magnitude set to zero.

    With ``threshold``, every selected entry with ``|w| < threshold`` is pruned (the post's
    rule; layer and global scope coincide) through ``torch.nn.utils.prune.custom_from_mask``.
    With ``fraction`` the smallest ``fraction`` of the entries are pruned, in each tensor
    (``scope="layer"``, ``prune.l1_unstructured``) or over all selected tensors together
    (``scope="global"``, ``prune.global_unstructured`` with ``L1Unstructured``). Masks follow
    torch's conventions: ``weight_mask`` buffers, the values kept in ``weight_orig``, a
    forward pre-hook; pruning an already pruned copy multiplies the masks (a fraction then
    counts the entries still unpruned, as in torch). ``permanent=True`` applies
    :func:`make_permanent` (``prune.remove``: plain parameters with zeros).

    Parameters
    ----------
    model : the network (not modified).
    threshold, fraction : exactly one; ``threshold >= 0``, ``0 <= fraction <= 1``.
    scope : ``"layer"`` or ``"global"``.
    include : which parameters (see :data:`Include`; weights only by default, as the post).

    Examples
    --------
    >>> skeleton = magnitude_prune(model, threshold=0.05)           # doctest: +SKIP
    >>> density(skeleton)                                           # doctest: +SKIP
    """
    if (threshold is None) == (fraction is None):
        raise ValueError(f"threshold={threshold}, fraction={fraction}: give exactly one")
    if scope not in ("layer", "global"):
        raise ValueError(f"scope={scope!r}; expected 'layer' or 'global'")
    if threshold is not None and not threshold >= 0:
        raise ValueError(f"threshold={threshold}; must be >= 0")
    if fraction is not None and not 0 <= fraction <= 1:
        raise ValueError(f"fraction={fraction}; must be in [0, 1]")
    new = clone(model)
    chosen = targets(new, include)
    if not chosen:
        raise ValueError(f"include={include!r} selects no parameter of {type(model).__name__}")
    if threshold is not None:
        for _, module, attr in chosen:
            tprune.custom_from_mask(module, attr, mask=getattr(module, attr).detach().abs() >= threshold)
    elif scope == "layer":
        for _, module, attr in chosen:
            tprune.l1_unstructured(module, attr, amount=float(fraction))
    else:
        tprune.global_unstructured([(m, a) for _, m, a in chosen], pruning_method=tprune.L1Unstructured,
                                   amount=float(fraction))
    detach_cached(new)
    return make_permanent(new, copy_model=False) if permanent else new


def make_permanent(model: nn.Module, *, copy_model: bool = True) -> nn.Module:
    """A copy (or, with ``copy_model=False``, ``model`` itself) with every pruning made
    permanent by ``torch.nn.utils.prune.remove``: plain parameters holding the zeros."""
    new = clone(model) if copy_model else model
    for module in new.modules():
        for hook in list(module._forward_pre_hooks.values()):
            if isinstance(hook, tprune.BasePruningMethod):
                tprune.remove(module, hook._tensor_name)
    return new


def masks(model: nn.Module, include: Include = "weights") -> dict[str, torch.Tensor]:
    """Surviving entries of the selected parameters as boolean tensors: the pruning mask
    where there is one, else ``w != 0`` (exact zeros, as proximal L1 leaves them)."""
    out = {}
    for name, module, attr in targets(model, include):
        mask = getattr(module, f"{attr}_mask", None)
        out[name] = (mask != 0) if mask is not None else (getattr(module, attr).detach() != 0)
    return out


def density(model: nn.Module, include: Include = "weights") -> float:
    """Fraction of the selected entries that survive (see :func:`masks`)."""
    m = masks(model, include)
    total = sum(t.numel() for t in m.values())
    return float(sum(int(t.sum()) for t in m.values()) / max(total, 1))


@dataclass(frozen=True)
class MaskOverlap:
    """Jaccard overlap J = |A ∩ B| / |A ∪ B| of two sets of surviving weights.

    Attributes
    ----------
    per_tensor : name -> J of that tensor's masks
    total : J over all selected entries together
    expected_random : J expected of independent random masks of the same densities p, q,
        ``pq / (p + q − pq)`` (the no-shared-skeleton baseline)
    densities : (p, q)
    """

    per_tensor: dict[str, float]
    total: float
    expected_random: float
    densities: tuple[float, float]


def mask_overlap(a: nn.Module, b: nn.Module, include: Include = "weights") -> MaskOverlap:
    """Jaccard overlap of the surviving weights of two networks of one architecture.

    Hidden units are only defined up to permutation: align ``b`` to ``a`` first
    (:func:`slt.nn.skeleton.align`) to compare skeletons rather than unit labels.

    Examples
    --------
    >>> mask_overlap(skel1, align(skel1, skel2)).total          # doctest: +SKIP
    """
    ma, mb = masks(a, include), masks(b, include)
    if list(ma) != list(mb) or any(ma[k].shape != mb[k].shape for k in ma):
        raise ValueError(f"masks differ in names or shapes: {[(k, tuple(v.shape)) for k, v in ma.items()]} "
                         f"vs {[(k, tuple(v.shape)) for k, v in mb.items()]}")

    def jac(x: torch.Tensor, y: torch.Tensor) -> float:
        union = int((x | y).sum())
        return float(int((x & y).sum()) / union) if union else 1.0

    per = {k: jac(ma[k], mb[k]) for k in ma}
    total = jac(torch.cat([v.reshape(-1) for v in ma.values()]), torch.cat([v.reshape(-1) for v in mb.values()]))
    p, q = density(a, include), density(b, include)
    expected = p * q / (p + q - p * q) if p + q > 0 else 1.0
    return MaskOverlap(per, total, float(expected), (p, q))


def strength_schedule(strength: float, epochs: int, *, kind: str = "constant", warmup: int = 0) -> list[float]:
    """Per-epoch L1 strengths for :func:`l1_finetune`: ``"constant"`` α, ``"linear"`` a ramp
    from α/epochs up to α, ``"cosine"`` α (1 + cos(π e/epochs))/2 down towards 0; the first
    ``warmup`` epochs at 0 (a plain fine-tune before the penalty starts)."""
    if not strength >= 0:
        raise ValueError(f"strength={strength}; must be >= 0")
    if epochs < 0 or warmup < 0:
        raise ValueError(f"epochs={epochs}, warmup={warmup}; must be >= 0")
    if kind == "constant":
        vals = [strength] * epochs
    elif kind == "linear":
        vals = [strength * (e + 1) / epochs for e in range(epochs)]
    elif kind == "cosine":
        vals = [strength * 0.5 * (1 + math.cos(math.pi * e / epochs)) for e in range(epochs)]
    else:
        raise ValueError(f"kind={kind!r}; expected 'constant', 'linear' or 'cosine'")
    return [0.0] * warmup + vals


def _strengths(strength, epochs: int) -> list[float]:
    if callable(strength):
        vals = [float(strength(e)) for e in range(epochs)]
    elif isinstance(strength, (int, float)):
        vals = [float(strength)] * epochs
    else:
        vals = [float(s) for s in strength]
        if len(vals) != epochs:
            raise ValueError(f"strength has {len(vals)} entries; epochs={epochs}")
    bad = [s for s in vals if not s >= 0]
    if bad:
        raise ValueError(f"strength={bad[0]}; must be >= 0")
    return vals


def l1_finetune(
    model: nn.Module,
    data,
    *,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    strength: float | Sequence[float] | Callable[[int], float],
    epochs: int,
    proximal: bool = True,
    lr: float = 0.05,
    optimizer: str = "sgd",
    momentum: float = 0.0,
    batch_size: int | None = None,
    include: Include = "weights",
    seed: int | np.random.Generator | None = None,
    history: list | None = None,
    progress: bool = False,
) -> nn.Module:
    """A copy of ``model`` trained on ``L(w) + α‖w_S‖₁``, ``S`` the selected parameters.

    ``proximal=False``: the subgradient ``∇L + α sign(w)`` (sign(0) = 0) through the optimizer,
    as the seed post did; weights hover around zero but are rarely exactly zero.
    ``proximal=True``: an optimizer step on ``L`` alone, then the proximal map of ``ηα‖·‖₁``,
    the soft threshold ``w ← sign(w) max(|w| − ηα, 0)`` (ISTA; Beck & Teboulle 2009, SIAM J.
    Imaging Sci. 2, 183), which leaves exact zeros. With plain SGD (``momentum=0``) one full-batch
    step is exactly ``S_ηα(w − η∇L(w))``; with momentum or Adam the same threshold ηα is the
    usual heuristic (the zeros stay exact, the step is no longer a true proximal step).
    Pruning masks already on the model keep pruned entries at zero.

    Parameters
    ----------
    data : (X, y) tensors, Dataset or DataLoader
    loss_fn : ``loss_fn(outputs, targets) -> scalar`` mean loss (cross-entropy for classifiers)
    strength : α, a per-epoch list (e.g. :func:`strength_schedule`) or ``epoch -> α``
    epochs : passes over the data
    lr, optimizer, momentum : η, ``"sgd"`` or ``"adam"``, SGD momentum
    batch_size : minibatch size (None: full batch); shuffled with ``seed``
    include : which parameters carry the penalty (:data:`Include`; weights only by default)
    history : if given, one dict per epoch is appended: ``epoch``, ``strength``, ``loss`` (mean
        data loss), ``l1`` (‖w_S‖₁ at the end) and ``zeros`` (fraction of exact zeros in S)

    Examples
    --------
    >>> sparse = l1_finetune(model, (X, y), loss_fn=F.cross_entropy, strength=1e-3, epochs=50)  # doctest: +SKIP
    """
    if epochs < 0:
        raise ValueError(f"epochs={epochs}; must be >= 0")
    if not lr > 0:
        raise ValueError(f"lr={lr}; must be > 0")
    alphas = _strengths(strength, epochs)
    X, y = as_tensors(data)
    n = X.shape[0]
    bs = n if batch_size is None else int(batch_size)
    if bs < 1:
        raise ValueError(f"batch_size={batch_size}; must be >= 1")
    new = clone(model)
    penalised = [_raw_parameter(m, a) for _, m, a in targets(new, include)]
    if not penalised:
        raise ValueError(f"include={include!r} selects no parameter of {type(model).__name__}")
    params = [p for p in new.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr)
    else:
        raise ValueError(f"optimizer={optimizer!r}; expected 'sgd' or 'adam'")
    g = generator(seed)
    from tqdm.auto import trange

    new.train()
    for epoch in trange(epochs, disable=not progress, desc="l1"):
        alpha, total = alphas[epoch], 0.0
        order = torch.randperm(n, generator=g) if bs < n else torch.arange(n)
        for start in range(0, n, bs):
            idx = order[start : start + bs]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(new(X[idx]), y[idx])
            objective = loss if proximal or alpha == 0 else loss + alpha * sum(p.abs().sum() for p in penalised)
            objective.backward()
            opt.step()
            if proximal and alpha > 0:
                with torch.no_grad():
                    for p in penalised:
                        p.copy_(p.sign() * (p.abs() - lr * alpha).clamp_min(0))
            total += float(loss.detach()) * idx.numel()
        if history is not None:
            with torch.no_grad():
                zeros = sum(int((p == 0).sum()) for p in penalised) / sum(p.numel() for p in penalised)
                history.append({"epoch": epoch, "strength": alpha, "loss": total / n,
                                "l1": float(sum(p.abs().sum() for p in penalised)), "zeros": zeros})
    new.eval()
    with torch.no_grad():
        new(X[:1])  # refresh the cached masked weights of pruned modules
    detach_cached(new)
    return new


def predict(model: nn.Module, X: torch.Tensor, *, batch_size: int = 4096) -> torch.Tensor:
    """``model(X)`` in eval mode without gradients, in batches."""
    model.eval()
    with torch.no_grad():
        return torch.cat([model(X[i : i + batch_size]) for i in range(0, X.shape[0], batch_size)])


def ood_similarity(
    models: Sequence[nn.Module], X: torch.Tensor, *, outputs: str = "softmax", batch_size: int = 4096
) -> np.ndarray:
    """Mean cosine similarity of the models' prediction vectors on the inputs ``X``.

    ``S[a, b] = (1/N) Σ_i ⟨p_a(x_i), p_b(x_i)⟩ / (‖p_a(x_i)‖ ‖p_b(x_i)‖)``, with ``p`` the
    softmax vector (``outputs="softmax"``, the seed post's measure, after Ding, Denain &
    Steinhardt 2021) or the logits (``outputs="logits"``). Symmetric, with unit diagonal
    (a zero logit vector counts as similarity 0).

    Returns
    -------
    numpy.ndarray, shape (k, k), float64

    Examples
    --------
    >>> S = ood_similarity([m1, m2, skel1, skel2], X_mnist)      # doctest: +SKIP
    """
    if outputs not in ("softmax", "logits"):
        raise ValueError(f"outputs={outputs!r}; expected 'softmax' or 'logits'")
    if len(models) == 0:
        raise ValueError("models is empty")
    if X.shape[0] == 0:
        raise ValueError("X is empty")
    units = []
    for m in models:
        out = predict(m, X, batch_size=batch_size).to(torch.float64).reshape(X.shape[0], -1)
        if outputs == "softmax":
            out = out.softmax(dim=1)
        units.append(out / out.norm(dim=1, keepdim=True).clamp_min(1e-300))
    U = torch.stack(units)
    S = torch.einsum("anc,bnc->ab", U, U).numpy() / X.shape[0]
    return 0.5 * (S + S.T)


def evaluate(
    model: nn.Module, data, *, loss_fn: Callable | None = None, batch_size: int = 4096
) -> tuple[float, float]:
    """``(accuracy, loss)`` of a classifier on ``data`` (loss: ``loss_fn`` as a mean over
    the whole set, cross-entropy by default)."""
    X, y = as_tensors(data)
    out = predict(model, X, batch_size=batch_size)
    loss = (loss_fn or nn.functional.cross_entropy)(out, y)
    acc = float((out.argmax(dim=1) == y).double().mean()) if out.ndim == 2 and y.ndim == 1 else float("nan")
    return acc, float(loss)


@dataclass(frozen=True)
class Retention:
    """In-distribution accuracy and loss of an original network and of its skeleton."""

    accuracy_original: float
    accuracy_pruned: float
    loss_original: float
    loss_pruned: float

    @property
    def accuracy_ratio(self) -> float:
        """accuracy_pruned / accuracy_original."""
        return self.accuracy_pruned / self.accuracy_original if self.accuracy_original else float("nan")

    @property
    def loss_increase(self) -> float:
        """loss_pruned − loss_original."""
        return self.loss_pruned - self.loss_original


def retention(original: nn.Module, pruned: nn.Module, data, *, loss_fn: Callable | None = None) -> Retention:
    """:class:`Retention` of ``pruned`` against ``original`` on ``data`` (:func:`evaluate`)."""
    a0, l0 = evaluate(original, data, loss_fn=loss_fn)
    a1, l1 = evaluate(pruned, data, loss_fn=loss_fn)
    return Retention(a0, a1, l0, l1)
