"""What :mod:`slt.volume` measures: K(w) ≥ 0 near a minimum w*, as a batched function of points.

A :class:`Target` holds K(W) for a (k, d) array of points, w*, the Hessian of K at w* and a door
to the LLC estimator of the same loss.  :func:`as_target` builds it from

- a :class:`slt.potentials.Potential` (or a formula / library name): K(w) = V(w) − V(w*),
  numpy-vectorised (no compilation); its ``prior_exponents`` go to the box prior;
- a toy model such as :class:`slt.models.Regression`: its population loss
  K(w) = E_x[(f(w, x) − f(w₀, x))²] / (2σ²) (:meth:`~slt.models.Regression.population_potential`),
  the K of SLT; the LLC door samples the model's own finite-data loss L_n;
- a torch ``nn.Module`` with ``data`` and ``loss_fn`` (or a tuple ``(model, data, loss_fn)``):
  K(w) = L(w) − L(w*) of the full-batch mean loss, float64, every batch of points through
  ``torch.func.vmap`` (:class:`slt.nn.hessian.FlatLoss`); torch is imported only here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

__all__ = ["Target", "as_target"]


@dataclass(frozen=True)
class Target:
    """K as a batched function around w*.

    Attributes
    ----------
    name : label for tables.
    point : (d,) w*.
    loss : ``loss(W) -> K`` for W of shape (k, d), K of shape (k,).
    hessian : ``hessian() -> (d, d)`` the Hessian of K at w*.
    llc : ``llc(nbeta=..., seed=..., **options) -> LLCResult``: the LLC estimator on this loss.
    lam, m : exact λ and m when known (potentials of the library), else None.
    prior_exponents : h of a normal-crossing prior ∏|w_j|^h_j that λ refers to, or None.
    """

    name: str
    point: np.ndarray
    loss: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    hessian: Callable[[], np.ndarray] = field(repr=False)
    llc: Callable[..., Any] = field(repr=False)
    lam: float | None = None
    m: int | None = None
    prior_exponents: tuple[float, ...] | None = None

    @property
    def dim(self) -> int:
        return self.point.size


def _potential_target(V, point, llc_model=None, name: str | None = None) -> Target:
    w0 = np.asarray(V.point if point is None else point, dtype=float).reshape(-1)
    if w0.size != V.dim:
        raise ValueError(f"point has {w0.size} coordinates but {V.name} has {V.dim} variables")
    v0 = float(V(w0[None])[0])
    if not np.isfinite(v0):
        raise ValueError(f"V(w*) = {v0} is not finite at w* = {w0.tolist()} for {V.name}")

    def loss(W: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.asarray(V(W), dtype=float) - v0

    def llc(**options):
        from slt.estimators import estimate_llc

        return estimate_llc(V if llc_model is None else llc_model, w0, **options)

    same_point = point is None or np.allclose(w0, V.point)
    return Target(
        name=name or V.name, point=w0, loss=loss, hessian=lambda: V.hessian(w0), llc=llc,
        lam=float(V.lam) if V.lam is not None and same_point else None,
        m=int(V.m) if V.m is not None and same_point else None,
        prior_exponents=V.prior_exponents,
    )


def _torch_target(model, data, loss_fn, point) -> Target:
    import torch

    import slt.nn
    from slt.nn.hessian import FlatLoss

    if data is None or loss_fn is None:
        raise ValueError("a torch model needs data=(X, y) and loss_fn=...")
    flat = FlatLoss(model, data, loss_fn)
    w0 = flat.w0 if point is None else torch.as_tensor(np.asarray(point, dtype=float), dtype=torch.float64)
    if w0.numel() != flat.dim:
        raise ValueError(f"point has {w0.numel()} coordinates but the model has {flat.dim} parameters")
    l0 = flat.value(w0)

    def loss(W: np.ndarray) -> np.ndarray:
        return flat.values(W) - l0

    def llc(**options):
        w_star = None if point is None else w0.to(next(model.parameters()).dtype)
        return slt.nn.estimate_llc(model, data, loss_fn=loss_fn, w_star=w_star, **options)

    return Target(name=type(model).__name__, point=w0.numpy().copy(), loss=loss, hessian=lambda: flat.hessian(w0),
                  llc=llc)


def as_target(target: Any, *, point: Sequence[float] | None = None, data=None, loss_fn=None) -> Target:
    """A :class:`Target` from a potential, formula, toy model or torch model (see the module doc).

    Parameters
    ----------
    target : Potential, formula or library name, toy model (``population_potential``), a torch
        ``nn.Module``, a tuple ``(module, data, loss_fn)``, or a Target (returned as is).
    point : w* (default: the potential's or model's point; a module's current parameters).
    data, loss_fn : the data ``(X, y)`` and mean loss of a torch module.

    Raises
    ------
    ValueError
        Naming a target of an unknown kind, a point of the wrong size or a missing loss.

    Example
    -------
    >>> t = as_target("x**2 + y**4")
    >>> t.dim, float(t.loss(np.array([[1.0, 1.0]]))[0])
    (2, 2.0)
    """
    if isinstance(target, Target):
        return target
    from slt.potentials import Potential, resolve

    if isinstance(target, (str, Potential)):
        return _potential_target(resolve(target), point)
    if isinstance(target, tuple) and len(target) == 3:
        return _torch_target(*target, point=point)
    if hasattr(target, "population_potential"):
        K = target.population_potential()
        return _potential_target(K, point, llc_model=target, name=getattr(target, "name", None))
    module = type(target).__module__
    if module.startswith("torch") or any(c.__module__.startswith("torch.nn") for c in type(target).__mro__):
        return _torch_target(target, data, loss_fn, point)
    raise ValueError(f"target must be a potential, a formula, a toy model or a torch module, got {type(target).__name__}")
