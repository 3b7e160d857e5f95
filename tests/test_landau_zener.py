"""Landau–Zener sweeps (jaxlmg.landau_zener): two-level limits, references, classical-foil limits."""

import argparse
import io
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad, solve_ivp

import jaxlmg
from jaxlmg import BEC
from jaxlmg.landau_zener import (
    classical_sweep, coherent_sweep, dephased_sweep, doublet_parameters, fit_crossover_time, fit_decay_rate, optimal_sweep_time,
    generator_relaxation_rate, kramers_check, zener_eq17,
)
from jaxlmg.landau_zener._classical import _generator, _grid

from conftest import build_lmg_numpy


# --------------------------------------------------------------------------- plain references


def _ref_unitary(n, field, tau, dh, bias=0.0):
    """scipy DOP853 on the dense Dicke-space Schrödinger equation; (P_error, P_well)."""
    h0, m = build_lmg_numpy(n, field)

    def ham(h):
        return h0 - 2.0 * h * np.diag(m)

    hs, he = bias - dh / 2, bias + dh / 2
    psi0 = np.linalg.eigh(ham(hs))[1][:, 0].astype(complex)
    sol = solve_ivp(lambda t, y: -1j * ham(hs + dh * t / tau) @ y, (0, tau), psi0, method="DOP853",
                    rtol=1e-11, atol=1e-12)
    y = sol.y[:, -1]
    g = np.linalg.eigh(ham(he))[1][:, 0]
    side = np.where(m < 0, 1.0, np.where(m == 0, 0.5, 0.0)) if hs < 0 else np.where(m > 0, 1.0, np.where(m == 0, 0.5, 0.0))
    return 1 - abs(g @ y) ** 2, float(np.sum(side * abs(y) ** 2))


def _ref_lindblad(n, field, tau, dh, gamma):
    """scipy on the vectorised Lindblad equation (L = √γ Jz), dense; (P_error, P_well)."""
    h0, m = build_lmg_numpy(n, field)
    d = len(m)
    jz = np.diag(m)

    def rhs(t, y):
        r = y.reshape(d, d)
        h = h0 - 2.0 * (-dh / 2 + dh * t / tau) * jz
        dr = -1j * (h @ r - r @ h) + gamma * (jz @ r @ jz - 0.5 * (jz @ jz @ r + r @ jz @ jz))
        return dr.ravel()

    g0 = np.linalg.eigh(h0 + dh * jz)[1][:, 0]
    sol = solve_ivp(rhs, (0, tau), np.outer(g0, g0).astype(complex).ravel(), method="DOP853", rtol=1e-10, atol=1e-12)
    r = sol.y[:, -1].reshape(d, d)
    g = np.linalg.eigh(h0 - dh * jz)[1][:, 0]
    side = np.where(m < 0, 1.0, np.where(m == 0, 0.5, 0.0))
    return 1 - np.real(g @ r @ g), float(np.real(np.sum(side * np.diag(r))))


# --------------------------------------------------------------------------- two-level limits


def test_n1_is_the_exact_two_level_zener_problem():
    # N = 1: H = const − Γσx − hσz, Zener: P = exp(−π Γ² τQ/Δh) for Δh ≫ Γ.
    g, dh = 0.2, 8.0
    tau = np.array([20.0, 60.0, 120.0])
    r = coherent_sweep(1, g, tau, dh, max_step=0.05, tolerance=1e-3)
    assert np.all(np.asarray(r.status) == 0)
    ref = np.array([_ref_unitary(1, g, t, dh) for t in tau])
    assert np.max(np.abs(np.asarray(r.p_error) - ref[:, 0])) <= 2e-5
    assert np.max(np.abs(np.asarray(r.p_well) - ref[:, 1])) <= 2e-5
    zener = np.exp(-np.pi * g**2 * tau / dh)
    assert np.max(np.abs(np.asarray(r.p_error) - zener)) <= 1e-3  # finite-range correction O((Γ/Δh)²)
    # Eq. 17 in the library's form (ΔE = 2Γ, N m* → 1 for the bare two-level states) is the same formula.
    assert np.allclose(np.exp(-np.pi * (2 * g) ** 2 * tau / (4 * 1.0 * dh)), zener)


