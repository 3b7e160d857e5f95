"""Tests for the LAPACK-free lowest-k tridiagonal eigensolver (jaxlmg._tridiag)."""

import jax
import jax.numpy as jnp
from jax import lax
import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings, strategies as st

import jaxlmg  # noqa: F401  (x64)
from jaxlmg._model import lmg_tridiagonal
from jaxlmg._tridiag import lowest_eigenpairs, lowest_eigenpairs_batched

EPS = np.finfo(np.float64).eps
_solve = jax.jit(lowest_eigenpairs, static_argnums=2)


def _check(d, e, k, w=None, v=None):
    d = np.asarray(d, float)
    e = np.asarray(e, float)
    n = len(d)
    if w is None:
        w, v = _solve(jnp.asarray(d), jnp.asarray(e), k)
    w, v = np.asarray(w), np.asarray(v)
    t = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
    # Reference: LAPACK bisection (stebz); numpy's eigvalsh is itself only ~10 eps·‖T‖.
    if n == 1:
        ref = d
    else:
        ref = sl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(0, k - 1))
    tn = max(np.max(np.abs(np.linalg.eigvalsh(t))), 1e-300)
    assert w.shape == (k,) and v.shape == (n, k)
    assert np.all(np.diff(w) >= 0)
    assert np.max(np.abs(w - ref[:k])) <= 10 * EPS * tn + 1e-300
    assert np.max(np.abs(t @ v - v * w)) <= 1e-12 * tn
    assert np.max(np.abs(v.T @ v - np.eye(k))) <= 1e-12
    assert np.all(v.sum(axis=0) >= -1e-12)
    return w, v


