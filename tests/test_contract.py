"""The public API contract (issue 11): every public numerical function works under jax.jit,
jax.vmap, jax.grad (reverse mode) and jax.jvp in each continuous parameter, with derivatives
equal to central finite differences; every public function refuses to run without float64;
bad inputs raise ValueError naming the parameter; batched results equal single-point results.

The table ``ROWS`` must list every public callable of ``jaxlmg`` (or ``EXEMPT`` must say why
not): ``test_table_covers_public_api`` fails for a new function that is in neither.
"""

from __future__ import annotations

import inspect
import types

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import jaxlmg
from jaxlmg import BEC, Status

N, G, LV, GPH = 12, 0.9, 3, 0.02  # small problem: N = 12 spins, Γ/J = 0.9, 3 levels, γφ = 0.02 J

# ----------------------------------------------------------------------------------------
# Exempt public names (not numerical functions of continuous parameters), with the reason
# ----------------------------------------------------------------------------------------

EXEMPT = {
    "ensure_x64": "the float64 guard itself (no numerical output)",
    "compiled_program_maps": "process memory-map count (no numerical output; tests/test_runtime_config.py)",
    "release_compiled_programs": "drops JAX's compiled programs (no numerical output; tests/test_runtime_config.py)",
    "truncation_convergence": "driver over a list of truncations (concrete N and levels); its differentiable "
                              "kernels are the k3/threshold rows",
    "Status": "enum of status codes",
    "Spectrum": "result class", "DoubletFactors": "result class", "ThresholdResult": "result class",
    "GoldilocksCrossover": "result class", "GoldilocksScan": "result class", "InstantonFit": "result class",
    "Spinodal": "result class", "TwoSpinSolution": "result class",
    "BECUnits": "units class (its methods are plain products; x64 guard tested below)",
    "BEC": "units instance (x64 guard tested below)",
    "BEC_COUPLING_RAD_S": "constant", "KB_OVER_HBAR": "constant",
    "m_grid": "numpy grid of m for an integer N (no continuous parameter)",
    "jz": "operator of an integer N (no continuous parameter)",
    "jz2": "operator of an integer N (no continuous parameter)",
    "jplus": "operator of an integer N (no continuous parameter)",
    "jminus": "operator of an integer N (no continuous parameter)",
    "jx": "operator of an integer N (no continuous parameter)",
    "jy": "operator of an integer N (no continuous parameter)",
    "spin_flip_parity": "operator of an integer N (no continuous parameter)",
    "collective_parity": "operator of an integer N (no continuous parameter)",
    "goldilocks_crossover": "integer-valued answer N_c (piecewise constant in field and temperature; "
                            "adaptive search over concrete values); x64 guard and errors tested below",
}


def _public_callables():
    out = {}
    for name in dir(jaxlmg):
        if name.startswith("_"):
            continue
        obj = getattr(jaxlmg, name)
        if isinstance(obj, types.ModuleType):
            continue
        out[name] = obj
    return out


# ----------------------------------------------------------------------------------------
# The table: (function name, parameter, f(x) -> array, x0[, marks])
# ----------------------------------------------------------------------------------------

def _vec(*arrays):
    return jnp.concatenate([jnp.ravel(jnp.asarray(a, jnp.float64)) for a in arrays])


def _doublet_vec(d):
    fields = [k for k in d.__dataclass_fields__ if k != "status"]
    return _vec(*(getattr(d, k) for k in fields))


H2 = np.array([[0.0, 0.3], [0.3, 1.0]])
JZ2 = np.diag([0.5, -0.5])
A3 = np.arange(9.0).reshape(3, 3) / 7.0


def _spec(x, **kw):
    return jaxlmg.spectrum(N, x, levels=LV, **kw)


_SPEC_CACHE = {}


def _spec0():
    """The spectrum at the base point, computed once outside any trace."""
    if "s" not in _SPEC_CACHE:
        _SPEC_CACHE["s"] = _spec(G)
    return _SPEC_CACHE["s"]