def test_n2_against_exact_zener_formula():
    # N = 2, Γ ≪ J: effective two-level |−1⟩ ↔ |+1⟩ with V = ΔE/2 (Eq. 7) and slope 4v (N m* → 2).
    g, dh = 0.05, 0.4
    de = float(jaxlmg.two_spin_solution(g).delta_e)
    tau = np.array([200.0, 800.0, 2000.0])
    r = coherent_sweep(2, g, tau, dh, max_step=0.25)
    assert np.all(np.asarray(r.status) == 0)
    ref = np.array([_ref_unitary(2, g, t, dh)[0] for t in tau[:1]])
    assert abs(float(r.p_error[0]) - ref[0]) <= 1e-4
    zener = np.exp(-np.pi * de**2 * tau / (4 * 2.0 * dh))
    # exponents agree to the O(Γ²/J²) dressing of the diabatic states and finite-range corrections
    rel = np.abs(np.log(np.asarray(r.p_error)) / np.log(zener) - 1.0)
    assert np.max(rel) <= 0.02
    # the library's Eq. 17 (exact ΔE, mean-field m*) is within the same tolerance of the simulation
    p17 = np.asarray(zener_eq17(tau, 2, g, dh))
    assert np.max(np.abs(np.log(np.asarray(r.p_error)) / np.log(p17) - 1.0)) <= 0.02


def test_unitary_matches_dense_reference_and_truncation_converges():
    n, g, tau, dh = 3, 0.5, 20.0, 0.8
    r = coherent_sweep(n, g, tau, dh, max_step=0.05)
    ref = _ref_unitary(n, g, tau, dh)
    assert abs(float(r.p_error) - ref[0]) <= 1e-5 and abs(float(r.p_well) - ref[1]) <= 1e-5
    # user schedule: s(u) = −½cos(πu) gives the same end points
    rs = coherent_sweep(n, g, tau, dh, max_step=0.05, schedule=_cos_schedule)
    assert float(rs.status) == 0 and 0.0 <= float(rs.p_error) <= 1.0 and float(rs.p_error) != float(r.p_error)


def _cos_schedule(u):
    return -0.5 * jnp.cos(jnp.pi * u)


def test_dephased_matches_lindblad_reference_and_coherent_limit():
    n, g, tau, dh = 3, 0.5, 20.0, 1.0
    rc = coherent_sweep(n, g, tau, dh, max_step=0.05)
    r0 = dephased_sweep(n, g, tau, dh, 0.0, max_step=0.05)
    assert abs(float(r0.p_error) - float(rc.p_error)) <= 1e-10
    r = dephased_sweep(n, g, tau, dh, 0.05, max_step=0.05)
    ref = _ref_lindblad(n, g, tau, dh, 0.05)
    assert abs(float(r.p_error) - ref[0]) <= 2e-4 and abs(float(r.p_well) - ref[1]) <= 2e-4
    # strong dephasing drives the doublet towards the incoherent limit P_well → ½
    rs = dephased_sweep(n, g, 400.0, dh, 2.0, max_step=0.05)
    assert abs(float(rs.p_well) - 0.5) <= 0.05


@settings(max_examples=5, deadline=None)
@given(st.permutations(range(4)))
def test_batch_independence(perm):
    tau = np.array([5.0, 12.0, 20.0, 33.0])
    dh = np.array([0.4, 0.7, 1.0, 1.3])
    gam = np.array([0.0, 0.01, 0.1, 0.03])
    full = dephased_sweep(3, 0.5, tau, dh, gam, max_step=0.05)
    assert np.all(np.asarray(full.status) == 0)
    perm = np.array(perm)
    pb = dephased_sweep(3, 0.5, tau[perm], dh[perm], gam[perm], max_step=0.05)
    one = dephased_sweep(3, 0.5, tau[perm[0]], dh[perm[0]], gam[perm[0]], max_step=0.05)
    assert np.array_equal(np.asarray(pb.p_error), np.asarray(full.p_error)[perm])
    # a batch of one compiles to a different (unbatched) kernel: equal to rounding
    assert abs(float(one.p_error) - float(np.asarray(full.p_error)[perm[0]])) <= 1e-12


