"""Peer (b): tuned numpy/scipy.

* Spectrum: ``scipy.linalg.eigh_tridiagonal(select='i')`` for just the lowest levels.
* K3 for few points: Liouvillian propagator ``expm(L·Δt)`` applied twice (C12, C13).
* W4: one ``scipy.linalg.eig`` of L per γφ, then every Δt from exp(λΔt) (no expm).
* W5 (n > 10): matrix-free ``scipy.sparse.linalg.expm_multiply`` with L as a
  LinearOperator (O(n³) per product instead of an n⁶ dense expm).
* Thresholds: geometric bracket walk + Brent (same as every scipy-based peer).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import eig, eigh_tridiagonal, expm, solve
from scipy.sparse.linalg import LinearOperator, expm_multiply

from . import _lmg_numpy as lm

J_PHYS = 37195.4
IMPL = "scipy_tuned"


def lowest(N, Gamma, k):
    d, e, m = lm.tridiagonal(N, Gamma)
    k = min(k, N + 1)
    w, v = eigh_tridiagonal(d, e, select="i", select_range=(0, k - 1))
    return w, v, m


def levels(N, Gamma, nl):
    w, v, m = lowest(N, Gamma, nl)
    return lm.truncated(w, v, m)


def _liouvillian_fast(E, jz, g):
    """L in the column-stacking convention, assembled without full krons of identities."""
    n = len(E)
    I = np.eye(n)
    jz2 = jz @ jz
    Lc = -1j * (np.subtract.outer(E, E)).T.reshape(-1)  # diag: -i(E_r - E_c) at vec index c*n + r
    L = g * (np.kron(jz, jz) - 0.5 * np.kron(I, jz2) - 0.5 * np.kron(jz2, I)).astype(complex)
    L[np.diag_indices(n * n)] += Lc
    return L


class K3Eval:
    """Stationary K3(γ) = 2 C(Δt) - C(2Δt) for fixed truncated operators and Δt."""

    def __init__(self, E, jz, q, dt, method="expm"):
        self.E, self.jz, self.q, self.dt, self.method = np.asarray(E), jz, q, dt, method
        n = len(E)
        r0 = np.zeros((n, n))
        r0[0, 0] = 1.0
        self.r0 = r0
        self.post = 0.5 * (q @ r0 + r0 @ q)
        self.n = n

    def corr(self, g, x0):
        """Tr(Q e^{LΔt} x0), Tr(Q e^{2LΔt} x0)."""
        n, dt = self.n, self.dt
        if self.method == "expm":
            P = expm(_liouvillian_fast(self.E, self.jz, g) * dt)
            v1 = P @ lm.vec(x0.astype(complex))
            v2 = P @ v1
            r1, r2 = lm.unvec(v1, n), lm.unvec(v2, n)
        else:
            E, jz = self.E, self.jz
            jz2 = jz @ jz

            def mv(v, sign=1.0):
                X = lm.unvec(np.asarray(v).ravel(), n)
                Y = (-1j * sign) * (E[:, None] * X - X * E[None, :]) + g * (jz @ X @ jz - 0.5 * (jz2 @ X + X @ jz2))
                return lm.vec(Y)

            op = LinearOperator((n * n, n * n), matvec=mv, rmatvec=lambda v: mv(v, -1.0), dtype=complex)
            tr = g * (np.trace(jz) ** 2 - n * np.trace(jz2))
            out = expm_multiply(op, lm.vec(x0.astype(complex)), start=0.0, stop=2 * dt, num=3, endpoint=True,
                                traceA=tr)
            r1, r2 = lm.unvec(out[1], n), lm.unvec(out[2], n)
        return np.trace(self.q @ r1).real, np.trace(self.q @ r2).real

    def __call__(self, g):
        c1, c2 = self.corr(g, self.post)
        return 2 * c1 - c2

    def sequential(self, g):
        n, dt = self.n, self.dt
        c12, c13 = self.corr(g, self.post)
        P = expm(_liouvillian_fast(self.E, self.jz, g) * dt)
        rho_dt = lm.unvec(P @ lm.vec(self.r0.astype(complex)), n)
        inst2 = 0.5 * (self.q @ rho_dt + rho_dt @ self.q)
        c23 = np.trace(self.q @ lm.unvec(P @ lm.vec(inst2), n)).real
        return c12 + c23 - c13

    def threshold(self):
        root, _, _ = lm.find_threshold(lambda g: self(g) - 1.0, lm.threshold_guess(self.E[1] - self.E[0], self.jz))
        return root


def _k3eval(N, Gamma, nl, method="expm"):
    E, jz, q = levels(N, Gamma, nl)
    return K3Eval(E, jz, q, np.pi / (3 * (E[1] - E[0])), method)


def w1(s, quick):
    k = _k3eval(s["n_spins"], s["field"], s["levels"])
    gs = s["gammas"]
    return dict(arrays=dict(k3_stationary=np.array([k(g) for g in gs]),
                            k3_sequential=np.array([k.sequential(g) for g in gs]),
                            threshold_per_s=np.array(k.threshold() * J_PHYS)))


def w2(s, quick):
    ns, Gamma, k = s["n_spins"], s["field"], s["levels"]
    keys = ("delta_e", "g01", "j01", "q01sq", "eta_mf")
    out = {key: np.empty(len(ns)) for key in keys}
    energies = np.full((len(ns), k), np.nan)
    for i, N in enumerate(ns):
        w, v, m = lowest(N, Gamma, k)
        energies[i, : len(w)] = w
        for key, val in zip(keys, lm.doublet_quantities(N, Gamma, w, v, m)):
            out[key][i] = val
    return dict(arrays=dict(energies=energies, **out))


def w3(s, quick):
    ns, fs, nl = s["n_spins"], s["fields"], s["levels"]
    thr = np.full((len(ns), len(fs)), np.nan)
    for i, N in enumerate(ns):
        for j, Gamma in enumerate(fs):
            thr[i, j] = _k3eval(N, Gamma, nl).threshold() * J_PHYS
    return dict(arrays=dict(threshold_per_s=thr))


def w4(s, quick):
    E, jz, q = levels(s["n_spins"], s["field"], s["levels"])
    n = len(E)
    dE = E[1] - E[0]
    dts = np.asarray(s["dt_factors"]) * np.pi / (3 * dE)
    r0 = np.zeros((n, n))
    r0[0, 0] = 1.0
    v0 = lm.vec((0.5 * (q @ r0 + r0 @ q)).astype(complex))
    qrow = lm.vec(q.T.astype(complex))  # Tr(Q X) = vec(Qᵀ)·vec(X)
    k3 = np.empty((len(s["gammas"]), len(dts)))
    for i, g in enumerate(s["gammas"]):
        lam, R = eig(_liouvillian_fast(E, jz, g))
        c = solve(R, v0)
        a = (qrow @ R) * c
        C1 = (np.exp(np.outer(dts, lam)) @ a).real
        C2 = (np.exp(np.outer(2 * dts, lam)) @ a).real
        k3[i] = 2 * C1 - C2
    return dict(arrays=dict(k3=k3))


def w5(s, quick):
    N, Gamma, g = s["n_spins"], s["field"], s["gamma"]
    w, v, m = lowest(N, Gamma, max(s["levels_list"]))
    k3 = np.empty(len(s["levels_list"]))
    thr = np.empty(len(s["levels_list"]))
    ts = []
    for i, nl in enumerate(s["levels_list"]):
        t0 = time.perf_counter()
        E, jz, q = lm.truncated(w[:nl], v[:, :nl], m)
        k = K3Eval(E, jz, q, np.pi / (3 * (E[1] - E[0])), "expm" if nl <= 10 else "krylov")
        k3[i] = k(g)
        thr[i] = k.threshold() * J_PHYS
        ts.append(time.perf_counter() - t0)
    return dict(arrays=dict(k3=k3, threshold_per_s=thr), item_times=dict(x=list(s["levels_list"]), t=ts))


WORKLOADS = dict(W1=w1, W2=w2, W3=w3, W4=w4, W5=w5)
