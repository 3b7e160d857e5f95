"""Collective operators and the Hamiltonian against closed forms and scipy."""

import numpy as np
import pytest
import scipy.linalg as sl
from conftest import build_lmg_numpy
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxlmg


@pytest.mark.parametrize("n", [1, 2, 3, 6, 9])
def test_spin_algebra(n):
    jx, jy, jz = (np.asarray(o(n)) for o in (jaxlmg.jx, jaxlmg.jy, jaxlmg.jz))
    j = n / 2
    # [Jx, Jy] = i Jz and Casimir J² = j(j+1)
    assert np.allclose(jx @ jy - jy @ jx, 1j * jz, atol=1e-12)
    assert np.allclose(jy @ jz - jz @ jy, 1j * jx, atol=1e-12)
    assert np.allclose(jx @ jx + jy @ jy + jz @ jz, j * (j + 1) * np.eye(n + 1), atol=1e-12)
    jp = np.asarray(jaxlmg.jplus(n))
    assert np.allclose(jp, jx + 1j * jy, atol=1e-12)
    assert np.allclose(np.asarray(jaxlmg.jminus(n)), jp.T)
    assert np.allclose(np.asarray(jaxlmg.jz2(n)), jz @ jz)


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_parity_operators(n):
    jx = np.asarray(jaxlmg.jx(n))
    p = np.asarray(jaxlmg.collective_parity(n))
    assert np.allclose(p, sl.expm(1j * np.pi * jx), atol=1e-10)
    pi = np.asarray(jaxlmg.spin_flip_parity(n))
    assert np.allclose(pi, sl.expm(1j * np.pi * (jx - n / 2 * np.eye(n + 1))), atol=1e-10)
    jz = np.asarray(jaxlmg.jz(n))
    assert np.allclose(pi @ jz @ pi, -jz)
    h = np.asarray(jaxlmg.lmg_hamiltonian(n, 0.7))
    assert np.allclose(pi @ h @ pi, h, atol=1e-12)  # Z2 symmetry at h = 0
    hb = np.asarray(jaxlmg.lmg_hamiltonian(n, 0.7, 0.2))
    assert not np.allclose(pi @ hb @ pi, hb)


def test_sign_jz_conventions():
    q0 = np.diag(np.asarray(jaxlmg.sign_jz(4)))
    assert list(q0) == [-1, -1, 0, 1, 1]
    q1 = np.diag(np.asarray(jaxlmg.sign_jz(4, sgn0=1.0)))
    assert list(q1) == [-1, -1, 1, 1, 1]
    # odd N: no m = 0 state, m = ±1/2 keep their sign (the paper's script gives them 0)
    assert list(np.diag(np.asarray(jaxlmg.sign_jz(3)))) == [-1, -1, 1, 1]


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 40), field=st.floats(0, 2), bias=st.floats(-1, 1))
def test_hamiltonian_matches_reference(n, field, bias):
    h = np.asarray(jaxlmg.lmg_hamiltonian(n, field, bias))
    ref, _ = build_lmg_numpy(n, field, bias)
    assert np.allclose(h, ref, atol=1e-12)
    # H = -(2/N) Jz² - 2Γ Jx - 2h Jz from the operators
    ops = -(2 / n) * np.asarray(jaxlmg.jz2(n)) - 2 * field * np.asarray(jaxlmg.jx(n)) - 2 * bias * np.asarray(jaxlmg.jz(n))
    assert np.allclose(h, ops, atol=1e-12)


def test_mean_field_order_parameter():
    assert np.isclose(jaxlmg.mean_field_order_parameter(0.95), np.sqrt(1 - 0.95**2))
    assert jaxlmg.mean_field_order_parameter(1.2) == 0.0
    assert np.isclose(jaxlmg.mean_field_order_parameter(0.95) ** 2, 0.0975, atol=1e-4)


@pytest.mark.parametrize("bad", [0, -3, 2.5, np.nan, np.inf])
def test_bad_n_spins(bad):
    with pytest.raises(ValueError, match="n_spins"):
        jaxlmg.jz(bad)


def test_x64_guard():
    import jax

    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="float64"):
            jaxlmg.spectrum(4, 0.5)
    finally:
        jax.config.update("jax_enable_x64", True)