ROWS = [
    # _model
    ("lmg_tridiagonal", "field", lambda x: _vec(*jaxlmg.lmg_tridiagonal(N, x, 0.1)), G),
    ("lmg_tridiagonal", "bias", lambda x: _vec(*jaxlmg.lmg_tridiagonal(N, G, x)), 0.1),
    ("lmg_tridiagonal", "coupling", lambda x: _vec(*jaxlmg.lmg_tridiagonal(N, G, 0.1, coupling=x)), 1.3),
    ("lmg_hamiltonian", "field", lambda x: jaxlmg.lmg_hamiltonian(N, x, 0.1), G),
    ("lmg_hamiltonian", "bias", lambda x: jaxlmg.lmg_hamiltonian(N, G, x), 0.1),
    ("lmg_hamiltonian", "coupling", lambda x: jaxlmg.lmg_hamiltonian(N, G, coupling=x), 1.3),
    ("mean_field_order_parameter", "field", lambda x: jaxlmg.mean_field_order_parameter(x), G),
    ("mean_field_order_parameter", "coupling", lambda x: jaxlmg.mean_field_order_parameter(G, coupling=x), 1.3),
    ("sign_jz", "sgn0", lambda x: jaxlmg.sign_jz(N, sgn0=x), 0.3),
    # _spectrum (eigenvectors enter through |v|², which is sign-free)
    ("spectrum", "field", lambda x: _vec(_spec(x).energies, _spec(x).vectors ** 2), G),
    ("tunnel_splitting", "field", lambda x: jaxlmg.tunnel_splitting(N, x)[1], G),
    ("spectrum", "bias", lambda x: _vec(_spec(G, bias=x).energies), 0.01),
    ("spectrum", "coupling", lambda x: _vec(_spec(G, coupling=x).gaps[1:], _spec(G, coupling=x).log_delta_e), 1.3),
    # _observables
    ("matrix_elements", "field", lambda x: jaxlmg.matrix_elements(_spec(x), "jz") ** 2, G),
    ("matrix_elements", "sgn0", lambda x: jaxlmg.matrix_elements(_spec0(), "q", sgn0=x) ** 2, 0.3),
    ("truncated_operators", "field", lambda x: _vec(*[a ** 2 for a in jaxlmg.truncated_operators(N, x, LV)[:4]]), G),
    ("truncated_operators", "bias", lambda x: _vec(jaxlmg.truncated_operators(N, G, LV, bias=x)[0]), 0.01),
    ("truncated_operators", "coupling",
     lambda x: _vec(*[a ** 2 for a in jaxlmg.truncated_operators(N, G, LV, coupling=x)[:4]]), 1.3),
    ("truncated_operators", "sgn0", lambda x: jaxlmg.truncated_operators(N + 1, G, LV, sgn0=x)[2] ** 2, 0.3),
    ("doublet_factors", "field", lambda x: _doublet_vec(jaxlmg.doublet_factors(N, x, dephasing=GPH)), G),
    ("doublet_factors", "dephasing", lambda x: _doublet_vec(jaxlmg.doublet_factors(N, G, dephasing=x)), GPH),
    ("doublet_factors", "coupling",
     lambda x: _doublet_vec(jaxlmg.doublet_factors(N, G, dephasing=GPH, coupling=x)), 1.3),
    ("doublet_factors_from", "field", lambda x: _doublet_vec(jaxlmg.doublet_factors_from(_spec(x), dephasing=GPH)), G),
    ("doublet_factors_from", "dephasing", lambda x: _doublet_vec(jaxlmg.doublet_factors_from(_spec0(), dephasing=x)),
     GPH),
    ("susceptibility", "field", lambda x: jaxlmg.susceptibility(N, x), G),
    ("susceptibility", "coupling", lambda x: jaxlmg.susceptibility(N, G, coupling=x), 1.3),
    # _lindblad
    ("liouvillian", "dephasing", lambda x: _vec(*[f(jaxlmg.liouvillian(H2, jz=JZ2, dephasing=x)) for f in (jnp.real, jnp.imag)]), 0.3),
    ("liouvillian", "hamiltonian", lambda x: _vec(jnp.imag(jaxlmg.liouvillian(x * H2, jz=JZ2, dephasing=0.3))), 1.2),
    ("spre", "matrix", lambda x: jaxlmg.spre(x * A3), 1.2),
    ("spost", "matrix", lambda x: jaxlmg.spost(x * A3), 1.2),
    ("vec", "matrix", lambda x: jaxlmg.vec(x * A3), 1.2),
    ("unvec", "vector", lambda x: jaxlmg.unvec(x * jnp.arange(9.0)), 1.2),
    # _leggett_garg (K3 branch)
    ("correlators", "dephasing", lambda x: _vec(*[getattr(jaxlmg.correlators(x, N, G, levels=LV), k) for k in ("k3", "c12", "c13")]), GPH),
    ("correlators", "field", lambda x: _vec(jaxlmg.correlators(GPH, N, x, levels=LV).k3), G),
    ("correlators", "dt", lambda x: _vec(jaxlmg.correlators(GPH, N, G, levels=LV, dt=x).k3), 1.5),
    ("correlators", "p_excited", lambda x: _vec(jaxlmg.correlators(GPH, N, G, levels=LV, p_excited=x).k3), 0.1),
    ("k3", "dephasing", lambda x: jaxlmg.k3(x, N, G, levels=LV), GPH),
    ("k3", "field", lambda x: jaxlmg.k3(GPH, N, x, levels=LV), G),
    ("k3", "dt", lambda x: jaxlmg.k3(GPH, N, G, levels=LV, dt=x), 1.5),
    ("k3", "p_excited", lambda x: jaxlmg.k3(GPH, N, G, levels=LV, p_excited=x), 0.1),
    ("k3", "coupling", lambda x: jaxlmg.k3(GPH, N, G, levels=LV, coupling=x), 1.3),
    ("k3_surface", "dephasing", lambda x: jaxlmg.k3_surface(x * jnp.array([1.0, 2.0]), jnp.array([1.0, 1.5]), N, G, LV), GPH),
    ("k3_surface", "field", lambda x: jaxlmg.k3_surface(jnp.array([GPH]), jnp.array([1.0, 1.5]), N, x, LV), G),
    ("optimal_interval", "dephasing", lambda x: _vec(jaxlmg.optimal_interval(x, N, G, levels=LV)), GPH),
    ("optimal_interval", "field", lambda x: _vec(jaxlmg.optimal_interval(GPH, N, x, levels=LV)), G),
    # _threshold (threshold branch)
    ("threshold", "field", lambda x: jaxlmg.threshold(N, x, levels=LV).dephasing, G),
    ("threshold", "dt", lambda x: jaxlmg.threshold(N, G, levels=LV, dt=x).dephasing, 1.5),
    ("threshold", "p_excited", lambda x: jaxlmg.threshold(N, G, levels=LV, p_excited=x).dephasing, 0.05),
    ("threshold", "coupling", lambda x: jaxlmg.threshold(N, G, levels=LV, coupling=x).dephasing, 1.3),
    ("threshold_best_interval", "field", lambda x: jaxlmg.threshold_best_interval(N, x, levels=LV).dephasing, G),
    # _analytic
    ("two_level_k3", "q01_sq", lambda x: jaxlmg.two_level_k3(x, 30.0, 0.1), 0.9),
    ("two_level_k3", "t2", lambda x: jaxlmg.two_level_k3(0.9, x, 0.1), 30.0),
    ("two_level_k3", "delta_e", lambda x: jaxlmg.two_level_k3(0.9, 30.0, x), 0.1),
    ("two_level_k3", "dt", lambda x: jaxlmg.two_level_k3(0.9, 30.0, 0.1, dt=x), 9.0),
    ("coherent_k3", "field", lambda x: _vec(jaxlmg.coherent_k3(N, x, levels=4).contribution), G),
    ("coherent_k3", "dt", lambda x: _vec(jaxlmg.coherent_k3(N, G, levels=4, dt=x).k3), 1.5),
    ("coherent_k3", "coupling", lambda x: _vec(jaxlmg.coherent_k3(N, G, levels=4, coupling=x).k3), 1.3),
    ("t2_collective", "dephasing", lambda x: jaxlmg.t2_collective(x, N, G), GPH),
    ("t2_collective", "field", lambda x: jaxlmg.t2_collective(GPH, N, x), G),
    ("t2_collective", "coupling", lambda x: jaxlmg.t2_collective(GPH, N, G, coupling=x), 1.3),
    ("t2_physical", "dephasing", lambda x: jaxlmg.t2_physical(x, N, G), GPH),
    ("t2_physical", "field", lambda x: jaxlmg.t2_physical(GPH, N, x), G),
    ("t2_physical", "coupling", lambda x: jaxlmg.t2_physical(GPH, N, G, coupling=x), 1.3),
    ("t2_lindblad", "dephasing", lambda x: jaxlmg.t2_lindblad(x, N, G, levels=4), GPH),
    ("t2_lindblad", "field", lambda x: jaxlmg.t2_lindblad(GPH, N, x, levels=4), G),
    ("t2_lindblad", "coupling", lambda x: jaxlmg.t2_lindblad(GPH, N, G, levels=4, coupling=x), 1.3),
    ("analytic_thresholds", "field", lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.analytic_thresholds(N, x))), G),
    ("analytic_thresholds", "coupling",
     lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.analytic_thresholds(N, G, coupling=x))), 1.3),
    ("n_spins_bound", "dephasing", lambda x: jaxlmg.n_spins_bound(x), 1e-5),
    ("n_spins_bound", "n_ref", lambda x: jaxlmg.n_spins_bound(1e-5, n_ref=x), 370.0),
    ("n_spins_bound", "threshold_ref", lambda x: jaxlmg.n_spins_bound(1e-5, threshold_ref=x), 2e-5),
    # _goldilocks
    ("goldilocks_scan", "field", lambda x: _vec(jaxlmg.goldilocks_scan(np.array([N, 16]), x).ratio), G),
    ("goldilocks_scan", "temperature_nk",
     lambda x: _vec(jaxlmg.goldilocks_scan(np.array([N, 16]), G, temperature_nk=x).ratio), 10.0),
    # _semiclassical
    ("instanton_action", "field", lambda x: jaxlmg.instanton_action(x), G),
    ("instanton_action", "coupling", lambda x: jaxlmg.instanton_action(G, coupling=x), 1.3),
    ("instanton_delta_e", "field", lambda x: jaxlmg.instanton_delta_e(370, x, 2.0), 0.95),
    ("instanton_delta_e", "prefactor", lambda x: jaxlmg.instanton_delta_e(370, 0.95, x), 2.0),
    ("instanton_delta_e", "coupling", lambda x: jaxlmg.instanton_delta_e(370, 0.95, 2.0, coupling=x), 1.02),
    ("fit_instanton_prefactor", "field",
     lambda x: _vec(jaxlmg.fit_instanton_prefactor(x, n_min=12, n_max=20).prefactor), G),
    ("fit_instanton_prefactor", "coupling",
     lambda x: _vec(jaxlmg.fit_instanton_prefactor(G, n_min=12, n_max=20, coupling=x).prefactor), 1.3),
    ("instanton_crossover", "field", lambda x: jaxlmg.instanton_crossover(x, 3000.0), 0.95),
    ("instanton_crossover", "prefactor_over_kt", lambda x: jaxlmg.instanton_crossover(0.95, x), 3000.0),
    ("instanton_crossover", "coupling", lambda x: jaxlmg.instanton_crossover(0.95, 3000.0, coupling=x), 1.02),
    ("analytic_crossover", "field", lambda x: jaxlmg.analytic_crossover(x, 3000.0), 0.95),
    ("analytic_crossover", "prefactor_over_kt", lambda x: jaxlmg.analytic_crossover(0.95, x), 3000.0),
    ("analytic_crossover", "coupling", lambda x: jaxlmg.analytic_crossover(0.95, 3000.0, coupling=x), 1.02),
    ("atom_number_log_sensitivity", "field", lambda x: jaxlmg.atom_number_log_sensitivity(370, x), 0.95),
    ("atom_number_log_sensitivity", "coupling", lambda x: jaxlmg.atom_number_log_sensitivity(370, 0.95, coupling=x), 1.02),
    ("mean_field_free_energy", "m", lambda x: jaxlmg.mean_field_free_energy(x, G, temperature=0.1, bias=0.01), 0.3),
    ("mean_field_free_energy", "field", lambda x: jaxlmg.mean_field_free_energy(0.3, x, temperature=0.1), G),
    ("mean_field_free_energy", "temperature", lambda x: jaxlmg.mean_field_free_energy(0.3, G, temperature=x), 0.1),
    ("mean_field_free_energy", "bias", lambda x: jaxlmg.mean_field_free_energy(0.3, G, temperature=0.1, bias=x), 0.01),
    ("mean_field_free_energy", "coupling", lambda x: jaxlmg.mean_field_free_energy(0.3, G, temperature=0.1, coupling=x), 1.3),
    ("free_energy_barrier", "field", lambda x: jaxlmg.free_energy_barrier(x, temperature=0.1), G),
    ("free_energy_barrier", "temperature", lambda x: jaxlmg.free_energy_barrier(G, temperature=x), 0.1),
    ("free_energy_barrier", "coupling", lambda x: jaxlmg.free_energy_barrier(G, temperature=0.1, coupling=x), 1.3),
    ("free_energy_barrier_large_argument", "field", lambda x: jaxlmg.free_energy_barrier_large_argument(x), G),
    ("free_energy_barrier_large_argument", "coupling", lambda x: jaxlmg.free_energy_barrier_large_argument(G, coupling=x), 1.3),
    ("bloch_frequency", "field", lambda x: jaxlmg.bloch_frequency(x), G),
    ("bloch_frequency", "coupling", lambda x: jaxlmg.bloch_frequency(G, coupling=x), 1.3),
    ("kramers_time", "field", lambda x: jaxlmg.kramers_time(N, x, temperature=0.1), G),
    ("kramers_time", "temperature", lambda x: jaxlmg.kramers_time(N, G, temperature=x), 0.1),
    ("kramers_time", "coupling", lambda x: jaxlmg.kramers_time(N, G, temperature=0.1, coupling=x), 1.3),
    ("spinodal", "field", lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.spinodal(x))), G),
    ("spinodal", "coupling", lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.spinodal(G, coupling=x))), 1.3),
    ("sweep_window_min", "delta_e", lambda x: jaxlmg.sweep_window_min(x, N, G), 0.03),
    ("sweep_window_min", "field", lambda x: jaxlmg.sweep_window_min(0.03, N, x), G),
    ("sweep_window_min", "coupling", lambda x: jaxlmg.sweep_window_min(0.03, N, G, coupling=x), 1.3),
    ("landau_zener_error", "tau_q", lambda x: jaxlmg.landau_zener_error(x, 0.03, N, G, 0.01), 20.0),
    ("landau_zener_error", "delta_e", lambda x: jaxlmg.landau_zener_error(20.0, x, N, G, 0.01), 0.03),
    ("landau_zener_error", "field", lambda x: jaxlmg.landau_zener_error(20.0, 0.03, N, x, 0.01), G),
    ("landau_zener_error", "sweep_amplitude", lambda x: jaxlmg.landau_zener_error(20.0, 0.03, N, G, x), 0.01),
    ("landau_zener_error", "coupling", lambda x: jaxlmg.landau_zener_error(20.0, 0.03, N, G, 0.01, coupling=x), 1.3),
    ("t2_local", "dephasing", lambda x: jaxlmg.t2_local(x, N, G), GPH),
    ("t2_local", "field", lambda x: jaxlmg.t2_local(GPH, N, x), G),
    ("t2_local", "coupling", lambda x: jaxlmg.t2_local(GPH, N, G, coupling=x), 1.3),
    ("two_spin_solution", "field", lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.two_spin_solution(x))), G),
    ("two_spin_solution", "coupling", lambda x: _vec(*jax.tree_util.tree_leaves(jaxlmg.two_spin_solution(G, coupling=x))), 1.3),
    ("coherent_state_overlap", "field", lambda x: jaxlmg.coherent_state_overlap(N, x), G),
    ("coherent_state_overlap", "coupling", lambda x: jaxlmg.coherent_state_overlap(N, G, coupling=x), 1.3),
]


