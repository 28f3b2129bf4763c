"""Plotting helpers: one matplotlib style for every figure (the only matplotlib importer).

matplotlib is imported lazily inside the functions, with the non-interactive Agg backend
when no display is set, so ``import slt.plotting`` is cheap and works headless.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

STYLE: dict[str, Any] = {
    "figure.dpi": 110,
    "savefig.dpi": 150,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "image.cmap": "viridis",
    "axes.prop_cycle": None,  # filled in by pyplot() with a colour-blind-safe cycle
}
COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]


def pyplot():
    """Return ``matplotlib.pyplot`` with the slt style applied (Agg when headless)."""
    import matplotlib

    if not os.environ.get("DISPLAY") and matplotlib.get_backend().lower() not in ("agg", "pdf", "svg"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from cycler import cycler

    style = dict(STYLE)
    style["axes.prop_cycle"] = cycler(color=COLORS)
    plt.rcParams.update(style)
    return plt


def save_figure(fig, out: str | Path, name: str, *, pdf: bool = True) -> list[Path]:
    """Save ``fig`` as ``out/name.png`` (and ``.pdf``), close it, return the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png"] + ([out / f"{name}.pdf"] if pdf else [])
    fig.tight_layout()
    for p in paths:
        fig.savefig(p)
    pyplot().close(fig)
    return paths


def heatmap(ax, image, extent, *, xlabel: str, ylabel: str, cbar_label: str, **imshow_kw):
    """``image[i, j]`` at (x_i, y_j) over ``extent`` = [x0, x1, y0, y1], with labelled axes and
    a labelled colourbar; returns the ``AxesImage``.

    Example
    -------
    >>> fig, ax = pyplot().subplots()                                    # doctest: +SKIP
    >>> heatmap(ax, density, [-1, 1, -1, 1], xlabel="x", ylabel="y", cbar_label="density")  # doctest: +SKIP
    """
    im = ax.imshow(image.T, origin="lower", extent=extent, aspect="auto", **imshow_kw)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03).set_label(cbar_label)
    return im


def integer_ticks(axis) -> None:
    """Integer-only major ticks on ``axis`` (``ax.xaxis`` or ``ax.yaxis``), e.g. counts of runs."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def plain_log_ticks(axis, values) -> None:
    """Log ``axis`` with major ticks at ``values`` written plainly (1, 2, 5, 10, …) and no minor
    labels, so ticks of a short log range neither vanish nor overlap."""
    from matplotlib.ticker import FixedLocator, NullFormatter, NullLocator

    values = sorted({float(v) for v in values})
    axis.set_major_locator(FixedLocator(values))
    axis.set_major_formatter(lambda v, _pos: f"{v:g}")
    axis.set_minor_locator(NullLocator())
    axis.set_minor_formatter(NullFormatter())


def llc_diagnostics(result, *, title: str = "", max_chains: int = 8):
    """Trace plot and diagnostics of an :class:`slt.estimators.LLCResult`.

    Left: the running mean of nβ (L(w) − L(w*)) for up to ``max_chains`` chains (thin lines),
    of all chains (black) and the exact value if known (dashed), over a grey band holding the
    middle 80% of the draws of all chains, so 64 chains stay readable.  Right: histogram of the
    per-chain estimates with λ̂ and its se.  The title line carries R-hat, ESS and the acceptance rate.

    Example
    -------
    >>> fig = llc_diagnostics(estimate_llc(V, None, nbeta=1e4, seed=0), title="x² + y⁴")  # doctest: +SKIP
    """
    import numpy as np

    plt = pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(8.5, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    llc = np.asarray(result.llc_traces)
    draws = np.arange(1, llc.shape[1] + 1)
    bins = np.array_split(np.arange(llc.shape[1]), min(100, llc.shape[1]))
    centre = np.array([draws[b].mean() for b in bins])
    lo = np.array([np.percentile(llc[:, b], 10) for b in bins])
    hi = np.array([np.percentile(llc[:, b], 90) for b in bins])
    ax.fill_between(centre, lo, hi, color="0.88", lw=0, label="draws of all chains, 10–90%")
    shown = min(max_chains, llc.shape[0])
    for c in range(shown):
        ax.plot(draws, np.cumsum(llc[c]) / draws, lw=0.7, alpha=0.7, color=COLORS[c % len(COLORS)],
                label=f"running mean, {shown} of {llc.shape[0]} chains" if c == 0 else None)
    ax.plot(draws, np.cumsum(llc.mean(axis=0)) / draws, color="k", lw=1.6, label="running mean, all chains")
    if result.exact is not None:
        ax.axhline(result.exact, color=COLORS[1], ls="--", lw=1.2, label="exact finite-nβ value")
    ax.set_xlabel("draw")
    ax.set_ylabel("nβ (L(w) − L(w*))")
    ax.set_ylim(min(lo.min(), np.min(result.per_chain)), max(hi.max(), np.max(result.per_chain)))
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.3), ncol=2, frameon=False, fontsize=7)
    bx.hist(result.per_chain, bins=max(5, min(30, llc.shape[0] // 2)), color=COLORS[0], alpha=0.7)
    bx.axvspan(result.mean - result.se, result.mean + result.se, color="k", alpha=0.2)
    bx.axvline(result.mean, color="k", lw=1.5)
    exact = ""
    if result.exact is not None:
        bx.axvline(result.exact, color=COLORS[1], ls="--", lw=1.2)
        exact = f"\nexact {result.exact:.3f} (dashed)"
    bx.set_title(f"λ̂ = {result.mean:.3f} ± {result.se:.3f} (black){exact}", fontsize=8)
    bx.set_xlabel("per-chain λ̂")
    bx.set_ylabel("chains")
    integer_ticks(bx.yaxis)
    acc = "" if result.acceptance is None else f", acceptance {result.acceptance:.2f}"
    fig.suptitle(f"{title}  R-hat {result.rhat:.3f}, ESS {result.ess:.0f}{acc}".strip(), fontsize=9)
    if result.warnings:
        fig.text(0.01, 0.005, "warning: " + result.warnings[0][:150], fontsize=6, color=COLORS[1])
    return fig
