r"""Semiclassical and mean-field formulas of seed 001 (§3–5, §7.2, Appendices E–H).

All functions are plain formulas in JAX (jit/vmap/grad/jvp-able in every real parameter,
float64). Concrete out-of-range inputs raise ``ValueError`` naming the parameter and its
range; traced out-of-range inputs (under ``jax.jit``/``vmap``/``grad``) give NaN.
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
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._config import ensure_x64
from ._validate import all_ok, count_arg, nan_unless, real_arg, safe

# --------------------------------------------------------------------------- helpers


def _sqrt0(x):
    """sqrt(max(x, 0)) with a finite gradient at and below 0 (double where)."""
    pos = x > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, x, 1.0)), 0.0)


def _mstar(field, coupling):
    r = jnp.asarray(field, jnp.float64) / coupling
    return _sqrt0(1.0 - r**2)


def _coupling(coupling):
    return real_arg("coupling", coupling, minimum=0.0, strict=True)


def _field(field, coupling, *, ordered: bool = False, name: str = "field"):
    """(Γ, J, ok) with Γ ≥ 0 (``ordered``: 0 < Γ < J), J > 0; ok None if all concrete."""
    ensure_x64()
    c, ok_c = _coupling(coupling)
    g, ok_g = real_arg(name, field, minimum=0.0, strict=ordered)
    if ordered:
        if ok_g is None and ok_c is None:
            if np.any(np.asarray(g) >= np.asarray(c)):
                bad = np.asarray(g)[np.asarray(g) >= np.asarray(c)].flat[0]
                raise ValueError(f"{name} must be in the ordered phase 0 < {name} < coupling; got {bad!r}")
        else:
            ok_g = all_ok(ok_g, jnp.ones(jnp.shape(g), bool)) & (g < c)
    ok = all_ok(ok_g, ok_c)
    return safe(ok, g, 0.5), safe(ok, c, 1.0), ok


def _real(name, value, fallback=1.0, **kw):
    x, ok = real_arg(name, value, **kw)
    return safe(ok, x, fallback), ok


def _count(name, value):
    x, ok = count_arg(name, value)
    return safe(ok, x, 2.0), ok


# --------------------------------------------------------------------------- instanton


def instanton_action(field, *, coupling=1.0):
    r"""Intensive WKB instanton action S_inst = arctanh(m*) − m*, m* = sqrt(1 − Γ²/J²).

    Seed 001 Eq. (10) and Appendix G Eq. (52) (= ∫_0^{m*} ln(J sqrt(1−z²)/Γ) dz).
    Table 1: S_inst = 0.000947, 0.010787, 0.031255 at Γ/J = 0.99, 0.95, 0.90.

    Parameters
    ----------
    field : float or array
        Γ, in the ordered phase 0 < Γ < J.
    coupling : float or array
        J > 0 (same unit as ``field``).
    """
    g, c, ok = _field(field, coupling, ordered=True)
    m = _mstar(g, c)
    return nan_unless(ok, jnp.arctanh(m) - m)


def instanton_delta_e(n_spins, field, prefactor, *, coupling=1.0):
    r"""Instanton tunnel splitting ΔE(N) = C0 N^{1/2} e^{−N S_inst} (seed 001 Eq. 10).

    Parameters
    ----------
    n_spins : int or array
        N ≥ 1 (integer).
    field : float or array
        Γ with 0 < Γ < J.
    prefactor : float or array
        C0 > 0; carries the unit of the result (e.g. units of k_BT to get ΔE/k_BT).
    coupling : float
        J > 0.
    """
    ensure_x64()
    n, ok_n = _count("n_spins", n_spins)
    p, ok_p = _real("prefactor", prefactor, minimum=0.0, strict=True)
    s = instanton_action(field, coupling=coupling)
    return nan_unless(all_ok(ok_n, ok_p), p * jnp.sqrt(n) * jnp.exp(-n * s))


class InstantonFit(eqx.Module):
    """Log-space least-squares fit of ln ΔE = ln C0 + ½ ln N − N S_inst (S_inst fixed).

    ``n_spins`` is the whole grid; ``delta_e`` and ``residuals`` are NaN where ΔE is not
    resolved in float64 (those N do not enter the fit)."""

    prefactor: Float[Array, ""]  # C0 in units of coupling
    s_inst: Float[Array, ""]
    n_spins: Array  # the N grid
    delta_e: Array  # exact ΔE(N) (units of coupling; NaN if unresolved)
    residuals: Array  # ln ΔE − ln(C0 N^½ e^{−N S})
    rms_residual: Float[Array, ""]
    max_abs_residual: Float[Array, ""]
    field: Float[Array, ""]


def fit_instanton_prefactor(field, *, n_min: int = 50, n_max: int = 500, even_only: bool = True,
                            coupling=1.0) -> InstantonFit:
    r"""Fit the instanton prefactor C0 of Eq. (10) to exact ΔE(N), N ∈ [n_min, n_max].

    Seed 001 §5: "C0 is determined by fitting Eq. (10) to exact diagonalisation data in
    the range N ∈ [50, 500]". With S_inst fixed at Eq. (52) the log-space least-squares
    estimate is ln C0 = mean_N [ln ΔE(N) − ½ ln N + N S_inst] (even N by default).
    The exact ΔE(N) come from one batched :func:`jaxlmg.spectrum` call; ``field`` (a
    scalar 0 < Γ < J) may be traced (the fit is differentiable in Γ).

    The residuals show whether a constant C0 describes the data: near criticality
    (Γ/J = 0.99) N S_inst is not large over [50, 500] and the fitted C0 is far from the
    paper's value (see the report).
    """
    ensure_x64()
    from ._spectrum import spectrum

    g, c, ok = _field(field, coupling, ordered=True)
    if jnp.ndim(g) != 0:
        raise ValueError(f"field must be a scalar here; got shape {jnp.shape(g)}")
    n_min = int(count_arg("n_min", n_min)[0])
    n_max = int(count_arg("n_max", n_max)[0])
    if n_min < 2 or n_max < n_min + 2:
        raise ValueError(f"n_min and n_max must satisfy 2 <= n_min <= n_max - 2; got n_min={n_min}, n_max={n_max}")
    if not isinstance(even_only, (bool, np.bool_)):
        raise ValueError(f"even_only must be True or False; got {even_only!r}")
    step = 2 if even_only else 1
    start = n_min + (n_min % 2) if even_only else n_min
    n = np.arange(start, n_max + 1, step)
    # ΔE scales with J: diagonalise at Γ/J with unit coupling.
    spec = spectrum(n, g / c, levels=2, bucket=False)
    de = spec.delta_e * c
    good = jnp.isfinite(de) & (de > 0)
    if not isinstance(good, jax.core.Tracer) and int(np.sum(np.asarray(good))) < 2:
        raise ValueError(f"fewer than two resolved tunnel splittings in N ∈ [{n_min}, {n_max}] at field={field}")
    s = instanton_action(g, coupling=c)
    nj = jnp.asarray(n, jnp.float64)
    y = jnp.log(jnp.where(good, de, 1.0)) - 0.5 * jnp.log(nj) + nj * s
    w = good.astype(jnp.float64)
    ln_c0 = jnp.sum(w * y) / jnp.sum(w)
    res = jnp.where(good, y - ln_c0, jnp.nan)
    res0 = jnp.where(good, y - ln_c0, 0.0)
    ok_all = all_ok(ok, jnp.sum(w) >= 2)
    return InstantonFit(
        prefactor=nan_unless(ok_all, jnp.exp(ln_c0)), s_inst=s, n_spins=jnp.asarray(n),
        delta_e=jnp.where(good, de, jnp.nan), residuals=res,
        rms_residual=nan_unless(ok_all, jnp.sqrt(jnp.sum(res0**2) / jnp.sum(w))),
        max_abs_residual=nan_unless(ok_all, jnp.max(jnp.abs(res0))), field=jnp.asarray(field, jnp.float64),
    )


def _lambertw_m1_newton(z):
    """Lower branch W_{-1}(z) for z ∈ [-1/e, 0) by Halley iterations (NaN outside)."""
    inside = (z >= -jnp.exp(-1.0) * (1.0 + 4.0 * jnp.finfo(jnp.float64).eps)) & (z < 0)  # -1/e rounded either way
    zs = jnp.where(inside, z, -0.1)
    p = -jnp.sqrt(jnp.clip(2.0 * (1.0 + jnp.e * zs), 0.0, None))
    near = -1.0 + p - p**2 / 3.0 + 11.0 / 72.0 * p**3  # branch-point series
    l1 = jnp.log(-zs)
    far = l1 - jnp.log(-l1)
    w = jnp.where(zs < -0.25, near, far)
    w = jnp.minimum(w, -1.0)

    def halley(w, _):
        ew = jnp.exp(w)
        f = w * ew - zs
        wp1 = w + 1.0
        denom = ew * wp1 - (w + 2.0) * f / (2.0 * wp1)
        step = jnp.where(jnp.abs(wp1) > 1e-12, f / denom, 0.0)
        return jnp.minimum(w - step, -1.0), None

    w, _ = jax.lax.scan(halley, w, None, length=30)
    return jnp.where(inside, w, jnp.nan)


@jax.custom_jvp
def _lambertw_m1(z):
    return _lambertw_m1_newton(z)


@_lambertw_m1.defjvp
def _lambertw_m1_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    w = _lambertw_m1(z)
    # dW/dz = W / (z (1 + W)) (infinite at the branch point z = -1/e)
    return w, dz * w / (z * (1.0 + w))


def instanton_crossover(field, prefactor_over_kt, *, coupling=1.0):
    r"""Instanton root N_c of C0 N^{1/2} e^{−N S_inst} = k_BT (seed 001 Table 1).

    With L = ln(C0/k_BT) the equation ½ ln N − N S + L = 0 has the large-N root
    N_c = −W_{−1}(−2S e^{−2L}) / (2S) (Lambert W, lower branch, computed in JAX with an
    implicit derivative). Returns NaN where no root exists (2S e^{1−2L} > 1).

    Parameters
    ----------
    field : float or array
        Γ with 0 < Γ < J.
    prefactor_over_kt : float or array
        C0/k_BT > 0.
    coupling : float
        J > 0.
    """
    ensure_x64()
    r, ok_r = _real("prefactor_over_kt", prefactor_over_kt, minimum=0.0, strict=True)
    s = instanton_action(field, coupling=coupling)
    z = -2.0 * s * jnp.exp(-2.0 * jnp.log(r))
    return nan_unless(ok_r, -_lambertw_m1(z) / (2.0 * s))


def analytic_crossover(field, prefactor_over_kt, *, coupling=1.0):
    r"""Analytic estimate N_c ≈ ln(C0/k_BT)/S_inst (seed 001 Eq. 11; drops the N^½).

    ``field`` 0 < Γ < J, ``prefactor_over_kt`` C0/k_BT > 0, ``coupling`` J > 0."""
    ensure_x64()
    r, ok_r = _real("prefactor_over_kt", prefactor_over_kt, minimum=0.0, strict=True)
    return nan_unless(ok_r, jnp.log(r) / instanton_action(field, coupling=coupling))


def atom_number_log_sensitivity(n_spins, field, *, coupling=1.0):
    r"""d ln ΔE/dN = 1/(2N) − S_inst from the instanton formula (seed 001 Eq. 31).

    ``n_spins`` N ≥ 1, ``field`` 0 < Γ < J. At N = 370, Γ/J = 0.95: 1/740 − 0.010787 =
    −0.00944 per atom.
    """
    ensure_x64()
    n, ok_n = _count("n_spins", n_spins)
    return nan_unless(ok_n, 0.5 / n - instanton_action(field, coupling=coupling))


# --------------------------------------------------------------------------- mean field


def mean_field_free_energy(m, field, *, temperature, bias=0.0, coupling=1.0):
    r"""Mean-field variational free energy per spin (seed 001 Eq. 2):

    f(m) = (J/2) m² − T ln[2 cosh( sqrt((Jm + h)² + Γ²) / T )]

    Parameters
    ----------
    m : float or array
        Magnetisation (finite).
    field : float or array
        Γ ≥ 0.
    temperature : float or array
        k_BT ≥ 0 in the unit of ``coupling`` (k_B = 1). T → 0 is allowed
        (f → J m²/2 − sqrt((Jm+h)² + Γ²)).
    bias : float or array
        h (finite).
    coupling : float
        J > 0.

    ln(2 cosh x) is evaluated stably as |x| + log1p(e^{−2|x|}).
    """
    g, c, ok_g = _field(field, coupling)
    m, ok_m = _real("m", m, 0.0)
    t, ok_t = _real("temperature", temperature, 1.0, minimum=0.0)
    h, ok_h = _real("bias", bias, 0.0)
    ok = all_ok(ok_g, ok_m, ok_t, ok_h)
    e2 = (c * m + h) ** 2 + g**2
    e = _sqrt0(e2)
    safe_t = jnp.where(t > 0, t, 1.0)
    x = e / safe_t
    lncosh2 = x + jnp.log1p(jnp.exp(-2.0 * x))
    return nan_unless(ok, 0.5 * c * m**2 - jnp.where(t > 0, safe_t * lncosh2, e))


def free_energy_barrier(field, *, temperature, coupling=1.0):
    r"""Δf0 = f(0) − f(m*) from the exact Eq. (2) at h = 0 (Appendix F), m* = sqrt(1−Γ²/J²).

    ``field`` Γ ≥ 0 (Δf0 = 0 for Γ ≥ J), ``temperature`` k_BT ≥ 0, ``coupling`` J > 0.
    Paper: Δf0 ≈ 46.5 rad/s at J = 37195.4 rad/s, Γ/J = 0.95, T = 10 nK.
    """
    g, c, ok = _field(field, coupling)
    m = _mstar(g, c)
    f0 = mean_field_free_energy(0.0, g, temperature=temperature, coupling=c)
    fm = mean_field_free_energy(m, g, temperature=temperature, coupling=c)
    return nan_unless(ok, f0 - fm)


def free_energy_barrier_large_argument(field, *, coupling=1.0):
    r"""The paper's large-argument approximation Δf0 ≈ −J m*²/2 + J − Γ (Appendix F).

    ``field`` 0 ≤ Γ ≤ J, ``coupling`` J > 0 (ln cosh x ≈ x − ln 2; exact at T → 0 where
    it equals (J − Γ)²/(2J)).
    """
    g, c, ok = _field(field, coupling)
    ok = _le_coupling(field, g, c, ok)
    m = _mstar(g, c)
    return nan_unless(ok, -0.5 * c * m**2 + c - g)


def _le_coupling(field, g, c, ok, name="field"):
    """Additionally require Γ ≤ J (ValueError if concrete, mask if traced)."""
    if ok is None:
        if np.any(np.asarray(g) > np.asarray(c)):
            bad = np.asarray(g)[np.asarray(g) > np.asarray(c)].flat[0]
            raise ValueError(f"{name} must be in [0, coupling] here; got {bad!r}")
        return None
    return ok & (g <= c)


def bloch_frequency(field, *, coupling=1.0):
    r"""Bloch normal-mode frequency ω0 = 2 J m* (seed 001 §2, Appendix B); Γ ≥ 0, J > 0."""
    g, c, ok = _field(field, coupling)
    return nan_unless(ok, 2.0 * c * _mstar(g, c))


def kramers_time(n_spins, field, *, temperature, coupling=1.0):
    r"""Kramers escape time τK ≈ (2π/ω0) exp(N Δf0 / k_BT) (seed 001 Remark 9, App. E–F).

    Δf0 from the exact Eq. (2); attempt period 2π/ω0 with ω0 = 2Jm*. ``n_spins`` N ≥ 1,
    ``field`` 0 < Γ < J, ``temperature`` k_BT > 0, ``coupling`` J > 0. In the paper's
    units (rad/s) the result is in seconds: ≈ 0.27 ms × e^{13.1} ≈ 130 s at N = 370.
    """
    n, ok_n = _count("n_spins", n_spins)
    g, c, ok_g = _field(field, coupling, ordered=True)
    t, ok_t = _real("temperature", temperature, 1.0, minimum=0.0, strict=True)
    df = free_energy_barrier(g, temperature=t, coupling=c)
    out = 2.0 * jnp.pi / bloch_frequency(g, coupling=c) * jnp.exp(n * df / t)
    return nan_unless(all_ok(ok_n, ok_g, ok_t), out)


class Spinodal(eqx.Module):
    """Spinodal point of the metastable well (Remark 9), T → 0 (units of coupling)."""

    e_sp: Float[Array, "..."]
    y_sp: Float[Array, "..."]
    m_sp: Float[Array, "..."]
    h_sp: Float[Array, "..."]


def spinodal(field, *, coupling=1.0) -> Spinodal:
    r"""Spinodal field where f'(m) = f''(m) = 0 at T → 0 (seed 001 Remark 9).

    E_sp = (JΓ²)^{1/3}, y_sp = sqrt(E_sp² − Γ²), m_sp = −y_sp/E_sp,
    h_sp = y_sp (J^{2/3}/Γ^{2/3} − 1); ``field`` 0 < Γ < J, ``coupling`` J > 0.
    Paper at Γ/J = 0.95: y_sp ≈ 0.177 J, m_sp ≈ −0.183, h_sp ≈ 0.0062 J ≈ 229 rad/s.
    """
    g, c, ok = _field(field, coupling, ordered=True)
    e = (c * g**2) ** (1.0 / 3.0)
    y = _sqrt0(e**2 - g**2)
    nan = lambda a: nan_unless(ok, a)
    return Spinodal(e_sp=nan(e), y_sp=nan(y), m_sp=nan(-y / e), h_sp=nan(y * ((c / g) ** (2.0 / 3.0) - 1.0)))


def sweep_window_min(delta_e, n_spins, field, *, coupling=1.0):
    r"""Minimum LZ sweep amplitude ΔE/(N m*) (seed 001 Eq. 16; ≈ 11 rad/s at the benchmark).

    ``delta_e`` ΔE ≥ 0, ``n_spins`` N ≥ 1, ``field`` 0 < Γ < J, ``coupling`` J > 0."""
    de, ok_d = _real("delta_e", delta_e, minimum=0.0)
    n, ok_n = _count("n_spins", n_spins)
    g, c, ok_g = _field(field, coupling, ordered=True)
    return nan_unless(all_ok(ok_d, ok_n, ok_g), de / (n * _mstar(g, c)))


def landau_zener_error(tau_q, delta_e, n_spins, field, sweep_amplitude, *, coupling=1.0):
    r"""Coherent Landau–Zener error P = exp(−π ΔE² τQ / (4α)), α = N m* Δh (seed 001 Eq. 17).

    Parameters
    ----------
    tau_q : float or array
        Sweep time τQ ≥ 0 in inverse units of ``delta_e`` (ħ = 1).
    delta_e : float or array
        ΔE ≥ 0.
    n_spins : int or array
        N ≥ 1.
    field : float or array
        0 < Γ < J.
    sweep_amplitude : float or array
        Δh > 0.
    coupling : float
        J > 0.
    """
    tq, ok_t = _real("tau_q", tau_q, minimum=0.0)
    de, ok_d = _real("delta_e", delta_e, minimum=0.0)
    n, ok_n = _count("n_spins", n_spins)
    g, c, ok_g = _field(field, coupling, ordered=True)
    a, ok_a = _real("sweep_amplitude", sweep_amplitude, minimum=0.0, strict=True)
    alpha = n * _mstar(g, c) * a
    return nan_unless(all_ok(ok_t, ok_d, ok_n, ok_g, ok_a), jnp.exp(-jnp.pi * de**2 * tq / (4.0 * alpha)))


def t2_local(dephasing, n_spins, field, *, coupling=1.0):
    r"""Local-bath coherence time: 1/T2local = N γφ (1 + m*²) (seed 001 Remark 5, Eq. 57).

    ``dephasing`` γφ ≥ 0 (T2 = ∞ at 0), ``n_spins`` N ≥ 1, ``field`` Γ ≥ 0, ``coupling`` J > 0.
    ≈ 49 ms at N = 370, Γ/J = 0.95, γφ = 0.05 s⁻¹ (compare the collective-bath
    :func:`jaxlmg.t2_collective`, ≈ 3.0 ms). Same argument order as ``k3``.
    """
    gph, ok_p = _real("dephasing", dephasing, minimum=0.0)
    n, ok_n = _count("n_spins", n_spins)
    g, c, ok_g = _field(field, coupling)
    m = _mstar(g, c)
    return nan_unless(all_ok(ok_p, ok_n, ok_g), 1.0 / (n * gph * (1.0 + m**2)))


class TwoSpinSolution(eqx.Module):
    """Exact N = 2 solution at h = 0 (seed 001 §3)."""

    e_plus: Float[Array, "..."]  # ½(−J + sqrt(J² + 16Γ²)) (even, excited)
    e_minus: Float[Array, "..."]  # ½(−J − sqrt(J² + 16Γ²)) (even ground state)
    e_odd: Float[Array, "..."]  # −J (odd level |a⟩)
    delta_e: Float[Array, "..."]  # E_odd − E_minus = ½(−J + sqrt(J² + 16Γ²)) (Eq. 7)
    p_macro: Float[Array, "..."]  # cos²(φ/2), tan φ = 4Γ/J


def two_spin_solution(field, *, coupling=1.0) -> TwoSpinSolution:
    r"""N = 2 exact solution (seed 001 §3, Eqs. 6–7): E± = ½(−J ± sqrt(J² + 16Γ²)),
    odd level −J, ΔE = ½(−J + sqrt(J² + 16Γ²)), P_macro = cos²(φ/2) with tan φ = 4Γ/J.
    ``field`` Γ ≥ 0, ``coupling`` J > 0."""
    g, c, ok = _field(field, coupling)
    r = jnp.sqrt(c**2 + 16.0 * g**2)
    phi = jnp.arctan2(4.0 * g, c)
    nan = lambda a: nan_unless(ok, a)
    return TwoSpinSolution(
        e_plus=nan(0.5 * (-c + r)), e_minus=nan(0.5 * (-c - r)), e_odd=nan(-c * jnp.ones_like(g)),
        delta_e=nan(0.5 * (-c + r)), p_macro=nan(jnp.cos(phi / 2.0) ** 2),
    )


def coherent_state_overlap(n_spins, field, *, coupling=1.0):
    r"""⟨P|R⟩ = (Γ/J)^N = (1 − m*²)^{N/2} for spin-coherent states at ±m* (seed 001 §2).

    ``n_spins`` N ≥ 1, ``field`` 0 ≤ Γ ≤ J, ``coupling`` J > 0.
    ≈ 5.7 × 10⁻⁹ at N = 370, Γ/J = 0.95.
    """
    n, ok_n = _count("n_spins", n_spins)
    g, c, ok_g = _field(field, coupling)
    ok_g = _le_coupling(field, g, c, ok_g)
    return nan_unless(all_ok(ok_n, ok_g), (g / c) ** n)


__all__ = [
    "InstantonFit", "Spinodal", "TwoSpinSolution", "analytic_crossover", "atom_number_log_sensitivity",
    "bloch_frequency", "coherent_state_overlap", "fit_instanton_prefactor", "free_energy_barrier",
    "free_energy_barrier_large_argument", "instanton_action", "instanton_crossover", "instanton_delta_e",
    "kramers_time", "landau_zener_error", "mean_field_free_energy", "spinodal", "sweep_window_min",
    "t2_local", "two_spin_solution",
]
