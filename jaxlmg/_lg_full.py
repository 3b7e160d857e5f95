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

Thresholds (:func:`threshold_full`): the safeguarded Newton of ``jaxlmg.threshold`` runs on a
cheap K3 (n₀/4 and n₀/2 steps, one Richardson level, ~1e-6 accurate, ~10× cheaper with its
forward-mode slope), then chord steps on the accurate K3 with the cheap slope polish the root
(2–3 accurate evaluations, no accurate derivative). dγ*/dΓ and dγ*/dΔt by the implicit
function theorem on the accurate K3 (custom JVP). Cost at N = 370, Γ/J = 0.95 (one core,
process CPU, warm): K3 2.2 s (stationary) / 4.2 s (sequential), threshold 8.3 s / 19.7 s.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._config import ensure_x64
from ._leggett_garg import PROTOCOLS, LGResult
from ._spectrum import UNRESOLVED_FACTOR
from ._status import Status
from ._threshold import _nan_if_moved
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

def _corr_model(mod, dephasing, dt, p_excited, n0: int, sequential: bool, levels: int = RICHARDSON_LEVELS):
    """(c12, c23, c13, err) on a SplitModel at one point: Strang with n₀, 2n₀, … (``levels``
    runs) extrapolated in h²; err = max Richardson estimate over the correlators.

    Stationary: Schrödinger picture, X(t) = E_t(½{Q, ρ0}) read with Q at t and 2t.
    Sequential: Heisenberg picture for the odd sector, Q(t) = E_t†(Q) = conj E_t(Q) (H and Jz
    are real), so C12 = Tr[X0 Q(t)], C13 = Tr[X0 Q(2t)], C23 = Tr[ρ(t) ½{Q, Q(t)}]: one odd
    propagation over 2Δt and one even over Δt (the Schrödinger form needs a third, odd, one)."""
    ne, no = mod.q_eo.shape
    q = mod.q_eo
    pe = jnp.zeros(ne).at[0].set(1.0 - p_excited)
    po = jnp.zeros(no).at[0].set(p_excited)
    x0 = 0.5 * q * (pe[:, None] + po[None, :])
    read = lambda x: 2.0 * jnp.sum(q * x.real)
    dot = lambda z: 2.0 * jnp.sum(x0 * z.real)  # Tr[X0 Q(t)] with Q(t)_eo = conj z, X0 real
    c12s, c13s, c23s = [], [], []
    for k in range(levels):
        ns = n0 * 2**k
        h = dt / ns
        if not sequential:
            x1 = strang_odd(mod, x0.astype(jnp.complex128), dephasing, h, ns)
            x2 = strang_odd(mod, x1, dephasing, h, ns)
            c12s.append(read(x1))
            c13s.append(read(x2))
            continue
        z1 = strang_odd(mod, q.astype(jnp.complex128), dephasing, h, ns)
        z2 = strang_odd(mod, z1, dephasing, h, ns)
        c12s.append(dot(z1))
        c13s.append(dot(z2))
        a, b = strang_even(mod, jnp.diag(pe).astype(jnp.complex128), jnp.diag(po).astype(jnp.complex128),
                           dephasing, h, ns)
        bq, bh = jnp.conj(z1), z1.T  # Q(t)_eo and Q(t)_oe
        yee = 0.5 * (q @ bh + bq @ q.T)  # ½{Q, Q(t)} even blocks
        yoo = 0.5 * (q.T @ bq + bh @ q)
        c23s.append(jnp.real(jnp.sum(a * yee.T) + jnp.sum(b * yoo.T)))
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


def _interval(de, resolved, dt):
    """Δt used at a point: ``dt``, or π/(3ΔE) where ``dt`` is NaN; 1 at unresolved points."""
    t = jnp.where(jnp.isnan(dt), jnp.pi / (3.0 * de), dt)
    return jnp.where(resolved & jnp.isfinite(t) & (t > 0), t, 1.0)


