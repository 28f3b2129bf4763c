"""Numba ensemble kernels: init/step functions per sampler and one chunked driver.

This module is a *template*: :mod:`slt._codegen` pastes it after the ``energy``/``grad``
functions of a potential, its dimension ``DIM`` and the sampler ``KIND`` (compile-time
constants: every loop over coordinates is unrolled, and ``run_chunk`` keeps only the step of its
own sampler; ``benchmarks/bench_langevin.py`` measures the effect) so the
whole file is compiled and cached together.  The samplers target the tempered, localized density

    p(x) ∝ exp(-U(x) / T),   U(x) = scale * V(x) + (gamma / 2) * |x - center|^2,

with ``scale`` = nβ and ``gamma`` the localization of the LLC estimator (1 and 0 for plain
dynamics on V).  Settings ``p``: a :class:`slt.sampling.params.KernelParams` (dt, temperature, scale, gamma, and
each sampler's own fields):

- LANGEVIN (Euler–Maruyama): x <- x - dt ∇U + sqrt(2 T dt) ξ.
- UNDERDAMPED (BAOAB, Leimkuhler & Matthews 2013; friction γ_f = p.friction, unit mass).
- SGD_MOMENTUM (heavy ball; momentum μ, noise σ):
  v <- μ v - dt ∇U + σ ξ, x <- x + v.
- MALA (Roberts & Tweedie 1996): Langevin proposal + Metropolis–Hastings; on a periodic box
  the proposal uses minimal-image displacements; step levels and metric scale c (see ``mala_step``).
"""
import math

import numba as nb
import numpy as np

from slt.sampling._quadratic import DIM, energy, grad, hdiag  # @slt-loss-functions
from slt.sampling.rng import normal, uniform, uniform_open

LANGEVIN, UNDERDAMPED, SGD_MOMENTUM, MALA = 0, 1, 2, 3
#: smallest per-coordinate step factor of MALA's metric (keeps the proposal density finite)
MIN_STEP_FACTOR = 1e-12
#: the sampler ``run_chunk`` runs: a compile-time constant of each generated module (-1: none)
KIND = -1  # @slt-loss-functions


@nb.njit(inline="always", cache=True, error_model="numpy")
def _wrap(x, lo, hi):
    for d in range(DIM):
        width = hi[d] - lo[d]
        x[d] = lo[d] + (x[d] - lo[d]) % width


@nb.njit(inline="always", cache=True, error_model="numpy")
def _min_image(delta, width, periodic):
    if periodic:
        return delta - width * math.floor(delta / width + 0.5)
    return delta


@nb.njit(inline="always", cache=True, error_model="numpy")
def _potential(x, data, idx, nidx, p, center):
    """U(x) and V(x) at x (full or minibatch rows)."""
    v = energy(x, data, idx, nidx)
    u = p.scale * v
    if p.gamma != 0.0:
        r2 = 0.0
        for d in range(DIM):
            r2 += (x[d] - center[d]) ** 2
        u += 0.5 * p.gamma * r2
    return u, v


@nb.njit(inline="always", cache=True, error_model="numpy")
def _grad_u(x, data, idx, nidx, scale, gamma, center, g):
    """g <- ∇U(x) = scale ∇V(x) + gamma (x - center)."""
    grad(x, data, idx, nidx, g)
    if gamma != 0.0:
        for d in range(DIM):
            g[d] = scale * g[d] + gamma * (x[d] - center[d])
    elif scale != 1.0:
        for d in range(DIM):
            g[d] *= scale


@nb.njit(inline="always", cache=True, error_model="numpy")
def _draw_batch(s, idx_row, nrows):
    for j in range(idx_row.shape[0]):
        s, u = uniform(s)
        idx_row[j] = min(np.int64(u * nrows), nrows - 1)
    return s


@nb.njit(inline="always", cache=True, error_model="numpy")
def langevin_step(s, x, g, dt, sd):
    """Euler–Maruyama: x <- x - dt g + sd ξ, sd = sqrt(2 T dt)."""
    for d in range(DIM):
        s, z = normal(s)
        x[d] += -dt * g[d] + sd * z
    return s


