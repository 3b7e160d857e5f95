"""Dephasing thresholds (seed 001 Eq. 24, Remark 14) and their implicit derivatives."""

import jax
import numpy as np
import pytest
from scipy.linalg import eigh, expm as sexpm
from scipy.optimize import brentq

import jaxlmg  # noqa: F401
from jaxlmg._leggett_garg import optimal_interval
from jaxlmg._status import Status
from jaxlmg._threshold import threshold, threshold_best_interval
from jaxlmg._units import BEC


def np_k3(g, N, Gamma, nl, sequential=False):
    Jt = N / 2.0
    m = np.arange(-Jt, Jt + 1)
    H = np.diag(-2.0 / N * m**2) - Gamma * (np.diag(np.sqrt(Jt * (Jt + 1) - m[:-1] * (m[:-1] + 1)), 1)
                                           + np.diag(np.sqrt(Jt * (Jt + 1) - m[:-1] * (m[:-1] + 1)), -1))
    ev, U = eigh(H)
    P = U[:, :nl]
    Jz = P.T @ (m[:, None] * P)
    Q = P.T @ (np.where(np.abs(m) > 0.5, np.sign(m), 0.0)[:, None] * P)
    E = ev[:nl] - ev[0]
    I = np.eye(nl)
    L = -1j * (np.kron(I, np.diag(E)) - np.kron(np.diag(E), I)) + g * (
        np.kron(Jz, Jz) - 0.5 * np.kron(Jz @ Jz, I) - 0.5 * np.kron(I, (Jz @ Jz).T))
    dt = np.pi / (3 * E[1])
    U1 = sexpm(L * dt)
    vec = lambda r: r.T.flatten()
    unvec = lambda v: v.reshape(nl, nl).T
    r0 = np.zeros((nl, nl), complex)
    r0[0, 0] = 1
    x = 0.5 * (Q @ r0 + r0 @ Q)
    c12 = np.trace(Q @ unvec(U1 @ vec(x))).real
    c13 = np.trace(Q @ unvec(U1 @ U1 @ vec(x))).real
    if not sequential:
        return 2 * c12 - c13
    r1 = unvec(U1 @ vec(r0))
    c23 = np.trace(Q @ unvec(U1 @ vec(0.5 * (Q @ r1 + r1 @ Q)))).real
    return c12 + c23 - c13


def test_remark_14_thresholds():
    for n, want in ((2, 0.5152), (3, 0.2891), (4, 0.3046), (5, 0.2892), (10, 0.2858)):
        r = threshold(370, 0.95, levels=n)
        assert int(r.status) == Status.OK
        assert abs(BEC.rate_to_per_s(float(r.dephasing)) - want) < 1e-4, n


@pytest.mark.parametrize("sequential", [False, True])
def test_threshold_matches_brentq_reference(sequential):
    ref = brentq(lambda x: np_k3(BEC.rate_to_natural(x), 370, 0.95, 5, sequential) - 1.0, 0.1, 0.5, xtol=1e-14)
    r = threshold(370, 0.95, levels=5, protocol="sequential" if sequential else "stationary")
    assert abs(BEC.rate_to_per_s(float(r.dephasing)) - ref) < 1e-9 * ref
    assert abs(float(r.k3_zero) - 1.4436) < 1e-4


def test_threshold_derivative_ift():
    f = lambda x: threshold(370, x, levels=5).dephasing
    d_fwd = float(jax.jvp(f, (0.95,), (1.0,))[1])
    d_rev = float(jax.grad(f)(0.95))
    assert abs(d_fwd - d_rev) < 1e-12 * abs(d_fwd)
    # Richardson-extrapolated central differences (strong curvature through ΔE(Γ)).
    cd = lambda h: (float(f(0.95 + h)) - float(f(0.95 - h))) / (2 * h)
    fd = (4 * cd(1e-5) - cd(2e-5)) / 3
    assert abs(d_fwd - fd) < 1e-5 * abs(fd)


def test_threshold_second_derivative_is_nan_not_zero():
    """The IFT rule is first order (slopes at fixed arguments): a Hessian through it used to read
    a silent 0 (FD of the gradient: 0.307 here); it must be NaN. The gradient itself is intact."""
    f = lambda x: threshold(370, x, levels=3).dephasing
    assert float(jax.grad(f)(0.95)) > 0
    assert np.isnan(float(jax.jit(jax.hessian(f))(0.95)))


def test_batch_statuses_and_equality():
    n = np.array([2, 40, 370])
    fld = np.array([[0.95], [1.2]])
    r = threshold(n, fld, levels=3)
    st = np.asarray(r.status)
    assert st.shape == (2, 3)
    assert (st[1] == Status.NO_VIOLATION).all()  # paramagnet: no doublet, K3(0) < 1
    assert st[0, 0] == Status.NO_VIOLATION  # N = 2: K3(0) ≤ 1
    assert st[0, 2] == Status.OK and st[0, 1] == Status.OK
    assert np.isnan(np.asarray(r.dephasing)[st != Status.OK]).all()
    for j in (1, 2):
        one = threshold(int(n[j]), 0.95, levels=3)
        assert abs(float(one.dephasing) - float(r.dephasing[0, j])) < 1e-12 * float(one.dephasing)
    # a doublet far below eps·‖H‖ inside a batch (ΔE ≈ 1e-40 J): no exception, and a number only
    # with OK (its conditioning is covered in test_threshold_batch.py)
    r2 = threshold(np.array([370, 120]), np.array([0.95, 0.3]), levels=3)
    assert (int(r2.status[1]) == Status.OK) == bool(np.isfinite(float(r2.dephasing[1])))


