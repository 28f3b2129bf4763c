"""The torch doors of the covariance observables: loss kernel, Bayesian influence, susceptibilities.

Cov_w under p(w) ∝ exp(−nβ L_n(w) − (γ/2)‖w − w*‖²), from running sums during the one
estimator's chains (:mod:`slt.estimators.influence`, where the formulas, references and the
difference to devinterp 2.x are):

- :func:`loss_kernel`: K_iq = Cov_w(ℓ_i, ℓ_q) (Adam, Furman & Hoogland 2025);
- :func:`bif`: BIF_iq = −Cov_w(ℓ_i, φ_q), exactly minus the covariance (Kreer et al. 2025);
- :func:`susceptibilities`: χ_q^C = −Cov_C[φ_C, ℓ_q − L] per component C (Baker et al. 2025).

Rows are the data's samples, or their tokens (``per="token"``: ℓ_it is ``loss_fn`` on token t of
sequence i, :mod:`slt.nn.tokens`); columns the query's samples or tokens, or the outputs of a
callable observable ``query(module) -> tensor``.  Memory O(chains·rows·cols): no draw is stored.
"""
from __future__ import annotations

import copy
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from slt.estimators.core import default_nbeta
from slt.estimators.influence import InfluenceResult, covariance_run, susceptibility_pair
from slt.estimators.llc import Request
from slt.estimators.settings import Settings, with_settings
from slt.nn.backend import TorchBackend
from slt.nn.data import as_tensors
from slt.nn.flat import FlatNetwork, LossFn, differentiable_kernels
from slt.nn.tokens import SampleLosses, TokenLosses, token_layout_problem

__all__ = ["loss_kernel", "bif", "susceptibilities"]

Layout = tuple[tuple[str, ...], tuple[int, ...]]


class _Observable:
    """``query(module) -> tensor`` at each chain's parameters: (k, m) float64."""

    def __init__(self, net: FlatNetwork, fn: Callable[[nn.Module], Any]):
        self.net, self.fn = net, fn
        self.module = copy.deepcopy(net.model)
        self.params = [p for p in self.module.parameters() if p.requires_grad]

    def __call__(self, W: torch.Tensor) -> torch.Tensor:
        out = []
        with torch.no_grad(), differentiable_kernels():
            for w in W:
                torch.nn.utils.vector_to_parameters(self.net.expand(w), self.params)
                out.append(torch.as_tensor(self.fn(self.module)).reshape(-1))
        return torch.stack(out).double()


def _mode(net: FlatNetwork, X: torch.Tensor, Y: torch.Tensor, per: str | None) -> str:
    """"sample" or "token" (None: tokens when the data are token sequences whose loss is their mean)."""
    if per not in (None, "sample", "token"):
        raise ValueError(f"per={per!r}; expected None, 'sample' or 'token'")
    if per == "sample":
        return "sample"
    problem = token_layout_problem(net, X, Y)
    if problem is not None and per == "token":
        raise ValueError(f"per='token': {problem}")
    return "sample" if problem is not None else "token"


def _losses(net: FlatNetwork, X: torch.Tensor, Y: torch.Tensor, mode: str, dims: tuple[str, str]
            ) -> tuple[Callable[[torch.Tensor], torch.Tensor], Layout]:
    """(W -> (k, rows) float64 losses, layout) of the samples or tokens of (X, Y)."""
    if mode == "token":
        tok = TokenLosses(net, X, Y)
        n, T = int(Y.shape[0]), int(Y.shape[1])
        return (lambda W: tok(W).reshape(W.shape[0], -1).double()), (dims, (n, T))
    sam = SampleLosses(net, X, Y)
    return (lambda W: sam(W).double()), (dims[:1], (int(X.shape[0]),))


def _query(backend: TorchBackend, query: Any, mode: str) -> tuple[Callable | None, Layout, str]:
    """The query's values (None: the data themselves), layout and kind."""
    if query is None:
        return None, None, "data"
    if callable(query):
        obs = _Observable(backend.net, query)
        m = obs(backend.net.w0[None]).shape[1]
        return obs, (("observable",), (m,)), "observable"
    Xq, Yq = as_tensors(query)
    Xq, Yq = Xq.to(backend.device), Yq.to(backend.device)
    if mode == "token":
        problem = token_layout_problem(backend.net, Xq, Yq)
        if problem is not None:
            raise ValueError(f"per='token' needs query tokens as well: {problem}")
    fn, layout = _losses(backend.net, Xq, Yq, mode, ("query", "query_token"))
    return fn, layout, "data"


