"""Seed 003 benchmark: jaxlmg.cats vs QuTiP (and scipy for the mean field) on the same problems, in one run.

Workloads (issue 10):
  A. full 2^N space, disorder average over R realisations of Gaussian detunings (even cat, η/Γ₂ = 0.2,
     δ/Γ₂ = 1e-2, grid t = 0, 10, …, 300): jaxlmg parity-block expm, vmapped over realisations, vs
     QuTiP ``mesolve`` per realisation on the full 2^N space. N = 5 by default (the CPU limit of
     the dense route; see jaxlmg/cats/_exact.py).
  B. N = 100 Dicke-basis steady states for 50 values of η/Γ₂: jaxlmg block-tridiagonal sector solves
     (both parity sectors, vmapped) vs ``qutip.steadystate`` (one state per η; the kernel is 2-dim).
  C. mean field, N = 10⁴ spins with Gaussian detunings, Eqs. 22–23 to t = T: jaxlmg (diffrax Tsit5,
     jit) vs scipy ``solve_ivp`` (RK45, numpy RHS) — QuTiP has no mean-field solver.

Run:  PYTHONPATH=. python benchmarks/cats_bench.py [--n-exact 5] [--realisations 100] [--qutip-realisations 10]
Each timing is the best of ``--repeat`` runs after one warm-up (compile) call; compile time is reported
separately. QuTiP's per-realisation time is measured on ``--qutip-realisations`` and scaled to R.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp
import numpy as np


def _best(fn, repeat):
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, first, best


def _block(x):
    return jax.tree_util.tree_map(lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, x)


def bench_full_space(n, reals, q_reals, repeat):
    import qutip

    from jaxlmg import cats as C

    eta, lw, dt, steps = 0.2, 1e-2, 10.0, 30
    det = lw * np.random.default_rng(0).normal(size=(reals, n))
    (ts, f), first, best = _best(lambda: _block(C.exact_cat_fidelity(det, eta, n, 1, dt, steps, batch_size=8)), repeat)
    ours = np.asarray(f)

    e, g = qutip.basis(2, 0), qutip.basis(2, 1)
    sm1, sz1 = g * e.dag(), e * e.dag() - g * g.dag()
    op = lambda o, k: qutip.tensor([o if j == k else qutip.qeye(2) for j in range(n)])  # noqa: E731
    sm = sum(op(sm1, k) for k in range(n))
    th = float(C.theta_from_amplitude(np.sqrt(2 * eta), n))
    one = lambda ph: qutip.tensor([np.cos(th / 2) * g + np.exp(1j * ph) * np.sin(th / 2) * e] * n)  # noqa: E731
    cat = (one(-np.pi / 4) + one(3 * np.pi / 4)).unit()
    proj = cat * cat.dag()
    c_ops = [(1.0 / n) * sm**2]
    h0 = (eta / n) * (sm**2 + sm.dag() ** 2)
    szs = [op(sz1, k) for k in range(n)]
    tlist = np.asarray(ts)

    def run_qutip():
        res = []
        for r in range(q_reals):
            h = h0 + sum(0.5 * det[r, k] * szs[k] for k in range(n))
            out = qutip.mesolve(h, cat * cat.dag(), tlist, c_ops, e_ops=[proj],
                                options={"atol": 1e-10, "rtol": 1e-8})
            res.append(np.real(out.expect[0]))
        return np.array(res)

    q, _, q_best = _best(run_qutip, max(1, repeat - 1))
    err = float(np.max(np.abs(q - ours[:q_reals])))
    q_scaled = q_best * reals / q_reals
    return {"workload": f"A full 2^N, N={n}, {reals} realisations", "jaxlmg_s": best, "jaxlmg_first_call_s": first,
            "qutip_s_scaled": q_scaled, "qutip_realisations_timed": q_reals, "speedup": q_scaled / best,
            "max_abs_diff": err}


def bench_dicke(n, points, repeat):
    import qutip

    from jaxlmg import cats as C

    etas = np.linspace(0.3, 15.0, points)
    out, first, best = _best(lambda: _block(C.steady_states(jnp.asarray(etas), n)), repeat)
    jm = qutip.jmat(n / 2, "-")
    a2 = jm * jm

    def run_qutip():
        res = []
        for eta in etas:
            h = (eta / n) * (a2 + a2.dag())
            res.append(qutip.steadystate(h, [(1.0 / n) * a2]))
        return res

    q, _, q_best = _best(run_qutip, max(1, repeat - 1))
    # QuTiP's ordering is m descending; check its state is stationary under our sector Liouvillian
    # by comparing the parity weights' consistency: any steady state = p ρ_even + (1-p) ρ_odd
    diffs = []
    for i, rq in enumerate(q):
        r = rq.full()[::-1, ::-1]
        pe = float(np.real(np.trace(r[0::2, 0::2])))
        mix = pe * np.asarray(out["even"][i]) + (1 - pe) * np.asarray(out["odd"][i])
        diffs.append(np.max(np.abs(mix - r)))
    return {"workload": f"B Dicke steady states, N={n}, {points} values of eta", "jaxlmg_s": best,
            "jaxlmg_first_call_s": first, "qutip_s": q_best, "speedup": q_best / best,
            "max_abs_diff_vs_qutip_mixture": float(np.max(diffs))}


def bench_mean_field(n, t_final, repeat):
    from scipy.integrate import solve_ivp

    from jaxlmg.cats import _mean_field as M

    eta, lw = 20.0, 1e-3
    det = lw * np.random.default_rng(1).normal(size=n)
    y0 = np.asarray(M._initial(n, eta, float(n), 1.0))
    (ts, ys, ok), first, best = _best(lambda: _block(M.evolve_mean_field(det, eta, t_final, y0=y0, n_save=2,
                                                                          rtol=1e-8, atol=1e-10)), repeat)

    def rhs(t, y):
        x, yy, z = y.reshape(3, n)
        s = x + 1j * yy
        c1 = (s.sum() - s) / n
        c2 = ((1 + z).sum() - (1 + z)) / (2 * n)
        a2 = np.abs(c1) ** 2
        ds = 1j * det * s - 2j * eta * z * np.conj(c1) - 2 * s * (c2 / n + a2) + z * c1 * (2 * c2 + n * a2)
        dz = 8 * eta * np.imag(s * c1) - 4 * (1 + z) * (c2 / n + a2) - 4 * np.real(s * np.conj(c1) * (2 * c2 + n * a2))
        return np.concatenate([ds.real, ds.imag, dz])

    def run_scipy():
        return solve_ivp(rhs, (0, t_final), y0.ravel(), method="RK45", rtol=1e-8, atol=1e-10, t_eval=[t_final])

    sp, _, sp_best = _best(run_scipy, max(1, repeat - 1))
    diff = float(np.max(np.abs(sp.y[:, -1] - np.asarray(ys[-1]).ravel())))
    return {"workload": f"C mean field, N={n} spins, t={t_final}", "jaxlmg_s": best, "jaxlmg_first_call_s": first,
            "scipy_s": sp_best, "speedup": sp_best / best, "max_abs_diff": diff, "solver_ok": bool(ok)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-exact", type=int, default=5)
    ap.add_argument("--realisations", type=int, default=100)
    ap.add_argument("--qutip-realisations", type=int, default=10)
    ap.add_argument("--dicke-n", type=int, default=100)
    ap.add_argument("--points", type=int, default=50)
    ap.add_argument("--mf-n", type=int, default=10_000)
    ap.add_argument("--mf-t", type=float, default=100.0)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", default="ABC")
    a = ap.parse_args(argv)
    res = []
    if "A" in a.only:
        res.append(bench_full_space(a.n_exact, a.realisations, a.qutip_realisations, a.repeat))
        print(json.dumps(res[-1]), flush=True)
    if "B" in a.only:
        res.append(bench_dicke(a.dicke_n, a.points, a.repeat))
        print(json.dumps(res[-1]), flush=True)
    if "C" in a.only:
        res.append(bench_mean_field(a.mf_n, a.mf_t, a.repeat))
        print(json.dumps(res[-1]), flush=True)
    return res


if __name__ == "__main__":
    main()
