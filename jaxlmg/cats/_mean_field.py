r"""Mean-field synchronisation of seed 003 (§IV, App. B–C): per-spin Eqs. 22–23, reduced Eqs. 24 and 26–28, Eqs. 25/29/30.

Per spin m, with s_m = ⟨σ⁺_m⟩, z_m = ⟨σᶻ_m⟩, c₁ = (1/N)Σ_{j≠m}s_j, c₂ = (1/2N)Σ_{j≠m}(1+z_j)
(squeezing phase θ = 0 here; Γ₂ = ``loss``):

.. math::
   \dot s_m &= i\delta_m s_m - 2i\eta z_m c_1^* - 2\Gamma_2 s_m(c_2/N + |c_1|^2) + \Gamma_2 z_m c_1(2c_2 + N|c_1|^2)\\
   \dot z_m &= 8\eta\,\mathrm{Im}(s_m c_1) - 4\Gamma_2(1+z_m)(c_2/N + |c_1|^2) - 4\Gamma_2\mathrm{Re}[s_m c_1^*(2c_2 + N|c_1|^2)]

State vectors are real, shape (3, M): rows Re s, Im s, z. The per-spin RHS is O(N) (the sums are
shared), so N = 10⁴ spins is one small ODE. Two oppositely detuned halves (±δ, §IV.2) reduce
*exactly* to two representative spins with weights N/2 (:func:`two_group_rhs`); the Fig. 4 map
uses that reduction, vmapped over (δ̃, η̃), and is cross-checked against the per-spin equations.
"""

from __future__ import annotations

import diffrax
import optimistix as optx
import jax
import jax.numpy as jnp
import numpy as np

from .._config import ensure_x64
from .._status import Status
from .._validate import check_real

__all__ = ["per_spin_rhs", "two_group_rhs", "reduced_rhs_eq24", "reduced_rhs_eq26", "synchronised_state",
           "phase_spread_eq29", "max_squeezing", "evolve_mean_field", "two_group_steady_state",
           "sync_boundary", "fit_ellipse"]


def _terms(s, z, c1, c2, n, eta, loss):
    a2 = jnp.abs(c1) ** 2
    ds = -2j * eta * z * jnp.conj(c1) - 2.0 * loss * s * (c2 / n + a2) + loss * z * c1 * (2.0 * c2 + n * a2)
    dz = (8.0 * eta * jnp.imag(s * c1) - 4.0 * loss * (1.0 + z) * (c2 / n + a2)
          - 4.0 * loss * jnp.real(s * jnp.conj(c1) * (2.0 * c2 + n * a2)))
    return ds, dz


def per_spin_rhs(t, y, args):
    """Eqs. 22–23 for every spin. ``y`` (3, N) real; ``args = (detunings (N,), squeezing, loss)``."""
    det, eta, loss = args
    n = y.shape[1]
    s = y[0] + 1j * y[1]
    z = y[2]
    c1 = (jnp.sum(s) - s) / n
    c2 = (jnp.sum(1.0 + z) - (1.0 + z)) / (2.0 * n)
    ds, dz = _terms(s, z, c1, c2, n, eta, loss)
    ds = ds + 1j * det * s
    return jnp.stack([jnp.real(ds), jnp.imag(ds), dz])


def two_group_rhs(t, y, args):
    """Eqs. 22–23 for N spins in two equal groups with detunings ±δ (exact reduction). ``y`` (3, 2)."""
    delta, eta, loss, n = args
    s = y[0] + 1j * y[1]
    z = y[2]
    w = n / 2.0
    tot_s = w * jnp.sum(s)
    tot_z = w * jnp.sum(1.0 + z)
    c1 = (tot_s - s) / n
    c2 = (tot_z - (1.0 + z)) / (2.0 * n)
    ds, dz = _terms(s, z, c1, c2, n, eta, loss)
    ds = ds + 1j * jnp.array([1.0, -1.0]) * delta * s
    return jnp.stack([jnp.real(ds), jnp.imag(ds), dz])


