r"""Matrix-free Lindblad action on (N+1)×(N+1) density matrices in the Dicke basis.

    L(ρ) = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ}) + γφ (Jz ρ Jz - ½{Jz², ρ})

with H and L_k :class:`~jaxlmg.dynamics.Banded` operators (ħ = 1). Collective dephasing
L = √γφ·Jz is applied in its exact diagonal form: in the Dicke basis it multiplies ρ_{mm′}
by -γφ(m - m′)²/2, so it costs O(d²) and adds no bandwidth. Nothing of size d⁴ is formed:
one action costs O(bandwidth·d²).
"""

from __future__ import annotations

import jax.numpy as jnp

from .._model import m_grid


def dephasing_exponent(n_spins: int):
    """(m - m′)²/2 on the Dicke grid: collective dephasing is ρ_{mm′} → -γφ·this·ρ_{mm′}."""
    m = jnp.asarray(m_grid(n_spins))
    return 0.5 * (m[:, None] - m[None, :]) ** 2


def dissipator(rho, op):
    """D[L]ρ = LρL† - ½{L†L, ρ} for a banded L (matrix-free)."""
    ld = op.dagger()
    ldl = ld @ op
    return op.left(ld.right(rho)) - 0.5 * (ldl.left(rho) + ldl.right(rho))


def lindblad_action(rho, hamiltonian, jumps=(), dephasing=0.0):
    """L(ρ) (see module docstring). ``rho`` (d, d) complex; ``dephasing`` = γφ of L = √γφ·Jz."""
    rho = jnp.asarray(rho, jnp.complex128)
    out = -1j * (hamiltonian.left(rho) - hamiltonian.right(rho))
    for op in jumps:
        out = out + dissipator(rho, op)
    d = rho.shape[-1]
    m = jnp.arange(d, dtype=jnp.float64)  # (m - m′)² only needs differences
    out = out - dephasing * 0.5 * (m[:, None] - m[None, :]) ** 2 * rho
    return out
