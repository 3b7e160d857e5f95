r"""Semiclassical and mean-field formulas of seed 001 (§3–5, §7.2, Appendices E–H).

All functions are plain formulas in JAX (jit/vmap/grad-able, float64) unless stated.
Energies, fields, rates and temperatures may be given in any one consistent unit
(units of J, or rad/s with ħ = k_B = 1 as in the paper); ``coupling`` is J in that
unit. ``field`` is Γ and ``bias`` h in the same unit as ``coupling``.

Contents

* :func:`instanton_action` — S_inst = arctanh(m*) − m* (Eq. 10/52)
* :func:`instanton_delta_e`, :func:`fit_instanton_prefactor`,
  :func:`instanton_crossover`, :func:`analytic_crossover` — Eq. 10–11, Table 1
* :func:`mean_field_free_energy`, :func:`free_energy_barrier`,
  :func:`free_energy_barrier_large_argument`, :func:`kramers_time` — Eq. 2, App. E–F
* :func:`spinodal` — Remark 9; :func:`sweep_window_min` — Eq. 16;
  :func:`landau_zener_error` — Eq. 17
* :func:`bloch_frequency` (ω0 = 2Jm*), :func:`t2_local` (the collective T2coll is :func:`jaxlmg._analytic.t2_collective`)
  (Remark 5, Eq. 13, App. H)
* :func:`two_spin_solution` — the N = 2 exact solution (§3, Eqs. 6–7)
* :func:`coherent_state_overlap` — S = (Γ/J)^N (§2)
* :func:`atom_number_log_sensitivity` — d ln ΔE/dN = 1/(2N) − S_inst (Eq. 31)
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._config import ensure_x64
from ._validate import check_real

# --------------------------------------------------------------------------- helpers


def _mstar(field, coupling):
    r = jnp.asarray(field, jnp.float64) / coupling
    return jnp.sqrt(jnp.clip(1.0 - r**2, 0.0, None))


def _check_coupling(coupling):
    c = float(check_real("coupling", coupling, minimum=0.0, strict=True))
    return c


def _check_ordered(field, coupling, name="field"):
    """Concrete fields must lie in the ordered phase 0 < Γ < J."""
    if hasattr(field, "aval"):  # traced: no check
        return field
    arr = check_real(name, field, minimum=0.0, strict=True)
    if np.any(arr >= coupling):
        bad = arr[arr >= coupling].flat[0]
        raise ValueError(f"{name} must be in the ordered phase 0 < {name} < coupling = {coupling:g}; got {bad!r}")
    return arr


# --------------------------------------------------------------------------- instanton


def instanton_action(field, *, coupling: float = 1.0):
    r"""Intensive WKB instanton action S_inst = arctanh(m*) − m*, m* = sqrt(1 − Γ²/J²).

    Seed 001 Eq. (10) and Appendix G Eq. (52) (= ∫_0^{m*} ln(J sqrt(1−z²)/Γ) dz).
    Table 1: S_inst = 0.000947, 0.010787, 0.031255 at Γ/J = 0.99, 0.95, 0.90.
    Requires 0 < Γ < J.
    """
    ensure_x64()
    coupling = _check_coupling(coupling)
    _check_ordered(field, coupling)
    m = _mstar(field, coupling)
    return jnp.arctanh(m) - m


def instanton_delta_e(n_spins, field, prefactor, *, coupling: float = 1.0):
    r"""Instanton tunnel splitting ΔE(N) = C0 N^{1/2} e^{−N S_inst} (seed 001 Eq. 10).

    ``prefactor`` C0 carries the unit of the result (e.g. units of k_BT to get ΔE/k_BT).
    """
    ensure_x64()
    n = jnp.asarray(n_spins, jnp.float64)
    s = instanton_action(field, coupling=coupling)
    return prefactor * jnp.sqrt(n) * jnp.exp(-n * s)


class InstantonFit(eqx.Module):
    """Log-space least-squares fit of ln ΔE = ln C0 + ½ ln N − N S_inst (S_inst fixed)."""

    prefactor: Float[Array, ""]  # C0 in units of coupling
    s_inst: Float[Array, ""]
    n_spins: Array  # the N used
    delta_e: Array  # exact ΔE(N) (units of coupling)
    residuals: Array  # ln ΔE − ln(C0 N^½ e^{−N S})
    rms_residual: Float[Array, ""]
    max_abs_residual: Float[Array, ""]
    field: float = eqx.field(static=True)


def fit_instanton_prefactor(field: float, *, n_min: int = 50, n_max: int = 500, even_only: bool = True,
                            coupling: float = 1.0) -> InstantonFit:
    r"""Fit the instanton prefactor C0 of Eq. (10) to exact ΔE(N), N ∈ [n_min, n_max].

    Seed 001 §5: "C0 is determined by fitting Eq. (10) to exact diagonalisation data in
    the range N ∈ [50, 500]". With S_inst fixed at Eq. (52) the log-space least-squares
    estimate is ln C0 = mean_N [ln ΔE(N) − ½ ln N + N S_inst] (even N by default).
    The exact ΔE(N) come from one batched :func:`jaxlmg.spectrum` call.

    The residuals show whether a constant C0 describes the data: near criticality
    (Γ/J = 0.99) N S_inst is not large over [50, 500] and the fitted C0 is far from the
    paper's value (see the report).
    """
    ensure_x64()
    from ._spectrum import spectrum

    coupling = _check_coupling(coupling)
    f = float(_check_ordered(field, coupling))
    n_min = int(check_real("n_min", n_min, minimum=2))
    n_max = int(check_real("n_max", n_max, minimum=n_min + 2))
    step = 2 if even_only else 1
    start = n_min + (n_min % 2) if even_only else n_min
    n = np.arange(start, n_max + 1, step)
    spec = spectrum(n, f, levels=2, coupling=coupling, bucket=False)
    de = np.asarray(spec.delta_e)
    ok = np.isfinite(de) & (de > 0)
    if ok.sum() < 2:
        raise ValueError(f"fewer than two resolved tunnel splittings in N ∈ [{n_min}, {n_max}] at field={f}")
    s = float(np.arctanh(np.sqrt(1 - (f / coupling) ** 2)) - np.sqrt(1 - (f / coupling) ** 2))
    y = np.log(de[ok]) - 0.5 * np.log(n[ok]) + n[ok] * s
    ln_c0 = float(np.mean(y))
    res = y - ln_c0
    return InstantonFit(
        prefactor=jnp.asarray(np.exp(ln_c0)), s_inst=jnp.asarray(s), n_spins=jnp.asarray(n[ok]),
        delta_e=jnp.asarray(de[ok]), residuals=jnp.asarray(res), rms_residual=jnp.asarray(np.sqrt(np.mean(res**2))),
        max_abs_residual=jnp.asarray(np.max(np.abs(res))), field=f,
    )


def instanton_crossover(field, prefactor_over_kt, *, coupling: float = 1.0):
    r"""Instanton root N_c of C0 N^{1/2} e^{−N S_inst} = k_BT (seed 001 Table 1).

    With L = ln(C0/k_BT) the equation ½ ln N − N S + L = 0 has the large-N root
    N_c = −W_{−1}(−2S e^{−2L}) / (2S) (Lambert W, lower branch). Returns NaN where no
    root exists (2S e^{1−2L} > 1). Uses scipy (not traceable); vectorised over inputs.
    """
    from scipy.special import lambertw

    ensure_x64()
    s = np.asarray(instanton_action(field, coupling=coupling))
    lnr = np.log(np.asarray(prefactor_over_kt, np.float64))
    z = -2.0 * s * np.exp(-2.0 * lnr)
    with np.errstate(invalid="ignore"):
        w = lambertw(z, k=-1)
    out = np.where((z >= -np.exp(-1.0)) & (np.abs(w.imag) < 1e-12), -w.real / (2.0 * s), np.nan)
    return out[()] if out.ndim == 0 else out


def analytic_crossover(field, prefactor_over_kt, *, coupling: float = 1.0):
    r"""Analytic estimate N_c ≈ ln(C0/k_BT)/S_inst (seed 001 Eq. 11; drops the N^½)."""
    return jnp.log(jnp.asarray(prefactor_over_kt, jnp.float64)) / instanton_action(field, coupling=coupling)


def atom_number_log_sensitivity(n_spins, field, *, coupling: float = 1.0):
    r"""d ln ΔE/dN = 1/(2N) − S_inst from the instanton formula (seed 001 Eq. 31).

    At N = 370, Γ/J = 0.95: 1/740 − 0.010787 = −0.00944 per atom.
    """
    return 0.5 / jnp.asarray(n_spins, jnp.float64) - instanton_action(field, coupling=coupling)


# --------------------------------------------------------------------------- mean field


def mean_field_free_energy(m, field, *, temperature, bias=0.0, coupling: float = 1.0):
    r"""Mean-field variational free energy per spin (seed 001 Eq. 2):

    f(m) = (J/2) m² − T ln[2 cosh( sqrt((Jm + h)² + Γ²) / T )]

    ``temperature`` is k_BT in the unit of ``coupling`` (k_B = 1). T → 0 is allowed
    (f → J m²/2 − sqrt((Jm+h)² + Γ²)). ln(2 cosh x) is evaluated stably as
    |x| + log1p(e^{−2|x|}).
    """
    ensure_x64()
    m = jnp.asarray(m, jnp.float64)
    t = jnp.asarray(temperature, jnp.float64)
    e = jnp.sqrt((coupling * m + bias) ** 2 + jnp.asarray(field, jnp.float64) ** 2)
    safe_t = jnp.where(t > 0, t, 1.0)
    x = e / safe_t
    lncosh2 = x + jnp.log1p(jnp.exp(-2.0 * x))
    return 0.5 * coupling * m**2 - jnp.where(t > 0, safe_t * lncosh2, e)


def free_energy_barrier(field, *, temperature, coupling: float = 1.0):
    r"""Δf0 = f(0) − f(m*) from the exact Eq. (2) at h = 0 (Appendix F), m* = sqrt(1−Γ²/J²).

    Paper: Δf0 ≈ 46.5 rad/s at J = 37195.4 rad/s, Γ/J = 0.95, T = 10 nK.
    """
    m = _mstar(field, coupling)
    f0 = mean_field_free_energy(0.0, field, temperature=temperature, coupling=coupling)
    fm = mean_field_free_energy(m, field, temperature=temperature, coupling=coupling)
    return f0 - fm


def free_energy_barrier_large_argument(field, *, coupling: float = 1.0):
    r"""The paper's large-argument approximation Δf0 ≈ −J m*²/2 + J − Γ (Appendix F).

    (ln cosh x ≈ x − ln 2; exact at T → 0 where it equals (J − Γ)²/(2J).)
    """
    m = _mstar(field, coupling)
    return -0.5 * coupling * m**2 + coupling - jnp.asarray(field, jnp.float64)


def bloch_frequency(field, *, coupling: float = 1.0):
    r"""Bloch normal-mode frequency ω0 = 2 J m* (seed 001 §2, Appendix B)."""
    return 2.0 * coupling * _mstar(field, coupling)


def kramers_time(n_spins, field, *, temperature, coupling: float = 1.0):
    r"""Kramers escape time τK ≈ (2π/ω0) exp(N Δf0 / k_BT) (seed 001 Remark 9, App. E–F).

    Δf0 from the exact Eq. (2); attempt period 2π/ω0 with ω0 = 2Jm*. In the paper's
    units (rad/s) the result is in seconds: ≈ 0.27 ms × e^{13.1} ≈ 130 s at N = 370.
    """
    n = jnp.asarray(n_spins, jnp.float64)
    df = free_energy_barrier(field, temperature=temperature, coupling=coupling)
    return 2.0 * jnp.pi / bloch_frequency(field, coupling=coupling) * jnp.exp(n * df / temperature)


class Spinodal(eqx.Module):
    """Spinodal point of the metastable well (Remark 9), T → 0 (units of coupling)."""

    e_sp: Float[Array, "..."]
    y_sp: Float[Array, "..."]
    m_sp: Float[Array, "..."]
    h_sp: Float[Array, "..."]


def spinodal(field, *, coupling: float = 1.0) -> Spinodal:
    r"""Spinodal field where f'(m) = f''(m) = 0 at T → 0 (seed 001 Remark 9).

    E_sp = (JΓ²)^{1/3}, y_sp = sqrt(E_sp² − Γ²), m_sp = −y_sp/E_sp,
    h_sp = y_sp (J^{2/3}/Γ^{2/3} − 1). Paper at Γ/J = 0.95: y_sp ≈ 0.177 J,
    m_sp ≈ −0.183, h_sp ≈ 0.0062 J ≈ 229 rad/s.
    """
    ensure_x64()
    g = jnp.asarray(field, jnp.float64)
    e = (coupling * g**2) ** (1.0 / 3.0)
    y = jnp.sqrt(jnp.clip(e**2 - g**2, 0.0, None))
    return Spinodal(e_sp=e, y_sp=y, m_sp=-y / e, h_sp=y * ((coupling / g) ** (2.0 / 3.0) - 1.0))


def sweep_window_min(delta_e, n_spins, field, *, coupling: float = 1.0):
    r"""Minimum LZ sweep amplitude ΔE/(N m*) (seed 001 Eq. 16; ≈ 11 rad/s at the benchmark)."""
    return jnp.asarray(delta_e, jnp.float64) / (jnp.asarray(n_spins, jnp.float64) * _mstar(field, coupling))


def landau_zener_error(tau_q, delta_e, n_spins, field, sweep_amplitude, *, coupling: float = 1.0):
    r"""Coherent Landau–Zener error P = exp(−π ΔE² τQ / (4α)), α = N m* Δh (seed 001 Eq. 17).

    ``tau_q`` in inverse units of ``delta_e`` (ħ = 1); ``sweep_amplitude`` is Δh.
    """
    alpha = jnp.asarray(n_spins, jnp.float64) * _mstar(field, coupling) * sweep_amplitude
    return jnp.exp(-jnp.pi * jnp.asarray(delta_e, jnp.float64) ** 2 * jnp.asarray(tau_q, jnp.float64) / (4.0 * alpha))


def t2_local(dephasing, n_spins, field, *, coupling: float = 1.0):
    r"""Local-bath coherence time: 1/T2local = N γφ (1 + m*²) (seed 001 Remark 5, Eq. 57).

    ≈ 49 ms at N = 370, Γ/J = 0.95, γφ = 0.05 s⁻¹ (compare the collective-bath
    :func:`jaxlmg.t2_collective`, ≈ 3.0 ms). Same argument order as ``k3``.
    """
    m = _mstar(field, coupling)
    return 1.0 / (jnp.asarray(n_spins, jnp.float64) * dephasing * (1.0 + m**2))


class TwoSpinSolution(eqx.Module):
    """Exact N = 2 solution at h = 0 (seed 001 §3)."""

    e_plus: Float[Array, "..."]  # ½(−J + sqrt(J² + 16Γ²)) (even, excited)
    e_minus: Float[Array, "..."]  # ½(−J − sqrt(J² + 16Γ²)) (even ground state)
    e_odd: Float[Array, "..."]  # −J (odd level |a⟩)
    delta_e: Float[Array, "..."]  # E_odd − E_minus = ½(−J + sqrt(J² + 16Γ²)) (Eq. 7)
    p_macro: Float[Array, "..."]  # cos²(φ/2), tan φ = 4Γ/J


def two_spin_solution(field, *, coupling: float = 1.0) -> TwoSpinSolution:
    r"""N = 2 exact solution (seed 001 §3, Eqs. 6–7): E± = ½(−J ± sqrt(J² + 16Γ²)),
    odd level −J, ΔE = ½(−J + sqrt(J² + 16Γ²)), P_macro = cos²(φ/2) with tan φ = 4Γ/J."""
    ensure_x64()
    g = jnp.asarray(field, jnp.float64)
    r = jnp.sqrt(coupling**2 + 16.0 * g**2)
    phi = jnp.arctan2(4.0 * g, coupling)
    return TwoSpinSolution(
        e_plus=0.5 * (-coupling + r), e_minus=0.5 * (-coupling - r), e_odd=-coupling * jnp.ones_like(g),
        delta_e=0.5 * (-coupling + r), p_macro=jnp.cos(phi / 2.0) ** 2,
    )


def coherent_state_overlap(n_spins, field, *, coupling: float = 1.0):
    r"""⟨P|R⟩ = (Γ/J)^N = (1 − m*²)^{N/2} for spin-coherent states at ±m* (seed 001 §2).

    ≈ 5.7 × 10⁻⁹ at N = 370, Γ/J = 0.95.
    """
    return (jnp.asarray(field, jnp.float64) / coupling) ** jnp.asarray(n_spins, jnp.float64)


__all__ = [
    "InstantonFit", "Spinodal", "TwoSpinSolution", "analytic_crossover", "atom_number_log_sensitivity",
    "bloch_frequency", "coherent_state_overlap", "fit_instanton_prefactor", "free_energy_barrier",
    "free_energy_barrier_large_argument", "instanton_action", "instanton_crossover", "instanton_delta_e",
    "kramers_time", "landau_zener_error", "mean_field_free_energy", "spinodal", "sweep_window_min",
    "t2_local", "two_spin_solution",
]
