r"""Batched, differentiable LMG spectrum in the symmetric Dicke basis.

At h = 0 the Hamiltonian commutes with the spin-flip parity Π (|m⟩ → |-m⟩) and splits
into two tridiagonal blocks on the (anti)symmetric combinations (|m⟩ ± |-m⟩)/√2. Each
block is diagonalised separately, so the quasi-degenerate tunnel doublet never mixes
and every level carries an exact parity label. With h ≠ 0 (or a traced ``bias``) the
full (N+1)-dimensional tridiagonal matrix is used and levels carry parity 0.

Batches over ``n_spins`` are padded: the padded rows of each block are decoupled and
placed above the spectrum, so the lowest levels are those of the unpadded matrix.
Sizes are grouped into a few buckets so that a grid of mixed N runs as a handful of
compiled computations rather than one per N.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._eigen import tridiagonal_lowest
from ._status import Status
from ._validate import check_levels, check_on_invalid, invalid_n_spins, invalid_real, N_SPINS_RULE

_EPS = float(np.finfo(np.float64).eps)
#: ΔE below this many eps·‖H‖ is reported as unresolved (relative error above ~1e-3).
UNRESOLVED_FACTOR = 8.0e3


class Spectrum(eqx.Module):
    """Lowest levels of the LMG Hamiltonian for a (batch of) parameter point(s).

    Shapes: batch shape ``S`` = broadcast of (n_spins, field, bias); ``k`` levels;
    ``d`` = N_max + 1 Dicke states (entries beyond N+1 are zero padding, see ``mask``).
    """

    energies: Float[Array, "*S k"]
    vectors: Float[Array, "*S d k"]
    m: Float[Array, "*S d"]
    mask: Array
    parity: Int[Array, "*S k"]
    status: Int[Array, "*S"]
    n_spins: Int[Array, "*S"]
    field: Float[Array, "*S"]
    bias: Float[Array, "*S"]
    coupling: float = eqx.field(static=True, default=1.0)

    @property
    def delta_e(self):
        """Tunnel splitting E1 - E0 (NaN where unresolved in float64)."""
        de = self.energies[..., 1] - self.energies[..., 0]
        return jnp.where(self.status == Status.OK, de, jnp.nan)


def _is_traced(x: Any) -> bool:
    return isinstance(x, jax.core.Tracer)


def _ladder(n, idx_m):
    """sqrt(j(j+1) - m(m+1)) with traced n (j = n/2)."""
    j = n / 2.0
    return jnp.sqrt(jnp.maximum(j * (j + 1.0) - idx_m * (idx_m + 1.0), 0.0))


def _pad_level(d, e, valid_d):
    """A diagonal value above the Gershgorin bound of the valid part (no gradient)."""
    big = jnp.max(jnp.where(valid_d, d, -jnp.inf)) + 2.0 * jnp.max(jnp.abs(e)) + 1.0
    return jax.lax.stop_gradient(big)


def _scale(d, e):
    return jnp.max(jnp.abs(d)) + 2.0 * jnp.max(jnp.abs(e))


def _blocks_point(n, field, coupling, nb: int, kb: int, dim: int, method: str):
    """Parity-block eigenpairs of one point, mapped back to the Dicke basis (size dim)."""
    nf = n.astype(jnp.float64)
    odd_n = (n % 2) == 1
    b = jnp.arange(nb, dtype=jnp.float64)
    # m of block row b: even N -> even block m=b, odd block m=b+1; odd N -> m=b+1/2 (both)
    m_even = jnp.where(odd_n, b + 0.5, b)
    m_odd = jnp.where(odd_n, b + 0.5, b + 1.0)
    jj = nf / 2.0
    size_even = jnp.where(odd_n, (n + 1) // 2, n // 2 + 1)
    size_odd = jnp.where(odd_n, (n + 1) // 2, n // 2)
    valid_e = b < size_even
    valid_o = b < size_odd

    def diag_of(mv):
        return -(2.0 * coupling / nf) * mv**2

    # Coupling between m=-1/2 and +1/2 for odd N: c = -Γ sqrt(j(j+1) + 1/4) = -Γ (j + 1/2).
    c_mid = -field * (jj + 0.5)
    d_even = diag_of(m_even) + jnp.where(odd_n & (b == 0), c_mid, 0.0)
    d_odd = diag_of(m_odd) - jnp.where(odd_n & (b == 0), c_mid, 0.0)
    # Off-diagonals between rows b and b+1 (m -> m+1).
    e_even = -field * _ladder(nf, m_even[:-1])
    e_even = e_even * jnp.where((~odd_n) & (b[:-1] == 0), jnp.sqrt(2.0), 1.0)
    e_odd = -field * _ladder(nf, m_odd[:-1])
    e_even = jnp.where(valid_e[1:], e_even, 0.0)
    e_odd = jnp.where(valid_o[1:], e_odd, 0.0)

    def solve(d, e, valid):
        pad = _pad_level(d, e, valid)
        d = jnp.where(valid, d, pad)
        w, u = tridiagonal_lowest(d, e, kb, method)
        u = jnp.where(valid[:, None], u, 0.0)
        return w, u, _scale(jnp.where(valid, d, 0.0), e)

    w_e, u_e, s_e = solve(d_even, e_even, valid_e)
    w_o, u_o, s_o = solve(d_odd, e_odd, valid_o)

    # Map block vectors to the Dicke basis: index of +m is n/2 + m, of -m is n/2 - m.
    def embed(u, mv, valid, sign):
        ip = jnp.round(nf / 2.0 + mv).astype(jnp.int32)
        im = jnp.round(nf / 2.0 - mv).astype(jnp.int32)
        centre = mv == 0
        wp = jnp.where(centre, 1.0, 1.0 / jnp.sqrt(2.0))
        wm = jnp.where(centre, 0.0, sign / jnp.sqrt(2.0))
        wp = jnp.where(valid, wp, 0.0)
        wm = jnp.where(valid, wm, 0.0)
        ip = jnp.where(valid, ip, 0)
        im = jnp.where(valid, im, 0)
        full = jnp.zeros((dim, u.shape[1]), u.dtype)
        full = full.at[ip].add(u * wp[:, None])
        full = full.at[im].add(u * wm[:, None])
        return full

    v_e = embed(u_e, m_even, valid_e, 1.0)
    v_o = embed(u_o, m_odd, valid_o, -1.0)
    w = jnp.concatenate([w_e, w_o])
    v = jnp.concatenate([v_e, v_o], axis=1)
    par = jnp.concatenate([jnp.ones(kb, jnp.int32), -jnp.ones(kb, jnp.int32)])
    # Padded block eigenvalues (blocks smaller than kb) must never be selected.
    avail = jnp.concatenate([jnp.arange(kb) < size_even, jnp.arange(kb) < size_odd])
    w_sort = jnp.where(avail, w, jnp.inf)
    order = jnp.argsort(w_sort, stable=True)
    # Doublet splitting from the two block ground states (no mixing by construction).
    de = w_o[0] - w_e[0]
    return w[order], v[:, order], par[order], jnp.where(avail[order], True, False), de, jnp.maximum(s_e, s_o)


def _full_point(n, field, bias, coupling, dim: int, k: int, method: str):
    nf = n.astype(jnp.float64)
    i = jnp.arange(dim, dtype=jnp.float64)
    m = i - nf / 2.0
    valid = i <= nf
    d = -(2.0 * coupling / nf) * m**2 - 2.0 * bias * m
    e = -field * _ladder(nf, m[:-1])
    e = jnp.where(valid[1:], e, 0.0)
    pad = _pad_level(d, e, valid)
    d = jnp.where(valid, d, pad)
    w, v = tridiagonal_lowest(d, e, k, method)
    v = jnp.where(valid[:, None], v, 0.0)
    avail = jnp.arange(k) <= n
    par = jnp.zeros(k, jnp.int32)
    de = w[1] - w[0] if k > 1 else jnp.zeros(())
    return w, v, par, avail, de, _scale(jnp.where(valid, d, 0.0), e)


@functools.partial(jax.jit, static_argnames=("nb", "kb", "k", "dim", "method", "blocks", "coupling"))
def _kernel(n, field, bias, *, nb, kb, k, dim, method, blocks, coupling):
    if blocks:
        f = lambda n_, g_, h_: _blocks_point(n_, g_, coupling, nb, kb, dim, method)
    else:
        f = lambda n_, g_, h_: _full_point(n_, g_, h_, coupling, dim, k, method)
    w, v, par, avail, de, scale = jax.vmap(f)(n, field, bias)
    w, v, par, avail = w[:, :k], v[:, :, :k], par[:, :k], avail[:, :k]
    w = jnp.where(avail, w, jnp.nan)
    resolved = (de >= UNRESOLVED_FACTOR * _EPS * scale) | (field == 0.0) | (k < 2)
    status = jnp.where(resolved, Status.OK, Status.UNRESOLVED).astype(jnp.int32)
    return w, v, par, status


def _bucket_size(n_max: int) -> int:
    """Round a Dicke dimension up to a power of two (≥ 64): a whole N-grid compiles a
    handful of kernels (≤ 1.4x padded work on a uniform N-scan)."""
    return max(64, 1 << (int(n_max) - 1).bit_length())


#: Batches (per size bucket) at least this large use the Laguerre kernel: it runs ~1.5x
#: faster than bisection but compiles ~2x slower, which only pays off for big batches.
LAGUERRE_MIN_BATCH = 64


def _choose_method(k: int, n: int, batch: int, solver: str) -> str:
    if solver != "auto":
        return solver
    if n <= 64 or k > n // 4:
        return "dense"
    return "laguerre" if batch >= LAGUERRE_MIN_BATCH else "bisection"


def spectrum(n_spins, field, *, bias=0.0, levels: int | None = None, coupling: float = 1.0,
             on_invalid: str = "raise", bucket: bool = True, solver: str = "auto") -> Spectrum:
    r"""Lowest ``levels`` eigenpairs of H = -(2J/N)Jz² - 2ΓJx - 2hJz (all levels if None).

    Parameters
    ----------
    n_spins : int or int array
        Number of spins N ≥ 1 (Dicke dimension N+1). Must be concrete (it sets shapes).
    field : float or array
        Transverse field Γ ≥ 0, in units of ``coupling``. May be traced (jit/vmap/grad).
    bias : float or array
        Longitudinal field h. Exactly 0 (the default) selects the parity-block solver.
    levels : int, optional
        Number of lowest levels, 1 ≤ levels ≤ N+1 for the smallest N of the batch.
    on_invalid : {"raise", "mask"}
        Invalid points raise ``ValueError`` (default) or come back as NaN with
        ``status == Status.INVALID_INPUT`` while the rest of the batch is computed.
    bucket : bool
        Group mixed sizes into a few padded buckets (results equal the unpadded ones).
    solver : {"auto", "bisection", "laguerre", "dense"}
        Tridiagonal eigensolver (see :mod:`jaxlmg._eigen`); "auto" picks dense for small
        blocks, Laguerre for batches of ≥ 64 points per size bucket, else bisection.

    ``n_spins``, ``field`` and ``bias`` broadcast against each other.
    """
    ensure_x64()
    check_on_invalid(on_invalid)
    from ._eigen import METHODS
    from ._validate import check_choice

    check_choice("solver", solver, ("auto",) + METHODS)
    traced = any(_is_traced(x) for x in (field, bias))
    n_arr, n_bad = invalid_n_spins(n_spins)
    if traced:
        if np.any(n_bad):
            raise ValueError(f"n_spins must be {N_SPINS_RULE}; got {n_spins!r}")
        field_j = jnp.asarray(field, jnp.float64)
        bias_j = jnp.asarray(bias, jnp.float64)
        shape = jnp.broadcast_shapes(n_arr.shape, field_j.shape, bias_j.shape)
        bad = np.zeros(shape, bool)
        blocks = False if _is_traced(bias) else bool(np.all(np.asarray(bias) == 0.0))
    else:
        f_arr, f_bad, f_rule = invalid_real("field", field, minimum=0.0)
        b_arr, b_bad, b_rule = invalid_real("bias", bias)
        shape = np.broadcast_shapes(n_arr.shape, f_arr.shape, b_arr.shape)
        if on_invalid == "raise":
            for name, arr, badm, rule in (("n_spins", np.asarray(n_spins, dtype=float) if not np.any(n_bad) else np.asarray(n_spins), n_bad, N_SPINS_RULE),
                                          ("field", f_arr, f_bad, f_rule), ("bias", b_arr, b_bad, b_rule)):
                if np.any(badm):
                    from ._validate import _describe_bad
                    raise ValueError(_describe_bad(name, np.asarray(arr), badm, rule))
        bad = np.broadcast_to(n_bad, shape) | np.broadcast_to(f_bad, shape) | np.broadcast_to(b_bad, shape)
        field_j = np.where(np.broadcast_to(f_bad, shape), 0.5, np.broadcast_to(f_arr, shape))
        bias_j = np.where(np.broadcast_to(b_bad, shape), 0.0, np.broadcast_to(b_arr, shape))
        blocks = bool(np.all(bias_j == 0.0))
    coupling = float(coupling)
    if not np.isfinite(coupling) or coupling <= 0:
        raise ValueError(f"coupling must be finite and > 0; got {coupling!r}")

    n_b = np.broadcast_to(n_arr, shape).reshape(-1)
    good_n = n_b[~bad.reshape(-1)] if np.any(~bad) else n_b
    n_min, n_max = int(good_n.min()), int(good_n.max())
    if levels is None:
        k = n_max + 1
    else:
        # Strict by default; with on_invalid="mask" smaller N of a ragged batch get NaN
        # for the levels they do not have.
        k = check_levels(levels, (n_max if on_invalid == "mask" else n_min) + 1)
    bx = jnp if traced else np
    field_b = bx.broadcast_to(field_j, shape).reshape(-1)
    bias_b = bx.broadcast_to(bias_j, shape).reshape(-1)

    def run(idx_n, n_sub, f_sub, b_sub):
        dim = n_sub_max = int(np.max(idx_n))
        if bucket and not traced:
            dim = _bucket_size(n_sub_max + 1) - 1
        dim = max(dim, n_max) if not bucket or traced else dim
        d_states = dim + 1
        nb = dim // 2 + 1
        # At h = 0 with Γ > 0 the levels alternate in parity (the i-th eigenvector of a
        # persymmetric Jacobi matrix has i nodes), and at Γ = 0 they come in degenerate
        # pairs: either way the lowest k levels hold ceil(k/2) of each block.
        kb = min((k + 1) // 2, nb)
        kk = k
        method = _choose_method(kb if blocks else kk, nb if blocks else d_states, len(n_sub), solver)
        return _kernel(jnp.asarray(n_sub), f_sub, b_sub, nb=nb, kb=kb, k=kk, dim=d_states,
                       method=method, blocks=blocks, coupling=coupling)

    d_total = n_max + 1
    if traced or not bucket:
        w, v, par, status = run(n_b, n_b, field_b, bias_b)
        v = v[:, :d_total]
    else:
        # Bucket by padded size; scatter back into full arrays.
        sizes = np.array([_bucket_size(int(x) + 1) for x in n_b])
        B = n_b.size
        w = np.full((B, k), np.nan)
        v = np.zeros((B, d_total, k))
        par = np.zeros((B, k), np.int32)
        status = np.zeros(B, np.int32)
        for s in np.unique(sizes):
            sel = np.nonzero(sizes == s)[0]
            wi, vi, pi, si = run(n_b[sel], n_b[sel], field_b[sel], bias_b[sel])
            w[sel], par[sel], status[sel] = np.asarray(wi), np.asarray(pi), np.asarray(si)
            dd = min(vi.shape[1], d_total)
            v[sel, :dd] = np.asarray(vi)[:, :dd]

    # Post-processing: numpy on concrete results (no per-op XLA compilations), jnp when traced.
    xp = jnp if traced else np
    if not traced:
        w, v, par, status = (np.asarray(a) for a in (w, v, par, status))
    badf = bad.reshape(-1)
    status = xp.where(badf, int(Status.INVALID_INPUT), status)
    w = xp.where(badf[:, None], np.nan, w)
    v = xp.where(badf[:, None, None], np.nan, v)
    nn = np.asarray(n_b)
    m = np.arange(d_total, dtype=np.float64)[None, :] - nn[:, None] / 2.0
    mask = m <= nn[:, None] / 2.0
    m = np.where(mask, m, 0.0)
    fb, bb = (field_b, bias_b) if traced else (np.asarray(field_b), np.asarray(bias_b))
    rs = lambda a, tail=(): jnp.asarray(a.reshape(shape + tail))
    return Spectrum(
        energies=rs(w, (k,)), vectors=rs(v, (d_total, k)), m=rs(m, (d_total,)), mask=rs(mask, (d_total,)),
        parity=rs(par, (k,)), status=rs(status.astype(np.int32) if not traced else status), n_spins=rs(nn),
        field=rs(fb), bias=rs(bb),
        coupling=coupling,
    )
