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

Routing by ``levels``: for n < ``SPLIT_LEVELS`` (20) the sectors are propagated by a dense
``expm`` (O(n⁶)); for n ≥ ``SPLIT_LEVELS`` by the exact-unitary Strang splitting of
``jaxlmg.dynamics`` on the same truncated operators (:mod:`jaxlmg._lg_split`, O(n³) per step,
Richardson error estimate ≤ 1e-9 per correlator). Everything else (spectrum, validation,
statuses, the Zeno switch below) is shared; the two agree to ~1e-11 at n = 20–40. The
crossover was measured at N = 370 (K3 equally fast at n = 12–16, the splitting 4-10× faster
from n = 20 on; n = 60 warm: K3 0.1–0.8 s, threshold ≈ 1.5 s CPU instead of 7–16 s and ~100 s;
benchmarks/results/w5_full). Under ``jit``/``vmap`` the step count of the routed path is
fixed (``_lg_split.TRACED_STEPS``) and points needing more steps come back NaN/INACCURATE.

Accuracy, limits and statuses
-----------------------------
* Phases (E_k - E_0)·Δt are built from the gaps E_k - E_0 (``_gaps``), never from
  absolute energies, so K3 keeps relative accuracy when ΔE ≪ eps·‖H‖.
* **Zeno regime.** Forming γφ·(Jz ρ Jz - ½{Jz², ρ}) in float64 perturbs its exact kernel
  (operators commuting with Jz) by ~eps·γφ·‖Jz‖², so the direct propagator is trusted
  only while ``eps·γφ·Δt·‖Jz‖²`` ≤ 1e-5 (stationary: odd sector only, observed errors
  ≥ 1e3 times smaller) or ≤ 1e-8 (sequential: the even sector's errors reach about half
  the estimate, checked against an mpmath propagator of the exact generator).
  Beyond, K3 is computed by adiabatic elimination in the eigenbasis {|a⟩, b_a} of the
  truncated Jz: coherences decay at κ_ab = γφ(b_a - b_b)²/2 and the diagonal obeys the
  classical rate equation ṗ_a = Σ_b W_ab (p_b - p_a), W_ab = 4 H_ab²/(γφ (b_a - b_b)²),
  trusted where (max|H_ab|/κ_ab)² ≤ 1e-9 (its observed error). As γφ → ∞ (W → 0) this
  gives the analytic **Zeno limit**  K3 → C12 = Σ_a Q_aa (½{Q, ρ0})_aa  (stationary;
  C13 = C12 because the Zeno channel is a projection), sequential
  K3 → Σ_a Q_aa² ρ0_aa, with Q_aa = ⟨a|Q|a⟩.  Points where neither estimate is small
  enough get status ``INACCURATE`` (NaN) instead of a wrong number. The two regimes
  overlap unless Δt·‖Jz‖²·max|H_ab|/(b_a - b_b)² is huge (tiny ΔE at the default Δt);
  e.g. at N = 50, Γ/J = 0.9, n = 3 the direct propagator is trusted up to γφ ≈ 7.6e4 J
  (sequential) and the elimination from γφ ≈ 135 J.
* **Γ = 0** (``field`` = 0): the doublet is exactly degenerate (ΔE = 0), so the default
  Δt = π/(3ΔE) is infinite: such points are NaN with status ``INVALID_INPUT``. With an
  explicit Δt the model is well defined and K3 = 1 exactly (Q = sgn Jz commutes with H
  and Jz, so C12 = C13 = C23 = ⟨Q²⟩ = 1): no violation.
* ``dephasing``, ``field``, ``dt`` and ``p_excited`` may be JAX tracers (``jit``,
  ``vmap``, ``grad``, ``jvp``); invalid traced values give NaN + ``INVALID_INPUT``
  instead of an exception. ``n_spins`` and ``levels`` set shapes and must be concrete.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._lindblad import (even_generator, even_pack, even_unpack, expm, odd_generator, odd_pack,
                        split_parity)
from ._observables import _matrix_elements, _scaled_spectrum
from ._status import Status
from ._validate import check_choice, check_levels, check_n_spins, check_real

PROTOCOLS = ("stationary", "sequential")
#: Truncations with ``levels`` at or above this are propagated by the splitting engine
#: (:mod:`jaxlmg._lg_split`); below it by the dense expm of the parity sectors.
from ._routing import SPLIT_LEVELS  # noqa: E402  (a module attribute: tests patch it here)

