r"""Permutation-symmetric (δ = 0) dynamics of seed 003 in the Dicke basis: sector steady states, metastable cat coherence, Fig. 3.

With all detunings zero, Eq. 1 acts on the N+1 Dicke states |n⟩ (n excitations) with jump
S₋² (⟨n−2|S₋²|n⟩ = sqrt(n(N−n+1)(n−1)(N−n+2))) and H = (η/N)(e^{iφ}S₋² + e^{−iφ}S₊²).
Both change n by 2, so ρ splits into four parity sectors (p, q) = parity of (row, column):
the two diagonal sectors each hold one steady state (strong Z₂ symmetry → two steady states,
labelled "even" and "odd"); the coherence sectors (even, odd) have no exact zero mode at finite N
(S₋² is nilpotent, so there are no dark states), only a slow mode whose rate vanishes
rapidly with N — this is what carries ⟨a⟩ ≠ 0 in Fig. 3.

Inside a sector, with X[i, j] = ρ[p+2i, q+2j], the Liouvillian is block tridiagonal in i with
(b×b) blocks (see :func:`_sector_blocks`, the one place that encodes the model's collective
action; it can be swapped for the ``jaxlmg.dynamics`` banded engine). Steady states and the
slow coherence mode come from banded solves: the steady state from LAPACK's banded LU
(scipy ``solve_banded`` via ``pure_callback``, bandwidth ~N, with an implicit-function JVP so it
stays differentiable), the slow coherence mode from inverse iteration with a block-tridiagonal
LU factored once — O(N·(N/2)³) instead of O(N⁶) for a dense Liouvillian.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._config import ensure_x64
from .._model import _static_n
from .._status import Status
from .._validate import check_real
from ._states import boson_coherent_state, hp_amplitude

__all__ = ["dicke_liouvillian", "dicke_fidelity", "dicke_model", "dicke_evolve", "steady_states", "coherence_mode", "steady_amplitude",
           "two_loss_operator"]


def two_loss_operator(n_spins: int) -> jax.Array:
    """S₋² in the Dicke basis, (N+1)×(N+1) float64 (second upper diagonal)."""
    ensure_x64()
    n = _static_n(n_spins)
    k = np.arange(n + 1, dtype=np.float64)
    c = np.sqrt(k * (n - k + 1.0) * np.maximum(k - 1.0, 0.0) * (n - k + 2.0))
    return jnp.asarray(np.diag(c[2:], 2))


def _checks(squeezing, loss):
    if not isinstance(squeezing, jax.core.Tracer):
        check_real("squeezing", squeezing, minimum=0.0)
    if not isinstance(loss, jax.core.Tracer):
        check_real("loss", loss, minimum=0.0, strict=True)


def dicke_liouvillian(squeezing, n_spins: int, *, loss=1.0, phase=0.0):
    """Dense Dicke-basis Liouvillian ((N+1)², (N+1)²) complex128, row-major vec (small N only)."""
    ensure_x64()
    _checks(squeezing, loss)
    n = _static_n(n_spins)
    a = two_loss_operator(n).astype(jnp.complex128)
    eye = jnp.eye(n + 1)
    h = (squeezing / n) * (jnp.exp(1j * phase) * a + jnp.exp(-1j * phase) * a.T)
    g = a.T @ a
    c = loss / n**2
    return (-1j * (jnp.kron(h, eye) - jnp.kron(eye, h.T))
            + c * (jnp.kron(a, a) - 0.5 * jnp.kron(g, eye) - 0.5 * jnp.kron(eye, g.T)))


def dicke_fidelity(psi, squeezing, n_spins: int, dt, steps: int, *, loss=1.0, phase=0.0):
    """⟨ψ|ρ(t)|ψ⟩ at t = kΔt (k = 0 … steps) for δ = 0, by exponentiating the Dicke Liouvillian.

    Returns ``(times, fidelity)``. Dense: for N up to ~30.
    """
    ensure_x64()
    n = _static_n(n_spins)
    psi = jnp.asarray(psi, jnp.complex128)
    prop = jax.scipy.linalg.expm(dicke_liouvillian(squeezing, n, loss=loss, phase=phase) * dt)
    rho0 = jnp.outer(psi, psi.conj()).reshape(-1)
    proj = jnp.outer(psi.conj(), psi).reshape(-1)

    def step(v, _):
        v = prop @ v
        return v, jnp.real(proj @ v)

    _, f = jax.lax.scan(step, rho0, None, length=int(steps))
    return jnp.arange(int(steps) + 1) * dt, jnp.concatenate([jnp.real(proj @ rho0)[None], f])


# ------------------------------------------------------------------------- sector algebra
def _sector_blocks(squeezing, loss, phase, n: int, p: int, q: int):
    """Block-tridiagonal form of the Dicke Liouvillian on sector (p, q) (the model's collective action).

    With y_i = X[i, :] (X[i, j] = ρ[p+2i, q+2j]) the equation (𝓛ρ)[row i] reads
    lower_i y_{i−1} + diag_i y_i + upper_i y_{i+1}. Returns (lower, diag, upper), each (a, b, b).
    """
    k = np.arange(n + 1, dtype=np.float64)
    lc = np.sqrt(k * (n - k + 1.0) * np.maximum(k - 1.0, 0.0) * (n - k + 2.0))  # ⟨k−2|S₋²|k⟩
    rows, cols = np.arange(p, n + 1, 2), np.arange(q, n + 1, 2)
    a_, b_ = len(rows), len(cols)
    c = loss / n**2
    ep = jnp.exp(1j * phase)
    # A_p[i, i+1] = lc[rows[i+1]]; A_q similarly (b×b, upper bidiagonal)
    ap_up = jnp.asarray(np.append(lc[rows[1:]], 0.0))          # A_p[i, i+1]
    aq = jnp.asarray(np.diag(lc[cols[1:]], 1)) if b_ > 1 else jnp.zeros((1, 1))
    g_p = jnp.asarray(lc[rows] ** 2)                               # (A†A)[i, i]
    g_q = jnp.asarray(lc[cols] ** 2)
    h_q = (squeezing / n) * (ep * aq + jnp.conj(ep) * aq.T)
    hp_up = (squeezing / n) * ep * ap_up                           # H_p[i, i+1]
    hp_dn = (squeezing / n) * jnp.conj(ep) * jnp.concatenate([jnp.zeros(1), ap_up[:-1]])  # H_p[i, i−1]
    eye = jnp.eye(b_)
    diag = 1j * h_q.T[None] - 0.5 * c * (g_p[:, None, None] * eye + jnp.diag(g_q)[None])
    upper = -1j * hp_up[:, None, None] * eye + c * ap_up[:, None, None] * jnp.conj(aq)[None]
    lower = -1j * hp_dn[:, None, None] * eye
    del a_
    return lower.astype(jnp.complex128), diag.astype(jnp.complex128), upper.astype(jnp.complex128)


def _block_factor(lower, diag, upper):
    """Block LU (no pivoting across blocks) of a block-tridiagonal matrix: per-block LU of the Schur complements."""

    def fwd(cp, x):
        lo, di, up = x
        m = di - lo @ cp
        lu = jax.scipy.linalg.lu_factor(m)
        cn = jax.scipy.linalg.lu_solve(lu, up)
        return cn, (lu, cn)

    b = diag.shape[-1]
    _, (lus, cps) = jax.lax.scan(fwd, jnp.zeros((b, b), diag.dtype), (lower, diag, upper))
    return lower, lus, cps


def _block_solve(fac, rhs):
    lower, lus, cps = fac

    def fwd(dp, x):
        lo, lu, r = x
        d = jax.scipy.linalg.lu_solve(lu, r - lo @ dp)
        return d, d

    _, dps = jax.lax.scan(fwd, jnp.zeros(rhs.shape[-1], rhs.dtype), (lower, lus, rhs))

    def bwd(y_next, x):
        cp, dp = x
        y = dp - cp @ y_next
        return y, y

    _, ys = jax.lax.scan(bwd, jnp.zeros(rhs.shape[-1], rhs.dtype), (cps, dps), reverse=True)
    return ys


def _block_thomas(lower, diag, upper, rhs):
    """Solve the block-tridiagonal system (blocks (a, b, b), rhs (a, b)) by block LU."""
    return _block_solve(_block_factor(lower, diag, upper), rhs)


def _adjoint_blocks(lower, diag, upper):
    h = lambda x: jnp.conj(jnp.swapaxes(x, -1, -2))  # noqa: E731
    z = jnp.zeros_like(diag[:1])
    new_lower = jnp.concatenate([z, h(upper[:-1])])
    new_upper = jnp.concatenate([h(lower[1:]), z])
    return new_lower, h(diag), new_upper


def _banded_np(lower, diag, upper, rhs):
    """scipy.linalg.solve_banded (LAPACK gbsv) on the block-tridiagonal sector system (host, numpy)."""
    import scipy.linalg as sl

    lower, diag, upper, rhs = (np.asarray(x) for x in (lower, diag, upper, rhs))
    a, b, _ = diag.shape
    u = b + 1  # nonzero couplings: ±1 within a block, ±b (and −b−1, b+1 via A_q) between blocks
    ab = np.zeros((2 * u + 1, a * b), np.complex128)
    jj, kk = np.meshgrid(np.arange(b), np.arange(b), indexing="ij")
    for off, blocks in ((0, diag), (1, upper), (-1, lower)):
        i = np.arange(a)
        ok = (i + off >= 0) & (i + off < a)
        i = i[ok]
        r = (i[:, None, None] * b + jj[None])
        c = ((i + off)[:, None, None] * b + kk[None])
        v = blocks[ok]
        m = np.abs(r - c) <= u
        ab[(u + r - c)[m], c[m]] = v[m]
    return sl.solve_banded((u, u), ab, rhs.reshape(-1)).reshape(a, b)


@jax.custom_jvp
def _banded_solve(lower, diag, upper, rhs):
    shape = jax.ShapeDtypeStruct(rhs.shape, jnp.complex128)
    return jax.pure_callback(_banded_np, shape, lower, diag, upper, rhs, vmap_method="sequential")


@_banded_solve.defjvp
def _banded_solve_jvp(primals, tangents):
    lower, diag, upper, rhs = primals
    dl, dd, du, dr = tangents
    x = _banded_solve(lower, diag, upper, rhs)
    # tangent solve in pure JAX (block LU), so reverse mode can transpose it
    dx = _block_thomas(lower, diag, upper, dr - _apply(dl, dd, du, x))
    return x, dx


def _sector_steady_state(squeezing, loss, phase, n: int, p: int):
    lower, diag, upper = _sector_blocks(squeezing, loss, phase, n, p, p)
    b = diag.shape[-1]
    e0 = jnp.zeros(b).at[0].set(1.0)
    diag = diag.at[0, 0, :].set(e0)
    upper = upper.at[0, 0, :].set(0.0)
    rhs = jnp.zeros(diag.shape[:2], jnp.complex128).at[0, 0].set(1.0)
    x = _banded_solve(lower, diag, upper, rhs)
    x = 0.5 * (x + x.conj().T)
    return x / jnp.trace(x)


def _embed(x, n, p, q):
    rho = jnp.zeros((n + 1, n + 1), x.dtype)
    return rho.at[p::2, q::2].set(x)


@functools.partial(jax.jit, static_argnames=("n_spins",))
def _steady_pair(squeezing, loss, phase, n_spins):
    return tuple(_embed(_sector_steady_state(squeezing, loss, phase, n_spins, p), n_spins, p, p) for p in (0, 1))


@functools.partial(jax.jit, static_argnames=("n_spins",))
def _steady_batch(squeezing, loss, phase, n_spins):
    return jax.vmap(lambda e: _steady_pair.__wrapped__(e, loss, phase, n_spins))(squeezing)


def steady_states(squeezing, n_spins: int, *, loss=1.0, phase=0.0):
    """The two steady states of Eq. 1 at δ = 0 (strong parity symmetry), labelled by sector.

    Parameters
    ----------
    squeezing : float or array
        η >= 0 (an array is vmapped; results get its shape in front).
    n_spins : int
        N >= 2.
    loss : float
        Γ₂ > 0.
    phase : float
        Squeezing phase φ.

    Returns
    -------
    dict
        ``{"even": ρ_even, "odd": ρ_odd}``, each (..., N+1, N+1) complex128 with unit trace, supported
        on even (odd) excitation numbers. Every steady state of the δ = 0 model is a convex
        combination of these two (the parity coherences decay, see :func:`coherence_mode`).
    """
    ensure_x64()
    _checks(squeezing, loss)
    n = _static_n(n_spins)
    if n < 2:
        raise ValueError(f"n_spins must be an integer >= 2; got {n}")
    eta = jnp.asarray(squeezing, jnp.float64)
    if eta.ndim == 0:
        ev, od = _steady_pair(eta, jnp.float64(loss), jnp.float64(phase), n)
    else:  # a batch of η: vmapped, one compile for the whole batch
        ev, od = _steady_batch(eta.ravel(), jnp.float64(loss), jnp.float64(phase), n)
        ev, od = (x.reshape(eta.shape + x.shape[-2:]) for x in (ev, od))
    return {"even": ev, "odd": od}


def _inverse_iteration(lower, diag, upper, v0, iters):
    fac = _block_factor(lower, diag, upper)

    def body(v, _):
        w = _block_solve(fac, v)
        return w / jnp.linalg.norm(w), None

    v, _ = jax.lax.scan(body, v0 / jnp.linalg.norm(v0), None, length=iters)
    return v


def _apply(lower, diag, upper, y):
    out = jnp.einsum("ijk,ik->ij", diag, y)
    out = out.at[1:].add(jnp.einsum("ijk,ik->ij", lower[1:], y[:-1]))
    out = out.at[:-1].add(jnp.einsum("ijk,ik->ij", upper[:-1], y[1:]))
    return out


@functools.partial(jax.jit, static_argnames=("n_spins", "iters"))
def _coherence_kernel(squeezing, loss, phase, rho0, n_spins, iters):
    n = n_spins
    lower, diag, upper = _sector_blocks(squeezing, loss, phase, n, 0, 1)
    x0 = rho0[0::2, 1::2]
    r = _inverse_iteration(lower, diag, upper, x0 + 1e-3, iters)
    lr = _apply(lower, diag, upper, r)
    lam = jnp.vdot(r, lr)
    scale = jnp.max(jnp.abs(diag))
    converged = jnp.linalg.norm(lr - lam * r) <= 1e-8 * scale  # an isolated slow mode was found
    la, da, ua = _adjoint_blocks(lower, diag, upper)
    ell = _inverse_iteration(la, da, ua, x0 + 1e-3, iters)
    coef = jnp.vdot(ell, x0) / jnp.vdot(ell, r)
    x = coef * r
    rho_eo = _embed(x, n, 0, 1)
    rho_meta = rho_eo + rho_eo.conj().T
    return jnp.where(converged, lam, jnp.nan), jnp.where(converged, rho_meta, jnp.nan)


def coherence_mode(squeezing, n_spins: int, rho0, *, loss=1.0, phase=0.0, iters: int = 30):
    """Slowest mode of the (even, odd) parity-coherence sector and the initial state's weight on it.

    Returns ``(rate, rho_coh)`` (NaN where inverse iteration did not isolate one slow mode, e.g. a
    complex pair of equal modulus — then the coherence is not metastable anyway): ``rate`` = −Re λ ≥ 0
    of the slowest coherence eigenvalue λ, and
    ``rho_coh`` the (N+1)×(N+1) coherence part of the metastable state reached from ``rho0``
    (both off-diagonal parity sectors, Hermitian). It decays as e^{λt}; for t ≪ 1/rate the state
    is ρ_even·P_even + ρ_odd·P_odd + rho_coh.
    """
    ensure_x64()
    _checks(squeezing, loss)
    n = _static_n(n_spins)
    lam, rho = _coherence_kernel(jnp.float64(squeezing), jnp.float64(loss), jnp.float64(phase),
                                 jnp.asarray(rho0, jnp.complex128), n, int(iters))
    return -jnp.real(lam), rho


def steady_amplitude(squeezing, n_spins: int, *, loss=1.0, iters: int = 30):
    """Fig. 3: metastable |⟨a⟩| from the bosonic coherent state α = sqrt(2η/Γ₂) e^{−iπ/4}, and its decay rate.

    Parameters
    ----------
    squeezing : array
        η values (≥ 0); a Python loop over points is avoided by ``jax.vmap``.
    n_spins : int
        N (Fig. 3: 100).

    Returns
    -------
    amplitude, rate, status : arrays shaped like ``squeezing``
        |Tr(ρ_meta a)| with the exact Holstein–Primakoff a, the decay rate of that coherence
        (the true t → ∞ value of |⟨a⟩| is 0 at finite N), and a :class:`~jaxlmg._status.Status`
        code (NOT_CONVERGED with NaN where no isolated slow coherence mode exists).
    """
    ensure_x64()
    _checks(squeezing, loss)
    n = _static_n(n_spins)
    eta = jnp.atleast_1d(jnp.asarray(squeezing, jnp.float64))

    def one(e):
        alpha = jnp.sqrt(2.0 * e / loss) * jnp.exp(-1j * jnp.pi / 4)
        v = boson_coherent_state(alpha, n)
        lam, rho = _coherence_kernel(e, jnp.float64(loss), jnp.float64(0.0), jnp.outer(v, v.conj()), n, int(iters))
        return jnp.abs(hp_amplitude(rho)), -jnp.real(lam)

    amp, rate = jax.vmap(one)(eta)
    shp = jnp.shape(squeezing)
    status = jnp.where(jnp.isfinite(amp), int(Status.OK), int(Status.NOT_CONVERGED))
    return amp.reshape(shp), rate.reshape(shp), status.reshape(shp)


# ------------------------------------------------------------------------- banded engine (jaxlmg.dynamics)
def dicke_model(squeezing, n_spins: int, *, loss=1.0, phase=0.0):
    """Eq. 1 at δ = 0 as banded operators of the ``jaxlmg.dynamics`` engine: (H, (jump,)).

    H = (η/N)(e^{iφ}J₋² + e^{−iφ}J₊²), jump √Γ₂/N·J₋² (S± = J±).
    """
    from ..dynamics import jminus

    ensure_x64()
    _checks(squeezing, loss)
    n = _static_n(n_spins)
    jm2 = jminus(n) @ jminus(n)
    jp2 = jm2.dagger()
    h = jm2.scale((squeezing / n) * jnp.exp(1j * phase)) + jp2.scale((squeezing / n) * jnp.exp(-1j * phase))
    return h, (jm2.scale(jnp.sqrt(loss) / n),)


def dicke_evolve(rho0, t, squeezing, n_spins: int, *, loss=1.0, phase=0.0, rtol=1e-10, atol=1e-12):
    """ρ(t) at δ = 0 with the banded matrix-free engine (``jaxlmg.dynamics.propagate``, diffrax Dopri8)."""
    from ..dynamics import propagate

    h, jumps = dicke_model(squeezing, n_spins, loss=loss, phase=phase)
    return propagate(jnp.asarray(rho0, jnp.complex128), t, h, jumps, rtol=rtol, atol=atol)
