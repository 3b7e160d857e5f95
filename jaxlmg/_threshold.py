r"""Dephasing thresholds γφ* with K3(γφ*) = 1 (seed 001 Eq. 24, Remark 14).

Truncations with ``levels`` ≥ ``_leggett_garg.SPLIT_LEVELS`` run on the splitting engine
(:mod:`jaxlmg._lg_split`); what follows describes the dense path below it.

Safeguarded Newton on f(γ) = K3(γ) - 1, one evaluation of (f, df/dγ) per iteration
(df/dγ by forward-mode autodiff through the odd-sector propagator exp((A + γD)Δt);
A and D are built once per point):

1. f(0) ≤ 1e-12 → ``NO_VIOLATION`` (NaN; a violation within rounding has no threshold).
2. Start at the two-level estimate γ_B = 3 ln(1/ξ) ΔE/(π G01^trunc)
   (ξ = -1 + √(1 + 2/Q01²), Eq. 23 with Eq. 26), refined for the stationary protocol to the
   root of the *secular* K3 (every coherence X_ab propagated on its own, a closed-form 2×2
   rotation-and-decay each; :func:`_guess_secular`): median distance to the root 1e-2 on the
   W3 map against 0.8 for γ_B, which saves two to three evaluations per point. The bracket
   is [lo, hi] with f(lo) > 0 > f(hi) (lo = 0 and hi = ∞ initially: f(0) > 0 is known).
3. Newton in log γ (K3 decays roughly like exp(-cγ)), at most ×16 per step while
   unbracketed; geometric bisection whenever the step leaves the bracket, the slope is
   not negative, or the bracket failed to halve (in log width) within two steps.
4. A lane is converged only on evidence about the root itself, and the root it carries
   is always an *evaluated or Newton-polished* point, never the next trial point:
   f = 0 exactly → that γ; a Newton step below ``rtol``·γ with |f| ≤ 1e-9 → the
   polished γ - f/f'; a Newton step t_k (in log γ) whose predicted error after it,
   |t_k|³/t_{k-1}² (quadratic convergence, |t_k| ≤ 1e-3 and ≤ |t_{k-1}|/4), is below
   ``rtol``/1000 → γ·e^{t_k} without the confirming evaluation (roots within 2e-13 of a
   search run to rtol = 1e-14 on the W3 map); a bracket narrower than ``rtol``·hi → the
   best evaluated point.
   Converged lanes are frozen (every carried field is selected from the previous state),
   so under ``vmap`` a lane does not change while others are still iterating.
5. The returned root is re-checked with the reference kernel of :func:`jaxlmg.k3`:
   |K3(γ*) - 1| ≤ 1e-7, else ``NOT_CONVERGED``. Its conditioning is estimated from the
   level-gap errors δ(E_k - E_0) (phases δ(E_k - E_0)·Δt, including Δt = π/(3ΔE)) and
   the residual: δγ/γ = (|f| + Σ_k |∂K3/∂E_k| δE_k)/(γ |∂K3/∂γ|). A root with
   δγ/γ > 1e-6 is ``ILL_CONDITIONED`` (NaN). Never a finite value without ``OK``.

Batches: concrete (non-traced) calls sort the lanes by ‖Ω‖·Δt (which sets the number of
squarings of each propagator, ~1 to > 40 across a W3 map, and under ``vmap`` every lane
runs as many as the slowest of its batch) and solve them in groups of 256 (smaller calls:
16 or 64; one point: 1), padded with copies of a member, so a few compiled shapes serve
every map (on a GPU groups of up to 65536 lanes: there the cost is per launch, not per
lane). Inside a group the loop runs in chunks of evaluations and regroups the lanes
that are still iterating into a smaller batch. A point's answer depends only on its own
inputs. Cost per Newton evaluation: one Padé-13 + s squarings of the 2⌈n/2⌉⌊n/2⌋-square
odd-sector generator, primal and tangent in one forward pass (3 matrix products per
squaring); the final check adds one reference K3 (:func:`k3_point`) and one reverse pass.

The threshold is differentiable in ``field`` and ``dt`` by the implicit function theorem,
dγ* = -(∂K3/∂Γ dΓ + ∂K3/∂Δt dΔt)/(∂K3/∂γφ) at γ* (custom JVP; forward and reverse mode),
including the Γ-dependence of the default Δt = π/(3ΔE(Γ)). First order only: the slopes are
evaluated at fixed arguments, so a second derivative would read 0; it is NaN instead
(:func:`_nan_if_moved`).
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from . import _leggett_garg as _lg
from ._config import ensure_x64
from ._leggett_garg import (PROTOCOLS, _direct_point, _instrument0, _populations, _readout, _validate_common, k3_point,
                            optimal_dt_search)
from ._lindblad import (_expm_impl, even_generator, even_pack, even_unpack, expm, odd_generator, odd_pack,
                        split_parity)
from ._spectrum import spectrum_operators
from ._status import Status

#: |K3 - 1| accepted together with a Newton step below rtol (K3 is O(1), rounding ~1e-13).
_FTOL = 1e-9
#: K3(0) - 1 at or below this is NO_VIOLATION: a violation within rounding of K3 (e.g.
#: N = 2 with all levels, where K3(0) = 1 analytically) has no meaningful threshold.
_NO_VIOLATION_TOL = 1e-12
#: A returned threshold must satisfy |K3(γ*) - 1| ≤ this.
_RESID_TOL = 1e-7
#: A returned threshold's estimated relative error must be ≤ this (else ILL_CONDITIONED).
_COND_TOL = 1e-6
#: γ beyond which an unbracketed search gives up (units of J; K3 is then in its Zeno limit).
_G_MAX = 1e8
_G_MIN = 1e-250
#: Loop iterations per chunk before regrouping the lanes still iterating (concrete calls).
_CHUNK = 8
_EPS = float(np.finfo(np.float64).eps)


class ThresholdResult(eqx.Module):
    """Threshold γφ* (units of J; NaN unless ``status == OK``) and diagnostics.

    ``dephasing`` carries derivatives w.r.t. ``field`` and ``dt``. ``k3_zero``, ``dt``
    and ``delta_e`` are NaN where the spectrum itself failed (UNRESOLVED, ...);
    ``error_estimate`` (relative error of γφ*, see module docstring) and ``residual``
    (K3(γφ*) - 1) are NaN where no root was found."""

    dephasing: Float[Array, "*S"]
    status: Int[Array, "*S"]
    iterations: Int[Array, "*S"]
    k3_zero: Float[Array, "*S"]  # K3 at γφ = 0 (coherent value, Eq. 25 on n levels)
    dt: Float[Array, "*S"]
    delta_e: Float[Array, "*S"]
    error_estimate: Float[Array, "*S"]
    residual: Float[Array, "*S"]


# ----------------------------------------------------------------------------------------
# Level gaps (single switch point for the accurate gaps of the spectrum module)
# ----------------------------------------------------------------------------------------

def _gaps(spec):
    """E_k - E_0 with relative accuracy (the spectrum's cancellation-free gaps)."""
    return spec.gaps


def _gap_errors(spec):
    """Absolute error bound of each gap E_k - E_0 (units of J; 0 for k = 0)."""
    return spec.gap_errors


# ----------------------------------------------------------------------------------------
# Per-point kernel
# ----------------------------------------------------------------------------------------

class _Lane(eqx.Module):
    """Everything one point's root search needs (arrays only: vmap over the leading axis)."""

    a: Array  # odd-sector generator at γ = 0 (Hamiltonian part)
    d: Array  # odd-sector generator per unit γ (dissipator)
    x0: Array
    c: Array
    dt: Array
    ae: Array  # even sector (sequential protocol only; size-0 otherwise)
    de: Array
    y0: Array
    qb: Array


def _lane(gaps, jz, q, dt, p, sequential: bool) -> _Lane:
    n = gaps.shape[-1]
    ee, eo, b, qb = split_parity(gaps, jz, q)
    zero_e, zero_o = jnp.zeros_like(ee), jnp.zeros_like(eo)
    # odd_action(x) = Ω∘(...) + γ(...): A and D reproduce odd_generator(γ) = A + γD bit for bit.
    a = odd_generator(ee, eo, b, 0.0)
    d = odd_generator(zero_e, zero_o, b, 1.0)
    pop = _populations(n, p)
    pe, po = pop[0::2], pop[1::2]
    if sequential:
        ae = even_generator(ee, eo, b, 0.0)
        de = even_generator(zero_e, zero_o, b, 1.0)
        y0 = even_pack(jnp.diag(pe).astype(jnp.complex128), jnp.diag(po).astype(jnp.complex128))
    else:
        ae = de = y0 = jnp.zeros((0,))
    return _Lane(a=a, d=d, x0=_instrument0(qb, pe, po), c=_readout(qb), dt=dt, ae=ae, de=de, y0=y0, qb=qb)


def _k3_lane(L: _Lane, g, sequential: bool, _expm=expm):
    """K3 at dephasing g; equals :func:`k3_point` on the same operators.

    ``_expm=_expm_impl`` (the plain Padé + squaring recursion, no custom JVP) lets
    ``jax.jvp`` produce the propagator and its Fréchet derivative in one pass (the custom
    JVP of :func:`expm` recomputes the primal inside the Fréchet derivative)."""
    u = _expm((L.a + g * L.d) * L.dt)
    x1 = u @ L.x0
    c12 = L.c @ x1
    c13 = L.c @ (u @ x1)
    if not sequential:
        return c12 + c12 - c13
    ne, no = L.qb.shape
    y = _expm((L.ae + g * L.de) * L.dt) @ L.y0
    ree, roo = even_unpack(y, ne, no)
    x_eo = 0.5 * (L.qb @ roo + ree @ L.qb)
    c23 = L.c @ (u @ odd_pack(x_eo))
    return c12 + c23 - c13


def _guess(gaps, jz, q, dt):
    """Two-level (level B) estimate γ_B (Eq. 23 with Eq. 26)."""
    q01 = q[0, 1] ** 2
    jz2 = jz @ jz
    g01 = 0.5 * (jz2[0, 0] + jz2[1, 1])
    arg = jnp.maximum(1.0 + 2.0 / jnp.maximum(q01, 1e-300), 1.0)
    xi = jnp.clip(-1.0 + jnp.sqrt(arg), 1e-6, 1.0 - 1e-6)
    t2 = dt / jnp.log(1.0 / xi)
    g0 = 1.0 / (jnp.maximum(g01, 1e-300) * t2)
    return jnp.where(jnp.isfinite(g0) & (g0 > 0), g0, 1e-6)


def _exp2(p, q, r, s, t):
    """Closed form of exp(M t) = C I + S (M - τI) for real 2×2 M = [[p, q], [r, s]] whose
    eigenvalues have Re ≤ 0: returns (C, S, h).

    With τ = tr M / 2, h = (p - s)/2 and Δ = h² + qr:
    C = e^{τt} cosh(√Δ t), S = e^{τt} sinh(√Δ t)/√Δ (Δ > 0; written with e^{(τ±√Δ)t} and
    ``expm1`` so nothing overflows or cancels) or C = e^{τt} cos(√-Δ t),
    S = e^{τt} sin(√-Δ t)/√-Δ (Δ < 0). Safe (NaN-free values and tangents) at Δ = 0."""
    tau = 0.5 * (p + s)
    h = 0.5 * (p - s)
    disc = h * h + q * r
    pos = disc > 0.0
    dl = jnp.sqrt(jnp.where(pos, disc, 1.0))
    om = jnp.sqrt(jnp.where(pos, 1.0, jnp.maximum(-disc, 1e-300)))
    lo = jnp.exp((tau - dl) * t)
    grow = jnp.expm1(2.0 * dl * t)
    c_pos = lo * (1.0 + 0.5 * grow)
    s_pos = lo * grow / (2.0 * dl)
    et = jnp.exp(tau * t)
    c_osc = et * jnp.cos(om * t)
    s_osc = jnp.where(om * t < 1e-8, et * t, et * jnp.sin(om * t) / om)
    return jnp.where(pos, c_pos, c_osc), jnp.where(pos, s_pos, s_osc), h


def _exp2_times(coef, q, r, x0, x1):
    """exp(M t) x from the (C, S, h) of :func:`_exp2` (M - τI = [[h, q], [r, -h]])."""
    c, sc, h = coef
    return c * x0 + sc * (h * x0 + q * x1), c * x1 + sc * (r * x0 - h * x1)


def _secular_blocks(L: _Lane):
    """The 2×2 diagonal blocks (Re X_ab, Im X_ab) of A and D, and x0, c on them (gathered once)."""
    k = L.a.shape[-1] // 2
    i = np.arange(k)
    j = i + k
    entries = lambda m: (m[i, i], m[i, j], m[j, i], m[j, j])
    return entries(L.a), entries(L.d), (L.x0[i], L.x0[j]), (L.c[i], L.c[j]), L.dt


def _k3_secular(blocks, g):
    """Stationary K3 with every coherence X_ab of the odd sector propagated on its own
    (the couplings between different coherences dropped: the secular approximation, exact
    up to O(γ‖Jz‖²/|ω_ab - ω_a'b'|)); each one is a real 2×2 block (Re, Im) in closed form."""
    a, d, (x0, x1), (c0, c1), dt = blocks
    p, q, r, s = (ak + g * dk for ak, dk in zip(a, d))
    coef = _exp2(p, q, r, s, dt)  # one propagator, applied twice (Δt, then 2Δt)
    y0, y1 = _exp2_times(coef, q, r, x0, x1)
    z0, z1 = _exp2_times(coef, q, r, y0, y1)
    c12 = c0 @ y0 + c1 @ y1
    c13 = c0 @ z0 + c1 @ z1
    return c12 + c12 - c13


#: Newton steps (in log γ) on the secular K3 that refine the start point; more do not help:
#: the secular model's own root is reached to ~1e-4 in four (W3 map), and its distance
#: to the true root is the model's error, not the iteration's.
_SECULAR_STEPS = 4


def _guess_secular(L: _Lane, g_b):
    """Start point for the stationary protocol: the root of the secular K3 (:func:`_k3_secular`),
    refined from the level-B estimate ``g_b`` by safeguarded Newton in log γ.

    Where the level frequencies are well separated on the scale 1/Δt (deep in the
    ordered phase, where ΔE·Δt = π/3 but (E_k - E_0)Δt ≫ 1 and the propagators need the most
    squarings), it is close to the true root: on the W3 map within 6e-4 for a tenth of the points,
    median 1e-2 (γ_B: 0.8), which saves two to three full evaluations per point. Near the
    critical field (all ω·Δt = O(1)) it is no better than γ_B; the full search corrects it
    either way, so the start point moves no converged root beyond its tolerance."""
    blocks = _secular_blocks(L)
    f = lambda lg: _k3_secular(blocks, jnp.exp(lg)) - 1.0
    lg0 = jnp.log(g_b)

    def body(_, c):
        lg, lo, hi = c
        v, dv = jax.jvp(f, (lg,), (jnp.ones_like(lg),))
        lo = jnp.where(v > 0, lg, lo)
        hi = jnp.where(v < 0, lg, hi)
        new = lg - jnp.clip(v / dv, -3.0, 3.0)
        ok = jnp.isfinite(new) & (dv < 0) & (new > lo) & (new < hi)
        mid = jnp.where(jnp.isfinite(lo) & jnp.isfinite(hi), 0.5 * (lo + hi), jnp.where(v > 0, lg + 1.0, lg - 1.0))
        return jnp.where(ok, new, jnp.where(jnp.isfinite(v), mid, lg)), lo, hi

    lg, _, _ = jax.lax.fori_loop(0, _SECULAR_STEPS, body, (lg0, -jnp.inf + lg0, jnp.inf + lg0))
    g = jnp.exp(lg)
    return jnp.where(jnp.isfinite(g) & (g > 0) & (g < _G_MAX), g, g_b)


# ----------------------------------------------------------------------------------------
# Root search: state machine with frozen converged lanes
# ----------------------------------------------------------------------------------------

class _State(eqx.Module):
    x: Array       # next point to evaluate
    lo: Array      # largest γ with f > 0 (0: f(0) > 0)
    hi: Array      # smallest γ with f < 0 (inf: none yet)
    w1: Array      # |f| at the previous evaluation
    w2: Array      # ... and the one before
    tp: Array      # the Newton step (in log γ) that produced x (inf: x was not a Newton step)
    bx: Array      # evaluated point with the smallest |f|
    bf: Array
    root: Array    # the root (valid once status == OK)
    status: Array  # -1 while iterating
    it: Array      # evaluations so far


def _init_state(g0, f0):
    z = jnp.zeros_like(g0)
    st = jnp.where(jnp.isfinite(f0), jnp.where(f0 > _NO_VIOLATION_TOL, -1, Status.NO_VIOLATION), Status.NOT_CONVERGED)
    return _State(x=g0, lo=z, hi=z + jnp.inf, w1=z + jnp.inf, w2=z + jnp.inf, tp=z + jnp.inf, bx=z + jnp.nan,
                  bf=z + jnp.inf, root=z + jnp.nan, status=st.astype(jnp.int32), it=jnp.zeros(g0.shape, jnp.int32))


def _step(L: _Lane, s: _State, rtol, sequential: bool) -> _State:
    """One evaluation of (f, f') at s.x and the resulting state (frozen if not iterating)."""
    f, df = jax.jvp(lambda g: _k3_lane(L, g, sequential, _expm_impl) - 1.0, (s.x,), (jnp.ones_like(s.x),))
    return _step_core(s, f, df, rtol)


def _run_lane(L, s, n_steps, rtol, sequential):
    def cond(c):
        k, st = c
        return (k < n_steps) & (st.status < 0)

    def body(c):
        k, st = c
        return k + 1, _step(L, st, rtol, sequential)

    return jax.lax.while_loop(cond, body, (jnp.zeros((), jnp.int32), s))[1]


@jax.jit(static_argnames=("sequential",))
def _prepare(gaps, jz, q, dt, p, sequential):
    """Per-lane kernel data, start point and K3(0) - 1."""
    lanes = jax.vmap(lambda *a: _lane(*a, sequential))(gaps, jz, q, dt, p)
    f0 = jax.vmap(lambda L: _k3_lane(L, 0.0, sequential) - 1.0)(lanes)
    g0 = jax.vmap(_guess)(gaps, jz, q, dt)
    if not sequential:
        g0 = jax.vmap(_guess_secular)(lanes, g0)
    return lanes, _init_state(g0, f0), f0


@jax.jit(static_argnames=("sequential",))
def _run(lanes, state, rtol, n_steps, sequential):
    return jax.vmap(lambda L, s: _run_lane(L, s, n_steps, rtol, sequential))(lanes, state)


def _take(tree, idx):
    return jax.tree_util.tree_map(lambda a: a[idx], tree)


def _bucket(k: int) -> int:
    """Smallest power of 4 (≥ 16) holding k lanes: few distinct compiled sizes."""
    size = 16
    while size < k:
        size *= 4
    return size


def _search(lanes, state, rtol, max_iter: int, sequential: bool, regroup: bool):
    """Run every lane to a final status within ``max_iter`` evaluations."""
    if not regroup:
        return _run(lanes, state, rtol, np.int32(max_iter), sequential)
    done = 0
    while done < max_iter:
        n = min(_CHUNK, max_iter - done)  # host integers: no eager JAX arithmetic between chunks
        st = np.asarray(state.status)
        act = np.flatnonzero(st < 0)
        if act.size == 0:
            break
        size = _bucket(act.size)
        if size >= st.size:
            state = _run(lanes, state, rtol, np.int32(n), sequential)
        else:
            idx = np.concatenate([act, np.full(size - act.size, act[0])])
            sub = _run(_take(lanes, idx), _take(state, idx), rtol, np.int32(n), sequential)
            state = jax.tree_util.tree_map(lambda a, b: a.at[act].set(b[: act.size]), state, sub)
        done += n
    return state


# ----------------------------------------------------------------------------------------
# Verification and conditioning at the root (reference kernel of jaxlmg.k3)
# ----------------------------------------------------------------------------------------

def _check_point(gaps, gerr, jz, q, dt, p, g, default: bool, sequential: bool):
    """(K3(g) - 1, relative error estimate of the root g).

    The residual comes from the reference kernel :func:`k3_point` (the one behind
    :func:`jaxlmg.k3`, with its regime switch). The partials ∂K3/∂γ and ∂K3/∂E_k that
    only scale the error estimate come from one reverse-mode pass of the direct
    propagator (3 matrix exponentials instead of 13 for forward mode over γ and five
    gaps); at a root eps·γφ·Δt·‖Jz‖² is ~eps·N², far inside the direct kernel's
    trusted regime."""

    def t_of(e):
        return jnp.pi / (3.0 * e[1]) if default else dt

    f = k3_point(gaps, jz, q, g, t_of(gaps), p, sequential=sequential) - 1.0

    def direct(gam, e):
        c12, c23, c13 = _direct_point(e, jz, q, gam, t_of(e), p, sequential)
        return c12 + c23 - c13

    dfdg, dfde = jax.grad(direct, argnums=(0, 1))(g, gaps)
    err = (jnp.abs(f) + jnp.sum(jnp.abs(dfde) * gerr) + 4.0 * _EPS) / (jnp.abs(dfdg) * g)
    return f, err


@jax.jit(static_argnames=("default", "sequential"))
def _check_batch(gaps, gerr, jz, q, dt, p, g, default, sequential):
    return jax.vmap(lambda *a: _check_point(*a, default, sequential))(gaps, gerr, jz, q, dt, p, g)


def _finish(gaps, gerr, jz, q, dt, p, root, status, it, f0, default, sequential):
    """Status, residual and error estimate of the searched roots (``root``, ``status``, ``it``:
    the final search state, ``f0`` = K3(0) - 1)."""
    st = jnp.where(status < 0, Status.NOT_CONVERGED, status).astype(jnp.int32)
    ok = st == Status.OK
    g = jnp.where(ok, root, 1.0)
    resid, err = _check_batch(gaps, gerr, jz, q, dt, p, g, default, sequential)
    resid = jnp.where(ok, resid, jnp.nan)
    err = jnp.where(ok, err, jnp.nan)
    st = jnp.where(ok & ~(jnp.abs(resid) <= _RESID_TOL), Status.NOT_CONVERGED, st)
    st = jnp.where((st == Status.OK) & ~(err <= _COND_TOL), Status.ILL_CONDITIONED, st).astype(jnp.int32)
    return jnp.where(st == Status.OK, root, jnp.nan), st, it, f0 + 1.0, err, resid


# ----------------------------------------------------------------------------------------
# Threshold at the optimal interval (slow path: optimisation over Δt inside each evaluation)
# ----------------------------------------------------------------------------------------

def _solve_point(k3fun, g0, rtol, max_iter):
    """Root of ``k3fun(γ) = 1`` for one point with the same state machine as the batched
    search (one ``while_loop``; f' by forward mode). Returns (γ*, status, evaluations, K3(0));
    γ* is NaN unless the status is OK. Used by the Δt-optimising path below and by the
    untruncated engine (:mod:`jaxlmg._lg_full`)."""
    f0 = k3fun(jnp.zeros(())) - 1.0
    s = _init_state(g0, f0)

    def cond(c):
        return (c.status < 0) & (c.it < max_iter)

    def body(c):
        f, df = jax.jvp(lambda g: k3fun(g) - 1.0, (c.x,), (jnp.ones_like(c.x),))
        return _step_core(c, f, df, rtol)

    s = jax.lax.while_loop(cond, body, s)
    st = jnp.where(s.status < 0, Status.NOT_CONVERGED, s.status).astype(jnp.int32)
    return jnp.where(st == Status.OK, s.root, jnp.nan), st, s.it, f0 + 1.0


def _best_point(e, jz, q, dt0, p, rtol, max_iter, sequential):
    def k3fun(g):
        t = optimal_dt_search(e, jz, q, g, p, sequential=sequential)[0]  # Δt* carries no derivative
        return k3_point(e, jz, q, g, jax.lax.stop_gradient(t), p, sequential=sequential)

    root, st, it, k3_0 = _solve_point(k3fun, _guess(e, jz, q, dt0), rtol, max_iter)
    resid = k3fun(jnp.where(st == Status.OK, root, 1.0)) - 1.0
    st = jnp.where((st == Status.OK) & ~(jnp.abs(resid) <= _RESID_TOL), Status.NOT_CONVERGED, st).astype(jnp.int32)
    return jnp.where(st == Status.OK, root, jnp.nan), st, it, k3_0, resid


def _step_core(s: _State, f, df, rtol) -> _State:
    """The state after evaluating (f, f') at s.x; converged/failed lanes stay frozen."""
    x = s.x
    finite = jnp.isfinite(f) & jnp.isfinite(df)
    lo = jnp.where(f > 0, x, s.lo)
    hi = jnp.where(f < 0, x, s.hi)
    better = jnp.abs(f) < s.bf
    bx = jnp.where(better, x, s.bx)
    bf = jnp.where(better, jnp.abs(f), s.bf)
    bracketed = jnp.isfinite(hi)
    t = -f / (x * df)
    x_log = x * jnp.exp(jnp.clip(t, -50.0, jnp.log(16.0)))
    x_lin = x - f / df
    # Newton that fails to halve |f| (one bad step: overshoot, noise at tiny ΔE) is
    # replaced by a bisection; one-sided quadratic convergence is not penalised.
    stalled = bracketed & (jnp.abs(f) > 0.5 * s.w1)
    newton_ok = finite & (df < 0) & (x_log > lo) & (x_log < hi) & ~stalled
    fallback = jnp.where(bracketed, jnp.where(lo > 0, jnp.sqrt(lo * hi), 0.0625 * hi), 16.0 * x)
    x_next = jnp.where(newton_ok, x_log, fallback)
    c_exact = f == 0
    c_newton = finite & (df < 0) & (jnp.abs(x_lin - x) <= rtol * x) & (jnp.abs(f) <= _FTOL)
    c_bracket = bracketed & (lo > 0) & (hi - lo <= rtol * hi)
    # Quadratic convergence in log γ: e_{k+1} ≈ K e_k² with K ≈ |t_k|/|t_{k-1}|², so the step
    # about to be taken leaves an error ≈ |t_k|³/t_{k-1}²; when that is below rtol/1000 (and the
    # iteration is visibly asymptotic, |t_k| ≤ 1e-3 and |t_k| ≤ |t_{k-1}|/4) x·e^{t_k} is the root
    # without the confirming evaluation. The final check re-evaluates K3 there anyway.
    at = jnp.abs(t)
    c_predict = (newton_ok & jnp.isfinite(s.tp) & (at <= 1e-3) & (at <= 0.25 * s.tp)
                 & (at * at * at <= 1e-3 * rtol * s.tp * s.tp))
    root = jnp.where(c_exact, x, jnp.where(c_newton, x_lin, jnp.where(c_predict, x_log, bx)))
    conv = c_exact | c_newton | c_predict | c_bracket
    status = jnp.where(~jnp.isfinite(f), Status.NOT_CONVERGED,
                       jnp.where(conv, Status.OK,
                                 jnp.where(~bracketed & (x >= _G_MAX), Status.NOT_BRACKETED,
                                           jnp.where(bracketed & (hi <= _G_MIN), Status.NOT_BRACKETED, -1))))
    new = _State(x=x_next, lo=lo, hi=hi, w1=jnp.abs(f), w2=s.w1, tp=jnp.where(newton_ok, at, jnp.inf),
                 bx=bx, bf=bf, root=root, status=status.astype(jnp.int32), it=s.it + 1)
    active = s.status < 0
    return jax.tree_util.tree_map(lambda a, b: jnp.where(active, a, b), new, s)


@jax.jit(static_argnames=("max_iter", "sequential"))
def _best_batch(gaps, jz, q, dt0, p, rtol, max_iter, sequential):
    return jax.vmap(lambda *a: _best_point(*a, rtol, max_iter, sequential))(gaps, jz, q, dt0, p)


def _best_k3_batch(gaps, jz, q, g, p, sequential):
    def one(e_, jz_, q_, g_, p_):
        t = optimal_dt_search(e_, jz_, q_, g_, p_, sequential=sequential)[0]
        return k3_point(e_, jz_, q_, g_, jax.lax.stop_gradient(t), p_, sequential=sequential)
    return jax.vmap(one)(gaps, jz, q, g, p)


_finish_jit = jax.jit(_finish, static_argnames=("default", "sequential"))

#: Lanes per group of a concrete call (groups of similar squaring count, see _solve_grouped).
#: On a CPU 256 lanes already fill the cores; a GPU is latency-bound on 12×12 matrices until
#: tens of thousands of lanes run at once, so there a group is as large as the batch (≤ 65536).
_GROUP = 256
_GROUP_ACCELERATOR = 65536


def _group_size() -> int:
    return _GROUP if jax.default_backend() == "cpu" else _GROUP_ACCELERATOR


def _search_all(gaps, jzm, qm, t, p, rtol, max_iter, sequential, regroup):
    """Prepare and search one batch of lanes: (root, status, evaluations, K3(0) - 1) per lane."""
    lanes, state, f0 = _prepare(gaps, jzm, qm, t, p, sequential)
    state = _search(lanes, state, rtol, max_iter, sequential, regroup)
    return state.root, state.status, state.it, f0


def _solve_all(gaps, gerr, jzm, qm, t, p, rtol, max_iter, default, sequential, regroup):
    """Prepare, search and verify one batch of lanes."""
    found = _search_all(gaps, jzm, qm, t, p, rtol, max_iter, sequential, regroup)
    return _finish_jit(gaps, gerr, jzm, qm, t, p, *found, default, sequential)


def _solve_grouped(gaps, gerr, jzm, qm, t, p, rtol, max_iter, default, sequential):
    """Concrete calls: lanes sorted by ‖Ω‖·Δt and solved in groups of ``_group_size()``.

    Under ``vmap`` every lane of a batch runs as many squarings of its propagator as the
    lane with the largest ‖(A + γD)Δt‖ (≈ (E_{n-1} - E_0)·Δt = π(E_{n-1} - E_0)/(3ΔE),
    from ~10 to > 100 squarings across a W3 map): grouping lanes of similar ‖Ω‖·Δt cuts
    that idle work, and fixed group sizes (1, or a power of 4 from 16 up to ``_group_size()``,
    padded with copies of a member) keep the number of compiled shapes small. Lanes never interact, so a point's
    answer does not depend on its group."""
    size = int(gaps.shape[0])
    if size <= 1:
        return _solve_all(gaps, gerr, jzm, qm, t, p, rtol, max_iter, default, sequential, True)
    key = np.asarray(t) * np.abs(np.asarray(gaps[:, -1]))
    order = np.argsort(np.where(np.isfinite(key), key, np.inf), kind="stable")
    grp = min(_bucket(size), _group_size())
    n_grp = -(-size // grp)
    order = np.concatenate([order, np.full(n_grp * grp - size, order[-1])])
    args = (gaps, gerr, jzm, qm, t, p)
    outs = []
    for k in range(n_grp):
        idx = order[k * grp:(k + 1) * grp]
        outs.append(_solve_all(*(a[idx] for a in args), rtol, max_iter, default, sequential, True))
    inv = np.empty(size, np.int64)
    inv[order[:size]] = np.arange(size)
    return tuple(jnp.concatenate(parts)[inv] for parts in zip(*outs))


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------

def _operators(n_flat, field, dt, levels, coupling, default):
    """(gaps, gap errors, jz, q, Δt, status) with safe values at failed points."""
    spec, ops = spectrum_operators(n_flat, field, levels=levels, coupling=coupling)
    return _operators_post(spec, ops, dt, levels, default)


@eqx.filter_jit
def _operators_post(spec, ops, dt, levels: int, default: bool):
    """Parity check and safe values, compiled as one program (eager, each ``jnp`` operation
    would compile its own)."""
    jzm, qm = ops[:, 0], ops[:, 1]
    want = jnp.where(jnp.arange(levels) % 2 == 0, 1, -1)
    alt = jnp.all(spec.parity == want, axis=-1)
    status = jnp.where((spec.status == Status.OK) & ~alt, Status.UNRESOLVED, spec.status)
    okm = status == Status.OK
    gaps = jnp.where(okm[:, None], _gaps(spec), jnp.arange(levels, dtype=jnp.float64))
    gerr = jnp.where(okm[:, None], _gap_errors(spec), 0.0)
    jzm = jnp.where(okm[:, None, None], jzm, 0.0)
    qm = jnp.where(okm[:, None, None], qm, 0.0)
    t = jnp.pi / (3.0 * gaps[:, 1]) if default else dt
    t = jnp.where(okm, t, 1.0)
    return gaps, gerr, jzm, qm, t, status


@jax.jit
def _primal_fields(g, st, it, k0, err, resid, status, t, gaps):
    """The result fields of a threshold search, NaN where the spectrum or the search failed."""
    ok_spec = status == Status.OK
    st = jnp.where(ok_spec, st, status).astype(jnp.int32)
    nan_unless = lambda m, a: jnp.where(m, a, jnp.nan)
    return dict(dephasing=nan_unless(st == Status.OK, g), status=st, iterations=it,
                k3_zero=nan_unless(ok_spec, k0), dt=nan_unless(ok_spec, t), delta_e=nan_unless(ok_spec, gaps[:, 1]),
                error_estimate=nan_unless(ok_spec, err), residual=nan_unless(ok_spec, resid))


def _threshold_impl(n_flat, levels, coupling, p_flat, rtol, max_iter, sequential, best, default,
                    stage=None, carry=None):
    """primal(field, dt) → all result fields, and attach(field, dt, p, γ*) carrying the IFT JVP.

    ``stage`` (the stages of :func:`threshold_stages`, fixed Δt search only): 0, primal returns
    the operators (gaps, gap errors, Jz, Q, Δt, status) of :func:`_operators`; 1, from those
    (``carry``) it returns them and the search's (root, status, evaluations, K3(0) - 1); 2, from
    both (``carry``) it verifies and returns the result fields. None: all of it.

    ``p_flat`` enters the primal search without a tangent; ``attach`` receives the (possibly
    traced) p_excited separately, so the root's derivative in p comes from the implicit
    function theorem, dγ*/dp = -(∂K3/∂p)/(∂K3/∂γ), never from differentiating the search."""

    split = (not best) and levels >= _lg.SPLIT_LEVELS  # large truncations: splitting engine
    steps = {}  # per-point step counts of the split path (set by primal, used by the JVP)

    def primal(field, dt):
        if stage is None or stage == 0:
            ops = _operators(n_flat, field, dt, levels, coupling, default)
        else:
            ops = carry if stage == 1 else carry[0]
        if stage == 0:
            return ops
        gaps, gerr, jzm, qm, t, status = ops
        if stage is not None:
            args = (gaps, gerr, jzm, qm, t, p_flat)
            regroup = not any(isinstance(a, jax.core.Tracer) for a in args)
            found = _search_all(gaps, jzm, qm, t, p_flat, rtol, max_iter, sequential, regroup) if stage == 1 else carry[1]
            if stage == 1:
                return ops, found
            g, st, it, k0, err, resid = _finish_jit(*args, *found, default, sequential)
            return _primal_fields(g, st, it, k0, err, resid, status, t, gaps)
        if split:
            from ._lg_split import solve_split

            g, st, it, k0, err, resid, n0 = solve_split(gaps, gerr, jzm, qm, t, p_flat, rtol, max_iter, default,
                                                        sequential)
            steps["n0"] = n0
        elif best:
            g, st, it, k0, resid = _best_batch(gaps, jzm, qm, t, p_flat, rtol, max_iter, sequential)
            err = jnp.full_like(g, jnp.nan)
            resid = jnp.where(st == Status.OK, resid, jnp.nan)
        else:
            args = (gaps, gerr, jzm, qm, t, p_flat)
            if any(isinstance(a, jax.core.Tracer) for a in args):
                g, st, it, k0, err, resid = _solve_all(*args, rtol, max_iter, default, sequential, False)
            else:
                g, st, it, k0, err, resid = _solve_grouped(*args, rtol, max_iter, default, sequential)
        return _primal_fields(g, st, it, k0, err, resid, status, t, gaps)

    def k3_at(fld, dt, gam, p=p_flat):
        gaps, _, jzm, qm, t, _ = _operators(n_flat, fld, dt, levels, coupling, default)
        if best:
            return _best_k3_batch(gaps, jzm, qm, gam, p, sequential)
        if split:
            from ._lg_split import TRACED_STEPS, k3_split_at

            n0 = steps["n0"]
            n0 = np.asarray(n0).astype(np.int64) if not isinstance(n0, jax.core.Tracer) else TRACED_STEPS
            return k3_split_at(gaps, jzm, qm, gam, t, p, n0, sequential)
        return jax.vmap(lambda *a: k3_point(*a, sequential=sequential))(gaps, jzm, qm, gam, t, p)

    @jax.custom_jvp
    def attach(field, dt, p, g):
        return g

    def slopes(field, dt, p, gs, need_f: bool, need_t: bool, need_p: bool):
        """-(∂K3/∂x)/(∂K3/∂γ) at the roots for x = field, dt, p (those that carry a tangent).
        Lanes are independent: a unit tangent on every lane gives each lane's partial."""
        found = jnp.isfinite(gs)
        gs = jnp.where(found, gs, 0.0)
        one = lambda x: jnp.ones_like(x)
        _, b = jax.jvp(lambda g_: k3_at(field, dt, g_, p), (gs,), (one(gs),))
        ratio = lambda a: jnp.where(found, -a / b, jnp.nan)
        zero = jnp.zeros_like(gs)
        sf = ratio(jax.jvp(lambda f_: k3_at(f_, dt, gs, p), (field,), (one(field),))[1]) if need_f else zero
        st = ratio(jax.jvp(lambda t_: k3_at(field, t_, gs, p), (dt,), (one(dt),))[1]) if need_t else zero
        sp = ratio(jax.jvp(lambda p_: k3_at(field, dt, gs, p_), (p,), (one(p),))[1]) if need_p else zero
        return sf, st, sp

    # One compiled program for the implicit-function partials: eager jax.grad/vmap of a threshold
    # would otherwise dispatch (and compile) every operation of the spectrum and K3 one by one.
    slopes_jit = jax.jit(slopes, static_argnames=("need_f", "need_t", "need_p"))

    def _jvp(primals, tangents):
        field, dt, p, g = primals
        fdot, tdot, pdot, _ = tangents
        # The slopes below are held fixed (first order only): a second derivative through this
        # rule would come out as 0, so the primals' own tangents (present only when this rule
        # is itself differentiated, e.g. jax.hessian) make it NaN instead (_nan_if_moved).
        moved = _nan_if_moved(field, dt, p)
        field, dt, p, g = (jax.lax.stop_gradient(a) for a in (field, dt, p, g))
        has = lambda x: type(x) is not jax.custom_derivatives.SymbolicZero
        need_f, need_t, need_p = has(fdot), (not default) and has(tdot), has(pdot)
        sf, st, sp = slopes_jit(field, dt, p, g, need_f=need_f, need_t=need_t, need_p=need_p)
        out = jnp.zeros_like(g)
        for need, s, xdot in ((need_f, sf, fdot), (need_t, st, tdot), (need_p, sp, pdot)):
            if need:
                out = out + (jax.lax.stop_gradient(s) + moved) * xdot
        return g, out

    attach.defjvp(_jvp, symbolic_zeros=True)

    return primal, attach


@jax.custom_jvp
def _nan_if_moved(*xs):
    """0, whose derivative is NaN: added to the (fixed) slopes of a threshold's first-order
    IFT rule, it turns the second derivatives that rule cannot give (they would read 0) into
    NaN, in forward and reverse mode. First derivatives never see it: there the rule's
    primals carry no tangent."""
    return jnp.zeros(())


@_nan_if_moved.defjvp
def _nan_if_moved_jvp(primals, tangents):
    nan = sum(jnp.sum(jnp.asarray(t) * jnp.nan) for t in tangents)
    return jnp.zeros(()), nan


def _threshold_traced_coupling(n_spins, field, *, dt, coupling, solve=None, **kw):
    """A traced coupling J by exact rescaling: H(J, Γ) = J·H(1, Γ/J), so with τ = J·t the
    master equation at (γφ, Γ, Δt) is the J = 1 one at (γφ/J, Γ/J, J·Δt), hence
    γφ*(J, Γ, Δt) = J·γφ*(1, Γ/J, J·Δt) (default Δt = π/(3ΔE): J·Δt is the J = 1 default). One compiled
    kernel serves every J; derivatives in J come from this identity and the dt derivative.
    Invalid traced J (≤ 0 or not finite) gives NaN + INVALID_INPUT."""
    j = jnp.asarray(coupling, jnp.float64)
    bad = ~(jnp.isfinite(j) & (j > 0.0))
    j = jnp.where(bad, 1.0, j)
    r = (solve or _threshold)(n_spins, jnp.asarray(field, jnp.float64) / j, dt=None if dt is None else dt * j,
                              coupling=1.0, **kw)
    nan = lambda v: jnp.where(bad, jnp.nan, v)
    return ThresholdResult(
        dephasing=nan(r.dephasing * j), status=jnp.where(bad, Status.INVALID_INPUT, r.status).astype(jnp.int32),
        iterations=jnp.where(bad, -1, r.iterations), k3_zero=nan(r.k3_zero), dt=nan(r.dt / j),
        delta_e=nan(r.delta_e * j), error_estimate=nan(r.error_estimate), residual=nan(r.residual))


def _threshold(n_spins, field, *, levels, dt, protocol, coupling, p_excited, rtol, max_iter, best,
               stage=None, carry=None):
    ensure_x64()
    if isinstance(coupling, jax.core.Tracer):
        return _threshold_traced_coupling(n_spins, field, levels=levels, dt=dt, protocol=protocol,
                                          coupling=coupling, p_excited=p_excited, rtol=rtol,
                                          max_iter=max_iter, best=best)
    traced_f = isinstance(field, jax.core.Tracer)
    traced_t = isinstance(dt, jax.core.Tracer)
    traced_p = isinstance(p_excited, jax.core.Tracer)
    f_arr = field if traced_f else np.asarray(field, np.float64)
    _, n, _, lv, t, p = _validate_common(0.0, n_spins, 0.5 if traced_f else f_arr, levels,
                                         None if (dt is None or traced_t) else dt, protocol, p_excited)
    rtol = float(rtol)
    if not (0 < rtol < 1):
        raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
    if isinstance(max_iter, bool) or int(max_iter) != max_iter or int(max_iter) < 1:
        raise ValueError(f"max_iter must be an integer >= 1; got {max_iter!r}")
    max_iter = int(max_iter)
    default = dt is None
    t_in = dt if traced_t else t
    shape = np.broadcast_shapes(n.shape, np.shape(field), np.shape(p), () if default else np.shape(t_in))
    n_flat = np.broadcast_to(n, shape).reshape(-1)
    sequential = protocol == "sequential"
    fld, dtv, p_flat, bad = _flat_inputs(f_arr, None if default else t_in, p, shape=shape)
    sg = lambda a: jax.lax.stop_gradient(a) if isinstance(a, jax.core.Tracer) else a
    primal, attach = _threshold_impl(n_flat, lv, coupling, sg(p_flat), rtol, max_iter, sequential, best, default,
                                     stage, carry)
    out = primal(sg(fld), sg(dtv))
    if stage in (0, 1):
        return out
    if traced_f or traced_t or traced_p:
        out["dephasing"] = attach(fld, dtv, p_flat, out["dephasing"])
    return ThresholdResult(**_mask_invalid(out, bad, shape=shape))


@jax.jit(static_argnames=("shape",))
def _flat_inputs(field, dt, p, *, shape):
    """Flattened (field, Δt, p_excited) with safe values where invalid, and the invalid mask.

    Traced values cannot be validated eagerly: invalid ones become NaN + INVALID_INPUT.
    ``dt`` None: the default Δt (zeros here, set per point from the spectrum)."""
    flat = lambda a: jnp.broadcast_to(jnp.asarray(a, jnp.float64), shape).reshape(-1)
    fld, p_flat = flat(field), flat(p)
    dtv = jnp.zeros(p_flat.shape) if dt is None else flat(dt)
    bad = ~(jnp.isfinite(fld) & (fld >= 0.0))
    if dt is not None:
        bad = bad | ~(jnp.isfinite(dtv) & (dtv > 0.0))
    bad = bad | ~(jnp.isfinite(p_flat) & (p_flat >= 0.0) & (p_flat <= 1.0))
    fld = jnp.where(bad, 0.5, fld)
    dtv = dtv if dt is None else jnp.where(bad, 1.0, dtv)
    return fld, dtv, jnp.where(bad, 0.0, p_flat), bad


@jax.jit(static_argnames=("shape",))
def _mask_invalid(out, bad, *, shape):
    """Result fields with INVALID_INPUT (NaN, iterations -1) at invalid inputs, in the batch shape."""
    out = {k: (jnp.where(bad, Status.INVALID_INPUT, v).astype(jnp.int32) if k == "status"
               else jnp.where(bad, -1 if k == "iterations" else jnp.nan, v)) for k, v in out.items()}
    return {k: v.reshape(shape) for k, v in out.items()}


#: Defaults of :func:`threshold`: relative Newton tolerance and K3 evaluations per point.
RTOL, MAX_ITER = 1e-10, 100


def threshold(n_spins, field, *, levels: int | str | None = 5, dt=None, protocol: str = "stationary", coupling: float = 1.0,
              p_excited=0.0, rtol: float = RTOL, max_iter: int = MAX_ITER) -> ThresholdResult:
    r"""Dephasing rate γφ* where K3 = 1 at fixed Δt (seed 001 Eq. 24, Remark 14).

    Parameters
    ----------
    n_spins : int or int array
        N ≥ 1 (concrete).
    field : float or array
        Γ/J ≥ 0; may be traced (``jax.jvp``/``jax.grad``/``jax.jit``).
    levels : int, None or "full"
        Truncation n ∈ [2, N+1] (static); None or "full": the whole Dicke space
        (:func:`jaxlmg._lg_full.threshold_full`, matrix-free engine; differentiable in field and dt).
        n ≥ ``SPLIT_LEVELS`` (20) runs the same search and checks on the splitting engine
        (:mod:`jaxlmg._lg_split`: Newton on a cheap K3, chord polish on the accurate one;
        ``error_estimate`` then includes its Richardson estimate) instead of dense expm's.
    dt : float or array, optional
        Interval Δt > 0 (ħ/J); default π/(3ΔE) per point. May be traced.
    protocol : {"stationary", "sequential"}
    coupling : float
        J (energies in units of J). May be traced (exact rescaling γφ*(J, Γ, Δt) = J·γφ*(1, Γ/J, J·Δt)).
    p_excited : float or array
        Initial population of E1, in [0, 1]. May be traced (invalid traced values give
        NaN + INVALID_INPUT).
    rtol : float
        Relative tolerance of the Newton step, in (0, 1).
    max_iter : int
        Maximum K3 evaluations per point (≥ 1).

    Returns
    -------
    ThresholdResult
        ``dephasing`` γφ* in units of J (``BEC.rate_to_per_s(threshold(370, 0.95).dephasing)``
        → 0.2892 s⁻¹), NaN unless ``status`` is OK. Every OK value satisfies
        |K3(γφ*) - 1| ≤ 1e-7 and has ``error_estimate`` ≤ 1e-6 (relative, from the level-gap
        errors and the residual); failed points carry NO_VIOLATION, NOT_BRACKETED,
        UNRESOLVED, NOT_CONVERGED or ILL_CONDITIONED. A point's result does not depend on the
        rest of its batch. ``dephasing`` is differentiable w.r.t. ``field``, ``dt`` and
        ``p_excited`` (implicit function theorem), forward and reverse mode, to first order:
        second derivatives (``jax.hessian``) come out NaN, never a silent 0.
    """
    from ._leggett_garg import _is_full

    if _is_full(levels):
        from ._lg_full import threshold_full

        if isinstance(coupling, jax.core.Tracer):
            return _threshold_traced_coupling(n_spins, field, dt=dt, coupling=coupling, solve=threshold_full,
                                              protocol=protocol, p_excited=p_excited, rtol=rtol,
                                              max_iter=max_iter)
        return threshold_full(n_spins, field, dt=dt, protocol=protocol, coupling=coupling, p_excited=p_excited,
                              rtol=rtol, max_iter=max_iter)
    return _threshold(n_spins, field, levels=levels, dt=dt, protocol=protocol, coupling=coupling,
                      p_excited=p_excited, rtol=rtol, max_iter=max_iter, best=False)


def threshold_best_interval(n_spins, field, *, levels: int = 5, protocol: str = "stationary",
                            coupling: float = 1.0, p_excited=0.0, rtol: float = RTOL,
                            max_iter: int = MAX_ITER) -> ThresholdResult:
    r"""γφ* where max_Δt K3(γφ, Δt) = 1 (beyond the paper; Appendix D notes that
    π/(3ΔE) is optimal only at γφ = 0). ``dt`` in the result is π/(3ΔE) for reference;
    ``error_estimate`` is NaN (not estimated on this path). Never below the fixed-Δt
    :func:`threshold`. Parameters as for :func:`threshold`."""
    return _threshold(n_spins, field, levels=levels, dt=None, protocol=protocol, coupling=coupling,
                      p_excited=p_excited, rtol=rtol, max_iter=max_iter, best=True)


def threshold_stages(n_spins: int, *, levels: int = 5, protocol: str = "stationary"):
    """:func:`threshold` of one point (default ``coupling``, ``p_excited``, ``rtol``, ``max_iter``)
    as three functions with the same result: ``operators(field[, dt])`` (the spectrum's
    operators), ``search(operators, field[, dt])`` (the operators and the Newton search's roots)
    and ``verify(searched, field[, dt])`` (the :class:`ThresholdResult`). Three programs instead
    of one, so that :func:`jaxlmg._cache.compiled_call` compiles each while it traces the next
    (the command line's cold ``threshold``). ``levels`` below ``SPLIT_LEVELS``."""
    if levels >= _lg.SPLIT_LEVELS:
        raise ValueError(f"levels must be below SPLIT_LEVELS = {_lg.SPLIT_LEVELS} for threshold_stages; got {levels}")
    kw = dict(levels=levels, protocol=protocol, coupling=1.0, p_excited=0.0, rtol=RTOL, max_iter=MAX_ITER,
              best=False)

    def operators(field, dt=None):
        return _threshold(n_spins, field, dt=dt, stage=0, **kw)

    def search(ops, field, dt=None):
        return _threshold(n_spins, field, dt=dt, stage=1, carry=ops, **kw)

    def verify(searched, field, dt=None):
        return _threshold(n_spins, field, dt=dt, stage=2, carry=searched, **kw)

    return operators, search, verify
