r"""Spin coherent states, spin cats and Holstein–Primakoff observables in the Dicke basis (seed 003, Eqs. 5–8).

Basis: index ``n = 0 … N`` is the symmetric Dicke state with ``n`` excited spins
(m = n − N/2, the same ordering as ``jaxlmg._model``). Collective operators follow seed 003:
:math:`S_\pm = \sum_n \sigma_n^\pm` with :math:`\sigma^- = |g\rangle\langle e|`. Note that
:math:`S_\pm` *equals* the standard :math:`J_\pm = J_x \pm i J_y` (:math:`\sigma^\pm = (\sigma^x \pm i\sigma^y)/2`);
only :math:`S_z = \sum\sigma^z = 2J_z` carries a factor 2. Matrix element
:math:`\langle n-1|S_-|n\rangle = \sqrt{n(N-n+1)}`.

Spin coherent state (Eq. 5): :math:`|\theta,\phi\rangle = \bigotimes_n(\cos\frac\theta2|g\rangle + e^{i\phi}\sin\frac\theta2|e\rangle)`,
Dicke amplitudes :math:`\sqrt{\binom{N}{n}}\cos^{N-n}\frac\theta2\,(e^{i\phi}\sin\frac\theta2)^n`.
Cats (Eqs. 6–7): :math:`|\mathrm{Cat}_\pm\rangle = (|\theta,\phi\rangle \pm |\theta,\phi+\pi\rangle)/\mathcal N_\pm`,
:math:`\mathcal N_\pm^2 = 2(1\pm\cos^N\theta)`; they have even/odd excitation number (parity Eq. 8).
Holstein–Primakoff: :math:`S_- = \sqrt{N - a^\dagger a}\,a` with :math:`a^\dagger a = n`, so
:math:`a|n\rangle = \sqrt n|n-1\rangle` on the Dicke ladder and the weak-excitation amplitude is
:math:`|\alpha| = \sqrt N\tan(\theta/2)`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammaln

from .._config import ensure_x64
from .._model import _static_n
from .._validate import check_real

__all__ = [
    "lowering", "raising", "excitation_number", "parity_operator",
    "coherent_state", "cat_state", "cat_normalisation", "boson_coherent_state",
    "theta_from_amplitude", "amplitude_from_theta", "fidelity", "hp_amplitude",
]


def _check_parity(parity) -> int:
    if parity not in (1, -1, +1):
        raise ValueError(f"parity must be +1 (even cat) or -1 (odd cat); got {parity!r}")
    return int(parity)


def lowering(n_spins: int) -> jax.Array:
    """Collective lowering operator S₋ = Σσ₋ in the Dicke basis, (N+1)×(N+1) float64.

    Parameters
    ----------
    n_spins : int
        Number of spins N >= 1.
    """
    ensure_x64()
    n = _static_n(n_spins)
    k = np.arange(1, n + 1, dtype=np.float64)
    return jnp.asarray(np.diag(np.sqrt(k * (n - k + 1.0)), 1))


def raising(n_spins: int) -> jax.Array:
    """Collective raising operator S₊ = S₋† in the Dicke basis."""
    return lowering(n_spins).T


def excitation_number(n_spins: int) -> jax.Array:
    """Number of excited spins a†a = S_z/2 + N/2 (diagonal 0 … N)."""
    ensure_x64()
    n = _static_n(n_spins)
    return jnp.diag(jnp.arange(n + 1, dtype=jnp.float64))


def parity_operator(n_spins: int) -> jax.Array:
    """Parity Π = exp(iπ Σσ⁺σ⁻) (Eq. 8): diagonal (−1)^n."""
    ensure_x64()
    n = _static_n(n_spins)
    return jnp.diag(jnp.asarray((-1.0) ** np.arange(n + 1)))


def _log_binom(n: int):
    k = jnp.arange(n + 1, dtype=jnp.float64)
    return gammaln(n + 1.0) - gammaln(k + 1.0) - gammaln(n - k + 1.0)


def coherent_state(theta, phi, n_spins: int) -> jax.Array:
    """Dicke amplitudes of the spin coherent state |θ, φ⟩ (Eq. 5), complex128 of length N+1.

    Parameters
    ----------
    theta : float or array
        Polar angle θ ∈ [0, π] (θ = 0 is all spins in |g⟩). Traced values are allowed (grad/vmap).
    phi : float or array
        Azimuthal phase φ (any real).
    n_spins : int
        Number of spins N >= 1 (static).
    """
    ensure_x64()
    n = _static_n(n_spins)
    if not isinstance(theta, jax.core.Tracer):
        check_real("theta", theta, minimum=0.0, maximum=float(np.pi))
    if not isinstance(phi, jax.core.Tracer):
        check_real("phi", phi)
    k = jnp.arange(n + 1, dtype=jnp.float64)
    th = jnp.asarray(theta, jnp.float64)
    c, s = jnp.cos(th / 2.0), jnp.sin(th / 2.0)
    # amplitude magnitude via logs (N up to 10^4 without overflow); 0^0 = 1 handled by where
    logc = jnp.where(k < n, (n - k) * jnp.log(jnp.where(c > 0, c, 1.0)), 0.0)
    logs = jnp.where(k > 0, k * jnp.log(jnp.where(s > 0, s, 1.0)), 0.0)
    mag = jnp.exp(0.5 * _log_binom(n) + logc + logs)
    mag = jnp.where((c <= 0) & (k < n), 0.0, mag)
    mag = jnp.where((s <= 0) & (k > 0), 0.0, mag)
    return mag * jnp.exp(1j * k * jnp.asarray(phi, jnp.float64))


def cat_normalisation(theta, n_spins: int, parity: int = 1):
    r"""𝒩± = sqrt(2(1 ± cos^N θ)) of Eq. 7 (overlap ⟨θ,φ|θ,φ+π⟩ = cos^N θ).

    Parameters
    ----------
    theta : float or array
        Polar angle θ.
    n_spins : int
        Number of spins N.
    parity : {+1, -1}
        Even (+1) or odd (−1) cat.
    """
    ensure_x64()
    p = _check_parity(parity)
    n = _static_n(n_spins)
    return jnp.sqrt(2.0 * (1.0 + p * jnp.cos(jnp.asarray(theta, jnp.float64)) ** n))


def cat_state(theta, phi, n_spins: int, parity: int = 1) -> jax.Array:
    """Dicke amplitudes of |Cat±⟩ = (|θ,φ⟩ ± |θ,φ+π⟩)/𝒩± (Eqs. 6–7), complex128 of length N+1.

    Computed as the coherent amplitudes restricted to even (odd) n, times 2/𝒩±; the norm is
    taken from the vector itself, which stays accurate for the odd cat at tiny θ where
    1 − cos^N θ cancels.

    Parameters
    ----------
    theta, phi : float
        Angles of the coherent states (θ ∈ (0, π]; the odd cat needs θ > 0).
    n_spins : int
        Number of spins N.
    parity : {+1, -1}
        +1 for the even cat, −1 for the odd cat.
    """
    p = _check_parity(parity)
    psi = coherent_state(theta, phi, n_spins)
    n = _static_n(n_spins)
    keep = ((np.arange(n + 1) % 2) == (0 if p == 1 else 1))
    v = jnp.where(jnp.asarray(keep), psi, 0.0)
    return v / jnp.linalg.norm(v)


def boson_coherent_state(alpha, n_spins: int) -> jax.Array:
    """Bosonic coherent state |α⟩ on the N+1 Holstein–Primakoff Fock levels, truncated and renormalised.

    This is the initial state of seed 003, Fig. 3 (α = sqrt(2η/Γ₂) e^{-iπ/4}).

    Parameters
    ----------
    alpha : complex
        Coherent amplitude.
    n_spins : int
        Number of spins N (Fock levels 0 … N).
    """
    ensure_x64()
    n = _static_n(n_spins)
    k = jnp.arange(n + 1, dtype=jnp.float64)
    a = jnp.asarray(alpha, jnp.complex128)
    r = jnp.abs(a)
    logmag = k * jnp.log(jnp.where(r > 0, r, 1.0)) - 0.5 * gammaln(k + 1.0)
    mag = jnp.where(r > 0, jnp.exp(logmag - jnp.max(logmag)), jnp.where(k == 0, 1.0, 0.0))
    v = mag * jnp.exp(1j * k * jnp.angle(a))
    return v / jnp.linalg.norm(v)


def theta_from_amplitude(amplitude, n_spins):
    """θ = 2 arctan(|α|/√N): the spin coherent state with Holstein–Primakoff amplitude |α| = √N tan(θ/2)."""
    ensure_x64()
    if not isinstance(amplitude, jax.core.Tracer):
        check_real("amplitude", amplitude, minimum=0.0)
    return 2.0 * jnp.arctan(jnp.asarray(amplitude, jnp.float64) / jnp.sqrt(jnp.asarray(n_spins, jnp.float64)))


def amplitude_from_theta(theta, n_spins):
    """|α| = √N tan(θ/2) (inverse of :func:`theta_from_amplitude`)."""
    ensure_x64()
    return jnp.sqrt(jnp.asarray(n_spins, jnp.float64)) * jnp.tan(jnp.asarray(theta, jnp.float64) / 2.0)


def fidelity(psi, rho):
    """⟨ψ|ρ|ψ⟩ (ρ a density matrix, or a state vector: then |⟨ψ|φ⟩|²). Real float64."""
    ensure_x64()
    psi = jnp.asarray(psi)
    rho = jnp.asarray(rho)
    if rho.ndim == psi.ndim:
        return jnp.abs(jnp.vdot(psi, rho)) ** 2
    return jnp.real(jnp.einsum("...i,...ij,...j->...", psi.conj(), rho, psi))


def hp_amplitude(rho):
    r"""⟨a⟩ = Tr(ρ a) with the exact Holstein–Primakoff boson, a|n⟩ = √n |n−1⟩ on the Dicke ladder.

    Parameters
    ----------
    rho : array (..., N+1, N+1)
        Density matrix in the Dicke basis (excitation-number ordering).
    """
    ensure_x64()
    rho = jnp.asarray(rho)
    d = rho.shape[-1]
    sq = jnp.sqrt(jnp.arange(1, d, dtype=jnp.float64))
    sub = jnp.diagonal(rho, offset=-1, axis1=-2, axis2=-1)  # rho[n, n-1], n = 1..N
    return jnp.sum(sq * sub, axis=-1)