def reduced_rhs_eq24(t, y, args):
    """Eq. 24 (identical spins, large N) for y = (A, φ, z); args = (squeezing, loss, n)."""
    eta, loss, n = args
    a, ph, z = y
    da = a * (-2.0 * eta * z * jnp.sin(2 * ph) - 2.0 * loss * a**2 + n * loss * z * a**2)
    dph = -2.0 * eta * z * a * jnp.cos(2 * ph)
    dz = a**2 * (8.0 * eta * jnp.sin(2 * ph) - 4.0 * loss * (1.0 + z) - 4.0 * loss * n * a**2)
    return jnp.stack([da, dph, dz])


def reduced_rhs_eq26(t, y, args):
    """Eqs. 26–28 (two groups ±δ, phases π/4 ± ζ) for y = (A, ζ, z); args = (delta, squeezing, loss, n)."""
    delta, eta, loss, n = args
    a, ze, z = y
    c2z = jnp.cos(ze) ** 2
    br = 1.0 + z + n * a**2 * (1.0 - 2.0 / n) * c2z
    da = a * (-2.0 * eta * z * (c2z - jnp.cos(2 * ze) / n) + loss * z * (c2z - 1.0 / n) * br - 2.0 * loss * a**2 * c2z)
    dze = delta + eta * z * (1.0 - 2.0 / n) * jnp.sin(2 * ze) - 0.5 * loss * z * br * jnp.sin(2 * ze)
    dz = a**2 * (8.0 * eta * (c2z - jnp.cos(2 * ze) / n) - 4.0 * loss * (c2z - 1.0 / n) * br
                 - 4.0 * loss * (1.0 + z) * c2z)
    return jnp.stack([da, dze, dz])


def max_squeezing(n_spins, loss=1.0):
    """η_max = NΓ₂/16: the synchronised solution (25) exists only for η ≤ NΓ₂/16."""
    ensure_x64()
    return jnp.asarray(n_spins, jnp.float64) * loss / 16.0


def synchronised_state(squeezing, n_spins, loss=1.0):
    """Eq. 25: (A², φ, z) of the synchronised state; NaN beyond η = NΓ₂/16."""
    ensure_x64()
    eta = jnp.asarray(squeezing, jnp.float64) / loss
    n = jnp.asarray(n_spins, jnp.float64)
    r = jnp.sqrt(1.0 - 16.0 * eta / n)  # NaN beyond the synchronisation region
    return (4.0 * eta - 1.0 + r) / (2.0 * n), jnp.pi / 4 + 0.0 * r, -(1.0 + r) / 2.0


def phase_spread_eq29(delta, squeezing, n_spins, loss=1.0):
    """Eq. 29: ζ ≈ (1 + sqrt(1 − 16η/NΓ₂)) N²Γ₂δ / (32η²) (small δ)."""
    ensure_x64()
    n = jnp.asarray(n_spins, jnp.float64)
    eta = jnp.asarray(squeezing, jnp.float64)
    return (1.0 + jnp.sqrt(1.0 - 16.0 * eta / (n * loss))) * n**2 * loss * delta / (32.0 * eta**2)


def _solve(rhs, y0, args, t_final, n_save, rtol, atol, max_steps):
    ts = jnp.linspace(0.0, t_final, n_save)
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(rhs), diffrax.Tsit5(), 0.0, t_final, None, y0, args=args,
        saveat=diffrax.SaveAt(ts=ts), stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
        max_steps=max_steps, throw=False)
    return ts, sol.ys, sol.result == diffrax.RESULTS.successful


