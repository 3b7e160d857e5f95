"""Seed 003 exact numerics: 2^N parity-block master equation vs QuTiP/scipy, Dicke sectors vs dense references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import qutip
import scipy.linalg as sl
from hypothesis import given, settings, strategies as st

from jaxlmg import cats as C
from jaxlmg.cats import _dicke as D
from jaxlmg.cats import _exact as E


def _qutip_full_liouvillian(det, eta, n, loss=1.0):
    """Independent full-space reference: QuTiP operators (|e⟩ = basis(2,0), σ₋ = sigmap in QuTiP's labels)."""
    # written out explicitly to avoid convention traps: |e> = basis(2,0), |g> = basis(2,1)
    e, g = qutip.basis(2, 0), qutip.basis(2, 1)
    sm = g * e.dag()
    sz = e * e.dag() - g * g.dag()
    ops = lambda op, k: qutip.tensor([op if j == k else qutip.qeye(2) for j in range(n)])  # noqa: E731
    s_minus = sum(ops(sm, k) for k in range(n))
    h = sum(0.5 * det[k] * ops(sz, k) for k in range(n)) + (eta / n) * (s_minus**2 + s_minus.dag() ** 2)
    lv = qutip.liouvillian(h, [np.sqrt(loss) / n * s_minus**2])
    return lv, e, g


def _product(theta, phi, n, e, g):
    one = np.cos(theta / 2) * g + np.exp(1j * phi) * np.sin(theta / 2) * e
    return qutip.tensor([one] * n)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 10**6), parity=st.sampled_from([1, -1]))
def test_full_space_matches_qutip_reference(seed, parity):
    n = 3
    rng = np.random.default_rng(seed)
    det = rng.normal(0, 0.3, n)
    eta, th = rng.uniform(0.1, 1.0), rng.uniform(0.3, 1.2)
    lv, e, g = _qutip_full_liouvillian(det, eta, n)
    cat = _product(th, -np.pi / 4, n, e, g) + parity * _product(th, -np.pi / 4 + np.pi, n, e, g)
    cat = cat.unit()
    rho0 = qutip.operator_to_vector(cat * cat.dag()).full().ravel()
    dt, steps = 0.7, 4
    prop = sl.expm(lv.full() * dt)
    ref, v = [], rho0
    for _ in range(steps + 1):
        rho = qutip.vector_to_operator(qutip.Qobj(v[:, None], dims=[lv.dims[0], [1]]))
        ref.append(qutip.expect(rho, cat))
        v = prop @ v
    psi = C.cat_state(th, -np.pi / 4, n, parity)
    _, f = E.exact_fidelity(det[None], psi, eta, n, parity, dt, steps)
    np.testing.assert_allclose(np.asarray(f[0]), np.array(ref, float), atol=1e-11)


def test_zero_detuning_full_space_equals_dicke_basis():
    n, eta = 3, 0.6
    for parity in (1, -1):
        psi = C.cat_state(0.9, -np.pi / 4, n, parity)
        _, f_full = E.exact_fidelity(np.zeros((1, n)), psi, eta, n, parity, 0.7, 4)
        _, f_dicke = D.dicke_fidelity(psi, eta, n, 0.7, 4)
        np.testing.assert_allclose(np.asarray(f_full[0]), np.asarray(f_dicke), atol=1e-12)