@settings(max_examples=20, deadline=None)
@given(n=st.integers(5, 40), seed=st.integers(0, 2**31 - 1),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_random_vs_numpy(n, seed, scale):
    # Padded to a fixed size (big diagonal, zero coupling) so that one compile serves all.
    k, size = 5, 40
    rng = np.random.default_rng(seed)
    d = scale * rng.normal(size=n)
    e = scale * rng.normal(size=n - 1)
    big = 10.0 * (np.max(np.abs(d)) + 2.0 * np.max(np.abs(e)))
    dp = np.r_[d, np.full(size - n, big)]
    ep = np.r_[e, np.zeros(size - n)]
    w, v = _solve(jnp.asarray(dp), jnp.asarray(ep), k)
    assert np.max(np.abs(np.asarray(v)[n:]), initial=0.0) == 0.0
    _check(d, e, k, w, np.asarray(v)[:n])


@pytest.mark.parametrize("n_spins", [1, 2, 3, 10, 370])
@pytest.mark.parametrize("field", [0.3, 0.95, 1.5])
def test_lmg_blocks(n_spins, field):
    d, e = lmg_tridiagonal(n_spins, field)
    k = min(5, n_spins + 1)
    _check(d, e, k)


def test_n1_and_k_equals_n():
    w, v = lowest_eigenpairs(jnp.array([2.5]), jnp.zeros((0,)), 1)
    assert float(w[0]) == 2.5 and float(v[0, 0]) == 1.0
    rng = np.random.default_rng(1)
    d, e = rng.normal(size=6), rng.normal(size=5)
    _check(d, e, 6)


def test_degenerate_diagonal():
    d = np.array([1.0, 1.0, 2.0, 2.0, 2.0, 3.0, 0.5])
    _check(d, np.zeros(6), 6)


def test_two_identical_decoupled_blocks():
    rng = np.random.default_rng(2)
    d0, e0 = rng.normal(size=12), rng.normal(size=11)
    d = np.r_[d0, d0]
    e = np.r_[e0, 0.0, e0]
    _check(d, e, 6)


def test_tiny_and_zero_offdiagonals():
    rng = np.random.default_rng(3)
    d = rng.normal(size=30)
    e = rng.normal(size=29)
    e[::4] = 0.0
    e[1::7] = 1e-20
    _check(d, e, 5)
    _check(d, np.full(29, 1e-300), 5)


def test_padded_equals_unpadded():
    d, e = map(np.asarray, lmg_tridiagonal(80, 0.95))
    k = 5
    w0, v0 = _check(d, e, k)
    for extra, big in [(1, 1e3), (37, 1e6)]:
        dp = np.r_[d, np.full(extra, big)]
        ep = np.r_[e, np.zeros(extra)]
        w1, v1 = _solve(jnp.asarray(dp), jnp.asarray(ep), k)
        tn = np.max(np.abs(w0))
        assert np.max(np.abs(np.asarray(w1) - w0)) <= 10 * EPS * tn
        assert np.max(np.abs(np.asarray(v1)[: len(d)] - v0)) <= 1e-10
        assert np.max(np.abs(np.asarray(v1)[len(d):])) == 0.0


def test_vmap_equals_loop_and_batched():
    rng = np.random.default_rng(4)
    b, n, k = 7, 25, 4
    d = rng.normal(size=(b, n))
    e = rng.normal(size=(b, n - 1))
    wv, vv = jax.jit(jax.vmap(lambda a, c: lowest_eigenpairs(a, c, k)))(d, e)
    wb, vb = lowest_eigenpairs_batched(d, e, k)
    for i in range(b):
        w, v = _check(d[i], e[i], k)
        np.testing.assert_allclose(wv[i], w, rtol=0, atol=1e-13)
        np.testing.assert_allclose(vv[i], v, rtol=0, atol=1e-12)
        np.testing.assert_allclose(wb[i], w, rtol=0, atol=1e-13)
        _check(d[i], e[i], k, wv[i], vv[i])


def test_matches_current_kernel_signs():
    from jaxlmg._eigen import tridiagonal_lowest

    d, e = lmg_tridiagonal(41, 0.7)
    w0, v0 = tridiagonal_lowest(d, e, 5, "bisection")
    w1, v1 = lowest_eigenpairs(d, e, 5)
    np.testing.assert_allclose(w1, w0, rtol=0, atol=1e-12)
    # Parity-odd columns sum to ~0, so their sign is arbitrary: compare those up to sign.
    odd = np.abs(np.sum(np.asarray(v0), axis=0)) < 1e-8
    v0, v1 = np.asarray(v0), np.asarray(v1)
    v0 = np.where(odd, v0 * np.sign(np.sum(v0 * v1, axis=0)), v0)
    np.testing.assert_allclose(v1, v0, rtol=0, atol=1e-10)


# ------------------------------------------------ deterministic bisection kernel (dd)

from jaxlmg._tridiag import lowest_eigenpairs_dd, twisted_pass  # noqa: E402

_dd = jax.jit(lowest_eigenpairs_dd, static_argnums=2)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(3, 40), seed=st.integers(0, 2**31 - 1), extra=st.integers(0, 24))
def test_dd_kernel_matches_scipy_and_is_padding_invariant(n, seed, extra):
    k, size = 4, 64
    k = min(k, n)
    rng = np.random.default_rng(seed)
    d = rng.normal(size=n)
    e = rng.normal(size=n - 1)
    big = 10.0 * (np.max(np.abs(d)) + 2.0 * np.max(np.abs(e)))

    def padded(m):
        return (jnp.asarray(np.r_[d, np.full(m - n, big)]), jnp.asarray(np.r_[e, np.zeros(m - n)]))

    hi, lo, v = _dd(*padded(size), 4, jnp.int32(n))
    hi2, lo2, v2 = _dd(*padded(size), 4, jnp.int32(n))  # deterministic
    hi3, lo3, v3 = _dd(*padded(n + extra if n + extra >= 4 else 4), 4, jnp.int32(n))
    hi, lo, v = np.asarray(hi)[:k], np.asarray(lo)[:k], np.asarray(v)[:, :k]
    assert np.array_equal(hi, np.asarray(hi3)[:k]) and np.array_equal(lo, np.asarray(lo3)[:k])
    assert np.array_equal(v[:n], np.asarray(v3)[:n, :k]) and np.all(v[n:] == 0.0)
    assert np.array_equal(hi, np.asarray(hi2)[:k])
    ref = sl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(0, k - 1))
    tn = np.max(np.abs(np.linalg.eigvalsh(np.diag(d) + np.diag(e, 1) + np.diag(e, -1))))
    assert np.max(np.abs(hi + lo - ref)) <= 10 * EPS * tn
    t = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
    assert np.max(np.abs(t @ v[:n] - v[:n] * (hi + lo))) <= 1e-11 * tn


