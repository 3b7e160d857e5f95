r"""Banded collective-spin operators on the symmetric Dicke space (matrix-free).

A :class:`Banded` operator stores its non-zero diagonals: ``bands[j, i] = A[i, i + offsets[j]]``
(zero where ``i + offset`` leaves [0, d)), d = N + 1, Dicke index i ↔ m = -N/2 + i (ascending m,
as in ``jaxlmg._model``). Jz is diagonal, J± have one off-diagonal, J₋² two below, the LMG
Hamiltonian H = -(2J/N)Jz² - 2ΓJx - 2hJz is tridiagonal. Products and sums stay banded, so
A·ρ and ρ·A cost O(bandwidth·d²) instead of O(d³), and no operator or superoperator is ever
formed densely. ``offsets`` is static (part of the pytree structure); ``bands`` is a traced
array, so operators built from a traced ``field`` or rate are jit/vmap/grad compatible.
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from .._config import ensure_x64
from .._model import _ladder_coefficients, _static_n, m_grid


def _shift(v, k: int):
    """w[i] = v[i + k] along the first axis (zero padded)."""
    if k == 0:
        return v
    z = jnp.zeros((abs(k),) + v.shape[1:], v.dtype)
    if k > 0:
        return jnp.concatenate([v[k:], z], axis=0)
    return jnp.concatenate([z, v[:k]], axis=0)


class Banded(eqx.Module):
    """A d×d operator given by its diagonals (see module docstring)."""

    bands: Array  # (len(offsets), d), real or complex
    offsets: tuple = eqx.field(static=True)

    @property
    def dim(self) -> int:
        return self.bands.shape[-1]

    # ---- algebra -------------------------------------------------------------------------
    def __add__(self, other: "Banded") -> "Banded":
        offs = tuple(sorted(set(self.offsets) | set(other.offsets)))
        dt = jnp.result_type(self.bands, other.bands)
        out = []
        for k in offs:
            b = jnp.zeros(self.dim, dt)
            if k in self.offsets:
                b = b + self.bands[self.offsets.index(k)]
            if k in other.offsets:
                b = b + other.bands[other.offsets.index(k)]
            out.append(b)
        return Banded(jnp.stack(out), offs)

    def __sub__(self, other: "Banded") -> "Banded":
        return self + other.scale(-1.0)

    def scale(self, c) -> "Banded":
        return Banded(self.bands * c, self.offsets)

    def __mul__(self, c) -> "Banded":
        return self.scale(c)

    __rmul__ = __mul__

    def __matmul__(self, other: "Banded") -> "Banded":
        """Operator product A·B (band offsets add)."""
        acc: dict[int, Array] = {}
        for i, k in enumerate(self.offsets):
            for j, l in enumerate(other.offsets):
                # (AB)[r, r+k+l] = A[r, r+k] B[r+k, r+k+l]
                b = self.bands[i] * _shift(other.bands[j], k)
                acc[k + l] = acc.get(k + l, 0.0) + b
        offs = tuple(sorted(k for k in acc if abs(k) < self.dim))
        return Banded(jnp.stack([jnp.broadcast_to(acc[k], (self.dim,)) for k in offs]), offs)

    def dagger(self) -> "Banded":
        """Hermitian conjugate: A†[r, r+k] = conj(A[r+k, r])."""
        offs = tuple(sorted(-k for k in self.offsets))
        bands = [jnp.conj(_shift(self.bands[self.offsets.index(-k)], k)) for k in offs]
        return Banded(jnp.stack(bands), offs)

    # ---- actions on dense (d, d) matrices -------------------------------------------------
    def left(self, x):
        """A @ x for x of shape (d, ...)."""
        out = 0.0
        for i, k in enumerate(self.offsets):
            b = self.bands[i].reshape((-1,) + (1,) * (x.ndim - 1))
            out = out + b * _shift(x, k)
        return out

    def right(self, x):
        """x @ A for x of shape (d, d)."""
        out = 0.0
        for i, k in enumerate(self.offsets):
            # (xA)[:, c] = Σ_k x[:, c-k] A[c-k, c] = shift_{-k}(x * band_k)
            out = out + _shift((x * self.bands[i][None, :]).T, -k).T
        return out

    def dense(self):
        d = self.dim
        return self.left(jnp.eye(d, dtype=self.bands.dtype))


def _diag(values) -> Banded:
    return Banded(jnp.asarray(values)[None, :], (0,))


def jz(n_spins: int) -> Banded:
    """Jz = diag(m)."""
    ensure_x64()
    return _diag(jnp.asarray(m_grid(n_spins)))


def jplus(n_spins: int) -> Banded:
    """J+ (raises m): J+[i+1, i] = sqrt(j(j+1) - m_i(m_i+1)), offset -1."""
    ensure_x64()
    n = _static_n(n_spins)
    c = np.concatenate([[0.0], _ladder_coefficients(n)])  # band[-1][i] = A[i, i-1] = c_{i-1}
    return Banded(jnp.asarray(c)[None, :], (-1,))


def jminus(n_spins: int) -> Banded:
    """J- = (J+)†, offset +1."""
    return jplus(n_spins).dagger()


def jx(n_spins: int) -> Banded:
    return (jplus(n_spins) + jminus(n_spins)).scale(0.5)


def identity(n_spins: int) -> Banded:
    ensure_x64()
    return _diag(jnp.ones(_static_n(n_spins) + 1))


def lmg_hamiltonian(n_spins: int, field, bias=0.0, *, coupling=1.0) -> Banded:
    """H = -(2J/N) Jz² - 2Γ Jx - 2h Jz as a tridiagonal :class:`Banded` (differentiable in field, bias)."""
    ensure_x64()
    n = _static_n(n_spins)
    m = jnp.asarray(m_grid(n))
    diag = -(2.0 * coupling / n) * m**2 - 2.0 * bias * m
    c = jnp.asarray(_ladder_coefficients(n))
    up = jnp.concatenate([-field * c, jnp.zeros(1)])  # H[i, i+1] = -Γ c_i
    lo = jnp.concatenate([jnp.zeros(1), -field * c])  # H[i, i-1] = -Γ c_{i-1}
    return Banded(jnp.stack([lo, diag, up]), (-1, 0, 1))
