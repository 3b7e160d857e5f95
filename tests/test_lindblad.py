"""Lindblad generators, sector propagation and the matrix exponential (seed 001 App. I)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl
from hypothesis import given, settings, strategies as st

import jaxlmg  # noqa: F401  (x64)
from jaxlmg._lindblad import (even_generator, evolve, expm, liouvillian, odd_generator, split_parity, unvec,
                              vec)


def np_liouvillian(H, Jz, g):
    """Appendix I listing, verbatim in numpy."""
    d = H.shape[0]
    I = np.eye(d, dtype=complex)
    Lc = -1j * (np.kron(I, H.astype(complex)) - np.kron(H.T.astype(complex), I))
    LdL = Jz @ Jz
    Ld = g * (np.kron(Jz.astype(complex), Jz.astype(complex)) - 0.5 * np.kron(LdL.astype(complex), I)
              - 0.5 * np.kron(I, LdL.T.astype(complex)))
    return Lc + Ld


np_vec = lambda r: r.T.flatten()
np_unvec = lambda v, d: v.reshape(d, d).T


def random_alternating(rng, n, scale=1.0):
    """Energies ascending, Jz real symmetric coupling only opposite index parity."""
    e = np.sort(rng.uniform(0, 3, n))
    e[0] = 0.0
    jz = rng.normal(size=(n, n)) * scale
    jz = jz + jz.T
    idx = np.arange(n)
    jz[(idx[:, None] % 2) == (idx[None, :] % 2)] = 0.0
    return e, jz


def random_density(rng, n):
    x = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    r = x @ x.conj().T
    return r / np.trace(r)


def test_appendix_i_self_tests():
    H0 = np.zeros((3, 3))
    Jz3 = np.diag([-1.0, 0.0, 1.0])
    L = np.asarray(liouvillian(H0, jz=Jz3, dephasing=0.1))
    np.testing.assert_allclose(L, np_liouvillian(H0, Jz3, 0.1), atol=1e-15)
    ri = np.zeros((3, 3), complex)
    ri[0, 2] = 1.0
    U = np.asarray(expm(jnp.asarray(L * 2.0)))
    rf = np.asarray(unvec(U @ np.asarray(vec(ri)), 3))
    assert abs(rf[0, 2].real - np.exp(-0.4)) < 1e-12  # (Δm)² γ t / 2 = 4·0.1·2/2
    rt = np.asarray(unvec(U @ np.asarray(vec(np.diag([0.2, 0.3, 0.5]).astype(complex))), 3))
    assert abs(np.trace(rt).real - 1.0) < 1e-12


def test_vec_is_column_stacking():
    rng = np.random.default_rng(1)
    a, x, b = (rng.normal(size=(3, 3)) for _ in range(3))
    lhs = np.asarray(vec(a @ x @ b))
    rhs = np.kron(b.T, a) @ np.asarray(vec(x))
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)
    np.testing.assert_allclose(np.asarray(vec(x)), np_vec(x))
    np.testing.assert_allclose(np.asarray(unvec(vec(x), 3)), x)


def test_general_jump_operators_match_master_equation():
    rng = np.random.default_rng(2)
    d = 4
    H = rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d))
    H = H + H.conj().T
    Ls = [rng.normal(size=(d, d)) + 1j * rng.normal(size=(d, d)) for _ in range(2)]
    rho = random_density(rng, d)
    rhs = -1j * (H @ rho - rho @ H)
    for L in Ls:
        rhs += L @ rho @ L.conj().T - 0.5 * (L.conj().T @ L @ rho + rho @ L.conj().T @ L)
    Lv = np.asarray(liouvillian(H, Ls))
    np.testing.assert_allclose(Lv @ np_vec(rho), np_vec(rhs), atol=1e-12)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0, 1e4, 1e7])
def test_expm_matches_scipy_for_any_norm(scale):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(8, 8))
    a = (a - a.T) * scale - 0.1 * np.eye(8)  # oscillatory, like -i[H,.] with damping
    ref = sl.expm(a)
    out = np.asarray(expm(jnp.asarray(a)))
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, ref, atol=1e-12 * max(1.0, scale) * 10)


def test_jax_expm_pitfall_and_our_fix():
    a = np.diag([0.0, -1.0]) + np.array([[0, 1.0], [-1.0, 0]]) * 1e7
    assert np.all(np.isnan(np.asarray(jax.scipy.linalg.expm(jnp.asarray(a)))))  # the documented cliff
    out = np.asarray(expm(jnp.asarray(a)))
    np.testing.assert_allclose(out, sl.expm(a), atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(2, 6), seed=st.integers(0, 10_000), g=st.floats(0.0, 2.0), t=st.floats(0.01, 5.0))
def test_evolve_matches_dense_liouvillian(n, seed, g, t):
    rng = np.random.default_rng(seed)
    e, jz = random_alternating(rng, n)
    rho = random_density(rng, n)
    ref = np_unvec(sl.expm(np_liouvillian(np.diag(e), jz, g) * t) @ np_vec(rho), n)
    out = np.asarray(evolve(rho, e, jz, g, t))
    np.testing.assert_allclose(out, ref, atol=1e-11)
    # trace, hermiticity, positivity
    assert abs(np.trace(out) - 1.0) < 1e-12
    np.testing.assert_allclose(out, out.conj().T, atol=1e-13)
    assert np.linalg.eigvalsh(out).min() > -1e-12


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 5), seed=st.integers(0, 10_000), g=st.floats(0.0, 1.0), t=st.floats(0.01, 3.0))
def test_channel_is_completely_positive(n, seed, g, t):
    rng = np.random.default_rng(seed)
    e, jz = random_alternating(rng, n)
    U = np.asarray(expm(liouvillian(np.diag(e), jz=jz, dephasing=g) * t))
    # Choi matrix Σ_ij |i><j| ⊗ E(|i><j|)
    choi = np.zeros((n * n, n * n), complex)
    for i in range(n):
        for j in range(n):
            eij = np.zeros((n, n), complex)
            eij[i, j] = 1.0
            choi += np.kron(eij, np_unvec(U @ np_vec(eij), n))
    assert np.linalg.eigvalsh(0.5 * (choi + choi.conj().T)).min() > -1e-12
    # trace preservation of the dual: 1ᵀ U = 1ᵀ
    np.testing.assert_allclose(np_vec(np.eye(n)).conj() @ U, np_vec(np.eye(n)).conj(), atol=1e-12)


def test_sector_generators_structure():
    rng = np.random.default_rng(5)
    e, jz = random_alternating(rng, 7)
    ee, eo, b, _ = split_parity(jnp.asarray(e), jnp.asarray(jz))
    m0 = np.asarray(odd_generator(ee, eo, b, 0.0))
    m1 = np.asarray(odd_generator(ee, eo, b, 1.0)) - m0
    np.testing.assert_allclose(m0, -m0.T, atol=1e-14)  # Hamiltonian part antisymmetric
    np.testing.assert_allclose(m1, m1.T, atol=1e-12)  # dissipator symmetric
    assert np.linalg.eigvalsh(m1).max() < 1e-12  # and negative semidefinite
    assert m0.shape == (2 * 4 * 3, 2 * 4 * 3)  # 2 n_e n_o ≈ n²/2 real numbers
    me = np.asarray(even_generator(ee, eo, b, 0.3))
    assert me.shape == (16 + 9, 16 + 9)


def test_sector_propagation_matches_qutip():
    qutip = pytest.importorskip("qutip")
    rng = np.random.default_rng(6)
    e, jz = random_alternating(rng, 5)
    L = qutip.liouvillian(qutip.Qobj(np.diag(e)), [np.sqrt(0.4) * qutip.Qobj(jz)])
    rho = random_density(rng, 5)
    ref = np_unvec(sl.expm(L.full() * 1.3) @ np_vec(rho), 5)  # QuTiP also stacks columns
    np.testing.assert_allclose(np.asarray(evolve(rho, e, jz, 0.4, 1.3)), ref, atol=1e-10)
    np.testing.assert_allclose(np.asarray(liouvillian(np.diag(e), jz=jz, dephasing=0.4)), L.full(), atol=1e-12)


def test_forward_mode_derivative_of_evolve():
    rng = np.random.default_rng(7)
    e, jz = random_alternating(rng, 4)
    rho = random_density(rng, 4)
    f = lambda g: jnp.real(evolve(rho, e, jz, g, 1.7)[0, 1])
    _, d = jax.jvp(f, (0.3,), (1.0,))
    h = 1e-5
    fd = (f(0.3 + h) - f(0.3 - h)) / (2 * h)
    assert abs(float(d) - float(fd)) < 1e-8


def test_liouvillian_bad_input():
    with pytest.raises(ValueError, match="dephasing"):
        liouvillian(np.eye(2), jz=np.eye(2), dephasing=-1.0)
    with pytest.raises(ValueError, match="jz"):
        liouvillian(np.eye(2))


@pytest.mark.parametrize("scale", [1e-2, 1.0, 1e3])
def test_expm_derivatives_match_scipy_frechet(scale):
    """Forward mode = L(A, E), reverse mode = L(Aᵀ, G) against scipy.linalg.expm_frechet."""
    rng = np.random.default_rng(12)
    a = rng.normal(size=(5, 5))
    a = scale * (a - a.T) - 0.3 * np.eye(5) + 0.1 * rng.normal(size=(5, 5))
    e = rng.normal(size=(5, 5))
    gbar = rng.normal(size=(5, 5))
    _, lae = sl.expm_frechet(a, e)
    _, lag = sl.expm_frechet(a.T, gbar)
    fwd = np.asarray(jax.jvp(expm, (jnp.asarray(a),), (jnp.asarray(e),))[1])
    rev = np.asarray(jax.grad(lambda x: jnp.sum(gbar * expm(x)))(jnp.asarray(a)))
    tol = 1e-11 * max(1.0, scale) * np.abs(lae).max()
    assert np.abs(fwd - lae).max() <= tol
    assert np.abs(rev - lag).max() <= 1e-11 * max(1.0, scale) * np.abs(lag).max()
    vm = np.asarray(jax.vmap(lambda x: jax.grad(lambda y: jnp.sum(gbar * expm(y)))(x))(jnp.stack([a, a])))
    assert np.abs(vm[1] - lag).max() <= 1e-11 * max(1.0, scale) * np.abs(lag).max()


@pytest.mark.parametrize("scale", [1e-2, 1.0, 30.0])
def test_expm_second_derivatives_every_mode(scale):
    """d²/ds² ⟨G, expm(A + sE)⟩ in all four compositions of forward and reverse mode (and
    jax.hessian, jit, vmap) against scipy: the top-right block of expm of the block
    bidiagonal [[A, E, 0], [0, A, E], [0, 0, A]] is ½ d²/ds² expm(A + sE) (Mathias 1996).
    Reverse over reverse used to raise (jax's linear_call JVP rule, see _lindblad)."""
    rng = np.random.default_rng(7)
    n = 4
    a = scale * rng.normal(size=(n, n)) / np.sqrt(n)
    e = rng.normal(size=(n, n))
    gs = rng.normal(size=(2, n, n))
    z = np.zeros((n, n))
    big = sl.expm(np.block([[a, e, z], [z, a, e], [z, z, a]]))
    ref = np.array([2.0 * np.sum(g * big[:n, 2 * n:]) for g in gs])

    def f(s, g):
        return jnp.sum(g * expm(jnp.asarray(a) + s * jnp.asarray(e)))

    ways = {"fwd-fwd": jax.jacfwd(jax.jacfwd(f)), "rev-rev": jax.jacrev(jax.jacrev(f)),
            "fwd-rev": jax.jacfwd(jax.jacrev(f)), "rev-fwd": jax.jacrev(jax.jacfwd(f)), "hessian": jax.hessian(f)}
    tol = 1e-10 * np.abs(ref).max()
    for name, h in ways.items():
        got = np.asarray(jax.jit(jax.vmap(h, in_axes=(None, 0)))(0.0, jnp.asarray(gs)))
        assert np.abs(got - ref).max() <= tol, (name, got, ref)


def test_expm_keeps_slow_modes():
    """Stiff generator with an exact kernel: exp(tA) stays the kernel projector at any t
    (the F = R - I squaring keeps slow modes; plain squaring amplifies eps by 2^s)."""
    d = np.diag([0.0, -1.0, -3.0])
    a = d + 1e-3 * np.array([[0, 1, 0], [-1, 0, 1], [0, -1, 0]])
    for t in (1e2, 1e4):
        ref = sl.expm(a * t)
        np.testing.assert_allclose(np.asarray(expm(jnp.asarray(a * t))), ref, atol=1e-12)


def test_evolve_reverse_mode():
    rng = np.random.default_rng(13)
    e, jz = random_alternating(rng, 4)
    rho = random_density(rng, 4)
    f = lambda g, t: jnp.real(evolve(rho, e, jz, g, t)[1, 2]) + jnp.imag(evolve(rho, e, jz, g, t)[0, 1])
    gg, gt = jax.grad(f, argnums=(0, 1))(0.3, 1.7)
    h = 1e-5
    assert abs(float(gg) - float((f(0.3 + h, 1.7) - f(0.3 - h, 1.7)) / (2 * h))) < 1e-8
    assert abs(float(gt) - float((f(0.3, 1.7 + h) - f(0.3, 1.7 - h)) / (2 * h))) < 1e-8