def _setup(model: nn.Module, data: Any, loss_fn: LossFn, options: dict, settings: dict
           ) -> tuple[TorchBackend, torch.Tensor, Request]:
    s = Settings.from_kwargs(settings)
    if s.per_sample:
        raise ValueError("per_sample is the LLC's decomposition; pass per='sample' or 'token' to the covariance doors")
    w_star = options.pop("w_star", None)
    backend = TorchBackend(model, data, loss_fn, **options)
    nbeta = default_nbeta(backend.n) if s.nbeta is None else s.nbeta
    return backend, backend.point(w_star), Request(**{**s.request_fields(), "nbeta": nbeta})


def _covariance_door(kind: str, model: nn.Module, data: Any, loss_fn: LossFn, query: Any, per: str | None,
                     options: dict, settings: dict) -> InfluenceResult:
    backend, center, req = _setup(model, data, loss_fn, options, settings)
    mode = _mode(backend.net, backend.X, backend.y, per)
    rows_fn, rows = _losses(backend.net, backend.X, backend.y, mode, ("sample", "token"))
    q, cols, qkind = _query(backend, query, mode)
    if q is None:
        pair, cols = (lambda W: (rows_fn(W), None)), (("query", "query_token")[:len(rows[0])], rows[1])
    else:
        pair = lambda W: (rows_fn(W), q(W))  # noqa: E731
    per_chain, res = covariance_run(backend, center, req, pair)
    return InfluenceResult.from_chains(kind, per_chain, rows, cols, runs=(res,),
                                       info={"per": mode, "query": qkind, "backend": "torch"})


_DOOR_OPTIONS = """    w_star, device, devices, vectorize, compile : as in :func:`slt.nn.estimate_llc`.
    restrict : sample only these coordinates (glob, list or callable; :func:`slt.nn.estimate_llc`).
    settings : the estimator's settings (:class:`slt.estimators.settings.Settings`: nbeta, gamma,
        seed, sampler, num_chains, num_draws, targets, ...); ``per_sample`` is refused."""


@with_settings
def loss_kernel(model: nn.Module, data: Any, *, loss_fn: LossFn, query: Any = None, per: str | None = None,
                w_star: Any = None, device: Any = None, devices: list | None = None, vectorize: bool = True,
                restrict: Any = None, compile: bool | str = "auto", **settings: Any) -> InfluenceResult:
    """The loss kernel K_iq = Cov_w(ℓ_i(w), ℓ_q(w)) of a network (Adam, Furman & Hoogland 2025,
    arXiv:2509.26537), from running sums during the estimator's chains.

    Parameters
    ----------
    model, data, loss_fn : as in :func:`slt.nn.estimate_llc` (``loss_fn`` the mean loss).
    query : None (the data themselves), data (X_q, y_q) or a callable ``query(module) -> tensor``
        (a scalar or (m,) observable, evaluated at each chain's parameters).
    per : "sample", "token" (sequence models: :mod:`slt.nn.tokens`) or None (tokens when the data
        are token sequences whose loss is their tokens' mean).
""" + _DOOR_OPTIONS + """

    Returns
    -------
    InfluenceResult with ``values`` and ``se`` of shape (rows, cols): rows the n samples (or n·seq
    tokens, sample-major), cols the query's samples / tokens / outputs; ``to_xarray()`` unflattens
    them into dims (sample, token, query, query_token).

    Examples
    --------
    >>> from slt.nn.data import xor_data
    >>> from slt.nn.models import gaussian_nll, xor_mlp
    >>> res = loss_kernel(xor_mlp(seed=0), xor_data(), loss_fn=gaussian_nll, nbeta=10.0,
    ...                   num_draws=100, seed=0)  # doctest: +SKIP
    >>> res.values.shape  # doctest: +SKIP
    (4, 4)
    """
    options = dict(w_star=w_star, device=device, devices=devices, vectorize=vectorize, restrict=restrict,
                   compile=compile)
    return _covariance_door("loss_kernel", model, data, loss_fn, query, per, options, settings)


