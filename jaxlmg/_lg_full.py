r"""Untruncated Leggett–Garg K3 and thresholds on the whole symmetric Dicke space.

Same instrument and protocols as ``_leggett_garg`` (seed 001 Eq. 18, App. I): Q = sgn(Jz)
(sgn(0) = 0), Lüders instrument ρ → ½{Q, ρ}, C_ij = Tr[Q E_{ti→tj}(½{Q, ρ(ti)})],
stationary K3 = 2C12 - C13, sequential K3 = C12 + C23 - C13 with C23 from the undisturbed
ρ(Δt); ρ0 = (1-p)|E0⟩⟨E0| + p|E1⟩⟨E1|; Δt = π/(3ΔE) by default. In the full space Q needs
no projection and the dissipator γφ(JzρJz - ½{Jz², ρ}) is exact — nothing is truncated.

Propagation: ``jaxlmg.dynamics`` exact-unitary Strang splitting on the parity-odd sector
(only ≈ d²/2 complex numbers; the sequential C23 also evolves the even sector once) with
three-level Richardson extrapolation. Every returned point has a Richardson error estimate
≤ ``tol`` on each correlator (default 1e-9), else it is retried with twice the steps and
finally marked NOT_CONVERGED (NaN). The same engine evaluates the n-level truncation
(:func:`k3_levels`), which is how :func:`truncation_convergence` reaches n = 100, 200.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._config import ensure_x64
from ._leggett_garg import PROTOCOLS, LGResult
from ._spectrum import UNRESOLVED_FACTOR
from ._status import Status
from ._validate import check_choice, check_n_spins, check_real
from .dynamics._propagate import (RICHARDSON_LEVELS, full_model, richardson, sectors, step_bucket, strang_even,
                                  strang_odd, truncated_model)

_EPS = float(np.finfo(np.float64).eps)
#: Richardson estimates above this (per correlator) trigger a retry with 2n₀ steps.
DEFAULT_TOL = 1e-9
_MAX_STEPS = 4096


# ----------------------------------------------------------------------------------------
# Point kernel
# ----------------------------------------------------------------------------------------

def _corr_model(mod, dephasing, dt, p_excited, n0: int, sequential: bool):
    """(c12, c23, c13, err) on a SplitModel at one point (extrapolated; err = max estimate)."""
    ne, no = mod.q_eo.shape
    q = mod.q_eo
    pe = jnp.zeros(ne).at[0].set(1.0 - p_excited)
    po = jnp.zeros(no).at[0].set(p_excited)
    x0 = (0.5 * q * (pe[:, None] + po[None, :])).astype(jnp.complex128)
    read = lambda x: 2.0 * jnp.sum(q * x.real)
    c12s, c13s, c23s = [], [], []
    for k in range(RICHARDSON_LEVELS):
        ns = n0 * 2**k
        h = dt / ns
        x1 = strang_odd(mod, x0, dephasing, h, ns)
        x2 = strang_odd(mod, x1, dephasing, h, ns)
        c12s.append(read(x1))
        c13s.append(read(x2))
        if sequential:
            a, b = strang_even(mod, jnp.diag(pe).astype(jnp.complex128), jnp.diag(po).astype(jnp.complex128),
                               dephasing, h, ns)
            c23s.append(read(strang_odd(mod, 0.5 * (q @ b + a @ q), dephasing, h, ns)))
    c12, e12 = richardson(c12s)
    c13, e13 = richardson(c13s)
    if sequential:
        c23, e23 = richardson(c23s)
    else:
        c23, e23 = c12, e12
    return c12, c23, c13, jnp.maximum(jnp.maximum(e12, e13), e23)


def _model(n: int, field, coupling, levels):
    sec = sectors(n, field, coupling=coupling)
    mod = full_model(sec) if levels is None else truncated_model(sec, levels)
    de = sec.e_odd[0] - sec.e_even[0]
    resolved = de > UNRESOLVED_FACTOR * _EPS * sec.norm_h
    return sec, mod, de, resolved


def correlators_point(n: int, field, dephasing, dt, p_excited, *, n0: int, sequential: bool, coupling=1.0,
                      levels=None):
    """(c12, c23, c13, err, ΔE, Δt_used, resolved) at one point; ``dt`` NaN → π/(3ΔE). Pure JAX."""
    _, mod, de, resolved = _model(n, field, coupling, levels)
    t = jnp.where(jnp.isnan(dt), jnp.pi / (3.0 * de), dt)
    t = jnp.where(resolved & jnp.isfinite(t) & (t > 0), t, 1.0)
    c12, c23, c13, err = _corr_model(mod, dephasing, t, p_excited, n0, sequential)
    return c12, c23, c13, err, de, t, resolved


@jax.jit(static_argnames=("n", "n0", "sequential", "coupling", "levels"))
def _batch(n, field, g, dt, p, n0, sequential, coupling, levels):
    f = lambda fl, gg, tt, pp: correlators_point(n, fl, gg, tt, pp, n0=n0, sequential=sequential,
                                                 coupling=coupling, levels=levels)
    return jax.vmap(f)(field, g, dt, p)


def _is_traced(*xs):
    return any(isinstance(x, jax.core.Tracer) for x in xs)


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------

def _run_group(n, f, g, t, p, sequential, coupling, levels, tol, steps):
    """Evaluate one static N with per-point step buckets and per-point retries (numpy arrays in)."""
    size = f.size
    out = [np.full(size, np.nan) for _ in range(7)]
    # per-point initial n0 from the point's own Δt (needs ΔE: one cheap pre-pass)
    if steps is None:
        de = np.asarray(jax.vmap(lambda fl: _model(n, fl, coupling, None)[2])(jnp.asarray(f)))
        tt = np.where(np.isnan(t), np.pi / (3.0 * np.where(de > 0, de, np.nan)), t)
        n0 = np.array([step_bucket(float(x)) for x in tt])
    else:
        n0 = np.full(size, int(steps))
    todo = np.ones(size, bool)
    while todo.any():
        for b in np.unique(n0[todo]):
            idx = np.nonzero(todo & (n0 == b))[0]
            res = _batch(n, jnp.asarray(f[idx]), jnp.asarray(g[idx]), jnp.asarray(t[idx]), jnp.asarray(p[idx]),
                         int(b), sequential, coupling, levels)
            for o, r in zip(out, res):
                o[idx] = np.asarray(r)
        err = out[3]
        bad = todo & ~(err <= tol) & (out[6] > 0)
        todo = bad & (n0 * 2 <= _MAX_STEPS) & (steps is None)
        n0 = np.where(todo, n0 * 2, n0)
    return out


def correlators_full(dephasing, n_spins, field, *, dt=None, protocol: str = "stationary", coupling: float = 1.0,
                     p_excited=0.0, tol: float = DEFAULT_TOL, steps: int | None = None, levels: int | None = None
                     ) -> LGResult:
    r"""Leggett–Garg correlators and K3 on the whole Dicke space (no level truncation).

    Parameters (broadcast together)
    -------------------------------
    dephasing : γφ ≥ 0 (units of J); n_spins : N ≥ 2; field : Γ/J ≥ 0;
    dt : Δt > 0 (ħ/J), default π/(3ΔE) per point; p_excited : p ∈ [0, 1].
    protocol : "stationary" or "sequential".
    tol : accepted Richardson error estimate per correlator (absolute).
    steps : fixed n₀ (static; disables the automatic choice and the retries).
    levels : None (full space) or n to evaluate the n-level truncation with the same engine.

    Returns an ``LGResult`` (NaN where ``status != OK``: UNRESOLVED doublet, or NOT_CONVERGED
    when the error estimate stays above ``tol``). Differentiable (jvp/grad) in ``dephasing``,
    ``field`` and ``dt`` when called with tracers (then N must be a scalar and ``steps`` is used
    as given, default 64, without retries).
    """
    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    seq = protocol == "sequential"
    if _is_traced(dephasing, field, dt, p_excited):
        n = int(check_n_spins(n_spins))
        if n < 2:
            raise ValueError(f"n_spins must be an integer >= 2; got {n}")
        shape = jnp.broadcast_shapes(jnp.shape(dephasing), jnp.shape(field), jnp.shape(p_excited),
                                     () if dt is None else jnp.shape(dt))
        B = lambda a: jnp.broadcast_to(jnp.asarray(a, jnp.float64), shape).reshape(-1)
        t = B(jnp.nan if dt is None else dt)
        c12, c23, c13, err, de, tt, res = _batch(n, B(field), B(dephasing), t, B(p_excited), int(steps or 64), seq,
                                                 float(coupling), levels)
        st = jnp.where(res, Status.OK, Status.UNRESOLVED).astype(jnp.int32)
        nan = lambda a: jnp.where(res, a, jnp.nan).reshape(shape)
        return LGResult(k3=nan(c12 + c23 - c13), c12=nan(c12), c23=nan(c23), c13=nan(c13), dt=nan(tt),
                        delta_e=nan(de), status=st.reshape(shape))
    g = check_real("dephasing", dephasing, minimum=0.0)
    n = check_n_spins(n_spins)
    if np.any(n < 2):
        raise ValueError(f"n_spins must be an integer >= 2; got {n_spins!r}")
    f = check_real("field", field, minimum=0.0)
    t = None if dt is None else check_real("dt", dt, minimum=0.0, strict=True)
    p = check_real("p_excited", p_excited, minimum=0.0, maximum=1.0)
    if levels is not None:
        levels = int(levels)
        if levels < 2 or levels > int(np.min(n)) + 1:
            raise ValueError(f"levels must be None or an integer in [2, N+1]; got {levels}")
    if not (0 < tol < 1):
        raise ValueError(f"tol must be in (0, 1); got {tol!r}")
    shape = np.broadcast_shapes(g.shape, n.shape, f.shape, p.shape, () if t is None else t.shape)
    bc = lambda a: np.broadcast_to(a, shape).reshape(-1)
    gf, nf, ff, pf = bc(g), bc(n), bc(f), bc(p)
    tf = bc(np.nan if t is None else t).astype(np.float64)
    out = [np.full(nf.size, np.nan) for _ in range(7)]
    for nn in np.unique(nf):
        idx = np.nonzero(nf == nn)[0]
        res = _run_group(int(nn), ff[idx], gf[idx], tf[idx], pf[idx], seq, float(coupling), levels, tol, steps)
        for o, r in zip(out, res):
            o[idx] = r
    c12, c23, c13, err, de, tt, resolved = out
    resolved = resolved > 0
    status = np.where(~resolved, Status.UNRESOLVED, np.where(err <= tol, Status.OK, Status.NOT_CONVERGED))
    ok = status == Status.OK
    nan = lambda a: jnp.asarray(np.where(ok, a, np.nan).reshape(shape))
    return LGResult(k3=nan(c12 + c23 - c13), c12=nan(c12), c23=nan(c23), c13=nan(c13), dt=nan(tt),
                    delta_e=jnp.asarray(np.where(resolved, de, np.nan).reshape(shape)),
                    status=jnp.asarray(status.reshape(shape).astype(np.int32)))


def k3_full(dephasing, n_spins, field, *, dt=None, protocol: str = "stationary", coupling: float = 1.0,
            p_excited=0.0, tol: float = DEFAULT_TOL, steps: int | None = None):
    r"""Untruncated Leggett–Garg K3 (see :func:`correlators_full`); NaN at failed points.

    ``k3_full(BEC.rate_to_natural(0.05), 370, 0.95)`` → 1.31282 (the n = 5 truncation gives 1.3167).
    """
    return correlators_full(dephasing, n_spins, field, dt=dt, protocol=protocol, coupling=coupling,
                            p_excited=p_excited, tol=tol, steps=steps).k3


def k3_levels(dephasing, n_spins, field, levels: int, *, dt=None, protocol: str = "stationary",
              coupling: float = 1.0, p_excited=0.0, tol: float = DEFAULT_TOL):
    """K3 of the n-level truncation computed with the splitting engine (fast for large n)."""
    return correlators_full(dephasing, n_spins, field, dt=dt, protocol=protocol, coupling=coupling,
                            p_excited=p_excited, tol=tol, levels=levels).k3


# ----------------------------------------------------------------------------------------
# Thresholds
# ----------------------------------------------------------------------------------------

def _threshold_point(n: int, field, dt, p_excited, rtol, *, n0: int, sequential: bool, coupling, levels,
                     max_iter: int):
    from ._threshold import _solve_point

    sec, mod, de, resolved = _model(n, field, coupling, levels)
    t = jnp.where(jnp.isnan(dt), jnp.pi / (3.0 * de), dt)
    t = jnp.where(resolved & jnp.isfinite(t) & (t > 0), t, 1.0)

    def k3fun(g):
        c12, c23, c13, _ = _corr_model(mod, g, t, p_excited, n0, sequential)
        return c12 + c23 - c13

    # two-level guess γ_B = 3 ln(1/ξ) ΔE / (π G01) (Eq. 23 with Eq. 26), as the truncated solver
    q01 = mod.q_eo[0, 0] ** 2
    g01 = 0.5 * ((mod.jz_eo @ mod.jz_eo.T)[0, 0] + (mod.jz_eo.T @ mod.jz_eo)[0, 0])
    xi = jnp.clip(-1.0 + jnp.sqrt(jnp.maximum(1.0 + 2.0 / jnp.maximum(q01, 1e-300), 1.0)), 1e-6, 1.0 - 1e-6)
    guess = jnp.log(1.0 / xi) / (jnp.maximum(g01, 1e-300) * t)
    gam, st, it, k0 = _solve_point(k3fun, guess, rtol, max_iter)
    c12, c23, c13, err = _corr_model(mod, jnp.where(jnp.isfinite(gam), gam, 0.0), t, p_excited, n0, sequential)
    st = jnp.where(resolved, st, Status.UNRESOLVED)
    return gam, st, it, k0, t, de, err, c12 + c23 - c13 - 1.0


@jax.jit(static_argnames=("n", "n0", "sequential", "coupling", "levels", "max_iter"))
def _threshold_batch(n, field, dt, p, rtol, n0, sequential, coupling, levels, max_iter):
    f = lambda fl, tt, pp: _threshold_point(n, fl, tt, pp, rtol, n0=n0, sequential=sequential, coupling=coupling,
                                            levels=levels, max_iter=max_iter)
    return jax.vmap(f)(field, dt, p)


def threshold_full(n_spins, field, *, dt=None, protocol: str = "stationary", coupling: float = 1.0, p_excited=0.0,
                   rtol: float = 1e-10, max_iter: int = 100, tol: float = DEFAULT_TOL, steps: int | None = None,
                   levels: int | None = None):
    r"""Dephasing threshold γφ* with K3(γφ*) = 1 on the whole Dicke space (seed 001 Eq. 24).

    Same root finder and status codes as ``jaxlmg.threshold`` (safeguarded Newton in log γ with
    forward-mode dK3/dγφ, verified residual |K3 - 1| ≤ 1e-7), on the untruncated K3 of
    :func:`correlators_full`; the Richardson error estimate of K3 at γφ* must be ≤ ``tol``
    (else the point is retried with twice the steps, then NOT_CONVERGED). ``levels`` = n
    evaluates the n-level truncation with the same engine. Returns a ``ThresholdResult``.
    """
    from ._threshold import _RESID_TOL, ThresholdResult

    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    seq = protocol == "sequential"
    n = check_n_spins(n_spins)
    if np.any(n < 2):
        raise ValueError(f"n_spins must be an integer >= 2; got {n_spins!r}")
    f = check_real("field", field, minimum=0.0)
    t = None if dt is None else check_real("dt", dt, minimum=0.0, strict=True)
    p = check_real("p_excited", p_excited, minimum=0.0, maximum=1.0)
    if not (0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    if levels is not None and (int(levels) < 2 or int(levels) > int(np.min(n)) + 1):
        raise ValueError(f"levels must be None or an integer in [2, N+1]; got {levels}")
    shape = np.broadcast_shapes(n.shape, f.shape, p.shape, () if t is None else t.shape)
    bc = lambda a: np.broadcast_to(a, shape).reshape(-1)
    nf, ff, pf = bc(n), bc(f), bc(p)
    tf = bc(np.nan if t is None else t).astype(np.float64)
    out = [np.full(nf.size, np.nan) for _ in range(8)]
    for nn in np.unique(nf):
        sel = np.nonzero(nf == nn)[0]
        if steps is None:
            de = np.asarray(jax.vmap(lambda fl: _model(int(nn), fl, coupling, None)[2])(jnp.asarray(ff[sel])))
            tt = np.where(np.isnan(tf[sel]), np.pi / (3.0 * np.where(de > 0, de, np.nan)), tf[sel])
            n0 = np.array([step_bucket(float(x)) for x in tt])
        else:
            n0 = np.full(sel.size, int(steps))
        todo = np.ones(sel.size, bool)
        while todo.any():
            for b in np.unique(n0[todo]):
                loc = np.nonzero(todo & (n0 == b))[0]
                idx = sel[loc]
                res = _threshold_batch(int(nn), jnp.asarray(ff[idx]), jnp.asarray(tf[idx]), jnp.asarray(pf[idx]),
                                       float(rtol), int(b), seq, float(coupling),
                                       None if levels is None else int(levels), int(max_iter))
                for o, r in zip(out, res):
                    o[idx] = np.asarray(r)
            st, err = out[1][sel], out[6][sel]
            bad = todo & (st == Status.OK) & ~(err <= tol)
            todo = bad & (n0 * 2 <= _MAX_STEPS) & (steps is None)
            n0 = np.where(todo, n0 * 2, n0)
    gam, st, it, k0, tt, de, err, k3r = out
    st = np.where((st == Status.OK) & ~((err <= tol) & (np.abs(k3r) <= _RESID_TOL)), Status.NOT_CONVERGED,
                  st).astype(np.int32)
    ok = st == Status.OK
    rs = lambda a: jnp.asarray(np.asarray(a).reshape(shape))
    return ThresholdResult(dephasing=rs(np.where(ok, gam, np.nan)), status=rs(st), iterations=rs(it.astype(np.int32)),
                           k3_zero=rs(np.where(st != Status.UNRESOLVED, k0, np.nan)),
                           dt=rs(np.where(st != Status.UNRESOLVED, tt, np.nan)),
                           delta_e=rs(np.where(st != Status.UNRESOLVED, de, np.nan)),
                           error_estimate=rs(np.where(ok, err, np.nan)), residual=rs(np.where(ok, k3r, np.nan)))


# ----------------------------------------------------------------------------------------
# Truncation convergence (issue 8, part 3)
# ----------------------------------------------------------------------------------------

TRUNCATION_LEVELS = (2, 3, 4, 5, 10, 20, 40, 60, 100, 200)


def truncation_convergence(n_spins: int, field: float, levels_list=TRUNCATION_LEVELS, *, dephasing=None,
                           protocols=PROTOCOLS, coupling: float = 1.0, tol: float = DEFAULT_TOL) -> dict:
    r"""K3(γφ) and the threshold for each n in ``levels_list`` and for the full N+1 levels.

    ``dephasing`` defaults to 0.05 s⁻¹ in BEC units. Levels above N+1 are dropped. All values
    (truncated and full) come from the same splitting engine (the truncated ones agree with
    ``jaxlmg.k3``/``jaxlmg.threshold`` to ~1e-11). Returns a dict of numpy arrays:
    ``levels`` (last entry N+1 = full space), and per protocol ``k3_<protocol>``,
    ``threshold_<protocol>`` (units of J), ``k3_status_<protocol>``, ``threshold_status_<protocol>``.
    """
    from ._units import BEC

    n = int(check_n_spins(n_spins))
    g = BEC.rate_to_natural(0.05) if dephasing is None else float(check_real("dephasing", dephasing, minimum=0.0))
    lv = [int(x) for x in levels_list if 2 <= int(x) <= n]
    out = {"levels": np.array(lv + [n + 1]), "n_spins": n, "field": float(field), "dephasing": g}
    for prot in protocols:
        ks, kst, ts, tst = [], [], [], []
        for lvl in lv + [None]:
            r = correlators_full(g, n, field, protocol=prot, coupling=coupling, tol=tol, levels=lvl)
            th = threshold_full(n, field, protocol=prot, coupling=coupling, tol=tol, levels=lvl)
            ks.append(float(r.k3))
            kst.append(int(r.status))
            ts.append(float(th.dephasing))
            tst.append(int(th.status))
        out[f"k3_{prot}"] = np.array(ks)
        out[f"k3_status_{prot}"] = np.array(kst)
        out[f"threshold_{prot}"] = np.array(ts)
        out[f"threshold_status_{prot}"] = np.array(tst)
    return out