def _even_block(n_spins, g):
    j = n_spins // 2
    m = np.arange(j + 1.0)
    d = -2.0 * m**2 / n_spins
    e = -g * np.sqrt(j * (j + 1.0) - m[:-1] * (m[:-1] + 1.0))
    e[0] *= np.sqrt(2.0)
    return d, e


def test_twisted_log_first_component_below_underflow():
    """log|v_0| of the LMG even-block ground state: equals scipy's where float64 holds
    v_0 (N = 40), and stays finite far below the float64 range (N = 4000, Γ = 0.05)."""
    for n_spins, g in [(40, 0.5), (4000, 0.05)]:
        d, e = _even_block(n_spins, g)
        hi, lo, v = lowest_eigenpairs_dd(jnp.asarray(d), jnp.asarray(e), 1, jnp.int32(d.size))
        _, _, lf, sf, r = twisted_pass(jnp.asarray(d), jnp.asarray(e), hi, lo, jnp.int32(d.size))
        assert float(sf[0]) == 1.0
        if n_spins == 40:
            w, vs = sl.eigh_tridiagonal(d, e, select="i", select_range=(0, 0))
            ref = np.log(abs(vs[0, 0]))
            assert abs(float(lf[0]) - ref) <= 1e-10 * abs(ref)
        else:
            assert np.isfinite(lf[0]) and float(lf[0]) < -745


# ------------------------------ fast dd eigenvalues (Laguerre + count certificate)

from jaxlmg._tridiag import _grid_finish, _minor_setup, bisect_lowest, fast_lowest, rayleigh_delta  # noqa: E402

_FAST_K, _FAST_ROWS = 4, 48
_fast = jax.jit(lambda d, e, nv: fast_lowest(d, e, _FAST_K, nv, return_iterations=True))
_fast_vm = jax.jit(jax.vmap(lambda d, e, nv: fast_lowest(d, e, _FAST_K, nv)))
_bis = jax.jit(lambda d, e, nv: bisect_lowest(d, e, _FAST_K, nv))
_delta_pair = jax.jit(lambda d, e, lam, nv: (rayleigh_delta(d, e, lam, nv),
                                             twisted_pass(d, e, lam, jnp.zeros_like(lam), nv)[1]))


def _np_count(d, e, x):
    """Plain Sturm count (number of eigenvalues < x), written independently."""
    pivmin = np.finfo(float).tiny * max(1.0, float(np.max(e**2, initial=0.0)))
    q, c = np.inf, 0
    for i in range(len(d)):
        q = (d[i] - x) - (e[i - 1] ** 2 / q if i > 0 else 0.0)
        if abs(q) < pivmin:
            q = -pivmin
        c += q < 0
    return c


def _random_matrix(kind, n, rng):
    if kind == "normal":
        return rng.normal(size=n), rng.normal(size=n - 1)
    if kind == "wilkinson":  # pairs of nearly degenerate eigenvalues
        m = (n - 1) / 2.0
        return np.abs(np.arange(n) - m), np.ones(n - 1)
    if kind == "graded":  # eigenvalues over many orders of magnitude, some near 0
        return np.geomspace(1e-8, 1e2, n) * rng.choice([-1.0, 1.0], n), 1e-3 * rng.normal(size=n - 1)
    if kind == "split":  # exact zeros in e: decoupled blocks, repeated eigenvalues
        d = rng.integers(-3, 4, n).astype(float)
        e = rng.normal(size=n - 1) * (rng.random(n - 1) < 0.3)
        return d, e
    d, e = _even_block(2 * (n - 1), float(rng.uniform(0.05, 1.5)))  # LMG even block
    return d, e


