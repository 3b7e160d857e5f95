"""Static sweep basis: eigenbasis of the unbiased LMG Hamiltonian H0 and Jz in it (numpy, once per (N, Γ))."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._model import _ladder_coefficients, m_grid


class SweepBasis(NamedTuple):
    """Everything the exact-exponential splitting needs, for one (N, Γ, levels).

    ``energies`` (K,) eigenvalues of H0 = H(h = 0), ascending; ``vectors`` (d, K) the
    eigenvectors in the Dicke basis; ``z`` (K,) eigenvalues of the (projected) Jz;
    ``rotation`` (K, K) maps H0-eigenbasis coordinates c to Jz-eigenbasis coordinates
    y = rotation @ c; ``jz`` (K, K) Jz in the H0 eigenbasis; ``side_neg`` / ``side_pos``
    (K, K) projectors on m < 0 / m > 0 (m = 0 counted ½) in the H0 eigenbasis.
    With ``levels = None`` (full Dicke space) y are the Dicke amplitudes and z = m.
    """

    energies: np.ndarray
    vectors: np.ndarray
    z: np.ndarray
    rotation: np.ndarray
    jz: np.ndarray
    side_neg: np.ndarray
    side_pos: np.ndarray
    m: np.ndarray


def _h0_eigen(n: int, field: float, coupling: float):
    """All eigenpairs of H0 by spin-flip parity blocks (so the tunnel doublet is resolved)."""
    m = m_grid(n)
    d = n + 1
    diag = -(2.0 * coupling / n) * m**2
    off = -field * _ladder_coefficients(n)
    h = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    if d == 1:
        return np.array([diag[0]]), np.ones((1, 1))
    # Orthonormal (anti)symmetric combinations (|m> ± |-m>)/√2, m > 0, plus |0> (even parity).
    cols_s, cols_a = [], []
    for i in range(d // 2):
        j = d - 1 - i
        e = np.zeros(d)
        e[i] = e[j] = 1 / np.sqrt(2)
        cols_s.append(e)
        a = np.zeros(d)
        a[j], a[i] = 1 / np.sqrt(2), -1 / np.sqrt(2)
        cols_a.append(a)
    if d % 2 == 1:
        e = np.zeros(d)
        e[d // 2] = 1.0
        cols_s.append(e)
    qs, qa = np.array(cols_s).T, np.array(cols_a).T
    ws, vs = np.linalg.eigh(qs.T @ h @ qs)
    wa, va = np.linalg.eigh(qa.T @ h @ qa)
    w = np.concatenate([ws, wa])
    v = np.concatenate([qs @ vs, qa @ va], axis=1)
    order = np.argsort(w, kind="stable")
    return w[order], v[:, order]


@functools.lru_cache(maxsize=32)
def sweep_basis(n: int, field: float, coupling: float, levels: int | None) -> SweepBasis:
    """The (cached) basis of :class:`SweepBasis` for N spins, Γ = ``field``, K = ``levels``."""
    w, v = _h0_eigen(n, field, coupling)
    m = m_grid(n)
    d = n + 1
    k = d if levels is None else int(levels)
    w, v = w[:k], v[:, :k]
    jz = v.T @ (m[:, None] * v)
    if k == d:
        z, rot = m.copy(), v.copy()  # y = V c are the Dicke amplitudes
    else:
        z, u = np.linalg.eigh(jz)
        rot = u.T
    neg = np.where(m < 0, 1.0, np.where(m == 0, 0.5, 0.0))
    pos = np.where(m > 0, 1.0, np.where(m == 0, 0.5, 0.0))
    side_neg = v.T @ (neg[:, None] * v)
    side_pos = v.T @ (pos[:, None] * v)
    return SweepBasis(w, v, z, rot, jz, side_neg, side_pos, m)
