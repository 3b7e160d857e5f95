"""Goldilocks N-scan and crossover (seed 001 §5, Appendix I) against scipy diagonalisation."""

import numpy as np
import pytest
from scipy.linalg import eigh_tridiagonal

from jaxlmg import BEC, BECUnits, Status
from jaxlmg._goldilocks import goldilocks_crossover, goldilocks_scan


def _delta_e_scipy(n, g):
    """Independent ΔE (units of J) from the full tridiagonal matrix (Appendix I build_lmg)."""
    j = n / 2
    m = np.arange(-j, j + 1)
    d = -2.0 / n * m**2
    e = -g * np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1))
    w = eigh_tridiagonal(d, e, eigvals_only=True, select="i", select_range=(0, 1))
    return w[1] - w[0]


def test_appendix_i_n_scan():
    n = [200, 250, 300, 350, 400]
    s = goldilocks_scan(n, 0.95)
    paper = [4754.1, 3338.5, 2298.5, 1545.5, 1015.6]
    assert np.allclose(np.asarray(s.delta_e_rad_s), paper, atol=0.06)
    ref = np.array([_delta_e_scipy(k, 0.95) for k in n]) * BEC.coupling_rad_s
    assert np.allclose(np.asarray(s.delta_e_rad_s), ref, rtol=1e-7)
    assert np.allclose(np.asarray(s.ratio), ref / BEC.kt_rad_s(10.0), rtol=1e-7)
    assert np.all(np.asarray(s.status) == Status.OK)


def test_scan_broadcasts_and_units():
    s = goldilocks_scan(np.array([[40], [60]]), np.array([0.9, 0.95]), temperature_nk=20.0,
                        units=BECUnits(coupling_rad_s=1000.0))
    assert s.delta_e.shape == (2, 2)
    ref = _delta_e_scipy(60, 0.9)
    assert float(s.delta_e_rad_s[1, 0]) == pytest.approx(1000.0 * ref, rel=1e-8)
    assert float(s.ratio[1, 0]) == pytest.approx(1000.0 * ref / BEC.kt_rad_s(20.0), rel=1e-8)


def test_crossover_benchmark_370():
    c = goldilocks_crossover(0.95, n_max=1000)
    assert c.status == Status.OK
    assert c.n_c == 370 and (c.n_lower, c.n_upper) == (370, 372)
    assert c.ratio_lower >= 1.0 > c.ratio_upper
    kt = BEC.kt_natural(10.0)
    assert c.ratio_lower == pytest.approx(_delta_e_scipy(370, 0.95) / kt, rel=1e-7)
    assert c.ratio_upper == pytest.approx(_delta_e_scipy(372, 0.95) / kt, rel=1e-7)


def test_crossover_all_n_and_not_bracketed():
    c = goldilocks_crossover(0.9, n_max=400, even_only=False)
    kt = BEC.kt_natural(10.0)
    assert c.n_upper == c.n_lower + 1
    assert _delta_e_scipy(c.n_lower, 0.9) >= kt > _delta_e_scipy(c.n_upper, 0.9)
    none = goldilocks_crossover(0.95, n_max=100)
    assert none.status == Status.NOT_BRACKETED and none.n_c == -1


def test_errors():
    with pytest.raises(ValueError, match="temperature_nk"):
        goldilocks_scan([100], 0.95, temperature_nk=-1)
    with pytest.raises(ValueError, match="n_spins"):
        goldilocks_scan([1.5], 0.95)
