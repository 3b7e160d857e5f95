r"""Classical foil of seed 001 (§4, App. E–F): Model-A Fokker–Planck dynamics of m_z under a bias sweep.

∂P/∂t = ∂_m [Γeff ∂_m f(m, h(t)) P + D ∂_m P],   D = Γeff k_BT / N   (Eqs. 9, 46–49),

with f the mean-field free energy per spin of Eq. (2) (:func:`jaxlmg.mean_field_free_energy`).
Discretisation: finite volumes on m ∈ [−1, 1] (reflecting walls) with Scharfetter–Gummel fluxes,
which make the discrete stationary state exactly ∝ exp(−N f(m_i)/k_BT) (detailed balance) and
upwind correctly when D → 0. Time stepping: TR-BDF2 (L-stable, 2nd order) with tridiagonal
solves; each point is integrated with n and 2n steps and the Richardson estimate returned as
``error`` (points above ``tolerance`` are NaN with ``Status.NOT_CONVERGED``).

P_error^class is defined exactly like the quantum one (:mod:`._unitary`): start in the
equilibrium distribution of the well favoured by the initial bias (Boltzmann weight restricted to
that side), end with the probability of still being on that side of m = 0. It contains the
intra-well relaxation (rate ≈ Γeff f''(m*)) and the Kramers escape over the barrier.

Mobility: Γeff is a free parameter of Model A. The default makes the Kramers prefactor of
Eq. (50), Γeff √(f''(m*)|f''(0)|)/2π, equal to the paper's attempt frequency ω0/2π (ω0 = 2Jm*),
i.e. the paper's estimate τK ≈ (2π/ω0) e^{NΔf0/k_BT}.
"""

from __future__ import annotations

import functools
from typing import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._config import ensure_x64
from .._semiclassical import mean_field_free_energy
from .._status import Status
from .._validate import check_n_spins, check_real
from ._unitary import _check_batch, _check_step, linear_schedule

_GAMMA = 2.0 - np.sqrt(2.0)


def _dfdm(m, field, temperature, bias, coupling):
    return jax.grad(lambda x: mean_field_free_energy(x, field, temperature=temperature, bias=bias,
                                                     coupling=coupling))(m)


def _d2fdm2(m, field, temperature, bias, coupling):
    return jax.grad(_dfdm)(m, field, temperature, bias, coupling)


def free_energy_minimum(field, *, temperature, bias=0.0, coupling: float = 1.0, side: float = 1.0,
                        iterations: int = 40):
    """Local minimum of f(m) (Eq. 2) on the side ``sign(side)``, by Newton from ±m* (T=0 value)."""
    ensure_x64()
    m0 = jnp.sign(side) * jnp.sqrt(jnp.clip(1.0 - (jnp.asarray(field) / coupling) ** 2, 0.0, None))

    def step(m, _):
        g = _dfdm(m, field, temperature, bias, coupling)
        h = _d2fdm2(m, field, temperature, bias, coupling)
        return jnp.clip(m - g / h, -1.0, 1.0), None

    m, _ = jax.lax.scan(step, m0, None, length=iterations)
    return m


def default_mobility(field, *, temperature, coupling: float = 1.0):
    r"""Γeff such that Eq. (50)'s prefactor equals the paper's attempt period 2π/ω0.

    Γeff = 2Jm* / √(f''(m_min) |f''(0)|) (dimensionless when f, t are in units of J, 1/J).
    """
    ensure_x64()
    return _default_mobility(jnp.asarray(field, jnp.float64), jnp.asarray(temperature, jnp.float64), float(coupling))


@functools.partial(jax.jit, static_argnames=("coupling",))
def _landscape(field, temperature, coupling):
    """(m_min, f''(m_min), f''(0), f(0) − f(m_min)) of Eq. (2) at h = 0 (one compiled call)."""
    mmin = free_energy_minimum(field, temperature=temperature, coupling=coupling)
    c_min = _d2fdm2(mmin, field, temperature, 0.0, coupling)
    c_top = _d2fdm2(jnp.zeros_like(mmin), field, temperature, 0.0, coupling)
    fe = lambda x: mean_field_free_energy(x, field, temperature=temperature, coupling=coupling)  # noqa: E731
    return mmin, c_min, c_top, fe(jnp.zeros_like(mmin)) - fe(mmin)


