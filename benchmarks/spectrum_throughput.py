"""Spectrum throughput (issue 12, part 3): W2 and the spectrum part of a W3-like map,
steady state, against scipy ``eigh_tridiagonal`` in the SAME process (ratios survive a
shared machine; absolute times do not).

    python -m benchmarks.spectrum_throughput

W2: ``spectrum`` (levels 10) + ``doublet_factors_from`` for every even N in 2..2000 at
Γ/J = 0.95 vs the tuned scipy peer's W2 loop. W3 spectrum: N ∈ range(100, 601, 10) ×
Γ/J ∈ linspace(0.85, 0.99, 29), levels 5, vs an ``eigh_tridiagonal`` loop of the full
(N+1)-row matrices (lowest 5). First call (tracing + compilation) reported separately.
"""

from __future__ import annotations

import time

import numpy as np

import jaxlmg  # noqa: F401  (first: sets up jax)
import jax
from scipy.linalg import eigh_tridiagonal

from . import workloads as W
from .peers import _lmg_numpy as lm
from .peers import scipy_tuned as st


def _best(f, rep=3):
    ts = []
    for _ in range(rep):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    return min(ts)


def main():
    s = W.spec("W2")
    ns = np.asarray(s["n_spins"])

    def w2():
        sp = jaxlmg.spectrum(ns, s["field"], levels=s["levels"], on_invalid="mask")
        jax.block_until_ready(jaxlmg.doublet_factors_from(sp).g01)

    t = time.perf_counter()
    w2()
    first = time.perf_counter() - t
    tj = _best(w2)
    tsc = _best(lambda: st.w2(s, False), 2)
    print(f"W2: first call {first:.2f} s, steady {tj:.3f} s, scipy_tuned {tsc:.3f} s, ratio {tsc / tj:.2f}x")

    n3 = np.arange(100, 601, 10)[:, None]
    f3 = np.linspace(0.85, 0.99, 29)[None, :]

    def w3():
        jax.block_until_ready(jaxlmg.spectrum(n3, f3, levels=5).energies)

    t = time.perf_counter()
    w3()
    first = time.perf_counter() - t
    tj = _best(w3)

    def peer():
        for n in n3[:, 0]:
            for g in f3[0]:
                d, e, _ = lm.tridiagonal(int(n), float(g))
                eigh_tridiagonal(d, e, select="i", select_range=(0, 4))

    tsc = _best(peer, 2)
    print(f"W3 spectrum: first call {first:.2f} s, steady {tj:.3f} s, eigh_tridiagonal loop {tsc:.3f} s, "
          f"ratio {tsc / tj:.2f}x")


if __name__ == "__main__":
    main()