@nb.njit(inline="always", cache=True, error_model="numpy")
def underdamped_b_a(x, v, g, dt):
    """BAOAB: half kick (B) then half drift (A)."""
    for d in range(DIM):
        v[d] -= 0.5 * dt * g[d]
        x[d] += 0.5 * dt * v[d]


@nb.njit(inline="always", cache=True, error_model="numpy")
def underdamped_o_a(s, x, v, dt, c1, c2):
    """BAOAB: exact Ornstein–Uhlenbeck (O), c1 = exp(-γ dt), c2 = sqrt((1-c1²) T); half drift (A)."""
    for d in range(DIM):
        s, z = normal(s)
        v[d] = c1 * v[d] + c2 * z
        x[d] += 0.5 * dt * v[d]
    return s


@nb.njit(inline="always", cache=True, error_model="numpy")
def underdamped_b(v, g, dt):
    """BAOAB: final half kick (B)."""
    for d in range(DIM):
        v[d] -= 0.5 * dt * g[d]


@nb.njit(inline="always", cache=True, error_model="numpy")
def sgd_momentum_step(s, x, v, g, dt, mu, sigma):
    """Heavy ball with noise: v <- mu v - dt g + sigma ξ; x <- x + v."""
    for d in range(DIM):
        s, z = normal(s)
        v[d] = mu * v[d] - dt * g[d] + sigma * z
        x[d] += v[d]
    return s


@nb.njit(inline="always", cache=True, error_model="numpy")
def mala_metric(x, f, p, data, idx, nidx, h):
    """f[d] <- min(1, c / (dt |∂²U/∂x_d²|)) at x (c = p.metric > 0, dt = p.dt; else 1): the
    per-coordinate step factor, a deterministic function of x (``hdiag``, the generated
    Hessian diagonal), so the proposal stays an exact Metropolis–Hastings kernel."""
    for d in range(DIM):
        f[d] = 1.0
    if p.metric <= 0.0:
        return
    hdiag(x, data, idx, nidx, h)
    for d in range(DIM):
        curv = abs(p.scale * h[d] + p.gamma)
        if curv * p.dt > p.metric:
            f[d] = max(p.metric / (curv * p.dt), MIN_STEP_FACTOR)


@nb.njit(inline="always", cache=True, error_model="numpy")
def mala_propose(s, dt, x, y, g, gy, u_x, p, center, lo, hi, periodic, data, idx, nidx, fx, fy, th):
    """Langevin proposal y from x with step dt·fx[d] along coordinate d (fx: :func:`mala_metric`
    at x; fy is set at y); returns (state, U(y), log Metropolis–Hastings ratio)."""
    temp = p.temperature
    for d in range(DIM):
        s, z = normal(s)
        y[d] = x[d] - dt * fx[d] * g[d] + math.sqrt(2.0 * temp * dt * fx[d]) * z
    if periodic:
        _wrap(y, lo, hi)
    u_y, _ = _potential(y, data, idx, nidx, p, center)
    _grad_u(y, data, idx, nidx, p.scale, p.gamma, center, gy)
    mala_metric(y, fy, p, data, idx, nidx, th)
    log_q = 0.0  # log q(x | y) − log q(y | x)
    for d in range(DIM):
        width = hi[d] - lo[d]
        a = _min_image(y[d] - x[d], width, periodic) + dt * fx[d] * g[d]
        b = _min_image(x[d] - y[d], width, periodic) + dt * fy[d] * gy[d]
        log_q += a * a / fx[d] - b * b / fy[d]
        if p.metric > 0.0:
            log_q += 2.0 * temp * dt * math.log(fx[d] / fy[d])
    return s, u_y, -(u_y - u_x) / temp + log_q / (4.0 * temp * dt)


