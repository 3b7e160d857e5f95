"""Thresholds at exponentially small splittings against a K3 built from mpmath levels.

At N = 600, Γ/J = 0.85 the doublet splitting is ≈ 5e-15 J, so Δt = π/(3ΔE) ≈ 2e14 ħ/J and the
phases (E2 − E0)·Δt ≈ 6e13 rad need the gaps to ~1e-21 relative: the reference takes E1 − E0
(Herring identity) and E2 − E0 from 50-digit mpmath eigenpairs of the parity blocks
(``test_splitting.py``), the truncated Jz and Q = sgn(Jz) from float64 block eigenvectors (their
errors only touch amplitudes), builds the 3-level Liouvillian and expm in mpmath, and solves
K3(γφ) = 1 with mpmath's secant method — independent of jaxlmg's eigensolver and propagators.
"""

import mpmath as mp
import numpy as np
import pytest
from scipy.linalg import eigh_tridiagonal

import jaxlmg
from jaxlmg import Status
from test_splitting import mp_levels, mp_log_splitting
from test_threshold_batch import _blocks_levels


def _mp_k3(g, e, jz, q, dt):
    n = len(e)
    idx = lambda a, b: b * n + a  # column stacking
    L = mp.zeros(n * n, n * n)
    jz2 = [[mp.fsum(jz[a][k] * jz[k][b] for k in range(n)) for b in range(n)] for a in range(n)]
    for a in range(n):
        for b in range(n):
            r = idx(a, b)
            L[r, r] += -1j * (e[a] - e[b])
            for c in range(n):
                for d in range(n):
                    val = jz[a][c] * jz[d][b]  # Jz ρ Jz
                    if b == d:
                        val -= jz2[a][c] / 2
                    if a == c:
                        val -= jz2[d][b] / 2
                    if val != 0:
                        L[r, idx(c, d)] += g * val
    P = mp.expm(L * dt)
    x0 = [[(q[a][0] if b == 0 else 0) / 2 + (q[0][b] if a == 0 else 0) / 2 for b in range(n)] for a in range(n)]
    v = mp.matrix([x0[a][b] for b in range(n) for a in range(n)])
    v1 = P * v
    v2 = P * v1
    corr = lambda w: mp.re(mp.fsum(q[b][a] * w[idx(a, b)] for a in range(n) for b in range(n)))
    return 2 * corr(v1) - corr(v2)


@pytest.mark.parametrize("n, field", [(600, 0.85)])
def test_threshold_matches_mpmath_level_reference(n, field):
    r = jaxlmg.threshold(n, field, levels=3)
    assert int(r.status) == Status.OK and float(r.error_estimate) <= 1e-6
    assert float(r.delta_e) < 1e-9  # the regime where plain float64 differences fail
    _, jz, q = _blocks_levels(n, field, 3)
    with mp.workdps(50):
        l0 = mp_levels(n, field, 0)
        l1 = mp_levels(n, field, 1)
        de = mp.exp(mp.mpf(mp_log_splitting(n, field, 0, 50)))
        e = [mp.mpf(0), de, l1[0] - l0[0]]  # E0, E1 (odd ground), E2 (even, second)
        jzm = [[mp.mpf(float(x)) for x in row] for row in jz]
        qm = [[mp.mpf(float(x)) for x in row] for row in q]
        dt = mp.pi / (3 * de)
        f = lambda g: _mp_k3(g, e, jzm, qm, dt) - 1
        g0 = mp.mpf(float(r.dephasing))
        root = mp.findroot(f, (g0 * (1 - mp.mpf("1e-4")), g0 * (1 + mp.mpf("1e-4"))), solver="secant", tol=1e-30)
        assert abs(float(de) - float(r.delta_e)) <= 1e-10 * float(de)
        rel = abs(float(root) - float(r.dephasing)) / float(root)
    assert rel <= 1e-6, rel