def _default_mobility(field, temperature, coupling):
    _, c_min, c_top, _ = _landscape(field, temperature, coupling)
    w0 = 2.0 * coupling * jnp.sqrt(jnp.clip(1.0 - (field / coupling) ** 2, 0.0, None))
    return w0 / jnp.sqrt(c_min * jnp.abs(c_top))


# --------------------------------------------------------------------------- discretisation


def _grid(n_grid):
    dx = 2.0 / n_grid
    return -1.0 + (jnp.arange(n_grid) + 0.5) * dx, dx


def _bernoulli(x):
    small = jnp.abs(x) < 1e-6
    xs = jnp.where(small, 1.0, x)
    return jnp.where(small, 1.0 - 0.5 * x + x**2 / 12.0, xs / jnp.expm1(xs))


def _potential(m, h, n, field, temperature, coupling):
    """φ(m) = N f(m, h)/k_BT (dimensionless)."""
    return n * mean_field_free_energy(m, field, temperature=temperature, bias=h, coupling=coupling) / temperature


def _generator(phi, rate):
    """Tridiagonal (lower, diag, upper) of dp/dt = W p; ``rate`` = D/dx²."""
    dphi = phi[1:] - phi[:-1]
    a = rate * _bernoulli(dphi)  # i → i+1
    b = rate * _bernoulli(-dphi)  # i+1 → i
    z = jnp.zeros(1)
    lower = jnp.concatenate([z, a])
    upper = jnp.concatenate([b, z])
    diag = -(jnp.concatenate([a, z]) + jnp.concatenate([z, b]))
    return lower, diag, upper


def _tmv(lower, diag, upper, p):
    return diag * p + jnp.concatenate([jnp.zeros(1), lower[1:] * p[:-1]]) + jnp.concatenate([upper[:-1] * p[1:], jnp.zeros(1)])


def _solve(lower, diag, upper, rhs):
    return jax.lax.linalg.tridiagonal_solve(lower, diag, upper, rhs[:, None])[:, 0]


def _fp_point(tau, dh, bias, n_steps, consts, schedule, n_grid):
    n, field, temperature, mobility, coupling = consts
    m, dx = _grid(n_grid)
    rate = mobility * temperature / n / dx**2
    h_start = bias + dh * schedule(0.0)
    phi0 = _potential(m, h_start, n, field, temperature, coupling)
    side = jnp.where(h_start < 0, m < 0, m > 0)
    logw = jnp.where(side, -phi0, -jnp.inf)
    p0 = jnp.exp(logw - jax.scipy.special.logsumexp(logw))
    dt = tau / n_steps

    def gen(k_frac):
        h = bias + dh * schedule(k_frac)
        return _generator(_potential(m, h, n, field, temperature, coupling), rate)

    def body(k, p):
        w0 = gen(k / n_steps)
        w1 = gen((k + _GAMMA) / n_steps)
        w2 = gen((k + 1.0) / n_steps)
        c1 = 0.5 * _GAMMA * dt
        rhs = p + c1 * _tmv(*w0, p)
        ps = _solve(-c1 * w1[0], 1.0 - c1 * w1[1], -c1 * w1[2], rhs)
        c2 = (1.0 - _GAMMA) / (2.0 - _GAMMA) * dt
        g2 = _GAMMA * (2.0 - _GAMMA)
        rhs2 = ps / g2 - (1.0 - _GAMMA) ** 2 / g2 * p
        return _solve(-c2 * w2[0], 1.0 - c2 * w2[1], -c2 * w2[2], rhs2)

    p = jax.lax.fori_loop(0, n_steps, body, p0)
    return jnp.sum(jnp.where(side, p, 0.0)), jnp.sum(m * p), jnp.sum(p)


@functools.partial(jax.jit, static_argnames=("schedule", "n_grid"))
def _fp_batched(tau, dh, bias, n_steps, consts, schedule, n_grid):
    def one(t, a, b, k):
        p1, m1, _ = _fp_point(t, a, b, k, consts, schedule, n_grid)
        p2, m2, norm = _fp_point(t, a, b, 2 * k, consts, schedule, n_grid)
        return p2, m2, norm, jnp.abs(p2 - p1) / 3.0

    return jax.vmap(one)(tau, dh, bias, n_steps)