def test_forward_gradient_matches_finite_differences():
    def p(tau, dh, gam):
        return dephased_sweep(3, 0.5, tau, dh, gam, max_step=0.05, min_steps=400).p_error

    x = (20.0, 0.8, 0.05)
    for i in range(3):
        tangent = [0.0, 0.0, 0.0]
        tangent[i] = 1.0
        _, dp = jax.jvp(p, tuple(jnp.asarray(v) for v in x), tuple(jnp.asarray(v) for v in tangent))
        eps = 1e-4 * max(abs(x[i]), 1.0)
        xp, xm = list(x), list(x)
        xp[i] += eps
        xm[i] -= eps
        fd = (float(p(*xp)) - float(p(*xm))) / (2 * eps)
        assert abs(float(dp) - fd) <= 1e-5 * max(1.0, abs(fd))


@pytest.mark.parametrize("kind", ["coherent", "classical"])
def test_forward_gradient_coherent_and_classical(kind):
    if kind == "coherent":
        def p(tau, dh, bias):
            return coherent_sweep(3, 0.5, tau, dh, bias=bias, max_step=0.05, min_steps=400).p_error
        x = (20.0, 0.8, 0.05)
    else:
        def p(tau, dh, bias):
            return classical_sweep(40, 0.9, tau, dh, bias=bias, temperature=0.05, mobility=5.0, n_grid=32,
                                   max_step=0.5, min_steps=60).p_error
        x = (30.0, 0.2, 0.01)
    args = tuple(jnp.asarray(v) for v in x)
    for i in range(3):
        tangent = tuple(jnp.asarray(1.0 if j == i else 0.0) for j in range(3))
        _, dp = jax.jvp(p, args, tangent)
        eps = 1e-5 * max(abs(x[i]), 1e-2)
        xp = tuple(v + (eps if j == i else 0.0) for j, v in enumerate(x))
        xm = tuple(v - (eps if j == i else 0.0) for j, v in enumerate(x))
        fd = (float(p(*xp)) - float(p(*xm))) / (2 * eps)
        assert abs(float(dp) - fd) <= 1e-5 * max(1.0, abs(fd))


def test_bad_input_raises_value_error_naming_parameter():
    with pytest.raises(ValueError, match="tau_q"):
        coherent_sweep(4, 0.5, -1.0, 0.5)
    with pytest.raises(ValueError, match="sweep_amplitude"):
        coherent_sweep(4, 0.5, 1.0, 0.0)
    with pytest.raises(ValueError, match="levels"):
        coherent_sweep(4, 0.5, 1.0, 0.5, levels=9)
    with pytest.raises(ValueError, match="dephasing"):
        dephased_sweep(4, 0.5, 1.0, 0.5, -0.1)
    with pytest.raises(ValueError, match="n_spins"):
        coherent_sweep(0, 0.5, 1.0, 0.5)
    with pytest.raises(ValueError, match="temperature"):
        classical_sweep(10, 0.5, 1.0, 0.5, temperature=0.0)
    with pytest.raises(ValueError, match="field"):
        classical_sweep(10, 1.5, 1.0, 0.5, temperature=0.1)


def test_not_converged_is_nan_with_status():
    r = coherent_sweep(1, 0.2, np.array([20.0, 60.0, 120.0]), 8.0, max_step=0.05, tolerance=1e-9)
    assert np.all(np.asarray(r.status) == int(jaxlmg.Status.NOT_CONVERGED)) and np.all(np.isnan(np.asarray(r.p_error)))
    assert np.all(np.isfinite(np.asarray(r.error)))


# --------------------------------------------------------------------------- N = 370, Eq. 17


