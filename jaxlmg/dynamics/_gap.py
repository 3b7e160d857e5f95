r"""Slowest decay rates of the parity-odd Liouvillian sector on the whole Dicke space.

In the Dicke basis the LMG Liouvillian with collective dephasing is a 5-point stencil on the
(m, m′) grid: -i(H⊗1 - 1⊗Hᵀ) (tridiagonal H) plus the diagonal -γφ(m-m′)²/2. We assemble it
as a scipy sparse matrix (5 non-zeros per row, never dense), restrict it to the spin-flip odd
sector with the orthonormal basis (|i⟩⟨j| - |N-i⟩⟨N-j|)/√2 (the Liouvillian commutes with
Π·Π, so the restriction is exact), and find the eigenvalues nearest a shift σ with
shift-invert Arnoldi (``scipy.sparse.linalg.eigs`` on a sparse LU of L - σ). Plain Arnoldi
on the action ("LR", largest real part) does not converge here: the spectrum spans
|Im λ| ≲ ‖H‖ ~ 10³ J while the decay rates of interest are ~10⁻³ J.

The default shift is iΔE - γφ·G01 (the level-B estimate of the |E0⟩⟨E1| eigenvalue); the
eigenvalue whose eigenvector overlaps most with |E0⟩⟨E1| is the doublet coherence mode.
Column stacking: vec(ρ)[i + d j] = ρ[i, j]. Convention: L|E0⟩⟨E1| = +iΔE|E0⟩⟨E1| at γφ = 0.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from .._model import _ladder_coefficients, _static_n


def _hamiltonian_sparse(n: int, field: float, coupling: float):
    d = n + 1
    m = np.arange(d) - n / 2.0
    off = -field * _ladder_coefficients(n)
    return sp.diags([off, -(2.0 * coupling / n) * m**2, off], [-1, 0, 1], format="csr"), m


def liouvillian_sparse(n_spins: int, field: float, dephasing: float, *, coupling: float = 1.0):
    """Sparse (d², d²) Liouvillian (column stacking) of H with collective dephasing √γφ·Jz."""
    n = _static_n(n_spins)
    h, m = _hamiltonian_sparse(n, float(field), float(coupling))
    d = n + 1
    eye = sp.identity(d, format="csr")
    lv = -1j * (sp.kron(eye, h) - sp.kron(h.T, eye))
    mi = np.tile(m, d)  # row index i of vec index i + d j
    mj = np.repeat(m, d)
    return (lv - sp.diags(0.5 * dephasing * (mi - mj) ** 2)).tocsc()


def odd_basis(n_spins: int):
    """Sparse (d², K) orthonormal basis of the spin-flip odd operators (Π X Π = -X)."""
    n = _static_n(n_spins)
    d = n + 1
    i, j = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
    a = (i + d * j).ravel()
    b = ((n - i) + d * (n - j)).ravel()
    keep = a < b
    a, b = a[keep], b[keep]
    k = a.size
    s = 1.0 / np.sqrt(2.0)
    rows = np.concatenate([a, b])
    cols = np.concatenate([np.arange(k), np.arange(k)])
    vals = np.concatenate([np.full(k, s), np.full(k, -s)])
    return sp.csr_matrix((vals, (rows, cols)), shape=(d * d, k))


def odd_liouvillian(n_spins: int, field: float, dephasing: float, *, coupling: float = 1.0):
    p = odd_basis(n_spins)
    return (p.T @ liouvillian_sparse(n_spins, field, dephasing, coupling=coupling) @ p).tocsc(), p


def _doublet(n: int, field: float, coupling: float):
    h, m = _hamiltonian_sparse(n, field, coupling)
    e, v = sl.eigh(h.toarray(), subset_by_index=[0, 1])
    return e, v, m


def odd_sector_rates(n_spins: int, field: float, dephasing: float, *, k: int = 8, sigma=None,
                     coupling: float = 1.0, dense: bool = False) -> dict:
    r"""Eigenvalues of the odd-sector Liouvillian nearest ``sigma`` and the doublet mode.

    Parameters
    ----------
    n_spins, field, dephasing : N, Γ/J, γφ (units of J).
    k : number of eigenvalues (shift-invert Arnoldi).
    sigma : complex shift; default iΔE - γφ·G01.
    dense : use a dense ``numpy.linalg.eig`` of the whole odd sector instead (reference, small N).

    Returns
    -------
    dict with ``eigenvalues`` (sorted by decay rate -Re λ), ``overlap`` with |E0⟩⟨E1|,
    ``doublet`` (the eigenvalue of largest overlap), ``doublet_rate`` = -Re of it,
    ``delta_e``, ``g01`` = ½(⟨E0|Jz²|E0⟩ + ⟨E1|Jz²|E1⟩), ``j01_sq`` = ⟨E0|Jz|E1⟩².
    """
    n = _static_n(n_spins)
    field, dephasing = float(field), float(dephasing)
    e, v, m = _doublet(n, field, coupling)
    de = e[1] - e[0]
    g01 = 0.5 * (np.sum(m**2 * v[:, 0] ** 2) + np.sum(m**2 * v[:, 1] ** 2))
    j01 = np.sum(m * v[:, 0] * v[:, 1])
    lodd, p = odd_liouvillian(n, field, dephasing, coupling=coupling)
    if sigma is None:
        sigma = 1j * de - dephasing * g01
    target = p.T @ np.outer(v[:, 0], v[:, 1]).T.ravel()  # vec(|E0⟩⟨E1|), column stacking
    target = target / np.linalg.norm(target)
    if dense:
        w, vec = np.linalg.eig(lodd.toarray())
        order = np.argsort(np.abs(w - sigma))[:k]
        w, vec = w[order], vec[:, order]
    else:
        lu = spla.splu(lodd - sigma * sp.identity(lodd.shape[0], format="csc"))
        op = spla.LinearOperator(lodd.shape, matvec=lu.solve, dtype=complex)
        # Started from |E0⟩⟨E1| (ARPACK's default start is random: the rate then moved in its last
        # digits from run to run, 4 of 4 runs at N = 370; now bitwise reproducible).
        mu, vec = spla.eigs(op, k=k, which="LM", tol=1e-12, v0=target.astype(complex))
        w = sigma + 1.0 / mu
    ov = np.abs(target.conj() @ vec) / np.linalg.norm(vec, axis=0)
    order = np.argsort(-w.real)
    w, ov = w[order], ov[order]
    best = int(np.argmax(ov))
    return dict(eigenvalues=w, overlap=ov, doublet=w[best], doublet_rate=-w[best].real, delta_e=de, g01=g01,
                j01_sq=j01**2, sigma=sigma)
