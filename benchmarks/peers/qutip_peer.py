"""Peer (c): QuTiP 5 — ``jmat`` operators, ``Qobj.eigenstates``, ``liouvillian`` and
``Qobj.expm`` (W1, W3, W4), ``mesolve`` for the large truncations of W5.

Expensive workloads are timed on a subset in full mode and extrapolated (W2 every 20th
N with an N³ fit; W4 every 16th γφ row). Runs in the peers' venv (.venv-bench).
"""

from __future__ import annotations

import time

import numpy as np
import qutip as qt
from scipy.optimize import brentq  # noqa: F401  (the shared threshold search uses Brent)

from . import _lmg_numpy as lm

IMPL = "qutip"
J_PHYS = 37195.4


def info():
    return dict(qutip=qt.__version__, numpy=np.__version__, method="Qobj.expm of qutip.liouvillian; mesolve for n > 10")


def operators(N, Gamma):
    j = N / 2.0
    Jz, Jx = qt.jmat(j, "z"), qt.jmat(j, "x")
    H = -(2.0 / N) * Jz * Jz - 2.0 * Gamma * Jx
    m = np.real(Jz.diag())
    Q = qt.Qobj(np.diag(lm.q_diag(m)))
    return H, Jz, Q, m


def levels(N, Gamma, nl, *, sparse=False):
    H, Jz, Q, m = operators(N, Gamma)
    E, kets = H.eigenstates(sparse=sparse, eigvals=nl)
    V = np.column_stack([k.full().ravel() for k in kets])
    jz = (V.conj().T @ (Jz.full() @ V)).real
    q = (V.conj().T @ (Q.full() @ V)).real
    return np.asarray(E), jz, q, V, m


class K3Q:
    def __init__(self, E, jz, q, dt, use_mesolve=False):
        n = len(E)
        self.H = qt.Qobj(np.diag(E))
        self.Jz = qt.Qobj(jz)
        self.Q = qt.Qobj(q)
        self.rho0 = qt.fock_dm(n, 0)
        self.post = 0.5 * (self.Q * self.rho0 + self.rho0 * self.Q)
        self.dt = dt
        self.use_mesolve = use_mesolve
        self.opts = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 1_000_000, "store_states": False}

    def corr(self, g, x0):
        if self.use_mesolve:
            r = qt.mesolve(self.H, x0, [0.0, self.dt, 2 * self.dt], c_ops=[np.sqrt(g) * self.Jz], e_ops=[self.Q],
                           options=self.opts)
            return float(np.real(r.expect[0][1])), float(np.real(r.expect[0][2]))
        L = qt.liouvillian(self.H, [np.sqrt(g) * self.Jz])
        P = (L * self.dt).to("dense").expm()  # CSR expm is ~10× slower here
        v1 = P * qt.operator_to_vector(x0)
        v2 = P * v1
        return (float(np.real(qt.expect(self.Q, qt.vector_to_operator(v1)))),
                float(np.real(qt.expect(self.Q, qt.vector_to_operator(v2)))))

    def __call__(self, g):
        c1, c2 = self.corr(g, self.post)
        return 2 * c1 - c2

    def sequential(self, g):
        c12, c13 = self.corr(g, self.post)
        L = qt.liouvillian(self.H, [np.sqrt(g) * self.Jz])
        P = (L * self.dt).to("dense").expm()
        rho_dt = qt.vector_to_operator(P * qt.operator_to_vector(self.rho0))
        inst2 = 0.5 * (self.Q * rho_dt + rho_dt * self.Q)
        c23 = float(np.real(qt.expect(self.Q, qt.vector_to_operator(P * qt.operator_to_vector(inst2)))))
        return c12 + c23 - c13

    def threshold(self, E):
        root, _, _ = lm.find_threshold(lambda g: self(g) - 1.0, lm.threshold_guess(E[1] - E[0], self.Jz.full().real))
        return root


def _k3q(N, Gamma, nl):
    E, jz, q, _, _ = levels(N, Gamma, nl)
    return K3Q(E, jz, q, np.pi / (3 * (E[1] - E[0]))), E