def test_n370_eq17_inside_window_dressed_two_level():
    """Inside the window (Δh = 50 rad/s) and τQ ≳ 1 ms, P_error is two-level Zener with the exact J01."""
    n, g = 370, 0.95
    de, j01, half_nm = doublet_parameters(n, g)
    assert abs(BEC.energy_to_rad_s(de) - 1310.0) <= 1.0 and abs(j01 / half_nm - 0.857) <= 0.005
    tau = np.array([3.0, 6.0, 12.0]) * 1e-3 * BEC.coupling_rad_s
    dh = BEC.energy_from_rad_s(50.0)
    r = coherent_sweep(n, g, tau, dh, levels=24, max_step=1.0)
    assert np.all(np.asarray(r.status) == 0)
    p = np.asarray(r.p_error)
    pdr = np.exp(-np.pi * de**2 * tau / (8 * j01 * dh))
    p17 = np.asarray(zener_eq17(tau, n, g, dh))
    assert np.max(np.abs(np.log(p) / np.log(pdr) - 1)) <= 0.12
    # Eq. 17 (mean-field N m*) underestimates the exponent by ≈ N m*/(2 J01) = 1.17
    assert np.all(np.log(p) / np.log(p17) >= 1.05)


def test_fits():
    tau = np.linspace(1, 10, 10)
    k, c, _ = fit_decay_rate(tau, 0.9 * np.exp(-0.3 * tau))
    assert abs(k - 0.3) <= 1e-12 and abs(c - np.log(0.9)) <= 1e-12
    pc = np.exp(-0.3 * tau)
    pd = 0.5 + (pc - 0.5) * np.exp(-tau / 4.0)
    assert abs(fit_crossover_time(tau, pd, pc, p_limit=0.5) - 4.0) <= 1e-3
    pd1 = 1.0 - (1.0 - pc) * np.exp(-tau / 7.0)
    assert abs(fit_crossover_time(tau, pd1, pc) - 7.0) <= 1e-3
    tq = np.geomspace(1, 100, 9)
    p = np.exp((np.log(tq) - np.log(20.0)) ** 2 - 3.0)
    t_opt, p_min = optimal_sweep_time(tq, p)
    assert abs(t_opt / 20.0 - 1) <= 1e-9 and abs(p_min / np.exp(-3.0) - 1) <= 1e-9


# --------------------------------------------------------------------------- classical foil


def test_fokker_planck_detailed_balance():
    n_grid = 64
    m, dx = _grid(n_grid)
    phi = 30.0 * (m**2 - 0.4) ** 2 + 3.0 * m
    lower, diag, upper = (np.asarray(a) for a in _generator(phi, 2.0))
    w = np.diag(diag) + np.diag(lower[1:], -1) + np.diag(upper[:-1], 1)
    peq = np.exp(-(np.asarray(phi) - np.min(phi)))
    assert np.max(np.abs(w @ peq)) <= 1e-12 * np.max(np.abs(w)) * np.max(peq)
    assert np.max(np.abs(w.sum(axis=0))) <= 1e-12 * np.max(np.abs(w))


@pytest.mark.parametrize("barrier", [8.0, 16.0])
def test_kramers_rate_simple_double_well(barrier):
    """U/T = b (x² − 1)² on [−2, 2] (rescaled to the FP grid): λ1 = 2k vs MFPT integral and Kramers."""
    n_grid = 1600
    m, dx = _grid(n_grid)
    x = 2.0 * np.asarray(m)  # x ∈ [−2, 2], dx_x = 2 dx
    phi = barrier * (x**2 - 1) ** 2
    mu_t = 1.0  # D in x units
    lam = generator_relaxation_rate(phi, mu_t / (2 * dx) ** 2)
    tau_fp = 2.0 / lam
    u = lambda y: barrier * (y**2 - 1) ** 2  # noqa: E731
    inner = lambda y: quad(lambda z: np.exp(-u(z)), -2.0, y, epsabs=0, epsrel=1e-12)[0]  # noqa: E731
    mfpt = quad(lambda y: np.exp(u(y)) * inner(y), -1.0, 1.0, epsabs=0, epsrel=1e-10, limit=200)[0] / mu_t
    # U''(±1)/T = 8b, |U''(0)|/T = 4b; overdamped Kramers τ = 2π/(D √(U''U'')/T) e^{ΔU/T}
    kramers = 2 * np.pi / (mu_t * np.sqrt(8 * barrier * 4 * barrier)) * np.exp(barrier)
    assert abs(tau_fp / mfpt - 1) <= 0.01 + 2 * np.exp(-barrier)
    assert abs(tau_fp / kramers - 1) <= 1.5 / barrier  # Kramers' O(T/ΔU) correction