def _padded(d, e, rows):
    n = len(d)
    big = np.max(d) + 2.0 * np.max(np.abs(e), initial=0.0) + 1.0
    return jnp.asarray(np.r_[d, np.full(rows - n, big)]), jnp.asarray(np.r_[e, np.zeros(rows - n)])


@settings(max_examples=12, deadline=None)
@given(kind=st.sampled_from(["normal", "wilkinson", "graded", "split", "lmg"]),
       n=st.integers(1, 40), seed=st.integers(0, 2**31 - 1))
def test_fast_lowest_certified_padding_and_batch_invariant(kind, n, seed):
    """fast_lowest returns, for each lane i < n, a value inside a certified Sturm bracket
    (independent count: count(λ − τ) ≤ i < count(λ + τ), τ = 2 eps·max(|λ|, 1e-3·scale)),
    agrees with LAPACK and with the bisection kernel, and is bitwise independent of the
    padding and of its batch neighbours; lanes ≥ n lie above the valid spectrum."""
    rng = np.random.default_rng(seed)
    d, e = _random_matrix(kind, n, rng) if n > 1 else (rng.normal(size=1), np.zeros(0))
    nv = jnp.int32(n)
    lam, its = _fast(*_padded(d, e, _FAST_ROWS), nv)
    lam = np.asarray(lam)
    k = min(_FAST_K, n)
    # Certificate, checked with an independent count on the unpadded matrix.
    ae = np.abs(e)
    rad = np.r_[0.0, ae] + np.r_[ae, 0.0]
    scale = max(abs(np.min(d - rad)), abs(np.max(d + rad)))
    for i in range(k):
        tau = 2.0 * EPS * max(abs(lam[i]), 1e-3 * scale)
        assert _np_count(d, e, lam[i] - tau) <= i < _np_count(d, e, lam[i] + tau)
    assert np.all(lam[k:] >= np.max(d + rad))
    t = np.diag(d) + np.diag(e, 1) + np.diag(e, -1)
    ref = np.linalg.eigvalsh(t)[:k] if n > 1 else d
    assert np.max(np.abs(lam[:k] - ref)) <= 16 * EPS * max(scale, 1e-300)
    for i in range(k):  # the one grid cell that holds the count boundary, nothing path-dependent
        assert _in_boundary_cell(lam[i], i, d, e, 1e-3 * max(scale, np.finfo(float).tiny)), (i, lam[i])
    lb = np.asarray(_bis(*_padded(d, e, _FAST_ROWS), nv))
    assert np.max(np.abs(lam[:k] - lb[:k]) / np.maximum(np.abs(lb[:k]), 1e-3 * scale)) <= 8 * EPS
    # Padding (a different row count compiles another shape: reuse the vmapped one) and batch.
    other = rng.normal(size=_FAST_ROWS), rng.normal(size=_FAST_ROWS - 1)
    d2, e2 = _padded(d, e, _FAST_ROWS)
    batch = _fast_vm(jnp.stack([jnp.asarray(other[0]), d2]), jnp.stack([jnp.asarray(other[1]), e2]),
                     jnp.array([_FAST_ROWS, n], jnp.int32))
    _same_bits(np.asarray(batch[1]), lam, scale)
    dn, en = _padded(d, e, n + 3) if n + 3 <= _FAST_ROWS else _padded(d, e, _FAST_ROWS)
    dn = jnp.concatenate([dn, jnp.full((_FAST_ROWS - dn.shape[0],), dn[-1] + 1.0)])
    en = jnp.concatenate([en, jnp.zeros((_FAST_ROWS - 1 - en.shape[0],))])
    _same_bits(np.asarray(_fast(dn, en, nv)[0]), lam, scale)


def _same_bits(a, b, scale):
    """Bitwise equal, at -O0 (the tests' default) and with XLA's defaults (tests/test_user_codegen.py)."""
    assert np.array_equal(a, b), (a - b, scale)


