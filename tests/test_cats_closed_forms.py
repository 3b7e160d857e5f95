"""Seed 003 §III: states and closed-form fidelities against direct state vectors and Monte Carlo."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from jaxlmg import cats as C


# ---------------------------------------------------------------- independent references
def _kron_all(ops):
    return functools.reduce(np.kron, ops)


def _product_state(theta, phi, n):
    one = np.array([np.cos(theta / 2), np.exp(1j * phi) * np.sin(theta / 2)])  # (|g>, |e>)
    return _kron_all([one] * n)


def _full_sminus(n):
    sm = np.array([[0, 1], [0, 0]], complex)  # |g><e| with basis (g, e)
    return sum(_kron_all([sm if k == j else np.eye(2) for k in range(n)]) for j in range(n))


def _dicke_embedding(n):
    """Columns: |Dicke n⟩ in the 2^N product basis (bit = 1 means excited)."""
    dim = 2**n
    pop = np.array([bin(b).count("1") for b in range(dim)])
    emb = np.zeros((dim, n + 1))
    for k in range(n + 1):
        emb[pop == k, k] = 1.0
        emb[:, k] /= np.linalg.norm(emb[:, k])
    return emb


def _evolve_h0(psi, det, t):
    n = len(det)
    # H0 = ½ Σ δ σz, σz = +1 on |e>
    bits = (np.arange(2**n)[:, None] >> (n - 1 - np.arange(n))[None, :]) & 1
    energy = 0.5 * ((2 * bits - 1) * det[None, :]).sum(1)
    return np.exp(-1j * energy * t) * psi


# ---------------------------------------------------------------- states
def test_dicke_operators_and_states_match_product_space():
    n = 4
    emb = _dicke_embedding(n)
    sm = _full_sminus(n)
    np.testing.assert_allclose(emb.T @ sm @ emb, np.asarray(C.lowering(n)), atol=1e-13)
    th, ph = 0.7, 0.3
    full = _product_state(th, ph, n)
    np.testing.assert_allclose(emb @ np.asarray(C.coherent_state(th, ph, n)), full, atol=1e-13)
    for p in (1, -1):
        cat = full + p * _product_state(th, ph + np.pi, n)
        nrm = np.linalg.norm(cat)
        np.testing.assert_allclose(nrm, float(C.cat_normalisation(th, n, p)), rtol=1e-13)
        np.testing.assert_allclose(emb @ np.asarray(C.cat_state(th, ph, n, p)), cat / nrm, atol=1e-13)
        par = np.asarray(C.parity_operator(n))
        v = np.asarray(C.cat_state(th, ph, n, p))
        assert abs(np.vdot(v, par @ v) - p) <= 1e-13


def test_cat_overlap_power_is_cos_2N_not_4N():
    """The text after Eq. 21 says |⟨θ,φ|θ,φ+π⟩|² = cos^{4N}θ; it is cos^{2N}θ (overlap = cos^N θ, Eq. 17)."""
    n, th = 6, 0.4
    a = np.asarray(C.coherent_state(th, 0.2, n))
    b = np.asarray(C.coherent_state(th, 0.2 + np.pi, n))
    ov2 = abs(np.vdot(a, b)) ** 2
    assert abs(ov2 - np.cos(th) ** (2 * n)) <= 1e-14
    assert abs(ov2 - np.cos(th) ** (4 * n)) >= 0.1 * ov2


def test_hp_amplitude_of_weak_coherent_state():
    n = 400
    alpha = 0.8 * np.exp(-1j * np.pi / 4)
    rho = np.outer(*(lambda v: (v, v.conj()))(np.asarray(C.boson_coherent_state(alpha, n))))
    assert abs(complex(C.hp_amplitude(rho)) - alpha) <= 1e-12
    th = float(C.theta_from_amplitude(abs(alpha), n))
    v = np.asarray(C.coherent_state(th, np.angle(alpha), n))
    # spin coherent state ↔ boson coherent state at weak excitation: ⟨a⟩ → α, error O(|α|²/N)
    assert abs(complex(C.hp_amplitude(np.outer(v, v.conj()))) - alpha) <= 2e-3


# ---------------------------------------------------------------- one realisation: exact product formula
@settings(max_examples=8, deadline=None)
@given(th=st.floats(0.05, 1.4), t=st.floats(0.0, 5.0), seed=st.integers(0, 10**6))
def test_realisation_formulas_match_state_vector(th, t, seed):
    n = 4
    det = np.random.default_rng(seed).normal(0, 1.3, n)
    psi = _product_state(th, 0.4, n)
    f = abs(np.vdot(psi, _evolve_h0(psi, det, t))) ** 2
    assert abs(float(C.realisation_fidelity(det, t, th)) - f) <= 1e-12
    for p in (1, -1):
        cat = psi + p * _product_state(th, 0.4 + np.pi, n)
        cat /= np.linalg.norm(cat)
        fc = abs(np.vdot(cat, _evolve_h0(cat, det, t))) ** 2
        assert abs(float(C.realisation_cat_fidelity(det, t, th, p)) - fc) <= 1e-11


# ---------------------------------------------------------------- averages against Monte Carlo
@pytest.fixture(scope="module")
def mc():
    n, lw, m = 60, 0.7, 6000
    th = float(C.theta_from_amplitude(0.6, n))
    det = C.sample_detunings(jax.random.PRNGKey(3), lw, n, m)
    ts = jnp.array([0.2, 0.8, 2.0, 6.0])
    f = jax.vmap(lambda t: C.realisation_fidelity(det, t, th))(ts)  # (t, m)
    fc = {p: jax.vmap(lambda t: C.realisation_cat_fidelity(det, t, th, p))(ts) for p in (1, -1)}
    return dict(n=n, lw=lw, m=m, th=th, ts=ts, f=np.asarray(f), fc={p: np.asarray(v) for p, v in fc.items()})


def test_mean_fidelities_match_monte_carlo(mc):
    n, lw, th, m = mc["n"], mc["lw"], mc["th"], mc["m"]
    for i, t in enumerate(np.asarray(mc["ts"])):
        f = mc["f"][i]
        err = abs(f.mean() - float(C.mean_fidelity(t, th, n, lw)))
        assert err <= 5 * f.std() / np.sqrt(m) + 1e-14
        for p in (1, -1):
            fc = mc["fc"][p][i]
            err = abs(fc.mean() - float(C.mean_cat_fidelity(t, th, n, lw, p)))
            assert err <= 5 * fc.std() / np.sqrt(m) + 1e-14


def test_variance_matches_monte_carlo_and_eq14_misses_a_square(mc):
    n, lw, th, m = mc["n"], mc["lw"], mc["th"], mc["m"]
    amp = float(C.amplitude_from_theta(th, n))
    t = float(mc["ts"][0])  # short time: δt = 0.14
    f = mc["f"][0]
    v_mc = f.var(ddof=1)
    # standard error of a sample variance ≈ sqrt((m4 - σ⁴)/m)
    se = np.sqrt((np.mean((f - f.mean()) ** 4) - v_mc**2) / m)
    v_exact = float(C.fidelity_variance(t, th, n, lw))
    assert abs(v_mc - v_exact) <= 5 * se
    v_lead = float(C.fidelity_variance_leading(t, amp, n, lw))
    v_printed = float(C.fidelity_variance_leading(t, amp, n, lw, as_printed=True))
    assert abs(v_lead - v_exact) <= 0.5 * v_exact  # O(|α|²) corrections at |α| = 0.6
    assert v_printed >= 20 * v_exact  # Eq. 14 as printed: off by 1/(1 - e^{-δ²t²}) ≈ 50


def test_weak_excitation_forms_are_the_large_n_limit():
    n, amp, lw = 10**7, 0.9, 0.3
    th = C.theta_from_amplitude(amp, n)
    for t in (0.5, 3.0):
        assert abs(float(C.mean_fidelity(t, th, n, lw) - C.mean_fidelity_weak(t, amp, lw))) <= 1e-6
        for p in (1, -1):
            d = C.mean_cat_fidelity(t, th, n, lw, p) - C.mean_cat_fidelity_weak(t, amp, lw, p)
            assert abs(float(d)) <= 1e-5
    assert abs(float(C.cat_fidelity_limit(th, n, 1) - C.cat_fidelity_limit_weak(amp, 1))) <= 1e-5
    assert abs(float(C.cat_fidelity_limit(th, n, -1))) <= 1e-5
    # the exact long-time limit is the t → ∞ value of Eq. 16
    for p in (1, -1):
        big_t = C.mean_cat_fidelity(1e4, 0.3, 12, 1.0, p)
        assert abs(float(big_t - C.cat_fidelity_limit(0.3, 12, p))) <= 1e-14


def test_even_cat_saturation_is_one_minus_alpha4():
    """Eq. 19: F₊(∞) = sech²|α|² = 1 − |α|⁴ + O(|α|⁸); the later text's '1 − |α|²' is a typo."""
    for amp in (0.1, 0.2, 0.3):
        f = float(C.cat_fidelity_limit_weak(amp, 1))
        assert abs(f - (1 - amp**4)) <= amp**8
        assert abs(f - (1 - amp**2)) >= 0.5 * amp**2