def _param(row):
    name, param, f, x0, *marks = row
    return pytest.param(name, f, x0, id=f"{name}-{param}", marks=marks)


def test_table_covers_public_api():
    public = _public_callables()
    in_table = {r[0] for r in ROWS}
    missing = sorted(set(public) - in_table - set(EXEMPT))
    assert not missing, f"public functions neither in the contract table nor exempt: {missing}"
    stale = sorted((in_table | set(EXEMPT)) - set(public))
    assert not stale, f"table/exempt names that are not public: {stale}"
    # every function of the table varies at least one parameter
    for name in in_table:
        assert inspect.signature(public[name]).parameters, name


def _fd(f, x0):
    """Fourth-order central difference, h = 1e-4·|x0|: truncation ~h⁴ ≈ 1e-16 relative, rounding
    noise ~eps/h ≈ 1e-12, and an optimiser's or root finder's output (converged to ~1e-10) adds
    ~1e-6. (h = 1e-5 with the 2-point stencil made the optimal_interval row's FD wrong by 1e-4.)"""
    h = 1e-4 * (abs(x0) if x0 else 1.0)
    y = lambda k: np.asarray(f(x0 + k * h))
    return (8.0 * (y(1) - y(-1)) - (y(2) - y(-2))) / (12.0 * h)