def correlators_point(n: int, field, dephasing, dt, p_excited, *, n0: int, sequential: bool, coupling=1.0,
                      levels=None):
    """(c12, c23, c13, err, ΔE, Δt_used, resolved) at one point; ``dt`` NaN → π/(3ΔE). Pure JAX."""
    _, mod, de, resolved = _model(n, field, coupling, levels)
    t = _interval(de, resolved, dt)
    c12, c23, c13, err = _corr_model(mod, dephasing, t, p_excited, n0, sequential)
    return c12, c23, c13, err, de, t, resolved


@jax.jit(static_argnames=("n", "n0", "sequential", "coupling", "levels"))
def _batch(n, field, g, dt, p, n0, sequential, coupling, levels):
    f = lambda fl, gg, tt, pp: correlators_point(n, fl, gg, tt, pp, n0=n0, sequential=sequential,
                                                 coupling=coupling, levels=levels)
    return jax.vmap(f)(field, g, dt, p)


@jax.jit(static_argnames=("n", "coupling"))
def _delta_e(n, field, coupling):
    return jax.vmap(lambda fl: _model(n, fl, coupling, None)[2])(field)


def _is_traced(*xs):
    return any(isinstance(x, jax.core.Tracer) for x in xs)


# ----------------------------------------------------------------------------------------
# Shared driver: validation, per-point step buckets, retries
# ----------------------------------------------------------------------------------------

def _validate(n_spins, field, dt, p_excited, protocol, levels):
    """Concrete inputs → (n, field, dt or None, p, levels, sequential) as numpy; ValueError naming the
    parameter and its range otherwise."""
    check_choice("protocol", protocol, PROTOCOLS)
    n = check_n_spins(n_spins)
    if np.any(n < 2):
        raise ValueError(f"n_spins must be an integer >= 2; got {n_spins!r}")
    f = check_real("field", field, minimum=0.0)
    t = None if dt is None else check_real("dt", dt, minimum=0.0, strict=True)
    p = check_real("p_excited", p_excited, minimum=0.0, maximum=1.0)
    if levels is not None:
        lv = int(levels)
        if lv != levels or lv < 2 or lv > int(np.min(n)) + 1:
            raise ValueError(f"levels must be None or an integer in [2, N+1]; got {levels!r}")
        levels = lv
    return n, f, t, p, levels, protocol == "sequential"


def _check_unit(name, value):
    if not (0 < value < 1):
        raise ValueError(f"{name} must be in (0, 1); got {value!r}")


def _steps0(n, field, dt, coupling, steps):
    """Per-point initial n₀: ``steps`` if given, else h = Δt/n₀ ≤ 0.5 ħ/J (Δt from ΔE where NaN)."""
    if steps is not None:
        return np.full(field.size, int(steps))
    de = np.asarray(_delta_e(n, jnp.asarray(field), coupling))
    tt = np.where(np.isnan(dt), np.pi / (3.0 * np.where(de > 0, de, np.nan)), dt)
    return np.array([step_bucket(float(x)) for x in tt])


