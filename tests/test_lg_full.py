"""Untruncated Leggett–Garg K3 and thresholds (jaxlmg._lg_full) against the truncated code at n = N+1."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import jaxlmg
from jaxlmg._lg_full import correlators_full, k3_full, threshold_full, truncation_convergence
from jaxlmg._status import Status

G = np.array([0.0, 0.01, 0.05])


@pytest.mark.parametrize("n, protocol", [(6, "sequential"), (11, "stationary")])
def test_full_space_equals_truncation_to_all_levels(n, protocol):
    a = correlators_full(G, n, 0.7, protocol=protocol, p_excited=0.1)
    b = jaxlmg.correlators(G, n, 0.7, levels=n + 1, protocol=protocol, p_excited=0.1)
    assert np.all(np.asarray(a.status) == Status.OK)
    for f in ("k3", "c12", "c23", "c13", "dt", "delta_e"):
        err = np.abs(np.asarray(getattr(a, f)) - np.asarray(getattr(b, f))).max()
        assert err <= 1e-10, f


def test_engine_truncation_equals_jaxlmg_truncation():
    a = correlators_full(G, 11, 0.7, protocol="sequential", levels=4).k3
    b = jaxlmg.k3(G, 11, 0.7, levels=4, protocol="sequential")
    assert np.abs(np.asarray(a) - np.asarray(b)).max() <= 1e-10


def test_threshold_full_equals_truncated_threshold_at_all_levels():
    a = threshold_full(6, [0.6, 0.8])
    b = jaxlmg.threshold(6, [0.6, 0.8], levels=7)
    assert np.all(np.asarray(a.status) == Status.OK)
    assert np.abs(np.asarray(a.dephasing) / np.asarray(b.dephasing) - 1).max() <= 1e-9
    k = k3_full(a.dephasing, 6, [0.6, 0.8])
    assert np.abs(np.asarray(k) - 1).max() <= 1e-7


def test_gradients_in_dephasing_and_field_match_finite_differences():
    f = lambda g, fl: k3_full(g, 6, fl, steps=16, tol=1e-6)
    g0, f0 = 0.03, 0.7
    fwd = jax.jvp(f, (g0, f0), (1.0, 0.0))[1], jax.jvp(f, (g0, f0), (0.0, 1.0))[1]
    rev = jax.grad(f, argnums=(0, 1))(g0, f0)
    e = 1e-5
    fd = ((f(g0 + e, f0) - f(g0 - e, f0)) / (2 * e), (f(g0, f0 + e) - f(g0, f0 - e)) / (2 * e))
    for a, b, c in zip(fwd, rev, fd):
        assert abs(a - c) <= 1e-6 * max(1.0, abs(c))
        assert abs(b - c) <= 1e-6 * max(1.0, abs(c))


@settings(max_examples=3, deadline=None)
@given(perm_seed=st.integers(0, 1000), i=st.integers(0, 3))
def test_point_independent_of_batch(perm_seed, i):
    g = np.array([0.0, 0.02, 0.04, 0.08])
    fl = np.array([0.6, 0.7, 0.75, 0.8])
    alone = float(k3_full(g[i], 6, fl[i], steps=16))
    perm = np.random.default_rng(perm_seed).permutation(4)
    batch = np.asarray(k3_full(g[perm], 6, fl[perm], steps=16))
    assert abs(batch[np.argsort(perm)][i] - alone) <= 1e-13


def test_unresolved_doublet_is_nan_with_status():
    r = correlators_full(0.01, 200, 0.2)
    assert int(r.status) == Status.UNRESOLVED and np.isnan(float(r.k3))


def test_bad_input_raises():
    with pytest.raises(ValueError, match="dephasing"):
        k3_full(-1.0, 6, 0.7)
    with pytest.raises(ValueError, match="protocol"):
        k3_full(0.1, 6, 0.7, protocol="nope")
    with pytest.raises(ValueError, match="levels"):
        correlators_full(0.1, 6, 0.7, levels=9)
    with pytest.raises(ValueError, match="n_spins"):
        threshold_full(1.5, 0.7)


def test_smoke_n100_full_close_to_large_truncation():
    g = jaxlmg.BEC.rate_to_natural(0.5)
    full = correlators_full(g, 100, 0.9)
    trunc = correlators_full(g, 100, 0.9, levels=30)
    assert int(full.status) == Status.OK
    assert 1.0 < float(full.k3) < 1.5  # violation, below the coherent bound 1.5
    assert abs(float(full.k3) - float(trunc.k3)) <= 5e-3
    r = truncation_convergence(8, 0.7, (5, 12), dephasing=0.01, protocols=("stationary",))  # 12 > N+1: dropped
    assert list(r["levels"]) == [5, 9]
    assert abs(r["k3_stationary"][-1] - float(jaxlmg.k3(0.01, 8, 0.7, levels=9))) <= 1e-10


def test_threshold_derivatives_match_finite_differences():
    # implicit function theorem (custom JVP) against central differences of the solver itself;
    # same N, batch shape and defaults as the test above, so nothing new is compiled for the primal
    def th(f, dt=None):
        fl = jnp.stack([jnp.asarray(f, jnp.float64), jnp.asarray(0.8)])
        t = None if dt is None else jnp.stack([jnp.asarray(dt, jnp.float64), jnp.asarray(2.0)])
        return threshold_full(6, fl, dt=t).dephasing[0]

    f0, e = 0.7, 1e-4
    fd = (th(f0 + e) - th(f0 - e)) / (2 * e)
    rev = jax.grad(th)(f0)
    fwd = jax.jvp(th, (f0,), (1.0,))[1]
    assert abs(float(rev) / float(fd) - 1.0) <= 1e-5
    assert abs(float(fwd) / float(fd) - 1.0) <= 1e-5
    t0 = 2.3  # near the default π/(3ΔE) ≈ 2.154 (violation present)
    fd_t = (th(f0, t0 + e) - th(f0, t0 - e)) / (2 * e)
    fwd_t = jax.jvp(lambda t: th(f0, t), (t0,), (1.0,))[1]
    assert abs(float(fwd_t) / float(fd_t) - 1.0) <= 1e-5
    # first-order rule: a second derivative is NaN, never the silent 0 it read before
    assert np.isnan(float(jax.hessian(th)(f0)))