def _close(a, b, rtol):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(1.0, float(np.max(np.abs(b)))) if b.size else 1.0
    err = float(np.max(np.abs(a - b))) if a.size else 0.0
    return err <= rtol * scale  # NaN fails


@pytest.mark.parametrize("name,f,x0", [_param(r) for r in ROWS])
def test_autodiff_contract(name, f, x0):
    """jit∘jvp (forward mode under jit) and vmap∘value_and_grad (reverse mode, batched)
    against eager single-point values and central finite differences."""
    x0 = float(x0)
    x1 = x0 * (1 + 1e-3) + 1e-4 * (abs(x0) if x0 else 1.0)
    y0, y1 = np.asarray(f(x0)), np.asarray(f(x1))
    assert np.all(np.isfinite(y0)), f"{name}: base point not finite"
    fd0, fd1 = _fd(f, x0), _fd(f, x1)
    # jit + jvp (forward mode)
    yj, tangent = jax.jit(lambda x: jax.jvp(f, (x,), (jnp.ones_like(x),)))(x0)
    assert _close(yj, y0, 1e-9), f"{name}: jit differs from eager"
    assert _close(tangent, fd0, 2e-5), f"{name}: jvp {np.ravel(tangent)[:4]} vs FD {np.ravel(fd0)[:4]}"
    # vmap + grad (reverse mode) over two points, each against its single-point value and FD
    w = np.random.default_rng(0).uniform(0.5, 1.5, y0.shape)
    vals, grads = jax.vmap(jax.value_and_grad(lambda x: jnp.sum(w * f(x))))(jnp.array([x0, x1]))
    for i, (y, fd) in enumerate(((y0, fd0), (y1, fd1))):
        assert _close(vals[i], np.sum(w * y), 1e-9), f"{name}: vmap value {i} differs from single point"
        assert _close(grads[i], np.sum(w * fd), 2e-5), f"{name}: grad {grads[i]} vs FD {np.sum(w * fd)}"