class ClassicalSweepResult(eqx.Module):
    """Model-A P_error^class for a batch of sweeps."""

    p_error: Float[Array, "*S"]  # probability on the initial (metastable) side at the end
    mean_m: Float[Array, "*S"]  # ⟨m_z⟩ at the end
    error: Float[Array, "*S"]  # Richardson estimate of the time-stepping error of p_error
    norm_error: Float[Array, "*S"]  # |Σp − 1| at the end (probability conservation)
    steps: Int[Array, "*S"]
    status: Int[Array, "*S"]
    tau_q: Float[Array, "*S"]
    sweep_amplitude: Float[Array, "*S"]
    mobility: float
    temperature: float


def _check_classical(n_spins, field, temperature, coupling, n_grid):
    n = check_n_spins(n_spins)
    if n.ndim != 0:
        raise ValueError("n_spins must be a single integer >= 1 here")
    coupling = float(check_real("coupling", coupling, minimum=0.0, strict=True))
    f = float(check_real("field", field, minimum=0.0, strict=True))
    if f >= coupling:
        raise ValueError(f"field must be in the ordered phase 0 < field < coupling = {coupling:g}; got {f!r}")
    t = float(check_real("temperature", temperature, minimum=0.0, strict=True))
    if isinstance(n_grid, bool) or int(n_grid) != n_grid or int(n_grid) < 8 or int(n_grid) % 2:
        raise ValueError(f"n_grid must be an even integer >= 8; got {n_grid!r}")
    return int(n), f, t, coupling, int(n_grid)


def classical_sweep(n_spins: int, field: float, tau_q, sweep_amplitude, *, temperature: float, mobility=None,
                    bias=0.0, coupling: float = 1.0, schedule: Callable = linear_schedule, n_grid: int = 400,
                    max_step: float = 0.5, tolerance: float = 1e-4, min_steps: int = 16) -> ClassicalSweepResult:
    r"""P_error^class(τQ, Δh) of the Model-A Fokker–Planck foil under h(t) = bias + Δh s(t/τQ).

    Parameters
    ----------
    n_spins, field : int, float
        N and Γ (units of ``coupling``; ordered phase 0 < Γ < J).
    tau_q, sweep_amplitude, bias : array_like
        Sweep time τQ (ħ/J), total bias change Δh (J) and sweep centre (J), broadcast together.
    temperature : float
        k_BT in units of J (> 0); BEC: ``jaxlmg.BEC.kt_natural(10.0)`` for 10 nK.
    mobility : float, optional
        Γeff (dimensionless in units of J); default :func:`default_mobility`.
    n_grid : int
        Finite-volume cells on m ∈ [−1, 1] (even; default 400).
    max_step, tolerance, min_steps
        Step control as in :func:`coherent_sweep` (``max_step`` in ħ/J, default 0.5; the slide past
        the spinodal needs ≲ 0.5, quasi-static sweeps converge with larger steps).

    Returns
    -------
    ClassicalSweepResult
        Differentiable (forward mode) in ``tau_q``, ``sweep_amplitude``, ``bias``.
    """
    ensure_x64()
    n, f, t, coupling, n_grid = _check_classical(n_spins, field, temperature, coupling, n_grid)
    max_step, tolerance, min_steps = _check_step(max_step, tolerance, min_steps)
    if mobility is None:
        mobility = float(default_mobility(f, temperature=t, coupling=coupling))
    mobility = float(check_real("mobility", mobility, minimum=0.0, strict=True))
    tau = _check_batch("tau_q", tau_q, minimum=0.0, strict=True)
    dh = _check_batch("sweep_amplitude", sweep_amplitude, minimum=0.0, strict=True)
    b = _check_batch("bias", bias, minimum=None, strict=False)
    tau, dh, b = jnp.broadcast_arrays(tau, dh, b)
    shape = tau.shape
    flat = [a.reshape(-1) for a in (tau, dh, b)]
    steps = jnp.maximum(min_steps, jnp.ceil(jax.lax.stop_gradient(flat[0]) / max_step)).astype(jnp.int64)
    consts = tuple(jnp.asarray(v, jnp.float64) for v in (n, f, t, mobility, coupling))
    p, mm, norm, err = _fp_batched(*flat, steps, consts, schedule, n_grid)
    ok = jnp.isfinite(p) & (err <= tolerance)
    return ClassicalSweepResult(
        p_error=jnp.where(ok, p, jnp.nan).reshape(shape), mean_m=jnp.where(ok, mm, jnp.nan).reshape(shape),
        error=err.reshape(shape), norm_error=jnp.abs(norm - 1.0).reshape(shape), steps=(2 * steps).reshape(shape),
        status=jnp.where(ok, int(Status.OK), int(Status.NOT_CONVERGED)).reshape(shape), tau_q=tau,
        sweep_amplitude=dh, mobility=mobility, temperature=t,
    )