def _grid_neighbours(x, unit):
    """The points of fast_lowest's final grid (floats that are multiples of unit = ulp(floor))
    just below and just above x, written independently of the kernel."""
    big = unit * 2.0**52
    if abs(x) >= big:
        lo, hi = np.nextafter(x, -np.inf), np.nextafter(x, np.inf)
        return (lo if abs(lo) >= big or lo < 0 else np.floor(lo / unit) * unit,
                hi if abs(hi) >= big or hi > 0 else np.ceil(hi / unit) * unit)
    m = x / unit
    return (np.ceil(m) - 1) * unit, (np.floor(m) + 1) * unit


def _in_boundary_cell(lam, i, d, e, floor):
    """lam is the midpoint (as computed in float64) of the one cell [a, b] of adjacent grid points
    with count(a) <= i < count(b): fast_lowest's contract, checked with an independent count."""
    unit = 2.0 ** max(np.frexp(floor)[1] - 53, -1000)
    below, above = _grid_neighbours(lam, unit)
    on_grid = lam == (np.floor(lam / unit) * unit if abs(lam) < unit * 2.0**52 else lam)
    cells = [(lam, above), (below, lam)] if on_grid else [(below, above)]
    return any(_np_count(d, e, a) <= i < _np_count(d, e, b) and lam == a + 0.5 * (b - a) for a, b in cells)


def test_fast_lowest_bits_independent_of_batch_size_and_order():
    """40 matrices of every kind: each one's eigenvalues alone, as copies filling batches of 3, 5
    and 8 (the batch sizes at which XLA:CPU once contracted the Laguerre arithmetic into FMAs
    differently), all 40 together and permuted: bitwise the same. Before the grid finish of
    fast_lowest, 3-8 of these 40 matrices moved by an ulp at k = 4."""
    rng = np.random.default_rng(7)
    kinds = ["normal", "wilkinson", "graded", "split", "lmg"]
    mats = [_random_matrix(kinds[j % 5], int(rng.integers(2, 41)), rng) for j in range(39)]
    mats.append(_random_matrix("wilkinson", 18, rng))  # hypothesis's first counterexample
    dd = np.stack([np.asarray(_padded(d, e, _FAST_ROWS)[0]) for d, e in mats])
    ee = np.stack([np.asarray(_padded(d, e, _FAST_ROWS)[1]) for d, e in mats])
    nv = np.array([len(d) for d, _ in mats], np.int32)
    alone = np.stack([np.asarray(_fast(dd[j], ee[j], nv[j])[0]) for j in range(40)])
    _same_bits(np.asarray(_fast_vm(dd, ee, nv)), alone, 1.0)
    perm = rng.permutation(40)
    _same_bits(np.asarray(_fast_vm(dd[perm], ee[perm], nv[perm])), alone[perm], 1.0)
    for size in (3, 5, 8):
        for j in range(40):
            out = np.asarray(_fast_vm(np.repeat(dd[j:j + 1], size, 0), np.repeat(ee[j:j + 1], size, 0),
                                      np.repeat(nv[j:j + 1], size)))
            _same_bits(out, np.repeat(alone[j:j + 1], size, 0), 1.0)


def test_fast_lowest_bracket_end_from_a_laguerre_count_off_by_one():
    """A split matrix (n = 26) where, at XLA's defaults, the Laguerre sweep's count (pivots through
    e²·(1/q), contracted into FMAs) put a stage-2 bracket end one ulp on the wrong side of the count
    sweep's boundary for λ_0; the grid finish then returned the cell next to the right one. The ends
    are now checked with the count sweep and widened: the result is the boundary cell."""
    d, e = _random_matrix("split", 26, np.random.default_rng(63))
    lam = np.asarray(_fast(*_padded(d, e, _FAST_ROWS), jnp.int32(26))[0])
    ae = np.abs(e)
    rad = np.r_[0.0, ae] + np.r_[ae, 0.0]
    scale = max(abs(np.min(d - rad)), abs(np.max(d + rad)))
    for i in range(_FAST_K):
        assert _in_boundary_cell(lam[i], i, d, e, 1e-3 * scale), (i, lam[i])