def _initial(n_groups, squeezing, n, loss, phase0=np.pi / 4):
    a2, _, z = synchronised_state(squeezing, n, loss)
    ok = jnp.isfinite(a2)
    a2 = jnp.where(ok, a2, 2.0 * squeezing / (loss * n))
    a2 = jnp.clip(a2, 1e-12, 0.24)
    z = jnp.where(ok, z, -jnp.sqrt(1.0 - 4.0 * a2))
    a = jnp.sqrt(a2)
    row = jnp.array([a * jnp.cos(phase0), a * jnp.sin(phase0), z])
    return jnp.repeat(row[:, None], n_groups, axis=1)


def evolve_mean_field(detunings, squeezing, t_final, *, loss=1.0, y0=None, n_save: int = 201,
                      rtol=1e-8, atol=1e-11, max_steps: int = 200_000):
    """Integrate Eqs. 22–23 for N spins (N = len(detunings), up to 10⁴ and beyond) with diffrax.

    Parameters
    ----------
    detunings : array (N,)
        δ_m of every spin.
    squeezing : float
        η >= 0.
    t_final : float
        Final time (units of 1/Γ₂ when loss = 1).
    y0 : array (3, N), optional
        Initial (Re s, Im s, z); default: every spin in the synchronised state of Eq. 25.

    Returns
    -------
    ts (n_save,), ys (n_save, 3, N), ok (bool: the solver finished)
    """
    ensure_x64()
    det = jnp.asarray(detunings, jnp.float64)
    check_real("squeezing", squeezing, minimum=0.0)
    check_real("t_final", t_final, minimum=0.0, strict=True)
    n = det.shape[0]
    if y0 is None:
        y0 = _initial(n, squeezing, n, loss)
    return _solve(per_spin_rhs, jnp.asarray(y0, jnp.float64), (det, jnp.float64(squeezing), jnp.float64(loss)),
                  float(t_final), n_save, rtol, atol, max_steps)


def _fixed_point(delta, eta, n, loss, guess):
    """Newton root of the two-group Eqs. 22–23 from ``guess``; returns (y, ok, max Re λ(J))."""
    args = (delta, eta, loss, n)
    fn = lambda y, a: two_group_rhs(0.0, y, a)  # noqa: E731
    sol = optx.root_find(fn, optx.Newton(rtol=1e-13, atol=1e-15), guess, args=args, max_steps=60, throw=False)
    y = sol.value
    f = fn(y, args)
    amp = jnp.hypot(y[0], y[1])
    scale = 1.0 + eta / loss
    ok = (jnp.max(jnp.abs(f)) <= 1e-10 * scale) & jnp.all(amp > 1e-8) & jnp.all(jnp.abs(y[2]) <= 1.0)
    jac = jax.jacfwd(lambda v: fn(v.reshape(3, 2), args).reshape(-1))(y.reshape(-1))
    lam = jnp.max(jnp.real(jnp.linalg.eigvals(jac)))
    return y, ok, lam


def _continuation(deltas, eta, n, loss):
    """March δ upward from the synchronised δ = 0 state (Eq. 25 guess); synchronised = stable fixed point."""
    guess = _initial(2, eta, n, loss)

    def step(carry, d):
        y_prev, alive = carry
        y, ok, lam = _fixed_point(d, eta, n, loss, y_prev)
        stable = ok & (lam < 0.0) & alive
        ph = jnp.arctan2(y[1], y[0])
        zeta = 0.5 * jnp.angle(jnp.exp(1j * (ph[0] - ph[1])))
        return (jnp.where(stable, y, y_prev), stable), (zeta, stable, y, lam)

    _, out = jax.lax.scan(step, (guess, jnp.array(True)), deltas)
    return out