def test_kramers_time_at_the_benchmark_against_eq50():
    t = BEC.kt_natural(10.0)
    k = kramers_check(370, 0.95, temperature=t, n_grid=400)
    assert abs(float(k.barrier) - 13.1) <= 0.1  # paper: N Δf0/k_BT ≈ 13.1
    assert abs(float(k.tau_numeric) / float(k.tau_eq50) - 1) <= 1.5 / float(k.barrier)
    assert 50.0 <= BEC.time_to_s(float(k.tau_numeric)) <= 300.0  # paper: τK ~ 130 s
    assert BEC.time_to_s(float(k.intrawell_time)) <= 1e-4  # intra-well relaxation ≪ τQ ~ ms


def test_classical_p_error_inside_window_and_past_spinodal():
    t = BEC.kt_natural(10.0)
    tau = np.array([0.1, 10.0, 10.0]) * 1e-3 * BEC.coupling_rad_s
    dh = BEC.energy_from_rad_s(np.array([50.0, 50.0, 600.0]))  # inside the window ×2, past the spinodal
    r = classical_sweep(370, 0.95, tau, dh, temperature=t, n_grid=200)
    assert np.all(np.asarray(r.status) == 0)
    assert np.min(np.asarray(r.p_error)[:2]) >= 0.999
    assert float(r.p_error[2]) <= 0.01
    assert float(r.norm_error.max()) <= 1e-10


def _ode_endpoint(field, tau, dh, mobility):
    def f_prime(mm, h):  # T → 0 free energy f = m²/2 − √((m + h)² + Γ²)
        return mm - (mm + h) / np.sqrt((mm + h) ** 2 + field**2)

    h0 = -dh / 2
    m0 = -np.sqrt(1 - field**2)
    for _ in range(50):  # relax to the initial minimum
        m0 -= f_prime(m0, h0) / (1 - field**2 / ((m0 + h0) ** 2 + field**2) ** 1.5)
    sol = solve_ivp(lambda s, y: -mobility * f_prime(y, -dh / 2 + dh * s / tau), (0, tau), [m0], rtol=1e-10,
                    atol=1e-12)
    return sol.y[0, -1]


@pytest.mark.parametrize("dh,tau", [(0.01, 50.0), (0.03, 50.0)])
def test_classical_noiseless_limit_follows_deterministic_trajectory(dh, tau):
    """T → 0: the FP mean follows dm/dt = −Γeff f'(m, h(t)); P^class = 1 in the well, 0 past the spinodal."""
    g, mob = 0.95, 8.0
    r = classical_sweep(370, g, tau, dh, temperature=1e-4, mobility=mob, n_grid=800, max_step=0.5)
    m_ode = _ode_endpoint(g, tau, dh, mob)
    assert abs(float(r.mean_m) - m_ode) <= 0.01
    h_sp = float(jaxlmg.spinodal(g).h_sp)
    expected = 1.0 if dh / 2 < h_sp else 0.0
    assert abs(float(r.p_error) - expected) <= 1e-3


# --------------------------------------------------------------------------- CLI


def _cli(argv):
    from jaxlmg.landau_zener._cli import add_cli, run_cli

    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers(dest="command"))
    out = io.StringIO()
    rc = run_cli(parser.parse_args(argv), out=out)
    return rc, out.getvalue()


def test_cli_json():
    rc, text = _cli(["lz", "-N", "1", "--field", "0.2", "--tau-q", "20", "--sweep-amplitude", "8", "--max-step",
                     "0.02", "--json"])
    rows = json.loads(text)
    assert rc == 0 and len(rows) == 1
    assert abs(rows[0]["p_error"] - np.exp(-np.pi * 0.04 * 20 / 8)) <= 1e-3
    rc, text = _cli(["lz", "--model", "dephased", "-N", "3", "--field", "0.5", "--tau-q", "5,10",
                     "--sweep-amplitude", "1", "--dephasing", "0,0.1"])
    assert rc == 0 and len(text.strip().splitlines()) == 5
    with pytest.raises(ValueError, match="dephasing"):
        _cli(["lz", "-N", "3", "--field", "0.5", "--tau-q", "5", "--sweep-amplitude", "1", "--dephasing", "0.1"])
