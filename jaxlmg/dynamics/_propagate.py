r"""Propagation e^{tL}ρ: a generic ODE path and an exact-unitary splitting for collective dephasing.

Generic path (:func:`propagate`)
--------------------------------
Any banded H and jump operators: the matrix-free action of ``_lindblad`` integrated with diffrax
(Dormand–Prince 8(7), PID step control, ``rtol``/``atol`` on the real and imaginary parts of ρ).
It needs ~‖L‖t actions (‖H‖ ~ N(1+Γ)), so it is meant for small N and as a cross-check.

Collective dephasing of the LMG model (:class:`DickeSectors`, :func:`evolve_dephased`)
-------------------------------------------------------------------------------------
For L = √γφ·Jz at h = 0 the dynamics is split into the parts that are *exactly* solvable:

* the unitary part is diagonal in the energy eigenbasis of H, which is computed once per
  (N, Γ) by a dense ``eigh`` of each spin-flip parity block (O(d³), d = N + 1 ≈ 371: ~10 ms) —
  its step is an elementwise phase e^{-i(E_a - E_b)h};
* the dephasing part is diagonal in the Dicke basis, ρ_{mm′} → e^{-γφh(m-m′)²/2} ρ_{mm′}.
  In the parity basis e_μ = (|μ⟩+|-μ⟩)/√2, o_μ = (|μ⟩-|-μ⟩)/√2 (μ = |m|) Jz maps e_μ ↔ μ·o_μ,
  so the exact factor couples the pair (X_eo[a,b], conj X_eo[b,a]) (odd sector) or
  (ρ_ee[a,b], ρ_oo[a,b]) (even sector); their sum and difference decay with (μ_a ∓ μ_b)².

A Strang step U(h/2)·D(h)·U(h/2) costs two basis changes (four real matrix products of size
≈ d/2, since only one parity sector is carried) plus O(d²) elementwise work, independent of ‖H‖ —
the stiffness of the unitary part (‖H‖·Δt ~ 2·10⁴ at N = 370) never enters the step size.
Strang splitting is symmetric, so its global error is an even series in h; we run n₀, 2n₀ and
4n₀ steps and eliminate the h² and h⁴ terms by Richardson extrapolation (Neville table in h²).
The difference between the last two table entries is returned as an error estimate; callers
mark points whose estimate exceeds their tolerance and retry them with 2n₀ (per point, so a
point's answer never depends on its batch). Step counts are static, so everything is
``jit``/``vmap``/``jvp``/``grad`` compatible (``eigh`` has JAX derivatives; the loops are
fixed-length ``fori_loop``s).

Only Hermitian operators are propagated in the sector form (X_oe = X_eo†); the Leggett–Garg
instrument and all density matrices are Hermitian.
"""

from __future__ import annotations

import math

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._config import ensure_x64
from .._model import _ladder_coefficients, _static_n
from ._lindblad import lindblad_action

# ----------------------------------------------------------------------------------------
# Generic path
# ----------------------------------------------------------------------------------------


def propagate(rho, t, hamiltonian, jumps=(), dephasing=0.0, *, rtol: float = 1e-10, atol: float = 1e-12,
              max_steps: int = 1_000_000):
    r"""ρ(t) = e^{tL}ρ for the matrix-free Lindbladian of ``_lindblad.lindblad_action``.

    Parameters
    ----------
    rho : (d, d) complex array, the initial state (any operator).
    t : float ≥ 0, the time (units of ħ/J).
    hamiltonian : Banded, H.
    jumps : sequence of Banded jump operators L_k.
    dephasing : γφ of the collective dephasing L = √γφ·Jz (exact diagonal form).
    rtol, atol : diffrax PID tolerances on Re ρ and Im ρ.
    """
    ensure_x64()
    rho = jnp.asarray(rho, jnp.complex128)

    def f(_, y, args):
        h, js, g = args
        r = y[0] + 1j * y[1]
        dr = lindblad_action(r, h, js, g)
        return jnp.stack([dr.real, dr.imag])

    y0 = jnp.stack([rho.real, rho.imag])
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(f), diffrax.Dopri8(), t0=0.0, t1=t, dt0=None, y0=y0,
        args=(hamiltonian, tuple(jumps), dephasing),
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol), max_steps=max_steps,
        saveat=diffrax.SaveAt(t1=True))
    y = sol.ys[-1]
    return y[0] + 1j * y[1]


