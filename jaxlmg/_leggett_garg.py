r"""Leggett–Garg K3 of the dephased LMG doublet (seed 001 Eqs. 18, 21–25, §7.4, App. I).

Conventions
-----------
* Units: energies, rates (γφ = ``dephasing``) in units of the coupling J, times in ħ/J
  (convert from s⁻¹ with ``BEC.rate_to_natural``).
* Liouvillian: dρ/dt = -i[H, ρ] + γφ (Jz ρ Jz - ½{Jz², ρ}) in the basis of the lowest n
  energy eigenstates of H (Appendix I); superoperators use column stacking,
  vec(AXB) = (Bᵀ ⊗ A) vec(X) (QuTiP convention), see ``_lindblad``.
* Observable Q = sgn(Jz) with sgn(0) = 0 (Q is then exactly parity-odd, Q00 = Q11 = 0,
  seed 001 §7.2); measurements use the Lüders instrument ρ → ½{Q, ρ}
  (= P₊ρP₊ - P₋ρP₋ for Q² = 1), Eq. 18:  C_ij = ½ Tr[Q E_{ti→tj}({Q, ρ(ti)})].
* ``protocol="stationary"``: K3 = 2 C12 - C13 (re-preparation, C23 = C12; Appendix I
  ``K3``). ``protocol="sequential"``: K3 = C12 + C23 - C13 with C23 computed from the
  state evolved undisturbed to Δt and then measured (Appendix I ``K3_sequential``).
* Initial state ρ0 = (1-p)|E0⟩⟨E0| + p|E1⟩⟨E1| (``p_excited`` = p, default 0).
* Δt defaults to π/(3ΔE) (the coherent two-level optimum, Eq. 21).

Only the parity-odd sector of Liouville space (≈ n²/2 real numbers) is propagated for
C12, C13; the sequential C23 also propagates the even sector once.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._lindblad import (even_generator, even_pack, even_unpack, expm, odd_generator, odd_pack,
                        split_parity)
from ._observables import matrix_elements
from ._spectrum import spectrum
from ._status import Status
from ._validate import check_choice, check_levels, check_n_spins, check_real

PROTOCOLS = ("stationary", "sequential")


# ----------------------------------------------------------------------------------------
# Point kernels (one parameter point; pure JAX, vmap/jvp friendly)
# ----------------------------------------------------------------------------------------

def _populations(n: int, p_excited):
    p = jnp.zeros(n, jnp.float64).at[0].set(1.0 - p_excited)
    return p.at[1].add(p_excited)


def _instrument0(qb, p_even, p_odd):
    """x0 = (Re, Im) of ½{Q, ρ0}_eo for diagonal ρ0."""
    x_eo = 0.5 * qb * (p_even[:, None] + p_odd[None, :])
    return jnp.concatenate([x_eo.ravel(), jnp.zeros(x_eo.size)])


def _readout(qb):
    """c with C = ⟨c, x⟩ = Tr[Q X] for odd-sector x = (Re X_eo, Im X_eo)."""
    return jnp.concatenate([2.0 * qb.ravel(), jnp.zeros(qb.size)])


def correlators_point(energies, jz, q, dephasing, dt, p_excited=0.0, *, sequential: bool = False):
    """(C12, C23, C13) at one point from truncated operators (see module docstring).

    For ``sequential=False`` C23 is returned equal to C12 (stationary protocol).
    """
    n = energies.shape[-1]
    ee, eo, b, qb = split_parity(energies, jz, q)
    ne, no = b.shape
    p = _populations(n, p_excited)
    pe, po = p[0::2], p[1::2]
    m = odd_generator(ee, eo, b, dephasing)
    u = expm(m * dt)
    c = _readout(qb)
    x1 = u @ _instrument0(qb, pe, po)
    x2 = u @ x1
    c12 = c @ x1
    c13 = c @ x2
    if not sequential:
        return c12, c12, c13
    me = even_generator(ee, eo, b, dephasing)
    y = expm(me * dt) @ even_pack(jnp.diag(pe).astype(jnp.complex128), jnp.diag(po).astype(jnp.complex128))
    ree, roo = even_unpack(y, ne, no)
    x_eo = 0.5 * (qb @ roo + ree @ qb)
    c23 = c @ (u @ odd_pack(x_eo))
    return c12, c23, c13


def k3_point(energies, jz, q, dephasing, dt, p_excited=0.0, *, sequential: bool = False):
    c12, c23, c13 = correlators_point(energies, jz, q, dephasing, dt, p_excited, sequential=sequential)
    return c12 + c23 - c13


def default_dt(energies):
    """Δt = π/(3ΔE), ΔE = E1 - E0 (Eq. 21)."""
    return jnp.pi / (3.0 * (energies[..., 1] - energies[..., 0]))


# ----------------------------------------------------------------------------------------
# Low-level batched API on operator arrays
# ----------------------------------------------------------------------------------------

@jax.jit(static_argnames=("sequential",))
def _corr_batch(e, jz, q, g, dt, p, sequential):
    f = lambda *a: correlators_point(*a, sequential=sequential)
    return jax.vmap(f)(e, jz, q, g, dt, p)


def correlators_from_operators(energies, jz, q, dephasing, dt=None, *, protocol: str = "stationary",
                               p_excited=0.0):
    r"""C12, C23, C13 from truncated operators, broadcast over leading axes.

    ``energies`` (*S, n) ascending with alternating parity (+, -, +, …), ``jz`` and ``q``
    (*S, n, n) real symmetric in that basis (``truncated_operators`` at h = 0);
    ``dephasing`` γφ and ``dt`` broadcast against ``*S``. Pure JAX: forward-mode
    differentiable (``jax.jvp``/``jax.jacfwd``) in every floating argument.
    Returns ``(c12, c23, c13)``.
    """
    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    e = jnp.asarray(energies, jnp.float64)
    jz = jnp.asarray(jz, jnp.float64)
    q = jnp.asarray(q, jnp.float64)
    n = e.shape[-1]
    if n < 2:
        raise ValueError(f"levels must be an integer >= 2; got {n}")
    g = jnp.asarray(dephasing, jnp.float64)
    t = default_dt(e) if dt is None else jnp.asarray(dt, jnp.float64)
    p = jnp.asarray(p_excited, jnp.float64)
    shape = jnp.broadcast_shapes(e.shape[:-1], jz.shape[:-2], q.shape[:-2], g.shape, t.shape, p.shape)
    B = lambda a, tail=(): jnp.broadcast_to(a, shape + tail).reshape((-1,) + tail)
    out = _corr_batch(B(e, (n,)), B(jz, (n, n)), B(q, (n, n)), B(g), B(t), B(p), protocol == "sequential")
    return tuple(o.reshape(shape) for o in out)


def k3_from_operators(energies, jz, q, dephasing, dt=None, *, protocol: str = "stationary", p_excited=0.0):
    """K3 from truncated operators (see :func:`correlators_from_operators`)."""
    c12, c23, c13 = correlators_from_operators(energies, jz, q, dephasing, dt, protocol=protocol,
                                               p_excited=p_excited)
    return c12 + c23 - c13


# ----------------------------------------------------------------------------------------
# Operators from (n_spins, field) with status
# ----------------------------------------------------------------------------------------

def lg_operators(n_spins, field, levels: int, *, coupling: float = 1.0, on_invalid: str = "raise"):
    """(energies, jz, q, status) on the lowest ``levels`` states, with a parity check.

    Points whose level parities do not alternate (+, -, +, …) — only possible when the
    doublet is not resolved in float64 — get status UNRESOLVED.
    """
    spec = spectrum(n_spins, field, levels=levels, coupling=coupling, on_invalid=on_invalid)
    jzm = matrix_elements(spec, "jz")
    qm = matrix_elements(spec, "q", sgn0=0.0)
    want = jnp.where(jnp.arange(levels) % 2 == 0, 1, -1)
    alt = jnp.all(spec.parity == want, axis=-1)
    status = jnp.where((spec.status == Status.OK) & ~alt, Status.UNRESOLVED, spec.status)
    return spec.energies, jzm, qm, status


class LGResult(eqx.Module):
    """Leggett–Garg correlators and K3 (NaN where ``status != OK``)."""

    k3: Float[Array, "*S"]
    c12: Float[Array, "*S"]
    c23: Float[Array, "*S"]
    c13: Float[Array, "*S"]
    dt: Float[Array, "*S"]
    delta_e: Float[Array, "*S"]
    status: Int[Array, "*S"]


def _validate_common(dephasing, n_spins, field, levels, dt, protocol, p_excited):
    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    g = check_real("dephasing", dephasing, minimum=0.0)
    n = check_n_spins(n_spins)
    f = check_real("field", field, minimum=0.0)
    lv = check_levels(levels, int(np.min(n)) + 1, minimum=2)
    t = None if dt is None else check_real("dt", dt, minimum=0.0, strict=True)
    p = check_real("p_excited", p_excited, minimum=0.0, maximum=1.0)
    return g, n, f, lv, t, p


def correlators(dephasing, n_spins, field, *, levels: int = 5, dt=None, protocol: str = "stationary",
                coupling: float = 1.0, p_excited=0.0) -> LGResult:
    r"""Leggett–Garg correlators C12, C23, C13 and K3 (Eq. 18) of the n-level dephased LMG.

    Parameters broadcast together: ``dephasing`` γφ ≥ 0 (units of J), ``n_spins`` N,
    ``field`` Γ/J, ``dt`` > 0 (ħ/J; default π/(3ΔE) per point), ``p_excited`` ∈ [0, 1].
    ``levels`` n ∈ [2, N+1] (static). Points with an unresolved doublet are NaN with
    status UNRESOLVED.
    """
    g, n, f, lv, t, p = _validate_common(dephasing, n_spins, field, levels, dt, protocol, p_excited)
    e, jzm, qm, status = lg_operators(n, f, lv, coupling=coupling)
    nf_shape = status.shape
    de = e[..., 1] - e[..., 0]
    tt = default_dt(e) if t is None else jnp.asarray(t)
    shape = np.broadcast_shapes(nf_shape, g.shape, np.shape(tt), p.shape)
    ok = jnp.broadcast_to(status == Status.OK, shape)
    # Safe values at failed points (results masked to NaN below).
    e_s = jnp.where((status == Status.OK)[..., None], e, jnp.arange(lv, dtype=jnp.float64))
    tt = jnp.where(ok, jnp.broadcast_to(tt, shape), 1.0)
    c12, c23, c13 = correlators_from_operators(e_s, jzm, qm, g, tt, protocol=protocol, p_excited=p)
    nan = lambda a: jnp.where(ok, a, jnp.nan)
    return LGResult(k3=nan(c12 + c23 - c13), c12=nan(c12), c23=nan(c23), c13=nan(c13), dt=nan(tt),
                    delta_e=nan(jnp.broadcast_to(de, shape)), status=jnp.broadcast_to(status, shape))


def k3(dephasing, n_spins, field, *, levels: int = 5, dt=None, protocol: str = "stationary",
       coupling: float = 1.0, p_excited=0.0):
    r"""Leggett–Garg K3 (Eq. 18; Appendix I) of the collectively dephased LMG model.

    ``k3(BEC.rate_to_natural(0.05), 370, 0.95)`` → 1.3167 (seed 001 Fig. 1, n = 5).
    See :func:`correlators` for the parameters; returns only K3 (NaN at failed points).
    """
    return correlators(dephasing, n_spins, field, levels=levels, dt=dt, protocol=protocol,
                       coupling=coupling, p_excited=p_excited).k3


# ----------------------------------------------------------------------------------------
# K3 surface over (γφ, Δt)
# ----------------------------------------------------------------------------------------

def _surface_uniform(e, jz, q, gs, dt0, h, n_dt, sequential):
    """K3 on a uniform Δt grid dt0 + k h by propagator powers (vector scans, exact)."""
    ee, eo, b, qb = split_parity(e, jz, q)
    ne, no = b.shape
    p = _populations(e.shape[-1], 0.0)
    pe, po = p[0::2], p[1::2]
    c = _readout(qb)
    x0 = _instrument0(qb, pe, po)

    def one(g):
        m = odd_generator(ee, eo, b, g)
        u0, uh, u20, u2h = expm(jnp.stack([m * dt0, m * h, m * (2 * dt0), m * (2 * h)]))

        def scan_vec(mat, v):
            def step(carry, _):
                return mat @ carry, carry
            return jax.lax.scan(step, v, None, length=n_dt)[1]

        c12 = scan_vec(uh, u0 @ x0) @ c
        c13 = scan_vec(u2h, u20 @ x0) @ c
        if not sequential:
            return 2 * c12 - c13
        me = even_generator(ee, eo, b, g)
        ue0, ueh = expm(jnp.stack([me * dt0, me * h]))
        y0 = even_pack(jnp.diag(pe).astype(jnp.complex128), jnp.diag(po).astype(jnp.complex128))
        ys = scan_vec(ueh, ue0 @ y0)  # ρ(dt_k)
        ws = scan_vec(uh.T, u0.T @ c)  # U(dt_k)ᵀ c

        def c23_of(y, w):
            ree, roo = even_unpack(y, ne, no)
            return w @ odd_pack(0.5 * (qb @ roo + ree @ qb))

        c23 = jax.vmap(c23_of)(ys, ws)
        return c12 + c23 - c13

    return jax.vmap(one)(gs)


def _surface_general(e, jz, q, gs, dts, sequential):
    f = lambda g, t: k3_point(e, jz, q, g, t, 0.0, sequential=sequential)
    return jax.vmap(lambda g: jax.vmap(lambda t: f(g, t))(dts))(gs)


_surface_uniform_jit = jax.jit(_surface_uniform, static_argnames=("n_dt", "sequential"))
_surface_general_jit = jax.jit(_surface_general, static_argnames=("sequential",))


def k3_surface(dephasings, dts, n_spins: int, field: float, levels: int = 5, *, protocol: str = "stationary",
               coupling: float = 1.0):
    r"""K3 on the grid ``dephasings`` × ``dts`` (shape (n_γ, n_Δt)) at one (N, Γ/J).

    Uniformly spaced ``dts`` use exact propagator powers U(dt0 + k h) = U(h)^k U(dt0)
    applied to vectors (four small expm per γφ); other grids one expm per point.
    """
    g = check_real("dephasing", dephasings, minimum=0.0).reshape(-1)
    t = check_real("dt", dts, minimum=0.0, strict=True).reshape(-1)
    n = int(check_n_spins(n_spins))
    f = float(check_real("field", field, minimum=0.0))
    check_choice("protocol", protocol, PROTOCOLS)
    lv = check_levels(levels, n + 1, minimum=2)
    e, jzm, qm, status = lg_operators(n, f, lv, coupling=coupling)
    if int(status) != Status.OK:
        return jnp.full((g.size, t.size), jnp.nan)
    seq = protocol == "sequential"
    if t.size >= 3:
        d = np.diff(t)
        uniform = np.allclose(d, d[0], rtol=1e-10, atol=0.0) and d[0] != 0
    else:
        uniform = False
    if uniform:
        h = (t[-1] - t[0]) / (t.size - 1)
        return _surface_uniform_jit(e, jzm, qm, jnp.asarray(g), t[0], h, t.size, seq)
    return _surface_general_jit(e, jzm, qm, jnp.asarray(g), jnp.asarray(t), seq)


# ----------------------------------------------------------------------------------------
# Optimal interval (beyond the paper: Appendix D says π/(3ΔE) is optimal only at γφ = 0)
# ----------------------------------------------------------------------------------------

_GRID = np.linspace(0.05, 1.6, 63)


def optimal_dt_point(e, jz, q, g, p_excited=0.0, *, sequential: bool = False, newton_steps: int = 8):
    """(Δt*, K3(Δt*)) maximising K3 over Δt at fixed γφ: grid search on
    [0.05, 1.6]·π/(3ΔE), then safeguarded Newton steps on dK3/dΔt (forward-mode
    second derivative), confined to one grid cell around the best grid point."""
    t0 = default_dt(e)
    grid = t0 * jnp.asarray(_GRID)
    f = lambda t: k3_point(e, jz, q, g, t, p_excited, sequential=sequential)
    vals = jax.vmap(f)(grid)
    i = jnp.argmax(vals)
    step = grid[1] - grid[0]
    lo, hi = grid[i] - step, grid[i] + step

    def d1(t):
        return jax.jvp(f, (t,), (jnp.ones_like(t),))[1]

    def body(_, carry):
        t, best_t, best_v = carry
        g1, g2 = jax.jvp(d1, (t,), (jnp.ones_like(t),))
        newt = t - g1 / g2
        ok = (g2 < 0) & jnp.isfinite(newt) & (newt > lo) & (newt < hi)
        tn = jnp.where(ok, newt, jnp.clip(t + jnp.sign(g1) * 0.25 * step, lo, hi))
        vn = f(tn)
        better = vn > best_v
        return tn, jnp.where(better, tn, best_t), jnp.where(better, vn, best_v)

    _, bt, bv = jax.lax.fori_loop(0, newton_steps, body, (grid[i], grid[i], vals[i]))
    return bt, bv


@jax.jit(static_argnames=("sequential",))
def _optimal_batch(e, jz, q, g, p, sequential):
    return jax.vmap(lambda *a: optimal_dt_point(*a, sequential=sequential))(e, jz, q, g, p)


def optimal_interval(dephasing, n_spins, field, *, levels: int = 5, protocol: str = "stationary",
                     coupling: float = 1.0, p_excited=0.0):
    """Δt maximising K3 at each γφ and that maximal K3 (both NaN at failed points).

    Returns ``(dt_opt, k3_max)`` broadcast over (dephasing, n_spins, field)."""
    g, n, f, lv, _, p = _validate_common(dephasing, n_spins, field, levels, None, protocol, p_excited)
    e, jzm, qm, status = lg_operators(n, f, lv, coupling=coupling)
    shape = np.broadcast_shapes(status.shape, g.shape, p.shape)
    ok = jnp.broadcast_to(status == Status.OK, shape)
    e = jnp.where((status == Status.OK)[..., None], e, jnp.arange(lv, dtype=jnp.float64))
    B = lambda a, tail=(): jnp.broadcast_to(a, shape + tail).reshape((-1,) + tail)
    t, v = _optimal_batch(B(e, (lv,)), B(jzm, (lv, lv)), B(qm, (lv, lv)), B(jnp.asarray(g)), B(jnp.asarray(p)),
                          protocol == "sequential")
    return jnp.where(ok, t.reshape(shape), jnp.nan), jnp.where(ok, v.reshape(shape), jnp.nan)