@nb.njit(inline="always", cache=True, error_model="numpy")
def mala_step(s, x, y, g, gy, u_x, p, center, lo, hi, periodic, data, idx, nidx, fx, fy, th):
    """One MALA step; returns (state, U at the new point, accepted).

    With ``p.step_levels`` = L > 1 the step is p.dt·4^(−k), k uniform in {0, …, L−1},
    drawn independently of the state: each level is a reversible MH kernel, so the mixture is
    too (Tierney 1994), and the small levels still move in valleys too stiff for p.dt.  With
    ``p.metric`` = c > 0 the step along coordinate d is further scaled by
    min(1, c/(p.dt |∂²U/∂x_d²|)) (:func:`mala_metric`): a diagonal position-dependent metric
    (Girolami & Calderhead 2011, without its drift correction, which MH makes unnecessary) that
    lets a chain move along a valley whose cross-section is far stiffer than the valley itself.
    """
    dt = p.dt
    if p.step_levels > 1:
        s, u = uniform(s)
        dt *= 0.25 ** math.floor(u * p.step_levels)
    s, u_y, log_alpha = mala_propose(s, dt, x, y, g, gy, u_x, p, center, lo, hi, periodic, data, idx, nidx,
                                     fx, fy, th)
    s, uu = uniform_open(s)
    if math.log(uu) < log_alpha:
        for d in range(DIM):
            x[d] = y[d]
            g[d] = gy[d]
            fx[d] = fy[d]
        return s, u_y, True
    return s, u_x, False


@nb.njit(parallel=True, cache=True, error_model="numpy")
def mala_acceptance(points, states, p, center, data, full_idx, out):
    """out[w, j] = min(1, MH ratio) of one Langevin proposal (full batch) from points[w, j].

    The mean over recorded draws of an (unadjusted) Langevin chain estimates how far its
    step is from exact: 1 for dt -> 0, lower as the discretization bias grows.
    """
    nwalk, ndraw, dim = points.shape
    n = full_idx.shape[0]
    lo = np.zeros(dim)
    hi = np.ones(dim)
    for w in nb.prange(nwalk):
        s = states[w]
        x = np.empty(dim)
        y = np.empty(dim)
        g = np.empty(dim)
        gy = np.empty(dim)
        fx, fy, th = np.empty(dim), np.empty(dim), np.empty(dim)
        for j in range(ndraw):
            for d in range(DIM):
                x[d] = points[w, j, d]
            u_x, _ = _potential(x, data, full_idx, n, p, center)
            _grad_u(x, data, full_idx, n, p.scale, p.gamma, center, g)
            mala_metric(x, fx, p, data, full_idx, n, th)
            s, _, log_alpha = mala_propose(s, p.dt, x, y, g, gy, u_x, p, center, lo, hi, False, data, full_idx, n,
                                           fx, fy, th)
            out[w, j] = 1.0 if log_alpha >= 0.0 else (math.exp(log_alpha) if math.isfinite(log_alpha) else 0.0)
        states[w] = s


@nb.njit(parallel=True, cache=True, error_model="numpy")
def mala_step_factors(points, p, data, full_idx, out):
    """out[w] = the per-coordinate step factors of :func:`mala_metric` at points[w]."""
    n = full_idx.shape[0]
    for w in nb.prange(points.shape[0]):
        h = np.empty(points.shape[1])
        mala_metric(points[w], out[w], p, data, full_idx, n, h)


@nb.njit(parallel=True, cache=True, error_model="numpy")
def init_walkers(pos, grd, ucur, p, center, data, full_idx):
    """Compute ∇U and U at the starting positions; returns the first non-finite walker."""
    n = full_idx.shape[0]
    bad = np.full(pos.shape[0], -1, dtype=np.int64)
    for w in nb.prange(pos.shape[0]):
        u, v = _potential(pos[w], data, full_idx, n, p, center)
        ucur[w] = u
        _grad_u(pos[w], data, full_idx, n, p.scale, p.gamma, center, grd[w])
        ok = math.isfinite(v)
        for d in range(pos.shape[1]):
            ok = ok and math.isfinite(grd[w, d])
        if not ok:
            bad[w] = w
    return bad