_EPS = float(np.finfo(np.float64).eps)
#: The direct propagator is trusted while eps·γφ·Δt·‖Jz‖² is below this: odd sector only
#: (stationary; observed errors ≤ 1e-3 × the estimate) and with the even sector
#: (sequential; observed errors up to 0.5 × the estimate, mpmath reference).
DIRECT_TOL = 1e-5
DIRECT_TOL_SEQUENTIAL = 1e-8
#: The adiabatic-elimination (Zeno) result is trusted while (max|H_ab|/κ_ab)² is below
#: this (observed errors ≈ that square: the first-order slip cancels in C_ij).
ZENO_TOL = 1e-9
#: Status of points where neither propagator is trustworthy in float64.
INACCURATE = Status.INACCURATE


def _is_traced(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _is_full(levels) -> bool:
    """``levels=None`` or ``"full"``: the whole Dicke space (no truncation)."""
    return levels is None or (isinstance(levels, str) and levels == "full")


def _gaps(spec):
    """E_k - E_0 of the computed levels, with relative accuracy (``Spectrum.gaps``)."""
    return spec.gaps


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


def _direct_point(energies, jz, q, dephasing, dt, p_excited, sequential):
    """(C12, C23, C13) by exact propagation of the parity sectors."""
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


def _zeno_parts(energies, jz, dephasing):
    """Eigenbasis of the truncated Jz, rate matrix W and the first-order error max|H_ab|/κ_ab."""
    n = energies.shape[-1]
    bvals, v = jnp.linalg.eigh(jz)
    h = v.T @ (_gap_vector(energies)[:, None] * v)  # H - E0 in the Jz eigenbasis
    off = ~jnp.eye(n, dtype=bool)
    d2 = (bvals[:, None] - bvals[None, :]) ** 2
    ok_d = off & (d2 > 0)
    d2s = jnp.where(ok_d, d2, 1.0)
    gs = jnp.where(dephasing > 0, dephasing, 1.0)
    w = jnp.where(ok_d, 4.0 * h**2 / (gs * d2s), 0.0)
    gen = w - jnp.diag(jnp.sum(w, axis=1))
    kappa = 0.5 * gs * d2s
    err = jnp.max(jnp.where(off, jnp.where(ok_d, jnp.abs(h) / kappa, jnp.inf), 0.0))
    err = jnp.where(dephasing > 0, err, jnp.inf)
    return v, gen, err


def _zeno_point(energies, jz, q, dephasing, dt, p_excited, sequential):
    """(C12, C23, C13) by adiabatic elimination of the Jz coherences (γφ → ∞; module docstring)."""
    n = energies.shape[-1]
    v, gen, _ = _zeno_parts(energies, jz, dephasing)
    p = _populations(n, p_excited)
    qd = jnp.einsum("ia,ij,ja->a", v, q, v)  # Q_aa
    rho0 = jnp.einsum("ia,i,ia->a", v, p, v)  # (ρ0)_aa
    x0 = jnp.einsum("ia,ij,j,ja->a", v, q, p, v)  # (½{Q, ρ0})_aa = Σ_ij v_ia Q_ij p_j v_ja
    u = expm(gen * dt)
    x1 = u @ x0
    c12 = qd @ x1
    c13 = qd @ (u @ x1)
    if not sequential:
        return c12, c12, c13
    c23 = qd @ (u @ (qd * (u @ rho0)))
    return c12, c23, c13


def _regime(energies, jz, dephasing, dt, sequential=False):
    """(use_zeno, trusted) from the two float64 error estimates (module docstring)."""
    b2 = jnp.max(jnp.abs(jnp.linalg.eigvalsh(jz))) ** 2
    err_direct = _EPS * dephasing * dt * b2
    _, _, err_zeno = _zeno_parts(energies, jz, dephasing)
    tol = DIRECT_TOL_SEQUENTIAL if sequential else DIRECT_TOL
    use_zeno = (err_direct > tol) & (err_zeno**2 <= ZENO_TOL)
    trusted = (err_direct <= tol) | use_zeno
    return use_zeno, trusted


def _correlators_checked(energies, jz, q, dephasing, dt, p_excited, sequential):
    """(C12, C23, C13, trusted): direct propagation, or the Zeno elimination where the
    direct one is not accurate in float64. Both branches get safe inputs, so values and
    derivatives of the branch not taken never leak NaN."""
    use_zeno, trusted = _regime(energies, jz, jax.lax.stop_gradient(dephasing), jax.lax.stop_gradient(dt),
                                sequential)
    g_direct = jnp.where(use_zeno, 0.0, dephasing)
    g_zeno = jnp.where(use_zeno, dephasing, 1.0)
    cd = _direct_point(energies, jz, q, g_direct, dt, p_excited, sequential)
    # derivatives reach the Zeno branch's eigendecomposition only where it is used
    iso = lambda x: jnp.where(use_zeno, x, jax.lax.stop_gradient(x))
    cz = _zeno_point(iso(energies), iso(jz), iso(q), g_zeno, dt, p_excited, sequential)
    out = tuple(jnp.where(use_zeno, z, d) for z, d in zip(cz, cd))
    finite = jnp.all(jnp.isfinite(jnp.stack(out)))
    return out + (trusted & finite,)


def correlators_point(energies, jz, q, dephasing, dt, p_excited=0.0, *, sequential: bool = False):
    """(C12, C23, C13) at one point from truncated operators (see module docstring).

    For ``sequential=False`` C23 is returned equal to C12 (stationary protocol). Pure
    JAX (jit/vmap/jvp/grad). Points outside the float64-trusted regimes come back
    (possibly inaccurate) without a flag: use :func:`correlators` for statuses.
    """
    ensure_x64()
    return _correlators_checked(energies, jz, q, dephasing, dt, p_excited, sequential)[:3]


def k3_point(energies, jz, q, dephasing, dt, p_excited=0.0, *, sequential: bool = False):
    """K3 = C12 + C23 - C13 at one point (see :func:`correlators_point`)."""
    c12, c23, c13 = correlators_point(energies, jz, q, dephasing, dt, p_excited, sequential=sequential)
    return c12 + c23 - c13


def _gap_vector(energies):
    """E_k - E_0 from an energies vector (exact when ``energies`` already are gaps)."""
    return energies - energies[..., :1]


def default_dt(energies):
    """Δt = π/(3ΔE), ΔE = E1 - E0 (Eq. 21); infinite at Γ = 0 (ΔE = 0)."""
    return jnp.pi / (3.0 * (energies[..., 1] - energies[..., 0]))


# ----------------------------------------------------------------------------------------
# Validation (concrete values raise; traced values are checked inside the computation)
# ----------------------------------------------------------------------------------------

def _real_param(name, value, *, minimum=None, strict=False, maximum=None):
    """Concrete: validated numpy array (ValueError naming the parameter). Traced: float64 tracer."""
    if _is_traced(value):
        return jnp.asarray(value, jnp.float64)
    return check_real(name, value, minimum=minimum, strict=strict, maximum=maximum)


def _bad_mask(g, f, t, p):
    """In-graph validity (for traced inputs; all False for validated concrete inputs).

    Concrete inputs are checked with numpy: eager ``jnp`` operations would each compile a program."""
    xp = jnp if any(_is_traced(a) for a in (g, f, t, p)) else np
    bad = ~(xp.isfinite(g) & (g >= 0))
    bad = bad | ~(xp.isfinite(f) & (f >= 0))
    if t is not None:
        bad = bad | ~(xp.isfinite(t) & (t > 0))
    return bad | ~(xp.isfinite(p) & (p >= 0) & (p <= 1))


def _validate_common(dephasing, n_spins, field, levels, dt, protocol, p_excited):
    """Validate the common LG parameters: concrete values raise ValueError naming the
    parameter; tracers pass through (checked in-graph by :func:`_bad_mask`)."""
    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    if _is_traced(n_spins):
        raise ValueError("n_spins must be a concrete integer >= 1 (it sets array shapes); got a tracer")
    g = _real_param("dephasing", dephasing, minimum=0.0)
    n = check_n_spins(n_spins)
    f = _real_param("field", field, minimum=0.0)
    lv = check_levels(levels, int(np.min(n)) + 1, minimum=2)
    t = None if dt is None else _real_param("dt", dt, minimum=0.0, strict=True)
    p = _real_param("p_excited", p_excited, minimum=0.0, maximum=1.0)
    return g, n, f, lv, t, p


# ----------------------------------------------------------------------------------------
# Low-level batched API on operator arrays
# ----------------------------------------------------------------------------------------

@jax.jit(static_argnames=("sequential",))
def _corr_batch(e, jz, q, g, dt, p, sequential):
    f = lambda *a: _correlators_checked(*a, sequential)
    return jax.vmap(f)(e, jz, q, g, dt, p)


def _broadcast_ops(energies, jz, q, dephasing, dt, p_excited):
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
    return shape, (B(e, (n,)), B(jz, (n, n)), B(q, (n, n)), B(g), B(t), B(p))


def correlators_from_operators(energies, jz, q, dephasing, dt=None, *, protocol: str = "stationary",
                               p_excited=0.0):
    r"""C12, C23, C13 from truncated operators, broadcast over leading axes.

    Parameters
    ----------
    energies : array (*S, n)
        Ascending levels with alternating parity (+, -, +, …); only gaps E_k - E_0 enter.
    jz, q : arrays (*S, n, n)
        Real symmetric Jz and Q = sgn(Jz) in that basis (``lg_operators``).
    dephasing : array
        γφ (units of J), broadcast against ``*S``.
    dt : array, optional
        Δt (ħ/J); default π/(3ΔE).
    protocol : {"stationary", "sequential"}
    p_excited : array
        Initial population of E1.

    Pure JAX (jit/vmap/jvp/grad in every floating argument); no validation and no
    status (points outside the float64-trusted regime are not flagged here: use
    :func:`correlators`). Returns ``(c12, c23, c13)``.
    """
    ensure_x64()
    check_choice("protocol", protocol, PROTOCOLS)
    shape, args = _broadcast_ops(energies, jz, q, dephasing, dt, p_excited)
    out = _corr_batch(*args, protocol == "sequential")
    return tuple(o.reshape(shape) for o in out[:3])


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

    ``energies`` are the gaps E_k - E_0 (ground level exactly 0; only differences enter
    the dynamics, and gaps keep relative accuracy where ΔE ≪ eps·‖H‖). Points whose
    level parities do not alternate (+, -, +, …) — only possible when the doublet is not
    resolved in float64 — get status UNRESOLVED. ``field`` and ``coupling`` may be traced.

    The coupling J only sets the energy scale, H(Γ, J) = J·H(Γ/J, 1): the spectrum is
    computed at J = 1 (one compiled kernel for every J, differentiable in J) and the gaps
    are rescaled by J; eigenvectors, hence Jz and Q, depend on Γ/J only. An invalid traced
    ``coupling`` gives NaN gaps and status INVALID_INPUT.
    """
    ensure_x64()
    spec, c, ok_c = _scaled_spectrum(n_spins, field, levels=levels, coupling=coupling, on_invalid=on_invalid)
    return _lg_operators_post(spec, c, ok_c, levels)


def _lg_operators_body(spec, c, ok_c, levels: int):
    """Jz, Q, parity check and scaled gaps of :func:`lg_operators` (compiled as one program:
    ``_lg_operators_post``)."""
    jzm = _matrix_elements(spec, "jz", 0.0)
    qm = _matrix_elements(spec, "q", 0.0)
    want = jnp.where(jnp.arange(levels) % 2 == 0, 1, -1)
    alt = jnp.all(spec.parity == want, axis=-1)
    status = jnp.where((spec.status == Status.OK) & ~alt, Status.UNRESOLVED, spec.status)
    gaps = _gaps(spec) * c
    if ok_c is not None:
        status = jnp.where(ok_c, status, Status.INVALID_INPUT)
        gaps = jnp.where(ok_c, gaps, jnp.nan)
    return gaps, jzm, qm, status


_lg_operators_post = eqx.filter_jit(_lg_operators_body)


class LGResult(eqx.Module):
    """Leggett–Garg correlators and K3 (NaN where ``status != OK``).

    ``dt`` is the Δt actually used (π/(3ΔE) when not given); ``status`` is a
    :class:`~jaxlmg.Status` code per point (OK, INVALID_INPUT, UNRESOLVED, or
    ``INACCURATE`` where no float64-trustworthy propagator exists).
    """

    k3: Float[Array, "*S"]
    c12: Float[Array, "*S"]
    c23: Float[Array, "*S"]
    c13: Float[Array, "*S"]
    dt: Float[Array, "*S"]
    delta_e: Float[Array, "*S"]
    status: Int[Array, "*S"]


def correlators(dephasing, n_spins, field, *, levels: int | str | None = 5, dt=None, protocol: str = "stationary",
                coupling: float = 1.0, p_excited=0.0) -> LGResult:
    r"""Leggett–Garg correlators C12, C23, C13 and K3 (Eq. 18) of the n-level dephased LMG.

    Parameters
    ----------
    dephasing : float or array
        γφ ≥ 0 in units of J (may be traced).
    n_spins : int or int array
        N ≥ 1 (concrete).
    field : float or array
        Γ/J ≥ 0 (may be traced). At Γ = 0 the default Δt is infinite (INVALID_INPUT).
    levels : int, None or "full"
        n ∈ [2, N+1] (static); None or "full": the whole Dicke space (no truncation).
    dt : float or array, optional
        Δt > 0 in ħ/J (may be traced); default π/(3ΔE) per point.
    protocol : {"stationary", "sequential"}
    coupling : float
        J (energy unit).
    p_excited : float or array
        Initial population of E1, in [0, 1] (may be traced).

    All array parameters broadcast together. Every field is NaN where ``status != OK``
    (INVALID_INPUT for invalid traced values or Γ = 0 with the default Δt, UNRESOLVED
    for an unresolved doublet, ``INACCURATE`` where neither propagator is trustworthy
    in float64; see the module docstring for the Zeno regime).

    ``levels`` ≥ ``SPLIT_LEVELS`` (20) propagates the truncated model with the splitting engine
    (:mod:`jaxlmg._lg_split`: same operators, statuses and Zeno switch; Richardson estimate
    ≤ 1e-9; under jit/vmap n₀ = 256 Strang steps and ``INACCURATE`` where the estimate is
    larger; eager calls choose the steps per point and fall back to the dense propagator for
    very strongly dephased points).

    ``levels=None`` (or ``"full"``) evaluates the untruncated correlators on the whole Dicke
    space with the matrix-free engine (:func:`jaxlmg._lg_full.correlators_full`; same
    instrument and protocols, Q = sgn(Jz) without projection).
    """
    if _is_full(levels):
        from ._lg_full import correlators_full

        return correlators_full(dephasing, n_spins, field, dt=dt, protocol=protocol, coupling=coupling,
                                p_excited=p_excited)
    g, n, f, lv, t, p = _validate_common(dephasing, n_spins, field, levels, dt, protocol, p_excited)
    bad = _bad_mask(g, f, t, p)
    xp = jnp if _is_traced(f) else np
    f_safe = xp.where(xp.isfinite(f) & (f >= 0), f, 0.5)
    e, jzm, qm, status = lg_operators(n, f_safe, lv, coupling=coupling)
    shape, st, tt, de, args = _lg_inputs(e, jzm, qm, status, g, t, p, bad)
    if lv >= SPLIT_LEVELS:  # large truncations: splitting engine instead of the dense expm
        from ._lg_split import correlators_split

        out = correlators_split(*args, protocol == "sequential")
    else:
        out = _corr_batch(*args, protocol == "sequential")
    return _lg_result(out, st, tt, de, shape=shape)


def _lg_inputs(e, jzm, qm, status, g, t, p, bad):
    """Status, Δt, ΔE and the flattened kernel arguments of :func:`correlators` (safe values at
    points not computed), as one compiled program; returns the batch shape first."""
    shape = np.broadcast_shapes(np.shape(status), np.shape(g), np.shape(e)[:-1] if t is None else np.shape(t),
                                np.shape(p), np.shape(bad))
    return (shape,) + _lg_inputs_jit(e, jzm, qm, status, g, t, p, bad, shape=shape)


@jax.jit(static_argnames=("shape",))
def _lg_inputs_jit(e, jzm, qm, status, g, t, p, bad, *, shape):
    lv = e.shape[-1]
    okspec = status == Status.OK
    de = e[..., 1] - e[..., 0]
    tt = default_dt(e) if t is None else jnp.asarray(t, jnp.float64)
    bc = lambda a: jnp.broadcast_to(a, shape)
    # Default Δt at ΔE = 0 (Γ = 0) is infinite: invalid (explicit Δt is fine there).
    bad_dt = bc(okspec & ~(jnp.isfinite(tt) & (tt > 0)))
    st = jnp.where(bc(bad) | bad_dt, Status.INVALID_INPUT, bc(status)).astype(jnp.int32)
    run = st == Status.OK
    # Safe values at points not computed (results masked to NaN by _lg_result).
    e_s = jnp.where(okspec[..., None], e, jnp.arange(lv, dtype=jnp.float64))
    g_s = jnp.where(run, bc(jnp.asarray(g, jnp.float64)), 0.0)
    t_s = jnp.where(run, bc(tt), 1.0)
    p_s = jnp.where(run, bc(jnp.asarray(p, jnp.float64)), 0.0)
    shape2, args = _broadcast_ops(e_s, jzm, qm, g_s, t_s, p_s)
    assert shape2 == shape
    return st, bc(tt), bc(de), args


@jax.jit(static_argnames=("shape",))
def _lg_result(out, st, tt, de, *, shape):
    """LGResult from the kernel's (C12, C23, C13, trusted), NaN where not OK."""
    c12, c23, c13, trusted = (o.reshape(shape) for o in out)
    st = jnp.where((st == Status.OK) & ~trusted, INACCURATE, st).astype(jnp.int32)
    ok = st == Status.OK
    nan = lambda a: jnp.where(ok, a, jnp.nan)
    return LGResult(k3=nan(c12 + c23 - c13), c12=nan(c12), c23=nan(c23), c13=nan(c13), dt=nan(tt),
                    delta_e=nan(de), status=st)


def k3(dephasing, n_spins, field, *, levels: int | str | None = 5, dt=None, protocol: str = "stationary",
       coupling: float = 1.0, p_excited=0.0):
    r"""Leggett–Garg K3 (Eq. 18; Appendix I) of the collectively dephased LMG model.

    ``k3(BEC.rate_to_natural(0.05), 370, 0.95)`` → 1.3167 (seed 001 Fig. 1, n = 5).
    See :func:`correlators` for the parameters (``dephasing``, ``field``, ``dt`` and
    ``p_excited`` may be traced: ``jax.grad(lambda g: k3(g, 50, 0.9, levels=3))(0.01)``);
    returns only K3 (NaN at failed points; use :func:`correlators` for the status).
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
    def f(g, t):
        c12, c23, c13, ok = _correlators_checked(e, jz, q, g, t, 0.0, sequential)
        return jnp.where(ok, c12 + c23 - c13, jnp.nan)
    return jax.vmap(lambda g: jax.vmap(lambda t: f(g, t))(dts))(gs)


_surface_uniform_jit = jax.jit(_surface_uniform, static_argnames=("n_dt", "sequential"))
_surface_general_jit = jax.jit(_surface_general, static_argnames=("sequential",))


def k3_surface(dephasings, dts, n_spins: int, field: float, levels: int = 5, *, protocol: str = "stationary",
               coupling: float = 1.0):
    r"""K3 on the grid ``dephasings`` × ``dts`` (shape (n_γ, n_Δt)) at one (N, Γ/J).

    Parameters
    ----------
    dephasings : array (n_γ,)
        γφ ≥ 0 (units of J; may be traced).
    dts : array (n_Δt,)
        Δt > 0 (ħ/J; may be traced).
    n_spins : int
        N (concrete).
    field : float
        Γ/J ≥ 0 (may be traced).
    levels : int
        n ∈ [2, N+1].

    Concrete, uniformly spaced ``dts`` inside the direct propagator's trusted regime
    use exact propagator powers U(dt0 + k h) = U(h)^k U(dt0) applied to vectors (four
    small expm per γφ); other grids evaluate each point like :func:`k3`. Entries are
    NaN where :func:`k3` would not return status OK.
    """
    ensure_x64()
    traced = any(_is_traced(x) for x in (dephasings, dts, field))
    g = _real_param("dephasing", dephasings, minimum=0.0)
    t = _real_param("dt", dts, minimum=0.0, strict=True)
    g = jnp.reshape(g, (-1,)) if _is_traced(g) else np.reshape(g, -1)
    t = jnp.reshape(t, (-1,)) if _is_traced(t) else np.reshape(t, -1)
    n = int(check_n_spins(n_spins))
    f = _real_param("field", field, minimum=0.0)
    if np.ndim(f) != 0:
        raise ValueError(f"field must be a scalar; got shape {np.shape(f)}")
    check_choice("protocol", protocol, PROTOCOLS)
    lv = check_levels(levels, n + 1, minimum=2)
    f = jnp.asarray(f, jnp.float64)
    bad_f = ~(jnp.isfinite(f) & (f >= 0))
    e, jzm, qm, status = lg_operators(n, jnp.where(bad_f, 0.5, f), lv, coupling=coupling)
    ok = (status == Status.OK) & ~bad_f
    bad_g = ~(jnp.isfinite(g) & (g >= 0))
    bad_t = ~(jnp.isfinite(t) & (t > 0))
    mask = ok & ~bad_g[:, None] & ~bad_t[None, :]
    if not traced and not bool(ok):
        return jnp.full((g.size, t.size), jnp.nan)
    e = jnp.where(ok, e, jnp.arange(lv, dtype=jnp.float64))
    g_s = jnp.where(bad_g, 0.0, g)
    t_s = jnp.where(bad_t, 1.0, t)
    seq = protocol == "sequential"
    uniform = False
    if not traced and t.size >= 3:
        d = np.diff(t)
        uniform = np.allclose(d, d[0], rtol=1e-10, atol=0.0) and d[0] != 0
        b2 = float(np.max(np.abs(np.linalg.eigvalsh(np.asarray(jzm))))) ** 2
        # the uniform path has no Zeno branch: only inside the direct propagator's regime
        uniform = uniform and _EPS * float(np.max(g)) * 2.0 * float(np.max(t)) * b2 <= DIRECT_TOL
    if uniform:
        h = (t[-1] - t[0]) / (t.size - 1)
        out = _surface_uniform_jit(e, jzm, qm, jnp.asarray(g_s), t[0], h, t.size, seq)
    else:
        out = _surface_general_jit(e, jzm, qm, jnp.asarray(g_s), jnp.asarray(t_s), seq)
    return jnp.where(mask, out, jnp.nan)


# ----------------------------------------------------------------------------------------
# Optimal interval (beyond the paper: Appendix D says π/(3ΔE) is optimal only at γφ = 0)
# ----------------------------------------------------------------------------------------

_GRID = np.linspace(0.05, 1.6, 63)


def optimal_dt_search(e, jz, q, g, p_excited=0.0, *, sequential: bool = False, newton_steps: int = 8):
    """(Δt*, K3(Δt*), grid) of the search behind :func:`optimal_dt_point`, without its
    differentiable re-evaluation at Δt* (no derivatives flow through it): for callers that
    use Δt* under ``stop_gradient`` (the best-interval threshold), whose programs would
    otherwise compute K3's first and second Δt-derivatives at Δt* only to cancel them."""
    e0, jz0, q0, g0, p0 = (jax.lax.stop_gradient(x) for x in (e, jz, q, g, p_excited))
    t0 = default_dt(e0)
    grid = t0 * jnp.asarray(_GRID)
    f = lambda t: k3_point(e0, jz0, q0, g0, t, p0, sequential=sequential)
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
    return bt, bv, grid


def optimal_dt_point(e, jz, q, g, p_excited=0.0, *, sequential: bool = False, newton_steps: int = 8):
    """(Δt*, K3(Δt*)) maximising K3 over Δt at fixed γφ: grid search on
    [0.05, 1.6]·π/(3ΔE), then safeguarded Newton steps on dK3/dΔt (forward-mode
    second derivative), confined to one grid cell around the best grid point
    (:func:`optimal_dt_search`).

    Derivatives (w.r.t. γφ, p_excited and the operators), to any order and in forward and
    reverse mode, follow the implicit function theorem: dK3*/dθ = ∂K3/∂θ at Δt* (envelope
    theorem) and dΔt*/dθ = -K3_tθ/K3_tt, both evaluated at (Δt*(θ), θ) by a custom JVP that
    calls this function again, so that second derivatives pick up Δt*'s own motion
    (d²K3*/dθ² = K3_θθ - K3_tθ²/K3_tt). The search itself is not differentiated, and a
    plain evaluation computes no derivative terms. Δt* is held fixed where the maximum is
    not interior (at the ends of the search range, or K3_tt ≥ 0).
    """
    ensure_x64()
    return _optimal_dt(e, jz, q, g, p_excited, sequential, newton_steps)


@functools.partial(jax.custom_jvp, nondiff_argnums=(5, 6))
def _optimal_dt(e, jz, q, g, p_excited, sequential, newton_steps):
    bt, bv, _ = optimal_dt_search(e, jz, q, g, p_excited, sequential=sequential, newton_steps=newton_steps)
    return bt, bv


@_optimal_dt.defjvp
def _optimal_dt_jvp(sequential, newton_steps, primals, tangents):
    t, v = _optimal_dt(*primals, sequential, newton_steps)  # recursive: higher orders see Δt*(θ)
    k = lambda t_, th: k3_point(th[0], th[1], th[2], th[3], t_, th[4], sequential=sequential)
    one = jnp.ones_like(t)
    k_t = lambda t_, th: jax.jvp(lambda s: k(s, th), (t_,), (one,))[1]
    k_theta = jax.jvp(lambda *th: k(t, th), primals, tangents)[1]  # ∂K3/∂θ · θ̇
    k_t_theta = jax.jvp(lambda *th: k_t(t, th), primals, tangents)[1]  # ∂²K3/∂t∂θ · θ̇
    k_tt = jax.jvp(lambda s: k_t(s, primals), (t,), (one,))[1]
    grid0 = default_dt(jax.lax.stop_gradient(primals[0])) * jnp.asarray(_GRID)
    interior = (t > grid0[0]) & (t < grid0[-1]) & (k_tt < 0)
    t_dot = jnp.where(interior, -k_t_theta / jnp.where(interior, k_tt, -1.0), 0.0)
    return (t, v), (t_dot, k_theta)


@jax.jit(static_argnames=("sequential",))
def _optimal_batch(e, jz, q, g, p, sequential):
    return jax.vmap(lambda *a: optimal_dt_point(*a, sequential=sequential))(e, jz, q, g, p)


def optimal_interval(dephasing, n_spins, field, *, levels: int = 5, protocol: str = "stationary",
                     coupling: float = 1.0, p_excited=0.0):
    """Δt maximising K3 at each γφ and that maximal K3 (both NaN at failed points).

    Parameters as in :func:`correlators` (``dephasing``, ``field``, ``p_excited`` may be
    traced; derivatives by the envelope / implicit-function theorem). Returns
    ``(dt_opt, k3_max)`` broadcast over (dephasing, n_spins, field, p_excited); NaN where
    :func:`correlators` at (γφ, Δt*) would not be OK (invalid input, unresolved doublet,
    Γ = 0, or outside the float64-trusted regime).
    """
    g, n, f, lv, _, p = _validate_common(dephasing, n_spins, field, levels, None, protocol, p_excited)
    g, f, p = (jnp.asarray(x, jnp.float64) for x in (g, f, p))
    bad = _bad_mask(g, f, None, p)
    e, jzm, qm, status = lg_operators(n, jnp.where(jnp.isfinite(f) & (f >= 0), f, 0.5), lv, coupling=coupling)
    shape = np.broadcast_shapes(status.shape, g.shape, p.shape, bad.shape)
    bc = lambda a: jnp.broadcast_to(a, shape)
    t0 = default_dt(e)
    run = bc((status == Status.OK) & jnp.isfinite(t0) & (t0 > 0)) & ~bc(bad)
    e = jnp.where((status == Status.OK)[..., None], e, jnp.arange(lv, dtype=jnp.float64))
    g_s = jnp.where(run, bc(g), 0.0)
    p_s = jnp.where(run, bc(p), 0.0)
    B = lambda a, tail=(): jnp.broadcast_to(a, shape + tail).reshape((-1,) + tail)
    seq = protocol == "sequential"
    t, v = _optimal_batch(B(e, (lv,)), B(jzm, (lv, lv)), B(qm, (lv, lv)), B(g_s), B(p_s), seq)
    # trust check of the propagator at the optimum (same rule as correlators)
    t_c = jax.lax.stop_gradient(jnp.where(jnp.isfinite(t), t, 1.0))
    _, _, _, trusted = _corr_batch(B(e, (lv,)), B(jzm, (lv, lv)), B(qm, (lv, lv)), B(g_s), t_c, B(p_s), seq)
    ok = run & trusted.reshape(shape)
    return jnp.where(ok, t.reshape(shape), jnp.nan), jnp.where(ok, v.reshape(shape), jnp.nan)
