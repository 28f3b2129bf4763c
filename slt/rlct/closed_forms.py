"""Closed-form learning coefficients from the literature, as :class:`~slt.rlct.RLCT`."""
from __future__ import annotations

import math
from typing import Sequence

import sympy as sp

from slt.rlct._core import RLCT

RRR_REF = ("Aoyagi & Watanabe (2005), Stochastic complexities of reduced rank regression in "
           "Bayesian estimation, Neural Networks 18, 924-933, Theorem 1")
DLN_REF = ("Aoyagi (2024), Consideration on the learning efficiency of multiple-layered neural "
           "networks with linear units, Neural Networks 172, 106132, Theorem 1")
TANH_REF = ("Aoyagi & Watanabe (2005), Resolution of singularities and the generalization error with "
            "Bayesian estimation for layered neural network, IEICE Trans. J88-D-II; Watanabe (2009) ch. 7")


def _positive_ints(**kw: int) -> None:
    for name, v in kw.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}")


def _rank(r: int, bound: int, what: str) -> None:
    if isinstance(r, bool) or not isinstance(r, int) or not 0 <= r <= bound:
        raise ValueError(f"rank r must be an integer with 0 <= r <= {bound} ({what}), got {r!r}")


def regular(d: int) -> RLCT:
    """λ = d/2, m = 1 for a regular (identifiable, positive-definite Fisher information) model
    with d parameters (Schwarz 1978 / BIC; Watanabe 2009, ch. 1)."""
    _positive_ints(d=d)
    return RLCT(sp.Rational(d, 2), 1, "regular", where=f"regular model, d = {d}",
                reference="Schwarz (1978); Watanabe (2009) ch. 1")


def reduced_rank_regression(M: int, N: int, H: int, r: int) -> RLCT:
    """Reduced rank regression y = B A x, A: H×M, B: N×H, true map of rank r.

    With M inputs, N outputs, H hidden units (Aoyagi & Watanabe 2005, Theorem 1):

    1. N + r ≤ M + H, M + r ≤ N + H, H + r ≤ M + N:
       λ = [2(H+r)(M+N) − (M−N)² − (H+r)²] / 8 and m = 1 if M+H+N+r is even;
       λ = [2(H+r)(M+N) − (M−N)² − (H+r)² + 1] / 8 and m = 2 if it is odd.
    2. M + H < N + r: λ = (HM − Hr + Nr)/2, m = 1.
    3. N + H < M + r: λ = (HN − Hr + Mr)/2, m = 1.
    4. M + N < H + r: λ = MN/2, m = 1.
    """
    _positive_ints(M=M, N=N, H=H)
    _rank(r, min(M, N, H), "r <= min(M, N, H)")
    if M + H < N + r:
        lam, m, case = sp.Rational(H * M - H * r + N * r, 2), 1, 2
    elif N + H < M + r:
        lam, m, case = sp.Rational(H * N - H * r + M * r, 2), 1, 3
    elif M + N < H + r:
        lam, m, case = sp.Rational(M * N, 2), 1, 4
    else:
        odd = (M + H + N + r) % 2
        lam = sp.Rational(2 * (H + r) * (M + N) - (M - N) ** 2 - (H + r) ** 2 + odd, 8)
        m, case = 1 + odd, 1
    return RLCT(lam, m, "closed form", where=f"reduced rank regression M={M}, N={N}, H={H}, r={r}: case {case}",
                reference=RRR_REF)