def test_realisation_batch_independence():
    n = 3
    rng = np.random.default_rng(1)
    det = rng.normal(0, 0.5, (5, n))
    psi = C.cat_state(0.8, -np.pi / 4, n, 1)
    _, f_all = E.exact_fidelity(det, psi, 0.4, n, 1, 0.5, 3, batch_size=2)
    perm = rng.permutation(5)
    _, f_perm = E.exact_fidelity(det[perm], psi, 0.4, n, 1, 0.5, 3, batch_size=2)
    _, f_one = E.exact_fidelity(det[3], psi, 0.4, n, 1, 0.5, 3, batch_size=2)
    np.testing.assert_allclose(np.asarray(f_perm), np.asarray(f_all)[perm], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(np.asarray(f_one[0]), np.asarray(f_all[3]), rtol=1e-13, atol=1e-14)


# ------------------------------------------------------------------------- Dicke basis
def _dense_dicke(n, eta, loss=1.0):
    k = np.arange(n + 1, dtype=float)
    sm = np.diag(np.sqrt(k[1:] * (n - k[1:] + 1)), 1)  # written independently of jaxlmg
    a = sm @ sm
    h = eta / n * (a + a.T)
    lv = qutip.liouvillian(qutip.Qobj(h), [qutip.Qobj(np.sqrt(loss) / n * a)]).full()  # column-stacking vec
    return lv, a


def test_dicke_steady_states_are_the_dense_null_space():
    n, eta = 10, 0.7
    lv, _ = _dense_dicke(n, eta)
    ss = C.steady_states(eta, n)
    null = sl.null_space(lv)
    assert null.shape[1] == 2  # strong Z2 symmetry: exactly two steady states
    for label, par in (("even", 0), ("odd", 1)):
        rho = np.asarray(ss[label])
        assert abs(np.trace(rho) - 1) <= 1e-12
        assert np.max(np.abs(rho - rho.conj().T)) <= 1e-13
        assert np.min(np.linalg.eigvalsh(rho)) >= -1e-12
        off = np.ones((n + 1, n + 1), bool)
        off[par::2, par::2] = False
        assert np.max(np.abs(rho[off])) == 0.0
        vec = rho.reshape(-1, order="F")  # QuTiP column stacking
        resid = np.linalg.norm(lv @ vec) / np.linalg.norm(vec)
        assert resid <= 1e-12
        # lies in the dense null space
        proj = null @ (null.conj().T @ vec)
        assert np.linalg.norm(proj - vec) <= 1e-10


def test_paper_fig2_zero_detuning_steady_fidelities():
    """Seed 003 Fig. 2 caption: steady-state fidelities 0.998 (even) and 0.995 (odd), N = 8, η/Γ₂ = 0.2."""
    n, eta = 8, 0.2
    ss = D.steady_states(eta, n)
    th = C.theta_from_amplitude(np.sqrt(2 * eta), n)
    f_even = float(C.fidelity(C.cat_state(th, -np.pi / 4, n, 1), ss["even"]))
    f_odd = float(C.fidelity(C.cat_state(th, -np.pi / 4, n, -1), ss["odd"]))
    assert abs(f_even - 0.998) <= 5e-4 and abs(f_odd - 0.995) <= 5e-4


def test_coherence_mode_matches_dense_spectrum_and_dynamics():
    n, eta = 10, 0.3
    lv, _ = _dense_dicke(n, eta)
    d = n + 1
    ev = np.arange(d) % 2 == 0
    mask = np.outer(ev, ~ev).reshape(-1, order="F")
    w = np.linalg.eigvals(lv[np.ix_(mask, mask)])
    slow = np.min(-w.real)
    psi = np.asarray(C.boson_coherent_state(np.sqrt(2 * eta) * np.exp(-1j * np.pi / 4), n))
    rho0 = np.outer(psi, psi.conj())
    rate, rho_c = D.coherence_mode(eta, n, rho0)
    assert abs(float(rate) - slow) <= 1e-9 * max(slow, 1e-6) + 1e-13
    # after the fast transients (t = 40/Γ₂) the coherence part equals the metastable one, decayed
    t = 40.0
    rt = (sl.expm(lv * t) @ rho0.reshape(-1, order="F")).reshape(d, d, order="F")
    a_t = complex(C.hp_amplitude(rt))
    a_meta = complex(C.hp_amplitude(rho_c)) * np.exp(-float(rate) * t)
    assert abs(a_t - a_meta) <= 1e-8


def test_steady_amplitude_batch_and_gradient():
    n = 12
    etas = jnp.array([0.3, 0.9, 0.5])
    amp, rate, status = D.steady_amplitude(etas, n)
    assert np.all(np.asarray(status) == 0)
    amp1, _, _ = D.steady_amplitude(etas[jnp.array([2, 1, 0])], n)  # permuted batch, same shape
    amp2, _, _ = D.steady_amplitude(jnp.full(3, etas[1]), n)  # the point alone (repeated)
    assert float(jnp.max(jnp.abs(amp1[::-1] - amp))) <= 1e-12
    assert abs(float(amp2[0] - amp[1])) <= 1e-12
    # weak excitation: |<a>| → sqrt(2η/Γ₂)
    assert abs(float(amp[0]) - np.sqrt(0.6)) <= 0.05

    def f(eta):
        ss = D.steady_states(eta, n)
        return jnp.real(jnp.trace(ss["even"] @ jnp.diag(jnp.arange(n + 1.0))))

    g = jax.grad(f)(0.4)
    h = 1e-5
    fd = (f(0.4 + h) - f(0.4 - h)) / (2 * h)
    assert abs(float(g - fd)) <= 1e-6 * abs(float(fd))


def test_exact_bad_input():
    with pytest.raises(ValueError, match="n_spins"):
        E.exact_fidelity(np.zeros((1, 9)), np.ones(10), 0.2, 9, 1, 1.0, 2)
    with pytest.raises(ValueError, match="detunings"):
        E.exact_fidelity(np.zeros((1, 3)), np.ones(5), 0.2, 4, 1, 1.0, 2)
    with pytest.raises(ValueError, match="squeezing"):
        D.steady_states(-1.0, 5)


def test_sector_blocks_match_banded_engine_action():
    """The block-tridiagonal sector form equals the jaxlmg.dynamics matrix-free Lindblad action (J₋² jump)."""
    from jaxlmg.dynamics import lindblad_action

    n, eta = 9, 0.8
    h, jumps = D.dicke_model(eta, n, phase=0.3)
    rng = np.random.default_rng(4)
    rho = rng.normal(size=(n + 1, n + 1)) + 1j * rng.normal(size=(n + 1, n + 1))
    full = np.asarray(lindblad_action(rho, h, jumps))
    for p in (0, 1):
        for q in (0, 1):
            x = rho[p::2, q::2]
            lo, di, up = D._sector_blocks(eta, 1.0, 0.3, n, p, q)
            y = np.asarray(D._apply(lo, di, up, jnp.asarray(x)))
            assert np.max(np.abs(y - full[p::2, q::2])) <= 1e-12


def test_engine_evolution_matches_dense_dicke_expm():
    n, eta = 6, 0.5
    psi = C.cat_state(0.8, -np.pi / 4, n, -1)
    _, f = D.dicke_fidelity(psi, eta, n, 1.5, 2)
    rho = D.dicke_evolve(jnp.outer(psi, psi.conj()), 3.0, eta, n)
    assert abs(float(C.fidelity(psi, rho)) - float(f[-1])) <= 1e-9
