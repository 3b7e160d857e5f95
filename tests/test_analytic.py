"""Analytic references of the threshold hierarchy (seed 001 Eqs. 13, 21–26, 30; Remarks 11–14)."""

import numpy as np
from scipy.linalg import eigh

import jaxlmg  # noqa: F401
from jaxlmg._analytic import (analytic_thresholds, coherent_k3, n_spins_bound, t2_collective, t2_lindblad,
                              t2_physical, t2_threshold, two_level_k3, xi_threshold)
from jaxlmg._leggett_garg import k3
from jaxlmg._units import BEC


def np_eq25(N, Gamma, nl):
    Jt = N / 2.0
    m = np.arange(-Jt, Jt + 1)
    off = -Gamma * np.sqrt(Jt * (Jt + 1) - m[:-1] * (m[:-1] + 1))
    H = np.diag(-2.0 / N * m**2) + np.diag(off, 1) + np.diag(off, -1)
    ev, U = eigh(H)
    q = np.where(np.abs(m) > 0.5, np.sign(m), 0.0)
    q0 = U[:, :nl].T @ (q * U[:, 0])
    tau = np.pi / (3 * (ev[1] - ev[0]))
    de = ev[:nl] - ev[0]
    return np.sum(q0**2 * (2 * np.cos(de * tau) - np.cos(2 * de * tau)))


def test_remark_12_table():
    c = coherent_k3(370, 0.95, levels=10)
    np.testing.assert_array_equal(np.asarray(c.levels), [1, 3, 5, 7, 9])
    np.testing.assert_allclose(np.asarray(c.gap_ratio), [1, 18.89, 41.24, 68.38, 99.36], atol=5e-3)
    np.testing.assert_allclose(np.asarray(c.q_sq), [0.9436, 0.0191, 0.0091, 0.0052, 0.0034], atol=5e-5)
    np.testing.assert_allclose(np.asarray(c.contribution), [1.415, 0.028, 0.013, -0.010, -0.009], atol=5e-4)


def test_coherent_ceilings_settled():
    """n = 5: 1.443; all 371 levels: 1.4379 (the paper's 1.439 is 1e-3 too high)."""
    c5 = float(coherent_k3(370, 0.95, levels=5).k3)
    call = float(coherent_k3(370, 0.95).k3)
    assert abs(c5 - 1.4436) < 1e-4
    assert abs(call - 1.4379) < 1e-4 and abs(call - 1.439) > 5e-4
    assert abs(call - np_eq25(370, 0.95, 371)) < 1e-10
    # Eq. 25 is exactly the γφ = 0 limit of the n-level Lindblad K3.
    assert abs(float(k3(0.0, 370, 0.95, levels=5)) - c5) < 1e-12
    assert abs(float(k3(0.0, 370, 0.95, levels=10)) - float(coherent_k3(370, 0.95, levels=10).k3)) < 1e-12


def test_two_level_formula():
    q2 = 0.9436
    assert abs(float(two_level_k3(q2, np.inf, 0.0352)) - 1.5 * q2) < 1e-12  # K3max = 1.5 Q01²
    xi = float(xi_threshold(q2))
    assert abs(xi - 0.7662) < 1e-4
    t2 = float(t2_threshold(q2, 0.0352))
    assert abs(float(two_level_k3(q2, t2, 0.0352)) - 1.0) < 1e-12
    assert abs(q2 * (xi + xi**2 / 2) - 1) < 1e-12
    assert np.isnan(float(xi_threshold(0.6)))  # 1.5·0.6 < 1: no two-level violation


def test_hierarchy_levels_a_b():
    a = analytic_thresholds(370, 0.95)
    assert abs(BEC.rate_to_per_s(float(a.level_a)) - 0.050) < 5e-4
    assert abs(BEC.rate_to_per_s(float(a.level_b)) - 0.117) < 5e-4
    assert abs(float(a.k3_max) - 1.415) < 5e-4
    assert abs(BEC.time_to_s(float(a.t2_threshold)) - 3.00e-3) < 1e-5  # Eq. 23: 3.00 ms
    assert abs(float(a.t2_threshold) * float(a.delta_e) - 3.93) < 5e-3  # 3.93 ħ/ΔE
    # level A/B ratio = G_coll / G01 ≈ 2.35 (Remark 13)
    assert abs(float(a.level_b / a.level_a) - 2.35) < 0.01


def test_t2_values():
    g = BEC.rate_to_natural(0.05)
    t2p = BEC.time_to_s(float(t2_physical(g, 370, 0.95)))
    assert abs(t2p - 7.04e-3) < 5e-6
    assert abs(BEC.time_to_s(float(t2_collective(g, 370, 0.95))) - 3.0e-3) < 5e-5
    t2thr = BEC.time_to_s(float(t2_physical(BEC.rate_to_natural(0.2892), 370, 0.95)))
    assert abs(t2thr - 1.22e-3) < 5e-6
    dt_opt = np.pi / (3 * 1310.0)
    assert abs(dt_opt - 0.80e-3) < 5e-6 and abs(t2p / dt_opt - 8.8) < 0.05  # margin 8.8×
    # Level C eigenvalue agrees with Eq. 26 to < 0.1% (Remark 12)
    t2c = BEC.time_to_s(float(t2_lindblad(g, 370, 0.95, levels=5)))
    assert abs(t2c / t2p - 1) < 1e-3 and t2c != t2p


def test_n_bound_eq30():
    assert abs(float(n_spins_bound(BEC.rate_to_natural(0.05))) - 890) < 1.0
    assert abs(float(n_spins_bound(0.289, threshold_ref=0.289)) - 370) < 1e-12
