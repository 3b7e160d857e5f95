r"""Closed-form fidelities of spin coherent and cat states under inhomogeneous dephasing (seed 003, §III, Eqs. 9–21).

Free evolution under :math:`H_0 = \frac12\sum_n\delta_n\sigma_n^z` with i.i.d. Gaussian detunings
:math:`\delta_n\sim\mathcal N(0,\delta^2)` (``linewidth`` = δ). With c = cos(θ/2), s = sin(θ/2):

* one realisation (Eq. 10): :math:`F(t) = \prod_n[c^4 + s^4 + 2c^2s^2\cos\delta_n t]`;
* disorder average (Eq. 11): :math:`\overline F = [1 - \frac12(1-e^{-\delta^2t^2/2})\sin^2\theta]^N`;
* cats, one realisation: :math:`F_\pm = |P_+ \pm P_-|^2/(1\pm\cos^N\theta)^2`,
  :math:`P_\pm = \prod_n(c^2 \pm e^{-i\delta_n t}s^2)`;
* cats, average (Eq. 16, exact): :math:`\overline{F_\pm} = \frac{4}{\mathcal N_\pm^4}[(1-\frac12(1-e)\sin^2\theta)^N + (1-\frac12(1+e)\sin^2\theta)^N \pm 2\cos^N\theta]`, e = e^{-δ²t²/2}.

Exact variance of F (replaces Eq. 14): :math:`\mathrm{Var}F = (\overline{f^2})^N - \overline f^{2N}` with
:math:`\overline f = A + Be^{-\delta^2t^2/2}`, :math:`\overline{f^2} = A^2 + 2ABe^{-\delta^2t^2/2} + \frac{B^2}{2}(1+e^{-2\delta^2t^2})`,
A = c⁴+s⁴, B = 2c²s². Its leading order is :math:`\frac{2|\alpha|^4}{N}(1-e^{-\delta^2t^2})^2` — the
paper's Eq. 14 lacks the square (see :func:`fidelity_variance_leading`).

All functions are jit/vmap/grad compatible (they take arrays and broadcast).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from .._config import ensure_x64
from .._validate import check_real
from ._states import _check_parity

__all__ = [
    "realisation_fidelity", "mean_fidelity", "mean_fidelity_weak", "fidelity_variance",
    "fidelity_variance_leading", "realisation_cat_fidelity", "mean_cat_fidelity",
    "mean_cat_fidelity_weak", "cat_fidelity_limit", "cat_fidelity_limit_weak",
    "cat_short_time_rate", "sample_detunings",
]


def _chk(name, value, **kw):
    if not isinstance(value, jax.core.Tracer):
        check_real(name, value, **kw)
    return jnp.asarray(value, jnp.float64)


def _cs(theta):
    th = jnp.asarray(theta, jnp.float64)
    return jnp.cos(th / 2.0) ** 2, jnp.sin(th / 2.0) ** 2


def sample_detunings(key, linewidth, n_spins: int, realisations: int):
    """Gaussian detunings δ_n ~ N(0, δ²), shape (realisations, n_spins), float64."""
    ensure_x64()
    lw = _chk("linewidth", linewidth, minimum=0.0)
    return lw * jax.random.normal(key, (int(realisations), int(n_spins)), jnp.float64)


def realisation_fidelity(detunings, time, theta):
    """Coherent-state survival probability F(t) for one set of detunings (Eq. 10).

    Parameters
    ----------
    detunings : array (..., N)
        Detunings δ_n (last axis = spins).
    time : float or array
        Time t (broadcast against the leading axes of ``detunings``).
    theta : float
        Polar angle θ of |θ, φ⟩ (the result does not depend on φ).
    """
    ensure_x64()
    c2, s2 = _cs(theta)
    d = jnp.asarray(detunings, jnp.float64)
    t = jnp.asarray(time, jnp.float64)[..., None]
    # 1 - 2c²s²(1 - cos δt), summed in logs
    per = -2.0 * c2 * s2 * (1.0 - jnp.cos(d * t))
    return jnp.exp(jnp.sum(jnp.log1p(per), axis=-1))


def mean_fidelity(time, theta, n_spins, linewidth):
    """Disorder-averaged coherent-state fidelity, exact (Eq. 11).

    Parameters
    ----------
    time : float or array
        Time t >= 0.
    theta : float or array
        Polar angle θ.
    n_spins : int or array
        Number of spins N.
    linewidth : float or array
        Standard deviation δ >= 0 of the Gaussian detunings.
    """
    ensure_x64()
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    n = _chk("n_spins", n_spins, minimum=1.0)
    s = jnp.sin(jnp.asarray(theta, jnp.float64)) ** 2
    one_minus_e = -jnp.expm1(-0.5 * (lw * t) ** 2)
    return jnp.exp(n * jnp.log1p(-0.5 * one_minus_e * s))


def mean_fidelity_weak(time, amplitude, linewidth):
    """Weak-excitation limit exp(−2|α|²(1 − e^{−δ²t²/2})) (Eq. 12)."""
    ensure_x64()
    a2 = _chk("amplitude", amplitude, minimum=0.0) ** 2
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    return jnp.exp(2.0 * a2 * jnp.expm1(-0.5 * (lw * t) ** 2))


def fidelity_variance(time, theta, n_spins, linewidth):
    """Exact disorder variance of F(t) (the closed form behind Eq. 14): (E f²)^N − (E f)^{2N}."""
    ensure_x64()
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    n = _chk("n_spins", n_spins, minimum=1.0)
    c2, s2 = _cs(theta)
    b = 2.0 * c2 * s2
    e1 = jnp.exp(-0.5 * (lw * t) ** 2)
    ef = 1.0 - b * (1.0 - e1)
    # E f² − (E f)² = (B²/2)(1 − e^{−δ²t²})², so E f² = (E f)² + that (no cancellation)
    var1 = 0.5 * b**2 * jnp.expm1(-(lw * t) ** 2) ** 2
    lef = jnp.log(ef)
    return jnp.exp(2.0 * n * lef) * jnp.expm1(n * jnp.log1p(var1 / ef**2))


def fidelity_variance_leading(time, amplitude, n_spins, linewidth, *, as_printed: bool = False):
    """Leading order in |α| of Var F: (2|α|⁴/N)(1 − e^{−δ²t²})².

    ``as_printed=True`` returns the paper's Eq. 14, (2|α|⁴/N)(1 − e^{−δ²t²}) (no square), which
    is wrong at short times: E[cos²δt] − E[cos δt]² = (1 − e^{−δ²t²})²/2.
    """
    ensure_x64()
    a2 = _chk("amplitude", amplitude, minimum=0.0) ** 2
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    n = _chk("n_spins", n_spins, minimum=1.0)
    g = -jnp.expm1(-(lw * t) ** 2)
    return 2.0 * a2**2 / n * (g if as_printed else g**2)


def realisation_cat_fidelity(detunings, time, theta, parity: int = 1):
    """Cat fidelity |⟨Cat±|e^{−iH₀t}|Cat±⟩|² for one set of detunings (exact; Eq. 15).

    Parameters
    ----------
    detunings : array (..., N)
        Detunings δ_n.
    time : float or array
        Time t.
    theta : float
        Polar angle of the coherent components.
    parity : {+1, -1}
        Even or odd cat.
    """
    ensure_x64()
    p = _check_parity(parity)
    c2, s2 = _cs(theta)
    d = jnp.asarray(detunings, jnp.float64)
    n = d.shape[-1]
    t = jnp.asarray(time, jnp.float64)[..., None]
    ph = jnp.exp(-1j * d * t)
    pp = jnp.prod(c2 + ph * s2, axis=-1)
    pm = jnp.prod(c2 - ph * s2, axis=-1)
    ov = (c2 - s2) ** n  # cos^N θ
    return jnp.abs(pp + p * pm) ** 2 / (1.0 + p * ov) ** 2


def mean_cat_fidelity(time, theta, n_spins, linewidth, parity: int = 1):
    """Disorder-averaged cat fidelity, exact (Eq. 16, with 𝒩±² = 2(1 ± cos^N θ))."""
    ensure_x64()
    p = _check_parity(parity)
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    n = _chk("n_spins", n_spins, minimum=1.0)
    th = jnp.asarray(theta, jnp.float64)
    s = jnp.sin(th) ** 2
    e = jnp.exp(-0.5 * (lw * t) ** 2)
    t1 = jnp.exp(n * jnp.log1p(-0.5 * (1.0 - e) * s))
    t2 = jnp.exp(n * jnp.log1p(-0.5 * (1.0 + e) * s))
    ov = jnp.cos(th) ** n  # θ ∈ [0, π/2] (cos θ >= 0)
    return (t1 + t2 + 2.0 * p * ov) / (1.0 + p * ov) ** 2


def mean_cat_fidelity_weak(time, amplitude, linewidth, parity: int = 1):
    """Weak-excitation cat fidelity (Eq. 18), with cos^N θ → e^{−2|α|²} (Eq. 17)."""
    ensure_x64()
    p = _check_parity(parity)
    a2 = _chk("amplitude", amplitude, minimum=0.0) ** 2
    t = _chk("time", time)
    lw = _chk("linewidth", linewidth, minimum=0.0)
    e = jnp.exp(-0.5 * (lw * t) ** 2)
    q = jnp.exp(-2.0 * a2)
    return (jnp.exp(-2.0 * a2 * (1.0 - e)) + jnp.exp(-2.0 * a2 * (1.0 + e)) + 2.0 * p * q) / (1.0 + p * q) ** 2


def cat_fidelity_limit(theta, n_spins, parity: int = 1):
    """Exact t → ∞ limit of Eq. 16: [2((1+cos²θ)/2)^N ± 2cos^Nθ]/(1 ± cos^Nθ)².

    Non-zero for the odd cat at finite N (the paper's 0 in Eq. 19 is the weak-excitation limit).
    """
    ensure_x64()
    p = _check_parity(parity)
    n = _chk("n_spins", n_spins, minimum=1.0)
    c = jnp.cos(jnp.asarray(theta, jnp.float64))
    ov = c**n
    return (2.0 * ((1.0 + c**2) / 2.0) ** n + 2.0 * p * ov) / (1.0 + p * ov) ** 2


def cat_fidelity_limit_weak(amplitude, parity: int = 1):
    """Eq. 19: sech²(|α|²) for the even cat, 0 for the odd cat."""
    ensure_x64()
    p = _check_parity(parity)
    a2 = _chk("amplitude", amplitude, minimum=0.0) ** 2
    return jnp.where(p == 1, 1.0 / jnp.cosh(a2) ** 2, 0.0 * a2)


def cat_short_time_rate(amplitude, parity: int = 1):
    """Coefficient κ of F̄± ≈ 1 − κ δ²t² (Eq. 20): |α|² tanh|α|² (even), |α|² coth|α|² (odd)."""
    ensure_x64()
    p = _check_parity(parity)
    a2 = _chk("amplitude", amplitude, minimum=0.0) ** 2
    return a2 * (jnp.tanh(a2) if p == 1 else 1.0 / jnp.tanh(a2))