def _bucketed(n0, fixed: bool, run, accepted, out):
    """Run ``run(idx, n0)`` on the points sharing a static step count; points not ``accepted(out)``
    are retried with 2n₀ (per point, so a result never depends on its batch). Returns the final n₀."""
    todo = np.ones(n0.size, bool)
    while todo.any():
        for b in np.unique(n0[todo]):
            idx = np.nonzero(todo & (n0 == b))[0]
            for o, r in zip(out, run(idx, int(b))):
                o[idx] = np.asarray(r)
        todo = todo & ~accepted(out) & (n0 * 2 <= _MAX_STEPS) & (not fixed)
        n0 = np.where(todo, n0 * 2, n0)
    return n0


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------

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
    n, f, t, p, levels, seq = _validate(n_spins, field, dt, p_excited, protocol, levels)
    _check_unit("tol", tol)
    shape = np.broadcast_shapes(g.shape, n.shape, f.shape, p.shape, () if t is None else t.shape)
    bc = lambda a: np.broadcast_to(a, shape).reshape(-1)
    gf, nf, ff, pf = bc(g), bc(n), bc(f), bc(p)
    tf = bc(np.nan if t is None else t).astype(np.float64)
    out = [np.full(nf.size, np.nan) for _ in range(7)]
    for nn in np.unique(nf):
        sel = np.nonzero(nf == nn)[0]
        part = [np.full(sel.size, np.nan) for _ in range(7)]
        run = lambda idx, b: _batch(int(nn), jnp.asarray(ff[sel][idx]), jnp.asarray(gf[sel][idx]),
                                    jnp.asarray(tf[sel][idx]), jnp.asarray(pf[sel][idx]), b, seq, float(coupling),
                                    levels)
        accepted = lambda o: (o[3] <= tol) | ~(o[6] > 0)
        _bucketed(_steps0(int(nn), ff[sel], tf[sel], float(coupling), steps), steps is not None, run, accepted, part)
        for o, r in zip(out, part):
            o[sel] = r
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

#: Chord (polish) iterations on the accurate K3 after the search on the cheap one.
_POLISH_ITER = 8


def _k3_accurate(mod, g, t, p, n0, sequential):
    """(K3 - 1, Richardson estimate) with the accepted discretisation (n₀, 2n₀, 4n₀)."""
    c12, c23, c13, err = _corr_model(mod, g, t, p, n0, sequential)
    return c12 + c23 - c13 - 1.0, err