# ----------------------------------------------------------------------------------------
# float64 guard: every public function refuses to compute with x64 switched off
# ----------------------------------------------------------------------------------------

EXTRA_CALLS = {
    "m_grid": lambda: jaxlmg.m_grid(4), "jz": lambda: jaxlmg.jz(4), "jz2": lambda: jaxlmg.jz2(4),
    "jplus": lambda: jaxlmg.jplus(4), "jminus": lambda: jaxlmg.jminus(4), "jx": lambda: jaxlmg.jx(4),
    "jy": lambda: jaxlmg.jy(4), "spin_flip_parity": lambda: jaxlmg.spin_flip_parity(4),
    "collective_parity": lambda: jaxlmg.collective_parity(4),
    "goldilocks_crossover": lambda: jaxlmg.goldilocks_crossover(0.95, n_max=40),
    "BEC.kt_natural": lambda: BEC.kt_natural(10.0), "BEC.energy_to_rad_s": lambda: BEC.energy_to_rad_s(0.1),
    "BEC.rate_to_natural": lambda: BEC.rate_to_natural(0.05),
    "truncation_convergence": lambda: jaxlmg.truncation_convergence(6, 0.9, (2, 3)),
}


def _x64_cases():
    seen = {}
    for row in ROWS:
        name, _, f, x0, *marks = row
        if name not in seen:
            seen[name] = pytest.param(name, (lambda f=f, x0=x0: f(x0)), id=name)
    for name, call in EXTRA_CALLS.items():
        seen[name] = pytest.param(name, call, id=name)
    return list(seen.values())


@pytest.mark.parametrize("name,call", _x64_cases())
def test_float64_guard(name, call):
    jax.config.update("jax_enable_x64", False)
    try:
        with pytest.raises(RuntimeError, match="float64"):
            call()
    finally:
        jax.config.update("jax_enable_x64", True)


def test_float64_guard_covers_every_public_function():
    names = {c.values[0] for c in _x64_cases()}
    public = set(_public_callables())
    not_functions = {n for n, r in EXEMPT.items() if "class" in r or "constant" in r or "enum" in r
                     or n in ("ensure_x64", "BEC")
                     or n in ("compiled_program_maps", "release_compiled_programs")}  # runtime housekeeping, no numbers
    assert public - not_functions <= names, sorted(public - not_functions - names)


# ----------------------------------------------------------------------------------------
# Clear errors: ValueError naming the parameter; booleans are not counts
# ----------------------------------------------------------------------------------------

