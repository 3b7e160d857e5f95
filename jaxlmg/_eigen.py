"""Lowest-k eigenpairs of a real symmetric tridiagonal matrix, differentiable.

Primal (``method``): ``"bisection"`` — bisection + inverse iteration
(``jax.scipy.linalg.eigh_tridiagonal`` with ``select='i'``), O(n·k) per matrix, quick to
compile; ``"laguerre"`` — the pure-lax Laguerre + twisted-factorisation kernel of
:mod:`jaxlmg._tridiag`, faster and more accurate on large batches but slower to
compile; ``"dense"`` — ``eigh`` when most of the spectrum is wanted. Derivatives: a custom JVP that needs only the k computed pairs —

    dλ_i = v_iᵀ dT v_i
    dv_i = Σ_{j<k, j≠i} v_j (v_jᵀ r_i)/(λ_i-λ_j)  −  P_⊥ (T-λ_i)⁻¹ P_⊥ r_i,   r_i = dT v_i

where P_⊥ projects out the k known eigenvectors, so the last term is a tridiagonal
solve that is well conditioned as long as λ_{k-1} < λ_k (the cut does not split a
degenerate cluster). The rule is written in differentiable operations, so higher
derivatives work too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jax.scipy.linalg import eigh_tridiagonal


METHODS = ("bisection", "laguerre", "dense")


def _primal(d, e, k: int, method: str):
    n = d.shape[-1]
    if n == 1:
        return d[:1], jnp.ones((1, 1), d.dtype)
    if method == "laguerre":
        from ._tridiag import lowest_eigenpairs

        return lowest_eigenpairs(d, e, k)  # sign convention already applied
    if method == "dense":
        t = jnp.diag(d) + jnp.diag(e, 1) + jnp.diag(e, -1)
        w, v = jnp.linalg.eigh(t)
        w, v = w[:k], v[:, :k]
    else:
        w, v = eigh_tridiagonal(d, e, eigvals_only=False, select="i", select_range=(0, k - 1))
    # Deterministic sign: the component sum is non-negative (Perron vectors positive).
    s = jnp.where(jnp.sum(v, axis=0) < 0, -1.0, 1.0)
    return w, v * s


def _tmul(d, e, x):
    """T @ x for tridiagonal T = (d, e), x of shape (n, k)."""
    y = d[:, None] * x
    y = y.at[:-1].add(e[:, None] * x[1:])
    y = y.at[1:].add(e[:, None] * x[:-1])
    return y


@functools.partial(jax.custom_jvp, nondiff_argnums=(2, 3))
def tridiagonal_lowest(d, e, k: int, method: str = "bisection"):
    """Lowest ``k`` eigenpairs (ascending) of the symmetric tridiagonal (d, e).

    Returns ``(w, v)`` with ``w`` of shape (k,) and ``v`` of shape (n, k) (columns
    are eigenvectors, sign fixed so that each column sums to a non-negative number).
    """
    return _primal(d, e, k, method)


@tridiagonal_lowest.defjvp
def _tridiagonal_lowest_jvp(k, method, primals, tangents):
    d, e = primals
    dd, de = tangents
    w, v = tridiagonal_lowest(d, e, k, method)
    n = d.shape[-1]
    if n == 1:
        return (w, v), (dd[:1], jnp.zeros_like(v))
    r = _tmul(dd, de, v)  # dT v, (n, k)
    dw = jnp.sum(v * r, axis=0)
    # Known-subspace part.
    c = v.T @ r  # c[j, i] = v_jᵀ dT v_i
    gaps = w[None, :] - w[:, None]  # gaps[j, i] = λ_i - λ_j
    off = ~jnp.eye(k, dtype=bool)
    safe = jnp.where(off, gaps, 1.0)
    coef = jnp.where(off, c / safe, 0.0)
    dv_known = v @ coef
    # Complement part: solve (T - λ_i + δ) x = -P⊥ r_i, then project.
    r_perp = r - v @ c
    scale = jnp.max(jnp.abs(d)) + 2.0 * jnp.max(jnp.abs(e)) + 1.0
    delta = 1e3 * jnp.finfo(d.dtype).eps * lax.stop_gradient(scale)
    diag = d[None, :] - w[:, None] + delta  # (k, n)
    dl = jnp.broadcast_to(jnp.pad(e, (1, 0))[None, :], (k, n))
    du = jnp.broadcast_to(jnp.pad(e, (0, 1))[None, :], (k, n))
    x = lax.linalg.tridiagonal_solve(dl, diag, du, (-r_perp.T)[:, :, None])[:, :, 0].T  # (n, k)
    x = x - v @ (v.T @ x)
    return (w, v), (dw, dv_known + x)


def _jvp_core(d, e, w, v, dd, de, k):
    """Tangents (dw, dv) of the lowest-k eigenpairs (see the module docstring)."""
    n = d.shape[-1]
    if n == 1:
        return dd[:1], jnp.zeros_like(v)
    r = _tmul(dd, de, v)
    dw = jnp.sum(v * r, axis=0)
    c = v.T @ r
    gaps = w[None, :] - w[:, None]
    off = ~jnp.eye(k, dtype=bool)
    safe = jnp.where(off & (gaps != 0), gaps, 1.0)
    coef = jnp.where(off & (gaps != 0), c / safe, 0.0)
    dv_known = v @ coef
    r_perp = r - v @ c
    scale = jnp.max(jnp.abs(d)) + 2.0 * jnp.max(jnp.abs(e)) + 1.0
    delta = 1e3 * jnp.finfo(d.dtype).eps * lax.stop_gradient(scale)
    diag = d[None, :] - w[:, None] + delta
    dl = jnp.broadcast_to(jnp.pad(e, (1, 0))[None, :], (k, n))
    du = jnp.broadcast_to(jnp.pad(e, (0, 1))[None, :], (k, n))
    x = lax.linalg.tridiagonal_solve(dl, diag, du, (-r_perp.T)[:, :, None])[:, :, 0].T
    x = x - v @ (v.T @ x)
    return dw, dv_known + x


@functools.partial(jax.custom_jvp, nondiff_argnums=(2,))
def eigenvalues_dd(d, e, k: int, n_valid):
    """Lowest ``k`` eigenvalues of the first ``n_valid`` rows of (d, e) as
    ``(w_hi, w_lo)``: eigenvalue = w_hi + w_lo to far below one ulp of w_hi
    (deterministic Sturm-certified Laguerre + twisted Rayleigh correction, see
    :func:`jaxlmg._tridiag.lowest_eigenvalues_dd`).

    Rows ``>= n_valid`` must be decoupled and lie above the spectrum; the result is
    bitwise independent of their number. Tangents: Hellmann–Feynman dλ = vᵀ dT v for
    ``w_hi`` (v from a twisted factorisation), zero for ``w_lo``. Eigenvectors: use
    :func:`jaxlmg._tridiag.twisted_pass` at (w_hi, w_lo) (differentiable as it is).
    """
    from ._tridiag import lowest_eigenvalues_dd

    return lowest_eigenvalues_dd(d, e, k, n_valid)


@eigenvalues_dd.defjvp
def _eigenvalues_dd_jvp(k, primals, tangents):
    from ._tridiag import twisted_pass

    d, e, n_valid = primals
    dd, de, _ = tangents
    w_hi, w_lo = eigenvalues_dd(d, e, k, n_valid)
    v = twisted_pass(d, e, w_hi, w_lo, n_valid)[0]
    valid = jnp.arange(d.shape[-1]) < n_valid
    dd = jnp.where(valid, dd, 0.0)
    de = jnp.where(valid[1:] & valid[:-1], de, 0.0)
    dw = jnp.sum(v * _tmul(dd, de, v), axis=0)
    return (w_hi, w_lo), (dw, jnp.zeros_like(w_lo))