@nb.njit(parallel=True, cache=True, error_model="numpy")
def run_chunk(pos, vel, grd, aux, ucur, states, p, center, lo, hi, periodic,
              data, full_idx, batch_idx, step0, nsteps, thin, rec_pos, rec_ene,
              ntiles, hist, hist_lo, hist_scale, hist_from, accepts, div_step, div_val):
    """Advance every walker ``nsteps`` steps (global steps ``step0 ...``) of sampler ``KIND``.

    Walkers are split into ``ntiles`` fixed tiles processed in parallel; each tile owns a slice
    of ``hist``, so counts never race and do not depend on the thread count.  ``hist`` and
    ``batch_idx`` (minibatch rows per walker) may be None: numba then compiles their branches
    away, and with them stores that would keep the coordinates out of registers.  Records
    ``V`` and positions after every ``thin``-th global step; stops a walker at the first
    non-finite coordinate, storing the step in ``div_step`` and value in ``div_val``.
    """
    nwalk = pos.shape[0]
    tile = (nwalk + ntiles - 1) // ntiles
    nrows = full_idx.shape[0]
    dt, scale, gamma = p.dt, p.scale, p.gamma
    sd = math.sqrt(2.0 * p.temperature * dt)
    c1 = math.exp(-p.friction * dt)
    c2 = math.sqrt((1.0 - c1 * c1) * p.temperature)
    mu, sigma = p.momentum, p.noise
    for t in nb.prange(ntiles):
        for w in range(t * tile, min(nwalk, (t + 1) * tile)):
            if div_step[w] >= 0:
                continue
            s = states[w]
            x, v, g, y = pos[w], vel[w], grd[w], aux[w]
            # steps run in segments that end at a record, and per-walker scalars stay local: any
            # store to another array inside the step loop keeps the coordinates out of registers
            fx, fy, th = np.empty(DIM), np.empty(DIM), np.empty(DIM)
            if KIND == MALA:
                mala_metric(x, fx, p, data, full_idx, nrows, th)
            k = 0
            bad = False
            u_cur = ucur[w]
            n_acc = 0
            while k < nsteps:
                seg = min(thin - (step0 + k) % thin, nsteps - k)
                for j in range(seg):
                    step = step0 + k + j
                    if KIND == LANGEVIN or KIND == SGD_MOMENTUM:
                        if batch_idx is not None:
                            s = _draw_batch(s, batch_idx[w], nrows)
                            _grad_u(x, data, batch_idx[w], batch_idx.shape[1], scale, gamma, center, g)
                        else:
                            _grad_u(x, data, full_idx, nrows, scale, gamma, center, g)
                        if KIND == LANGEVIN:
                            s = langevin_step(s, x, g, dt, sd)
                        else:
                            s = sgd_momentum_step(s, x, v, g, dt, mu, sigma)
                        if periodic:
                            _wrap(x, lo, hi)
                    elif KIND == UNDERDAMPED:
                        underdamped_b_a(x, v, g, dt)
                        s = underdamped_o_a(s, x, v, dt, c1, c2)
                        if periodic:
                            _wrap(x, lo, hi)
                        if batch_idx is not None:
                            s = _draw_batch(s, batch_idx[w], nrows)
                            _grad_u(x, data, batch_idx[w], batch_idx.shape[1], scale, gamma, center, g)
                        else:
                            _grad_u(x, data, full_idx, nrows, scale, gamma, center, g)
                        underdamped_b(v, g, dt)
                    elif KIND == MALA:
                        s, u_cur, acc = mala_step(s, x, v, g, y, u_cur, p, center, lo, hi, periodic,
                                                  data, full_idx, nrows, fx, fy, th)
                        if acc:
                            n_acc += 1
                    for d in range(DIM):
                        if not math.isfinite(x[d]):
                            bad = True
                    if bad:
                        break
                    if hist is not None:
                        if step >= hist_from:
                            i0 = np.int64(math.floor((x[0] - hist_lo[0]) * hist_scale[0]))
                            i1 = 0
                            if hist.shape[2] > 1:
                                i1 = np.int64(math.floor((x[1] - hist_lo[1]) * hist_scale[1]))
                            if 0 <= i0 < hist.shape[1] and 0 <= i1 < hist.shape[2]:
                                hist[t, i0, i1] += 1
                if bad:
                    div_step[w] = step
                    for d in range(DIM):
                        if not math.isfinite(x[d]):
                            div_val[w] = x[d]
                    break
                k += seg
                if (step0 + k) % thin == 0:
                    r = (step0 + k) // thin - 1
                    for d in range(DIM):
                        rec_pos[w, r, d] = x[d]
                    rec_ene[w, r] = energy(x, data, full_idx, nrows)
            ucur[w] = u_cur
            accepts[w] += n_acc
            states[w] = s