BAD_INPUTS = [
    ("n_spins", lambda: jaxlmg.doublet_factors(True, 0.5)),
    ("n_spins", lambda: jaxlmg.doublet_factors(2.5, 0.5)),
    ("n_spins", lambda: jaxlmg.doublet_factors(10**20, 0.5)),
    ("n_spins", lambda: jaxlmg.susceptibility(True, 0.5)),
    ("n_spins", lambda: jaxlmg.jz(True)),
    ("n_spins", lambda: jaxlmg.t2_local(0.1, True, 0.5)),
    ("n_spins", lambda: jaxlmg.coherent_state_overlap(0, 0.5)),
    ("n_spins", lambda: jaxlmg.t2_collective(0.1, -3, 0.5)),
    ("n_spins", lambda: jaxlmg.coherent_k3(True, 0.5)),
    ("field", lambda: jaxlmg.doublet_factors(10, -0.5)),
    ("field", lambda: jaxlmg.doublet_factors(10, np.nan)),
    ("field", lambda: jaxlmg.doublet_factors(10, True)),
    ("field", lambda: jaxlmg.susceptibility(10, -1.0)),
    ("field", lambda: jaxlmg.mean_field_order_parameter(-1.0)),
    ("field", lambda: jaxlmg.instanton_action(1.2)),
    ("field", lambda: jaxlmg.landau_zener_error(1.0, 0.1, 10, 1.5, 0.1)),
    ("field", lambda: jaxlmg.coherent_state_overlap(10, 1.5)),
    ("field", lambda: jaxlmg.goldilocks_scan([10, 20], "x")),
    ("field", lambda: jaxlmg.lmg_hamiltonian(4, np.inf)),
    ("dephasing", lambda: jaxlmg.doublet_factors(10, 0.5, dephasing=0.0)),
    ("dephasing", lambda: jaxlmg.t2_local(-1.0, 10, 0.5)),
    ("dephasing", lambda: jaxlmg.t2_physical(np.nan, 10, 0.5)),
    ("dephasing", lambda: jaxlmg.t2_lindblad(-1.0, 10, 0.5)),
    ("dephasing", lambda: jaxlmg.n_spins_bound(0.0)),
    ("coupling", lambda: jaxlmg.doublet_factors(10, 0.5, coupling=0.0)),
    ("coupling", lambda: jaxlmg.bloch_frequency(0.5, coupling=-1.0)),
    ("coupling", lambda: jaxlmg.lmg_tridiagonal(4, 0.5, coupling=np.nan)),
    ("bias", lambda: jaxlmg.lmg_tridiagonal(4, 0.5, np.nan)),
    ("bias", lambda: jaxlmg.mean_field_free_energy(0.1, 0.5, temperature=0.1, bias=np.inf)),
    ("temperature", lambda: jaxlmg.mean_field_free_energy(0.1, 0.5, temperature=-0.1)),
    ("temperature", lambda: jaxlmg.kramers_time(10, 0.5, temperature=0.0)),
    ("temperature_nk", lambda: jaxlmg.goldilocks_scan([10, 20], 0.9, temperature_nk=-1.0)),
    ("q01_sq", lambda: jaxlmg.two_level_k3(1.5, 10.0, 0.1)),
    ("t2", lambda: jaxlmg.two_level_k3(0.5, -10.0, 0.1)),
    ("delta_e", lambda: jaxlmg.two_level_k3(0.5, 10.0, 0.0)),
    ("dt", lambda: jaxlmg.two_level_k3(0.5, 10.0, 0.1, dt=-1.0)),
    ("tau_q", lambda: jaxlmg.landau_zener_error(-1.0, 0.1, 10, 0.5, 0.1)),
    ("sweep_amplitude", lambda: jaxlmg.landau_zener_error(1.0, 0.1, 10, 0.5, 0.0)),
    ("prefactor", lambda: jaxlmg.instanton_delta_e(10, 0.5, -1.0)),
    ("prefactor_over_kt", lambda: jaxlmg.instanton_crossover(0.95, 0.0)),
    ("sgn0", lambda: jaxlmg.sign_jz(4, sgn0=np.nan)),
    ("levels", lambda: jaxlmg.coherent_k3(10, 0.5, levels=True)),
    ("levels", lambda: jaxlmg.t2_lindblad(0.1, 10, 0.5, levels=20)),
    ("operator", lambda: jaxlmg.matrix_elements(jaxlmg.spectrum(4, 0.5), "sx")),
    ("spec", lambda: jaxlmg.matrix_elements(np.eye(3), "jz")),
    ("on_invalid", lambda: jaxlmg.doublet_factors(10, 0.5, on_invalid="skip")),
    ("coupling_rad_s", lambda: jaxlmg.BECUnits(coupling_rad_s=True)),
    ("n_max", lambda: jaxlmg.goldilocks_crossover(0.95, n_max=True)),
    ("n_min", lambda: jaxlmg.fit_instanton_prefactor(0.95, n_min=2.5)),
    ("even_only", lambda: jaxlmg.goldilocks_crossover(0.95, even_only="yes")),
]


@pytest.mark.parametrize("param,call", [pytest.param(p, c, id=f"{p}-{i}") for i, (p, c) in enumerate(BAD_INPUTS)])
def test_bad_input_names_parameter(param, call):
    with pytest.raises(ValueError, match=param):
        call()


# ----------------------------------------------------------------------------------------
# Invalid traced values: NaN (+ INVALID_INPUT), never a confident number
# ----------------------------------------------------------------------------------------

