"""Threshold root finder: evaluated roots only, frozen lanes, batch independence, honest fields."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.linalg import eigh_tridiagonal, expm as sexpm
from scipy.optimize import brentq

import jaxlmg._threshold as T
from jaxlmg import k3
from jaxlmg._leggett_garg import k3_point
from jaxlmg._status import Status
from jaxlmg._threshold import threshold

# A small W3-like grid (dense eigensolver for every point: blocks ≤ 64), plus points with
# no violation (paramagnet, N = 2) so that NO_VIOLATION lanes share batches with roots.
_NS = np.arange(20, 121, 10)
_FS = np.linspace(0.85, 0.99, 8)
_GRID_N = np.concatenate([np.repeat(_NS, _FS.size), [2, 30, 60]])
_GRID_F = np.concatenate([np.tile(_FS, _NS.size), [0.95, 1.05, 1.2]])
_LEVELS = 3


@pytest.fixture(scope="module")
def grid_result():
    return threshold(_GRID_N, _GRID_F, levels=_LEVELS)


def _same(sub, full, idx):
    st_s, st_f = np.asarray(sub.status), np.asarray(full.status)[idx]
    assert np.array_equal(st_s, st_f), (idx, st_s, st_f)
    g_s, g_f = np.asarray(sub.dephasing), np.asarray(full.dephasing)[idx]
    ok = st_f == Status.OK
    assert np.all(np.isnan(g_s[~ok]))
    rel = np.abs(g_s[ok] - g_f[ok]) / g_f[ok]
    assert np.all(rel <= 1e-12), rel.max()


def test_grid_statuses_and_roots(grid_result):
    r = grid_result
    st_ = np.asarray(r.status)
    assert (st_ == Status.OK).sum() >= 80
    assert (st_ == Status.NO_VIOLATION).sum() >= 2  # N = 2; Γ/J = 1.2 at N = 60 (N = 30, Γ/J = 1.05 still violates)
    assert not np.any(st_ == Status.NOT_CONVERGED)
    ok = st_ == Status.OK
    assert np.all(np.abs(np.asarray(r.residual)[ok]) <= 1e-7)
    assert np.all(np.asarray(r.error_estimate)[ok] <= 1e-6)
    assert np.all(np.isfinite(np.asarray(r.dephasing)[ok]))
    assert np.all(np.isnan(np.asarray(r.dephasing)[~ok]))


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.randoms(use_true_random=False), st.sampled_from([1, 5, 16]))
def test_batch_independence_subsets_permutations(grid_result, rnd, size):
    idx = np.array(rnd.sample(range(_GRID_N.size), size))
    sub = threshold(_GRID_N[idx], _GRID_F[idx], levels=_LEVELS)
    _same(sub, grid_result, idx)


def test_sorted_groups_match_grid(grid_result, monkeypatch):
    """Concrete calls solve lanes sorted by ‖Ω‖Δt in fixed-size groups (padded with copies):
    with 16-lane groups, 40 shuffled points span three groups and must reproduce the grid."""
    monkeypatch.setattr(T, "_group_size", lambda: 16)
    idx = np.random.default_rng(3).permutation(_GRID_N.size)[:40]
    _same(threshold(_GRID_N[idx], _GRID_F[idx], levels=_LEVELS), grid_result, idx)


def test_single_points_match_grid(grid_result):
    for i in (0, 37, 87, _GRID_N.size - 1):
        _same(threshold(int(_GRID_N[i]), float(_GRID_F[i]), levels=_LEVELS), grid_result, i)


def test_solver_level_independence_with_duplicates_and_order():
    """Same operators in any lane order, duplicated, or alone: identical roots and statuses."""
    n = np.array([20, 40, 70, 100, 120, 30])
    f = np.array([0.9, 0.85, 0.97, 0.93, 0.99, 1.1])
    gaps, gerr, jz, q, t, _ = T._operators(n, jnp.asarray(f), jnp.zeros(n.size), 5, 1.0, True)
    p = jnp.zeros(n.size)

    def solve(idx, regroup):
        lanes, s, _ = T._prepare(gaps[idx], jz[idx], q[idx], t[idx], p[idx], False)
        s = T._search(lanes, s, 1e-10, 100, False, regroup)
        return np.asarray(s.root), np.asarray(s.status)

    g_all, s_all = solve(np.arange(n.size), True)
    assert s_all[-1] == Status.NO_VIOLATION and np.all(s_all[:-1] == Status.OK)
    for idx, regroup in ((np.array([3, 0, 5, 1, 4, 2]), True), (np.array([4, 4, 4, 1]), False),
                         (np.array([2]), True)):
        g, s = solve(idx, regroup)
        assert np.array_equal(s, s_all[idx])
        ok = s == Status.OK
        assert np.all(np.abs(g[ok] - g_all[idx][ok]) <= 1e-12 * g_all[idx][ok])


def test_exact_zero_residual_keeps_the_evaluated_root_and_freezes():
    """Regression (issue 13): f = 0 exactly once marked the lane converged but carried the
    next trial point √(lo·hi); the root must be the evaluated point, and the lane frozen."""
    s = T._init_state(jnp.asarray(0.5), jnp.asarray(0.3))
    s = T._step_core(s, jnp.asarray(0.2), jnp.asarray(-1.0), 1e-10)  # f > 0: lo = 0.5
    s = eqx.tree_at(lambda z: z.x, s, jnp.asarray(0.7))
    s = T._step_core(s, jnp.asarray(-0.1), jnp.asarray(-1.0), 1e-10)  # bracket [0.5, 0.7]
    x = float(s.x)
    s = T._step_core(s, jnp.asarray(0.0), jnp.asarray(-1.0), 1e-10)
    assert int(s.status) == Status.OK and float(s.root) == x
    frozen = T._step_core(s, jnp.asarray(-5.0), jnp.asarray(3.0), 1e-10)
    for k in s.__dataclass_fields__:
        assert np.array_equal(np.asarray(getattr(frozen, k)), np.asarray(getattr(s, k)), equal_nan=True), k


@settings(max_examples=4, deadline=None)
@given(st.floats(1e-5, 1e-2), st.sampled_from([(40, 0.9), (120, 0.95)]), st.booleans())
def test_fast_kernel_equals_k3_point(g, pt, sequential):
    n, f = pt
    gaps, _, jz, q, t, _ = T._operators(np.array([n]), jnp.array([f]), jnp.zeros(1), 5, 1.0, True)
    lane = T._lane(gaps[0], jz[0], q[0], t[0], jnp.asarray(0.1), sequential)
    a = float(T._k3_lane(lane, g, sequential))
    b = float(k3_point(gaps[0], jz[0], q[0], g, t[0], 0.1, sequential=sequential))
    assert abs(a - b) <= 1e-12


def _assert_consistent(r, i=()):
    """Every field is finite exactly when the status is OK; OK carries the accuracy contract."""
    st = int(r.status[i])
    if st == Status.OK:
        assert float(r.error_estimate[i]) <= 1e-6 and abs(float(r.residual[i])) <= 1e-7
        assert np.isfinite(float(r.dephasing[i]))
    else:
        assert np.isnan(float(r.dephasing[i]))
        if st == Status.ILL_CONDITIONED:
            assert float(r.error_estimate[i]) > 1e-6 and abs(float(r.residual[i])) <= 1e-7


def test_tiny_splittings_get_a_threshold_or_an_honest_status():
    # N = 120 at Γ/J = 0.3: ΔE ≈ 1e-40 J, far below eps·‖H‖, yet computed without cancellation
    # (Spectrum.gaps); the threshold is OK only if its conditioning estimate allows it.
    r = threshold(np.array([370, 120]), np.array([0.95, 0.3]), levels=3)
    for i in (0, 1):
        _assert_consistent(r, i)
        assert np.isfinite(float(r.delta_e[i])) and float(r.delta_e[i]) > 0
    assert int(r.status[0]) == Status.OK and float(r.error_estimate[0]) <= 1e-6
    assert float(r.delta_e[1]) < 1e-20
    one = threshold(120, 0.3, levels=3)
    assert int(one.status) == int(r.status[1])
    if int(one.status) == Status.OK:
        assert abs(float(one.dephasing) - float(r.dephasing[1])) <= 1e-12 * float(one.dephasing)
    de_ref = _blocks_levels(370, 0.95, 3)[0][1]
    assert abs(float(r.delta_e[0]) - de_ref) <= 1e-8 * de_ref
    # A W3 corner (ΔE ≈ 1e-13 J): found, verified and within the conditioning bound, or flagged.
    _assert_consistent(threshold(600, 0.85, levels=5))


def _blocks_levels(N, G, n):
    """Independent truncated operators from the two parity blocks (folded Dicke basis)."""
    j = N / 2.0
    m = np.arange(0.0 if N % 2 == 0 else 0.5, j + 0.5, 1.0)
    lad = np.sqrt(np.maximum(j * (j + 1) - m[:-1] * (m[:-1] + 1), 0.0))
    d, off = -(2.0 / N) * m**2, -G * lad
    if N % 2 == 0:
        oe = off.copy()
        oe[0] *= np.sqrt(2.0)
        blk_e, blk_o, me, mo = (d, oe), (d[1:], off[1:]), m, m[1:]
    else:
        c = -G * np.sqrt(j * (j + 1) + 0.25)
        blk_e, blk_o, me, mo = (d + c * (m == 0.5), off), (d - c * (m == 0.5), off), m, m
    we, ve = eigh_tridiagonal(*blk_e, select="i", select_range=(0, (n + 1) // 2 - 1))
    wo, vo = eigh_tridiagonal(*blk_o, select="i", select_range=(0, n // 2 - 1))
    vc, mc = (ve[1:], me[1:]) if N % 2 == 0 else (ve, me)
    e = np.empty(n)
    e[0::2], e[1::2] = we, wo
    jz, q = np.zeros((n, n)), np.zeros((n, n))
    ev, od = np.arange(0, n, 2), np.arange(1, n, 2)
    jz[np.ix_(ev, od)] = vc.T @ (mc[:, None] * vo)
    q[np.ix_(ev, od)] = vc.T @ vo
    return e - e[0], jz + jz.T, q + q.T


def _np_k3(g, e, jz, q, dt):
    n = len(e)
    eye = np.eye(n)
    h = np.diag(e)
    jz2 = jz @ jz
    lv = -1j * (np.kron(eye, h) - np.kron(h, eye)) + g * (np.kron(jz, jz) - 0.5 * np.kron(eye, jz2)
                                                          - 0.5 * np.kron(jz2, eye))
    u = sexpm(lv * dt)
    x = 0.5 * q[:, :1] @ np.eye(n)[:1] + 0.5 * np.eye(n)[:, :1] @ q[:1]
    v1 = u @ x.T.reshape(-1)
    v2 = u @ v1
    c = lambda v: np.trace(q @ v.reshape(n, n).T).real
    return 2 * c(v1) - c(v2)


def test_w3_subsample_matches_independent_brentq():
    ns = np.array([100, 230, 370, 510, 600])
    fs = np.array([0.99, 0.95, 0.93, 0.97, 0.99])
    r = threshold(ns, fs, levels=5)
    assert np.all(np.asarray(r.status) == Status.OK)
    for i, (N, G) in enumerate(zip(ns, fs)):
        e, jz, q = _blocks_levels(int(N), float(G), 5)
        dt = np.pi / (3 * e[1])
        g_ref = brentq(lambda g: _np_k3(g, e, jz, q, dt) - 1.0, 0.2 * float(r.dephasing[i]),
                       5 * float(r.dephasing[i]), xtol=1e-300, rtol=1e-14)
        assert abs(float(r.dephasing[i]) - g_ref) <= 1e-6 * g_ref, (N, G)


def test_jit_equals_eager():
    f = jnp.asarray([0.9, 0.95])
    eager = threshold(np.array([40, 120]), f, levels=3).dephasing
    jitted = jax.jit(lambda x: threshold(np.array([40, 120]), x, levels=3).dephasing)(f)
    assert np.all(np.abs(np.asarray(jitted) - np.asarray(eager)) <= 1e-12 * np.asarray(eager))


def test_gradient_wrt_dt_forward_and_reverse():
    fun = lambda t: threshold(120, 0.95, levels=3, dt=t).dephasing
    t0 = float(threshold(120, 0.95, levels=3).dt) * 0.9
    d_fwd = float(jax.jvp(fun, (t0,), (1.0,))[1])
    d_rev = float(jax.grad(fun)(t0))
    h = 1e-4 * t0
    fd = (float(fun(t0 + h)) - float(fun(t0 - h))) / (2 * h)
    assert abs(d_fwd - d_rev) <= 1e-12 * abs(d_fwd)
    assert abs(d_fwd - fd) <= 1e-6 * abs(fd)
    # the same point's value with an explicit dt equal to the default one
    r0 = threshold(120, 0.95, levels=3)
    r1 = threshold(120, 0.95, levels=3, dt=float(r0.dt))
    assert abs(float(r1.dephasing) - float(r0.dephasing)) <= 1e-12 * float(r0.dephasing)


def test_k3_at_returned_thresholds(grid_result):
    r = grid_result
    for i in (5, 40, 80):
        if int(r.status[i]) == Status.OK:
            v = float(k3(float(r.dephasing[i]), int(_GRID_N[i]), float(_GRID_F[i]), levels=_LEVELS))
            assert abs(v - 1.0) <= 1e-7


def test_invalid_traced_field_is_masked():
    f = jax.jit(lambda x: threshold(np.array([40, 40]), x, levels=3))(jnp.asarray([-0.9, 0.9]))
    assert int(f.status[0]) == Status.INVALID_INPUT and np.isnan(float(f.dephasing[0]))
    assert int(f.status[1]) == Status.OK and np.isfinite(float(f.dephasing[1]))
