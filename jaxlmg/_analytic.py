r"""Analytic references for the Leggett–Garg threshold hierarchy (seed 001 §7.3, Remarks 11–14).

* Eq. 21/22: two-level K3 = Q01² [2 e^{-τ/T2} cos(ΔE τ) - e^{-2τ/T2} cos(2ΔE τ)]
  (= Q01² (ξ + ξ²/2), ξ = e^{-τ/T2}, at τ = π/(3ΔE)).
* Eq. 25: coherent multi-level K3(τ) = Σ_{k odd} Q_k0² [2 cos(ΔE_k0 τ) - cos(2ΔE_k0 τ)].
* Level A (Eq. 13): 1/T2coll = m*² N² γφ / 2.  Level B (Eq. 26): 1/T2phys = γφ G01
  (G01 = ½(⟨E0|Jz²|E0⟩ + ⟨E1|Jz²|E1⟩), exact full-space). Level C: decay rate of the
  |E0⟩⟨E1| coherence from the n-level Liouvillian (its eigenvalue of slowest decay with
  |Im λ| near ΔE, i.e. largest overlap with the doublet coherence).
* Thresholds A, B (Eq. 23): ξ = -1 + √(1 + 2/Q01²), T2* = π/(3ΔE ln(1/ξ)).
* Eq. 30: N ≲ N_ref √(γ_ref/γφ).

All energies/rates in units of J, times in ħ/J.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._leggett_garg import lg_operators
from ._lindblad import odd_generator, split_parity
from ._model import mean_field_order_parameter
from ._observables import doublet_factors
from ._status import Status
from ._validate import all_ok, check_levels, check_n_spins, count_arg, is_traced, nan_unless, real_arg, safe


def _real(name, value, fallback=1.0, **kw):
    x, ok = real_arg(name, value, **kw)
    return safe(ok, x, fallback), ok


def _scalar(name, x):
    if jnp.ndim(x) != 0:
        raise ValueError(f"{name} must be a scalar here (use jax.vmap for batches); got shape {jnp.shape(x)}")


def two_level_k3(q01_sq, t2, delta_e, dt=None):
    """Eq. 21 → K3 = 2C(τ) - C(2τ) with C(t) = Q01² cos(ΔE t) e^{-t/T2} (Eq. 22 at τ = π/(3ΔE)).

    Parameters
    ----------
    q01_sq : float or array
        Q01² in [0, 1].
    t2 : float or array
        T2 > 0 (ħ/J); ``inf`` gives the coherent ceiling 1.5 Q01² at the default τ.
    delta_e : float or array
        ΔE > 0 (units of J).
    dt : float or array, optional
        Measurement interval τ > 0 (default π/(3ΔE)).
    """
    ensure_x64()
    q, ok_q = _real("q01_sq", q01_sq, 0.5, minimum=0.0, maximum=1.0)
    t2v, ok_t2 = real_arg("t2", t2, minimum=0.0, strict=True, allow_inf=True)
    de, ok_de = _real("delta_e", delta_e, minimum=0.0, strict=True)
    if dt is None:
        tau, ok_dt = jnp.pi / (3.0 * de), None
    else:
        tau, ok_dt = _real("dt", dt, minimum=0.0, strict=True)
    rate = 1.0 / safe(ok_t2, t2v, 1.0)
    c = lambda t: q * jnp.cos(de * t) * jnp.exp(-t * rate)
    return nan_unless(all_ok(ok_q, ok_t2, ok_de, ok_dt), 2.0 * c(tau) - c(2.0 * tau))


def xi_threshold(q01_sq):
    """ξ = -1 + √(1 + 2/Q01²) solving Q01²(ξ + ξ²/2) = 1 (Eq. 23; NaN if 1.5 Q01² ≤ 1)."""
    q = jnp.asarray(q01_sq, jnp.float64)
    xi = -1.0 + jnp.sqrt(1.0 + 2.0 / q)
    return jnp.where((xi > 0) & (xi < 1), xi, jnp.nan)


def t2_threshold(q01_sq, delta_e):
    """Minimal T2 for K3 > 1 in the two-level formula: π/(3ΔE ln(1/ξ)) (Eq. 23)."""
    return jnp.pi / (3.0 * jnp.asarray(delta_e) * jnp.log(1.0 / xi_threshold(q01_sq)))


class CoherentK3(eqx.Module):
    """Eq. 25 and its per-level terms (arrays over the odd levels k = 1, 3, 5, …)."""

    k3: Float[Array, ""]
    levels: Array  # k
    gap_ratio: Float[Array, "m"]  # ΔE_k0/ΔE_10
    q_sq: Float[Array, "m"]  # Q_k0²
    contribution: Float[Array, "m"]  # ΔK3^(k)
    status: Int[Array, ""] = eqx.field(default_factory=lambda: jnp.asarray(0, jnp.int32))


def coherent_k3(n_spins: int, field, *, levels: int | None = None, dt=None, coupling=1.0) -> CoherentK3:
    """Coherent-limit multi-level K3 (Eq. 25) on the lowest ``levels`` states (all N+1 if None).

    Parameters
    ----------
    n_spins : int
        N ≥ 1 (scalar, concrete).
    field : float
        Γ > 0 (scalar, may be traced).
    levels : int, optional
        Number of levels in [2, N+1] (static; all N+1 if None).
    dt : float, optional
        τ > 0 (default π/(3ΔE_10); may be traced).
    coupling : float
        J > 0 (may be traced).

    A concrete point whose doublet is not resolved in float64 raises ``ValueError``; under
    tracing (or for invalid traced inputs) the result is NaN with ``status`` UNRESOLVED /
    INVALID_INPUT.

    At N = 370, Γ/J = 0.95 the terms reproduce Remark 12 (k = 1…9: 1.415, 0.028, 0.013,
    -0.010, -0.009); the sum is 1.4436 for n = 5 and 1.4379 with all 371 levels."""
    ensure_x64()
    n = check_n_spins(n_spins)
    if n.ndim != 0:
        raise ValueError(f"n_spins must be a single integer here; got shape {n.shape}")
    n = int(n)
    f, ok_f = _real("field", field, 0.5, minimum=0.0, strict=True)
    c, ok_c = _real("coupling", coupling, minimum=0.0, strict=True)
    _scalar("field", f)
    _scalar("coupling", c)
    lv = n + 1 if levels is None else check_levels(levels, n + 1, minimum=2)
    e, _, q, status = lg_operators(n, jnp.asarray(f / c), lv)  # jnp: traced path under an outer jit
    e = e * c
    if not is_traced(status) and int(status) != Status.OK:
        raise ValueError(f"tunnel splitting not resolved in float64 at n_spins={n}, field={field}")
    ok = all_ok(ok_f, ok_c)
    status = jnp.where(ok, status, int(Status.INVALID_INPUT)) if ok is not None else status
    good = status == Status.OK
    k = np.arange(1, lv, 2)
    dek = e[k] - e[0]
    dek = jnp.where(good, dek, jnp.arange(1, k.size + 1, dtype=jnp.float64))
    if dt is None:
        tau, ok_dt = jnp.pi / (3.0 * dek[0]), None
    else:
        tau, ok_dt = _real("dt", dt, minimum=0.0, strict=True)
        _scalar("dt", tau)
        if ok_dt is not None:
            status = jnp.where(ok_dt, status, int(Status.INVALID_INPUT))
            good = good & ok_dt
    q2 = q[0][k] ** 2
    contrib = q2 * (2.0 * jnp.cos(dek * tau) - jnp.cos(2.0 * dek * tau))
    nan = lambda a: jnp.where(good, a, jnp.nan)
    return CoherentK3(k3=nan(jnp.sum(contrib)), levels=jnp.asarray(k), gap_ratio=nan(dek / dek[0]),
                      q_sq=nan(q2), contribution=nan(contrib), status=jnp.asarray(status, jnp.int32))


def t2_collective(dephasing, n_spins, field, *, coupling=1.0):
    """Level A mean-field coherence time, Eq. 13: 1/T2coll = m*² N² γφ / 2.

    ``dephasing`` γφ ≥ 0 (T2 = ∞ at 0 or in the disordered phase), ``n_spins`` N ≥ 1,
    ``field`` Γ ≥ 0, ``coupling`` J > 0; all broadcast and may be traced."""
    ensure_x64()
    g, ok_g = _real("dephasing", dephasing, minimum=0.0)
    n, ok_n = count_arg("n_spins", n_spins)
    n = safe(ok_n, n, 2.0)
    m = mean_field_order_parameter(field, coupling=coupling)
    return nan_unless(all_ok(ok_g, ok_n), 1.0 / (m**2 * n**2 * g / 2.0))


def t2_physical(dephasing, n_spins, field, *, coupling=1.0):
    """Level B eigenstate coherence time, Eq. 26: 1/T2phys = γφ G01 (exact full-space G01).

    ``dephasing`` γφ ≥ 0, ``n_spins`` N ≥ 1 (concrete), ``field`` Γ ≥ 0 (may be traced),
    ``coupling`` J > 0; NaN where the doublet factors are invalid."""
    ensure_x64()
    g, ok_g = _real("dephasing", dephasing, minimum=0.0)
    d = doublet_factors(n_spins, field, coupling=coupling)
    return nan_unless(ok_g, 1.0 / (g * d.g01))


def _slowest_coherence_rate(m, ne, no):
    """-Re λ of the eigenvalue whose right eigenvector overlaps most with the doublet
    coherence (indices 0 and ne*no), differentiable through first-order perturbation
    theory (jax's eig has no eigenvector derivatives)."""
    m0 = jax.lax.stop_gradient(m)
    w, vl, vr = jax.lax.linalg.eig(m0, compute_left_eigenvectors=True, compute_right_eigenvectors=True)
    ov = (jnp.abs(vr[0]) ** 2 + jnp.abs(vr[ne * no]) ** 2) / jnp.sum(jnp.abs(vr) ** 2, axis=0)
    i = jnp.argmax(ov)
    u, v = vl[:, i], vr[:, i]
    dm = (m - m0).astype(jnp.complex128)
    lam = w[i] + (jnp.conj(u) @ dm @ v) / (jnp.conj(u) @ v)
    return -lam.real


def t2_lindblad(dephasing, n_spins: int, field, *, levels: int = 5, coupling=1.0):
    """Level C: 1/|Re λ| of the n-level odd-sector Liouvillian eigenvalue whose eigenvector
    overlaps most with the |E0⟩⟨E1| coherence.

    Parameters
    ----------
    dephasing : float or array
        γφ ≥ 0 (may be traced; vectorised with ``jax.vmap``).
    n_spins : int
        N ≥ 1 (scalar, concrete).
    field : float
        Γ ≥ 0 (scalar, may be traced).
    levels : int
        n in [2, N+1] (static).
    coupling : float
        J > 0 (scalar, may be traced).

    NaN where the doublet is not resolved in float64 or an input is invalid.
    """
    ensure_x64()
    g, ok_g = _real("dephasing", dephasing, minimum=0.0)
    n = check_n_spins(n_spins)
    if n.ndim != 0:
        raise ValueError(f"n_spins must be a single integer here; got shape {n.shape}")
    n = int(n)
    f, ok_f = _real("field", field, 0.5, minimum=0.0)
    c, ok_c = _real("coupling", coupling, minimum=0.0, strict=True)
    _scalar("field", f)
    _scalar("coupling", c)
    lv = check_levels(levels, n + 1, minimum=2)
    e, jz, _, status = lg_operators(n, jnp.asarray(f / c), lv)  # jnp: traced path under an outer jit
    good = status == Status.OK
    e = jnp.where(good, e * c, jnp.arange(lv, dtype=jnp.float64))
    ee, eo, b, _ = split_parity(e, jz)
    ne, no = b.shape
    gf = jnp.ravel(g)
    rates = jax.vmap(lambda gi: _slowest_coherence_rate(odd_generator(ee, eo, b, gi), ne, no))(gf)
    out = (1.0 / rates).reshape(jnp.shape(g))
    return nan_unless(all_ok(ok_g, ok_f, ok_c), jnp.where(good, out, jnp.nan))


class AnalyticThresholds(eqx.Module):
    """Two-level thresholds of the hierarchy (units of J) and their ingredients."""

    level_a: Float[Array, "*S"]  # mean-field, Eq. 13 + Eq. 23
    level_b: Float[Array, "*S"]  # eigenstate, Eq. 26 + Eq. 23
    t2_threshold: Float[Array, "*S"]  # π/(3ΔE ln(1/ξ))
    xi: Float[Array, "*S"]
    q01_sq: Float[Array, "*S"]
    g01: Float[Array, "*S"]
    g_coll: Float[Array, "*S"]  # m*² N² / 2
    k3_max: Float[Array, "*S"]  # 1.5 Q01²
    delta_e: Float[Array, "*S"]


def analytic_thresholds(n_spins, field, *, coupling=1.0) -> AnalyticThresholds:
    """Levels A and B of Remark 11: γ_A = 2/(m*² N² T2*), γ_B = 1/(G01 T2*) (NaN if 1.5 Q01² ≤ 1).

    ``n_spins`` N ≥ 1 (concrete), ``field`` Γ ≥ 0 and ``coupling`` J > 0 (may be traced)."""
    ensure_x64()
    d = doublet_factors(n_spins, field, coupling=coupling)
    q2 = d.q01**2
    t2s = t2_threshold(q2, d.delta_e)
    n = jnp.asarray(check_n_spins(n_spins), jnp.float64)
    g_coll = d.m_star**2 * n**2 / 2.0
    return AnalyticThresholds(level_a=1.0 / (g_coll * t2s), level_b=1.0 / (d.g01 * t2s), t2_threshold=t2s,
                              xi=xi_threshold(q2), q01_sq=q2, g01=d.g01, g_coll=g_coll, k3_max=1.5 * q2,
                              delta_e=d.delta_e)


def n_spins_bound(dephasing, *, n_ref=370.0, threshold_ref=None):
    """Eq. 30: N ≲ N_ref √(γ_ref/γφ) (collective N² scaling of the threshold).

    ``dephasing`` γφ > 0, ``n_ref`` > 0 and ``threshold_ref`` γ_ref > 0 (default 0.289 s⁻¹
    in units of J for the BEC coupling; pass both rates in the same units); all may be
    traced."""
    from ._units import BEC

    ensure_x64()
    g, ok_g = _real("dephasing", dephasing, minimum=0.0, strict=True)
    nr, ok_n = _real("n_ref", n_ref, minimum=0.0, strict=True)
    ref, ok_r = _real("threshold_ref", BEC.rate_to_natural(0.289) if threshold_ref is None else threshold_ref,
                      minimum=0.0, strict=True)
    return nan_unless(all_ok(ok_g, ok_n, ok_r), nr * jnp.sqrt(ref / g))
