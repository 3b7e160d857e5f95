r"""Exact master equation of seed 003 (Eq. 1) in the full 2^N space with inhomogeneous detunings, batched over realisations.

.. math:: \dot\rho = -i[H,\rho] + \frac{\Gamma_2}{N^2}\mathcal D[S_-^2]\rho,\qquad
          H = \tfrac12\sum_n\delta_n\sigma^z_n + \frac{\eta}{N}(e^{i\varphi}S_-^2 + e^{-i\varphi}S_+^2)

(:math:`\sum_{m,n}\sigma^-_m\sigma^-_n = S_-^2`). H and S₋² conserve the excitation-number parity, so a
cat of definite parity lives in one parity block of dimension D = 2^{N−1}; ρ is evolved there.
The block superoperator (D² × D², row-major vec) is formed densely and exponentiated once per
realisation, ``P = expm(𝓛 Δt)``; times on the grid kΔt follow by matrix–vector products. The
detunings only add the diagonal −i(E_a − E_b) to 𝓛, so the δ-free part is built once.

Limit: N ≤ 6 on a CPU (D² = 1024; one expm ≈ 20 complex 1024³ products ≈ 0.2 TFLOP). N = 7
(D² = 4096) is 64× that per realisation, and N = 8 (D² = 16384, a 4.3 GB superoperator) does not
fit the dense route at all; a matrix-form ODE at N = 8 needs ~10⁴ stiff steps (‖𝓛‖ ≈ 100 Γ₂) of
four 128³ products per realisation — a GPU job, not a 2-core one.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from .._config import ensure_x64
from .._model import _static_n
from .._validate import check_real
from ._states import _check_parity, cat_state, theta_from_amplitude

__all__ = ["parity_block", "dicke_to_block", "block_liouvillian", "exact_fidelity", "exact_cat_fidelity",
           "MAX_EXACT_SPINS"]

MAX_EXACT_SPINS = 7


@functools.lru_cache(maxsize=None)
def parity_block(n_spins: int, parity: int):
    """Product-basis indices of one parity block and the block operators (numpy, cached).

    Returns ``(index, spin_sign, a2)``: ``index`` (D,) computational-basis states with
    (−1)^{#excited} = parity (bit k of the index = spin k excited, spin 0 the most significant);
    ``spin_sign`` (D, N) = ±1 (σᶻ of each spin); ``a2`` (D, D) = S₋² restricted to the block.
    """
    n = int(n_spins)
    p = _check_parity(parity)
    dim = 2**n
    states = np.arange(dim)
    bits = (states[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    pop = bits.sum(1)
    keep = ((-1) ** pop) == p
    index = states[keep]
    pos = -np.ones(dim, dtype=np.int64)
    pos[index] = np.arange(len(index))
    a2 = np.zeros((len(index), len(index)))
    # S₋² = Σ_{m≠n} σ₋^m σ₋^n: removes two excitations, coefficient 2 per unordered pair
    for col, s in enumerate(index):
        exc = [k for k in range(n) if bits[s, k]]
        for i in range(len(exc)):
            for j in range(i + 1, len(exc)):
                t = s & ~(1 << (n - 1 - exc[i])) & ~(1 << (n - 1 - exc[j]))
                a2[pos[t], col] += 2.0
    return index, (2 * bits[keep] - 1).astype(np.float64), a2


def dicke_to_block(psi_dicke, n_spins: int, parity: int):
    """Embed a Dicke-basis vector (length N+1, definite parity) into the 2^{N−1} parity block."""
    n = _static_n(n_spins)
    index, sign, _ = parity_block(n, parity)
    pop = ((sign + 1) / 2).sum(1).astype(np.int64)
    from scipy.special import comb

    w = 1.0 / np.sqrt(comb(n, pop))
    return jnp.asarray(psi_dicke)[jnp.asarray(pop)] * jnp.asarray(w)


def _base_liouvillian(n, parity, squeezing, loss, phase):
    _, _, a2 = parity_block(n, parity)
    a = jnp.asarray(a2, jnp.complex128)
    d = a.shape[0]
    eye = jnp.eye(d)
    h = (squeezing / n) * (jnp.exp(1j * phase) * a + jnp.exp(-1j * phase) * a.conj().T)
    g = a.conj().T @ a
    c = loss / n**2
    # row-major vec: vec(X ρ Y) = (X ⊗ Yᵀ) vec ρ
    return (-1j * (jnp.kron(h, eye) - jnp.kron(eye, h.T))
            + c * (jnp.kron(a, a.conj()) - 0.5 * jnp.kron(g, eye) - 0.5 * jnp.kron(eye, g.T)))


def block_liouvillian(detunings, squeezing, n_spins: int, parity: int = 1, *, loss=1.0, phase=0.0):
    """Dense Liouvillian of Eq. 1 on one parity block, shape (D², D²) complex128, D = 2^{N−1}.

    Parameters
    ----------
    detunings : array (N,)
        Detunings δ_n (same units as ``loss``).
    squeezing : float
        Two-axis squeezing strength η.
    n_spins : int
        Number of spins (1 … ``MAX_EXACT_SPINS``).
    parity : {+1, -1}
        Excitation-number parity of the block.
    loss : float
        Collective two-body loss rate Γ₂ > 0.
    phase : float
        Squeezing phase φ.
    """
    ensure_x64()
    n = _check_n(n_spins)
    base = _base_liouvillian(n, parity, squeezing, loss, phase)
    return base + jnp.diag(_detuning_diag(detunings, n, parity))


def _detuning_diag(detunings, n, parity):
    _, sign, _ = parity_block(n, parity)
    e = 0.5 * jnp.asarray(sign) @ jnp.asarray(detunings, jnp.float64)
    return (-1j * (e[:, None] - e[None, :])).reshape(-1)


def _check_n(n_spins):
    n = _static_n(n_spins)
    if n < 2 or n > MAX_EXACT_SPINS:
        raise ValueError(f"n_spins must be an integer in [2, {MAX_EXACT_SPINS}] for the full 2^N space; got {n}")
    return n


@functools.partial(jax.jit, static_argnames=("n", "parity", "steps", "batch_size"))
def _fidelity_kernel(detunings, psi, squeezing, loss, phase, dt, *, n, parity, steps, batch_size):
    base = _base_liouvillian(n, parity, squeezing, loss, phase)
    rho0 = jnp.outer(psi, psi.conj()).reshape(-1)
    proj = jnp.outer(psi.conj(), psi).reshape(-1)  # ⟨ψ|ρ|ψ⟩ = Σ ψ*_a ρ_ab ψ_b

    def one(det):
        prop = jax.scipy.linalg.expm((base + jnp.diag(_detuning_diag(det, n, parity))) * dt)

        def step(v, _):
            v2 = prop @ v
            return v2, jnp.real(proj @ v2)

        _, f = jax.lax.scan(step, rho0, None, length=steps)
        return jnp.concatenate([jnp.real(proj @ rho0)[None], f])

    return jax.lax.map(one, detunings, batch_size=batch_size)


def exact_fidelity(detunings, psi_dicke, squeezing, n_spins: int, parity: int, dt, steps: int, *,
                   loss=1.0, phase=0.0, batch_size: int = 4):
    """⟨ψ₀|ρ(t)|ψ₀⟩ under Eq. 1 for each detuning realisation, on the grid t = kΔt, k = 0 … steps.

    Parameters
    ----------
    detunings : array (R, N)
        One row of detunings per realisation (R may be 1).
    psi_dicke : array (N+1,)
        Initial permutation-symmetric pure state in the Dicke basis, definite parity.
    squeezing, loss, phase : float
        η, Γ₂, φ of Eq. 2.
    n_spins : int
        N (2 … ``MAX_EXACT_SPINS``).
    parity : {+1, -1}
        Parity of ``psi_dicke``.
    dt : float
        Grid spacing Δt > 0.
    steps : int
        Number of steps.
    batch_size : int
        Realisations exponentiated at once (memory ∝ batch_size·D⁴).

    Returns
    -------
    times : (steps+1,) array, fidelity : (R, steps+1) array
    """
    ensure_x64()
    n = _check_n(n_spins)
    p = _check_parity(parity)
    det = jnp.atleast_2d(jnp.asarray(detunings, jnp.float64))
    if det.shape[-1] != n:
        raise ValueError(f"detunings must have shape (realisations, n_spins={n}); got {det.shape}")
    check_real("dt", dt, minimum=0.0, strict=True)
    check_real("squeezing", squeezing, minimum=0.0)
    check_real("loss", loss, minimum=0.0, strict=True)
    if int(steps) < 1:
        raise ValueError(f"steps must be an integer >= 1; got {steps}")
    psi = dicke_to_block(psi_dicke, n, p)
    f = _fidelity_kernel(det, psi, jnp.float64(squeezing), jnp.float64(loss), jnp.float64(phase),
                         jnp.float64(dt), n=n, parity=p, steps=int(steps), batch_size=int(batch_size))
    return jnp.arange(int(steps) + 1) * dt, f


def exact_cat_fidelity(detunings, squeezing, n_spins: int, parity: int, dt, steps: int, *, loss=1.0,
                       batch_size: int = 4):
    """Fig. 2 of seed 003: fidelity of |Cat±⟩ (|α|² = 2η/Γ₂, phase −π/4 at φ = 0) under Eq. 1.

    The cat is built from spin coherent states with θ = 2 arctan(|α|/√N), φ_state = −π/4, the
    phase of the stabilised manifold (⟨S₋⟩ ∝ e^{−iπ/4}). Returns ``(times, fidelity (R, steps+1))``.
    """
    n = _check_n(n_spins)
    amp = float(np.sqrt(2.0 * float(squeezing) / float(loss)))
    psi = cat_state(theta_from_amplitude(amp, n), -np.pi / 4, n, parity)
    return exact_fidelity(detunings, psi, squeezing, n, parity, dt, steps, loss=loss, batch_size=batch_size)
