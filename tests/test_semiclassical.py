"""Semiclassical formulas of seed 001 against independent numpy/scipy references."""

import math

import numpy as np
import pytest
from scipy import integrate, optimize

import jaxlmg
from jaxlmg import BEC
from jaxlmg import _semiclassical as sc

J = BEC.coupling_rad_s
KT = BEC.kt_rad_s(10.0)


@pytest.mark.parametrize("g, paper", [(0.99, 0.000947), (0.95, 0.010787), (0.90, 0.031255)])
def test_instanton_action_table1_and_integral(g, paper):
    s = float(sc.instanton_action(g))
    assert abs(s - paper) < 5e-7
    ms = math.sqrt(1 - g * g)
    ref, _ = integrate.quad(lambda z: math.log(math.sqrt(1 - z * z) / g), 0, ms)  # Eq. 51
    assert s == pytest.approx(ref, rel=1e-10)


def test_instanton_roots_with_paper_prefactors():
    # Table 1: roots ≈ 5521, 360 (±50), 105; analytic ≈ 972, 87, 31.
    for g, c0, root, ana in ((0.99, 2.51, 5521, 972), (0.95, 2.546, 360, 87), (0.90, 2.616, 105, 31)):
        r = sc.instanton_crossover(g, c0)
        # independent: brentq on the large-N branch
        s = float(sc.instanton_action(g))
        ref = optimize.brentq(lambda n: math.log(c0) + 0.5 * math.log(n) - n * s, 1 / (2 * s), 1e6)
        assert r == pytest.approx(ref, rel=1e-10)
        assert abs(r - root) <= (1 if g != 0.95 else 1)
        assert round(float(sc.analytic_crossover(g, c0))) == ana


def test_instanton_crossover_no_root():
    assert np.isnan(sc.instanton_crossover(0.95, 0.01))


def test_fit_prefactor_is_log_space_mean():
    fit = sc.fit_instanton_prefactor(0.95, n_min=50, n_max=120)
    n = np.arange(50, 121, 2)
    de = np.array([np.diff(np.linalg.eigvalsh(np.asarray(jaxlmg.lmg_hamiltonian(int(k), 0.95)))[:2])[0] for k in n])
    s = float(sc.instanton_action(0.95))
    ref = np.exp(np.mean(np.log(de) - 0.5 * np.log(n) + n * s))
    assert float(fit.prefactor) == pytest.approx(ref, rel=1e-8)
    assert np.allclose(np.asarray(fit.delta_e), de, rtol=1e-8)


def test_fit_prefactor_rejects_bad_field():
    with pytest.raises(ValueError, match="field"):
        sc.fit_instanton_prefactor(1.2)


def test_free_energy_against_direct_formula_and_barrier():
    g, t = 0.95 * J, KT
    m = np.linspace(-1, 1, 7)
    # direct formula at a temperature where cosh does not overflow
    t_hi = 50 * t
    f = np.asarray(sc.mean_field_free_energy(m, g, temperature=t_hi, coupling=J))
    ref = J / 2 * m**2 - t_hi * np.log(2 * np.cosh(np.sqrt((J * m) ** 2 + g**2) / t_hi))
    assert np.allclose(f, ref, rtol=1e-12)
    df = float(sc.free_energy_barrier(g, temperature=t, coupling=J))
    approx = float(sc.free_energy_barrier_large_argument(g, coupling=J))
    assert df == pytest.approx(46.5, abs=0.05)
    assert approx == pytest.approx(46.5, abs=0.05)
    # T -> 0 limit of the barrier is (J - Γ)²/(2J)
    assert approx == pytest.approx((J - g) ** 2 / (2 * J), rel=1e-12)
    assert 370 * df / t == pytest.approx(13.1, abs=0.05)


def test_kramers_time_order_of_magnitude():
    tk = float(sc.kramers_time(370, 0.95 * J, temperature=KT, coupling=J))
    w0 = 2 * J * math.sqrt(1 - 0.95**2)
    assert 2 * math.pi / w0 == pytest.approx(0.27e-3, rel=0.01)
    assert 100 < tk < 160  # paper: ≈ 130 s (0.27 ms × e^13.1)


def test_spinodal_remark9_and_numerical_solution():
    sp = sc.spinodal(0.95)
    assert float(sp.y_sp) == pytest.approx(0.177, abs=5e-4)
    assert float(sp.m_sp) == pytest.approx(-0.183, abs=5e-4)
    assert float(sp.h_sp) == pytest.approx(0.0062, abs=5e-5)
    assert BEC.energy_to_rad_s(float(sp.h_sp)) == pytest.approx(229, abs=0.5)
    # Independent: T → 0, f(m) = m²/2 − sqrt((m+h)² + Γ²); solve f' = f'' = 0.
    g = 0.95

    def eqs(x):
        m, h = x
        y = m + h
        e = math.hypot(y, g)
        return [m - y / e, 1 - g**2 / e**3]

    m, h = optimize.fsolve(eqs, [-0.2, 0.005], xtol=1e-14)
    assert m == pytest.approx(float(sp.m_sp), abs=1e-9)
    assert h == pytest.approx(float(sp.h_sp), abs=1e-9)
    # and via the library free energy at T -> 0 (finite differences)
    fz = lambda mm: float(sc.mean_field_free_energy(mm, g, temperature=0.0, bias=h))
    eps = 1e-4
    assert abs((fz(m + eps) - fz(m - eps)) / (2 * eps)) < 1e-7
    assert abs((fz(m + eps) - 2 * fz(m) + fz(m - eps)) / eps**2) < 1e-4