def w1(s, quick):
    k, E = _k3q(s["n_spins"], s["field"], s["levels"])
    gs = s["gammas"]
    return dict(arrays=dict(k3_stationary=np.array([k(g) for g in gs]),
                            k3_sequential=np.array([k.sequential(g) for g in gs]),
                            threshold_per_s=np.array(k.threshold(E) * J_PHYS)))


def w2(s, quick):
    ns, Gamma, k = s["n_spins"], s["field"], s["levels"]
    idx = np.arange(len(ns)) if quick else np.unique(np.r_[np.arange(0, len(ns), 20), len(ns) - 1])
    keys = ("delta_e", "g01", "j01", "q01sq", "eta_mf")
    out = {key: np.full(len(ns), np.nan) for key in keys}
    energies = np.full((len(ns), k), np.nan)
    times = []
    for i in idx:
        t0 = time.perf_counter()
        N = ns[i]
        kk = min(k, N + 1)
        E, _, _, V, m = levels(N, Gamma, kk)
        energies[i, :kk] = E
        # qutip orders m from +j to -j: the doublet quantities only need m per component.
        for key, val in zip(keys, lm.doublet_quantities(N, Gamma, E, V.real, m)):
            out[key][i] = val
        times.append(time.perf_counter() - t0)
    res = dict(arrays=dict(energies=energies, **out), computed=len(idx))
    if not quick:
        res["extrapolate"] = dict(kind="fit", x_meas=[ns[i] for i in idx], t_meas=times, x_all=list(ns), power=3,
                                  note="Qobj.eigenstates timed on every 20th N; total extrapolated with a fitted a + b·N³ law")
    return res


def w3(s, quick):
    ns, fs, nl = s["n_spins"], s["fields"], s["levels"]
    thr = np.full((len(ns), len(fs)), np.nan)
    for i, N in enumerate(ns):
        for j, Gamma in enumerate(fs):
            k, E = _k3q(N, Gamma, nl)
            thr[i, j] = k.threshold(E) * J_PHYS
    return dict(arrays=dict(threshold_per_s=thr))


def w4(s, quick):
    k, E = _k3q(s["n_spins"], s["field"], s["levels"])
    dE = E[1] - E[0]
    gs, fs = s["gammas"], s["dt_factors"]
    rows = np.arange(len(gs)) if quick else np.arange(0, len(gs), 16)
    k3 = np.full((len(gs), len(fs)), np.nan)
    for i in rows:
        for j, f in enumerate(fs):
            k.dt = f * np.pi / (3 * dE)
            k3[i, j] = k(gs[i])
    res = dict(arrays=dict(k3=k3), computed=len(rows) * len(fs))
    if not quick:
        res["extrapolate"] = dict(kind="scale", scale=len(gs) / len(rows),
                                  note="Qobj.expm loop timed on every 16th γφ row (all Δt); × 16 (same cost per point)")
    return res


def w5(s, quick):
    N, Gamma, g = s["n_spins"], s["field"], s["gamma"]
    nmax = max(s["levels_list"])
    E_all, jz_all, q_all, _, _ = levels(N, Gamma, nmax)
    k3 = np.full(len(s["levels_list"]), np.nan)
    thr = np.full(len(s["levels_list"]), np.nan)
    xs, ts = [], []
    for i, nl in enumerate(s["levels_list"]):
        if nl > 20:
            continue
        t0 = time.perf_counter()
        E = E_all[:nl]
        k = K3Q(E, jz_all[:nl, :nl], q_all[:nl, :nl], np.pi / (3 * (E[1] - E[0])), use_mesolve=nl > 10)
        k3[i] = k(g)
        thr[i] = k.threshold(E) * J_PHYS
        xs.append(nl)
        ts.append(time.perf_counter() - t0)
    res = dict(arrays=dict(k3=k3, threshold_per_s=thr), computed=len(xs), item_times=dict(x=xs, t=ts))
    if len(xs) < len(s["levels_list"]):
        res["extrapolate"] = dict(kind="fit", x_meas=xs, t_meas=ts, x_all=list(s["levels_list"]), power=4,
                                  note="n > 20 not run (mesolve on the n²-dim Liouvillian with a dense Jz⊗Jz); "
                                       "extrapolated with a fitted a + b·n⁴ law")
    return res


WORKLOADS = dict(W1=w1, W2=w2, W3=w3, W4=w4, W5=w5)