@jax.jit
def _finish(d, e, nv, lo, hi, lo_ok, hi_ok):
    """fast_lowest's grid finish (lanes-minor: d (n, B), lo (k, B)) from given bracket ends."""
    _, valid, _, _, pivmin, e2p, _ = _minor_setup(d, e, nv)
    ae = jnp.abs(e)
    z = jnp.zeros_like(ae[:1])
    rad = jnp.concatenate([z, ae]) + jnp.concatenate([ae, z])
    gl = jnp.min(jnp.where(valid, d - rad, jnp.inf), axis=0)
    gu = jnp.max(jnp.where(valid, d + rad, -jnp.inf), axis=0)
    floor = 1e-3 * jnp.maximum(jnp.maximum(jnp.abs(gl), jnp.abs(gu)), np.finfo(float).tiny)
    idx = jnp.arange(lo.shape[0])[:, None]
    active = idx < nv[None, :]
    safe_lo = jnp.broadcast_to(gl - 1.0, lo.shape)
    safe_hi = jnp.broadcast_to(gu + 1.0, lo.shape)
    return _grid_finish(d, e2p, pivmin, idx, active, floor, lo, hi, lo_ok, hi_ok, safe_lo, safe_hi)


def test_grid_finish_repairs_bracket_ends_on_the_wrong_side():
    """The grid finish given, for every lane of 40 matrices, a bracket whose lower end lies above
    λ_i (count > i, flagged), or whose upper end lies below it, by 3 grid points up to 1e-6·scale
    (independent count in numpy): it returns the boundary cell's midpoint, bitwise the same as
    fast_lowest from its own bracket, each end confirmed by the count alone."""
    rng = np.random.default_rng(11)
    kinds = ["normal", "wilkinson", "graded", "split", "lmg"]
    mats = [_random_matrix(kinds[j % 5], int(rng.integers(4, 41)), rng) for j in range(40)]
    dd = np.stack([np.asarray(_padded(d, e, _FAST_ROWS)[0]) for d, e in mats])
    ee = np.stack([np.asarray(_padded(d, e, _FAST_ROWS)[1]) for d, e in mats])
    nv = np.array([len(d) for d, _ in mats], np.int32)
    lam = np.asarray(_fast_vm(dd, ee, nv)).T  # (k, B)
    scales = []
    for d, e in mats:
        ae = np.abs(e)
        rad = np.r_[0.0, ae] + np.r_[ae, 0.0]
        scales.append(max(abs(np.min(d - rad)), abs(np.max(d + rad))))
    scales = np.array(scales)
    unit = 2.0 ** np.maximum(np.frexp(1e-3 * scales)[1] - 53, -1000)
    for off in (3.0 * np.maximum(np.spacing(np.abs(lam)), unit), 1e-9 * scales, 1e-6 * scales):
        above, below = lam + off, lam - off
        for b, (d, e) in enumerate(mats):  # the premise, by an independent count
            for i in range(_FAST_K):
                assert _np_count(d, e, above[i, b]) > i >= _np_count(d, e, below[i, b])
        ok, bad = np.ones_like(lam, bool), np.zeros_like(lam, bool)
        for lo, hi, lo_ok, hi_ok in ((above, above + 4 * off, bad, ok), (below - 4 * off, below, ok, bad),
                                     (above, above + off, bad, ok)):
            out, _ = _finish(dd.T, ee.T, nv, lo, hi, lo_ok, hi_ok)
            _same_bits(np.asarray(out), lam, 1.0)


