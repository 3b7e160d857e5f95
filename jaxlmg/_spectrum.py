r"""Batched, differentiable LMG spectrum in the symmetric Dicke basis.

At h = 0 the Hamiltonian commutes with the spin-flip parity Π (|m⟩ → |-m⟩) and splits
into two tridiagonal blocks on the (anti)symmetric combinations (|m⟩ ± |-m⟩)/√2. Each
block is diagonalised separately, so the quasi-degenerate tunnel doublet never mixes
and every level carries an exact parity label. The tunnel splittings come from the
cancellation-free Herring formula of :mod:`jaxlmg._splitting` (relative accuracy down
to ΔE ≪ 1e-308, as a logarithm), and the gaps E_k − E_0 from eigenvalues carried as
hi + lo sums. With h ≠ 0 (or a traced ``bias``) the full (N+1)-dimensional tridiagonal
matrix is used and levels carry parity 0.

Batch independence: the eigensolver of a point depends only on that point (its own N
and the call's ``levels``), never on the batch, and the h = 0 kernel
(:func:`jaxlmg._eigen.eigenvalues_dd`) is bitwise independent of padding and of
its batch neighbours. Batches over ``n_spins`` are padded: padded rows are decoupled
and placed above the spectrum. Sizes are grouped into power-of-two buckets so that a
grid of mixed N runs as a handful of compiled computations; on a CPU each bucket is cut
into power-of-two chunks of points sized to stay in cache (:func:`_chunk_points`).

Cost: O(N·k) time and memory per point on the h = 0 path (k = levels; no (N+1)² array
unless more than 48 levels are requested, where a dense ``eigh`` of each block is used).
"""

from __future__ import annotations

import functools
import os
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._cache import disk_jit
from ._config import ensure_x64
from ._eigen import eigenvalues_dd, tridiagonal_lowest
from ._splitting import herring_splittings
from ._status import Status
from ._tridiag import twisted_pass
from ._validate import check_levels, check_on_invalid, invalid_n_spins, invalid_real, N_SPINS_RULE

_EPS = float(np.finfo(np.float64).eps)
#: Where the plain difference E1 − E0 is used (h ≠ 0, or a pair that is not a tunnel
#: doublet), ΔE below this many eps·‖H‖ is reported as unresolved (relative error > 1e-3).
UNRESOLVED_FACTOR = 8.0e3
#: Largest n_spins accepted (int32 row indices inside the kernels).
N_SPINS_MAX = 2**31 - 2
#: Levels per parity block above which the h = 0 path uses a dense eigh per block.
DENSE_BLOCK_LEVELS = 24


