"""Shared numpy/scipy physics for the scipy-based peers (no jaxlmg import).

Conventions follow the paper's Appendix I listing: H = -(2J/N)Jz² - 2ΓJx in the Dicke
basis m = -N/2 … N/2, Q = sgn(Jz) with Q|m=0⟩ = 0, ρ0 = |E0⟩⟨E0|, Δt = π/(3ΔE),
L[ρ] = -i[H, ρ] + γφ(JzρJz - ½{Jz², ρ}), stationary K3 = 2C12 - C13.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

NAN = float("nan")


def tridiagonal(n_spins: int, field: float):
    jt = n_spins / 2.0
    m = np.arange(-jt, jt + 1)
    d = -2.0 / n_spins * m**2
    e = -field * np.sqrt(jt * (jt + 1) - m[:-1] * (m[:-1] + 1))
    return d, e, m


def build_lmg(n_spins: int, field: float):
    """Dense Hamiltonian (the paper's build_lmg)."""
    d, e, m = tridiagonal(n_spins, field)
    return np.diag(d) + np.diag(e, 1) + np.diag(e, -1), m


def q_diag(m):
    """sgn(m) with sgn(0) = 0 (jaxlmg's Q). The paper's script writes ``sign(m) if |m| > 0.5
    else 0``, the same for the even N it runs but wrong for odd N (it zeroes m = ±1/2): that
    made every peer's odd-N K3 and threshold differ from jaxlmg (e.g. 1.6 % at N = 303,
    Γ/J = 0.9891, where an independent dense reference agrees with jaxlmg to 1e-12)."""
    return np.where(m == 0, 0.0, np.sign(m))


def truncated(energies, vecs, m):
    """Energies, Jz and Q projected on the given eigenvectors (columns)."""
    jz = vecs.T @ (m[:, None] * vecs)
    q = vecs.T @ (q_diag(m)[:, None] * vecs)
    return np.asarray(energies), jz, q


def doublet_quantities(n_spins, field, w, v, m):
    """ΔE, G01, J01, Q01², ηMF from the lowest eigenpairs (w ascending, v columns)."""
    v0, v1 = v[:, 0], v[:, 1]
    de = w[1] - w[0]
    g01 = 0.5 * (np.dot(v0 * m**2, v0) + np.dot(v1 * m**2, v1))
    j01 = abs(np.dot(v0 * m, v1))
    q01sq = np.dot(v0 * q_diag(m), v1) ** 2
    mstar = math.sqrt(max(1.0 - field**2, 0.0))
    eta = (n_spins * mstar) ** 2 / 2.0 / g01
    return de, g01, j01, q01sq, eta


# ---------------------------------------------------------------- Liouvillian (paper)
def liouvillian(H, Jz, g):
    """The paper's Liouvillian (column-stacking vec, kron products)."""
    d = H.shape[0]
    I = np.eye(d, dtype=complex)
    Lc = -1j * (np.kron(I, H.astype(complex)) - np.kron(H.T.astype(complex), I))
    LdL = Jz @ Jz
    Ld = g * (np.kron(Jz.astype(complex), Jz.astype(complex))
              - 0.5 * np.kron(LdL.astype(complex), I) - 0.5 * np.kron(I, LdL.T.astype(complex)))
    return Lc + Ld


def vec(r):
    return r.T.flatten()


def unvec(v, d):
    return v.reshape(d, d).T


# ---------------------------------------------------------------- threshold search
def find_threshold(f, g0, *, max_steps=60):
    """Smallest-scale root of f(γ) = K3(γ) - 1 found by a geometric walk from g0.

    f(0) ≤ 0 → NaN (no violation). The walk doubles/halves γ from g0 until the sign
    changes, then Brent's method refines to rtol 1e-12. Returns (root, n_evals, status)
    with status "ok", "no_violation" or "not_bracketed".
    """
    n = [0]

    def ff(g):
        n[0] += 1
        return f(g)

    if not np.isfinite(g0) or g0 <= 0:
        return NAN, n[0], "not_bracketed"
    if not ff(0.0) > 0:
        return NAN, n[0], "no_violation"
    g = g0
    fg = ff(g)
    if not np.isfinite(fg):
        return NAN, n[0], "not_bracketed"
    if fg > 0:
        lo = g
        for _ in range(max_steps):
            hi = 2.0 * lo
            fh = ff(hi)
            if not np.isfinite(fh):
                return NAN, n[0], "not_bracketed"
            if fh <= 0:
                break
            lo = hi
        else:
            return NAN, n[0], "not_bracketed"
    else:
        hi = g
        for _ in range(max_steps):
            lo = 0.5 * hi
            fl = ff(lo)
            if not np.isfinite(fl):
                return NAN, n[0], "not_bracketed"
            if fl > 0:
                break
            hi = lo
        else:
            return NAN, n[0], "not_bracketed"
    root = brentq(ff, lo, hi, xtol=1e-300, rtol=1e-12, maxiter=200)
    return root, n[0], "ok"


def threshold_guess(delta_e, jz):
    """Initial dephasing scale ΔE / G01 (truncated G01 from (PJzP)²)."""
    jz2 = jz @ jz
    return delta_e / (0.5 * (jz2[0, 0] + jz2[1, 1]))


class Extrapolation(dict):
    """Per-item timings of a subset plus a cost law, used by the worker to extrapolate."""


def fit_power_law_total(x_meas, t_meas, x_all, power):
    """Fit t = a + b·x^p (least squares, a, b ≥ 0) and return Σ t over x_all, with the
    measured items taken as measured and the rest predicted."""
    x_meas = np.asarray(x_meas, float)
    t_meas = np.asarray(t_meas, float)
    A = np.stack([np.ones_like(x_meas), x_meas**power], axis=1)
    coef, *_ = np.linalg.lstsq(A, t_meas, rcond=None)
    a, b = coef
    if b <= 0:  # degenerate fit: pure power law through the largest point
        a, b = 0.0, t_meas[np.argmax(x_meas)] / np.max(x_meas) ** power
    if a < 0:
        a, b = 0.0, float(np.sum(t_meas * x_meas**power) / np.sum(x_meas ** (2 * power)))
    meas = set(np.round(x_meas, 9).tolist())
    pred = sum(a + b * x**power for x in np.asarray(x_all, float) if round(float(x), 9) not in meas)
    return float(np.sum(t_meas) + pred), {"a": float(a), "b": float(b), "power": power}