def test_rates_and_times():
    ms2 = 1 - 0.95**2
    assert float(sc.bloch_frequency(0.95)) == pytest.approx(2 * math.sqrt(ms2))
    assert 1e3 * float(sc.t2_local(0.05, 370, 0.95)) == pytest.approx(49.25, abs=0.05)
    from jaxlmg._analytic import t2_collective

    assert 1e3 * float(t2_collective(0.05, 370, 0.95)) == pytest.approx(3.0, abs=0.01)
    assert float(t2_collective(0.05, 370, 0.95)) == pytest.approx(2 / (ms2 * 370**2 * 0.05))
    assert float(sc.coherent_state_overlap(370, 0.95)) == pytest.approx(5.7e-9, rel=0.01)
    assert float(sc.atom_number_log_sensitivity(370, 0.95)) == pytest.approx(-0.00944, abs=5e-6)
    assert float(sc.sweep_window_min(1310.0, 370, 0.95)) == pytest.approx(11.34, abs=0.01)


def test_landau_zener_formula():
    de, n, g, dh = 1310.0, 370, 0.95, 50.0
    alpha = n * math.sqrt(1 - g * g) * dh
    tau = np.array([0.0, 1e-3, 1e-2])
    p = np.asarray(sc.landau_zener_error(tau, de, n, g, dh))
    assert np.allclose(p, np.exp(-math.pi * de**2 * tau / (4 * alpha)))
    assert p[0] == 1.0 and np.all(np.diff(p) < 0)


@pytest.mark.parametrize("g", [0.1, 0.5, 0.95, 2.0])
def test_two_spin_solution_against_spectrum(g):
    sol = sc.two_spin_solution(g)
    spec = jaxlmg.spectrum(2, g)
    e = np.asarray(spec.energies)
    par = np.asarray(spec.parity)
    assert np.allclose(np.sort(e), np.sort([float(sol.e_minus), float(sol.e_plus), -1.0]), atol=1e-12)
    assert e[par == -1][0] == pytest.approx(float(sol.e_odd), abs=1e-12)
    assert float(spec.delta_e) == pytest.approx(float(sol.delta_e), abs=1e-12)
    # P_macro = |<s|GS>|², |s> = (|++> + |-->)/√2: Dicke indices 0 and 2
    v = np.asarray(spec.vectors)[:, 0]
    assert (v[0] + v[2]) ** 2 / 2 == pytest.approx(float(sol.p_macro), abs=1e-12)


def test_lambert_w_lower_branch_against_mpmath():
    """The JAX W_{-1} behind instanton_crossover equals mpmath's lambertw(k=-1) over [-1/e, 0)
    (scipy's loses ~1e-6 next to the branch point, so mpmath is the reference)."""
    import mpmath as mp

    from jaxlmg._semiclassical import _lambertw_m1

    z = -np.exp(-1.0) * np.concatenate([[1 - 1e-12, 1 - 1e-6], np.geomspace(0.999, 1e-300, 40)])
    ours = np.asarray(_lambertw_m1(z))
    ref = np.array([float(mp.lambertw(mp.mpf(float(x)), -1)) for x in z])
    err = np.abs(ours - ref) / np.abs(ref)
    assert err[0] <= 1e-9 and np.max(err[1:]) <= 1e-12  # next to the branch point W is ill-conditioned
    assert abs(float(_lambertw_m1(-np.exp(-1.0))) + 1.0) <= 1e-7
    assert np.all(np.isnan(np.asarray(_lambertw_m1(np.array([0.0, 0.1, -0.5])))))


def test_instanton_crossover_matches_lambert_formula_and_root():
    from scipy.special import lambertw

    g, r = np.array([0.9, 0.95, 0.99]), np.array([300.0, 3000.0, 1e5])
    s = np.asarray(sc.instanton_action(g))
    ref = -lambertw(-2 * s * np.exp(-2 * np.log(r)), k=-1).real / (2 * s)
    nc = np.asarray(sc.instanton_crossover(g, r))
    assert np.max(np.abs(nc - ref) / ref) <= 1e-12
    assert np.max(np.abs(0.5 * np.log(nc) - nc * s + np.log(r))) <= 1e-9  # it is a root