def test_not_converged_is_nan():
    r = threshold(370, 0.95, levels=5, max_iter=1)
    assert int(r.status) == Status.NOT_CONVERGED and np.isnan(float(r.dephasing))


def test_best_interval_threshold_not_below_fixed():
    fixed = threshold(370, 0.95, levels=3)
    best = threshold_best_interval(370, 0.95, levels=3)
    assert int(best.status) == Status.OK
    assert float(best.dephasing) >= float(fixed.dephasing)
    _, kmax = optimal_interval(best.dephasing, 370, 0.95, levels=3)
    assert abs(float(kmax) - 1.0) < 1e-8


def test_bad_inputs():
    with pytest.raises(ValueError, match="levels"):
        threshold(370, 0.95, levels=1)
    with pytest.raises(ValueError, match="protocol"):
        threshold(370, 0.95, protocol="x")
    with pytest.raises(ValueError, match="dt"):
        threshold(370, 0.95, dt=-1.0)
    with pytest.raises(ValueError, match="field"):
        threshold(370, -0.1)


def test_threshold_is_a_root_on_map_points():
    """Every OK threshold is a root: |K3(γ*) - 1| ≤ 1e-7 (checked inside the solver too).

    Regression: the safeguarded Newton loop once accepted γ with K3 = 1.02–1.03 at ≈5% of
    the W3 map (e.g. N=120, Γ/J=0.92, whose true root 1.5758 s⁻¹ brentq confirms, not 1.3725). Such
    points must come back NaN with NOT_CONVERGED, never as a wrong number."""
    from jaxlmg import BEC, Status, k3, threshold

    ns = np.array([100, 110, 120, 250])[:, None]
    fs = np.linspace(0.85, 0.99, 29)[None, ::4]
    res = threshold(ns, fs, levels=5)
    st = np.asarray(res.status)
    # No root is ever hidden: NOT_CONVERGED is gone from the map (issue 13).
    assert set(np.unique(st)) <= {Status.OK, Status.NO_VIOLATION, Status.ILL_CONDITIONED}
    ok = np.argwhere(st == Status.OK)
    assert len(ok) > 0.9 * st.size
    for i, j in ok:
        g = float(res.dephasing[i, j])
        assert abs(float(k3(g, int(ns[i, 0]), float(fs[0, j]), levels=5)) - 1.0) < 1e-7
    assert np.all(np.isnan(np.asarray(res.dephasing)[st != Status.OK]))
    one = threshold(120, float(np.linspace(0.85, 0.99, 29)[14]), levels=5)  # Γ/J = 0.92
    assert int(one.status) == Status.OK
    assert np.isclose(BEC.rate_to_per_s(float(one.dephasing)), 1.575831326, rtol=1e-8)


def test_cli_row_n100_is_found():
    """Seed 000 Table 3 row (issue 11): K3 falls smoothly through 1 near 15.3 s⁻¹."""
    r = threshold(100, 0.95, levels=5)
    assert int(r.status) == Status.OK
    ref = brentq(lambda x: np_k3(BEC.rate_to_natural(x), 100, 0.95, 5) - 1.0, 14.0, 16.0, xtol=1e-13)
    assert abs(BEC.rate_to_per_s(float(r.dephasing)) - ref) <= 1e-9 * ref


# ----------------------------------------------------------------------------------------
# Secular start point, closed-form 2×2 propagator, predicted Newton convergence (issue 12)
# ----------------------------------------------------------------------------------------

def test_exp2_apply_matches_scipy_expm():
    """Closed-form exp(Mt)x of the secular blocks against scipy: oscillating (Δ < 0),
    overdamped (Δ > 0), critical (Δ = 0) and pure rotations, up to ω·t ~ 1e6 and decay rates
    whose e^{λt} under/overflow separately."""
    import jax.numpy as jnp

    from jaxlmg._threshold import _exp2, _exp2_times

    def _exp2_apply(p, q, r, s, t, x0, x1):  # exp(M t) x, as the secular K3 composes it
        return _exp2_times(_exp2(p, q, r, s, t), q, r, x0, x1)

    rng = np.random.default_rng(7)
    cases = [np.array([[0.0, 2.0], [-2.0, 0.0]]), np.array([[-1.0, 1.0], [0.0, -1.0]]),  # rotation, Δ = 0
             np.array([[-1.0, 0.0], [0.0, -3.0]]), np.array([[0.0, 0.0], [0.0, -2.0]])]   # Δ > 0, zero mode
    for _ in range(20):
        a = rng.normal(size=(2, 2))
        w = np.linalg.eigvals(a)
        cases.append(a - (np.max(w.real) + rng.uniform(0, 1)) * np.eye(2))  # Re λ < 0
    for m in cases:
        for t in (1e-9, 0.3, 7.0, 400.0):
            x = rng.normal(size=2)
            want = sexpm(m * t) @ x
            got = np.array(_exp2_apply(*(jnp.float64(v) for v in m.ravel()), t, x[0], x[1]))
            assert not np.max(np.abs(got - want)) > 1e-12 * max(1.0, np.max(np.abs(want))), (m, t, got, want)
    # a rotation by 1e6 rad: phase exact to rounding of ω·t
    got = np.array(_exp2_apply(0.0, 1e4, -1e4, 0.0, 100.0, 1.0, 0.0))
    assert np.allclose(got, [np.cos(1e6), -np.sin(1e6)], atol=1e-9)