def deep_linear_network(widths: Sequence[int], rank: int) -> RLCT:
    """Deep linear network x ↦ W_L ⋯ W_1 x with layer ``widths`` H_1 (input), …, H_{L+1}
    (output), learning a linear map of rank r (Aoyagi 2024, Theorem 1).

    With M_s = H_s − r, let S be the set of the ℓ+1 smallest M_s (ℓ ≥ 1) such that
    max_S M < min_{not S} M, Σ_S M ≥ ℓ max_S M and Σ_S M < ℓ min_{not S} M.  With
    M̄ = ⌈Σ_S M / ℓ⌉ and a = Σ_S M − (M̄ − 1) ℓ:

        λ = [−r² + r(H_1 + H_{L+1})]/2 + a(ℓ − a)/(4ℓ) − ℓ(ℓ−1)/4 (Σ_S M/ℓ)²
            + ½ Σ_{i<j in S} M_i M_j,

    and the multiplicity is (Aoyagi 2024, Theorem 1)

        m = a(ℓ − a) + 1.

    It reduces to the checkable cases: one hidden layer (ℓ ≤ 2: reduced rank regression,
    Aoyagi & Watanabe 2005), a = ℓ (m = 1, including regular models) and a = 1 (m = ℓ; e.g.
    chains of width-one layers, K = (w_1⋯w_L)², m = L by the normal-crossing rule).  It
    exceeds ℓ − a + 1 exactly when 1 < a < ℓ (ℓ ≥ 3), e.g. widths (5, 5, 5, 5), rank 0:
    ℓ = 3, a = 2, m = 3.  ``details`` records the subset, ℓ and a.

    Parameters
    ----------
    widths : layer widths H_1 (input), …, H_{L+1} (output), positive integers.
    rank : rank r of the teacher map, 0 ≤ r ≤ min(widths).

    Example
    -------
    >>> res = deep_linear_network([5, 5, 5, 5], 0)
    >>> res.lam, res.m
    (17/2, 3)
    """
    widths = list(widths)
    if len(widths) < 2:
        raise ValueError(f"widths must list at least input and output widths, got {widths!r}")
    _positive_ints(**{f"widths[{i}]": w for i, w in enumerate(widths)})
    _rank(rank, min(widths), "r <= min(widths)")
    Ms = sorted(w - rank for w in widths)
    for size in range(2, len(Ms) + 1):
        S, rest = Ms[:size], Ms[size:]
        ell, total = size - 1, sum(S)
        if rest and not (S[-1] < rest[0] and total < ell * rest[0]):
            continue
        if total >= ell * S[-1]:
            break
    else:  # pragma: no cover - Aoyagi (2024) proves S exists
        raise RuntimeError(f"no admissible subset for widths {widths}, rank {rank}; please report")
    Mbar = -(-total // ell)
    a = total - (Mbar - 1) * ell
    pairs = sum(S[i] * S[j] for i in range(len(S)) for j in range(i + 1, len(S)))
    lam = (sp.Rational(-rank**2 + rank * (widths[0] + widths[-1]), 2) + sp.Rational(a * (ell - a), 4 * ell)
           - sp.Rational(ell * (ell - 1), 4) * sp.Rational(total, ell) ** 2 + sp.Rational(pairs, 2))
    return RLCT(lam, a * (ell - a) + 1, "closed form",
                where=f"deep linear network widths={widths}, rank={rank}: subset M={S}, l={ell}, a={a}",
                reference=DLN_REF, details={"subset": S, "ell": ell, "a": a})


def tanh_network(H: int) -> RLCT:
    """One-hidden-layer tanh network f(x) = Σ_{h≤H} a_h tanh(b_h x) (one input, one output,
    H hidden units) learning the zero function: with i = max{j : j² ≤ H},

        λ = (H + i² + i) / (4i + 2),  m = 1 if i² < H, m = 2 if i² = H

    (Aoyagi & Watanabe 2005; Watanabe 2009, ch. 7).  For H = 1 this is x²y²: λ = 1/2, m = 2.
    """
    _positive_ints(H=H)
    i = math.isqrt(H)
    return RLCT(sp.Rational(H + i * i + i, 4 * i + 2), 2 if i * i == H else 1, "closed form",
                where=f"tanh network, {H} hidden units, zero true function (i = {i})", reference=TANH_REF)
