r"""P_error analysis: Eq. (17) against the simulated sweeps, decay-rate and crossover fits, the P4 table.

Eq. (17) of seed 001: P = exp(−π ΔE² τQ / (4α)), α = N m* Δh (two-level Zener with V = ΔE/2 and
diabatic slope N m* v_h). Its "dressed" variant replaces the mean-field magnetisation N m*/2 of the
diabatic states by the exact doublet matrix element J01 = |⟨E0|Jz|E1⟩| at h = 0:
P = exp(−π ΔE² τQ / (8 J01 Δh)). Both use the exact ΔE.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._config import ensure_x64
from .._semiclassical import spinodal
from .._units import BEC, BECUnits
from .._validate import check_real
from ._basis import sweep_basis
from ._classical import classical_sweep, kramers_check
from ._open import dephased_sweep
from ._unitary import _check_static, coherent_sweep


def doublet_parameters(n_spins: int, field: float, *, coupling: float = 1.0):
    """(ΔE, J01, N m*/2) at h = 0: exact tunnel splitting, exact |⟨E0|Jz|E1⟩|, and its mean-field value."""
    ensure_x64()
    n, f, coupling, _ = _check_static(n_spins, field, coupling, None)
    b = sweep_basis(n, f, coupling, None)
    de = float(b.energies[1] - b.energies[0])
    j01 = float(abs(b.vectors[:, 0] @ (b.m * b.vectors[:, 1])))
    return de, j01, 0.5 * n * float(np.sqrt(max(1.0 - (f / coupling) ** 2, 0.0)))


def zener_eq17(tau_q, n_spins: int, field: float, sweep_amplitude, *, coupling: float = 1.0, dressed: bool = False):
    r"""Eq. (17) with the exact ΔE: exp(−π ΔE² τQ/(4 N m* Δh)); ``dressed``: N m* → 2 J01."""
    ensure_x64()
    de, j01, half_nm = doublet_parameters(n_spins, field, coupling=coupling)
    slope = 2.0 * j01 if dressed else 2.0 * half_nm
    tau = jnp.asarray(check_real("tau_q", tau_q, minimum=0.0), jnp.float64)
    dh = jnp.asarray(check_real("sweep_amplitude", sweep_amplitude, minimum=0.0, strict=True), jnp.float64)
    return jnp.exp(-jnp.pi * de**2 * tau / (4.0 * slope * dh))


def fit_decay_rate(tau_q, p, *, p_range=(1e-8, 0.8)):
    r"""Least-squares fit ln P = c − κ τQ over the points with P in ``p_range``; returns (κ, c, used).

    NaN where fewer than two points qualify. Eq. (17) has c = 0 and κ = π ΔE²/(4α).
    """
    tau = np.asarray(tau_q, np.float64)
    p = np.asarray(p, np.float64)
    use = np.isfinite(p) & (p >= p_range[0]) & (p <= p_range[1])
    if use.sum() < 2:
        return float("nan"), float("nan"), use
    a = np.stack([np.ones(use.sum()), -tau[use]], axis=1)
    (c, k), *_ = np.linalg.lstsq(a, np.log(p[use]), rcond=None)
    return float(k), float(c), use


def fit_crossover_time(tau_q, p_dephased, p_coherent, *, p_limit: float = 1.0):
    r"""Crossover time τ× of the interpolation P = P_lim − (P_lim − P_coh) e^{−τQ/τ×}.

    P_coh is the coherent P_error at the same τQ and P_lim the dephasing-dominated long-sweep
    limit: 1 for ``p_error`` (population leaves the instantaneous ground state: incoherent
    tunnelling plus heating by the collective noise), ½ for ``p_well`` (the two wells equally
    populated). τ× is fitted by least squares in ln τ× (grid search then scipy bounded, within
    [τQ_min/100, 100 τQ_max]). Returns NaN if no point is finite.
    """
    from scipy.optimize import minimize_scalar

    tau = np.asarray(tau_q, np.float64)
    pd = np.asarray(p_dephased, np.float64)
    pc = np.asarray(p_coherent, np.float64)
    ok = np.isfinite(pd) & np.isfinite(pc)
    if not ok.any():
        return float("nan")
    t, pd, pc = tau[ok], pd[ok], pc[ok]

    def loss(lt):
        return float(np.sum((p_limit - (p_limit - pc) * np.exp(-t / np.exp(lt)) - pd) ** 2))

    lo, hi = np.log(t.min() / 100.0), np.log(t.max() * 100.0)
    grid = np.linspace(lo, hi, 200)
    best = grid[np.argmin([loss(g) for g in grid])]
    step = grid[1] - grid[0]
    res = minimize_scalar(loss, bounds=(max(lo, best - step), min(hi, best + step)), method="bounded")
    return float(np.exp(res.x))


def optimal_sweep_time(tau_q, p):
    r"""(τQ_opt, P_min): minimum of P_error(τQ) by a parabola in (ln τQ, ln P) through the best grid point.

    At an end of the grid the end point itself is returned. NaN if no point is finite and > 0.
    """
    tau = np.asarray(tau_q, np.float64)
    p = np.asarray(p, np.float64)
    ok = np.isfinite(p) & (p > 0)
    if not ok.any():
        return float("nan"), float("nan")
    tau, p = tau[ok], p[ok]
    i = int(np.argmin(p))
    if i == 0 or i == len(p) - 1:
        return float(tau[i]), float(p[i])
    x, y = np.log(tau[i - 1:i + 2]), np.log(p[i - 1:i + 2])
    a, b, c = np.polyfit(x, y, 2)
    if a <= 0:
        return float(tau[i]), float(p[i])
    xm = float(np.clip(-b / (2 * a), x[0], x[2]))
    return float(np.exp(xm)), float(np.exp(np.polyval([a, b, c], xm)))


class Eq17Comparison(eqx.Module):
    """Simulated coherent P_error on a (Δh, τQ) grid next to Eq. (17) and its dressed variant."""

    tau_q: Float[Array, "t"]
    sweep_amplitude: Float[Array, "a"]
    p_error: Float[Array, "a t"]
    p_well: Float[Array, "a t"]
    p_eq17: Float[Array, "a t"]
    p_dressed: Float[Array, "a t"]
    exponent_ratio: Float[Array, "a t"]  # ln P_sim / ln P_eq17
    kappa_fit: Float[Array, "a"]  # fitted decay rate of P_sim
    kappa_eq17: Float[Array, "a"]
    kappa_dressed: Float[Array, "a"]
    error: Float[Array, "a t"]
    delta_e: float
    j01: float
    half_n_mstar: float


def eq17_comparison(n_spins: int, field: float, tau_q, sweep_amplitude, *, coupling: float = 1.0,
                    levels: int | None = None, max_step: float = 0.5, p_range=(1e-8, 0.8)) -> Eq17Comparison:
    r"""Coherent sweeps on the grid Δh × τQ against Eq. (17) (units of J, ħ/J)."""
    ensure_x64()
    tau = np.atleast_1d(np.asarray(check_real("tau_q", tau_q, minimum=0.0, strict=True), np.float64))
    dh = np.atleast_1d(np.asarray(check_real("sweep_amplitude", sweep_amplitude, minimum=0.0, strict=True),
                                  np.float64))
    de, j01, half_nm = doublet_parameters(n_spins, field, coupling=coupling)
    r = coherent_sweep(n_spins, field, tau[None, :], dh[:, None], coupling=coupling, levels=levels,
                       max_step=max_step)
    p = np.asarray(r.p_error)
    p17 = np.exp(-np.pi * de**2 * tau[None, :] / (4.0 * 2.0 * half_nm * dh[:, None]))
    pdr = np.exp(-np.pi * de**2 * tau[None, :] / (8.0 * j01 * dh[:, None]))
    kfit = np.array([fit_decay_rate(tau, row, p_range=p_range)[0] for row in p])
    return Eq17Comparison(
        tau_q=jnp.asarray(tau), sweep_amplitude=jnp.asarray(dh), p_error=jnp.asarray(p),
        p_well=r.p_well, p_eq17=jnp.asarray(p17), p_dressed=jnp.asarray(pdr),
        exponent_ratio=jnp.asarray(np.log(p) / np.log(p17)), kappa_fit=jnp.asarray(kfit),
        kappa_eq17=jnp.asarray(np.pi * de**2 / (8.0 * half_nm * dh)), kappa_dressed=jnp.asarray(np.pi * de**2 / (8.0 * j01 * dh)),
        error=r.error, delta_e=de, j01=j01, half_n_mstar=half_nm,
    )


def crossover_table(n_spins: int = 370, field: float = 0.95, *, tau_q_ms=None, dephasing_per_s=(0.0, 0.05, 0.289, 1.0),
                    sweep_amplitude_rad_s=50.0, temperature_nk: float = 10.0, levels: int | None = 48,
                    max_step: float = 1.0, classical: bool = True, units: BECUnits = BEC) -> dict:
    r"""The P4 crossover: P_error(τQ, γφ) of dephased sweeps, Eq. (17) and the classical foil (BEC units).

    Defaults: N = 370, Γ/J = 0.95, Δh = 50 rad/s (the geometric centre of the Eq. 16 window
    11–229 rad/s), τQ = 10 points log-spaced over [0.1, 100] ms, γφ ∈ {0, 0.05, 0.289, 1} s⁻¹,
    K = 48 lowest H0 eigenstates (truncation converged to ≲ 5e-4 at γφ = 1 s⁻¹, τQ = 100 ms),
    Model A at 10 nK with the default mobility. A few minutes on one CPU core.

    Returns a JSON-serialisable dict: inputs, ``p_error[γφ][τQ]`` and ``p_well[γφ][τQ]`` (quantum),
    ``p_eq17``/``p_dressed`` [τQ], ``p_classical`` [τQ], ``crossover_ms`` [γφ] (fit of
    :func:`fit_crossover_time` to ``p_error`` with limit 1; NaN for γφ = 0), ``crossover_well_ms``
    (the same for ``p_well`` with limit ½), ``optimal_tau_q_ms``/``min_p_error`` [γφ]
    (:func:`optimal_sweep_time`), ``t2_ms`` [γφ] (2/(γφ (2J01)²), the doublet
    coherence time of the collective bath), ``max_error``, window and Kramers numbers.
    """
    ensure_x64()
    if tau_q_ms is None:
        tau_q_ms = np.geomspace(0.1, 100.0, 10)
    tau_ms = np.atleast_1d(np.asarray(check_real("tau_q_ms", tau_q_ms, minimum=0.0, strict=True), np.float64))
    gam = np.atleast_1d(np.asarray(check_real("dephasing_per_s", dephasing_per_s, minimum=0.0), np.float64))
    dh_rad = float(check_real("sweep_amplitude_rad_s", sweep_amplitude_rad_s, minimum=0.0, strict=True))
    tau = tau_ms * 1e-3 * units.coupling_rad_s
    dh = units.energy_from_rad_s(dh_rad)
    g = units.rate_to_natural(gam)
    r = dephased_sweep(n_spins, field, tau[None, :], dh, g[:, None], levels=levels, max_step=max_step)
    p = np.asarray(r.p_error)
    de, j01, half_nm = doublet_parameters(n_spins, field)
    p17 = np.exp(-np.pi * de**2 * tau / (8.0 * half_nm * dh))
    pdr = np.exp(-np.pi * de**2 * tau / (8.0 * j01 * dh))
    coh = p[int(np.argmin(gam))] if np.any(gam == 0) else np.asarray(
        coherent_sweep(n_spins, field, tau, dh, levels=levels, max_step=max_step).p_error)
    pw = np.asarray(r.p_well)
    coh_w = pw[int(np.argmin(gam))] if np.any(gam == 0) else None
    cross = [float("nan") if gi == 0 else fit_crossover_time(tau_ms, row, coh) for gi, row in zip(gam, p)]
    cross_w = [float("nan") if (gi == 0 or coh_w is None) else fit_crossover_time(tau_ms, row, coh_w, p_limit=0.5)
               for gi, row in zip(gam, pw)]
    opt = [optimal_sweep_time(tau_ms, row) for row in p]
    with np.errstate(divide="ignore"):
        t2 = np.where(gam > 0, 2.0 / (np.where(gam > 0, gam, 1.0) * (2.0 * j01) ** 2) * 1e3, np.inf)
    out = {
        "n_spins": int(n_spins), "field": float(field), "sweep_amplitude_rad_s": dh_rad, "levels": levels,
        "tau_q_ms": tau_ms.tolist(), "dephasing_per_s": gam.tolist(),
        "delta_e_rad_s": float(units.energy_to_rad_s(de)), "j01": j01, "half_n_mstar": half_nm,
        "window_rad_s": [float(units.energy_to_rad_s(de / (2.0 * half_nm))),
                         float(units.energy_to_rad_s(spinodal(field).h_sp))],
        "p_error": p.tolist(), "p_well": np.asarray(r.p_well).tolist(), "p_eq17": p17.tolist(),
        "p_dressed": pdr.tolist(), "crossover_ms": cross, "crossover_well_ms": cross_w,
        "optimal_tau_q_ms": [o[0] for o in opt], "min_p_error": [o[1] for o in opt], "t2_ms": [float(x) for x in t2],
        "max_error": float(np.nanmax(np.asarray(r.error))),
        "status": np.asarray(r.status).tolist(),
    }
    if classical:
        t_nat = units.kt_natural(temperature_nk)
        c = classical_sweep(n_spins, field, tau, dh, temperature=t_nat)
        k = kramers_check(n_spins, field, temperature=t_nat)
        out.update({
            "temperature_nk": float(temperature_nk), "p_classical": np.asarray(c.p_error).tolist(),
            "classical_mobility": float(c.mobility),
            "kramers_s": {"fokker_planck": float(units.time_to_s(k.tau_numeric)),
                          "eq50": float(units.time_to_s(k.tau_eq50)), "barrier_kt": float(k.barrier),
                          "intrawell_ms": float(units.time_to_s(k.intrawell_time) * 1e3)},
        })
    return out