@with_settings
def bif(model: nn.Module, data: Any, *, loss_fn: LossFn, query: Any, per: str | None = None, w_star: Any = None,
        device: Any = None, devices: list | None = None, vectorize: bool = True, restrict: Any = None,
        compile: bool | str = "auto", **settings: Any) -> InfluenceResult:
    """The Bayesian influence BIF_iq = −Cov_w(ℓ_i(w), φ_q(w)) of each training sample (or token) on
    the query (Kreer et al. 2025, arXiv:2509.26544): exactly minus the covariance, no nβ and no
    normalisation (devinterp 2.x's default is a Pearson correlation).

    In a regular model at large nβ it tends to −(1/nβ) ∇ℓ_iᵀ H⁻¹ ∇φ (Koh & Liang 2017).

    Parameters
    ----------
    query : data (X_q, y_q): φ_q = ℓ_q, the query's losses; a callable ``query(module) -> tensor``;
        or None: the data themselves (then BIF = −K of :func:`loss_kernel`).
    per, model, data, loss_fn : as in :func:`loss_kernel`.
""" + _DOOR_OPTIONS + """

    >>> from slt.nn.data import xor_data
    >>> from slt.nn.models import gaussian_nll, xor_mlp
    >>> res = bif(xor_mlp(seed=0), xor_data(), loss_fn=gaussian_nll, query=xor_data(), nbeta=10.0,
    ...           num_draws=100, seed=0)  # doctest: +SKIP
    """
    options = dict(w_star=w_star, device=device, devices=devices, vectorize=vectorize, restrict=restrict,
                   compile=compile)
    return _covariance_door("bif", model, data, loss_fn, query, per, options, settings)


@with_settings
def susceptibilities(model: nn.Module, data: Any, *, loss_fn: LossFn, query: Any = None,
                     components: dict[str, Any] | None = None, per: str | None = None, w_star: Any = None,
                     device: Any = None, devices: list | None = None, vectorize: bool = True,
                     compile: bool | str = "auto", **settings: Any) -> InfluenceResult:
    """Susceptibilities χ_q^C = −Cov_C[φ_C, ℓ_q − L] of components C to the loss on each query
    sample or token q (Baker, Wang, Hoogland & Murfet 2025, arXiv:2504.18274; arXiv:2508.00331).

    For each component one run of the estimator samples only C's weights (the others held at
    w*); at each draw φ_C = L(w) − L(w*), L the loss on ``data`` (all of it, the posterior's own
    data), and ℓ_q the query's per-sample or per-token losses.  devinterp 2.x centres ℓ_q − L with
    the unrestricted run's mean instead (:mod:`slt.estimators.influence`).

    Parameters
    ----------
    query : data (X_q, y_q) whose samples or tokens are probed (None: ``data`` itself).
    components : name -> ``restrict`` (a glob, list or callable as in :func:`slt.nn.estimate_llc`;
        None: every weight).  Default ``{"all": None}``.
    per, model, data, loss_fn, w_star, device, devices, vectorize, compile, settings : as in
        :func:`loss_kernel`.

    Returns
    -------
    InfluenceResult with values (rows, components): rows the query's samples or tokens.

    >>> from slt.nn.data import xor_data
    >>> from slt.nn.models import gaussian_nll, xor_mlp
    >>> res = susceptibilities(xor_mlp(seed=0), xor_data(), loss_fn=gaussian_nll,
    ...                        components={"first": "0.*", "last": "2.*"}, nbeta=10.0, seed=0)  # doctest: +SKIP
    """
    components = {"all": None} if components is None else dict(components)
    if not components:
        raise ValueError("components is empty; give name -> restrict (None: every weight)")
    chains, runs, rows, mode = [], [], None, None
    for name, restrict in components.items():
        options = dict(w_star=w_star, device=device, devices=devices, vectorize=vectorize, restrict=restrict,
                       compile=compile)
        backend, center, req = _setup(model, data, loss_fn, options, settings)
        mode = _mode(backend.net, backend.X, backend.y, per)
        loss_all = SampleLosses(backend.net, backend.X, backend.y)
        if query is None:
            q, rows = _losses(backend.net, backend.X, backend.y, mode, ("sample", "token"))
        elif callable(query):
            raise ValueError("susceptibilities probe losses: give query as data (X_q, y_q) or None")
        else:
            q, layout, _ = _query(backend, query, mode)
            rows = (("sample", "token")[:len(layout[0])], layout[1])
        per_chain, res = covariance_run(backend, center, req,
                                        susceptibility_pair(q, lambda W: loss_all(W).double().mean(dim=1)))
        chains.append(per_chain[:, :, 0])
        runs.append(res)
    if len({c.shape for c in chains}) > 1:
        raise ValueError("the components' runs have different numbers of chains; fix num_chains")
    return InfluenceResult.from_chains("susceptibility", np.stack(chains, axis=-1), rows,
                                       (("component",), (len(components),)), runs=tuple(runs),
                                       coords={"component": list(components)},
                                       info={"per": mode, "query": "data", "backend": "torch"})