TRACED_INVALID = [
    ("doublet_factors", lambda x: jaxlmg.doublet_factors(N, x).g01, -0.9),
    ("doublet_factors", lambda x: jaxlmg.doublet_factors(N, x).delta_e, jnp.nan),
    ("doublet_factors", lambda x: jaxlmg.doublet_factors(N, G, dephasing=x).secular, -1.0),
    ("susceptibility", lambda x: jaxlmg.susceptibility(N, x), -0.9),
    ("mean_field_order_parameter", lambda x: jaxlmg.mean_field_order_parameter(x), -0.9),
    ("instanton_action", lambda x: jaxlmg.instanton_action(x), 1.2),
    ("t2_local", lambda x: jaxlmg.t2_local(x, N, G), -1.0),
    ("t2_collective", lambda x: jaxlmg.t2_collective(x, N, G), -1.0),
    ("t2_physical", lambda x: jaxlmg.t2_physical(GPH, N, x), -0.9),
    ("t2_lindblad", lambda x: jaxlmg.t2_lindblad(GPH, N, x, levels=4), -0.9),
    ("two_level_k3", lambda x: jaxlmg.two_level_k3(x, 10.0, 0.1), 1.5),
    ("coherent_state_overlap", lambda x: jaxlmg.coherent_state_overlap(N, x), 1.5),
    ("landau_zener_error", lambda x: jaxlmg.landau_zener_error(1.0, 0.1, N, G, x), 0.0),
    ("lmg_hamiltonian", lambda x: jaxlmg.lmg_hamiltonian(4, x), -1.0),
    ("goldilocks_scan", lambda x: jaxlmg.goldilocks_scan(np.array([N]), x).delta_e, -0.9),
    ("n_spins_bound", lambda x: jaxlmg.n_spins_bound(x), -1.0),
    ("kramers_time", lambda x: jaxlmg.kramers_time(N, G, temperature=x), 0.0),
    ("liouvillian", lambda x: jnp.real(jaxlmg.liouvillian(H2, jz=JZ2, dephasing=x)), -1.0),
    ("k3", lambda x: jaxlmg.k3(GPH, N, G, levels=LV, coupling=x), -1.0),
]


@pytest.mark.parametrize("name,f,x", [pytest.param(n, f, x, id=f"{n}-{i}") for i, (n, f, x) in enumerate(TRACED_INVALID)])
def test_invalid_traced_values_are_nan(name, f, x):
    y = np.asarray(jax.jit(f)(x))
    assert np.all(np.isnan(y)), f"{name}: {y}"


def test_k3_traced_coupling_against_dense_reference():
    """k3 with a traced coupling J (spectrum at J = 1, energies rescaled) equals K3 of
    operators from a dense numpy diagonalisation of H with J in it."""
    from conftest import build_lmg_numpy
    from jaxlmg._leggett_garg import k3_from_operators

    c = 1.3
    h, m = build_lmg_numpy(N, G, coupling=c)
    w, v = np.linalg.eigh(h)
    v = v[:, :LV]
    ref = float(k3_from_operators(w[:LV] - w[0], v.T @ (m[:, None] * v), v.T @ (np.sign(m)[:, None] * v), GPH))
    got = float(jax.jit(lambda x: jaxlmg.k3(GPH, N, G, levels=LV, coupling=x))(c))
    assert abs(got - ref) <= 1e-10, (got, ref)
    st_ = jax.jit(lambda x: jaxlmg.correlators(GPH, N, G, levels=LV, coupling=x).status)(-1.0)
    assert int(st_) == Status.INVALID_INPUT


def test_threshold_traced_p_excited():
    """A traced p_excited: valid lanes equal the eager root, invalid ones are NaN + INVALID_INPUT."""
    # vmap over two lanes: the shapes of the contract row's vmap (its kernels are reused)
    r = jax.vmap(lambda p: jaxlmg.threshold(N, G, levels=LV, p_excited=p))(jnp.array([0.05, 1.5]))
    assert list(np.asarray(r.status)) == [Status.OK, Status.INVALID_INPUT]
    eager = float(jaxlmg.threshold(N, G, levels=LV, p_excited=0.05).dephasing)
    assert abs(float(r.dephasing[0]) - eager) <= 1e-12 * eager and np.isnan(float(r.dephasing[1]))


def test_threshold_traced_coupling_matches_concrete_path():
    """A traced J takes the rescaling path γφ*(J, Δt) = J·γφ*(1, J·Δt); a concrete J builds the
    spectrum with coupling = J directly: the two must agree (default and explicit Δt), and an
    invalid traced J is NaN + INVALID_INPUT."""
    r = jax.vmap(lambda c: jaxlmg.threshold(N, G, levels=LV, coupling=c))(jnp.array([1.3, -1.0]))
    assert list(np.asarray(r.status)) == [Status.OK, Status.INVALID_INPUT]
    eager = jaxlmg.threshold(N, G, levels=LV, coupling=1.3)
    for got, ref in ((r.dephasing[0], eager.dephasing), (r.dt[0], eager.dt), (r.delta_e[0], eager.delta_e)):
        assert abs(float(got) - float(ref)) <= 1e-9 * abs(float(ref)), (float(got), float(ref))
    assert np.isnan(float(r.dephasing[1]))
    t = 0.9 * float(eager.dt)
    got = float(jax.jit(lambda c: jaxlmg.threshold(N, G, levels=LV, dt=t, coupling=c).dephasing)(1.3))
    ref = float(jaxlmg.threshold(N, G, levels=LV, dt=t, coupling=1.3).dephasing)
    assert abs(got - ref) <= 1e-9 * ref, (got, ref)


