"""jaxlmg: fast, differentiable open-system physics of the Lipkin–Meshkov–Glick model.

Importing jaxlmg enables float64 in JAX (``jax_enable_x64``); public functions raise
if it is switched off afterwards. It also turns on JAX's persistent compilation cache in
``~/.cache/jaxlmg/jax`` (see :mod:`jaxlmg._cache`: ``JAXLMG_CACHE_DIR``, ``JAXLMG_NO_CACHE=1``).

A long session that compiles many distinct programs can exhaust the process's memory maps
(``vm.max_map_count``): see :func:`release_compiled_programs`.

Submodules are imported on first use of one of their names, so a one-point query does
not pay for the report, plotting or semiclassical code.
"""

from ._config import compiled_program_maps, ensure_x64, release_compiled_programs
from ._cache import enable_compilation_cache as _enable_cache
from ._lazy import lazy_exports as _lazy_exports

_enable_cache()

_LAZY = {
    "._model": ("collective_parity", "jminus", "jplus", "jx", "jy", "jz", "jz2", "lmg_hamiltonian",
                "lmg_tridiagonal", "m_grid", "mean_field_order_parameter", "sign_jz", "spin_flip_parity"),
    "._observables": ("DoubletFactors", "doublet_factors", "doublet_factors_from", "matrix_elements",
                      "susceptibility", "truncated_operators"),
    "._spectrum": ("Spectrum", "spectrum"),
    "._lindblad": ("liouvillian", "spost", "spre", "unvec", "vec"),
    "._leggett_garg": ("correlators", "k3", "k3_surface", "optimal_interval"),
    "._threshold": ("ThresholdResult", "threshold", "threshold_best_interval"),
    "._analytic": ("analytic_thresholds", "coherent_k3", "n_spins_bound", "t2_collective", "t2_lindblad",
                   "t2_physical", "two_level_k3"),
    "._goldilocks": ("GoldilocksCrossover", "GoldilocksScan", "goldilocks_crossover", "goldilocks_scan"),
    "._semiclassical": ("InstantonFit", "Spinodal", "TwoSpinSolution", "analytic_crossover",
                        "atom_number_log_sensitivity", "bloch_frequency", "coherent_state_overlap",
                        "fit_instanton_prefactor", "free_energy_barrier", "free_energy_barrier_large_argument",
                        "instanton_action", "instanton_crossover", "instanton_delta_e", "kramers_time",
                        "landau_zener_error", "mean_field_free_energy", "spinodal", "sweep_window_min",
                        "t2_local", "two_spin_solution"),
    "._splitting": ("tunnel_splitting",),
    "._lg_full": ("truncation_convergence",),
    "._status": ("Status",),
    "._units": ("BEC", "BEC_COUPLING_RAD_S", "KB_OVER_HBAR", "BECUnits"),
}
#: Subpackages, imported on first attribute access: ``dynamics`` (untruncated Lindblad engine on
#: the Dicke space), ``landau_zener`` (bias sweeps, seed 001 P4), ``cats`` (spin cats, seed 003).
_SUBPACKAGES = ("dynamics", "landau_zener", "cats")

__getattr__, __dir__, _names = _lazy_exports(__name__, _LAZY, globals(), _SUBPACKAGES)
__all__ = ["compiled_program_maps", "ensure_x64", "release_compiled_programs", *_names]
__version__ = "0.1.0"
