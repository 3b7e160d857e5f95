"""Peer (a): the paper's own style (Appendix I listing) — numpy/scipy loops.

Dense ``scipy.linalg.eigh`` of the full (N+1)-dimensional Hamiltonian, the Liouvillian
built with ``np.kron`` and exponentiated with ``scipy.linalg.expm`` for every (γφ, Δt),
thresholds with Brent's method. The K3 functions are the listing's, verbatim up to
formatting. Where the paper used a fixed bracket [0.2, 0.5] s⁻¹ (W1) we use it; other
points use a geometric bracket walk (``_lmg_numpy.find_threshold``) before Brent.

Expensive workloads are timed on a subset in full (non-quick) mode and extrapolated
(the result dict says so): W2 every 20th N (N³ cost fit), W4 every 16th γφ row
(constant cost per point), W5 n ≥ 40 (n⁶ cost fit from the measured n).
"""

from __future__ import annotations

import time

import numpy as np
from scipy.linalg import eigh, expm
from scipy.optimize import root_scalar

from . import _lmg_numpy as lm

J_PHYS = lm_J = 37195.4
IMPL = "scipy_paper"


def K3(g_J, dt, H, Jz, Q, rho0):
    d = H.shape[0]
    prop = expm(lm.liouvillian(H, Jz, g_J) * dt)
    post = 0.5 * (Q @ rho0 + rho0 @ Q)
    v0 = lm.vec(post)
    C1 = np.trace(Q @ lm.unvec(prop @ v0, d)).real
    C2 = np.trace(Q @ lm.unvec(prop @ prop @ v0, d)).real
    return 2 * C1 - C2


def K3_sequential(g_J, dt, H, Jz, Q, rho0):
    d = H.shape[0]
    L = lm.liouvillian(H, Jz, g_J)
    prop = expm(L * dt)
    prop2 = expm(L * (2 * dt))
    inst = 0.5 * (Q @ rho0 + rho0 @ Q)
    v_inst = lm.vec(inst)
    C12 = np.trace(Q @ lm.unvec(prop @ v_inst, d)).real
    C13 = np.trace(Q @ lm.unvec(prop2 @ v_inst, d)).real
    rho_dt = lm.unvec(prop @ lm.vec(rho0), d)
    inst2 = 0.5 * (Q @ rho_dt + rho_dt @ Q)
    C23 = np.trace(Q @ lm.unvec(prop @ lm.vec(inst2), d)).real
    return C12 + C23 - C13


def _levels(N, Gamma, nl, *, subset=False):
    """The listing's projection onto the lowest nl levels (list-comprehension vdots)."""
    H_f, mv = lm.build_lmg(N, Gamma)
    if subset:
        ev, evec = eigh(H_f, subset_by_index=[0, nl - 1])
    else:
        ev, evec = eigh(H_f)
    E = ev[:nl]
    dE = E[1] - E[0]
    Qd = np.array([np.sign(m) if abs(m) > 0.5 else 0. for m in mv])
    ps = [evec[:, i] for i in range(nl)]
    Jzl = np.array([[np.vdot(ps[i], mv * ps[j]) for j in range(nl)] for i in range(nl)]).real
    Ql = np.array([[np.vdot(ps[i], Qd * ps[j]) for j in range(nl)] for i in range(nl)]).real
    Hl = np.diag(E)
    r0 = np.zeros((nl, nl), dtype=complex)
    r0[0, 0] = 1.0
    return Hl, Jzl, Ql, r0, dE


def _threshold(Hl, Jzl, Ql, r0, dt, dE):
    f = lambda g: K3(g, dt, Hl, Jzl, Ql, r0) - 1.0
    root, _, status = lm.find_threshold(f, lm.threshold_guess(dE, Jzl))
    return root


def w1(s, quick):
    N, Gamma, nl = s["n_spins"], s["field"], s["levels"]
    Hl, Jzl, Ql, r0, dE = _levels(N, Gamma, nl)
    dt = np.pi / (3 * dE)
    gJ = np.array(s["gammas"])
    K3v = np.array([K3(g, dt, Hl, Jzl, Ql, r0) for g in gJ])
    K3v_seq = np.array([K3_sequential(g, dt, Hl, Jzl, Ql, r0) for g in gJ])

    def K3_continuous(g_phys):
        return K3(g_phys / J_PHYS, dt, Hl, Jzl, Ql, r0) - 1.0

    res = root_scalar(K3_continuous, bracket=[0.2, 0.5], method="brentq", xtol=1e-14, rtol=1e-12)
    return dict(arrays=dict(k3_stationary=K3v, k3_sequential=K3v_seq, threshold_per_s=np.array(res.root)))


