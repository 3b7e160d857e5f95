"""Seed 003 §IV mean field: per-spin Eqs. 22–23 vs reductions, Eq. 25/29 closed forms, the η = N/16 edge, Eq. 30 fit."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxlmg.cats import _mean_field as M


def test_two_group_reduction_equals_per_spin_equations():
    n, eta, d = 6, 0.4, 0.3
    det = jnp.array([d] * 3 + [-d] * 3)
    rng = np.random.default_rng(0)
    y2 = jnp.asarray(np.array([[0.2, 0.15], [0.1, -0.05], [-0.9, -0.95]]))
    y_full = jnp.repeat(y2, 3, axis=1)
    f_full = M.per_spin_rhs(0.0, y_full, (det, eta, 1.0))
    f_two = M.two_group_rhs(0.0, y2, (d, eta, 1.0, float(n)))
    np.testing.assert_allclose(np.asarray(f_full[:, [0, 3]]), np.asarray(f_two), rtol=1e-13, atol=1e-15)
    # and the per-spin integrator keeps identical spins identical
    ts, ys, ok = M.evolve_mean_field(det, eta, 2.0, y0=y_full, n_save=3)
    assert bool(ok)
    np.testing.assert_allclose(np.asarray(ys[-1][:, :3]), np.asarray(ys[-1][:, :1]).repeat(3, 1), atol=1e-13)
    del rng


def test_synchronised_state_eq25_is_the_mean_field_fixed_point():
    n = 1.0e4
    res = M.two_group_steady_state(jnp.array([0.0]), jnp.array([50.0, 300.0]), n)
    assert bool(jnp.all(res["synchronised"]))
    for i, eta in enumerate((50.0, 300.0)):
        a2, _, z = M.synchronised_state(eta, n)
        assert abs(float(res["amplitude"][i, 0]) ** 2 / float(a2) - 1) <= 1e-3
        assert abs(float(res["z"][i, 0]) / float(z) - 1) <= 1e-3
        # Eq. 25 is the fixed point of Eq. 24 up to O(1/N)
        f = M.reduced_rhs_eq24(0.0, jnp.array([jnp.sqrt(a2), jnp.pi / 4, z]), (eta, 1.0, n))
        assert float(jnp.max(jnp.abs(f))) <= 1e-3 * float(a2)


def test_synchronisation_edge_is_n_over_16():
    n = 1.0e3
    edge = float(M.max_squeezing(n))
    res = M.two_group_steady_state(jnp.array([0.0]), jnp.array([0.97 * edge, 1.03 * edge]), n)
    assert bool(res["synchronised"][0, 0]) and not bool(res["synchronised"][1, 0])
    assert not bool(jnp.isfinite(M.synchronised_state(1.03 * edge, n)[0]))


def test_phase_spread_small_delta_eq29_and_reduced_eqs_26_28():
    n, eta = 1.0e4, 200.0
    ds = jnp.array([0.0, 2e-5, 5e-5])
    res = M.two_group_steady_state(ds, jnp.array([eta]), n)
    zeta = float(res["zeta"][0, 1])
    pred = float(M.phase_spread_eq29(2e-5, eta, n))
    assert abs(zeta / pred - 1) <= 0.05  # Eq. 29 is first order in δ and in 1/N
    # the two-group fixed point satisfies Eqs. 26–28 to O(1/N)
    a, z = float(res["amplitude"][0, 2]), float(res["z"][0, 2])
    f = M.reduced_rhs_eq26(0.0, jnp.array([a, float(res["zeta"][0, 2]), z]), (5e-5, eta, 1.0, n))
    assert float(jnp.max(jnp.abs(f / jnp.array([a, 1.0, a**2])))) <= 1e-3 * 2 * eta


def test_fit_ellipse_recovers_parameters():
    a, b = 312.5, 2.2e4
    x = jnp.linspace(10, 600, 25)
    y = b * jnp.sqrt(a**2 - (x - a) ** 2)
    fa, fb, ec, dc = M.fit_ellipse(x, y)
    assert abs(float(fa) / a - 1) <= 1e-10 and abs(float(fb) / b - 1) <= 1e-10
    assert abs(float(ec) - 2 * a) <= 1e-7 and abs(float(dc) / (a * b) - 1) <= 1e-10


def test_gradients_match_finite_differences():
    f = lambda eta: M.synchronised_state(eta, 1e3)[0] + M.phase_spread_eq29(1e-6, eta, 1e3)  # noqa: E731
    g = jax.grad(f)(20.0)
    h = 1e-5
    fd = (f(20.0 + h) - f(20.0 - h)) / (2 * h)
    assert abs(float(g - fd)) <= 1e-6 * abs(float(fd))