def test_invalid_traced_status():
    st_ = jax.jit(lambda x: jaxlmg.doublet_factors(N, x).status)(-0.9)
    assert int(st_) == Status.INVALID_INPUT
    st_ = jax.jit(lambda x: jaxlmg.goldilocks_scan(np.array([N, 16]), x).status)(jnp.nan)
    assert np.all(np.asarray(st_) == Status.INVALID_INPUT)
    c = jax.jit(lambda x: jaxlmg.coherent_k3(N, x, levels=4))(-1.0)
    assert int(c.status) == Status.INVALID_INPUT and np.isnan(float(c.k3))


# ----------------------------------------------------------------------------------------
# Batch independence (hypothesis): every field of a batched result equals the single point
# ----------------------------------------------------------------------------------------

_n_values = st.one_of(st.integers(1, 30), st.sampled_from([0, -2, 2.5, np.nan]))
_f_values = st.one_of(st.floats(0.6, 1.5), st.sampled_from([0.0, -0.3, np.nan, np.inf]))
_points = st.lists(st.tuples(_n_values, _f_values), min_size=1, max_size=6)


def _fields(obj):
    return {k: np.asarray(getattr(obj, k)) for k in obj.__dataclass_fields__}


def _same(a, b, what):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, what
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    assert np.array_equal(nan_a, nan_b), f"{what}: NaN pattern {a} vs {b}"
    inf_a, inf_b = np.isinf(a), np.isinf(b)
    assert np.array_equal(a[inf_a], b[inf_b]) and np.array_equal(inf_a, inf_b), f"{what}: {a} vs {b}"
    ok = ~nan_a & ~inf_a
    err = np.abs(a[ok] - b[ok])
    tol = 1e-12 * np.maximum(1.0, np.abs(b[ok]))
    assert np.all(err <= tol), f"{what}: {a} vs {b}"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_points, st.randoms(use_true_random=False))
def test_doublet_factors_batch_independence(points, rnd):
    ns = np.array([p[0] for p in points], dtype=float)
    fs = np.array([p[1] for p in points], dtype=float)
    batch = _fields(jaxlmg.doublet_factors(ns, fs, dephasing=GPH, on_invalid="mask"))
    order = list(range(len(points)))
    rnd.shuffle(order)
    perm = _fields(jaxlmg.doublet_factors(ns[order], fs[order], dephasing=GPH, on_invalid="mask"))
    for i, (n, f) in enumerate(points):
        single = _fields(jaxlmg.doublet_factors(n, f, dephasing=GPH, on_invalid="mask"))
        j = order.index(i)
        for k, v in single.items():
            _same(batch[k][i], v, f"{k} at (N={n}, field={f})")
            _same(perm[k][j], v, f"{k} (permuted) at (N={n}, field={f})")
        valid = np.isfinite(n) and n >= 1 and n == round(n) and np.isfinite(f) and f >= 0
        assert (single["status"] == Status.INVALID_INPUT) == (not valid)
        if not valid:
            assert all(np.isnan(v) for k, v in single.items() if k != "status")
        if valid and n >= 2 and f > 0 and single["status"] == Status.OK:
            assert np.isfinite(single["gap_ratio_20"]), (n, f)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 30), st.floats(0.6, 1.5)), min_size=1, max_size=5))
def test_observables_batch_independence(points):
    ns = np.array([p[0] for p in points])
    fs = np.array([p[1] for p in points])
    chi = np.asarray(jaxlmg.susceptibility(ns, fs))
    t2p = np.asarray(jaxlmg.t2_physical(GPH, ns, fs))
    at = _fields(jaxlmg.analytic_thresholds(ns, fs))
    for i, (n, f) in enumerate(points):
        _same(chi[i], jaxlmg.susceptibility(n, f), f"susceptibility at N={n}")
        _same(t2p[i], jaxlmg.t2_physical(GPH, n, f), f"t2_physical at N={n}")
        one = _fields(jaxlmg.analytic_thresholds(n, f))
        for k, v in one.items():
            _same(at[k][i], v, f"analytic_thresholds.{k} at N={n}")


def test_doublet_factors_traced_batch_matches_eager():
    """Under jit (traced field) a masked batch equals the eager single points, invalid included."""
    ns = np.array([1, 12, 20, 12])
    fs = jnp.array([0.8, -0.5, 0.9, jnp.nan])
    traced = _fields(jax.jit(lambda f: jaxlmg.doublet_factors(ns, f, dephasing=GPH))(fs))
    for i in range(ns.size):
        single = _fields(jaxlmg.doublet_factors(int(ns[i]), float(fs[i]), dephasing=GPH, on_invalid="mask"))
        for k, v in single.items():
            a, b = np.asarray(traced[k][i], float), np.asarray(v, float)
            assert np.array_equal(np.isnan(a), np.isnan(b)), (k, i, a, b)
            assert np.all(np.abs(a[~np.isnan(a)] - b[~np.isnan(b)]) <= 1e-10 * np.maximum(1, np.abs(b[~np.isnan(b)]))), (k, i)
