"""Tuned scipy peer for the untruncated Leggett–Garg K3/threshold (issue 8, W5-full).

Independent of jaxlmg: the LMG Liouvillian with collective dephasing √γφ·Jz is assembled as
a sparse matrix on the whole Dicke space (5 non-zeros per row: tridiagonal H on each side plus
the diagonal -γφ(m-m′)²/2), restricted exactly to the spin-flip parity sectors (orthonormal
bases (|i⟩⟨j| ∓ |N-i⟩⟨N-j|)/√2), and propagated with ``scipy.sparse.linalg.expm_multiply``
(Al-Mohy–Higham truncated Taylor with scaling; cost ∝ ‖L‖₁·t sparse products). Same
instrument as jaxlmg: Q = sgn(Jz), ρ0 = |E0⟩⟨E0|, Lüders ½{Q,·}, Δt = π/(3ΔE). Threshold by
``scipy.optimize.brentq`` on a geometric bracket.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sl
import scipy.optimize as so
import scipy.sparse as sp
import scipy.sparse.linalg as spla


class FullLG:
    """Untruncated K3 at one (N, Γ/J) (units of J, ħ = 1); ``setup`` builds everything γ-independent."""

    def __init__(self, n: int, field: float):
        self.n, d = n, n + 1
        m = np.arange(d) - n / 2.0
        off = -field * np.sqrt(n / 2 * (n / 2 + 1) - m[:-1] * (m[:-1] + 1))
        h = sp.diags([off, -(2.0 / n) * m**2, off], [-1, 0, 1], format="csr")
        eye = sp.identity(d, format="csr")
        self.lh = (-1j * (sp.kron(eye, h) - sp.kron(h.T, eye))).tocsr()  # vec index i + d j
        self.dd = -0.5 * (np.tile(m, d) - np.repeat(m, d)) ** 2
        self.p_odd, self.p_even = self._bases(n)
        self.lh_odd = (self.p_odd.T @ self.lh @ self.p_odd).tocsr()
        self.lh_even = (self.p_even.T @ self.lh @ self.p_even).tocsr()
        self.d_odd = np.asarray((self.p_odd.T.multiply(self.p_odd.T)) @ self.dd).ravel()
        self.d_even = np.asarray((self.p_even.T.multiply(self.p_even.T)) @ self.dd).ravel()
        e, v = sl.eigh_tridiagonal(-(2.0 / n) * m**2, off, select="i", select_range=(0, 1))
        self.dt = np.pi / (3.0 * (e[1] - e[0]))
        self.q = np.sign(m)
        rho0 = np.outer(v[:, 0], v[:, 0])
        self.rho0_even = self.p_even.T @ rho0.T.ravel()
        self.x0 = self.p_odd.T @ (0.5 * (self.q[:, None] * rho0 + rho0 * self.q[None, :])).T.ravel()
        self.qv = self.p_odd.T @ np.diag(self.q).T.ravel()  # Tr[Q X] = ⟨vec Q, vec X⟩ (Q real)

    @staticmethod
    def _bases(n: int):
        """Sparse orthonormal bases (d², ·) of the spin-flip odd and even operators."""
        d = n + 1
        i, j = np.meshgrid(np.arange(d), np.arange(d), indexing="ij")
        a = (i + d * j).ravel()
        b = ((n - i) + d * (n - j)).ravel()
        pa, pb, self_ = a[a < b], b[a < b], a[a == b]  # self-paired: i = j = N/2 (N even), even sector
        k, s = pa.size, 1.0 / np.sqrt(2.0)
        cols = np.concatenate([np.arange(k), np.arange(k)])
        odd = sp.csr_matrix((np.concatenate([np.full(k, s), np.full(k, -s)]), (np.concatenate([pa, pb]), cols)),
                            shape=(d * d, k))
        even = sp.csr_matrix((np.concatenate([np.full(2 * k, s), np.ones(self_.size)]),
                              (np.concatenate([pa, pb, self_]), np.concatenate([cols, k + np.arange(self_.size)]))),
                             shape=(d * d, k + self_.size))
        return odd, even

    def _unvec_even(self, y):
        d = self.n + 1
        return (self.p_even @ y).reshape(d, d).T

    def k3(self, g: float, protocol: str = "stationary") -> float:
        lo = (self.lh_odd + sp.diags(g * self.d_odd)).tocsr()
        ys = spla.expm_multiply(lo, self.x0.astype(complex), start=0.0, stop=2 * self.dt, num=3, endpoint=True)
        c12, c13 = (self.qv @ ys[1]).real, (self.qv @ ys[2]).real
        if protocol == "stationary":
            return 2 * c12 - c13
        le = (self.lh_even + sp.diags(g * self.d_even)).tocsr()
        r1 = self._unvec_even(spla.expm_multiply(le * self.dt, self.rho0_even.astype(complex)))
        x1 = self.p_odd.T @ (0.5 * (self.q[:, None] * r1 + r1 * self.q[None, :])).T.ravel()
        c23 = (self.qv @ spla.expm_multiply(lo * self.dt, x1)).real
        return c12 + c23 - c13

    def threshold(self, protocol: str = "stationary", guess: float = 1e-5, xtol: float = 1e-16) -> tuple[float, int]:
        """(γφ*, K3 evaluations): geometric bracket walk from ``guess`` (factor 2), then brentq."""
        f = lambda g: self.k3(g, protocol) - 1.0
        a, fa = guess, f(guess)
        calls = 1
        b = a * (2.0 if fa > 0 else 0.5)
        fb = f(b)
        calls += 1
        while fa * fb > 0:
            a, fa = b, fb
            b = a * (2.0 if fa > 0 else 0.5)
            fb = f(b)
            calls += 1
        r = so.brentq(f, min(a, b), max(a, b), xtol=xtol, rtol=1e-12, full_output=True)
        return r[0], calls + r[1].function_calls