def test_twisted_derivatives_finite_at_an_exact_eigenvalue():
    """A one-row block (N = 1) below padding rows: the certified eigenvalue is the diagonal entry
    itself, the pivot there is floored to -pivmin, and the derivatives of the twisted pass
    (vector, Rayleigh correction, log|v_0|) through it are finite and equal central differences.
    They were 0/0 = NaN (pivmin² underflows), which broke dΔE/dΓ at N = 1."""
    from jaxlmg._eigen import eigenvalues_dd

    e = jnp.zeros(3)

    def f(a):
        d = jnp.array([a, 50.0, 50.0, 50.0])
        w_hi, w_lo = eigenvalues_dd(d, e, 1, 1)
        v, delta, lf, _, _ = twisted_pass(d, e, w_hi, lax.stop_gradient(w_lo), 1)
        return jnp.sum(v[:, 0] * jnp.arange(1.0, 5.0)) + delta[0] + lf[0] + 3.0 * w_hi[0]

    e3 = jnp.array([0.0, 0.3, 0.0])

    def f3(a):  # row 0 decoupled from the block of rows 1-2: lane 1 has v_0 = 0, log|v_0| = -inf
        d = jnp.array([a, 1.0, 2.0, 50.0])
        w_hi, w_lo = eigenvalues_dd(d, e3, 2, 3)
        v, delta, lf, _, _ = twisted_pass(d, e3, w_hi, lax.stop_gradient(w_lo), 3)
        assert lf.shape == (2,)
        return jnp.sum(v[:, 1] * jnp.arange(1.0, 5.0)) + delta[0] + lf[0] + w_hi[0]

    for fun, a0 in ((f, -0.8), (f, -0.2), (f3, -0.8)):
        rows, ee, k, nv = ((jnp.array([a0, 50.0, 50.0, 50.0]), e, 1, 1) if fun is f
                           else (jnp.array([a0, 1.0, 2.0, 50.0]), e3, 2, 3))
        assert float(eigenvalues_dd(rows, ee, k, nv)[0][0]) == a0  # the kernel lands on the eigenvalue
        g = float(jax.grad(fun)(a0))
        h = 1e-6
        fd = (float(fun(a0 + h)) - float(fun(a0 - h))) / (2 * h)
        assert np.isfinite(g) and abs(g - fd) <= 1e-6 * max(1.0, abs(fd)), (fun.__name__, a0, g, fd)


@pytest.mark.parametrize("n_spins,g", [(40, 0.5), (400, 0.95), (398, 1.2)])
def test_rayleigh_delta_matches_twisted_pass(n_spins, g):
    """The two-sweep Rayleigh correction equals the twisted pass's γ_r/‖z‖² (relative
    1e-10), and hi + delta matches mpmath-free LAPACK eigenvalues to 4 eps·‖T‖."""
    d, e = _even_block(n_spins, g)
    rows = 256
    dp, ep = _padded(d, e, rows)
    nv = jnp.int32(d.size)
    lam = _fast(dp, ep, nv)[0]
    r_new, r_old = (np.asarray(x) for x in _delta_pair(dp, ep, lam, nv))
    assert np.max(np.abs(r_new - r_old)) <= 1e-10 * np.max(np.abs(r_old)) + 1e-300
    ref = sl.eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(0, _FAST_K - 1))
    tn = np.max(np.abs(ref)) + 2 * np.max(np.abs(e))
    assert np.max(np.abs(np.asarray(lam) + r_new - ref)) <= 4 * EPS * tn


# --------------------------- lanes-minor kernels (custom_vmap folds vmap into the matrix axis)

from jaxlmg._tridiag import _twisted_plain  # noqa: E402

_tw = jax.jit(jax.vmap(lambda d, e, lh, ll, nv: twisted_pass(d, e, lh, ll, nv)))
_tw_plain = jax.jit(jax.vmap(lambda d, e, lh, ll, nv: _twisted_plain(d, e, lh, ll, nv)))
_tw_nested = jax.jit(jax.vmap(jax.vmap(lambda d, e, lh, ll, nv: twisted_pass(d, e, lh, ll, nv))))


