"""Reference loss functions (V = |x|^2 / 2) that make :mod:`slt.sampling.kernels` importable.

Generated modules replace this import with the functions of a real potential.
"""
import numba as nb

#: dimension of x; generated modules set the potential's own (loops over it unroll)
DIM = 1


@nb.njit(cache=True)
def energy(x, data, idx, nidx):
    s = 0.0
    for i in range(x.shape[0]):
        s += 0.5 * x[i] * x[i]
    return s


@nb.njit(cache=True)
def grad(x, data, idx, nidx, g):
    for i in range(x.shape[0]):
        g[i] = x[i]


@nb.njit(cache=True)
def hdiag(x, data, idx, nidx, h):
    for i in range(x.shape[0]):
        h[i] = 1.0