class Spectrum(eqx.Module):
    """Lowest levels of the LMG Hamiltonian for a (batch of) parameter point(s).

    Shapes: batch shape ``S`` = broadcast of (n_spins, field, bias); ``k`` levels;
    ``d`` = N_max + 1 Dicke states (entries beyond N+1 are zero padding, see ``mask``).

    ``gaps[..., k] = E_k − E_0`` with relative accuracy (at h = 0: same-block gaps from
    hi + lo eigenvalues, opposite-parity partners through the Herring splitting).
    ``log_delta_e`` = ln(E1 − E0), finite even where ΔE underflows float64; computed
    at every point, also for ``levels=1``. ``delta_e`` = exp(log_delta_e) where
    ``status == OK`` (0 when it underflows), else NaN.

    Invalid points (``on_invalid="mask"``, or invalid traced values) carry NaN values
    and ``Status.INVALID_INPUT``; their ``field``/``bias`` are reported as given and
    their ``n_spins`` as given when it is an integer, −1 otherwise (an int field cannot
    hold NaN).
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
    gaps: Float[Array, "*S k"] = None
    log_delta_e: Float[Array, "*S"] = None
    coupling: Float[Array, ""] = 1.0

    @property
    def delta_e(self):
        """Tunnel splitting E1 − E0 (NaN where the status is not OK)."""
        return jnp.where(self.status == Status.OK, jnp.exp(self.log_delta_e), jnp.nan)

    @property
    def gap_errors(self):
        """Error bound of ``gaps`` (absolute, units of J; 0 for k = 0): the accuracy contract.

        At h = 0 the gaps carry relative accuracy: 8·N·eps (at least 64·eps), the bound
        measured against 50-digit mpmath for N ≤ 1e5 (``tests/test_splitting.py``: ≤ 7e-12
        at N ≤ 1e4, ≤ 5e-11 at N = 1e5). With h ≠ 0 they are differences of eigenvalues
        of the full matrix, accurate to 8·eps·‖H‖ each, ‖H‖ ≤ (N/2)(1 + 2Γ + 2|h|)·J.
        """
        n = self.n_spins.astype(jnp.float64)
        rel = jnp.maximum(8.0 * n * _EPS, 64.0 * _EPS)[..., None] * jnp.abs(self.gaps)
        norm = 0.5 * n * (1.0 + 2.0 * jnp.abs(self.field) + 2.0 * jnp.abs(self.bias)) * self.coupling
        absolute = jnp.broadcast_to((8.0 * _EPS * norm)[..., None], self.gaps.shape)
        err = jnp.where((self.bias == 0)[..., None], rel, absolute)
        return jnp.where(jnp.arange(self.gaps.shape[-1]) == 0, 0.0, err)


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


def _block_jz_q(odd_n, u_e, u_o, order):
    """(Jz, Q) between the sorted block levels, from the block vectors (shape (2, 2kb, 2kb)).

    Block row b holds |m| = b (even block) and |m| = b + 1 (odd block) for even N, |m| = b + ½
    (both) for odd N, with components u/√2 on ±m (the odd block with the sign of m; m = 0 has
    weight 1 but Jz = Q = 0 there). Only ⟨even|A|odd⟩ is non-zero: Σ_{m>0} m u_e u_o (Jz) and
    Σ_{m>0} u_e u_o (Q = sgn Jz), half the length of the Dicke vectors and no gather."""
    nb = u_e.shape[0]
    b = jnp.arange(nb, dtype=jnp.float64)
    u_o_even_n = jnp.concatenate([jnp.zeros_like(u_o[:1]), u_o[:-1]], axis=0)  # row m of the even block ↔ odd row m-1
    uo = jnp.where(odd_n, u_o, u_o_even_n)
    mabs = jnp.where(odd_n, b + 0.5, b)
    one = jnp.where(mabs > 0, 1.0, 0.0)
    kb = u_e.shape[1]
    z = jnp.zeros((kb, kb), u_e.dtype)

    def full(x):
        m = jnp.block([[z, x], [x.T, z]])
        return m[order][:, order]

    return jnp.stack([full((mabs[:, None] * u_e).T @ uo), full((one[:, None] * u_e).T @ uo)])


def _blocks_point(n, field, coupling, nb: int, kb: int, dim: int, method: str, ops: bool = False):
    """Parity-block eigenpairs of one point, mapped back to the Dicke basis (size dim);
    with ``ops`` the (Jz, Q) elements of :func:`_block_jz_q` instead of the Dicke vectors."""
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
    kappa = jnp.where(odd_n, -2.0 * c_mid, -e_even[0] if nb > 1 else 0.0)

    def solve(d, e, valid, size):
        pad = _pad_level(d, e, valid)
        d = jnp.where(valid, d, pad)
        size = size.astype(jnp.int32)
        if method == "bisection":
            w_hi, w_lo = eigenvalues_dd(d, e, kb, size)
        else:
            w_hi, _ = tridiagonal_lowest(d, e, kb, method)
            w_lo = jax.lax.stop_gradient(twisted_pass(d, e, w_hi, jnp.zeros_like(w_hi), size)[1])
        # Vectors and barrier amplitudes from one twisted pass at hi + lo (differentiable).
        u, _, lf, sf, _ = twisted_pass(d, e, w_hi, jax.lax.stop_gradient(w_lo), size)
        u = jnp.where(valid[:, None], u, 0.0)
        return w_hi, w_lo, u, lf, sf, _scale(jnp.where(valid, d, 0.0), e)

    # Both blocks in one vmapped solve (one compiled kernel, not two).
    outs = jax.vmap(solve)(jnp.stack([d_even, d_odd]), jnp.stack([e_even, e_odd]),
                           jnp.stack([valid_e, valid_o]), jnp.stack([size_even, size_odd]))
    (we_hi, wo_hi), (we_lo, wo_lo), (u_e, u_o), (lf_e, lf_o), (sf_e, sf_o), (s_e, s_o) = outs
    split, log_split, herring = herring_splittings(kappa, ~odd_n, u_e, u_o, lf_e, sf_e, lf_o, sf_o,
                                                   we_hi, we_lo, wo_hi, wo_lo)

    w = jnp.concatenate([we_hi + we_lo, wo_hi + wo_lo])
    par = jnp.concatenate([jnp.ones(kb, jnp.int32), -jnp.ones(kb, jnp.int32)])
    # Gaps to the even ground state: same block from hi + lo; odd partners via Herring.
    g_e = (we_hi - we_hi[0]) + (we_lo - we_lo[0])
    g_o = jnp.where(herring, g_e + split, (wo_hi - we_hi[0]) + (wo_lo - we_lo[0]))
    gaps = jnp.concatenate([g_e, g_o])
    # Padded block eigenvalues (blocks smaller than kb) must never be selected.
    avail = jnp.concatenate([jnp.arange(kb) < size_even, jnp.arange(kb) < size_odd])
    w_sort = jnp.where(avail, w, jnp.inf)
    order = jnp.argsort(w_sort, stable=True)
    # Block vectors in the Dicke basis (index i ↔ m = i − N/2), as a gather of the block
    # rows |m| (even N: even block b = |m|, odd block b = |m| − 1; odd N: b = |m| − ½)
    # with weights 1/√2 (1 at m = 0 of the even block) and the sign of m in the odd block.
    par_sel = par[order]
    scale = jnp.maximum(s_e, s_o)
    plain_ok = split[0] >= UNRESOLVED_FACTOR * _EPS * scale
    resolved = herring[0] | plain_ok | (field == 0.0)
    log_de = log_split[0]
    if ops:
        return w[order], _block_jz_q(odd_n, u_e, u_o, order), par_sel, avail[order], gaps[order], log_de, resolved
    u_sel = jnp.concatenate([u_e, u_o], axis=1)[:, order]
    mi = jnp.arange(dim, dtype=jnp.float64) - nf / 2.0
    am = jnp.abs(mi)
    inside = jnp.arange(dim) <= n
    b_e = jnp.where(odd_n, am - 0.5, am)
    b_o = jnp.where(odd_n, am - 0.5, am - 1.0)
    rows_e = jnp.where(inside, jnp.round(b_e), 0).astype(jnp.int32)
    rows_o = jnp.where(inside & (mi != 0), jnp.round(b_o), 0).astype(jnp.int32)
    r2 = 1.0 / jnp.sqrt(2.0)
    wgt_e = jnp.where(inside, jnp.where(mi == 0, 1.0, r2), 0.0)
    wgt_o = jnp.where(inside & (mi != 0), jnp.where(mi < 0, -r2, r2), 0.0)
    v = jnp.where(par_sel[None, :] == 1, u_sel[rows_e] * wgt_e[:, None], u_sel[rows_o] * wgt_o[:, None])
    return w[order], v, par_sel, avail[order], gaps[order], log_de, resolved


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
    de = w[1] - w[0]
    scale = _scale(jnp.where(valid, d, 0.0), e)
    resolved = (de >= UNRESOLVED_FACTOR * _EPS * scale) | (field == 0.0)
    log_de = jnp.where(de > 0, jnp.log(jnp.where(de > 0, de, 1.0)), jnp.where(de == 0, -jnp.inf, jnp.nan))
    return w, v, par, avail, w - w[0], log_de, resolved


@disk_jit("spectrum_kernel", static_argnames=("nb", "kb", "k", "kc", "dim", "method", "blocks", "ops"))
def _kernel(n, field, bias, coupling, *, nb, kb, k, kc, dim, method, blocks, ops=False):
    # Invalid values (possible when traced) never reach the solver: NaN + INVALID_INPUT.
    # ``coupling`` is one scalar for the whole call (a runtime value, so it may be traced).
    bad_c = ~jnp.isfinite(coupling) | (coupling <= 0)
    bad = ~jnp.isfinite(field) | (field < 0) | ~jnp.isfinite(bias) | bad_c
    f_safe = jnp.where(bad, 0.5, field)
    b_safe = jnp.where(bad, 0.0, bias)
    coupling = jnp.where(bad_c, 1.0, coupling)
    if ops and not blocks:
        raise ValueError("the in-kernel (Jz, Q) elements need the parity-block path (bias = 0)")
    if blocks:
        f = lambda n_, g_, h_: _blocks_point(n_, g_, coupling, nb, kb, dim, method, ops)
    else:
        f = lambda n_, g_, h_: _full_point(n_, g_, h_, coupling, dim, kc, method)
    w, v, par, avail, gaps, log_de, resolved = jax.vmap(f)(n, f_safe, b_safe)
    w, par, avail, gaps = w[:, :k], par[:, :k], avail[:, :k], gaps[:, :k]
    # ops: the (Jz, Q) elements from the block vectors (_blocks_point) in place of the vectors
    v = v[:, :, :k, :k] if ops else v[:, :, :k]
    w = jnp.where(avail, w, jnp.nan)
    gaps = jnp.where(avail, gaps, jnp.nan)
    status = jnp.where(resolved, Status.OK, Status.UNRESOLVED)
    status = jnp.where(bad, Status.INVALID_INPUT, status).astype(jnp.int32)
    nanb = lambda a, extra: jnp.where(bad.reshape(bad.shape + (1,) * extra), jnp.nan, a)
    log_de = jnp.where(status == Status.OK, log_de, jnp.nan)
    return nanb(w, 1), nanb(v, v.ndim - 1), par, status, nanb(gaps, 1), log_de


def _bucket_size(n_max: int, octave: bool = False) -> int:
    """Round a Dicke dimension up to a power of two or three quarters of one (≥ 64): a whole
    N-grid compiles two kernels per octave, with ≤ 1.5x (1.2x on average over a uniform
    N-scan) padded rows. Whole octaves padded up to 2x: the W3 map's N = 520-600 ran on
    1024 rows instead of 768, and its spectrum took 0.20 s instead of 0.16 s. ``octave``:
    powers of two only (``spectrum(..., bucket="octave")``: half the kernels of a sparse scan)."""
    p = 1 << (int(n_max) - 1).bit_length()
    return max(64, 3 * p // 4 if (4 * int(n_max) <= 3 * p and not octave) else p)


#: Target size (float64 elements) of one (rows, lanes, matrices) working array of a
#: kernel call on a CPU: sized to stay in cache (see :func:`_chunk_points`).
CHUNK_ELEMENTS_CPU = 2**19
#: ... and at most this many points per call on a CPU (small matrices: see :func:`_chunk_points`).
CHUNK_POINTS_MAX_CPU = 64


def _chunk_points(mats: int, rows: int, lanes: int, method: str) -> int:
    """Points per kernel call (a power of two): a batch larger than this is cut into
    chunks of this many points, the last one padded to a power of two of at least a
    quarter chunk (at most three compiled shapes per bucket). On a CPU a chunk's (rows, lanes, matrices) working arrays are kept near
    ``CHUNK_ELEMENTS_CPU`` doubles: the sweeps are memory-bound, and per point a call of
    64 points at N = 2000 (levels 5) ran 1.8x faster than one of 512 (0.46 against
    0.84 ms/point); the dense path holds (rows, rows) per matrix. Small matrices are capped at
    ``CHUNK_POINTS_MAX_CPU`` points all the same: the W3 map's spectrum (1479 points, N ≤ 600,
    5 levels, 128-256 points per call by the element rule) took 0.123 s in calls of 64 points
    against 0.15-0.20 s, and the W2 sweep was unchanged (0.63 s). On an accelerator the
    cost is per launch, so a call takes the whole bucket. Points never interact, so
    results do not depend on the chunking."""
    if jax.default_backend() != "cpu":
        return 1 << 40
    per_point = mats * rows * (rows if method == "dense" else lanes)
    c = min(CHUNK_POINTS_MAX_CPU, max(1, CHUNK_ELEMENTS_CPU // max(1, per_point)))
    return 1 << (c.bit_length() - 1)


def _choose_method(k: int, n_own: int, blocks: bool, solver: str) -> str:
    """Eigensolver of one point: a function of the point's own size and the call's
    ``levels`` only (never of the batch), so a point's answer cannot depend on its batch."""
    if solver != "auto":
        return solver
    if blocks:
        return "dense" if (k + 1) // 2 > DENSE_BLOCK_LEVELS else "bisection"
    return "dense" if (n_own + 1 <= 64 or k > (n_own + 1) // 4) else "laguerre"


def _available_bytes() -> float:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024.0
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def _check_memory(n_b: np.ndarray, k: int, d_total: int, dense: bool):
    """Refuse (ValueError naming n_spins) a call whose arrays would not fit in memory."""
    per_point_rows = n_b.astype(np.float64) + 1.0
    kb = (k + 1) // 2 + 1
    work = np.sum(per_point_rows) * kb * 8.0 * 40.0  # kernel working arrays (both passes)
    if dense:
        work += np.sum(per_point_rows**2) * 8.0 * 3.0
    out = float(n_b.size) * d_total * k * 8.0 * 3.0
    need = work + out
    avail = _available_bytes()
    if need > 0.8 * avail:
        raise ValueError(
            f"n_spins up to {int(n_b.max())} with levels={k} for {n_b.size} point(s) needs about "
            f"{need / 2**30:.1f} GiB, more than the {avail / 2**30:.1f} GiB of memory available; "
            "use a smaller n_spins, fewer levels or smaller batches")


def _reject_bool(name: str, value: Any):
    if isinstance(value, (bool, np.bool_)) or (isinstance(value, np.ndarray) and value.dtype == bool):
        raise ValueError(f"{name} must be an integer, not a boolean; got {value!r}")


def _reported_n(n_spins, shape):
    """n_spins as given for reporting (masked points): the integer if it is one, else -1."""
    try:
        raw = np.broadcast_to(np.asarray(n_spins, dtype=np.float64), shape)
    except (TypeError, ValueError):
        return np.full(shape, -1, np.int64)
    ok = np.isfinite(raw) & (np.round(raw) == raw) & (np.abs(raw) <= N_SPINS_MAX)
    return np.where(ok, np.where(ok, raw, 0).astype(np.int64), -1)


def spectrum(n_spins, field, *, bias=0.0, levels: int | None = None, coupling: float = 1.0,
             on_invalid: str = "raise", bucket: bool = True, solver: str = "auto") -> Spectrum:
    r"""Lowest ``levels`` eigenpairs of H = -(2J/N)Jz² - 2ΓJx - 2hJz (all levels if None).

    Parameters
    ----------
    n_spins : int or int array
        Number of spins N, 1 ≤ N ≤ 2³¹ − 2 (Dicke dimension N+1). Must be concrete (it
        sets shapes). A call whose arrays would not fit in memory raises ValueError.
    field : float or array
        Transverse field Γ ≥ 0, in units of ``coupling``. May be traced (jit/vmap/grad);
        invalid traced values (NaN, negative) give NaN with ``Status.INVALID_INPUT``.
    bias : float or array
        Longitudinal field h. Exactly 0 (the default) selects the parity-block solver
        and the cancellation-free tunnel splitting.
    coupling : float
        J > 0, the energy unit of H (default 1). One scalar per call; may be traced
        (jit/grad/jvp): an invalid traced value gives NaN with ``Status.INVALID_INPUT``.
    levels : int, optional
        Number of lowest levels, 1 ≤ levels ≤ N+1 for the smallest N of the batch.
        ``delta_e``/``log_delta_e`` are computed for every ``levels`` (also 1).
    on_invalid : {"raise", "mask"}
        Invalid points raise ``ValueError`` (default) or come back as NaN with
        ``status == Status.INVALID_INPUT`` while the rest of the batch is computed.
    bucket : bool or "octave"
        Group mixed sizes into a few padded buckets (results equal the unpadded ones): two
        per octave of N (True, the default; at most 1.5x the rows), one per octave
        ("octave": half the compiled kernels of a sparse N-scan, such as a log-spaced one
        over decades, where compilation costs more than the up to 2x rows), or none (False).
    solver : {"auto", "bisection", "laguerre", "dense"}
        Tridiagonal eigensolver (see :mod:`jaxlmg._eigen`). "auto": at h = 0 the
        deterministic Sturm-certified kernel (:func:`jaxlmg._tridiag.fast_lowest`:
        multisection, Laguerre, count certificate; dense ``eigh`` per block above 48 levels); with
        h ≠ 0 dense for N + 1 ≤ 64 or levels > (N+1)/4, else Laguerre. The choice
        depends only on each point's own N and ``levels``, never on the batch.

    ``n_spins``, ``field`` and ``bias`` broadcast against each other.

    Status: ``OK`` wherever ΔE is accurate. At h = 0 this is every point with finite
    inputs (the Herring splitting has relative accuracy ≤ 1e-10 for N ≤ 1e5); UNRESOLVED
    remains possible only where the Herring formula does not apply (the two lowest block
    levels are not a tunnel doublet, overlap < 1/4) *and* the plain difference is below
    8e3·eps·‖H‖ — not observed for Γ ≥ 0 — and, with h ≠ 0 (plain E1 − E0), for
    splittings below 8e3·eps·‖H‖.
    """
    return _spectrum_core(n_spins, field, bias=bias, levels=levels, coupling=coupling, on_invalid=on_invalid,
                          bucket=bucket, solver=solver, ops=False)[0]


def spectrum_operators(n_spins, field, *, levels: int, coupling: float = 1.0):
    """(spec, ops): :func:`spectrum` at h = 0 without the eigenvectors, and the matrix elements
    ``ops[..., 0, :, :]`` = ⟨E_i|Jz|E_j⟩, ``ops[..., 1, :, :]`` = ⟨E_i|Q|E_j⟩ (Q = sgn Jz with
    sgn 0 = 0; equal to :func:`jaxlmg.matrix_elements` of the full spectrum up to rounding).

    The contractions run inside the spectrum kernel, so the (N+1)-long vectors are never
    assembled on the host: the truncated-operator path of thresholds and K3 maps.
    ``spec.vectors``, ``spec.m`` and ``spec.mask`` have zero length along the Dicke axis."""
    return _spectrum_core(n_spins, field, bias=0.0, levels=levels, coupling=coupling, on_invalid="raise",
                          bucket=True, solver="auto", ops=True)


def _spectrum_core(n_spins, field, *, bias, levels, coupling, on_invalid, bucket, solver, ops: bool):
    """Body of :func:`spectrum`; with ``ops`` it returns the (Jz, Q) elements instead of vectors."""
    ensure_x64()
    check_on_invalid(on_invalid)
    if not (isinstance(bucket, (bool, np.bool_)) or bucket == "octave"):
        raise ValueError(f'bucket must be True, False or "octave"; got {bucket!r}')
    from ._eigen import METHODS
    from ._validate import check_choice

    check_choice("solver", solver, ("auto",) + METHODS)
    _reject_bool("n_spins", n_spins)
    _reject_bool("levels", levels)
    traced = any(_is_traced(x) for x in (field, bias))
    n_raw = np.asarray(n_spins) if not isinstance(n_spins, (list, tuple)) else np.asarray(n_spins, dtype=object)
    try:
        n_float = np.asarray(n_spins, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"n_spins must be {N_SPINS_RULE}; got {n_spins!r}") from None
    too_big = np.isfinite(n_float) & (n_float > N_SPINS_MAX)
    if np.any(too_big) and on_invalid == "raise":
        bad_v = n_float[too_big].flat[0] if n_float.ndim else float(n_float)
        raise ValueError(f"n_spins must be an integer in [1, {N_SPINS_MAX}]; got {bad_v:g}")
    n_arr, n_bad = invalid_n_spins(np.where(too_big, 0.5, n_float))
    n_bad = n_bad | too_big
    del n_raw
    if traced:
        if np.any(n_bad):
            raise ValueError(f"n_spins must be {N_SPINS_RULE}; got {n_spins!r}")
        field_j = jnp.asarray(field, jnp.float64)
        bias_j = jnp.asarray(bias, jnp.float64)
        shape = jnp.broadcast_shapes(n_arr.shape, field_j.shape, bias_j.shape)
        bad = np.zeros(shape, bool)
        blocks = False if _is_traced(bias) else bool(np.all(np.asarray(bias) == 0.0))
        f_rep, b_rep = field_j, bias_j
    else:
        f_arr, f_bad, f_rule = invalid_real("field", field, minimum=0.0)
        b_arr, b_bad, b_rule = invalid_real("bias", bias)
        shape = np.broadcast_shapes(n_arr.shape, f_arr.shape, b_arr.shape)
        if on_invalid == "raise":
            for name, arr, badm, rule in (("n_spins", n_float, n_bad, N_SPINS_RULE),
                                          ("field", f_arr, f_bad, f_rule), ("bias", b_arr, b_bad, b_rule)):
                if np.any(badm):
                    from ._validate import _describe_bad
                    raise ValueError(_describe_bad(name, np.asarray(arr), badm, rule))
        bad = np.broadcast_to(n_bad, shape) | np.broadcast_to(f_bad, shape) | np.broadcast_to(b_bad, shape)
        field_j = np.where(np.broadcast_to(f_bad, shape), 0.5, np.broadcast_to(f_arr, shape))
        bias_j = np.where(np.broadcast_to(b_bad, shape), 0.0, np.broadcast_to(b_arr, shape))
        blocks = bool(np.all(bias_j[~bad] == 0.0)) if np.any(~bad) else True
        f_rep = np.broadcast_to(f_arr, shape).reshape(-1)
        b_rep = np.broadcast_to(b_arr, shape).reshape(-1)
    if _is_traced(coupling):
        coupling = jnp.asarray(coupling, jnp.float64)
        if coupling.ndim != 0:
            raise ValueError(f"coupling must be a scalar; got shape {coupling.shape}")
        # Invalid traced values (NaN, <= 0) give NaN + INVALID_INPUT inside the kernel.
    else:
        _reject_bool("coupling", coupling)
        try:
            c_arr = np.asarray(coupling, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"coupling must be a finite real number > 0; got {coupling!r}") from None
        if c_arr.ndim != 0:
            raise ValueError(f"coupling must be a scalar; got shape {c_arr.shape}")
        coupling = float(c_arr)
        if not np.isfinite(coupling) or coupling <= 0:
            raise ValueError(f"coupling must be a finite real number > 0; got {coupling!r}")

    n_b = np.broadcast_to(n_arr, shape).reshape(-1)
    badf = np.broadcast_to(bad, shape).reshape(-1)
    n_b = np.where(badf, 1, n_b)  # invalid points run as N = 1 (results masked)
    good_n = n_b[~badf] if np.any(~badf) else n_b
    n_min, n_max = int(good_n.min()), int(good_n.max())
    if levels is None:
        k = n_max + 1
    else:
        # Strict by default; with on_invalid="mask" smaller N of a ragged batch get NaN
        # for the levels they do not have.
        k = check_levels(levels, (n_max if on_invalid == "mask" else n_min) + 1)
    kc = max(k, 2)  # the full-matrix path always computes E1 for ΔE
    d_total = n_max + 1
    methods = np.array([_choose_method(k if blocks else kc, int(x), blocks, solver) for x in np.unique(n_b)])
    meth_of = dict(zip(np.unique(n_b).tolist(), methods.tolist()))
    meth_b = np.array([meth_of[int(x)] for x in n_b]) if n_b.size else np.array([], dtype=str)
    _check_memory(n_b, k, d_total, dense=bool(np.any(meth_b == "dense")))
    bx = jnp if traced else np
    field_b = bx.broadcast_to(field_j, shape).reshape(-1)
    bias_b = bx.broadcast_to(bias_j, shape).reshape(-1)

    def run(n_sub, f_sub, b_sub, dim_states, method, min_pad=1):
        nb = (dim_states - 1) // 2 + 1
        # At h = 0 with Γ > 0 the levels alternate in parity (the i-th eigenvector of a
        # persymmetric Jacobi matrix has i nodes), and at Γ = 0 they come in degenerate
        # pairs: either way the lowest k levels hold ceil(k/2) of each block.
        kb = min((k + 1) // 2, nb)
        # Pad the batch to a power of two (copies of its first point): a few compiled
        # shapes serve every batch size; points never interact, so results are unchanged.
        m_pts = len(n_sub)
        m_pad = max(1 << max(0, (m_pts - 1).bit_length()), min_pad)
        if m_pad > m_pts:
            rep = np.zeros(m_pad - m_pts, np.int64)
            n_sub = np.concatenate([n_sub, n_sub[rep]])
            cat = jnp.concatenate if traced else np.concatenate
            f_sub, b_sub = cat([f_sub, f_sub[rep]]), cat([b_sub, b_sub[rep]])
        out = _kernel(jax.device_put(n_sub), f_sub, b_sub, coupling, nb=nb, kb=kb, k=k, kc=min(kc, dim_states),
                      dim=dim_states, method=method, blocks=blocks, ops=ops)
        # Concrete outputs are cut on the host: an eager slice would compile one more program.
        return tuple(a[:m_pts] if _is_traced(a) else np.asarray(a)[:m_pts] for a in out)

    if bucket:
        dims = np.array([_bucket_size(int(x) + 1, octave=bucket == "octave") for x in n_b])
    else:
        dims = np.full(n_b.shape, max(d_total, 2))
    keys = sorted(set(zip(dims.tolist(), meth_b.tolist())))
    B = n_b.size
    runs = []
    for dim_states, method in keys:
        sel_all = np.nonzero((dims == dim_states) & (meth_b == method))[0]
        dim_states = int(dim_states)
        if blocks:
            cap = _chunk_points(2, (dim_states - 1) // 2 + 1, min((k + 1) // 2, (dim_states - 1) // 2 + 1), method)
        else:
            cap = _chunk_points(1, dim_states, min(kc, dim_states), method)
        # Batches larger than a chunk run as chunks of ``cap`` points, the last one padded to a
        # power of two of at least cap/4: at most three compiled shapes per bucket, whatever
        # the batch size (smaller batches: one call padded to a power of two, as before).
        min_pad = max(1, cap // 4) if len(sel_all) > cap else 1
        for start in range(0, len(sel_all), cap):
            sel = sel_all[start:start + cap]
            runs.append((sel, run(n_b[sel], field_b[sel], bias_b[sel], dim_states, method, min_pad)))
    # Inside an outer trace (jit/vmap/grad of a caller) the kernel's outputs are tracers even
    # when every input of this call is concrete: assemble with jnp then, with numpy otherwise.
    staged = traced or any(_is_traced(a) for _, out in runs for a in out)
    xp = jnp if staged else np
    w = xp.full((B, k), np.nan)
    d_vec = 0 if ops else d_total
    v = xp.zeros((B, d_vec, k))
    opm = xp.zeros((B, 2, k, k)) if ops else None
    par = xp.zeros((B, k), np.int32)
    status = xp.zeros(B, np.int32)
    gaps = xp.full((B, k), np.nan)
    logde = xp.full(B, np.nan)
    for sel, (wi, vi, pi, si, gi, li) in runs:
        dd = min(vi.shape[1], d_vec)
        if staged:
            w, par, status = w.at[sel].set(wi), par.at[sel].set(pi), status.at[sel].set(si)
            gaps, logde = gaps.at[sel].set(gi), logde.at[sel].set(li)
            if ops:
                opm = opm.at[sel].set(vi)
            else:
                v = v.at[sel, :dd].set(vi[:, :dd])
        else:
            w[sel], par[sel], status[sel] = np.asarray(wi), np.asarray(pi), np.asarray(si)
            gaps[sel], logde[sel] = np.asarray(gi), np.asarray(li)
            if ops:
                opm[sel] = np.asarray(vi)
            else:
                v[sel, :dd] = np.asarray(vi)[:, :dd]

    if np.any(badf):  # (skipped otherwise: each is a full pass over the (B, N+1, k) vectors)
        status = xp.where(badf, int(Status.INVALID_INPUT), status)
        w = xp.where(badf[:, None], np.nan, w)
        v = xp.where(badf[:, None, None], np.nan, v)
        if ops:
            opm = xp.where(badf[:, None, None, None], np.nan, opm)
        gaps = xp.where(badf[:, None], np.nan, gaps)
        logde = xp.where(badf, np.nan, logde)
        par = xp.where(badf[:, None], 0, par)
    nn = np.asarray(n_b)
    m = np.arange(d_vec, dtype=np.float64)[None, :] - nn[:, None] / 2.0
    mask = (m <= nn[:, None] / 2.0) & ~badf[:, None]
    m = np.where(mask, m, 0.0)
    if traced:
        fb, bb = field_b, bias_b
        n_rep = nn
    else:
        fb, bb = np.where(badf, f_rep, field_b), np.where(badf, b_rep, bias_b)
        n_rep = np.where(badf, _reported_n(n_spins, shape).reshape(-1), nn)
    # Concrete results go to the device with device_put: jnp.asarray of a numpy array compiles (and,
    # with the persistent cache, reads back) an identity program per shape and dtype in jax 0.10.
    rs = lambda a, tail=(): jnp.asarray(a).reshape(shape + tail) if staged else jax.device_put(np.asarray(a).reshape(shape + tail))
    spec = Spectrum(
        energies=rs(w, (k,)), vectors=rs(v, (d_vec, k)), m=rs(m, (d_vec,)), mask=rs(mask, (d_vec,)),
        parity=rs(par, (k,)), status=rs(status.astype(np.int32) if not staged else status.astype(jnp.int32)),
        n_spins=rs(n_rep), field=rs(fb), bias=rs(bb), gaps=rs(gaps, (k,)), log_delta_e=rs(logde),
        coupling=coupling,
    )
    return spec, (rs(opm, (2, k, k)) if ops else None)