def two_group_steady_state(delta, squeezing, n_spins, *, loss=1.0):
    """Synchronised steady state of N spins in two groups ±δ (§IV.2, Fig. 4) on a (δ, η) grid.

    The synchronised state is followed by Newton continuation in δ from the δ = 0 state of Eq. 25
    (a stable fixed point of the exact two-group reduction of Eqs. 22–23; linear stability from the
    Jacobian's eigenvalues). Beyond the boundary no stable synchronised fixed point exists.

    Parameters
    ----------
    delta : array (K,)
        Increasing detunings δ >= 0 (the continuation path; start at or near 0).
    squeezing : array (M,)
        η values (vmapped).
    n_spins : int or float
        N (10⁴ in Fig. 4).

    Returns
    -------
    dict with ``zeta`` (M, K) phase spread (NaN where not synchronised), ``synchronised`` (M, K),
    ``status`` (Status codes), ``amplitude`` (M, K) = A, ``z`` (M, K), ``max_rate`` (M, K) = max Re λ.
    """
    ensure_x64()
    d = jnp.atleast_1d(jnp.asarray(delta, jnp.float64))
    e = jnp.atleast_1d(jnp.asarray(squeezing, jnp.float64))
    check_real("delta", np.asarray(d), minimum=0.0)
    check_real("squeezing", np.asarray(e), minimum=0.0, strict=True)
    n = jnp.float64(n_spins)
    zeta, sync, y, lam = jax.jit(jax.vmap(_continuation, in_axes=(None, 0, None, None)))(d, e, n, jnp.float64(loss))
    return {"zeta": jnp.where(sync, zeta, jnp.nan), "synchronised": sync,
            "status": jnp.where(sync, int(Status.OK), int(Status.NOT_CONVERGED)),
            "amplitude": jnp.hypot(y[:, :, 0, 0], y[:, :, 1, 0]), "z": y[:, :, 2, 0], "max_rate": lam}


def sync_boundary(squeezing, n_spins, *, loss=1.0, delta_max=0.2, points: int = 400, refine: int = 20):
    """Largest δ̃ = N²δ/Γ₂ with a stable synchronised state, per η (continuation + bisection, vmapped over η).

    Returns δ̃_max per η (0 where even δ = 0 does not synchronise, i.e. η > NΓ₂/16).
    """
    ensure_x64()
    e = jnp.atleast_1d(jnp.asarray(squeezing, jnp.float64))
    n = jnp.float64(n_spins)
    grid = jnp.linspace(0.0, delta_max * loss, points)

    def one(eta):
        zeta, sync, y, lam = _continuation(grid, eta, n, jnp.float64(loss))
        k = jnp.sum(jnp.cumprod(sync))  # number of leading synchronised grid points
        lo = grid[jnp.maximum(k - 1, 0)]
        hi = grid[jnp.minimum(k, points - 1)]
        y0 = y[jnp.maximum(k - 1, 0)]

        def bis(c, _):
            lo, hi, yl = c
            mid = 0.5 * (lo + hi)
            ym, ok, lm = _fixed_point(mid, eta, n, jnp.float64(loss), yl)
            good = ok & (lm < 0.0)
            return (jnp.where(good, mid, lo), jnp.where(good, hi, mid), jnp.where(good, ym, yl)), None

        (lo, hi, _), _ = jax.lax.scan(bis, (lo, hi, y0), None, length=refine)
        return jnp.where(k > 0, 0.5 * (lo + hi), 0.0)

    return jax.jit(jax.vmap(one))(e) * n**2 / loss


def fit_ellipse(eta_tilde, delta_tilde):
    """Least-squares fit of Eq. 30, δ̃ = b sqrt(a² − (η̃ − a)²), via δ̃² = 2ab²η̃ − b²η̃² (linear).

    Returns (a, b, η̃_c = 2a, δ̃_c = ab).
    """
    ensure_x64()
    x = jnp.asarray(eta_tilde, jnp.float64)
    y = jnp.asarray(delta_tilde, jnp.float64) ** 2
    m = jnp.stack([x, x**2], axis=1)
    (p1, p2), *_ = jnp.linalg.lstsq(m, y)
    b = jnp.sqrt(-p2)
    a = p1 / (2.0 * b**2)
    return a, b, 2.0 * a, a * b
