"""Where the time of numba overdamped Langevin goes (x²y², 1 walker-step = 2 normals).

Times, in one process and in interleaved best-of-N rounds (CPU time, robust to a shared
machine), the RNG fill (the benchmark's limit), the production ``slt.sampling.run`` and
stripped-down kernels that add one production feature at a time:
v0 scalars in registers; v1 arrays + generated ``grad`` + ``langevin_step``; v2 ``_grad_u``
(scale/gamma branches); v3 + per-step finiteness check; v4 per-walker local copies;
v5 step-major groups of 8 walkers (state through memory); v7 two walkers interleaved.

Run: NUMBA_NUM_THREADS=1 python benchmarks/profile_langevin.py [walkers] [steps] [rounds]
"""
import sys, time, math
import numba as nb, numpy as np
from slt import potentials as P
from slt.sampling import rng as R
from slt.sampling.rng import normal
V = P.normal_crossing([1, 1])
K = V.kernels
energy, grad, _grad_u, langevin_step = K.energy, K.grad, K._grad_u, K.langevin_step

@nb.njit(parallel=True, error_model="numpy")
def v0_bare(pos, grd, states, nsteps, dt, sd, data, idx, center):
    for w in nb.prange(pos.shape[0]):
        s = states[w]
        x0 = pos[w, 0]; x1 = pos[w, 1]
        for k in range(nsteps):
            g0 = 2 * x0 * x1 * x1
            g1 = 2 * x0 * x0 * x1
            s, z0 = normal(s)
            s, z1 = normal(s)
            x0 += -dt * g0 + sd * z0
            x1 += -dt * g1 + sd * z1
        pos[w, 0] = x0; pos[w, 1] = x1
        states[w] = s

@nb.njit(parallel=True, error_model="numpy")
def v1_grad_step(pos, grd, states, nsteps, dt, sd, data, idx, center):
    for w in nb.prange(pos.shape[0]):
        s = states[w]
        x = pos[w]; g = grd[w]
        for k in range(nsteps):
            grad(x, data, idx, 1, g)
            s = langevin_step(s, x, g, dt, sd)
        states[w] = s

@nb.njit(parallel=True, error_model="numpy")
def v2_gradu(pos, grd, states, nsteps, dt, sd, data, idx, center):
    for w in nb.prange(pos.shape[0]):
        s = states[w]
        x = pos[w]; g = grd[w]
        for k in range(nsteps):
            _grad_u(x, data, idx, 1, 1.0, 0.0, center, g)
            s = langevin_step(s, x, g, dt, sd)
        states[w] = s

@nb.njit(parallel=True, error_model="numpy")
def v3_finite(pos, grd, states, nsteps, dt, sd, data, idx, center):
    dim = pos.shape[1]
    for w in nb.prange(pos.shape[0]):
        s = states[w]
        x = pos[w]; g = grd[w]
        for k in range(nsteps):
            _grad_u(x, data, idx, 1, 1.0, 0.0, center, g)
            s = langevin_step(s, x, g, dt, sd)
            bad = False
            for d in range(dim):
                if not math.isfinite(x[d]):
                    bad = True
            if bad:
                break
        states[w] = s

@nb.njit(parallel=True, error_model="numpy")
def v4_local(pos, grd, states, nsteps, dt, sd, data, idx, center):
    dim = pos.shape[1]
    for w in nb.prange(pos.shape[0]):
        s = states[w]
        x = pos[w].copy(); g = np.empty(dim)
        for k in range(nsteps):
            _grad_u(x, data, idx, 1, 1.0, 0.0, center, g)
            s = langevin_step(s, x, g, dt, sd)
        pos[w] = x
        states[w] = s


@nb.njit(parallel=True, error_model="numpy")
def v5_group(pos, grd, states, nsteps, dt, sd, data, idx, center):
    G = 8
    nw = pos.shape[0]
    ng = (nw + G - 1) // G
    for t in nb.prange(ng):
        a = t * G; b = min(nw, a + G)
        for k in range(nsteps):
            for w in range(a, b):
                x = pos[w]; g = grd[w]
                _grad_u(x, data, idx, 1, 1.0, 0.0, center, g)
                states[w] = langevin_step(states[w], x, g, dt, sd)

@nb.njit(parallel=True, error_model="numpy")
def v7_group2(pos, grd, states, nsteps, dt, sd, data, idx, center):
    nw = pos.shape[0]
    ng = (nw + 1) // 2
    for t in nb.prange(ng):
        w0 = 2 * t; w1 = min(nw - 1, w0 + 1)
        s0 = states[w0]; s1 = states[w1]
        x = pos[w0]; g = grd[w0]; y = pos[w1]; h = grd[w1]
        for k in range(nsteps):
            _grad_u(x, data, idx, 1, 1.0, 0.0, center, g)
            _grad_u(y, data, idx, 1, 1.0, 0.0, center, h)
            s0 = langevin_step(s0, x, g, dt, sd)
            s1 = langevin_step(s1, y, h, dt, sd)
        states[w0] = s0; states[w1] = s1

W = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
S = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
dt = 1e-3; sd = math.sqrt(2 * dt)
data = np.zeros((0, 0)); idx = np.zeros(1, np.int64); center = np.zeros(2)

OUT = None
def t_rng():
    st = R.stream_keys(0, W); out = OUT
    t0 = time.process_time()
    for _ in range(S // 1000): R.fill_normal(st, out)
    return time.process_time() - t0

def mk(f):
    def t():
        st = R.stream_keys(0, W); pos = np.random.default_rng(0).uniform(-2, 2, (W, 2)); g = np.zeros_like(pos)
        t0 = time.process_time(); f(pos, g, st, S, dt, sd, data, idx, center); return time.process_time() - t0
    return t

OUT = np.empty((W, 2 * 1000)); R.fill_normal(R.stream_keys(0, W), OUT)
from slt import sampling
def t_prod():
    kw = dict(num_walkers=W, step_size=dt, box=(-2, 2), seed=0, hist_bins=0, progress=False)
    t0 = time.process_time(); sampling.run(V, num_steps=S, thin=S, **kw); return time.process_time() - t0
fns = {"rng": t_rng, "prod": t_prod}
for name, f in list(globals().items()):
    if name.startswith("v") and name[1].isdigit(): fns[name] = mk(f)
S0 = S; S = 1000
for f in fns.values(): f()
S = S0
best = {n: 1e9 for n in fns}
for rep in range(int(sys.argv[3]) if len(sys.argv) > 3 else 5):
    for n, f in fns.items():
        best[n] = min(best[n], f())
print(f"threads={nb.get_num_threads()} W={W} S={S}")
for n in fns:
    r = W * S / best[n]
    print(f"  {n:<14} {r/1e6:7.1f} M/s  ratio to rng {best['rng']/best[n]:.3f}  ns/walker-step {1e9*best[n]/(W*S):.2f}")
