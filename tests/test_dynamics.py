"""The matrix-free Lindblad engine (jaxlmg.dynamics) against dense numpy superoperators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings, strategies as st

import jaxlmg  # noqa: F401
from jaxlmg.dynamics import _operators as op
from jaxlmg.dynamics._gap import odd_sector_rates
from jaxlmg.dynamics._lindblad import lindblad_action
from jaxlmg.dynamics._propagate import evolve_dephased, propagate

N = 5  # one small shape for the dense references (d = 6, d² = 36)


def dense_ops(n, field):
    j = n / 2.0
    m = np.arange(-j, j + 1)
    c = np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1))
    jp = np.diag(c, -1)
    jz = np.diag(m)
    h = -(2.0 / n) * jz @ jz - field * (jp + jp.T)
    return h, jz, jp, jp.T


def dense_liouvillian(h, jumps):
    d = h.shape[0]
    eye = np.eye(d)
    lv = -1j * (np.kron(eye, h) - np.kron(h.T, eye))
    for lk in jumps:
        ldl = lk.conj().T @ lk
        lv = lv + np.kron(lk.conj(), lk) - 0.5 * np.kron(eye, ldl) - 0.5 * np.kron(ldl.T, eye)
    return lv


vec = lambda r: r.T.ravel()
unvec = lambda v, d: v.reshape(d, d).T


def random_state(d, seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    r = a @ a.conj().T
    return r / np.trace(r)


def test_banded_operators_match_dense():
    h, jz, jp, jm = dense_ops(N, 0.8)
    assert np.abs(np.asarray(op.lmg_hamiltonian(N, 0.8).dense()) - h).max() <= 1e-14
    assert np.abs(np.asarray(op.jz(N).dense()) - jz).max() == 0
    assert np.abs(np.asarray(op.jplus(N).dense()) - jp).max() == 0
    assert np.abs(np.asarray(op.jminus(N).dense()) - jm).max() == 0
    a = op.jminus(N) @ op.jminus(N) + op.jz(N).scale(0.3j) - op.jx(N)
    ref = jm @ jm + 0.3j * jz - 0.5 * (jp + jm)
    assert np.abs(np.asarray(a.dense()) - ref).max() <= 1e-13
    assert np.abs(np.asarray(a.dagger().dense()) - ref.conj().T).max() <= 1e-13
    x = random_state(N + 1, 0)
    assert np.abs(np.asarray(a.left(x)) - ref @ x).max() <= 1e-13
    assert np.abs(np.asarray(a.right(x)) - x @ ref).max() <= 1e-13


def test_lindblad_action_matches_dense_superoperator():
    h, jz, jp, jm = dense_ops(N, 0.7)
    g, k1, k2 = 0.13, 0.07, 0.02
    lv = dense_liouvillian(h, [np.sqrt(g) * jz, np.sqrt(k1) * jm, np.sqrt(k2) * jm @ jm])
    rho = random_state(N + 1, 1)
    jumps = (op.jminus(N).scale(np.sqrt(k1)), (op.jminus(N) @ op.jminus(N)).scale(np.sqrt(k2)))
    got = np.asarray(lindblad_action(rho, op.lmg_hamiltonian(N, 0.7), jumps, g))
    assert np.abs(got - unvec(lv @ vec(rho), N + 1)).max() <= 1e-13


def test_generic_propagation_with_decay_and_two_body_loss():
    h, jz, jp, jm = dense_ops(N, 0.6)
    k1, k2, t = 0.05, 0.03, 1.7
    lv = dense_liouvillian(h, [np.sqrt(k1) * jm, np.sqrt(k2) * jm @ jm])
    rho = random_state(N + 1, 2)
    ref = unvec(sl.expm(lv * t) @ vec(rho), N + 1)
    jumps = (op.jminus(N).scale(np.sqrt(k1)), (op.jminus(N) @ op.jminus(N)).scale(np.sqrt(k2)))
    got = np.asarray(propagate(rho, t, op.lmg_hamiltonian(N, 0.6), jumps))
    assert np.abs(got - ref).max() <= 1e-9
    assert abs(np.trace(got) - 1.0) <= 1e-10
    assert np.abs(got - got.conj().T).max() <= 1e-10


@pytest.mark.parametrize("n", [5, 6])
def test_dephased_splitting_matches_dense_expm(n):
    h, jz, _, _ = dense_ops(n, 0.7)
    g, t = 0.09, 2.3
    lv = dense_liouvillian(h, [np.sqrt(g) * jz])
    rho = random_state(n + 1, 3)
    ref = unvec(sl.expm(lv * t) @ vec(rho), n + 1)
    got, est = evolve_dephased(rho, n, 0.7, g, t, steps=32)
    err = np.abs(np.asarray(got) - ref).max()
    assert err <= 1e-10
    assert float(est) <= 1e-8  # the Richardson estimate is conservative but not wild
    assert err <= 10 * float(est) + 1e-13


def test_pure_dephasing_is_analytic():
    # Γ = 0: H and Jz commute; ρ_mm′(t) = exp(-γ t (m - m′)²/2) ρ_mm′(0) (up to H phases).
    n, g, t = 6, 0.21, 1.3
    m = np.arange(n + 1) - n / 2
    rho = random_state(n + 1, 4)
    hd = -(2.0 / n) * m**2
    ref = rho * np.exp(-0.5 * g * t * (m[:, None] - m[None, :]) ** 2) * np.exp(-1j * t * (hd[:, None] - hd[None, :]))
    got, _ = evolve_dephased(rho, n, 0.0, g, t, steps=4)
    assert np.abs(np.asarray(got) - ref).max() <= 1e-13
    got2 = propagate(rho, t, op.lmg_hamiltonian(n, 0.0), (), g)
    assert np.abs(np.asarray(got2) - ref).max() <= 1e-9


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), g=st.floats(0.0, 0.5), field=st.floats(0.0, 1.5), t=st.floats(0.1, 4.0))
def test_trace_hermiticity_positivity(seed, g, field, t):
    rho = random_state(N + 1, seed)
    rho = 0.5 * rho + 0.5 * np.outer(np.eye(N + 1)[seed % (N + 1)], np.eye(N + 1)[seed % (N + 1)])
    out, _ = evolve_dephased(rho, N, field, g, t, steps=16)
    out = np.asarray(out)
    assert abs(np.trace(out) - 1.0) <= 1e-12
    assert np.abs(out - out.conj().T).max() <= 1e-12
    assert np.linalg.eigvalsh(out).min() >= -1e-12


def _observable(field, g, rho, t=1.5):
    out, _ = evolve_dephased(rho, N, field, g, t, steps=16)
    m = jnp.arange(N + 1) - N / 2
    return jnp.real(jnp.sum(jnp.diag(out) * jnp.sign(m) * m)) + jnp.real(out[0, N - 1])


def test_gradients_match_finite_differences():
    rho = jnp.asarray(random_state(N + 1, 5))
    f0, g0 = 0.8, 0.07
    fwd = jax.jvp(lambda f, g: _observable(f, g, rho), (f0, g0), (1.0, 0.0))[1]
    fwd_g = jax.jvp(lambda g: _observable(f0, g, rho), (g0,), (1.0,))[1]
    rev = jax.grad(lambda f, g: _observable(f, g, rho), argnums=(0, 1))(f0, g0)
    e = 1e-5
    fd_f = (_observable(f0 + e, g0, rho) - _observable(f0 - e, g0, rho)) / (2 * e)
    fd_g = (_observable(f0, g0 + e, rho) - _observable(f0, g0 - e, rho)) / (2 * e)
    assert abs(fwd - fd_f) <= 1e-7 * max(1.0, abs(fd_f))
    assert abs(fwd_g - fd_g) <= 1e-7 * max(1.0, abs(fd_g))
    assert abs(rev[0] - fd_f) <= 1e-7 * max(1.0, abs(fd_f))
    assert abs(rev[1] - fd_g) <= 1e-7 * max(1.0, abs(fd_g))


def test_odd_sector_rates_bitwise_reproducible():
    """Shift-invert Arnoldi starts from |E0⟩⟨E1|, not from ARPACK's random vector: the same call
    twice gives the same bits (before, the N = 370 report row moved in its last digits from run to
    run; the start vector's effect on the values themselves is checked against dense eig below)."""
    a = odd_sector_rates(60, 0.9, 0.003, k=6)
    b = odd_sector_rates(60, 0.9, 0.003, k=6)
    assert np.array_equal(a["eigenvalues"], b["eigenvalues"]) and a["doublet_rate"] == b["doublet_rate"]


@pytest.mark.parametrize("n", [8, 11])
def test_odd_sector_gap_against_dense_eig(n):
    g = 0.01
    a = odd_sector_rates(n, 0.7, g, k=4)
    b = odd_sector_rates(n, 0.7, g, k=4, dense=True)
    assert abs(a["doublet"] - b["doublet"]) <= 1e-10
    assert a["overlap"].max() >= 0.9
    # all found eigenvalues are eigenvalues of the dense odd sector
    dist = np.abs(a["eigenvalues"][:, None] - b["eigenvalues"][None, :]).min(axis=1)
    assert dist.max() <= 1e-9
    # and the n = N+1 level Lindblad T2 of jaxlmg (dense eig) is the same mode
    assert abs(float(jaxlmg.t2_lindblad(g, n, 0.7, levels=n + 1)) * a["doublet_rate"] - 1.0) <= 1e-9