# --------------------------------------------------------------------------- Kramers time


class KramersCheck(eqx.Module):
    """Escape time from one well at h = 0: Fokker–Planck numerics vs Eq. (50) and the paper's estimate."""

    tau_numeric: Float[Array, ""]  # 1/k, k = λ1/2, λ1 the slowest relaxation rate of the discrete FP generator
    tau_eq50: Float[Array, ""]  # 2π/(Γeff √(f''(m_min)|f''(0)|)) e^{NΔf0/k_BT}
    tau_paper: Float[Array, ""]  # (2π/ω0) e^{NΔf0/k_BT} (jaxlmg.kramers_time)
    barrier: Float[Array, ""]  # NΔf0/k_BT
    intrawell_time: Float[Array, ""]  # 1/(Γeff f''(m_min))
    mobility: float


def generator_relaxation_rate(potential, rate):
    """Slowest non-zero relaxation rate λ1 of dp/dt = W p for the tridiagonal SG generator (scipy).

    ``potential`` φ_i = U(m_i)/k_BT on the cells, ``rate`` D/dx². W is similar to a symmetric
    tridiagonal matrix (detailed balance), whose two top eigenvalues are 0 and −λ1.
    """
    from scipy.linalg import eigvalsh_tridiagonal

    ensure_x64()
    phi = np.asarray(potential, np.float64)
    lower, diag, upper = (np.asarray(a) for a in _generator(jnp.asarray(phi), rate))
    off = np.sqrt(lower[1:] * upper[:-1])
    n = len(phi)
    w = eigvalsh_tridiagonal(diag, off, select="i", select_range=(n - 2, n - 1))
    return float(-w[0])


def kramers_check(n_spins: int, field: float, *, temperature: float, mobility=None, coupling: float = 1.0,
                  n_grid: int = 2000) -> KramersCheck:
    r"""Kramers escape time of Model A at h = 0, from the discrete Fokker–Planck spectrum.

    τ = 1/k with k the one-well escape rate; for two symmetric wells the slowest relaxation rate
    of the generator is λ1 = 2k. Compared with Eq. (50), τK = 2π/(Γeff √(f''(m*)|f''(0)|))
    e^{NΔf0/k_BT} (the Kramers high-barrier limit; corrections O(k_BT/NΔf0)), and with the paper's
    τK ≈ (2π/ω0) e^{NΔf0/k_BT} (equal to Eq. 50 for the default mobility). Times in ħ/J.
    """
    ensure_x64()
    n, f, t, coupling, n_grid = _check_classical(n_spins, field, temperature, coupling, n_grid)
    if mobility is None:
        mobility = float(default_mobility(f, temperature=t, coupling=coupling))
    mobility = float(check_real("mobility", mobility, minimum=0.0, strict=True))
    m, dx = _grid(n_grid)
    phi = _potential(m, 0.0, n, f, t, coupling)
    lam = generator_relaxation_rate(phi, mobility * t / n / dx**2)
    mmin, c_min, c_top, df0 = _landscape(jnp.asarray(f), jnp.asarray(t), coupling)
    barrier = n * df0 / t
    tau50 = 2.0 * jnp.pi / (mobility * jnp.sqrt(c_min * jnp.abs(c_top))) * jnp.exp(barrier)
    w0 = 2.0 * coupling * np.sqrt(1.0 - (f / coupling) ** 2)
    return KramersCheck(
        tau_numeric=jnp.asarray(2.0 / lam), tau_eq50=tau50, tau_paper=2.0 * jnp.pi / w0 * jnp.exp(barrier),
        barrier=barrier, intrawell_time=1.0 / (mobility * c_min), mobility=mobility,
    )
