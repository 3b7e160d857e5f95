"""Routing of large truncations (levels >= SPLIT_LEVELS) to the splitting engine (jaxlmg._lg_split):
the routed k3/correlators/threshold against the dense expm path at the same truncation, gradients
against finite differences, jit/vmap, batch independence and invalid input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxlmg
import jaxlmg._leggett_garg as lg
from jaxlmg._status import Status

N, F = 40, 0.9
LV = lg.SPLIT_LEVELS  # the crossover itself
G = np.array([0.0, 0.003, 0.02, 0.1])


@pytest.fixture
def dense(monkeypatch):
    """Context switch: inside ``with dense():`` every truncation uses the dense expm path."""
    import contextlib

    @contextlib.contextmanager
    def ctx():
        with monkeypatch.context() as m:
            m.setattr(lg, "SPLIT_LEVELS", 10**9)
            yield

    return ctx


def _k3_agree(dense, levels, protocol, g=G, n=N, tol=1e-8, **kw):
    a = jaxlmg.correlators(g, n, F, levels=levels, protocol=protocol, **kw)
    with dense():
        b = jaxlmg.correlators(g, n, F, levels=levels, protocol=protocol, **kw)
    assert np.array_equal(np.asarray(a.status), np.asarray(b.status))
    assert np.all(np.asarray(a.status) == Status.OK)
    for f in ("k3", "c12", "c23", "c13", "dt", "delta_e"):
        err = np.max(np.abs(np.asarray(getattr(a, f)) - np.asarray(getattr(b, f))))
        assert err <= tol, (f, err)


def _thr_agree(dense, levels, protocol, tol=1e-8, **kw):
    a = jaxlmg.threshold(N, F, levels=levels, protocol=protocol, **kw)
    with dense():
        b = jaxlmg.threshold(N, F, levels=levels, protocol=protocol, **kw)
    assert int(a.status) == int(b.status) == Status.OK
    err = abs(float(a.dephasing) / float(b.dephasing) - 1.0)
    assert err <= tol, err
    assert abs(float(a.residual)) <= 1e-7
    assert 0.0 <= float(a.error_estimate) <= 1e-6
    for f in ("k3_zero", "dt", "delta_e"):
        assert abs(float(getattr(a, f)) - float(getattr(b, f))) <= 1e-10 * max(1.0, abs(float(getattr(b, f)))), f


@pytest.mark.parametrize("protocol", ["stationary", pytest.param("sequential", marks=pytest.mark.slow)])
def test_routed_k3_equals_dense_at_crossover(dense, protocol):
    _k3_agree(dense, LV, protocol, p_excited=0.1)


@pytest.mark.slow
def test_routed_k3_equals_dense_odd_levels(dense):
    # odd n: the even block has one more state than the odd one (complement of the SVD basis)
    _k3_agree(dense, LV + 1, "sequential")


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["stationary", "sequential"])
def test_routed_k3_equals_dense_30_levels(dense, protocol):
    _k3_agree(dense, 30, protocol)


@pytest.mark.slow
def test_routed_k3_strong_dephasing_matches_dense(dense):
    # strong dephasing: n₀ raised to γφ·Δt·max σ²/2 (0.5), the dense fallback (10, 1e7: no Strang
    # step count up to 4096 reaches the tolerance) and the adiabatic elimination of both paths (1e9)
    _k3_agree(dense, LV, "stationary", g=np.array([0.5, 10.0, 1e7, 1e9]))


@pytest.mark.parametrize("protocol", ["stationary", pytest.param("sequential", marks=pytest.mark.slow)])
def test_routed_threshold_equals_dense_at_crossover(dense, protocol):
    _thr_agree(dense, LV, protocol)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", ["stationary", "sequential"])
def test_routed_threshold_equals_dense_30_levels(dense, protocol):
    _thr_agree(dense, 30, protocol)


def test_routed_k3_gradients_match_finite_differences():
    """Eager grad (step counts chosen on the concrete values) and jit∘jvp (TRACED_STEPS) in
    dephasing, field and dt against central differences of the routed path."""
    x0 = np.array([0.002, F, 30.0])  # eager: n₀ = 64 or 128; under jit n₀ = TRACED_STEPS (256)
    f = lambda x: jaxlmg.k3(x[0], N, x[1], levels=LV, dt=x[2], protocol="sequential")
    grad = np.asarray(jax.grad(f)(jnp.asarray(x0)))
    eye = np.eye(3)
    h = np.array([1e-6, 1e-5, 1e-4])  # K3 is strongly curved in γφ: Richardson-extrapolated differences
    c = lambda i, hh: (float(f(x0 + hh * eye[i])) - float(f(x0 - hh * eye[i]))) / (2 * hh)
    fd = np.array([(4.0 * c(i, h[i] / 2) - c(i, h[i])) / 3.0 for i in range(3)])
    assert np.all(np.isfinite(grad))
    assert np.max(np.abs(grad - fd) / np.maximum(1.0, np.abs(fd))) <= 2e-6
    val, tan = jax.jit(lambda x: jax.jvp(f, (x,), (jnp.asarray(eye[1]),)))(jnp.asarray(x0))
    assert abs(float(val) - float(f(x0))) <= 1e-9
    assert abs(float(tan) - fd[1]) <= 2e-6 * max(1.0, abs(fd[1]))


@pytest.mark.slow
def test_routed_threshold_gradient_matches_finite_differences():
    # γφ*(Γ) is strongly curved here (central differences with h = 1e-4 are 10 % off):
    # Richardson-extrapolated differences with h = 1e-5, 5e-6
    f = lambda x: float(jaxlmg.threshold(N, x, levels=LV).dephasing)
    d = float(jax.grad(lambda x: jaxlmg.threshold(N, x, levels=LV).dephasing)(F))
    c = lambda h: (f(F + h) - f(F - h)) / (2 * h)
    fd = (4.0 * c(5e-6) - c(1e-5)) / 3.0
    assert abs(d - fd) <= 1e-5 * abs(fd)


def test_routed_vmap_equals_single_points_and_batch_independence():
    """Points with different step buckets (Δt) alone, batched, permuted, under vmap."""
    g = np.array([0.02, 0.0, 0.05])
    dt = np.array([30.0, 3.0, 70.0])  # n₀ = 64, 8, 256
    alone = np.array([float(jaxlmg.k3(g[i], N, F, levels=LV, dt=dt[i])) for i in range(3)])
    batch = np.asarray(jaxlmg.k3(g, N, F, levels=LV, dt=dt))
    perm = np.array([2, 0, 1])
    permuted = np.asarray(jaxlmg.k3(g[perm], N, F, levels=LV, dt=dt[perm]))
    assert np.array_equal(batch, alone)
    assert np.array_equal(permuted, alone[perm])
    vm = np.asarray(jax.vmap(lambda a, b: jaxlmg.k3(a, N, F, levels=LV, dt=b))(g, dt))
    assert np.max(np.abs(vm - alone)) <= 1e-9


def test_routed_invalid_input():
    with pytest.raises(ValueError, match="dephasing"):
        jaxlmg.k3(-1.0, N, F, levels=LV)
    with pytest.raises(ValueError, match="levels"):
        jaxlmg.k3(0.01, N, F, levels=N + 2)
    r = jax.jit(lambda g: jaxlmg.correlators(g, N, F, levels=LV))(jnp.array([-1.0, 0.02]))
    assert np.asarray(r.status).tolist() == [Status.INVALID_INPUT, Status.OK]
    assert np.isnan(float(r.k3[0])) and np.isfinite(float(r.k3[1]))
    # Γ = 0: the default Δt is infinite
    r = jaxlmg.correlators(0.01, N, 0.0, levels=LV)
    assert int(r.status) == Status.INVALID_INPUT and np.isnan(float(r.k3))


@pytest.mark.slow
def test_routed_threshold_jit_and_vmap():
    """Under jit/vmap the routed threshold uses n₀ = TRACED_STEPS: same root as the eager call
    (to its tolerance), invalid traced input → NaN + INVALID_INPUT."""
    eager = jaxlmg.threshold(N, F, levels=LV)
    jitted = jax.jit(lambda f: jaxlmg.threshold(N, f, levels=LV))(F)
    assert int(jitted.status) == int(eager.status) == Status.OK
    assert abs(float(jitted.dephasing) / float(eager.dephasing) - 1.0) <= 1e-9
    r = jax.vmap(lambda f: jaxlmg.threshold(N, f, levels=LV))(jnp.array([F, -1.0]))
    assert np.asarray(r.status).tolist() == [Status.OK, Status.INVALID_INPUT]
    assert abs(float(r.dephasing[0]) / float(eager.dephasing) - 1.0) <= 1e-9 and np.isnan(float(r.dephasing[1]))
