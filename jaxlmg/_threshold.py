r"""Dephasing thresholds γφ* with K3(γφ*) = 1 (seed 001 Eq. 24, Remark 14).

Safeguarded Newton on K3(γφ) - 1 with dK3/dγφ from forward-mode autodiff:

1. K3(0) ≤ 1 → ``NO_VIOLATION`` (NaN).
2. Bracket: start from the two-level guess γ_B = 3 ln(1/ξ) ΔE/(π G01^trunc)
   (ξ = -1 + √(1 + 2/Q01²), Eq. 23 with Eq. 26), step ×4 up or ÷4 down until
   K3 - 1 changes sign (``NOT_BRACKETED`` after 40 steps).
3. Newton in log γ (K3 falls roughly like exp(-cγ)) from the geometric midpoint,
   geometric bisection whenever the step leaves the bracket or the slope is not
   negative; converged when the step is below ``rtol``·γ.
   ``NOT_CONVERGED`` (NaN) after ``max_iter`` iterations — never an unconverged number.

The threshold is differentiable in ``field`` by the implicit function theorem,
dγ*/dΓ = -(∂K3/∂Γ)/(∂K3/∂γφ) at γ* (custom JVP; forward and reverse mode), including
the Γ-dependence of the default Δt = π/(3ΔE(Γ)).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._leggett_garg import (PROTOCOLS, _validate_common, default_dt, k3_point, lg_operators,
                            optimal_dt_point)
from ._status import Status

_MAX_EXPAND = 40
#: |K3 - 1| accepted together with a Newton step below rtol (K3 is O(1), rounding ~1e-13).
_FTOL = 1e-9
#: A returned threshold must satisfy |K3(γ*) - 1| ≤ this.
_RESID_TOL = 1e-7


class ThresholdResult(eqx.Module):
    """Threshold γφ* (units of J; NaN unless ``status == OK``) and diagnostics.

    Only ``dephasing`` carries derivatives (w.r.t. ``field``)."""

    dephasing: Float[Array, "*S"]
    status: Int[Array, "*S"]
    iterations: Int[Array, "*S"]
    k3_zero: Float[Array, "*S"]  # K3 at γφ = 0 (coherent value, Eq. 25 on n levels)
    dt: Float[Array, "*S"]
    delta_e: Float[Array, "*S"]


def _guess(e, jz, q, dt):
    q01 = q[0, 1] ** 2
    jz2 = jz @ jz
    g01 = 0.5 * (jz2[0, 0] + jz2[1, 1])
    arg = jnp.maximum(1.0 + 2.0 / jnp.maximum(q01, 1e-300), 1.0)
    xi = jnp.clip(-1.0 + jnp.sqrt(arg), 1e-6, 1.0 - 1e-6)
    t2 = dt / jnp.log(1.0 / xi)
    return 1.0 / (jnp.maximum(g01, 1e-300) * t2)


def _solve_point(k3fun, g0, rtol, max_iter):
    """Safeguarded Newton for k3fun(γ) = 1 on γ ≥ 0. Returns (γ, status, iters, k3(0)).

    One ``while_loop`` whose body evaluates (K3 - 1, dK3/dγ) once (a single compiled
    copy of the propagator); a phase flag walks through: evaluate at 0 → expand the
    bracket → Newton/bisection.
    """

    def fd(g):
        return jax.jvp(lambda x: k3fun(x) - 1.0, (g,), (jnp.ones_like(g),))

    g0 = jnp.where(jnp.isfinite(g0) & (g0 > 0), g0, 1e-6)
    z = jnp.zeros(())
    i0 = jnp.zeros((), jnp.int32)
    # carry: x, lo, hi, flo (log-width of the bracket two steps ago), f0, phase, it, nexp, status
    init = (z, z, z, z + jnp.inf, z * jnp.nan, i0, i0, i0, jnp.full((), -1, jnp.int32))

    def cond(c):
        return (c[8] < 0) & (c[6] < max_iter + _MAX_EXPAND + 2)

    def body(c):
        x, lo, hi, flo, f0, phase, it, nexp, status = c
        fx, dfx = fd(x)
        # phase 0: x = 0
        p0_noviol = ~(fx > 0)
        # phase 1: x is a trial point; expand up (×4) until K3 < 1, or down (÷4) until K3 > 1
        up = fx > 0
        lo1 = jnp.where(up, x, lo)
        hi1 = jnp.where(up, hi, x)
        have = (lo1 > 0) & (hi1 > 0)
        p1_fail = ~have & (nexp + 1 >= _MAX_EXPAND)
        x1 = jnp.where(have, jnp.sqrt(lo1 * hi1), jnp.where(up, 4.0 * x, 0.25 * x))
        # phase 2: Newton in log γ (K3 decays like exp(-c γ)), geometric-bisection safeguard
        lo2 = jnp.where(fx > 0, x, lo)
        hi2 = jnp.where(fx > 0, hi, x)
        xn = x * jnp.exp(-fx / (x * dfx))
        width = jnp.log(hi2 / lo2)
        # Newton that does not halve the bracket every two steps (one-sided convergence,
        # or noise when ΔE is tiny) is replaced by a geometric bisection.
        stalled = width > 0.5 * flo
        good = jnp.isfinite(xn) & (dfx < 0) & (xn > lo2) & (xn < hi2) & ~stalled
        xn = jnp.where(good, xn, jnp.sqrt(lo2 * hi2))
        # Converged only on evidence about the root itself: a collapsed sign-change bracket,
        # or a tiny Newton step *and* a tiny residual (a small step alone can come from a
        # steep or inaccurate slope and once accepted points with K3 = 1.03).
        conv = ((fx == 0) | (hi2 - lo2 <= rtol * hi2)
                | ((jnp.abs(xn - x) <= rtol * jnp.abs(x)) & (jnp.abs(fx) <= _FTOL)))
        nanf = ~jnp.isfinite(fx)

        new0 = (g0, z, z, fx, fx, jnp.ones((), jnp.int32), it + 1, nexp,
                jnp.where(nanf, Status.NOT_CONVERGED, jnp.where(p0_noviol, Status.NO_VIOLATION, -1)).astype(jnp.int32))
        new1 = (x1, lo1, hi1, jnp.where(have, jnp.inf, flo), f0, jnp.where(have, 2, 1).astype(jnp.int32), it + 1,
                nexp + (~have).astype(jnp.int32),
                jnp.where(nanf, Status.NOT_BRACKETED, jnp.where(p1_fail, Status.NOT_BRACKETED, -1)).astype(jnp.int32))
        new2 = (xn, lo2, hi2, jnp.where(stalled | (flo == jnp.inf), width, flo), f0, phase, it + 1, nexp,
                jnp.where(nanf, Status.NOT_CONVERGED, jnp.where(conv, Status.OK, -1)).astype(jnp.int32))
        pick = lambda a, b, cc: jnp.where(phase == 0, a, jnp.where(phase == 1, b, cc))
        return tuple(pick(a, b, cc) for a, b, cc in zip(new0, new1, new2))

    x, lo, hi, flo, f0, phase, it, nexp, status = jax.lax.while_loop(cond, body, init)
    status = jnp.where(status < 0, Status.NOT_CONVERGED, status).astype(jnp.int32)
    # Final check on the answer itself: the loop's acceptance tests have let through
    # points with K3 = 1.02 (≈5% of the W3 map); such points become NOT_CONVERGED/NaN.
    resid = jnp.abs(k3fun(jnp.where(status == Status.OK, x, 1.0)) - 1.0)
    status = jnp.where((status == Status.OK) & ~(resid <= _RESID_TOL), Status.NOT_CONVERGED, status)
    # Newton iterations beyond the bracket search are limited to max_iter.
    status = jnp.where((status == Status.OK) & (it - nexp - 2 > max_iter), Status.NOT_CONVERGED, status)
    return jnp.where(status == Status.OK, x, jnp.nan), status, it, f0 + 1.0


def _fixed_point(e, jz, q, dt, p, rtol, max_iter, sequential):
    k3fun = lambda g: k3_point(e, jz, q, g, dt, p, sequential=sequential)
    return _solve_point(k3fun, _guess(e, jz, q, dt), rtol, max_iter)


def _best_point(e, jz, q, dt, p, rtol, max_iter, sequential):
    def k3fun(g):
        # max over Δt: by the envelope theorem d/dγ max_t K3 = ∂K3/∂γ at t*.
        t, _ = optimal_dt_point(e, jz, q, jax.lax.stop_gradient(g), p, sequential=sequential)
        return k3_point(e, jz, q, g, jax.lax.stop_gradient(t), p, sequential=sequential)
    return _solve_point(k3fun, _guess(e, jz, q, default_dt(e)), rtol, max_iter)


@jax.jit(static_argnames=("max_iter", "sequential", "best"))
def _solve_batch(e, jz, q, dt, p, rtol, max_iter, sequential, best):
    fn = _best_point if best else _fixed_point
    return jax.vmap(lambda *a: fn(*a, rtol, max_iter, sequential))(e, jz, q, dt, p)


def _k3_batch(e, jz, q, g, dt, p, sequential):
    return jax.vmap(lambda *a: k3_point(*a, sequential=sequential))(e, jz, q, g, dt, p)


def _best_k3_batch(e, jz, q, g, p, sequential):
    def one(e_, jz_, q_, g_, p_):
        t, _ = optimal_dt_point(e_, jz_, q_, jax.lax.stop_gradient(g_), p_, sequential=sequential)
        return k3_point(e_, jz_, q_, g_, jax.lax.stop_gradient(t), p_, sequential=sequential)
    return jax.vmap(one)(e, jz, q, g, p)


def _threshold_impl(n_flat, levels, coupling, dt_flat, p_flat, rtol, max_iter, sequential, best):
    """Build the field → (γ*, status, iters, k3_0, dt, ΔE) map with an IFT custom JVP."""

    def ops(field):
        e, jzm, qm, status = lg_operators(n_flat, field, levels, coupling=coupling)
        okm = status == Status.OK
        e = jnp.where(okm[:, None], e, jnp.arange(levels, dtype=jnp.float64))
        dt = default_dt(e) if dt_flat is None else dt_flat
        dt = jnp.where(okm, dt, 1.0)
        return e, jzm, qm, dt, status

    def primal(field):
        e, jzm, qm, dt, status = ops(field)
        g, st, it, k0 = _solve_batch(e, jzm, qm, dt, p_flat, rtol, max_iter, sequential, best)
        st = jnp.where(status == Status.OK, st, status)
        g = jnp.where(st == Status.OK, g, jnp.nan)
        k0 = jnp.where(status == Status.OK, k0, jnp.nan)
        return g, st, it, k0, jnp.where(status == Status.OK, dt, jnp.nan), e[:, 1] - e[:, 0]

    @jax.custom_jvp
    def gamma_of_field(field):
        return primal(field)[0]

    @gamma_of_field.defjvp
    def _jvp(primals, tangents):
        (field,), (fdot,) = primals, tangents
        g = gamma_of_field(field)
        gs = jnp.where(jnp.isfinite(g), g, 0.0)

        def k3_at(fld, gam):
            e, jzm, qm, dt, _ = ops(fld)
            if best:
                return _best_k3_batch(e, jzm, qm, gam, p_flat, sequential)
            return _k3_batch(e, jzm, qm, gam, dt, p_flat, sequential)

        one = jnp.ones_like(field)
        _, a = jax.jvp(lambda f_: k3_at(f_, jax.lax.stop_gradient(gs)), (jax.lax.stop_gradient(field),), (one,))
        _, b = jax.jvp(lambda g_: k3_at(jax.lax.stop_gradient(field), g_), (jax.lax.stop_gradient(gs),),
                       (jnp.ones_like(gs),))
        sens = jax.lax.stop_gradient(jnp.where(jnp.isfinite(g), -a / b, jnp.nan))
        return g, sens * fdot

    return primal, gamma_of_field


def _threshold(n_spins, field, *, levels, dt, protocol, coupling, p_excited, rtol, max_iter, best):
    ensure_x64()
    traced = isinstance(field, jax.core.Tracer)
    f_arr = field if traced else np.asarray(field, np.float64)
    g, n, f_chk, lv, t, p = _validate_common(0.0, n_spins, 0.5 if traced else f_arr, levels,
                                             None if dt is None else dt, protocol, p_excited)
    rtol = float(rtol)
    if not (0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
    max_iter = int(max_iter)
    if max_iter < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    shape = np.broadcast_shapes(n.shape, np.shape(field), np.shape(p), () if t is None else t.shape)
    n_flat = np.broadcast_to(n, shape).reshape(-1)
    p_flat = jnp.asarray(np.broadcast_to(p, shape).reshape(-1))
    dt_flat = None if t is None else jnp.asarray(np.broadcast_to(t, shape).reshape(-1))
    fld = jnp.broadcast_to(jnp.asarray(f_arr, jnp.float64), shape).reshape(-1)
    sequential = protocol == "sequential"
    primal, gamma_of_field = _threshold_impl(n_flat, lv, coupling, dt_flat, p_flat, rtol, max_iter, sequential, best)
    if traced:
        gam = gamma_of_field(fld)
        _, st, it, k0, dtv, de = primal(jax.lax.stop_gradient(fld))
    else:
        gam, st, it, k0, dtv, de = primal(fld)
    rs = lambda a: a.reshape(shape)
    return ThresholdResult(dephasing=rs(gam), status=rs(st), iterations=rs(it), k3_zero=rs(k0), dt=rs(dtv),
                           delta_e=rs(de))


def threshold(n_spins, field, *, levels: int = 5, dt=None, protocol: str = "stationary", coupling: float = 1.0,
              p_excited=0.0, rtol: float = 1e-10, max_iter: int = 100) -> ThresholdResult:
    r"""Dephasing rate γφ* where K3 = 1 at fixed Δt (seed 001 Eq. 24, Remark 14).

    Broadcasts over ``n_spins``, ``field`` (and ``dt``, ``p_excited``); ``levels`` is a
    static integer in [2, N+1]. ``dt`` defaults to π/(3ΔE) per point. Rates in units of
    J: ``BEC.rate_to_per_s(threshold(370, 0.95).dephasing)`` → 0.2892 s⁻¹.
    Failed points are NaN with ``status`` NO_VIOLATION / NOT_BRACKETED / UNRESOLVED /
    NOT_CONVERGED; ``dephasing`` is differentiable w.r.t. ``field`` (implicit function
    theorem) in forward and reverse mode.
    """
    return _threshold(n_spins, field, levels=levels, dt=dt, protocol=protocol, coupling=coupling,
                      p_excited=p_excited, rtol=rtol, max_iter=max_iter, best=False)


def threshold_best_interval(n_spins, field, *, levels: int = 5, protocol: str = "stationary",
                            coupling: float = 1.0, p_excited=0.0, rtol: float = 1e-10,
                            max_iter: int = 100) -> ThresholdResult:
    r"""γφ* where max_Δt K3(γφ, Δt) = 1 (beyond the paper; Appendix D notes that
    π/(3ΔE) is optimal only at γφ = 0). ``dt`` in the result is π/(3ΔE) for reference.
    Never below the fixed-Δt :func:`threshold`."""
    return _threshold(n_spins, field, levels=levels, dt=None, protocol=protocol, coupling=coupling,
                      p_excited=p_excited, rtol=rtol, max_iter=max_iter, best=True)
