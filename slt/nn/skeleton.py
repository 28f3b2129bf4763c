"""Comparing skeletons: unit alignment, loss barriers, restricted LLC, near-zero Hessian counts.

- :func:`match_units`, :func:`permute_units`, :func:`align`: hidden units of a network are
  defined only up to permutation; align one network to another by a Hungarian match
  (``scipy.optimize.linear_sum_assignment``) on weights ("weight matching", Ainsworth, Hayase &
  Srinivasa 2023, *Git Re-Basin*, Algorithm 1) or on activations (correlation of unit outputs
  on inputs ``X``; Li, Yosinski, Clune, Lipson & Hopcroft 2016; Entezari et al. 2022).
  Supported: ``nn.Sequential`` of ``Linear`` and ``Conv2d`` layers with parameter-free,
  channel-wise modules between them (activations, pooling, dropout, ``Flatten`` from a
  convolution into a ``Linear``); pruning masks are permuted with their weights. Not
  supported: normalisation layers, residual connections, attention.
- :func:`loss_barrier`: the loss along the straight path between two networks and its
  barrier ``max_t L((1−t)a + tb) − ((1−t)L(a) + tL(b))`` (Frankle et al. 2020);
  :func:`path_barrier`: the same along a low-loss path between them
  (:func:`slt.nn.landscape.low_loss_path`, the Rashomon path of lowest maximal loss).
- :func:`skeleton_llc`: the LLC restricted to a skeleton's surviving weights, the pruned ones
  held at zero (the restricted LLC of docs/theory.md).
- :func:`near_zero_counts`: near-zero Hessian eigenvalues of the full and of the restricted loss.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

from slt.errors import warn
from slt.nn.data import as_tensors
from slt.nn.prune import Include, detach_cached, clone, make_permanent, masks, targets

__all__ = [
    "LossBarrier",
    "NearZeroCounts",
    "SkeletonLLC",
    "align",
    "dead_units",
    "loss_barrier",
    "match_units",
    "near_zero_counts",
    "path_barrier",
    "permute_units",
    "skeleton_llc",
]

_PASSIVE = (nn.ReLU, nn.Tanh, nn.Sigmoid, nn.GELU, nn.SiLU, nn.LeakyReLU, nn.ELU, nn.Softplus, nn.Identity,
            nn.Dropout, nn.MaxPool2d, nn.AvgPool2d, nn.Flatten)


@dataclass(frozen=True)
class _Layer:
    index: int  # position in the Sequential
    module: nn.Module
    flatten_in: bool  # a Flatten between a Conv2d before it and this Linear


def _layers(model: nn.Module) -> list[_Layer]:
    """The Linear/Conv2d layers of a supported Sequential, in order."""
    if not isinstance(model, nn.Sequential):
        raise ValueError(f"model is a {type(model).__name__}; align supports nn.Sequential of Linear/Conv2d layers")
    layers: list[_Layer] = []
    flat = False
    for i, m in enumerate(model):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            if layers and isinstance(m, nn.Conv2d) and not isinstance(layers[-1].module, nn.Conv2d):
                raise ValueError(f"layer {i}: a Conv2d after a Linear is not supported")
            layers.append(_Layer(i, m, flat and isinstance(layers[-1].module, nn.Conv2d) if layers else False))
            flat = False
        elif isinstance(m, nn.Flatten):
            flat = True
        elif isinstance(m, _PASSIVE) or not any(True for _ in m.parameters()):
            if not isinstance(m, _PASSIVE):
                raise ValueError(f"layer {i} ({type(m).__name__}) is not a known channel-wise module")
        else:
            raise ValueError(f"layer {i} ({type(m).__name__}) has parameters; only Linear and Conv2d are supported")
    if len(layers) < 2:
        raise ValueError(f"model has {len(layers)} Linear/Conv2d layers; no hidden units to align")
    return layers


def _weight3(layer: _Layer, channels_in: int) -> torch.Tensor:
    """Effective weight as (out, in_units, rest) float64: ``in_units`` the previous layer's units."""
    W = layer.module.weight.detach().to(torch.float64)
    return W.reshape(W.shape[0], channels_in, -1)