def _k3_cheap(mod, g, t, p, n0, sequential):
    """K3 from (n₀/4, n₀/2) steps and one Richardson level: ~10× cheaper, ~1e-6 accurate."""
    c12, c23, c13, _ = _corr_model(mod, g, t, p, max(n0 // 4, 1), sequential, levels=2)
    return c12 + c23 - c13


def _polish(accurate, cheap, x0, start, rtol):
    """Chord iterations γ ← γ - f(γ)/f̃'(γ) with f = accurate K3 - 1 and f̃' the slope of the cheap
    K3 (relative slope error δ ~ 1e-6 → each step gains a factor ~δ). Converged when the step is
    ≤ rtol·γ and |f| ≤ 1e-9. Returns (γ*, status, steps, f, err, δγ/γ) with f and err at the
    last evaluated γ (≤ rtol·γ* from γ*)."""
    from ._threshold import _FTOL

    z = jnp.zeros_like(x0)
    init = (jnp.where(start < 0, x0, 1.0), z + jnp.nan, z + jnp.nan, z + jnp.nan, z + jnp.nan, start,
            jnp.zeros((), jnp.int32))

    def cond(c):
        return (c[5] < 0) & (c[6] < _POLISH_ITER)

    def body(c):
        x = c[0]
        f, err = accurate(x)
        _, df = jax.jvp(cheap, (x,), (jnp.ones_like(x),))
        step = -f / df
        xn = x + step
        good = jnp.isfinite(f) & jnp.isfinite(df) & (df < 0) & (xn > 0)
        conv = good & (jnp.abs(step) <= rtol * x) & (jnp.abs(f) <= _FTOL)
        rel = 3.0 * err / (x * jnp.abs(df)) + jnp.abs(step) / x
        st = jnp.where(good, jnp.where(conv, Status.OK, -1), Status.NOT_CONVERGED).astype(jnp.int32)
        return (jnp.where(good, xn, x), xn, f, err, rel, st, c[6] + 1)

    x, root, f, err, rel, st, it = jax.lax.while_loop(cond, body, init)
    st = jnp.where(st < 0, Status.NOT_CONVERGED, st).astype(jnp.int32)
    return jnp.where(st == Status.OK, root, jnp.nan), st, it, f, err, rel


def _threshold_point(n: int, field, dt, p_excited, rtol, *, n0: int, sequential: bool, coupling, levels,
                     max_iter: int):
    """Two stages: safeguarded Newton (``_threshold._solve_point``) on the cheap K3 from the
    two-level guess, then :func:`_polish` on the accurate K3. K3(0) is exact on either (γφ = 0:
    the splitting is the exact unitary)."""
    from ._threshold import _solve_point

    sec, mod, de, resolved = _model(n, field, coupling, levels)
    t = _interval(de, resolved, dt)
    cheap = lambda g: _k3_cheap(mod, g, t, p_excited, n0, sequential)
    accurate = lambda g: _k3_accurate(mod, g, t, p_excited, n0, sequential)
    # two-level guess γ_B = 3 ln(1/ξ) ΔE / (π G01) (Eq. 23 with Eq. 26), as the truncated solver
    q01 = mod.q_eo[0, 0] ** 2
    g01 = 0.5 * ((mod.jz_eo @ mod.jz_eo.T)[0, 0] + (mod.jz_eo.T @ mod.jz_eo)[0, 0])
    xi = jnp.clip(-1.0 + jnp.sqrt(jnp.maximum(1.0 + 2.0 / jnp.maximum(q01, 1e-300), 1.0)), 1e-6, 1.0 - 1e-6)
    guess = jnp.log(1.0 / xi) / (jnp.maximum(g01, 1e-300) * t)
    g_a, st_a, it_a, k0 = _solve_point(cheap, guess, rtol, max_iter)
    start = jnp.where(st_a == Status.OK, -1, st_a).astype(jnp.int32)
    gam, st, it_b, f, err, rel = _polish(accurate, cheap, g_a, start, rtol)
    st = jnp.where(resolved, st, Status.UNRESOLVED)
    return gam, st, it_a + it_b, k0, t, de, err, f, rel


@jax.jit(static_argnames=("n", "n0", "sequential", "coupling", "levels", "max_iter"))
def _threshold_batch(n, field, dt, p, rtol, n0, sequential, coupling, levels, max_iter):
    f = lambda fl, tt, pp: _threshold_point(n, fl, tt, pp, rtol, n0=n0, sequential=sequential, coupling=coupling,
                                            levels=levels, max_iter=max_iter)
    return jax.vmap(f)(field, dt, p)


@jax.jit(static_argnames=("n", "n0", "sequential", "coupling", "levels", "default"))
def _ift_batch(n, field, dt, g, p, n0, sequential, coupling, levels, default):
    """Per point (∂γ*/∂Γ, ∂γ*/∂Δt) = -(∂K3/∂Γ, ∂K3/∂Δt)/(∂K3/∂γφ) at γφ* (implicit function
    theorem on the accurate K3; with the default Δt = π/(3ΔE(Γ)) its Γ-dependence is included)."""

    def k3(fl, tt, gg, pp):
        _, mod, de, resolved = _model(n, fl, coupling, levels)
        t = _interval(de, resolved, jnp.nan if default else tt)
        return _k3_accurate(mod, gg, t, pp, n0, sequential)[0]

    def one(fl, tt, gg, pp):
        a = jax.jvp(lambda x: k3(x, tt, gg, pp), (fl,), (jnp.ones_like(fl),))[1]
        b = jax.jvp(lambda x: k3(fl, tt, x, pp), (gg,), (jnp.ones_like(gg),))[1]
        c = jnp.zeros_like(a) if default else jax.jvp(lambda x: k3(fl, x, gg, pp), (tt,), (jnp.ones_like(tt),))[1]
        return -a / b, -c / b

    return jax.vmap(one)(field, dt, g, p)


def _attach_ift(field, dt, gam, groups, p, sequential, coupling, levels, default):
    """γ* carrying dγ* = (∂γ*/∂Γ) dΓ + (∂γ*/∂Δt) dΔt (custom JVP: forward and reverse mode,
    first order; second derivatives are NaN).
    ``groups``: (indices, N, n₀) with the static N and step count each point was solved with."""

    @jax.custom_jvp
    def attach(f_, t_, g_):
        return g_

    @attach.defjvp
    def _jvp(primals, tangents):
        moved = _nan_if_moved(*primals[:2])  # first order only: a Hessian reads NaN, not 0
        f_, t_, g_ = (jax.lax.stop_gradient(a) for a in primals)
        fdot, tdot, _ = tangents
        ok = jnp.isfinite(g_)
        gs = jnp.where(ok, g_, 1e-6)
        sf, stt = jnp.zeros_like(g_), jnp.zeros_like(g_)
        for idx, nn, b in groups:
            a, c = _ift_batch(nn, f_[idx], t_[idx], gs[idx], p[idx], b, sequential, coupling, levels, default)
            sf, stt = sf.at[idx].set(a), stt.at[idx].set(c)
        sf, stt = jnp.where(ok, sf, jnp.nan) + moved, jnp.where(ok, stt, jnp.nan) + moved
        return g_, sf * fdot + (0.0 if default else stt * tdot)

    return attach(field, dt, gam)


def _concrete(*xs):
    """Concrete numpy values of possibly traced arrays (eager jvp/grad), or None under jit."""
    try:
        return [None if x is None else np.asarray(jax.lax.stop_gradient(x)) for x in xs]
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def threshold_full(n_spins, field, *, dt=None, protocol: str = "stationary", coupling: float = 1.0, p_excited=0.0,
                   rtol: float = 1e-10, max_iter: int = 100, tol: float = DEFAULT_TOL, steps: int | None = None,
                   levels: int | None = None):
    r"""Dephasing threshold γφ* with K3(γφ*) = 1 on the whole Dicke space (seed 001 Eq. 24).

    Parameters
    ----------
    n_spins : N ≥ 2 (concrete); field : Γ/J ≥ 0 (may be traced); dt : Δt > 0 (ħ/J, may be
    traced), default π/(3ΔE) per point; p_excited : p ∈ [0, 1]; protocol : "stationary" or
    "sequential"; rtol : relative Newton step tolerance; max_iter : cheap-stage evaluations;
    tol : accepted Richardson estimate of the correlators at γφ*; steps : fixed n₀ (no
    retries); levels : None (full space) or n for the n-level truncation on the same engine.

    Two stages per point: the safeguarded Newton of ``jaxlmg.threshold`` (log γ, forward-mode
    dK3/dγφ, from the two-level guess) on a cheap K3 (Strang with n₀/4 and n₀/2 steps, one
    Richardson level, ~1e-6 accurate), then chord steps on the accurate K3 (n₀, 2n₀, 4n₀, two
    Richardson levels) with the cheap slope — two or three accurate evaluations. OK requires
    a converged step, |K3(γ) - 1| ≤ 1e-7 at the last evaluation (``residual``), the Richardson
    estimate ≤ ``tol`` there (else the point is retried with 2n₀, then NOT_CONVERGED) and
    ``error_estimate`` = δγ/γ ≤ 1e-6 (3·estimate/(γ|∂K3/∂γ|) + last step; else ILL_CONDITIONED).

    ``dephasing`` is differentiable in ``field`` and ``dt`` (implicit function theorem on the
    accurate K3, custom JVP: ``jax.jvp``/``jax.grad``). Under ``jax.jit`` N must be a scalar and
    n₀ = ``steps`` (default 64) without retries. Returns a ``ThresholdResult``.
    """
    from ._threshold import _COND_TOL, _RESID_TOL, ThresholdResult

    ensure_x64()
    _check_unit("rtol", rtol)
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or int(max_iter) < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    _check_unit("tol", tol)
    traced = _is_traced(field, dt)
    conc = _concrete(field, dt, p_excited) if traced else [field, dt, p_excited]
    coupling = float(coupling)
    if conc is None:  # under jit: one static N and n₀, no retries
        check_choice("protocol", protocol, PROTOCOLS)
        n = int(check_n_spins(n_spins))
        if n < 2:
            raise ValueError(f"n_spins must be an integer >= 2; got {n}")
        shape = jnp.broadcast_shapes(jnp.shape(field), jnp.shape(p_excited), () if dt is None else jnp.shape(dt))
        B = lambda a: jnp.broadcast_to(jnp.asarray(a, jnp.float64), shape).reshape(-1)
        ff, pf, tf = B(field), B(p_excited), B(jnp.nan if dt is None else dt)
        n0 = int(steps or 64)
        sg = jax.lax.stop_gradient
        out = list(_threshold_batch(n, sg(ff), sg(tf), sg(pf), float(rtol), n0, protocol == "sequential",
                                    coupling, levels, int(max_iter)))
        groups = [(jnp.arange(ff.size), n, n0)]
        xp = jnp
    else:
        n, f, t, p, levels, seq = _validate(n_spins, conc[0], conc[1], conc[2], protocol, levels)
        shape = np.broadcast_shapes(n.shape, f.shape, p.shape, () if t is None else t.shape)
        bc = lambda a: np.broadcast_to(a, shape).reshape(-1)
        nf, ff, pf = bc(n), bc(f), bc(p)
        tf = bc(np.nan if t is None else t).astype(np.float64)
        out = [np.full(nf.size, np.nan) for _ in range(9)]
        groups = []
        for nn in np.unique(nf):
            sel = np.nonzero(nf == nn)[0]
            part = [np.full(sel.size, np.nan) for _ in range(9)]
            run = lambda idx, b: _threshold_batch(int(nn), jnp.asarray(ff[sel][idx]), jnp.asarray(tf[sel][idx]),
                                                  jnp.asarray(pf[sel][idx]), float(rtol), b, seq, coupling, levels,
                                                  int(max_iter))
            accepted = lambda o: (o[1] != Status.OK) | (o[6] <= tol)
            n0 = _bucketed(_steps0(int(nn), ff[sel], tf[sel], coupling, steps), steps is not None, run, accepted,
                           part)
            for o, r in zip(out, part):
                o[sel] = r
            groups += [(sel[n0 == b], int(nn), int(b)) for b in np.unique(n0)]
        xp = np
    gam, st, it, k0, tt, de, err, k3r, rel = out
    good = (err <= tol) & (xp.abs(k3r) <= _RESID_TOL)
    st = xp.where((st == Status.OK) & ~good, Status.NOT_CONVERGED, st)
    st = xp.where((st == Status.OK) & ~(rel <= _COND_TOL), Status.ILL_CONDITIONED, st).astype(xp.int32)
    ok = st == Status.OK
    gam = jnp.asarray(xp.where(ok, gam, xp.nan))
    if traced:
        B = lambda a: jnp.broadcast_to(jnp.asarray(a, jnp.float64), shape).reshape(-1)
        gam = _attach_ift(B(field), B(jnp.nan if dt is None else dt), gam, groups, jnp.asarray(pf),
                          protocol == "sequential", coupling, levels, dt is None)
    rs = lambda a: jnp.asarray(a).reshape(shape)
    unres = st == Status.UNRESOLVED
    return ThresholdResult(dephasing=rs(gam), status=rs(st), iterations=rs(jnp.asarray(it).astype(jnp.int32)),
                           k3_zero=rs(xp.where(unres, xp.nan, k0)), dt=rs(xp.where(unres, xp.nan, tt)),
                           delta_e=rs(xp.where(unres, xp.nan, de)), error_estimate=rs(xp.where(ok, rel, xp.nan)),
                           residual=rs(xp.where(ok, k3r, xp.nan)))


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
