"""SGLD's λ̂ on a deep linear network against the estimator's exact value and λ (a few minutes on
one core; progress is printed as it goes).

    python examples/network_llc_vs_exact.py

The exact value is what the estimator converges to at this (n, nβ, γ): HMC on the least-squares
rows of the same data (`slt.nn.dln.dln_reference_llc`). λ̂ should match it within a few se;
its gap to Aoyagi's λ is the estimator's own finite-n bias (the data term −βν, see
`LLCResult.corrected`).
"""
import time

import torch

from slt.nn.dln import dln_llc, dln_reference_llc

torch.set_num_threads(1)
widths, rank, n = (4, 3, 4), 1, 2000
arch = "-".join(map(str, widths))
t0 = time.time()
print(f"[1/2] SGLD on DLN {arch} rank {rank}, n = {n} (auto step, burn-in, then draws) ...", flush=True)
res, lam = dln_llc(widths, rank, n=n, batch_size=200, seed=0, progress=True)  # γ = 1, nβ = n/log n
print(f"      done in {time.time() - t0:.0f} s", flush=True)
t1 = time.time()
print("[2/2] the estimator's exact value: HMC on the least-squares rows ...", flush=True)
ref, _ = dln_reference_llc(widths, rank, n=n, seed=0, progress=True)
print(f"      done in {time.time() - t1:.0f} s", flush=True)
z = (res.mean - ref.mean) / (res.se**2 + ref.se**2) ** 0.5
print(f"DLN {arch} rank {rank}, n = {n}, nβ = {res.nbeta:.0f}, γ = {res.gamma:g}")
corrected = "" if res.corrected is None else f"; λ̂ + βν̂ = {res.corrected:.2f}"
print(f"SGLD (auto step {res.config.step_size:.2e}): λ̂ = {res.mean:.2f} ± {res.se:.2f}{corrected}")
print(f"exact value of the estimator (HMC): {ref.mean:.2f} ± {ref.se:.2f};  Aoyagi's λ = {lam:g}")
print(f"claim: SGLD's λ̂ matches the exact value within 3 se: {'yes' if abs(z) < 3 else 'NO'} (z = {z:+.1f})")
print(f"claim: the exact value lies below λ (the data term): {'yes' if ref.mean < lam else 'NO'}")
