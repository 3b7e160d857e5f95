r"""Coherent Landau–Zener bias sweeps of the LMG model: state vectors in the Dicke space.

H(t) = H0 − 2 h(t) Jz with H0 = −(2J/N) Jz² − 2Γ Jx and h(t) = ``bias`` + Δh · s(t/τQ)
(default linear schedule s(u) = u − ½, i.e. h from bias − Δh/2 to bias + Δh/2 in time τQ).

Integrator (exact-exponential splitting, 2nd order). One step of length δt is

    e^{−i H0 δt/2} · e^{+2i h(t_k) Jz δt} · e^{−i H0 δt/2},   t_k the step midpoint,

with both factors exact: H0 is diagonalised once (by parity blocks, so the tunnel doublet is
resolved) and the bias factor is a phase in the Jz eigenbasis. Because H0 is exact, the
splitting error acts only through the nested commutators [H0, [H0, Jz]], whose matrix elements
(E_i − E_j)² ⟨i|Jz|j⟩ are of order ΔE² for the tunnel doublet: the Landau–Zener coupling itself
is integrated with a relative error ~ (ΔE δt)²/24, and intra-well excitations with
~ (ω δt)²/24. Error control: every point is integrated with n and 2n steps
(n = ⌈τQ/``max_step``⌉; points whose estimate exceeds ``tolerance`` are redone alone with 4n,
up to twice, outside ``jit``). The splitting is symmetric (its error series is even in δt), so the
returned value is the Richardson extrapolation P_2n + (P_2n − P_n)/3 (4th order), and
|P_2n − P_n|/3 — the error of P_2n, a conservative bound for the extrapolated value — is returned
as ``error``; points above ``tolerance`` are NaN with ``Status.NOT_CONVERGED``.

``levels = None`` integrates in the full (N+1)-dimensional Dicke space (exact up to the splitting
error); ``levels = K`` keeps the K lowest eigenstates of H0 (both parities) — a controlled
truncation for speed, check it by increasing K.

Definition of P_error. The system starts in the ground state of H(h(0)), i.e. in the well
favoured by the initial bias (m < 0 for h(0) < 0), which the sweep turns into the metastable
well — the paper's set-up (§7.2: "tunnels coherently from |P⟩ to |R⟩"; the classical foil is
"frozen in the diabatic minimum"). Two read-outs are returned:

* ``p_error`` = 1 − ⟨E0(h_end)|ρ|E0(h_end)⟩, the probability of not ending in the instantaneous
  ground state (Zener's diabatic transition probability, generalised to many levels: it counts
  staying in the metastable well and any excitation). This is the quantity Eq. (17) predicts;
  it is smooth in τQ.
* ``p_well`` = ⟨Θ(−sgn(h(0)) Jz)⟩ (m = 0 counted ½), the probability of still finding the system
  on the initial side — what a sign(Jz) readout measures and what the classical foil's
  P_error^class is. For a finite sweep the end-point eigenstates are not fully localised
  (mixing angle tan 2θ = ΔE/(2 h_end ⟨Jz⟩-difference)), so ``p_well`` carries Stückelberg-type
  interference oscillations in τQ of amplitude ~ sin 2θ; the two read-outs agree when
  N m* Δh ≫ ΔE and no excited level is crossed.
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
from .._status import Status
from .._validate import check_n_spins, check_real
from ._basis import sweep_basis


def linear_schedule(u):
    """The default sweep schedule s(u) = u − ½ on u = t/τQ ∈ [0, 1]."""
    return u - 0.5


class SweepResult(eqx.Module):
    """P_error of a batch of bias sweeps (batch shape S = broadcast of the swept parameters)."""

    p_error: Float[Array, "*S"]  # 1 − population of the instantaneous ground state at the end
    p_well: Float[Array, "*S"]  # probability on the initial (metastable) side at the end
    error: Float[Array, "*S"]  # Richardson estimate of the integration error (max over both read-outs)
    steps: Int[Array, "*S"]  # steps of the finer integration
    status: Int[Array, "*S"]
    tau_q: Float[Array, "*S"]
    sweep_amplitude: Float[Array, "*S"]
    dephasing: Float[Array, "*S"]
    n_spins: int = eqx.field(static=True)
    field: float = eqx.field(static=True)
    levels: int | None = eqx.field(static=True)


# --------------------------------------------------------------------------- validation


def _check_static(n_spins, field, coupling, levels):
    n = check_n_spins(n_spins)
    if n.ndim != 0:
        raise ValueError("n_spins must be a single integer >= 1 for a sweep (the state space is static)")
    n = int(n)
    coupling = float(check_real("coupling", coupling, minimum=0.0, strict=True))
    if hasattr(field, "aval"):
        raise ValueError("field must be a concrete number for a sweep (the H0 eigenbasis is computed once)")
    f = float(check_real("field", field, minimum=0.0))
    if levels is not None:
        if isinstance(levels, bool) or int(levels) != levels or not (2 <= int(levels) <= n + 1):
            raise ValueError(f"levels must be None (full Dicke space) or an integer in [2, N+1] = [2, {n + 1}]; "
                             f"got {levels!r}")
        levels = int(levels)
        if levels == n + 1:
            levels = None
    return n, f, coupling, levels


def _check_batch(name, value, *, minimum, strict):
    if isinstance(value, jax.core.Tracer):
        return value
    check_real(name, value, minimum=minimum, strict=strict)
    return jnp.asarray(value, jnp.float64)


def _check_step(max_step, tolerance, min_steps):
    max_step = float(check_real("max_step", max_step, minimum=0.0, strict=True))
    tolerance = float(check_real("tolerance", tolerance, minimum=0.0, strict=True))
    if isinstance(min_steps, bool) or int(min_steps) != min_steps or int(min_steps) < 1:
        raise ValueError(f"min_steps must be an integer >= 1; got {min_steps!r}")
    return max_step, tolerance, int(min_steps)


# --------------------------------------------------------------------------- kernel


def _rot(r, x):
    """Real matrix times complex vector/matrix without promoting the matrix to complex."""
    return r @ x.real + 1j * (r @ x.imag)


def _ground_state(energies, jz, h):
    _, g = jnp.linalg.eigh(jnp.diag(energies) - 2.0 * h * jz)
    return g[:, 0]


def _sides(h_start, side_neg, side_pos):
    return jnp.where(h_start < 0, side_neg, side_pos)


def _vector_point(tau, dh, bias, n_steps, basis, schedule):
    energies, rot, z, jz, side_neg, side_pos = basis
    dt = tau / n_steps
    h_start = bias + dh * schedule(0.0)
    h_end = bias + dh * schedule(1.0)
    c0 = _ground_state(energies, jz, h_start).astype(jnp.complex128)
    half = jnp.exp(-0.5j * energies * dt)

    def body(k, c):
        h = bias + dh * schedule((k + 0.5) / n_steps)
        y = _rot(rot, c * half) * jnp.exp(2j * h * dt * z)
        return _rot(rot.T, y) * half

    c = jax.lax.fori_loop(0, n_steps, body, c0)
    side = _sides(h_start, side_neg, side_pos)
    p_side = jnp.real(jnp.vdot(c, _rot(side, c)))
    g = _ground_state(energies, jz, h_end)
    p_exc = 1.0 - jnp.abs(jnp.vdot(g, c)) ** 2
    return p_exc, p_side


@functools.partial(jax.jit, static_argnames=("schedule", "point"))
def _batched(tau, dh, bias, extra, n_steps, basis, schedule, point):
    def one(t, a, b, x, n):
        p1, e1 = point(t, a, b, x, n, basis, schedule)
        p2, e2 = point(t, a, b, x, 2 * n, basis, schedule)
        # symmetric splitting: error series in δt², so Richardson gives O(δt⁴); |p2 − p1|/3 bounds it
        pr = jnp.clip(p2 + (p2 - p1) / 3.0, 0.0, 1.0)
        er = jnp.clip(e2 + (e2 - e1) / 3.0, 0.0, 1.0)
        return pr, er, jnp.maximum(jnp.abs(p2 - p1), jnp.abs(e2 - e1)) / 3.0

    return jax.vmap(one)(tau, dh, bias, extra, n_steps)


def _vec_adapter(t, a, b, x, n, basis, schedule):
    return _vector_point(t, a, b, n, basis, schedule)


def run_sweeps(point, n_spins, field, tau_q, sweep_amplitude, extra, *, bias, coupling, levels, schedule,
               max_step, tolerance, min_steps, refinements=2) -> SweepResult:
    """Shared driver of the unitary and open sweeps (broadcast, validate, vmap, status)."""
    n, f, coupling, levels = _check_static(n_spins, field, coupling, levels)
    max_step, tolerance, min_steps = _check_step(max_step, tolerance, min_steps)
    if not callable(schedule):
        raise ValueError(f"schedule must be a callable s(u) on u = t/tau_q in [0, 1]; got {schedule!r}")
    tau = _check_batch("tau_q", tau_q, minimum=0.0, strict=True)
    dh = _check_batch("sweep_amplitude", sweep_amplitude, minimum=0.0, strict=True)
    b = _check_batch("bias", bias, minimum=None, strict=False)
    x = _check_batch("dephasing", extra, minimum=0.0, strict=False)
    tau, dh, b, x = jnp.broadcast_arrays(tau, dh, b, x)
    shape = tau.shape
    flat = [a.reshape(-1) for a in (tau, dh, b, x)]
    sb = sweep_basis(n, f, coupling, levels)
    basis = tuple(jnp.asarray(a) for a in (sb.energies, sb.rotation, sb.z, sb.jz, sb.side_neg, sb.side_pos))
    steps = jnp.maximum(min_steps, jnp.ceil(jax.lax.stop_gradient(flat[0]) / max_step)).astype(jnp.int64)
    p, pw, err = _batched(*flat, steps, basis, schedule, point)
    ok = jnp.isfinite(p) & jnp.isfinite(pw) & jnp.isfinite(err) & (err <= tolerance)
    # Points above tolerance are redone alone with 4× the steps (up to ``refinements`` times): a point's
    # answer depends only on its own parameters, never on its batch.
    for _ in range(refinements):
        if isinstance(p, jax.core.Tracer) or bool(jnp.all(ok)):
            break
        bad = np.flatnonzero(~np.asarray(ok))
        steps = steps.at[bad].multiply(4)
        sub = [a[bad] for a in flat]
        p2, pw2, err2 = _batched(*sub, steps[bad], basis, schedule, point)
        p, pw, err = p.at[bad].set(p2), pw.at[bad].set(pw2), err.at[bad].set(err2)
        ok = jnp.isfinite(p) & jnp.isfinite(pw) & jnp.isfinite(err) & (err <= tolerance)
    status = jnp.where(ok, int(Status.OK), int(Status.NOT_CONVERGED))
    nan = jnp.nan
    return SweepResult(
        p_error=jnp.where(ok, p, nan).reshape(shape), p_well=jnp.where(ok, pw, nan).reshape(shape),
        error=err.reshape(shape), steps=(2 * steps).reshape(shape), status=status.reshape(shape),
        tau_q=tau, sweep_amplitude=dh, dephasing=x, n_spins=n, field=f, levels=levels,
    )


def coherent_sweep(n_spins: int, field: float, tau_q, sweep_amplitude, *, bias=0.0, coupling: float = 1.0,
                   levels: int | None = None, schedule: Callable = linear_schedule, max_step: float = 0.5,
                   tolerance: float = 1e-4, min_steps: int = 16) -> SweepResult:
    r"""P_error of coherent (unitary) bias sweeps h(t) = bias + Δh s(t/τQ) in the Dicke space.

    Parameters
    ----------
    n_spins : int
        N (static; the state has N+1 Dicke components, or ``levels``).
    field : float
        Γ in units of ``coupling`` (static).
    tau_q : array_like
        Sweep duration τQ in units of ħ/J (> 0). Broadcast against ``sweep_amplitude`` and ``bias``.
    sweep_amplitude : array_like
        Total bias change Δh in units of J (> 0).
    bias : array_like, optional
        Centre of the sweep (default 0, the doublet's avoided crossing).
    levels : int or None
        None: full Dicke space. K: the K lowest eigenstates of H0 (truncation; check by raising K).
    schedule : callable, optional
        s(u) on u ∈ [0, 1], jax-traceable and hashable (default ``linear_schedule``: u − ½).
    max_step : float
        Largest time step in ħ/J of the coarser of the two integrations (default 0.5).
    tolerance : float
        Largest accepted Richardson error estimate of P_error (default 1e-4).
    min_steps : int
        Fewest steps of the coarser integration.

    Returns
    -------
    SweepResult
        ``p_error``, ``p_well`` (see the module docstring for the definitions), ``error``,
        ``steps``, ``status``. Differentiable (forward mode, ``jax.jvp``/``jacfwd``) in ``tau_q``,
        ``sweep_amplitude`` and ``bias``.
    """
    ensure_x64()
    return run_sweeps(_vec_adapter, n_spins, field, tau_q, sweep_amplitude, 0.0, bias=bias, coupling=coupling,
                      levels=levels, schedule=schedule, max_step=max_step, tolerance=tolerance, min_steps=min_steps)
