"""Doublet factors, susceptibility and units against the papers and independent references."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl
from conftest import build_lmg_numpy

import jaxlmg
from jaxlmg import BEC, Status

GAMMA_BEC = 0.05  # s^-1, the papers' benchmark dephasing rate


@pytest.fixture(scope="module")
def bench():
    return jaxlmg.doublet_factors(370, 0.95, dephasing=BEC.rate_to_natural(GAMMA_BEC))


def test_benchmark_point_against_paper(bench):
    """Seed 001 §2, §7.3, Remark 13 and seed 000 §3 at N=370, Γ/J=0.95."""
    f = bench
    assert np.isclose(BEC.energy_to_rad_s(f.delta_e), 1310.0, atol=0.5)
    assert np.isclose(f.delta_e, 0.0352, atol=5e-5)
    assert np.isclose(f.gap_ratio_21, 10.4, atol=0.05)
    assert np.isclose(f.gap_ratio_20, 11.4, atol=0.05)
    assert np.isclose(f.q01**2, 0.9436, atol=5e-5)
    assert np.isclose(100 * f.p0, 0.2374, atol=5e-5)
    assert np.isclose(f.jz2_e0, 2574.2, atol=0.05)
    assert np.isclose(f.jz2_e1, 3103.7, atol=0.05)
    assert np.isclose(f.g01, 2839, atol=0.5)
    assert np.isclose(f.j01**2, 2451, atol=0.5)
    assert np.isclose(f.g_loc, 6674, atol=0.5)
    assert np.isclose(f.eta_mf, 2.35, atol=0.005)
    assert np.isclose(f.eta_exact, 1.863, atol=5e-4)
    assert np.isclose(f.eta_quantum, 1.175, atol=5e-4)
    assert np.isclose(f.g01 + f.j01**2, 5290.2, atol=0.05)  # seed 000 §3: exact pointer rate factor
    assert np.isclose(100 * f.leakage_e0, 4.8, atol=0.05) and np.isclose(100 * f.leakage_e1, 21.0, atol=0.05)
    assert np.isclose(100 * (f.g01 - f.j01**2) / f.g01, 13.7, atol=0.05)  # average leakage
    assert np.isclose(f.secular, 18.4, atol=0.1)
    assert f.status == Status.OK


def test_benchmark_point_against_numpy(bench):
    h, m = build_lmg_numpy(370, 0.95)
    w, v = sl.eigh(h)
    e0, e1 = v[:, 0], v[:, 1]
    g01 = 0.5 * (e0 @ (m**2 * e0) + e1 @ (m**2 * e1))
    assert np.isclose(bench.g01, g01, rtol=1e-12)
    assert np.isclose(bench.j01, abs(e0 @ (m * e1)), rtol=1e-10)
    assert np.isclose(bench.q01, abs(e0 @ (np.sign(m) * e1)), rtol=1e-10)
    # dense eigh resolves ΔE only to ~1e-12 absolute; compare at that level
    assert np.isclose(bench.delta_e, w[1] - w[0], atol=1e-11)


TABLE3 = {  # seed 000 Table 3: N: (ΔE/kBT, Gloc, G01, ηMF, (E2-E0)/ΔE, 2ΔE·T2)
    100: (7.33, 488, 254, 1.917, 3.0, 1510),
    200: (3.63, 1950, 828, 2.354, 4.1, 230),
    300: (1.75, 4388, 1827, 2.402, 6.9, 50),
    370: (1.00, 6674, 2839, 2.351, 11.4, 18),
    500: (0.32, 12188, 5425, 2.246, 37.3, 3),
    1000: (None, 48750, 23180, 2.103, None, None),
    2000: (None, 195000, 95214, 2.048, None, None),
}


def test_seed000_table3():
    ns = np.array(sorted(TABLE3))
    f = jaxlmg.doublet_factors(ns, 0.95, dephasing=BEC.rate_to_natural(GAMMA_BEC))
    kt = BEC.kt_natural(10.0) * 1310.0 / BEC.kt_rad_s(10.0)  # the paper's k_BT = 1310 rad/s
    for i, n in enumerate(ns):
        de_kt, gloc, g01, eta, ratio, sec = TABLE3[n]
        assert np.isclose(f.g_loc[i], gloc, atol=0.5), n  # rounded to integers in the table
        assert np.isclose(f.g01[i], g01, atol=0.5), n
        assert np.isclose(f.eta_mf[i], eta, atol=5e-4), n
        if de_kt is not None:
            assert np.isclose(f.delta_e[i] / kt, de_kt, atol=0.005), n
            assert np.isclose(f.gap_ratio_20[i], ratio, atol=0.05), n
            # 2ΔE·T2 is printed to 2 significant figures
            assert np.isclose(f.secular[i], sec, rtol=0.03, atol=0.5), n
    # Beyond N ~ 1000 the splitting is ≪ kBT and the secular parameter ≪ 1, as the table says
    assert f.delta_e[-2] / kt < 0.01 and f.secular[-2] < 1


def test_eta_mf_peak_versus_field():
    fields = np.linspace(0.90, 0.99, 91)
    f = jaxlmg.doublet_factors(370, fields)
    i = int(np.nanargmax(np.asarray(f.eta_mf)))
    assert np.isclose(f.eta_mf[i], 2.42, atol=0.01)
    assert abs(fields[i] - 0.96) <= 0.006


def test_eta_mf_large_n_limit():
    """ηMF → 2 + c/N (seed 000 §5: c ≈ 103 at N = 1000, 96 at N = 2000)."""
    f = jaxlmg.doublet_factors(np.array([1000, 2000]), 0.95)
    c = (np.asarray(f.eta_mf) - 2) * np.array([1000, 2000])
    assert np.allclose(c, [103, 96], atol=1.0)


def test_susceptibility_autodiff():
    chi = float(jaxlmg.susceptibility(370, 0.95))
    assert np.isclose(chi, 1509, atol=1.0)  # seed 001 §2
    f = jaxlmg.doublet_factors(370, 0.95)
    two_level = 2 * 370 * f.m_star**2 / f.delta_e
    assert np.isclose(two_level, 2049, atol=1.0)
    # independent: second-order perturbation theory with dense numpy eigenvectors
    h, m = build_lmg_numpy(370, 0.95)
    w, v = sl.eigh(h)
    jz0 = v.T @ (m * v[:, 0])
    chi_pt = (2 / 370) * 2 * 2 * np.sum(jz0[1:] ** 2 / (w[1:] - w[0]))
    assert np.isclose(chi, chi_pt, rtol=1e-6)


def test_susceptibility_finite_differences_small_n():
    n, field = 12, 1.3
    chi = float(jaxlmg.susceptibility(n, field))

    def mz(b):
        hh, m = build_lmg_numpy(n, field, b)
        w, v = np.linalg.eigh(hh)
        return 2 * (v[:, 0] ** 2 @ m) / n

    fd = (mz(1e-5) - mz(-1e-5)) / 2e-5
    assert np.isclose(chi, fd, rtol=1e-6)


def test_units():
    assert np.isclose(BEC.kt_rad_s(10.0), 1309.2, atol=0.1)  # CODATA k_B/ħ
    assert np.isclose(BEC.rate_to_natural(37195.4), 1.0)
    assert np.isclose(BEC.time_to_s(1.0 / 0.0352194) * 1e3, 0.7634, atol=1e-3)  # ħ/ΔE ≈ 0.763 ms
    with pytest.raises(ValueError, match="coupling_rad_s"):
        jaxlmg.BECUnits(coupling_rad_s=-1.0)


def test_doublet_bad_input():
    with pytest.raises(ValueError, match="dephasing"):
        jaxlmg.doublet_factors(20, 0.5, dephasing=-1.0)
    with pytest.raises(ValueError, match="n_spins"):
        jaxlmg.doublet_factors(0, 0.5)
    with pytest.raises(ValueError, match="operator"):
        jaxlmg.matrix_elements(jaxlmg.spectrum(4, 0.5), "sx")


def test_doublet_batch_with_n1_and_invalid_points_keeps_the_others():
    """An N = 1 point (two levels only) or an invalid point does not touch the other points."""
    alone = jaxlmg.doublet_factors(12, 0.9)
    mixed = jaxlmg.doublet_factors(np.array([1, 12, -4, 12]), np.array([0.9, 0.9, 0.9, np.nan]), on_invalid="mask")
    assert np.isfinite(alone.gap_ratio_20) and np.isfinite(alone.gap_ratio_21)
    for k in alone.__dataclass_fields__:
        a, b = np.asarray(getattr(mixed, k))[1], np.asarray(getattr(alone, k))
        assert (np.isnan(a) and np.isnan(b)) or abs(a - b) <= 1e-12 * max(1.0, abs(b)), k
    assert list(np.asarray(mixed.status)) == [Status.OK, Status.OK, Status.INVALID_INPUT, Status.INVALID_INPUT]
    assert np.isnan(mixed.gap_ratio_20[0]) and np.isfinite(mixed.delta_e[0])  # N = 1: doublet, no third level
    for k in alone.__dataclass_fields__:
        if k != "status":
            assert np.all(np.isnan(np.asarray(getattr(mixed, k))[2:])), k


def test_doublet_n1_exact():
    """N = 1: H = -Jz²·2/1 - 2ΓJx on spin 1/2 → levels ∓Γ - 1/2, ΔE = 2Γ."""
    f = jaxlmg.doublet_factors(1, 0.3)
    assert abs(float(f.delta_e) - 0.6) <= 1e-14
    assert abs(float(f.j01) - 0.5) <= 1e-14 and abs(float(f.q01) - 1.0) <= 1e-14


def test_doublet_n1_traced_alone():
    """A traced batch of N = 1 points only (no larger N to size the matrices): ΔE = 2Γ,
    J01 = 1/2, Q01 = 1, G01 = 1/4 exactly, dΔE/dΓ = 2, as in eager mode."""
    fs = jnp.array([0.3, 0.7])
    f = jax.jit(lambda g: jaxlmg.doublet_factors(np.array([1, 1]), g))(fs)
    assert np.max(np.abs(np.asarray(f.delta_e) - 2 * np.asarray(fs))) <= 1e-14
    assert np.max(np.abs(np.asarray(f.j01) - 0.5)) <= 1e-14 and np.max(np.abs(np.asarray(f.q01) - 1.0)) <= 1e-14
    assert np.max(np.abs(np.asarray(f.g01) - 0.25)) <= 1e-14
    assert np.all(np.asarray(f.status) == Status.OK) and np.all(np.isnan(np.asarray(f.gap_ratio_20)))
    d = jax.vmap(jax.grad(lambda g: jaxlmg.doublet_factors(1, g).delta_e))(fs)
    assert np.max(np.abs(np.asarray(d) - 2.0)) <= 1e-12


def test_doublet_factors_nan_unless_ok():
    """No finite value without status OK: a spectrum whose doublet is flagged UNRESOLVED
    gives an all-NaN record with that status (eigenvector quantities included)."""
    spec = jaxlmg.spectrum(np.array([12, 20]), 0.9, levels=3)
    flagged = eqx.tree_at(lambda s: s.status, spec, jnp.array([Status.OK, Status.UNRESOLVED], jnp.int32))
    d = jaxlmg.doublet_factors_from(flagged, dephasing=0.02)
    ref = jaxlmg.doublet_factors_from(spec, dephasing=0.02)
    assert list(np.asarray(d.status)) == [Status.OK, Status.UNRESOLVED]
    for k in d.__dataclass_fields__:
        if k != "status":
            a = np.asarray(getattr(d, k))
            assert np.isnan(a[1]), k
            assert abs(a[0] - float(np.asarray(getattr(ref, k))[0])) <= 1e-12 * max(1.0, abs(a[0])), k
