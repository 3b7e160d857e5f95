r"""The LMG model in the symmetric Dicke basis.

Basis ordering: index ``i = 0 … N`` is the Dicke state :math:`|j=N/2, m\rangle` with
:math:`m = -N/2 + i` (ascending :math:`m`; odd N gives half-integer m).

Hamiltonian (seed 001, Eq. 1, Kac normalisation)

.. math:: H = -\frac{2J}{N} J_z^2 - 2\Gamma J_x - 2h J_z

with ``coupling`` = J, ``field`` = Γ, ``bias`` = h (energies in units of J by default).
In this basis H is real symmetric tridiagonal: diagonal :math:`-(2J/N)m^2 - 2hm` and
off-diagonal :math:`-\Gamma\sqrt{j(j+1)-m(m+1)}` between m and m+1.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from ._config import ensure_x64
from ._validate import all_ok, check_n_spins, nan_unless, real_arg, safe


def _static_n(n_spins) -> int:
    ensure_x64()
    n = check_n_spins(n_spins)
    if n.ndim != 0:
        raise ValueError("n_spins must be a single integer here (operators have static shape)")
    return int(n)


def m_grid(n_spins: int) -> np.ndarray:
    """Jz eigenvalues m = -N/2 … N/2 (ascending), as a float64 numpy array of length N+1."""
    n = _static_n(n_spins)
    return np.arange(n + 1, dtype=np.float64) - n / 2.0


def _ladder_coefficients(n: int) -> np.ndarray:
    """⟨m+1|J+|m⟩ = sqrt(j(j+1) - m(m+1)) for m = -j … j-1."""
    j = n / 2.0
    m = np.arange(n, dtype=np.float64) - j
    return np.sqrt(np.maximum(j * (j + 1.0) - m * (m + 1.0), 0.0))


def jz(n_spins: int) -> Float[Array, "d d"]:
    ensure_x64()
    return jnp.diag(jnp.asarray(m_grid(n_spins)))


def jz2(n_spins: int) -> Float[Array, "d d"]:
    ensure_x64()
    return jnp.diag(jnp.asarray(m_grid(n_spins) ** 2))


def jplus(n_spins: int) -> Float[Array, "d d"]:
    """J+ (raises m): element [i+1, i] = sqrt(j(j+1) - m_i(m_i+1))."""
    ensure_x64()
    n = _static_n(n_spins)
    return jnp.diag(jnp.asarray(_ladder_coefficients(n)), -1)


def jminus(n_spins: int) -> Float[Array, "d d"]:
    """J- (lowers m) = (J+)ᵀ."""
    return jplus(n_spins).T


def jx(n_spins: int) -> Float[Array, "d d"]:
    """Jx = (J+ + J-)/2."""
    jp = jplus(n_spins)
    return 0.5 * (jp + jp.T)


def jy(n_spins: int):
    """Jy = (J+ - J-)/(2i) (complex Hermitian)."""
    jp = jplus(n_spins)
    return (jp - jp.T) / 2j


def sign_jz(n_spins: int, *, sgn0: float = 0.0) -> Float[Array, "d d"]:
    """Q = sgn(Jz). ``sgn0`` is the value given to m = 0 (even N only).

    The papers use sgn(0) = 0, which keeps Q exactly parity-odd; ``sgn0=1`` is the
    dichotomic convention of Sakamoto et al.
    """
    ensure_x64()
    m = m_grid(n_spins)
    s0, ok = real_arg("sgn0", sgn0)
    q = jnp.where(jnp.asarray(m) == 0, s0, jnp.sign(jnp.asarray(m)))
    return jnp.diag(nan_unless(ok, q))


def spin_flip_parity(n_spins: int) -> Float[Array, "d d"]:
    r"""Π = ∏_i σ^x_i = exp(iπ(J_x - N/2)): maps |m⟩ → |-m⟩ (real anti-identity).

    jaxlmg labels levels by their Π eigenvalue (+1 "even", -1 "odd"); the ground state
    at h = 0 is even.
    """
    ensure_x64()
    n = _static_n(n_spins)
    return jnp.eye(n + 1)[::-1]


def collective_parity(n_spins: int):
    r"""P = exp(iπJ_x) = i^N Π (complex; seed 001 §7.3). Same eigenvectors as Π."""
    n = _static_n(n_spins)
    return (1j ** n) * spin_flip_parity(n).astype(jnp.complex128)


def lmg_tridiagonal(n_spins: int, field, bias=0.0, *, coupling=1.0):
    """(diagonal, off-diagonal) of H for static ``n_spins``; differentiable in the rest.

    Parameters
    ----------
    n_spins : int
        N ≥ 1 (static: sets the dimension N+1).
    field, bias, coupling : float (scalars, may be traced)
        Γ ≥ 0, h (finite), J > 0. Invalid traced values give NaN matrices.
    """
    ensure_x64()
    n = _static_n(n_spins)
    g, ok_g = real_arg("field", field, minimum=0.0)
    h, ok_h = real_arg("bias", bias)
    c, ok_c = real_arg("coupling", coupling, minimum=0.0, strict=True)
    for name, x in (("field", g), ("bias", h), ("coupling", c)):
        if x.ndim != 0:
            raise ValueError(f"{name} must be a scalar here (use jax.vmap for batches); got shape {x.shape}")
    ok = all_ok(ok_g, ok_h, ok_c)
    m = jnp.asarray(m_grid(n))
    diag = -(2.0 * c / n) * m**2 - 2.0 * h * m
    off = -g * jnp.asarray(_ladder_coefficients(n))
    return nan_unless(ok, diag), nan_unless(ok, off)


def lmg_hamiltonian(n_spins: int, field, bias=0.0, *, coupling=1.0) -> Float[Array, "d d"]:
    """Dense H = -(2J/N) Jz² - 2Γ Jx - 2h Jz."""
    d, e = lmg_tridiagonal(n_spins, field, bias, coupling=coupling)
    h = jnp.diag(d) + jnp.diag(e, 1) + jnp.diag(e, -1)
    return jnp.where(jnp.isnan(d[0]) | jnp.isnan(e[0]), jnp.nan, h)  # invalid traced input: all NaN


def mean_field_order_parameter(field, *, coupling=1.0):
    """m* = sqrt(1 - Γ²/J²) in the ordered phase (Γ < J), 0 otherwise.

    ``field`` Γ ≥ 0 and ``coupling`` J > 0 (arrays, may be traced; invalid traced
    values give NaN). At Γ = J the derivative is infinite (square-root edge).
    """
    ensure_x64()
    g, ok_g = real_arg("field", field, minimum=0.0)
    c, ok_c = real_arg("coupling", coupling, minimum=0.0, strict=True)
    ok = all_ok(ok_g, ok_c)
    r = safe(ok, g, 0.5) / safe(ok, c, 1.0)
    x = 1.0 - r**2
    ordered = x > 0
    # double where: no NaN gradient from sqrt at the edge or in the disordered phase
    m = jnp.where(ordered, jnp.sqrt(jnp.where(ordered, x, 1.0)), 0.0)
    return nan_unless(ok, m)