def test_short_time_expansion_eq20():
    amp, lw = 0.8, 1.0
    for p in (1, -1):
        k = float(C.cat_short_time_rate(amp, p))
        t = 1e-3
        slope = (1 - float(C.mean_cat_fidelity_weak(t, amp, lw, p))) / t**2
        assert abs(slope - k) <= 1e-4 * k


# ---------------------------------------------------------------- gradients, batches, input checks
def test_gradients_match_finite_differences():
    def f(x):
        th, lw = x
        return C.mean_cat_fidelity(1.3, th, 20, lw, -1) + C.mean_fidelity(1.3, th, 20, lw) \
            + C.fidelity_variance(1.3, th, 20, lw)

    x = jnp.array([0.3, 0.8])
    g = jax.grad(f)(x)
    h = 1e-6
    fd = [(f(x + h * e) - f(x - h * e)) / (2 * h) for e in jnp.eye(2)]
    np.testing.assert_allclose(np.asarray(g), np.asarray(fd), rtol=1e-6)
    ga = jax.grad(lambda th: C.realisation_cat_fidelity(jnp.array([0.3, -1.1, 0.5]), 2.0, th, 1))(0.6)
    fda = (C.realisation_cat_fidelity(jnp.array([0.3, -1.1, 0.5]), 2.0, 0.6 + h, 1)
           - C.realisation_cat_fidelity(jnp.array([0.3, -1.1, 0.5]), 2.0, 0.6 - h, 1)) / (2 * h)
    assert abs(float(ga - fda)) <= 1e-6 * max(1.0, abs(float(fda)))


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_batch_independence(seed):
    rng = np.random.default_rng(seed)
    det = rng.normal(0, 1, (7, 5))
    ts = rng.uniform(0, 4, 7)
    full = np.asarray(C.realisation_cat_fidelity(det, ts, 0.5, -1))
    perm = rng.permutation(7)
    np.testing.assert_allclose(np.asarray(C.realisation_cat_fidelity(det[perm], ts[perm], 0.5, -1)), full[perm], rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(np.asarray(C.realisation_cat_fidelity(det[2:3], ts[2:3], 0.5, -1)), full[2:3], rtol=1e-14, atol=1e-15)
    single = float(C.realisation_cat_fidelity(det[4], ts[4], 0.5, -1))
    assert abs(single - full[4]) <= 1e-15


def test_bad_input_names_parameter():
    with pytest.raises(ValueError, match="linewidth"):
        C.mean_fidelity(1.0, 0.1, 10, -1.0)
    with pytest.raises(ValueError, match="parity"):
        C.mean_cat_fidelity(1.0, 0.1, 10, 1.0, parity=0)
    with pytest.raises(ValueError, match="theta"):
        C.coherent_state(4.0, 0.0, 5)
    with pytest.raises(ValueError, match="n_spins"):
        C.coherent_state(0.1, 0.0, 0)
    with pytest.raises(ValueError, match="amplitude"):
        C.theta_from_amplitude(-1.0, 10)