# ----------------------------------------------------------------------------------------
# Parity sectors of the LMG model at h = 0
# ----------------------------------------------------------------------------------------


def _parity_basis(n: int):
    """Real (d, ne), (d, no) matrices of e_μ, o_μ (μ descending; m = 0 last in the even block)."""
    d = n + 1
    no = d // 2
    ne = d - no
    pe = np.zeros((d, ne))
    po = np.zeros((d, no))
    s = 1.0 / np.sqrt(2.0)
    for a in range(no):
        ip, im = n - a, a  # m = +(N/2 - a), m = -(N/2 - a)
        pe[ip, a] = pe[im, a] = s
        po[ip, a], po[im, a] = s, -s
    if ne > no:
        pe[n // 2, no] = 1.0
    mu = np.abs(n / 2.0 - np.arange(ne))
    if ne > no:
        mu[no] = 0.0
    return pe, po, mu


class DickeSectors(eqx.Module):
    """Energy eigenbasis of the two spin-flip parity blocks of the LMG Hamiltonian (h = 0).

    ``e_even``/``e_odd`` ascending (shifted by the ground energy), ``v_even`` (ne, ne) and
    ``v_odd`` (no, no) real eigenvectors in the parity basis e_μ / o_μ, ``mu`` = |m| of the
    even parity basis (the odd one is ``mu[:no]``), ``q_eo`` = ⟨e_a|sgn(Jz)|o_b⟩ in the
    eigenbasis (sgn(0) = 0), ``jz_eo`` likewise for Jz.
    """

    e_even: Array
    e_odd: Array
    v_even: Array
    v_odd: Array
    mu: Array
    q_eo: Array
    jz_eo: Array
    e_ground: Array
    norm_h: Array


def sectors(n_spins: int, field, *, coupling=1.0) -> DickeSectors:
    """Diagonalise the parity blocks of H = -(2J/N)Jz² - 2ΓJx (static N; differentiable in field)."""
    ensure_x64()
    n = _static_n(n_spins)
    pe, po, mu = _parity_basis(n)
    d = n + 1
    no = d // 2
    m = np.arange(d) - n / 2.0
    diag = -(2.0 * coupling / n) * jnp.asarray(m**2)
    off = -field * jnp.asarray(_ladder_coefficients(n))
    h = jnp.diag(diag) + jnp.diag(off, 1) + jnp.diag(off, -1)
    he = pe.T @ h @ pe
    ho = po.T @ h @ po
    ee, ve = jnp.linalg.eigh(he)
    eo, vo = jnp.linalg.eigh(ho)
    # Fix eigenvector signs (deterministic derivatives and readouts): largest |component| > 0.
    ve = ve * jnp.sign(ve[jnp.argmax(jnp.abs(jax.lax.stop_gradient(ve)), axis=0), jnp.arange(ve.shape[1])])
    vo = vo * jnp.sign(vo[jnp.argmax(jnp.abs(jax.lax.stop_gradient(vo)), axis=0), jnp.arange(vo.shape[1])])
    mu_j = jnp.asarray(mu)
    qd = np.zeros((d - no, no))
    qd[np.arange(no), np.arange(no)] = 1.0  # sgn(Jz) e_μ = o_μ (μ > 0), 0 for m = 0
    jzd = np.zeros((d - no, no))
    jzd[np.arange(no), np.arange(no)] = mu[:no]
    q_eo = ve.T @ jnp.asarray(qd) @ vo
    jz_eo = ve.T @ jnp.asarray(jzd) @ vo
    e0 = ee[0]
    nh = jnp.max(jnp.abs(diag)) + 2.0 * jnp.max(jnp.abs(off))
    return DickeSectors(e_even=ee - e0, e_odd=eo - e0, v_even=ve, v_odd=vo, mu=mu_j, q_eo=q_eo, jz_eo=jz_eo,
                        e_ground=e0, norm_h=nh)


def _sandwich(a, x, b):
    """a @ x @ bᵀ for real a, b and complex x, as two real matrix products."""
    c = x.shape[1]
    t = a @ jnp.concatenate([x.real, x.imag], axis=1)
    r = a.shape[0]
    u = jnp.concatenate([t[:, :c], t[:, c:]], axis=0) @ b.T
    return u[:r] + 1j * u[r:]


def _pad_rows(y, rows):
    return jnp.concatenate([y, jnp.zeros((rows - y.shape[0],) + y.shape[1:], y.dtype)], axis=0)


def _deph_odd(y, fp, fm):
    """Exact collective-dephasing factor on the odd block Y_eo (parity basis)."""
    ne, no = y.shape
    yt = _pad_rows(jnp.conj(y[:no].T), ne)
    return 0.5 * ((y + yt) * fp + (y - yt) * fm)


def _deph_even(ree, roo, fp, fm):
    """Exact collective-dephasing factor on the even blocks (ρ_ee, ρ_oo) (parity basis)."""
    ne, no = ree.shape[0], roo.shape[0]
    r2 = jnp.pad(roo, ((0, ne - no), (0, ne - no)))
    s, dlt = (ree + r2) * fp, (ree - r2) * fm
    return 0.5 * (s + dlt), (0.5 * (s - dlt))[:no, :no]


def _factors(mu_a, mu_b, gh):
    return (jnp.exp(-0.5 * gh * (mu_a[:, None] - mu_b[None, :]) ** 2),
            jnp.exp(-0.5 * gh * (mu_a[:, None] + mu_b[None, :]) ** 2))


class SplitModel(eqx.Module):
    """What the splitting needs: energies (eigenbasis of H), the orthogonal maps ``ve`` (ne, ne),
    ``vo`` (no, no) from the eigenbasis to a basis where the dephasing is exact (Y = ve·X·voᵀ),
    ``mu`` (ne,) with Jz u_a = μ_a w_a there (μ_a = 0 for a ≥ no), and ⟨e_a|Q|o_b⟩ = ``q_eo``.

    Full space: the parity Dicke basis (μ = |m|). n-level truncation: the SVD of the projected
    (Jz)_eo = U diag(σ) Wᵀ, i.e. ve = Uᵀ, vo = Wᵀ, μ = σ (the same structure)."""

    e_even: Array
    e_odd: Array
    ve: Array
    vo: Array
    mu: Array
    q_eo: Array
    jz_eo: Array


def full_model(sec: DickeSectors) -> SplitModel:
    return SplitModel(sec.e_even, sec.e_odd, sec.v_even, sec.v_odd, sec.mu, sec.q_eo, sec.jz_eo)


def truncated_model(sec: DickeSectors, levels: int) -> SplitModel:
    """The lowest ``levels`` energy levels (parities alternate +, -, …) with projected Jz and Q."""
    ne, no = (levels + 1) // 2, levels // 2
    b = sec.jz_eo[:ne, :no]
    u, s, wt = jnp.linalg.svd(b, full_matrices=True)
    mu = jnp.concatenate([s, jnp.zeros(ne - no)])
    return SplitModel(sec.e_even[:ne], sec.e_odd[:no], u.T, wt, mu, sec.q_eo[:ne, :no], b)


def strang_odd(sec: SplitModel, x, dephasing, h, steps: int):
    """``steps`` Strang steps U(h/2) D(h) U(h/2) on the odd block X_eo (energy eigenbasis)."""
    no = sec.e_odd.shape[0]
    om = sec.e_even[:, None] - sec.e_odd[None, :]
    ph = jnp.exp(-1j * om * h)
    half = jnp.exp(-0.5j * om * h)
    fp, fm = _factors(sec.mu, sec.mu[:no], dephasing * h)
    ve, vo = sec.ve, sec.vo

    def body(_, z):
        y = _deph_odd(_sandwich(ve, z, vo), fp, fm)
        return _sandwich(ve.T, y, vo.T) * ph

    z = jax.lax.fori_loop(0, steps, body, x * half)
    return z * jnp.conj(half)


def strang_even(sec: SplitModel, ree, roo, dephasing, h, steps: int):
    """``steps`` Strang steps on the even blocks (ρ_ee, ρ_oo) (energy eigenbasis)."""
    ne = sec.e_even.shape[0]
    pe = jnp.exp(-1j * (sec.e_even[:, None] - sec.e_even[None, :]) * h)
    po = jnp.exp(-1j * (sec.e_odd[:, None] - sec.e_odd[None, :]) * h)
    he = jnp.exp(-0.5j * (sec.e_even[:, None] - sec.e_even[None, :]) * h)
    ho = jnp.exp(-0.5j * (sec.e_odd[:, None] - sec.e_odd[None, :]) * h)
    fp, fm = _factors(sec.mu, sec.mu, dephasing * h)
    ve, vo = sec.ve, sec.vo

    def body(_, c):
        a, b = c
        ya, yb = _deph_even(_sandwich(ve, a, ve), _sandwich(vo, b, vo), fp, fm)
        return _sandwich(ve.T, ya, ve.T) * pe, _sandwich(vo.T, yb, vo.T) * po

    a, b = jax.lax.fori_loop(0, steps, body, (ree * he, roo * ho))
    del ne
    return a * jnp.conj(he), b * jnp.conj(ho)


def richardson(values):
    """Neville extrapolation in h² of results for n₀, 2n₀, 4n₀ … steps (leading axis).

    Returns (extrapolated value, error estimate = |T[k,k] - T[k,k-1]|, elementwise)."""
    t = list(values)
    prev_last = t[-1]
    for k in range(1, len(values)):
        f = 4.0**k - 1.0
        t = [t[j] + (t[j] - t[j - 1]) / f for j in range(1, len(t))]
        if len(t) == 1:
            break
        prev_last = t[-1]
    best = t[-1]
    return best, jnp.abs(best - prev_last)


RICHARDSON_LEVELS = 3


def step_bucket(t: float, h_target: float = 0.5, minimum: int = 4) -> int:
    """n₀ = smallest power of two with t/n₀ ≤ h_target (static step count for a time t)."""
    if not math.isfinite(t) or t <= 0:
        return minimum
    return max(minimum, 1 << max(0, math.ceil(math.log2(t / h_target))))


def _to_sectors(rho, n):
    pe, po, _ = _parity_basis(n)
    ree = pe.T @ rho @ pe
    roo = po.T @ rho @ po
    xeo = pe.T @ rho @ po
    return ree, roo, xeo, pe, po


def evolve_dephased(rho, n_spins: int, field, dephasing, t, *, coupling=1.0, steps: int | None = None):
    r"""ρ(t) = e^{tL}ρ for H = -(2J/N)Jz² - 2ΓJx and L = √γφ·Jz, ρ Hermitian in the Dicke basis.

    Exact-unitary Strang splitting with Richardson extrapolation (module docstring).

    Parameters
    ----------
    rho : (N+1, N+1) Hermitian density matrix (Dicke basis, ascending m).
    n_spins : static N.
    field : Γ/J; dephasing : γφ ≥ 0 (units of J); t : time ≥ 0 (ħ/J).
    steps : n₀ (static); default from t with h ≤ 0.5 ħ/J.

    Returns
    -------
    (rho_t, error_estimate) — the max-abs Richardson error estimate over the entries.
    """
    ensure_x64()
    n = _static_n(n_spins)
    if steps is None:
        steps = step_bucket(float(t))
    rho = jnp.asarray(rho, jnp.complex128)
    ree, roo, xeo, pe, po = _to_sectors(rho, n)
    sec = sectors(n, field, coupling=coupling)
    ve, vo = sec.v_even, sec.v_odd
    mod = full_model(sec)
    ree, roo, xeo = ve.T @ ree @ ve, vo.T @ roo @ vo, ve.T @ xeo @ vo
    outs = []
    for k in range(RICHARDSON_LEVELS):
        ns = steps * 2**k
        h = t / ns
        a, b = strang_even(mod, ree, roo, dephasing, h, ns)
        x = strang_odd(mod, xeo, dephasing, h, ns)
        a, b, x = ve @ a @ ve.T, vo @ b @ vo.T, ve @ x @ vo.T
        full = pe @ a @ pe.T + po @ b @ po.T + pe @ x @ po.T + po @ jnp.conj(x.T) @ pe.T
        outs.append(full)
    best, err = richardson(outs)
    return best, jnp.max(err)
