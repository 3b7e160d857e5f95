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
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._config import ensure_x64
from ._leggett_garg import lg_operators
from ._lindblad import odd_generator, split_parity
from ._model import mean_field_order_parameter
from ._observables import doublet_factors
from ._status import Status
from ._validate import check_levels, check_n_spins, check_real


def two_level_k3(q01_sq, t2, delta_e, dt=None):
    """Eq. 21 → K3 = 2C(τ) - C(τ2τ) with C(t) = Q01² cos(ΔE t) e^{-t/T2} (Eq. 22 at τ = π/(3ΔE)).

    ``t2`` = ∞ gives the coherent ceiling 1.5 Q01² at the default τ."""
    q01_sq = jnp.asarray(q01_sq, jnp.float64)
    de = jnp.asarray(delta_e, jnp.float64)
    tau = jnp.pi / (3.0 * de) if dt is None else jnp.asarray(dt, jnp.float64)
    rate = 1.0 / jnp.asarray(t2, jnp.float64)
    c = lambda t: q01_sq * jnp.cos(de * t) * jnp.exp(-t * rate)
    return 2.0 * c(tau) - c(2.0 * tau)


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


def coherent_k3(n_spins: int, field: float, *, levels: int | None = None, dt=None, coupling: float = 1.0) -> CoherentK3:
    """Coherent-limit multi-level K3 (Eq. 25) on the lowest ``levels`` states (all N+1 if None).

    At N = 370, Γ/J = 0.95 the terms reproduce Remark 12 (k = 1…9: 1.415, 0.028, 0.013,
    -0.010, -0.009); the sum is 1.4436 for n = 5 and 1.4379 with all 371 levels."""
    ensure_x64()
    n = int(check_n_spins(n_spins))
    f = float(check_real("field", field, minimum=0.0))
    lv = n + 1 if levels is None else check_levels(levels, n + 1, minimum=2)
    e, _, q, status = lg_operators(n, f, lv, coupling=coupling)
    if int(status) != Status.OK:
        raise ValueError(f"tunnel splitting not resolved in float64 at n_spins={n}, field={f}")
    e = np.asarray(e)
    q0 = np.asarray(q)[0]
    k = np.arange(1, lv, 2)
    dek = e[k] - e[0]
    tau = np.pi / (3.0 * dek[0]) if dt is None else float(dt)
    q2 = q0[k] ** 2
    contrib = q2 * (2.0 * np.cos(dek * tau) - np.cos(2.0 * dek * tau))
    return CoherentK3(k3=jnp.asarray(contrib.sum()), levels=jnp.asarray(k), gap_ratio=jnp.asarray(dek / dek[0]),
                      q_sq=jnp.asarray(q2), contribution=jnp.asarray(contrib))


def t2_collective(dephasing, n_spins, field, *, coupling: float = 1.0):
    """Level A mean-field coherence time, Eq. 13: 1/T2coll = m*² N² γφ / 2."""
    g = check_real("dephasing", dephasing, minimum=0.0)
    n = check_n_spins(n_spins).astype(np.float64)
    f = check_real("field", field, minimum=0.0)
    m = mean_field_order_parameter(jnp.asarray(f), coupling=coupling)
    return 1.0 / (m**2 * n**2 * g / 2.0)


def t2_physical(dephasing, n_spins, field, *, coupling: float = 1.0):
    """Level B eigenstate coherence time, Eq. 26: 1/T2phys = γφ G01 (exact full-space G01)."""
    g = check_real("dephasing", dephasing, minimum=0.0)
    d = doublet_factors(n_spins, field, coupling=coupling)
    return 1.0 / (g * d.g01)


def t2_lindblad(dephasing, n_spins: int, field: float, *, levels: int = 5, coupling: float = 1.0):
    """Level C: 1/|Re λ| of the n-level odd-sector Liouvillian eigenvalue whose eigenvector
    overlaps most with the |E0⟩⟨E1| coherence (numpy ``eig``; scalar N, Γ; γφ may be an array)."""
    g = np.atleast_1d(check_real("dephasing", dephasing, minimum=0.0))
    n = int(check_n_spins(n_spins))
    f = float(check_real("field", field, minimum=0.0))
    lv = check_levels(levels, n + 1, minimum=2)
    e, jz, _, status = lg_operators(n, f, lv, coupling=coupling)
    ee, eo, b, _ = split_parity(e, jz)
    ne, no = b.shape
    out = []
    for gi in g:
        m = np.asarray(odd_generator(ee, eo, b, float(gi)))
        w, v = np.linalg.eig(m)
        # doublet coherence (e=0, o=0): Re at index 0, Im at index ne*no
        ov = np.abs(v[0]) ** 2 + np.abs(v[ne * no]) ** 2
        ov = ov / np.sum(np.abs(v) ** 2, axis=0)
        out.append(-1.0 / w[np.argmax(ov)].real)
    res = np.array(out).reshape(np.shape(dephasing))
    return jnp.asarray(res)


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


def analytic_thresholds(n_spins, field, *, coupling: float = 1.0) -> AnalyticThresholds:
    """Levels A and B of Remark 11: γ_A = 2/(m*² N² T2*), γ_B = 1/(G01 T2*) (NaN if 1.5 Q01² ≤ 1)."""
    ensure_x64()
    d = doublet_factors(n_spins, field, coupling=coupling)
    q2 = d.q01**2
    t2s = t2_threshold(q2, d.delta_e)
    n = jnp.asarray(check_n_spins(n_spins), jnp.float64)
    g_coll = d.m_star**2 * n**2 / 2.0
    return AnalyticThresholds(level_a=1.0 / (g_coll * t2s), level_b=1.0 / (d.g01 * t2s), t2_threshold=t2s,
                              xi=xi_threshold(q2), q01_sq=q2, g01=d.g01, g_coll=g_coll, k3_max=1.5 * q2,
                              delta_e=d.delta_e)


def n_spins_bound(dephasing, *, n_ref: float = 370.0, threshold_ref=None):
    """Eq. 30: N ≲ N_ref √(γ_ref/γφ) (collective N² scaling of the threshold).

    ``threshold_ref`` defaults to 0.289 s⁻¹ in units of J (BEC coupling); pass both in
    the same units as ``dephasing``."""
    from ._units import BEC

    g = check_real("dephasing", dephasing, minimum=0.0, strict=True)
    ref = BEC.rate_to_natural(0.289) if threshold_ref is None else threshold_ref
    return n_ref * np.sqrt(ref / g)