def test_secular_k3_is_exact_without_dephasing_and_close_where_frequencies_separate():
    """The secular K3 (coherences propagated one by one) equals the full K3 at γ = 0 (the
    generator is then a rotation per coherence) and approaches it deep in the ordered phase,
    where the level frequencies are far apart on the scale 1/Δt; its root is the start point."""
    import jax.numpy as jnp

    from jaxlmg._threshold import _guess, _guess_secular, _k3_lane, _k3_secular, _lane, _operators, _secular_blocks

    pts = [(370, 0.95, 0.1), (300, 0.92, 2e-2), (500, 0.90, 1e-3)]  # (N, Γ/J, bound on the start error)
    gaps, _, jz, q, t, st = _operators(np.array([p[0] for p in pts]), jnp.array([p[1] for p in pts]), None, 5, 1.0,
                                       True)
    assert np.all(np.asarray(st) == Status.OK)
    for i, (n, f, bound) in enumerate(pts):
        lane = _lane(gaps[i], jz[i], q[i], t[i], 0.0, False)
        blocks = _secular_blocks(lane)
        assert abs(float(_k3_secular(blocks, 0.0)) - float(_k3_lane(lane, 0.0, False))) < 1e-12
        root = float(threshold(n, f, levels=5).dephasing)
        g_b = _guess(gaps[i], jz[i], q[i], t[i])
        g_s = float(_guess_secular(lane, g_b))
        # (E_2 - E_0)Δt ≈ 12, 140 and 9e5: the secular root is within 5e-2, 9e-3 and 3e-4 of
        # the true one (its error falls as the frequencies separate), γ_B is off by 0.6-0.8.
        assert abs(g_s / root - 1) < bound, (n, f, g_s, root)
        assert abs(float(g_b) / root - 1) > 0.5


def test_predicted_convergence_keeps_the_root_accurate():
    """Lanes may stop when quadratic convergence predicts the next step below rtol/1000;
    their roots agree with a search run to rtol = 1e-14 (which only stops on a confirmed
    step) to 1e-12, and the statuses agree, on a random set of points of both protocols."""
    rng = np.random.default_rng(3)
    n = rng.integers(20, 600, 60)
    f = rng.uniform(0.8, 1.0, 60)
    for protocol in ("stationary", "sequential"):
        a = threshold(n, f, levels=5, protocol=protocol)
        b = threshold(n, f, levels=5, protocol=protocol, rtol=1e-14)
        sa, sb = np.asarray(a.status), np.asarray(b.status)
        assert np.array_equal(sa, sb)
        ok = sa == Status.OK
        assert ok.sum() > 40
        err = np.abs(np.asarray(a.dephasing)[ok] / np.asarray(b.dephasing)[ok] - 1)
        assert not np.max(err) > 1e-12, np.max(err)


@pytest.mark.parametrize("protocol,dt", [("stationary", None), ("sequential", None), ("stationary", 40.0)])
def test_threshold_stages_give_the_threshold_bitwise(protocol, dt):
    """The command line's three stages (operators → search → verify) called one after the other
    return exactly :func:`threshold`'s fields, at a root, a NO_VIOLATION point (paramagnet), an
    UNRESOLVED doublet and an interval without violation."""
    from jaxlmg._cache import run_stages
    from jaxlmg._threshold import threshold_stages

    for n, f in ((370, 0.95), (64, 0.8), (41, 1.3), (100, 0.5)):
        ref = threshold(n, f, levels=4, protocol=protocol, dt=dt)
        args = (np.float64(f),) if dt is None else (np.float64(f), np.float64(dt))
        got = run_stages(threshold_stages(n, levels=4, protocol=protocol), args)
        for k in ("dephasing", "status", "iterations", "k3_zero", "dt", "delta_e", "error_estimate", "residual"):
            a, b = np.asarray(getattr(ref, k)), np.asarray(getattr(got, k))
            assert a.tobytes() == b.tobytes(), (n, f, k, a, b)
    with pytest.raises(ValueError, match="SPLIT_LEVELS"):
        threshold_stages(370, levels=20)
