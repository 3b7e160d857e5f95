"""Semiclassical checks (jaxlmg._asymptotics) on small, cheap windows."""

import numpy as np

from jaxlmg import _asymptotics as A
from jaxlmg._units import BEC


def test_instanton_root_reproduces_table1_with_papers_prefactors():
    for f, (c0, root) in A.TABLE1.items():
        assert abs(A.instanton_root(f, c0) - root) <= 0.1


def test_local_slope_tends_to_s_inst_with_half_power():
    r = A.local_slope(0.9, [600, 1200])
    # −d ln ΔE/dN = S − p/N + O(1/N²) with p = 1/2 (N^{1/2} prefactor)
    assert np.all(np.abs(r["n_times_deviation"] + 0.5) <= 0.05)
    assert abs(r["deviation"][1]) < abs(r["deviation"][0])


def test_exact_crossover_at_papers_benchmark():
    ex = A.exact_crossover(0.95, n_max=1000)
    assert ex["n_lower"] == 370 and ex["n_upper"] == 372
    # ln ΔE is interpolated, so ΔE(N_c) = k_BT between the bracketing even N
    assert 370 <= ex["n_c"] <= 372 and ex["ln_ratio_lower"] >= 0 > ex["ln_ratio_upper"]
    assert np.isclose(BEC.kt_natural(10.0) * BEC.coupling_rad_s, 1309.2, atol=0.1)


def test_asymptotic_prefactor_small_window_is_consistent():
    a = A.asymptotic_prefactor(0.8, n_min=200, n_max=1200, points=10)
    p = A.prefactor_power(0.8, n_min=200, n_max=1200, points=10)
    assert abs(p["power"] - 0.5) <= 1e-3
    assert a["ln_c0_err"] <= 1e-4 and np.isfinite(a["c0"]) and a["c0"] > 0


def test_log_delta_e_batches_give_each_points_own_value():
    """log_delta_e runs octave buckets padded to 1, 4, 16 or 64 points: every entry (unsorted,
    repeated, 2-D input, four buckets, one group of 66 = 64 + 2) is bitwise the one-point
    spectrum's ln ΔE (its default half-octave bucket), in the input's order and shape."""
    from jaxlmg._spectrum import spectrum

    rng = np.random.default_rng(3)
    # 66 in one bucket (64 + 2), padded to 512 rows where spectrum's default bucket has 384
    n = np.concatenate([rng.integers(290, 380, 66), [100, 100, 41, 700, 700, 700]])
    rng.shuffle(n)
    n = n.reshape(-1, 8)
    got = A.log_delta_e(n, 0.93)
    assert got.shape == n.shape
    ref = np.array([float(spectrum(int(x), 0.93, levels=1).log_delta_e) for x in n.ravel()]).reshape(n.shape)
    assert got.tobytes() == ref.tobytes()
