"""Peer (d): dynamiqs (float64, ``dq.set_precision('double')``), batched ``mesolve``.

The truncated operators come from scipy ``eigh_tridiagonal`` (dynamiqs has no
eigensolver; W2 is not applicable). K3 uses batched ``dq.mesolve`` (Tsit5, rtol 1e-10,
atol 1e-12) with ρ(0) = ½{Q, ρ0}; for per-point Δt the Hamiltonian and jump operator
are rescaled (H·Δt, √(γφΔt)·Jz) so one batched solve on tsave = [0, 1, 2] gives
C(Δt), C(2Δt) for every point; n ≤ 10 uses the propagator method ``dq.method.Expm``. Thresholds: a batched geometric scan (γ0·2^k, k = -12…8)
to bracket the first crossing (k = -12…8), then rounds of 16 batched interior points per bracket
(each round shrinks it 17×) and a final secant step — no per-point Python loop.
"""

from __future__ import annotations

import numpy as np

import dynamiqs as dq
import jax
import jax.numpy as jnp

from . import _lmg_numpy as lm
from .scipy_tuned import levels

dq.set_precision("double")
IMPL = "dynamiqs"
JIT = True
J_PHYS = 37195.4
METHOD = dq.method.Tsit5(rtol=1e-10, atol=1e-12, max_steps=1_000_000)
SKIPPED = {"W2": "dynamiqs has no eigensolver: the spectrum sweep is not applicable"}


def info():
    return dict(dynamiqs=dq.__version__, jax=jax.__version__, backend=jax.default_backend(),
                method="batched mesolve: Expm for n ≤ 10 (W1, W3, W5 small n), Tsit5 rtol=1e-10 atol=1e-12 otherwise (W4, W5 n > 10)")


def _states(H, L, rho0, tsave):
    # Propagator method (exact expm of the n²×n² Liouvillian) for small n; Tsit5 above.
    method = dq.method.Expm() if H.shape[-1] <= 10 else METHOD
    r = dq.mesolve(H, [L], rho0, tsave, method=method, cartesian_batching=False, progress_meter=False)
    return np.asarray(r.states.to_jax())


def _post(q):
    n = q.shape[-1]
    r0 = np.zeros((n, n))
    r0[0, 0] = 1.0
    return 0.5 * (q @ r0 + r0 @ q)


def k3_batch(E, jz, q, g, dt):
    """Stationary K3 for a flat batch: E (B,n), jz/q (B,n,n), g/dt (B,)."""
    E, jz, q = np.asarray(E), np.asarray(jz), np.asarray(q)
    H = jnp.asarray((np.eye(E.shape[-1]) * E[:, None, :] * dt[:, None, None]).astype(complex))
    L = jnp.asarray((np.sqrt(g * dt)[:, None, None] * jz).astype(complex))
    rho = jnp.asarray(np.stack([_post(x) for x in q]).astype(complex))
    st = _states(H, L, rho, jnp.array([0.0, 1.0, 2.0]))
    C = np.einsum("bij,btji->bt", q, st).real
    return 2 * C[:, 1] - C[:, 2]


def k3_sequential_batch(E, jz, q, g, dt):
    E, jz, q = np.asarray(E), np.asarray(jz), np.asarray(q)
    B, n = E.shape
    H = jnp.asarray((np.eye(n) * E[:, None, :] * dt[:, None, None]).astype(complex))
    L = jnp.asarray((np.sqrt(g * dt)[:, None, None] * jz).astype(complex))
    post = np.stack([_post(x) for x in q]).astype(complex)
    st = _states(H, L, jnp.asarray(post), jnp.array([0.0, 1.0, 2.0]))
    C = np.einsum("bij,btji->bt", q, st).real
    r0 = np.zeros((B, n, n), complex)
    r0[:, 0, 0] = 1.0
    rho_dt = _states(H, L, jnp.asarray(r0), jnp.array([0.0, 1.0]))[:, 1]
    inst2 = 0.5 * (q @ rho_dt + rho_dt @ q)
    c23 = np.einsum("bij,bji->b", q, _states(H, L, jnp.asarray(inst2), jnp.array([0.0, 1.0]))[:, 1]).real
    return C[:, 1] + c23 - C[:, 2]