def _bias(layer: _Layer) -> torch.Tensor:
    b = layer.module.bias
    return torch.zeros(layer.module.weight.shape[0], dtype=torch.float64) if b is None else b.detach().to(torch.float64)


def _in_units(layers: list[_Layer], k: int) -> int:
    """Number of units of layer k's input (the previous layer's outputs, or the raw inputs)."""
    if k == 0:
        W = layers[0].module.weight
        return W.shape[1]
    return layers[k - 1].module.weight.shape[0]


def _assign(score: np.ndarray) -> np.ndarray:
    _, cols = linear_sum_assignment(score, maximize=True)
    return cols


def _weight_scores(ref: list[_Layer], mod: list[_Layer], perms: list[np.ndarray], k: int, outgoing: bool) -> np.ndarray:
    """score[j, u] = ⟨incoming(ref j), incoming(model u)⟩ + bias product (+ outgoing term)."""
    Wr, Wm = _weight3(ref[k], _in_units(ref, k)), _weight3(mod[k], _in_units(mod, k))
    if k > 0:
        Wm = Wm[:, torch.as_tensor(perms[k - 1])]
    score = torch.einsum("jir,uir->ju", Wr, Wm) + torch.outer(_bias(ref[k]), _bias(mod[k]))
    if outgoing:
        Nr, Nm = _weight3(ref[k + 1], _in_units(ref, k + 1)), _weight3(mod[k + 1], _in_units(mod, k + 1))
        if k + 1 < len(perms):
            Nm = Nm[torch.as_tensor(perms[k + 1])]
        score = score + torch.einsum("ojr,our->ju", Nr, Nm)
    return score.numpy()