def _w2_point(N, Gamma, k):
    H, m = lm.build_lmg(N, Gamma)
    ev, evec = eigh(H)
    w = np.full(k, np.nan)
    kk = min(k, N + 1)
    w[:kk] = ev[:kk]
    return w, lm.doublet_quantities(N, Gamma, ev[:2], evec[:, :2], m)


def w2(s, quick):
    ns, Gamma, k = s["n_spins"], s["field"], s["levels"]
    idx = np.arange(len(ns)) if quick else np.unique(np.r_[np.arange(0, len(ns), 20), len(ns) - 1])
    out = {key: np.full(len(ns), np.nan) for key in ("delta_e", "g01", "j01", "q01sq", "eta_mf")}
    energies = np.full((len(ns), k), np.nan)
    times = []
    for i in idx:
        t0 = time.perf_counter()
        w, q = _w2_point(ns[i], Gamma, k)
        times.append(time.perf_counter() - t0)
        energies[i] = w
        for key, val in zip(("delta_e", "g01", "j01", "q01sq", "eta_mf"), q):
            out[key][i] = val
    res = dict(arrays=dict(energies=energies, **out), computed=len(idx))
    if not quick:
        res["extrapolate"] = dict(kind="fit", x_meas=[ns[i] for i in idx], t_meas=times, x_all=list(ns), power=3,
                                  note="dense eigh timed on every 20th N; total extrapolated with a fitted a + b·N³ law")
    return res


def w3(s, quick):
    ns, fs, nl = s["n_spins"], s["fields"], s["levels"]
    thr = np.full((len(ns), len(fs)), np.nan)
    for i, N in enumerate(ns):
        for j, Gamma in enumerate(fs):
            Hl, Jzl, Ql, r0, dE = _levels(N, Gamma, nl, subset=True)
            thr[i, j] = _threshold(Hl, Jzl, Ql, r0, np.pi / (3 * dE), dE) * J_PHYS
    return dict(arrays=dict(threshold_per_s=thr))


def w4(s, quick):
    N, Gamma, nl = s["n_spins"], s["field"], s["levels"]
    Hl, Jzl, Ql, r0, dE = _levels(N, Gamma, nl)
    gs, fs = s["gammas"], s["dt_factors"]
    rows = np.arange(len(gs)) if quick else np.arange(0, len(gs), 16)
    k3 = np.full((len(gs), len(fs)), np.nan)
    for i in rows:
        for j, f in enumerate(fs):
            k3[i, j] = K3(gs[i], f * np.pi / (3 * dE), Hl, Jzl, Ql, r0)
    res = dict(arrays=dict(k3=k3), computed=len(rows) * len(fs))
    if not quick:
        res["extrapolate"] = dict(kind="scale", scale=len(gs) / len(rows),
                                  note="expm loop timed on every 16th γφ row (all Δt); × 16 (same cost per point)")
    return res


def w5(s, quick):
    N, Gamma, levels_list = s["n_spins"], s["field"], s["levels_list"]
    g = s["gamma"]
    H_f, mv = lm.build_lmg(N, Gamma)
    ev, evec = eigh(H_f)
    k3 = np.full(len(levels_list), np.nan)
    thr = np.full(len(levels_list), np.nan)
    xs, ts = [], []
    for i, nl in enumerate(levels_list):
        if nl > 20:
            continue
        t0 = time.perf_counter()
        E, Jzl, Ql = lm.truncated(ev[:nl], evec[:, :nl], mv)
        Hl = np.diag(E)
        r0 = np.zeros((nl, nl), complex)
        r0[0, 0] = 1.0
        dE = E[1] - E[0]
        dt = np.pi / (3 * dE)
        k3[i] = K3(g, dt, Hl, Jzl, Ql, r0)
        thr[i] = _threshold(Hl, Jzl, Ql, r0, dt, dE) * J_PHYS
        xs.append(nl)
        ts.append(time.perf_counter() - t0)
    res = dict(arrays=dict(k3=k3, threshold_per_s=thr), computed=len(xs),
               item_times=dict(x=xs, t=ts))
    if len(xs) < len(levels_list):
        res["extrapolate"] = dict(kind="fit", x_meas=xs, t_meas=ts, x_all=list(levels_list), power=6,
                                  note="n > 20 not run (dense expm of an n²×n² Liouvillian); "
                                       "extrapolated with a fitted a + b·n⁶ law")
    return res


WORKLOADS = dict(W1=w1, W2=w2, W3=w3, W4=w4, W5=w5)
