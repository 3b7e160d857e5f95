"""Lowest-k eigenpairs of real symmetric tridiagonal matrices, without LAPACK.

``lowest_eigenpairs(d, e, k)`` (one matrix) and ``lowest_eigenpairs_batched(d, e, k)``
(leading batch axis) are pure-``lax`` kernels with static shapes. ``jax.vmap`` of
``lowest_eigenpairs`` dispatches (``custom_vmap``) to the batched kernel, which keeps
the rows on the leading axis so every sweep reads contiguous memory.

1. **Eigenvalues** — safeguarded Laguerre iteration on ``p(x) = det(T - x)``,
   evaluated with the Sturm/LDLᵀ pivot recurrence ``q_i = d_i - x - e_{i-1}²/q_{i-1}``
   (one division per row). The same sweep gives the inertia count and, through the
   differentiated recurrence, ``g = p'/p`` and ``h = g² - p''/p``. For a real-rooted
   polynomial the two Laguerre points of a probe ``x`` never pass the neighbouring
   roots, so every probe yields rigorous bounds ``L+(x) <= λ_c`` and
   ``L-(x) >= λ_{c-1}`` (``c`` = number of eigenvalues below ``x``). Each lane (one per
   wanted eigenvalue) keeps an inertia bracket updated with the probes and Laguerre
   bounds of *all* lanes; a lane whose probe has count ``i`` (or ``i+1``) takes the
   monotone, cubically convergent Laguerre step towards ``λ_i``; otherwise it
   multisects its bracket. As with bisection, the i-th output is the i-th eigenvalue.
   The initial upper bound is the k-th smallest Gershgorin row bound
   ``d_j + |e_{j-1}| + |e_j|`` (Courant-Fischer on coordinate subspaces), so padding
   rows far above the spectrum do not slow the search down.
2. **Eigenvectors** — twisted factorisation (Parlett-Dhillon, LAPACK ``dlar1v``):
   forward and backward pivots at the computed ``λ``, twist index ``r = argmin |γ_r|``,
   outward product recurrence, and the Rayleigh-quotient correction
   ``λ += γ_r/‖z‖²``. Columns whose eigenvalues are closer than ``sqrt(eps)·‖T‖``
   (clusters, e.g. exact degeneracies of split matrices) are recomputed by two steps
   of inverse iteration with the LDLᵀ factors from a fixed pseudo-random start (a
   ``while_loop`` that runs zero times unless some matrix of the batch has a cluster);
   finally all k columns are orthonormalised by modified Gram-Schmidt.
3. Column signs: component sum ``>= 0`` (as in ``jaxlmg._eigen``).

Off-diagonals with ``|e_i| <= eps·‖T‖`` are treated as exact zeros (splitting).

The deterministic h = 0 kernels further down (``fast_lowest``, ``twisted_pass``,
``rayleigh_delta``: bitwise independent of padding and batch) are written for one
matrix; under ``vmap`` they run as one "lanes-minor" kernel with the matrices on the
innermost axis (see the section "lanes-minor layout").
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

__all__ = ["lowest_eigenpairs", "lowest_eigenpairs_batched"]

_UNROLL = 8


# --------------------------------------------------------------------------- sweeps
# Layout: rows on axis 0, matrices on axis 1: d, e2p of shape (n, B); shifts (B, k).


def _laguerre_sweep(d, e2p, x, pivmin):
    """count (#eigenvalues < x, as float), g = p'/p, h = g² - p''/p at shifts x (B, k).

    ``e2p[i] = e_{i-1}²`` (``e2p[0] = 0``). A pivot hitting the pivmin safeguard makes
    g (and h) NaN: the count stays valid, the derivatives do not.
    """
    z = jnp.zeros_like(x)
    pm = pivmin[:, None]

    def step(carry, row):
        inv, r, s, g, h, cnt = carry
        di, e2 = row
        t = e2[:, None] * inv
        q = (di[:, None] - x) - t
        qp = t * r - 1.0
        qpp = t * (s - 2.0 * r * r)
        small = jnp.abs(q) < pm
        q = jnp.where(small, -pm, q)
        cnt = cnt + jnp.where(q < 0, 1.0, 0.0)
        inv = 1.0 / q
        r = jnp.where(small, jnp.nan, qp * inv)
        s = qpp * inv
        return (inv, r, s, g + r, h + (r * r - s), cnt), None

    (_, _, _, g, h, cnt), _ = lax.scan(step, (z, z, z, z, z, z), (d, e2p), unroll=_UNROLL)
    return cnt, g, h


def _count_sweep(d, e2p, x, pivmin):
    """Number of eigenvalues < x (float), plain Sturm recurrence (cheapest sweep)."""
    pm = pivmin[:, None]

    def step(carry, row):
        q, cnt = carry
        di, e2 = row
        q = (di[:, None] - x) - e2[:, None] / q
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        return (q, cnt + jnp.where(q < 0, 1.0, 0.0)), None

    init = (jnp.full_like(x, jnp.inf), jnp.zeros_like(x))
    (_, cnt), _ = lax.scan(step, init, (d, e2p), unroll=_UNROLL)
    return cnt


def _isolate(d, e2p, k, gl, hi0, tol, pivmin, max_iter):
    """Multisection with Sturm counts shared between lanes until every lane's bracket
    [lo, hi] contains exactly one eigenvalue, λ_i (count(lo) = i, count(hi) = i+1)."""
    n, nb = d.shape
    idx = jnp.arange(k)
    lo = jnp.broadcast_to(gl[:, None], (nb, k))
    hi = jnp.broadcast_to(hi0[:, None], (nb, k))
    clo = jnp.zeros((nb, k), jnp.int32)
    chi = jnp.full((nb, k), n, jnp.int32)

    def cond(st):
        it, lo, hi, clo, chi = st
        ok = ((clo == idx) & (chi == idx + 1)) | (hi - lo <= tol[:, None])
        return (it < max_iter) & ~jnp.all(ok)

    def body(st):
        it, lo, hi, clo, chi = st
        same = (lo[:, :, None] == lo[:, None, :]) & (hi[:, :, None] == hi[:, None, :])
        rank = jnp.sum(same & (idx[None, None, :] < idx[None, :, None]), axis=2)
        size = jnp.sum(same, axis=2)
        x = lo + (hi - lo) * ((rank + 1.0) / (size + 1.0))
        c = _count_sweep(d, e2p, x, pivmin).astype(jnp.int32)
        below = c[:, None, :] <= idx[None, :, None]  # probe j below λ_i
        lo = jnp.maximum(lo, jnp.max(jnp.where(below, x[:, None, :], -jnp.inf), axis=2))
        clo = jnp.maximum(clo, jnp.max(jnp.where(below, c[:, None, :], -1), axis=2))
        hi = jnp.minimum(hi, jnp.min(jnp.where(below, jnp.inf, x[:, None, :]), axis=2))
        chi = jnp.minimum(chi, jnp.min(jnp.where(below, n + 1, c[:, None, :]), axis=2))
        return it + 1, lo, hi, clo, chi

    st = (jnp.int32(0), lo, hi, clo, chi)
    it, lo, hi, clo, chi = lax.while_loop(cond, body, st)
    return lo, hi, it


def _pivots(d, e2p, lam, floor, reverse=False):
    """All LDLᵀ pivots of T - lam (forward) or UDUᵀ pivots (reverse=True): (n, B, k).

    For reverse, ``e2p[i]`` must be the squared coupling to row i+1 (0 at the end).
    """
    fl = floor[:, None]

    def step(qprev, row):
        di, e2 = row
        q = (di[:, None] - lam) - e2[:, None] / qprev
        q = jnp.where(jnp.abs(q) < fl, -fl, q)
        return q, q

    init = jnp.full_like(lam, jnp.inf)
    _, q = lax.scan(step, init, (d, e2p), reverse=reverse, unroll=_UNROLL)
    return q


# ---------------------------------------------------------------------- eigenvalues


def _eigenvalues(d, e2p, k, lo0, hi0, tol, pivmin, max_iter):
    n, nb = d.shape
    idx = jnp.arange(k)
    nf = float(n)
    # Start in the middle of the isolating brackets: λ_i is the nearest root there.
    x0 = 0.5 * (lo0 + hi0)
    tol = tol[:, None]

    def laguerre(x, g, h):
        s = jnp.sqrt(jnp.maximum((nf - 1.0) * (nf * h - g * g), 0.0))
        den_p = g - s  # < 0 -> point to the right
        den_m = g + s  # > 0 -> point to the left
        lp = x - nf / jnp.where(den_p < 0, den_p, -1.0)
        lm = x - nf / jnp.where(den_m > 0, den_m, 1.0)
        okp = (den_p < 0) & (lp >= x) & (lp < jnp.inf)
        okm = (den_m > 0) & (lm <= x) & (lm > -jnp.inf)
        return okp, jnp.where(okp, lp, x), okm, jnp.where(okm, lm, x)

    def cond(st):
        it, _, _, _, done, _ = st
        return (it < max_iter) & ~jnp.all(done)

    def body(st):
        it, lo, hi, x, done, best = st
        cnt, g, h = _laguerre_sweep(d, e2p, x, pivmin)
        cnt = cnt.astype(jnp.int32)
        okp, lp, okm, lm = laguerre(x, g, h)
        # Bounds from every probe j (axis 2) for every target i (axis 1).
        below = cnt[:, None, :] <= idx[None, :, None]
        lo = jnp.maximum(lo, jnp.max(jnp.where(below, lp[:, None, :], -jnp.inf), axis=2))
        hi = jnp.minimum(hi, jnp.min(jnp.where(below, jnp.inf, lm[:, None, :]), axis=2))
        hi = jnp.maximum(hi, lo)
        # Own Laguerre step when the probe has λ_i as its right/left neighbour.
        right = (cnt == idx) & okp
        left = (cnt == idx + 1) & okm
        step_pt = jnp.where(right, lp, lm)
        stepped = right | left
        conv = stepped & (jnp.abs(step_pt - x) <= tol)
        # Multisection for the rest: lanes sharing a bracket spread over it.
        same = (lo[:, :, None] == lo[:, None, :]) & (hi[:, :, None] == hi[:, None, :])
        rank = jnp.sum(same & (idx[None, None, :] < idx[None, :, None]), axis=2)
        size = jnp.sum(same, axis=2)
        ms = lo + (hi - lo) * ((rank + 1.0) / (size + 1.0))
        x_new = jnp.where(stepped, jnp.clip(step_pt, lo, hi), ms)
        done_new = done | conv | (hi - lo <= tol)
        best = jnp.where(done, best, jnp.where(conv, step_pt, 0.5 * (lo + hi)))
        x_new = jnp.where(done, x, x_new)
        return it + 1, lo, hi, x_new, done_new, best

    st = (jnp.int32(0), lo0, hi0, x0, jnp.zeros((nb, k), bool), 0.5 * (lo0 + hi0))
    it, lo, hi, x, done, best = lax.while_loop(cond, body, st)
    return best, it


# --------------------------------------------------------------------- eigenvectors


def _colsum(x):
    """Sum over axis 0 as a scan (XLA:CPU reductions over the leading axis of large
    3-d arrays fused with producers were measured to be very slow)."""
    return lax.scan(lambda c, xi: (c + xi, None), jnp.zeros(x.shape[1:], x.dtype), x,
                    unroll=_UNROLL)[0]


def _mgs(v):
    """Modified Gram-Schmidt on the columns of v (n, B, k), in order."""
    k = v.shape[-1]
    vt = jnp.moveaxis(v, -1, 0)  # (k, n, B): contiguous columns
    cols = []
    for j in range(k):
        x = vt[j]
        for c in cols:
            x = x - _colsum(c * x) * c
        x = x * lax.rsqrt(_colsum(x * x))
        cols.append(x)
    return jnp.stack(cols, axis=-1)


def _eigenvectors(d, e, e2p, lam, scale, pivmin):
    n, nb = d.shape
    k = lam.shape[-1]
    dt = d.dtype
    eps = jnp.finfo(dt).eps
    zrow = jnp.zeros((1, nb), dt)
    e2s = jnp.concatenate([e2p[1:], zrow])  # e2s[i] = e_i², 0 at the end
    ep = jnp.concatenate([e, zrow])  # ep[i] = e_i (coupling i, i+1)
    em = jnp.concatenate([zrow, e])  # em[i] = e_{i-1}
    qf = _pivots(d, e2p, lam, pivmin)  # (n, B, k)
    rows = jnp.arange(n)
    # Backward pivots, with the twist index r = argmin_i |γ_i| tracked on the fly,
    # γ_i = qf_i + qb_i - (d_i - λ)  (ties -> smallest i, as argmin).
    pm = pivmin[:, None]

    def bstep(carry, row):
        qprev, best, r, gr = carry
        i, di, e2, qfi = row
        dl = di[:, None] - lam
        q = dl - e2[:, None] / qprev
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        g = qfi + q - dl
        better = jnp.abs(g) <= best
        return (q, jnp.where(better, jnp.abs(g), best), jnp.where(better, i, r),
                jnp.where(better, g, gr)), q

    init = (jnp.full_like(lam, jnp.inf), jnp.full_like(lam, jnp.inf),
            jnp.zeros(lam.shape, jnp.int32), jnp.zeros_like(lam))
    (_, _, r, gr), qb = lax.scan(bstep, init, (rows.astype(jnp.int32), d, e2s, qf),
                                 reverse=True, unroll=_UNROLL)

    # z_r = 1; z_i = -(e_i/qf_i) z_{i+1} (i < r); z_i = -(e_{i-1}/qb_i) z_{i-1} (i > r).
    def up(carry, row):
        i, ei, qi = row
        z = jnp.where(i == r, 1.0, jnp.where(i < r, (-ei[:, None] / qi) * carry, 0.0))
        return z, z

    def down(carry, row):
        i, ei, qi = row
        z = jnp.where(i == r, 1.0, jnp.where(i > r, (-ei[:, None] / qi) * carry, 0.0))
        return z, z

    zero = jnp.zeros((nb, k), dt)
    _, zu = lax.scan(up, zero, (rows, ep, qf), reverse=True, unroll=_UNROLL)
    _, zd = lax.scan(down, zero, (rows, em, qb), unroll=_UNROLL)
    z = zu + zd  # disjoint supports, both 1 at r
    z = jnp.where(rows[:, None, None] == r[None], 1.0, z)
    nrm2 = _colsum(z * z)
    w = lam + gr / nrm2
    v = z / jnp.sqrt(nrm2)

    gaptol = jnp.sqrt(eps) * scale[:, None]
    close = jnp.abs(w[:, 1:] - w[:, :-1]) < gaptol
    fal = jnp.zeros((nb, 1), bool)
    in_cluster = jnp.concatenate([close, fal], 1) | jnp.concatenate([fal, close], 1)
    n_it = jnp.where(jnp.any(in_cluster), 2, 0)
    v = _cluster_refine(d, ep, e2p, w, v, in_cluster, n_it, scale, pivmin)
    v = _mgs(v)
    # Cluster members: Rayleigh quotients of the final (refined) vectors.
    tv = d[:, :, None] * v + ep[:, :, None] * jnp.concatenate([v[1:], v[:1] * 0], 0)
    tv = tv + em[:, :, None] * jnp.concatenate([v[:1] * 0, v[:-1]], 0)
    rq = _colsum(v * tv)
    w = lax.cummax(jnp.where(in_cluster, rq, w), axis=1)  # keep ties ordered
    return w, v


def _cluster_refine(d, ep, e2p, w, v, in_cluster, n_it, scale, pivmin):
    """Inverse iteration (LDLᵀ solves) + MGS for clustered columns; n_it may be 0."""
    n, nb, k = v.shape
    dt = d.dtype
    eps = jnp.finfo(dt).eps
    mask = in_cluster[None]

    def body(i, vv):
        floor = eps * eps * scale + pivmin
        q = _pivots(d, e2p, w, floor)  # T - w = L D Lᵀ, L_i = e_i / q_i
        ell = ep[:, :, None] / q
        ell_prev = jnp.concatenate([jnp.zeros((1, nb, k), dt), ell[:-1]])
        b = vv
        start = jax.random.normal(jax.random.key(1234), (n, 1, k), dt)
        b = jnp.where((i == 0) & mask, start, b)

        def fs(y, row):
            bi, li = row
            y = bi - li * y
            return y, y

        _, y = lax.scan(fs, jnp.zeros((nb, k), dt), (b, ell_prev), unroll=_UNROLL)
        y = y / q

        def bs(x, row):
            yi, li = row
            x = yi - li * x
            return x, x

        _, x = lax.scan(bs, jnp.zeros((nb, k), dt), (y, ell), reverse=True, unroll=_UNROLL)
        x = x / jnp.max(jnp.abs(x), axis=0, keepdims=True)
        x = jnp.where(jnp.all(jnp.isfinite(x), axis=0, keepdims=True), x, vv)
        x = _mgs(jnp.where(mask, x, v))
        return jnp.where(mask, x, v)

    return lax.fori_loop(0, n_it, body, v)


# ------------------------------------------------------------------------------ API


def _core(dT, eT, k, max_iter):
    """dT (n, B), eT (n-1, B) -> w (B, k), v (n, B, k), iterations."""
    n, nb = dT.shape
    dt = dT.dtype
    finfo = np.finfo(dt)
    eps = finfo.eps
    ae = jnp.abs(eT)
    zrow = jnp.zeros((1, nb), dt)
    rad = jnp.concatenate([zrow, ae]) + jnp.concatenate([ae, zrow])
    gl = jnp.min(dT - rad, axis=0)
    # Upper bound of λ_{k-1}: k-th smallest Gershgorin row maximum (Courant-Fischer).
    rowmax = dT + rad
    hi0 = -lax.top_k((-rowmax).T, k)[0][:, k - 1]
    scale = jnp.maximum(jnp.maximum(jnp.abs(gl), jnp.abs(hi0)), jnp.max(ae, axis=0, initial=0.0))
    scale = jnp.maximum(scale, finfo.tiny)
    eT = jnp.where(ae <= eps * scale, 0.0, eT)  # splitting
    e2 = eT * eT
    safemin = max(1.0 / finfo.max, (1.0 + eps) * finfo.tiny)
    pivmin = safemin * jnp.maximum(1.0, jnp.max(e2, axis=0, initial=0.0))
    slack = 2.1 * n * eps * scale + 4.2 * pivmin
    gl = gl - slack
    hi0 = hi0 + slack
    e2p = jnp.concatenate([zrow, e2])
    tol = 2.0 * eps * scale
    lo, hi, it0 = _isolate(dT, e2p, k, gl, hi0, tol, pivmin, max_iter)
    lam, it1 = _eigenvalues(dT, e2p, k, lo, hi, tol, pivmin, max_iter)
    iters = jnp.stack([it0, it1])
    w, v = _eigenvectors(dT, eT, e2p, lam, scale, pivmin)
    s = jnp.where(_colsum(v) < 0, -1.0, 1.0)
    return w, v * s, iters


def _prep(d, e, k):
    d = jnp.asarray(d)
    e = jnp.asarray(e)
    dt = jnp.result_type(d.dtype, e.dtype, jnp.float32)
    n = d.shape[-1]
    if e.shape[-1] != n - 1:
        raise ValueError(f"e must have length n-1 = {n - 1}, got {e.shape[-1]}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got k={k}, n={n}")
    return d.astype(dt), e.astype(dt), n


@functools.partial(jax.jit, static_argnums=(2,), static_argnames=("max_iter", "return_iterations"))
def lowest_eigenpairs_batched(d, e, k: int, *, max_iter: int = 64, return_iterations: bool = False):
    """Batched version: d (B, n), e (B, n-1) -> w (B, k), v (B, n, k)."""
    d, e, n = _prep(d, e, k)
    nb = d.shape[0]
    if n == 1:
        w, v, it = d[:, :1], jnp.ones((nb, 1, 1), d.dtype), jnp.int32(0)
    else:
        w, v, it = _core(d.T, e.T, k, max_iter)
        v = jnp.transpose(v, (1, 0, 2))
    return (w, v, it) if return_iterations else (w, v)


def lowest_eigenpairs(d, e, k: int, *, max_iter: int = 64, return_iterations: bool = False):
    """Lowest ``k`` eigenpairs of the symmetric tridiagonal matrix (d, e).

    d: (n,), e: (n-1,), ``k`` static (1 <= k <= n). Returns ``w`` (k,) ascending and
    ``v`` (n, k) with orthonormal columns, each with a non-negative component sum
    (plus the number of eigenvalue sweeps if ``return_iterations``). Under ``jax.vmap``
    this dispatches to :func:`lowest_eigenpairs_batched`.
    """
    out = _single(k, max_iter, d, e)
    return out if return_iterations else out[:2]


@functools.lru_cache(maxsize=None)
def _single_fn(k, max_iter):
    @jax.custom_batching.custom_vmap
    def f(d, e):
        w, v, it = lowest_eigenpairs_batched(d[None], e[None], k, max_iter=max_iter, return_iterations=True)
        return w[0], v[0], it

    @f.def_vmap
    def rule(axis_size, in_batched, d, e):
        d_b, e_b = in_batched
        if not d_b:
            d = jnp.broadcast_to(d, (axis_size,) + d.shape)
        if not e_b:
            e = jnp.broadcast_to(e, (axis_size,) + e.shape)
        w, v, it = lowest_eigenpairs_batched(d, e, k, max_iter=max_iter, return_iterations=True)
        return (w, v, it), (True, True, False)

    return f


def _single(k, max_iter, d, e):
    d, e, _ = _prep(d, e, k)
    return _single_fn(k, max_iter)(d, e)


# ------------------------------------------------------------ lanes-minor layout
#
# Layout ("lanes-minor"). The kernel is written for a batch of B matrices stored with
# the matrix axis LAST: rows (n, B), lanes (k, B), per-matrix scalars (B,). Plain vmap
# of a one-matrix kernel would put the batch axis first, so every scan carry would be
# (B, k) with a contiguous inner axis of only k ≈ 3-10 lanes, which XLA:CPU does not
# vectorise (and each row's d_i is broadcast along it): a Sturm sweep then costs
# ≈ 1.2-1.5 ns per row and lane against 0.58 ns with (k, B) carries (measured, B = 489,
# n = 1024, k = 10). The one-matrix entry points are ``custom_vmap`` functions whose
# vmap rule folds every new batch axis (parity blocks, points, user batches) into the
# trailing matrix axis, once, outside the loops. Matrices never mix: every operation
# is elementwise along B or a reduction over rows or lanes of one matrix, and the
# while loops freeze a matrix as soon as its own condition fails (what vmap of a
# while loop does), so a matrix's bits do not depend on its batch.


def _fold_rule(fn):
    """vmap rule of a lanes-minor kernel: fold the new axis into the trailing axis B."""

    def rule(axis_size, in_batched, *args):
        flat = []
        for a, b in zip(args, in_batched):
            a = a if b else jnp.broadcast_to(a, (axis_size,) + a.shape)
            a = jnp.moveaxis(a, 0, -2)  # (..., A, B)
            flat.append(a.reshape(a.shape[:-2] + (axis_size * a.shape[-1],)))
        outs = fn(*flat)

        def unfold(o):
            o = o.reshape(o.shape[:-1] + (axis_size, o.shape[-1] // axis_size))
            return jnp.moveaxis(o, -2, 0)

        return tuple(unfold(o) for o in outs), tuple(True for _ in outs)

    return rule


def _lanes_minor(fn):
    """``custom_vmap`` version of a lanes-minor kernel ``fn`` (tuple output, every
    argument with the matrix axis last): vmap folds into that axis."""
    f = jax.custom_batching.custom_vmap(fn)
    f.def_vmap(_fold_rule(f))
    return f


# ------------------------------------------------------- deterministic bisection kernel
#
# A second, single-matrix kernel (vmapped by the caller) whose result for a matrix is
# (``bisect_lowest``: the reference; ``fast_lowest`` below: the same contract, used)
# bit-for-bit independent of how many padding rows follow it and of what else shares
# its batch: the bracket comes from the valid rows only, the Sturm counts of padded
# rows never change, every lane runs a plain bisection frozen once converged, and all
# sums over rows are sequential scans (XLA tree reductions change association with
# the row count).  It returns each eigenvalue as an unevaluated sum ``hi + lo`` (``lo``
# from the twisted-factorisation Rayleigh correction): the exact eigenvalue of the
# float64 matrix to far below one ulp of ``hi``, which the tunnel-splitting formula
# of :mod:`jaxlmg._splitting` needs (its tail amplitudes change by ~30·δλ at N = 1e5).


_UNROLL_DD = 1


def _seqsum(x):
    """Sum over axis 0 as a sequential scan (association independent of padding)."""
    return lax.scan(lambda c, xi: (c + xi, None), jnp.zeros(x.shape[1:], x.dtype), x, unroll=_UNROLL_DD)[0]


def _valid_bounds(d, e, n_valid):
    n = d.shape[0]
    rows = jnp.arange(n)
    valid = rows < n_valid
    ae = jnp.abs(e)
    rad = jnp.concatenate([jnp.zeros((1,), d.dtype), ae]) + jnp.concatenate([ae, jnp.zeros((1,), d.dtype)])
    gl = jnp.min(jnp.where(valid, d - rad, jnp.inf))
    gu = jnp.max(jnp.where(valid, d + rad, -jnp.inf))
    scale = jnp.maximum(jnp.maximum(jnp.abs(gl), jnp.abs(gu)), jnp.finfo(d.dtype).tiny)
    return valid, gl, gu, scale


def _sturm_setup(d, e, n_valid):
    """Shared set-up of the Sturm kernels: valid-row mask, Gershgorin bounds and scale,
    e², e² shifted by one row (``e2p[0] = 0``), the pivot floor and the bracket slack."""
    dt = d.dtype
    eps = float(jnp.finfo(dt).eps)
    tiny = float(jnp.finfo(dt).tiny)
    valid, gl, gu, scale = _valid_bounds(d, e, n_valid)
    e2 = e * e
    pivmin = tiny * jnp.maximum(1.0, jnp.max(e2, initial=0.0))
    slack = 2.1 * n_valid.astype(dt) * eps * scale + 4.2 * pivmin
    e2p = jnp.concatenate([jnp.zeros((1,), dt), e2])
    return valid, gl, gu, scale, e2, e2p, pivmin, slack


def bisect_lowest(d, e, k: int, n_valid):
    """Lowest ``k`` eigenvalues of the tridiagonal (d, e) restricted to its first
    ``n_valid`` rows, by Sturm bisection run to (relative) float64 resolution.

    Rows ``>= n_valid`` must be decoupled (``e = 0`` there) and lie above the valid
    spectrum. Lanes ``i >= n_valid`` return values above the valid spectrum.
    """
    dt = d.dtype
    eps = float(jnp.finfo(dt).eps)
    _, gl, gu, scale, _, e2p, pivmin, slack = _sturm_setup(d, e, n_valid)
    idx = jnp.arange(k)

    def count(x):
        def step(q, row):
            di, ei2 = row
            q = (di - x) - ei2 / q
            q = jnp.where(jnp.abs(q) < pivmin, -pivmin, q)
            return q, jnp.where(q < 0, 1, 0)

        _, c = lax.scan(step, jnp.full((k,), jnp.inf, dt), (d, e2p), unroll=1)
        return jnp.sum(c, axis=0)  # integer sum: exact in any order

    lo0 = jnp.full((k,), gl - slack)
    hi0 = jnp.full((k,), gu + slack)
    floor = 1e-3 * scale

    def done_of(lo, hi):
        return (hi - lo) <= 2.0 * eps * jnp.maximum(jnp.maximum(jnp.abs(lo), jnp.abs(hi)), floor)

    def cond(st):
        it, lo, hi = st
        return (it < 160) & ~jnp.all(done_of(lo, hi))

    def body(st):
        it, lo, hi = st
        mid = lo + 0.5 * (hi - lo)
        c = count(mid)
        frozen = done_of(lo, hi)
        below = c <= idx
        lo = jnp.where(frozen | ~below, lo, mid)
        hi = jnp.where(frozen | below, hi, mid)
        return it + 1, lo, hi

    _, lo, hi = lax.while_loop(cond, body, (jnp.int32(0), lo0, hi0))
    return lo + 0.5 * (hi - lo)


def _twisted_plain(d, e, lam_hi, lam_lo, n_valid):
    """Twisted factorisation of T − (lam_hi + lam_lo) for each of the k shifts (one
    matrix, plain ``jnp``: the reference and the differentiable form of :func:`twisted_pass`).

    Returns ``v`` (n, k) normalised eigenvector approximations (component sum >= 0,
    zero on rows >= n_valid), ``delta`` (k,) the Rayleigh correction γ_r/‖z‖²
    (so lam_hi + lam_lo + delta is the eigenvalue to second order), ``log_first`` and
    ``sign_first`` (k,) the logarithm and sign of the normalised first component v_0,
    computed as a product of pivot ratios without underflow (relative accuracy even
    far below 1e-308), and ``r`` the twist index. Differentiable (plain jnp).
    """
    dt = d.dtype
    n = d.shape[0]
    tiny = float(jnp.finfo(dt).tiny)
    valid = jnp.arange(n) < n_valid
    k = lam_hi.shape[0]
    zero1 = jnp.zeros((1,), dt)
    ep = jnp.concatenate([e, zero1])  # coupling i, i+1
    em = jnp.concatenate([zero1, e])  # coupling i-1, i
    e2 = e * e
    pivmin = tiny * jnp.maximum(1.0, jnp.max(lax.stop_gradient(e2), initial=0.0))
    dl = (d[:, None] - lam_hi[None, :]) - lam_lo[None, :]  # (n, k)

    def fstep(qprev, row):
        dli, e2i = row
        # e2i = 0 (a decoupled row, padding): no derivative through qprev, which may be the
        # pivot floor -pivmin (λ exactly an eigenvalue of the rows above), where the plain
        # derivative -e2i/qprev² is 0/0 (pivmin² underflows). Same primal values.
        q = dli - e2i / jnp.where(e2i == 0, 1.0, qprev)
        q = jnp.where(jnp.abs(q) < pivmin, -pivmin, q)
        return q, q

    e2m = jnp.concatenate([zero1, e2])[:, None]
    e2s = jnp.concatenate([e2, zero1])[:, None]
    _, qf = lax.scan(fstep, jnp.full((k,), jnp.inf, dt), (dl, e2m), unroll=_UNROLL_DD)
    _, qb = lax.scan(fstep, jnp.full((k,), jnp.inf, dt), (dl, e2s), reverse=True, unroll=_UNROLL_DD)
    gam = qf + qb - dl
    agam = jnp.where(valid[:, None], jnp.abs(lax.stop_gradient(gam)), jnp.inf)
    r = jnp.argmin(agam, axis=0)  # first minimum: deterministic
    rows = jnp.arange(n)
    gr = jnp.take_along_axis(gam, r[None, :], axis=0)[0]

    def ratio(ei, qi):  # -e_i/q_i; no derivative through a floored pivot where e_i = 0 (see fstep)
        return -ei / jnp.where(ei == 0, 1.0, qi)

    def up(carry, row):
        i, ei, qi = row
        z = jnp.where(i == r, 1.0, jnp.where(i < r, ratio(ei, qi) * carry, 0.0))
        return z, z

    def down(carry, row):
        i, ei, qi = row
        z = jnp.where(i == r, 1.0, jnp.where(i > r, ratio(ei, qi) * carry, 0.0))
        return z, z

    zk = jnp.zeros((k,), dt)
    _, zu = lax.scan(up, zk, (rows, ep[:, None], qf), reverse=True, unroll=_UNROLL_DD)
    _, zd = lax.scan(down, zk, (rows, em[:, None], qb), unroll=_UNROLL_DD)
    z = jnp.where(rows[:, None] == r[None, :], 1.0, zu + zd)
    z = jnp.where(valid[:, None], z, 0.0)
    nrm2 = _seqsum(z * z)
    delta = gr / nrm2
    # log|z_0| = Σ_{i<r} log|e_i/qf_i|: running product with exact power-of-two rescaling.
    two = 2.0 ** 500

    def lstep(carry, row):
        mant, expo, neg, cut = carry
        i, ei, qi = row
        act = i < r
        # A zero coupling above the twist: v_0 = 0 exactly, log|v_0| = -inf. Its factor is
        # kept out of the product (and of the derivative: d log 0 is inf, and 0·inf = NaN
        # would reach every lane's gradient through the shared d and e).
        use = act & (ei != 0)
        cut = cut | (act & (ei == 0))
        mant = mant * jnp.where(use, jnp.abs(ei / jnp.where(use, qi, 1.0)), 1.0)
        small = lax.stop_gradient(mant) < 1.0 / two
        big = lax.stop_gradient(mant) > two
        mant = jnp.where(small, mant * two, jnp.where(big, mant / two, mant))
        expo = expo + jnp.where(small, -1, jnp.where(big, 1, 0))
        neg = neg + jnp.where(act & ((-ei / jnp.where(act, qi, 1.0)) < 0), 1, 0)
        return (mant, expo, neg, cut), None

    init = (jnp.ones((k,), dt), jnp.zeros((k,), jnp.int32), jnp.zeros((k,), jnp.int32), jnp.zeros((k,), bool))
    (mant, expo, neg, cut), _ = lax.scan(lstep, init, (rows, ep[:, None], qf), unroll=_UNROLL_DD)
    log_first = jnp.log(mant) + expo.astype(dt) * np.log(two) - 0.5 * jnp.log(nrm2)
    log_first = jnp.where(cut, -jnp.inf, log_first)
    v = z / jnp.sqrt(nrm2)
    s = jnp.where(lax.stop_gradient(_seqsum(v)) < 0, -1.0, 1.0)
    sign_first = jnp.where(neg % 2 == 1, -1.0, 1.0) * s
    return v * s, delta, log_first, sign_first, r


def _minor_setup(d, e, n_valid):
    """Shared set-up of the lanes-minor kernels for d (n, B), e (n-1, B), n_valid (B,):
    row indices (int32), the valid-row mask (n, B), a zero row (1, B), e², the pivot
    floor (B,), and e² aligned with the previous (e2m, 0 first) and next row (e2s, 0 last)."""
    dt = d.dtype
    n, nbat = d.shape
    tiny = float(jnp.finfo(dt).tiny)
    rows = jnp.arange(n, dtype=jnp.int32)
    valid = rows[:, None] < n_valid[None, :]
    zrow = jnp.zeros((1, nbat), dt)
    e2 = e * e
    pivmin = tiny * jnp.maximum(1.0, jnp.max(e2, axis=0, initial=0.0))
    return rows, valid, zrow, e2, pivmin, jnp.concatenate([zrow, e2]), jnp.concatenate([e2, zrow])


def _twisted_minor(d, e, lam_hi, lam_lo, n_valid):
    """Lanes-minor :func:`twisted_pass`: d (n, B), e (n-1, B), lam_hi, lam_lo (k, B),
    n_valid (B,) -> v (n, k, B), delta, log_first, sign_first, r (k, B). The same
    arithmetic as :func:`_twisted_plain` in five scans: the twist index is tracked in
    the backward pivot sweep, and the downward product, the norm, the component sum
    and the log-product of the first component share one forward sweep."""
    dt = d.dtype
    rows, valid, zrow, _, pivmin, e2m, e2s = _minor_setup(d, e, n_valid)
    pm = pivmin[None, :]
    ep = jnp.concatenate([e, zrow])  # coupling i, i+1
    em = jnp.concatenate([zrow, e])  # coupling i-1, i
    inf = jnp.full(lam_hi.shape, jnp.inf, dt)

    def dl_of(di):
        return (di[None, :] - lam_hi) - lam_lo

    def fstep(qprev, row):
        di, e2i = row
        q = dl_of(di) - e2i[None, :] / qprev
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        return q, q

    _, qf = lax.scan(fstep, inf, (d, e2m), unroll=_UNROLL_DD)

    # Backward pivots; twist index r = first argmin over the valid rows of |γ_i|,
    # γ_i = qf_i + qb_i − (d_i − λ) (backward sweep: '<=' keeps the first minimum).
    def bstep(carry, row):
        qprev, best, r, gr = carry
        i, di, e2i, qfi, vi = row
        dli = dl_of(di)
        q = dli - e2i[None, :] / qprev
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        g = qfi + q - dli
        ag = jnp.where(vi[None, :], jnp.abs(g), jnp.inf)
        better = ag <= best
        return (q, jnp.where(better, ag, best), jnp.where(better, i, r), jnp.where(better, g, gr)), q

    init = (inf, inf, jnp.zeros(lam_hi.shape, jnp.int32), jnp.zeros_like(lam_hi))
    (_, _, r, gr), qb = lax.scan(bstep, init, (rows, d, e2s, qf, valid), reverse=True, unroll=_UNROLL_DD)

    def up(carry, row):
        i, ei, qi = row
        z = jnp.where(i == r, 1.0, jnp.where(i < r, (-ei[None, :] / qi) * carry, 0.0))
        return z, z

    zk = jnp.zeros_like(lam_hi)
    _, zu = lax.scan(up, zk, (rows, ep, qf), reverse=True, unroll=_UNROLL_DD)
    two = 2.0 ** 500

    def down(carry, row):
        zprev, nrm2, mant, expo, neg = carry
        i, emi, qbi, zui, epi, qfi, vi = row
        zd = jnp.where(i == r, 1.0, jnp.where(i > r, (-emi[None, :] / qbi) * zprev, 0.0))
        z = jnp.where(i == r, 1.0, zui + zd)
        z = jnp.where(vi[None, :], z, 0.0)
        z2 = z * z
        # log|z_0| = Σ_{i<r} log|e_i/qf_i|: running product with exact power-of-two rescaling.
        act = i < r
        ratio = jnp.where(act, jnp.abs(epi[None, :] / jnp.where(act, qfi, 1.0)), 1.0)
        mant = mant * ratio
        small = mant < 1.0 / two
        big = mant > two
        mant = jnp.where(small, mant * two, jnp.where(big, mant / two, mant))
        expo = expo + jnp.where(small, -1, jnp.where(big, 1, 0))
        neg = neg + jnp.where(act & ((-epi[None, :] / jnp.where(act, qfi, 1.0)) < 0), 1, 0)
        return (zd, nrm2 + z2, mant, expo, neg), z

    izk = jnp.zeros(lam_hi.shape, jnp.int32)
    init = (zk, zk, jnp.ones_like(lam_hi), izk, izk)
    (_, nrm2, mant, expo, neg), z = lax.scan(down, init, (rows, em, qb, zu, ep, qf, valid), unroll=_UNROLL_DD)
    delta = gr / nrm2
    log_first = jnp.log(mant) + expo.astype(dt) * np.log(two) - 0.5 * jnp.log(nrm2)
    sq = jnp.sqrt(nrm2)
    vsum = lax.scan(lambda c, zi: (c + zi / sq, None), zk, z, unroll=_UNROLL_DD)[0]
    s = jnp.where(vsum < 0, -1.0, 1.0)
    sign_first = jnp.where(neg % 2 == 1, -1.0, 1.0) * s
    return (z / sq) * s, delta, log_first, sign_first, r


_twisted_lanes = _lanes_minor(_twisted_minor)


@jax.custom_jvp
def twisted_pass(d, e, lam_hi, lam_lo, n_valid):
    """Twisted factorisation of T − (lam_hi + lam_lo) for each of the k shifts.

    Returns ``v`` (n, k) normalised eigenvector approximations (component sum >= 0,
    zero on rows >= n_valid), ``delta`` (k,) the Rayleigh correction γ_r/‖z‖²
    (so lam_hi + lam_lo + delta is the eigenvalue to second order), ``log_first`` and
    ``sign_first`` (k,) the logarithm and sign of the normalised first component v_0,
    computed as a product of pivot ratios without underflow (relative accuracy even
    far below 1e-308), and ``r`` the twist index.

    Values come from the lanes-minor kernel :func:`_twisted_minor` (vmap folds into
    its matrix axis); derivatives (forward and reverse) from the plain-``jnp``
    :func:`_twisted_plain`, the same arithmetic differentiated by JAX.
    """
    n_valid = jnp.asarray(n_valid, jnp.int32)
    out = _twisted_lanes(d[:, None], e[:, None], lam_hi[:, None], lam_lo[:, None], n_valid[None])
    v, rest = out[0][:, :, 0], out[1:]
    return (v,) + tuple(o[:, 0] for o in rest)


@twisted_pass.defjvp
def _twisted_pass_jvp(primals, tangents):
    out = twisted_pass(*primals)
    _, t_out = jax.jvp(_twisted_plain, primals, tangents)
    return out, t_out


def lowest_eigenpairs_dd(d, e, k: int, n_valid):
    """Deterministic lowest-k eigenpairs: (lam_hi, lam_lo, v) with lam_hi + lam_lo the
    eigenvalues (see :func:`fast_lowest`, :func:`twisted_pass`). Not differentiable
    by itself (see :func:`jaxlmg._eigen.eigenvalues_dd`)."""
    lam = fast_lowest(d, e, k, n_valid)
    zero = jnp.zeros_like(lam)
    v, delta, _, _, _ = twisted_pass(d, e, lam, zero, n_valid)
    return lam, delta, v


def lowest_eigenvalues_dd(d, e, k: int, n_valid):
    """(lam_hi, lam_lo) of :func:`lowest_eigenpairs_dd` without the vectors (two
    sweeps for the Rayleigh correction, :func:`rayleigh_delta`)."""
    lam = fast_lowest(d, e, k, n_valid)
    return lam, rayleigh_delta(d, e, lam, n_valid)


# ----------------------------------------- fast deterministic kernel (Laguerre + certificate)
#
# Same contract as :func:`bisect_lowest` (one matrix, vmapped by the caller, bitwise
# independent of padding rows and of batch neighbours) at about a third of its cost
# (LMG blocks: ~6 count sweeps + ~4 Laguerre sweeps, each ≈ 2 count sweeps, + 1
# certificate sweep, against 55-60 count sweeps):
# 1. multisection with Sturm counts shared between the k lanes until each bracket
#    isolates its eigenvalue and is no wider than twice the mean level spacing;
# 2. Laguerre steps (p'/p and p''/p from the differentiated pivot recurrence on the
#    valid rows only: padded rows add exact zeros and the degree is ``n_valid``). The
#    brackets are updated from the Sturm counts only (rounding near a pole of p'/p can
#    spoil the Laguerre bounds); a step that leaves the bracket is replaced by
#    multisection, or by a probe just inside the bracket end it overshot;
# 3. a certificate: Sturm counts at x ∓ δ (δ = 0.75 eps·max(|x|, 1e-3·scale), the
#    neighbouring floats) and at x ∓ 4096 δ must bracket λ_i;
# 4. bisection on a fixed grid (the floats that are multiples of ulp(1e-3·scale)) down
#    to the one grid cell [lo, hi] with count(lo) ≤ i < count(hi): 1-2 count sweeps
#    after a certificate, ~20 after a failed one (rare; bracket ≤ 8192 δ).
# Guarantee, stronger than :func:`bisect_lowest`'s: hi − lo ≤ 2 eps·max(|lo|, |hi|,
# 1e-3·scale), lo and hi adjacent grid points with count(lo) ≤ i < count(hi) for the
# computed Sturm counts; result (lo + hi)/2. That cell depends on the matrix alone, not
# on the path of stages 1-3 (whose products and sums XLA may fuse differently per
# batch shape), so the result is bitwise independent of the batch.


def _count_minor(d, e2p, x, pivmin):
    """Sturm counts (int32, (m, B)) of the shifts x (m, B): the number of pivots < 0."""
    pm = pivmin[None, :]

    def step(carry, row):
        q, c = carry
        di, ei2 = row
        q = (di[None, :] - x) - ei2[None, :] / q
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        return (q, c + jnp.where(q < 0, 1, 0)), None

    init = (jnp.full(x.shape, jnp.inf, d.dtype), jnp.zeros(x.shape, jnp.int32))
    (_, c), _ = lax.scan(step, init, (d, e2p), unroll=1)
    return c


def _laguerre_minor(d, e2p, valid, x, pivmin):
    """count, g = p'/p, h = g² − p''/p of the valid leading rows at shifts x (k, B)."""
    z = jnp.zeros_like(x)
    pm = pivmin[None, :]

    def step(carry, row):
        inv, r, s, g, h, cnt = carry
        di, e2, vi = row
        t = e2[None, :] * inv
        q = (di[None, :] - x) - t
        qp = t * r - 1.0
        qpp = t * (s - 2.0 * r * r)
        small = jnp.abs(q) < pm
        q = jnp.where(small, -pm, q)
        cnt = cnt + jnp.where(q < 0, 1, 0)
        inv = 1.0 / q
        r = jnp.where(small, jnp.nan, qp * inv)
        s = qpp * inv
        vi = vi[None, :]
        return (inv, r, s, g + jnp.where(vi, r, 0.0), h + jnp.where(vi, r * r - s, 0.0), cnt), None

    init = (z, z, z, z, z, jnp.zeros(x.shape, jnp.int32))
    (_, _, _, g, h, cnt), _ = lax.scan(step, init, (d, e2p, valid), unroll=1)
    return cnt, g, h


def _probe_update(idx, lo, hi, clo, chi, x, c, big):
    """Tighten every lane's bracket (k, B) with all probes (x_j, count c_j) of its matrix."""
    below = c[None, :, :] <= idx[:, :, None]  # [i, j, b]: probe j lies below λ_i
    xj = x[None, :, :]
    lo = jnp.maximum(lo, jnp.max(jnp.where(below, xj, -jnp.inf), axis=1))
    clo = jnp.maximum(clo, jnp.max(jnp.where(below, c[None, :, :], -1), axis=1))
    hi = jnp.minimum(hi, jnp.min(jnp.where(below, jnp.inf, xj), axis=1))
    chi = jnp.minimum(chi, jnp.min(jnp.where(below, big, c[None, :, :]), axis=1))
    return lo, hi, clo, chi


def _multisect_points(idx, lo, hi):
    """Lanes sharing a bracket spread evenly over it (k, B)."""
    same = (lo[:, None, :] == lo[None, :, :]) & (hi[:, None, :] == hi[None, :, :])
    rank = jnp.sum(same & (idx[None, :, :] < idx[:, None, :]), axis=1)
    size = jnp.sum(same, axis=1)
    return lo + (hi - lo) * ((rank + 1.0) / (size + 1.0))


def _smallest(a, m):
    """The m smallest entries of each column of a (n, B), ascending, with multiplicity
    (m passes of min + remove-first-argmin: no sort)."""
    rows = jnp.arange(a.shape[0])[:, None]
    out = []
    for _ in range(m):
        j = jnp.argmin(a, axis=0)
        out.append(jnp.min(a, axis=0))
        a = jnp.where(rows == j[None, :], jnp.inf, a)
    return jnp.stack(out)


def _freeze(run, new, old):
    """The matrices (B,) whose loop has stopped (``run`` false) keep their ``old`` state."""
    return tuple(jnp.where(run, a, b) for a, b in zip(new, old))


def _fast_lowest_minor(d, e, n_valid, *, k: int):
    """Lanes-minor :func:`fast_lowest`: d (n, B), e (n-1, B), n_valid (B,) ->
    (lam (k, B), iterations (3, B))."""
    dt = d.dtype
    n, nbat = d.shape
    eps = float(jnp.finfo(dt).eps)
    tiny = float(jnp.finfo(dt).tiny)
    nv = n_valid.astype(dt)
    _, valid, zrow, _, pivmin, e2p, _ = _minor_setup(d, e, n_valid)
    ae = jnp.abs(e)
    rad = jnp.concatenate([zrow, ae]) + jnp.concatenate([ae, zrow])
    gl = jnp.min(jnp.where(valid, d - rad, jnp.inf), axis=0)
    gu = jnp.max(jnp.where(valid, d + rad, -jnp.inf), axis=0)
    scale = jnp.maximum(jnp.maximum(jnp.abs(gl), jnp.abs(gu)), tiny)
    slack = 2.1 * nv * eps * scale + 4.2 * pivmin
    idx = jnp.arange(k)[:, None]  # (k, 1)
    active = idx < n_valid[None, :]
    floor = 1e-3 * scale
    # λ_i ≤ (i+1)-th smallest Gershgorin row maximum of the valid rows (Courant-Fischer).
    kk = min(k, n)
    ub = _smallest(jnp.where(valid, d + rad, jnp.inf), kk)
    if kk < k:
        ub = jnp.concatenate([ub, jnp.full((k - kk, nbat), jnp.inf, dt)])
    top = gu + slack
    hi0 = jnp.minimum(jnp.where(jnp.isfinite(ub), ub + slack, top), top)
    lo0 = jnp.broadcast_to(gl - slack, (k, nbat))
    big = n + 1
    lane_all = lambda m: jnp.all(m, axis=0)
    lane_max = lambda a: jnp.max(a, axis=0)
    lane_min = lambda a: jnp.min(a, axis=0)

    def tol_of(lo, hi):
        return 2.0 * eps * jnp.maximum(jnp.maximum(jnp.abs(lo), jnp.abs(hi)), floor)

    def done_of(lo, hi):
        return (hi - lo) <= tol_of(lo, hi)

    # 1. Multisection with shared Sturm counts until every bracket isolates λ_i.
    n_act = jnp.maximum(jnp.sum(active, axis=0), 1).astype(dt)

    def iso_ok(lo, hi, clo, chi):
        # Isolated, and not much wider than the mean spacing of the wanted levels
        # (Laguerre from far outside a cluster of roots creeps; counts are cheaper).
        span = lane_max(jnp.where(active, hi, -jnp.inf)) - lane_min(jnp.where(active, lo, jnp.inf))
        narrow = (hi - lo) <= 2.0 * span / n_act
        return ~active | ((clo == idx) & (chi == idx + 1) & narrow) | done_of(lo, hi)

    def run1(st):
        it, lo, hi, clo, chi = st
        return (it < 64) & ~lane_all(iso_ok(lo, hi, clo, chi))

    def b1(st):
        run = run1(st)
        it, lo, hi, clo, chi = st
        x = _multisect_points(idx, lo, hi)
        x = jnp.where(iso_ok(lo, hi, clo, chi), hi, x)  # finished lanes probe their hi: no-op
        c = _count_minor(d, e2p, x, pivmin)
        new = (it + 1,) + _probe_update(idx, lo, hi, clo, chi, x, c, big)
        return _freeze(run, new, st)

    clo0 = jnp.zeros((k, nbat), jnp.int32)
    chi0 = jnp.full((k, nbat), big, jnp.int32)
    st = (jnp.zeros((nbat,), jnp.int32), lo0, hi0, clo0, chi0)
    it1, lo, hi, clo, chi = lax.while_loop(lambda s: jnp.any(run1(s)), b1, st)
    lo1, hi1 = lo, hi  # every end has a count-sweep count on its side (or is a Gershgorin bound)

    # 2. Laguerre (bounds from every probe for every lane, own step when λ_i is adjacent).
    def laguerre(x, g, h):
        s = jnp.sqrt(jnp.maximum((nv - 1.0) * (nv * h - g * g), 0.0))
        den_p = g - s
        den_m = g + s
        lp = x - nv / jnp.where(den_p < 0, den_p, -1.0)
        lm = x - nv / jnp.where(den_m > 0, den_m, 1.0)
        okp = (den_p < 0) & (lp >= x) & (lp < jnp.inf)
        okm = (den_m > 0) & (lm <= x) & (lm > -jnp.inf)
        return okp, jnp.where(okp, lp, x), okm, jnp.where(okm, lm, x)

    def run2(st):
        it, lo, hi, clo, chi, x, conv, best = st
        return (it < 32) & ~lane_all(conv | done_of(lo, hi) | ~active)

    def b2(st):
        run = run2(st)
        it, lo, hi, clo, chi, x, conv, best = st
        fin = conv | done_of(lo, hi) | ~active
        cnt, g, h = _laguerre_minor(d, e2p, valid, x, pivmin)
        okp, lp, okm, lm = laguerre(x, g, h)
        # Brackets from the Sturm counts only (rounding can spoil the Laguerre bounds
        # near a pole of p'/p); the Laguerre points only propose the next probes.
        lo_n, hi_n, clo_n, chi_n = _probe_update(idx, lo, hi, clo, chi, x, cnt, big)
        right = (cnt == idx) & okp
        left = (cnt == idx + 1) & okm
        step_pt = jnp.where(right, lp, lm)
        cand = right | left
        stepped = cand & (step_pt > lo_n) & (step_pt < hi_n)
        # Converged when the step is below the tolerance, or so small against the level
        # spacing that the next (cubically convergent) step would be: the certificate
        # below checks the result, and bisection takes over where it fails.
        small = jnp.abs(step_pt - x) <= jnp.maximum(tol_of(lo_n, hi_n), cubic)
        cv = cand & (step_pt >= lo_n) & (step_pt <= hi_n) & small
        # A step onto or past the far end of the bracket: λ_i lies within a step of
        # that end, so probe just inside it (one count then closes the bracket).
        tl = tol_of(lo_n, hi_n)
        mid = lo_n + 0.5 * (hi_n - lo_n)
        over_r = right & (step_pt >= hi_n)
        over_l = left & (step_pt <= lo_n)
        edge = jnp.where(over_r, jnp.maximum(hi_n - 0.5 * tl, mid), jnp.minimum(lo_n + 0.5 * tl, mid))
        ms = _multisect_points(idx, lo_n, hi_n)
        x_new = jnp.where(stepped, step_pt, jnp.where(over_r | over_l, edge, ms))
        keep = lambda a, b: jnp.where(fin, a, b)
        best = keep(best, jnp.where(cv, step_pt, x_new))
        new = (it + 1, keep(lo, lo_n), keep(hi, hi_n), keep(clo, clo_n), keep(chi, chi_n), keep(x, x_new),
               conv | (cv & ~fin), best)
        return _freeze(run, new, st)

    spacing = (lane_max(jnp.where(active, hi, -jnp.inf)) - lane_min(jnp.where(active, lo, jnp.inf))) / n_act
    cubic = spacing * (1e-4 * tol_of(lo, hi) / jnp.maximum(spacing, tiny)) ** (1.0 / 3.0)
    cubic = jnp.where(jnp.isfinite(cubic), cubic, 0.0)
    x0 = 0.5 * (lo + hi)
    st = (jnp.zeros((nbat,), jnp.int32), lo, hi, clo, chi, x0, jnp.zeros((k, nbat), bool), x0)
    it2, lo, hi, clo, chi, _, conv, best = lax.while_loop(lambda s: jnp.any(run2(s)), b2, st)

    # 3. Certificate: counts at the floats next to the Laguerre limit, and at the bracket
    # ends themselves. Stage 2 took its bracket ends from the Laguerre sweep's counts, whose
    # pivots XLA may contract into FMAs differently from the count sweep's; at a count
    # boundary the two can disagree by one, so the ends are checked with the count sweep
    # (in the same sweep as the probes) and widened where it disagrees (_grid_finish).
    need = active & conv & ~done_of(lo, hi)
    # Probes at the neighbouring floats (δ) and, so that a failed certificate leaves a
    # short bisection, 4096 δ away (one count sweep over the 6k shifts).
    delta = 0.75 * eps * jnp.maximum(jnp.abs(best), floor)
    probes = [best - 4096.0 * delta, best + 4096.0 * delta, best - delta, best + delta]
    c = _count_minor(d, e2p, jnp.concatenate(probes + [lo, hi]), pivmin)
    lo_ok, hi_ok = c[4 * k:5 * k] <= idx, c[5 * k:] > idx
    for j, xj in enumerate(probes):
        cj = c[j * k:(j + 1) * k]
        if j % 2 == 0:
            take = need & (cj <= idx) & (xj > lo)
            lo, lo_ok = jnp.where(take, xj, lo), lo_ok | take
        else:
            take = need & (cj > idx) & (xj < hi)
            hi, hi_ok = jnp.where(take, xj, hi), hi_ok | take
    lam, it4 = _grid_finish(d, e2p, pivmin, idx, active, floor, lo, hi, lo_ok, hi_ok, lo1, hi1)
    lam = jnp.where(active, lam, top)
    return lam, jnp.stack([it1, it2, it4])


def _grid_finish(d, e2p, pivmin, idx, active, floor, lo, hi, lo_ok, hi_ok, lo_safe, hi_safe):
    """The midpoint of the cell of the grid G (see below) that holds the count boundary of
    each lane (k, B), with the number of bisection steps (B,).

    lo/hi bracket λ_i; lo_ok/hi_ok say whether the count sweep confirms each end
    (count(lo) ≤ i < count(hi)). An end it does not confirm lies on the wrong side of the
    boundary (by an ulp, from a count computed elsewhere): it becomes the other end, and the
    bracket is widened on its side in doubling steps, never past lo_safe/hi_safe (ends the
    count sweep confirmed before), until both ends are confirmed. The bisection on G then
    needs only the count sweep, so the cell is a property of the matrix alone."""
    def bad_of(lo_ok, hi_ok):
        return active & ~(lo_ok & hi_ok)

    def bw(st):
        it, lo, hi, lo_ok, hi_ok, w = st
        run = (it < 64) & jnp.any(bad_of(lo_ok, hi_ok), axis=0)
        both = ~lo_ok & ~hi_ok  # not monotone (cannot happen): restart from the safe ends
        lo_n = jnp.where(both, lo_safe, jnp.where(~lo_ok, jnp.maximum(lo - w, lo_safe),
                                                  jnp.where(~hi_ok, hi, lo)))
        hi_n = jnp.where(both, hi_safe, jnp.where(~hi_ok, jnp.minimum(hi + w, hi_safe),
                                                  jnp.where(~lo_ok, lo, hi)))
        c = _count_minor(d, e2p, jnp.concatenate([lo_n, hi_n]), pivmin)
        new = (it + 1, lo_n, hi_n, c[:k] <= idx, c[k:] > idx, 2.0 * w)
        return _freeze(run, new, st)

    k = lo.shape[0]
    w0 = jnp.maximum(hi - lo, 4.0 * float(jnp.finfo(lo.dtype).eps) * jnp.maximum(jnp.abs(lo), floor))
    st = (jnp.zeros(lo.shape[1:], jnp.int32), lo, hi, lo_ok, hi_ok, w0)
    _, lo, hi, _, _, _ = lax.while_loop(lambda s: jnp.any(bad_of(s[3], s[4])), bw, st)

    unit = _grid_unit(floor)[None, :]
    lo_i = _grid_index(lo, unit, up=False)
    hi_i = _grid_index(hi, unit, up=True)

    def open4(lo_i, hi_i):
        return active & (hi_i - lo_i > 1)

    def run4(st):
        it, lo_i, hi_i = st
        return (it < 160) & jnp.any(open4(lo_i, hi_i), axis=0)

    def b4(st):
        run = run4(st)
        it, lo_i, hi_i = st
        mid_i = lo_i + (hi_i - lo_i) // 2
        cc = _count_minor(d, e2p, _grid_value(mid_i, unit), pivmin)
        below = cc <= idx
        op = open4(lo_i, hi_i)
        new = (it + 1, jnp.where(op & below, mid_i, lo_i), jnp.where(op & ~below, mid_i, hi_i))
        return _freeze(run, new, st)

    st = (jnp.zeros(lo.shape[1:], jnp.int32), lo_i, hi_i)
    it4, lo_i, hi_i = lax.while_loop(lambda s: jnp.any(run4(s)), b4, st)
    lo, hi = _grid_value(lo_i, unit), _grid_value(hi_i, unit)
    return lo + 0.5 * (hi - lo), it4


# The grid G of the final bisection: the floats that are integer multiples of
# u = ulp(floor) (floor = 1e-3·scale; u ≥ 2^-1000). Every float of magnitude ≥ P = 2^52·u
# is in G, below P exactly the multiples of u. Its points are numbered in order by
# int64 indices (a multiple m·u below P has index m; above P the index runs on with the
# float's bit pattern), so bisection on G is integer bisection. G's cell holding λ_i
# (index of its upper end: the smallest grid point whose Sturm count exceeds i) is a
# property of the matrix and the count sweep alone, which has no product feeding a sum.
# The path that led there (multisection, Laguerre steps, certificate) uses products and
# sums, and XLA:CPU contracts a*b + c into an FMA or not depending on the vector shape it
# compiles for (so on the batch size: openxla/xla#41579, no flag turns it off); a midpoint
# of the path's last bracket then differed by an ulp between batch sizes. The grid cell
# does not.

_GRID_TOP = 2**52


def _grid_unit(floor):
    """u = ulp(floor), a power of two, at least 2^-1000 (no subnormal arithmetic)."""
    _, ex = jnp.frexp(floor)
    return jnp.ldexp(jnp.ones_like(floor), jnp.maximum(ex - 53, -1000))


def _grid_index(x, unit, *, up: bool):
    """Index (int64) of the point of G at or below x (``up``: at or above)."""
    big = unit * float(_GRID_TOP)
    a = jnp.abs(x)
    q = x / unit  # exact: unit is a power of two
    small = (jnp.ceil(q) if up else jnp.floor(q)).astype(jnp.int64)
    bits = lax.bitcast_convert_type(a, jnp.int64) - lax.bitcast_convert_type(big, jnp.int64) + _GRID_TOP
    return jnp.where(a < big, small, jnp.where(x < 0, -bits, bits))


def _grid_value(i, unit):
    """The point of G with index i (inverse of :func:`_grid_index`)."""
    big = unit * float(_GRID_TOP)
    a = jnp.abs(i)
    bits = lax.bitcast_convert_type(big, jnp.int64) + (a - _GRID_TOP)
    large = lax.bitcast_convert_type(jnp.maximum(bits, 0), jnp.float64)
    return jnp.where(a < _GRID_TOP, i.astype(jnp.float64) * unit, jnp.where(i < 0, -large, large))


@functools.lru_cache(maxsize=None)
def _fast_lowest_fn(k: int):
    return _lanes_minor(lambda d, e, n_valid: _fast_lowest_minor(d, e, n_valid, k=k))


def fast_lowest(d, e, k: int, n_valid, *, return_iterations: bool = False):
    """Lowest ``k`` eigenvalues of the leading ``n_valid`` rows of (d, e): drop-in for
    :func:`bisect_lowest` (its contract, and the result is the midpoint of a fixed grid
    cell: bitwise independent of the batch whatever XLA fuses) at about a third of the cost.
    ``return_iterations``: also the iteration counts of stages 1, 2 and 4.
    vmap of it runs one lanes-minor kernel over the whole batch (see above)."""
    n_valid = jnp.asarray(n_valid, jnp.int32)
    lam, its = _fast_lowest_fn(k)(d[:, None], e[:, None], n_valid[None])
    if return_iterations:
        return lam[:, 0], its[:, 0]
    return lam[:, 0]


def _rayleigh_minor(d, e, lam, n_valid):
    """Lanes-minor :func:`rayleigh_delta`: d (n, B), e (n-1, B), lam (k, B), n_valid (B,)."""
    dt = d.dtype
    _, valid, _, _, pivmin, e2m, e2s = _minor_setup(d, e, n_valid)  # e² to the previous / next row
    pm = pivmin[None, :]

    def fstep(carry, row):
        qprev, a = carry
        di, e2i = row
        e2i = e2i[None, :]
        c = e2i / (qprev * qprev)
        a = jnp.where(e2i == 0, 0.0, c * (1.0 + a))  # A of this row (sum over rows above)
        q = (di[None, :] - lam) - e2i / qprev
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        return (q, a), (q, a)

    zk = jnp.zeros_like(lam)
    inf = jnp.full(lam.shape, jnp.inf, dt)
    _, (qf, a) = lax.scan(fstep, (inf, zk), (d, e2m), unroll=_UNROLL_DD)

    def bstep(carry, row):
        qprev, b, best, gr, nr = carry
        di, e2i, qfi, ai, vi = row
        e2i = e2i[None, :]
        dli = di[None, :] - lam
        c = e2i / (qprev * qprev)
        b = jnp.where(e2i == 0, 0.0, c * (1.0 + b))
        q = dli - e2i / qprev
        q = jnp.where(jnp.abs(q) < pm, -pm, q)
        g = qfi + q - dli
        ag = jnp.where(vi[None, :], jnp.abs(g), jnp.inf)
        better = ag <= best  # backward sweep: '<=' keeps the first minimum, as argmin
        return (q, b, jnp.where(better, ag, best), jnp.where(better, g, gr),
                jnp.where(better, 1.0 + ai + b, nr)), None

    init = (inf, zk, inf, zk, jnp.ones_like(lam))
    (_, _, _, gr, nrm2), _ = lax.scan(bstep, init, (d, e2s, qf, a, valid), reverse=True, unroll=_UNROLL_DD)
    return (gr / nrm2,)


_rayleigh_lanes = _lanes_minor(_rayleigh_minor)


def rayleigh_delta(d, e, lam, n_valid):
    """The Rayleigh correction γ_r/‖z‖² of :func:`twisted_pass` (its ``delta``) in two
    sweeps instead of five: ‖z‖² = 1 + A_r + B_r with the partial sums of squares of the
    twisted vector's outward products accumulated along the forward and backward pivot
    recurrences, A_r = (e_{r-1}/qf_{r-1})²(1 + A_{r-1}), B_r = (e_r/qb_{r+1})²(1 + B_{r+1}),
    so no vector is formed (lanes-minor kernel under vmap). Not differentiable (callers
    stop its gradient)."""
    n_valid = jnp.asarray(n_valid, jnp.int32)
    (out,) = _rayleigh_lanes(d[:, None], e[:, None], lam[:, None], n_valid[None])
    return out[:, 0]