def _total_score(ref, mod, perms) -> float:
    """The weight-matching objective Σ_l ⟨W_l^ref, P_l W_l P_{l−1}ᵀ⟩ + ⟨b_l^ref, P_l b_l⟩ (output layer unpermuted)."""
    rows = list(perms) + [np.arange(ref[-1].module.weight.shape[0])]
    return float(sum(np.trace(_weight_scores(ref, mod, perms, k, False)[:, rows[k]]) for k in range(len(ref))))


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    """``model`` in eval mode (Dropout off) for the block; every submodule's own mode restored after."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.train(training)


def _activations(model: nn.Sequential, layers: list[_Layer], X: torch.Tensor) -> list[torch.Tensor]:
    """Per hidden layer, the (samples, units) outputs after its activation (conv: per position),
    in eval mode (Dropout off: a matching must not depend on a random mask)."""
    stops = {layers[k + 1].index: k for k in range(len(layers) - 1)}
    acts: list[torch.Tensor] = [None] * (len(layers) - 1)  # type: ignore[list-item]
    h = X
    with torch.no_grad(), _eval_mode(model):
        for i, m in enumerate(model):
            if i in stops and acts[stops[i]] is None:
                acts[stops[i]] = h
            if isinstance(m, nn.Flatten) and i + 1 in stops and h.ndim == 4:
                acts[stops[i + 1]] = h
            h = m(h)
    out = []
    for a in acts:
        a = a.to(torch.float64)
        out.append(a.transpose(0, 1).reshape(a.shape[1], -1).T if a.ndim == 4 else a.reshape(a.shape[0], -1))
    return out


DEAD_RTOL = 1e-8  # a unit is dead on X when its output's sd is at most this fraction of the layer's largest


def _constant_units(acts: list[torch.Tensor]) -> list[np.ndarray]:
    out = []
    for a in acts:
        sd = a.std(0) if a.shape[0] > 1 else torch.zeros(a.shape[1], dtype=a.dtype)
        out.append(np.flatnonzero((sd <= DEAD_RTOL * float(sd.max().clamp_min(0))).numpy()))
    return out


def dead_units(model: nn.Module, X: torch.Tensor) -> list[np.ndarray]:
    """Per hidden layer, the indices of units whose output (after the activation; a channel:
    over samples and positions) is constant on the inputs ``X``, in eval mode: a ReLU that
    never fires, a unit whose incoming weights were all pruned.  Such a unit carries no
    signal on ``X``, so :func:`match_units` with ``method="activations"`` matches it arbitrarily.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    >>> _ = net[0].weight.data.copy_(torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    >>> _ = net[0].bias.data.copy_(torch.tensor([0.0, -9.0, 0.0]))
    >>> [d.tolist() for d in dead_units(net, torch.rand(50, 2))]  # unit 1 never fires, unit 2 is pruned
    [[1, 2]]
    """
    return _constant_units(_activations(model, _layers(model), X))


def _warn_dead(dead_ref: list[np.ndarray], dead_mod: list[np.ndarray]) -> None:
    """Warn where a layer has two or more dead units in either network: their matches are ties
    (one dead unit on each side is matched to the one place the live units leave)."""
    parts = [f"layer {k}: {r.size} in the reference, {m.size} in the model"
             for k, (r, m) in enumerate(zip(dead_ref, dead_mod)) if max(r.size, m.size) >= 2]
    if parts:
        warn("match_units(method='activations'): units constant on X (dead: no signal to correlate) are matched "
             "arbitrarily; " + "; ".join(parts) + ". dead_units(model, X) lists them; method='weights' matches "
             "them by their weights")


def match_units(
    reference: nn.Module,
    model: nn.Module,
    *,
    method: str = "weights",
    X: torch.Tensor | None = None,
    max_iter: int = 100,
    seed: int | None = 0,
) -> list[np.ndarray]:
    """Per hidden layer, the permutation ``p`` with model unit ``p[j]`` matched to reference unit ``j``.

    ``method="weights"``: maximise Σ_l ⟨W_l^ref, P_l W_l P_{l−1}ᵀ⟩ + ⟨b_l^ref, P_l b_l⟩ (weight
    matching, Ainsworth et al. 2023): a forward pass matching each layer on its incoming
    weights and bias (exact for a network that is a permutation of the reference), then
    coordinate ascent over layers in random order, each a linear assignment on incoming plus
    outgoing weights, until no permutation changes (at most ``max_iter`` sweeps).
    ``method="activations"``: per layer, the assignment maximising the sum of correlations
    of matched units' outputs on ``X`` (layers independent), computed in eval mode (Dropout
    off; each module's mode is restored after).  A unit whose output is constant on ``X``
    (dead; :func:`dead_units`) correlates with nothing: where a layer has two or more in
    either network their matches are ties broken arbitrarily, and an
    :class:`slt.errors.SLTWarning` says how many there are per layer.

    Examples
    --------
    >>> perms = match_units(net1, net2, method="activations", X=X_train)   # doctest: +SKIP
    """
    ref, mod = _layers(reference), _layers(model)
    shapes = [tuple(l.module.weight.shape) for l in ref]
    if shapes != [tuple(l.module.weight.shape) for l in mod]:
        raise ValueError(f"architectures differ: {shapes} vs {[tuple(l.module.weight.shape) for l in mod]}")
    hidden = len(ref) - 1
    if method == "activations":
        if X is None:
            raise ValueError("method='activations' needs inputs X")
        acts_ref, acts_mod = _activations(reference, ref, X), _activations(model, mod, X)
        _warn_dead(_constant_units(acts_ref), _constant_units(acts_mod))
        perms = []
        for Ar, Am in zip(acts_ref, acts_mod):
            Zr = (Ar - Ar.mean(0)) / Ar.std(0).clamp_min(1e-12)
            Zm = (Am - Am.mean(0)) / Am.std(0).clamp_min(1e-12)
            perms.append(_assign((Zr.T @ Zm).numpy() / Ar.shape[0]))
        return perms
    if method != "weights":
        raise ValueError(f"method={method!r}; expected 'weights' or 'activations'")
    perms: list[np.ndarray] = [np.arange(l.module.weight.shape[0]) for l in ref[:-1]]
    for k in range(hidden):
        perms[k] = _assign(_weight_scores(ref, mod, perms, k, outgoing=False))
    rng = np.random.default_rng(seed)
    for _ in range(max_iter):
        changed = False
        for k in rng.permutation(hidden):
            new = _assign(_weight_scores(ref, mod, perms, k, outgoing=True))
            if not np.array_equal(new, perms[k]):
                trial = perms[:k] + [new] + perms[k + 1 :]
                if _total_score(ref, mod, trial) > _total_score(ref, mod, perms) + 1e-12:
                    perms, changed = trial, True
        if not changed:
            break
    return perms


def _take(module: nn.Module, base: str, index: torch.Tensor, dim: int, blocks: int | None = None) -> None:
    """Reorder ``base``, ``base_orig`` and ``base_mask`` of a module along ``dim`` (``blocks``:
    the dim holds ``blocks`` channels of equal size, a Flatten of a convolution's output)."""
    for name in (base, f"{base}_orig", f"{base}_mask"):
        t = module._parameters.get(name, module._buffers.get(name))
        if t is None:
            continue
        with torch.no_grad():
            if blocks is None:
                t.copy_(t.index_select(dim, index))
            else:
                shaped = t.reshape(t.shape[0], blocks, -1)
                t.copy_(shaped.index_select(1, index).reshape(t.shape))
    if hasattr(module, f"{base}_mask") and hasattr(module, f"{base}_orig"):
        setattr(module, base, (getattr(module, f"{base}_orig") * getattr(module, f"{base}_mask")).detach())


def permute_units(model: nn.Module, perms: Sequence[np.ndarray]) -> nn.Module:
    """A copy of ``model`` whose hidden unit ``j`` of layer ``l`` is unit ``perms[l][j]`` of
    ``model`` (same function: the next layer's inputs are permuted alike)."""
    new = clone(model)
    layers = _layers(new)
    if len(perms) != len(layers) - 1:
        raise ValueError(f"{len(perms)} permutations for {len(layers) - 1} hidden layers")
    for k, p in enumerate(perms):
        width = layers[k].module.weight.shape[0]
        if sorted(np.asarray(p).tolist()) != list(range(width)):
            raise ValueError(f"perms[{k}] is not a permutation of range({width})")
        index = torch.as_tensor(np.asarray(p), dtype=torch.long)
        _take(layers[k].module, "weight", index, 0)
        _take(layers[k].module, "bias", index, 0)
        nxt = layers[k + 1]
        _take(nxt.module, "weight", index, 1, blocks=width if nxt.flatten_in else None)
    return new


def align(reference: nn.Module, model: nn.Module, *, method: str = "weights", X: torch.Tensor | None = None,
          **kwargs) -> nn.Module:
    """A copy of ``model`` with its hidden units permuted to match ``reference``
    (:func:`match_units` then :func:`permute_units`; the function computed is unchanged).
    ``method="activations"`` evaluates both networks in eval mode and warns about units dead
    on ``X`` (matched arbitrarily; see :func:`match_units`).

    Examples
    --------
    >>> aligned = align(skel1, skel2)                  # doctest: +SKIP
    >>> mask_overlap(skel1, aligned).total             # doctest: +SKIP
    """
    return permute_units(model, match_units(reference, model, method=method, X=X, **kwargs))


@dataclass(frozen=True)
class LossBarrier:
    """Loss along ``(1 − t) a + t b`` (effective weights, masks applied).

    ``barrier = max_t [L(t) − ((1 − t) L(0) + t L(1))]`` (≥ 0 up to rounding; 0 for linearly
    mode-connected endpoints)."""

    ts: np.ndarray
    losses: np.ndarray

    @property
    def barrier(self) -> float:
        line = (1 - self.ts) * self.losses[0] + self.ts * self.losses[-1]
        return float(np.max(self.losses - line))


def loss_barrier(a: nn.Module, b: nn.Module, data, *, loss_fn: Callable | None = None, num: int = 11) -> LossBarrier:
    """The loss on ``num`` evenly spaced points of the straight path from ``a`` to ``b``.

    Align first (:func:`align`) to measure the barrier between functions rather than labels
    (Entezari, Sedghi, Saukh & Neyshabur 2022; Ainsworth et al. 2023).

    Examples
    --------
    >>> loss_barrier(skel1, align(skel1, skel2), (X, y)).barrier     # doctest: +SKIP
    """
    if num < 2:
        raise ValueError(f"num={num}; must be >= 2")
    pa, pb = make_permanent(a), make_permanent(b)
    sa, sb = pa.state_dict(), pb.state_dict()
    if list(sa) != list(sb):
        raise ValueError("a and b have different parameters")
    X, y = as_tensors(data)
    loss_fn = loss_fn or nn.functional.cross_entropy
    ts = np.linspace(0.0, 1.0, num)
    losses = []
    net = clone(pa).eval()
    for t in ts:
        net.load_state_dict({k: (1 - t) * sa[k] + t * sb[k] if sa[k].is_floating_point() else sa[k] for k in sa})
        with torch.no_grad():
            losses.append(float(loss_fn(net(X), y)))
    return LossBarrier(ts, np.array(losses))


def path_barrier(a: nn.Module, b: nn.Module, data, *, loss_fn: Callable | None = None, **path_kwargs):
    """The loss along a low-loss path from ``a`` to ``b`` (effective weights, masks applied).

    :func:`slt.nn.landscape.low_loss_path` (the string method) between the permanent copies:
    ``.barrier`` is :class:`LossBarrier`'s ``max_t [L(t) − ((1 − t) L(a) + t L(b))]`` along the
    path, ``.linear_barrier`` the straight line's on the same number of points, ``.rise`` the
    Rashomon level above the higher end at which the path joins the two.  A path barrier near
    zero where the straight one is high says the two skeletons lie in one connected low-loss
    set that is curved, not convex; align first (:func:`align`) to compare functions.

    Parameters
    ----------
    loss_fn : default cross-entropy.
    **path_kwargs : ``num_points``, ``steps``, ``lr``, ``resolution`` of ``low_loss_path``.

    Examples
    --------
    >>> p = path_barrier(skel1, align(skel1, skel2), (X, y))          # doctest: +SKIP
    >>> p.barrier, p.linear_barrier                                    # doctest: +SKIP
    """
    from slt.nn.landscape import low_loss_path

    pa, pb = make_permanent(a), make_permanent(b)
    shapes = [(k, tuple(v.shape)) for k, v in pa.named_parameters()]
    if shapes != [(k, tuple(v.shape)) for k, v in pb.named_parameters()]:
        raise ValueError("a and b have different parameters")
    return low_loss_path(pa, pb, data, loss_fn or nn.functional.cross_entropy, **path_kwargs)


def _free_masks(model: nn.Module, include: Include) -> dict[str, torch.Tensor]:
    """Name (as in the permanent copy's ``named_parameters``) -> bool mask of free coordinates."""
    kept = masks(model, include)
    plain = make_permanent(model)
    return {name: kept.get(name, torch.ones_like(p, dtype=torch.bool)) for name, p in plain.named_parameters()}


@dataclass(frozen=True)
class SkeletonLLC:
    """The LLC restricted to a skeleton's surviving weights.

    Attributes
    ----------
    result : the :class:`slt.estimators.LLCResult`
    free, held : coordinates sampled, coordinates held at zero
    route : ``"restrict"`` (the estimator's ``restrict`` argument) or ``"masked"`` (the masked
        network sampled whole: the pruned coordinates never enter the loss, so under the
        localized posterior they are independent Gaussians under γ alone and the free
        coordinates have exactly the restricted posterior; with SGLD the loss trace has the
        restricted sampler's law, with MALA the same stationary law; the reported dimension and
        the step rules see all coordinates)
    """

    result: object
    free: int
    held: int
    route: str


def skeleton_llc(model: nn.Module, data, *, loss_fn: Callable, include: Include = "weights",
                 route: str = "auto", **llc_kwargs) -> SkeletonLLC:
    """λ̂ of a skeleton with its pruned coordinates held at zero.

    λ̂_S(w*) = nβ (E[L_n(w)] − L_n(w*)) over the localized tempered posterior of the free
    coordinates S only (docs/theory.md, restricted LLC); S = the surviving entries of the selected
    parameters (:func:`slt.nn.prune.masks`: the pruning masks, or the nonzero entries) plus every
    parameter not selected (biases by default). A skeleton that is the part of the network the
    data use keeps the original's λ̂; an unpruned network gives the plain λ̂.

    Parameters
    ----------
    route : ``"auto"`` (``restrict`` when :func:`slt.nn.estimate_llc` has it, else ``"masked"``),
        ``"restrict"`` or ``"masked"``.
    **llc_kwargs : passed to :func:`slt.nn.estimate_llc` (nbeta, gamma, step_size, ...).

    Examples
    --------
    >>> skeleton_llc(magnitude_prune(net, threshold=0.05), (X, y), loss_fn=F.cross_entropy).result.mean  # doctest: +SKIP
    """
    from slt.nn import estimate_llc
    from torch.nn.utils import prune as tprune

    has_restrict = "restrict" in inspect.signature(estimate_llc).parameters
    if route == "auto":
        route = "restrict" if has_restrict else "masked"
    if route not in ("restrict", "masked"):
        raise ValueError(f"route={route!r}; expected 'auto', 'restrict' or 'masked'")
    if route == "restrict" and not has_restrict:
        raise ValueError("route='restrict' but slt.nn.estimate_llc has no restrict argument")
    free = _free_masks(model, include)
    n_free = int(sum(int(m.sum()) for m in free.values()))
    n_held = int(sum(m.numel() for m in free.values())) - n_free
    if route == "restrict":
        plain = make_permanent(model)
        res = estimate_llc(plain, data, loss_fn=loss_fn, restrict=lambda name, p: free[name], **llc_kwargs)
    else:
        masked = make_permanent(model)
        for name, module, attr in targets(masked, include):
            tprune.custom_from_mask(module, attr, mask=free[name])
        detach_cached(masked)
        res = estimate_llc(masked, data, loss_fn=loss_fn, **llc_kwargs)
    return SkeletonLLC(res, n_free, n_held, route)


@dataclass(frozen=True)
class NearZeroCounts:
    """Near-zero Hessian eigenvalues of the loss in all coordinates and in the free ones.

    ``near_zero`` of the (dim × dim) Hessian; ``near_zero_free`` of its (free × free) block,
    the Hessian of the loss restricted to the skeleton (pruned coordinates held at zero);
    rule of :func:`slt.nn.hessian.near_zero_count`.
    """

    dim: int
    free: int
    near_zero: int
    near_zero_free: int


def near_zero_counts(model: nn.Module, data, *, loss_fn: Callable, include: Include = "weights",
                     rtol: float | None = None, atol: float | None = None, chunk: int = 64) -> NearZeroCounts:
    """Exact float64 Hessian of the permanent copy (Hessian-vector products in chunks of
    ``chunk`` basis vectors, vmapped) and the near-zero counts of it and of its free block."""
    from slt.nn.hessian import FlatLoss, near_zero_count

    free = _free_masks(model, include)
    f = FlatLoss(make_permanent(model), data, loss_fn)
    keep = torch.cat([free[name].reshape(-1) for name in f.names]).numpy()
    eye = torch.eye(f.dim, dtype=torch.float64)
    hvps = torch.func.vmap(lambda v: f.hvp(f.w0, v))
    H = torch.cat([hvps(eye[i : i + chunk]).detach() for i in range(0, f.dim, chunk)]).numpy()
    H = 0.5 * (H + H.T)
    full = np.linalg.eigvalsh(H)
    sub = np.linalg.eigvalsh(H[np.ix_(keep, keep)]) if keep.any() else np.zeros(0)
    return NearZeroCounts(f.dim, int(keep.sum()), near_zero_count(full, rtol, atol),
                          near_zero_count(sub, rtol, atol) if sub.size else 0)