def test_twisted_pass_lanes_minor_matches_plain_and_batch():
    """twisted_pass (lanes-minor kernel under vmap) against the plain one-matrix reference
    vmapped the usual way: twist index and signs equal, vectors, Rayleigh corrections and
    log|v_0| within a few ulp; bitwise the same alone, in another batch and under nested
    vmap; its JVP is the plain kernel's JVP (same tangents, primal from the fast kernel)."""
    rng = np.random.default_rng(7)
    rows, k = 64, 3
    mats = [_random_matrix(kind, n, rng) for kind, n in
            (("lmg", 40), ("normal", 30), ("wilkinson", 21), ("graded", 64), ("lmg", 60), ("split", 17))]
    d = jnp.stack([_padded(a, b, rows)[0] for a, b in mats])
    e = jnp.stack([_padded(a, b, rows)[1] for a, b in mats])
    nv = jnp.array([len(a) for a, _ in mats], jnp.int32)
    lam = jax.vmap(lambda dd, ee, n_: fast_lowest(dd, ee, k, n_))(d, e, nv)
    lo = jnp.zeros_like(lam)
    fast = [np.asarray(x) for x in _tw(d, e, lam, lo, nv)]
    ref = [np.asarray(x) for x in _tw_plain(d, e, lam, lo, nv)]
    assert np.array_equal(fast[4], ref[4]) and np.array_equal(fast[3], ref[3])
    assert np.max(np.abs(fast[0] - ref[0])) <= 16 * EPS
    for j in (1, 2):  # log|v_0| = -inf (both) where v_0 = 0 exactly (split matrix)
        with np.errstate(invalid="ignore"):
            close = np.abs(fast[j] - ref[j]) <= 16 * EPS * np.abs(ref[j]) + 1e-300
        assert np.all((fast[j] == ref[j]) | close), j
    # batch independence: alone, reversed, and as a (2, 3) nested batch
    alone = [np.asarray(x) for x in _tw(d[2:3], e[2:3], lam[2:3], lo[2:3], nv[2:3])]
    rev = [np.asarray(x) for x in _tw(d[::-1], e[::-1], lam[::-1], lo[::-1], nv[::-1])]
    rs = lambda x: x.reshape((2, 3) + x.shape[1:])
    nest = [np.asarray(x).reshape((6,) + x.shape[2:]) for x in _tw_nested(rs(d), rs(e), rs(lam), rs(lo), rs(nv))]
    for a, r, n_, f in zip(alone, rev, nest, fast):
        assert np.array_equal(a[0], f[2]) and np.array_equal(r[::-1], f) and np.array_equal(n_, f)
    # derivatives come from the plain kernel
    i = 0
    args = (d[i], e[i], lam[i], lo[i], nv[i])
    tang = (jnp.asarray(rng.normal(size=rows)), jnp.asarray(rng.normal(size=rows - 1)), jnp.zeros(k), jnp.zeros(k),
            np.zeros((), jax.dtypes.float0))
    p_fast, t_fast = jax.jvp(twisted_pass, args, tang)
    p_ref, t_ref = jax.jvp(_twisted_plain, args, tang)
    for a, b in zip(t_fast[:3], t_ref[:3]):
        assert np.array_equal(np.asarray(a), np.asarray(b))
    assert np.array_equal(np.asarray(p_fast[0]), fast[0][i])
    # Reverse mode: for a linear functional of the vector the cotangent is the same for both, so
    # the gradients (the plain kernel's transposed tangent map) are bitwise equal; for v³ the
    # cotangent 3v² carries the primal, where the two kernels agree to 16 eps (above): at LLVM -O2
    # the gradients then differ by up to 10.6 eps·max|g| (measured, these 6 matrices), at -O0 by 0.
    w = jnp.asarray(rng.normal(size=rows))
    g = jax.grad(lambda dd: jnp.sum(w * twisted_pass(dd, *args[1:])[0][:, 0]))(d[i])
    g_ref = jax.grad(lambda dd: jnp.sum(w * _twisted_plain(dd, *args[1:])[0][:, 0]))(d[i])
    assert np.array_equal(np.asarray(g), np.asarray(g_ref))
    g = np.asarray(jax.grad(lambda dd: jnp.sum(twisted_pass(dd, *args[1:])[0][:, 0] ** 3))(d[i]))
    g_ref = np.asarray(jax.grad(lambda dd: jnp.sum(_twisted_plain(dd, *args[1:])[0][:, 0] ** 3))(d[i]))
    assert not np.max(np.abs(g - g_ref)) > 64 * EPS * np.max(np.abs(g_ref)), np.max(np.abs(g - g_ref))
