"""SGLD's λ̂ on a deep linear network against the estimator's exact value and λ (about two minutes).

    python examples/network_llc_vs_exact.py

The exact value is what the estimator converges to at this (n, nβ, γ): HMC on the
least-squares rows of the same data (`slt.nn.llc.dln_reference_llc`). λ̂ should match it
within a few se; its gap to Aoyagi's λ is the estimator's own finite-n bias.
"""
import torch

from slt.nn.llc import dln_llc, dln_reference_llc

torch.set_num_threads(1)
widths, rank, n = (4, 3, 4), 1, 2000
res, lam = dln_llc(widths, rank, n=n, batch_size=200, seed=0)  # step_size="auto", γ = 1, nβ = n/log n
ref, _ = dln_reference_llc(widths, rank, n=n, seed=0)
print(f"DLN {'-'.join(map(str, widths))} rank {rank}, n = {n}, nβ = {res.nbeta:.0f}, γ = {res.gamma:g}")
print(f"SGLD (auto step {res.config.step_size:.2e} after burn-in at {res.info['burnin_step_size']:.2e}): "
      f"λ̂ = {res.mean:.2f} ± {res.se:.2f}")
print(f"exact value of the estimator (HMC): {ref.mean:.2f} ± {ref.se:.2f};  λ = {lam:g}")