def threshold_batch(E, jz, q, rounds=10, m=16):
    """Batched stationary threshold (units of J) for P points; NaN where none."""
    E, jz, q = np.asarray(E), np.asarray(jz), np.asarray(q)
    P = E.shape[0]
    de = E[:, 1] - E[:, 0]
    dt = np.pi / (3 * de)
    g0 = np.array([lm.threshold_guess(de[i], jz[i]) for i in range(P)])
    rep = lambda a, k: np.repeat(a, k, axis=0)
    k0 = k3_batch(E, jz, q, np.zeros(P), dt)
    ks = np.arange(-12, 9)
    K = len(ks)
    gg = (g0[:, None] * 2.0 ** ks[None, :])
    kk = k3_batch(rep(E, K), rep(jz, K), rep(q, K), gg.reshape(-1), rep(dt, K)).reshape(P, K)
    below = ~(kk > 1.0)  # NaN counts as "below" → flagged via finiteness later
    first = np.argmax(below, axis=1)
    has = np.any(below, axis=1) & (k0 > 1.0) & np.all(np.isfinite(kk), axis=1)
    lo = np.where(first > 0, gg[np.arange(P), np.maximum(first - 1, 0)], 0.0)
    hi = gg[np.arange(P), first]
    flo = np.where(first > 0, kk[np.arange(P), np.maximum(first - 1, 0)], k0) - 1.0
    fhi = kk[np.arange(P), first] - 1.0
    frac = (np.arange(1, m + 1) / (m + 1))[None, :]
    for _ in range(rounds):
        pts = lo[:, None] + (hi - lo)[:, None] * frac
        fp = k3_batch(rep(E, m), rep(jz, m), rep(q, m), pts.reshape(-1), rep(dt, m)).reshape(P, m) - 1.0
        allf = np.concatenate([flo[:, None], fp, fhi[:, None]], axis=1)
        allg = np.concatenate([lo[:, None], pts, hi[:, None]], axis=1)
        neg = ~(allf > 0)
        j = np.clip(np.argmax(neg, axis=1), 1, m + 1)
        r = np.arange(P)
        lo, hi, flo, fhi = allg[r, j - 1], allg[r, j], allf[r, j - 1], allf[r, j]
    root = lo - flo * (hi - lo) / (fhi - flo)
    return np.where(has, root, np.nan)


def _ops(N, Gamma, nl):
    E, jz, q = levels(N, Gamma, nl)
    return E, jz, q


def w1(s, quick):
    E, jz, q = _ops(s["n_spins"], s["field"], s["levels"])
    g = np.asarray(s["gammas"])
    B = len(g)
    dt = np.full(B, np.pi / (3 * (E[1] - E[0])))
    Eb, jzb, qb = np.broadcast_to(E, (B,) + E.shape), np.broadcast_to(jz, (B,) + jz.shape), np.broadcast_to(q, (B,) + q.shape)
    ks = k3_batch(Eb, jzb, qb, g, dt)
    kq = k3_sequential_batch(Eb, jzb, qb, g, dt)
    thr = threshold_batch(E[None], jz[None], q[None])[0]
    return dict(arrays=dict(k3_stationary=ks, k3_sequential=kq, threshold_per_s=np.array(thr * J_PHYS)))


def w3(s, quick):
    ns, fs, nl = s["n_spins"], s["fields"], s["levels"]
    ops = [_ops(N, G, nl) for N in ns for G in fs]
    E = np.stack([o[0] for o in ops])
    jz = np.stack([o[1] for o in ops])
    q = np.stack([o[2] for o in ops])
    thr = threshold_batch(E, jz, q).reshape(len(ns), len(fs))
    return dict(arrays=dict(threshold_per_s=thr * J_PHYS))


def w4(s, quick):
    E, jz, q = _ops(s["n_spins"], s["field"], s["levels"])
    n = len(E)
    dts = np.asarray(s["dt_factors"]) * np.pi / (3 * (E[1] - E[0]))
    tsave = np.unique(np.concatenate([[0.0], dts, 2 * dts]))
    g = np.asarray(s["gammas"])
    H = jnp.asarray(np.diag(E).astype(complex))
    L = jnp.asarray((np.sqrt(g)[:, None, None] * jz[None]).astype(complex))
    r = dq.mesolve(H, [L], jnp.asarray(_post(q).astype(complex)), jnp.asarray(tsave),
                   exp_ops=[jnp.asarray(q.astype(complex))], method=METHOD, save_states=False, progress_meter=False)
    ex = np.asarray(r.expects).real.reshape(len(g), len(tsave))
    i1 = np.searchsorted(tsave, dts)
    i2 = np.searchsorted(tsave, 2 * dts)
    return dict(arrays=dict(k3=2 * ex[:, i1] - ex[:, i2]))


def w5(s, quick):
    import time

    N, Gamma, g = s["n_spins"], s["field"], s["gamma"]
    E_all, jz_all, q_all = levels(N, Gamma, max(s["levels_list"]))
    k3v, thr, ts = [], [], []
    for nl in s["levels_list"]:
        t0 = time.perf_counter()
        E, jz, q = E_all[:nl], jz_all[:nl, :nl], q_all[:nl, :nl]
        dt = np.pi / (3 * (E[1] - E[0]))
        k3v.append(float(k3_batch(E[None], jz[None], q[None], np.array([g]), np.array([dt]))[0]))
        thr.append(float(threshold_batch(E[None], jz[None], q[None])[0]) * J_PHYS)
        ts.append(time.perf_counter() - t0)
    return dict(arrays=dict(k3=np.array(k3v), threshold_per_s=np.array(thr)),
                item_times=dict(x=list(s["levels_list"]), t=ts))


WORKLOADS = dict(W1=w1, W3=w3, W4=w4, W5=w5)
