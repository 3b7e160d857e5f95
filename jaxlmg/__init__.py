"""jaxlmg: fast, differentiable open-system physics of the Lipkin–Meshkov–Glick model.

Importing jaxlmg enables float64 in JAX (``jax_enable_x64``); public functions raise
if it is switched off afterwards.
"""

from ._config import ensure_x64
from ._model import (
    collective_parity,
    jminus,
    jplus,
    jx,
    jy,
    jz,
    jz2,
    lmg_hamiltonian,
    lmg_tridiagonal,
    m_grid,
    mean_field_order_parameter,
    sign_jz,
    spin_flip_parity,
)
from ._observables import (
    DoubletFactors,
    doublet_factors,
    doublet_factors_from,
    matrix_elements,
    susceptibility,
    truncated_operators,
)
from ._spectrum import Spectrum, spectrum
from ._lindblad import liouvillian, spost, spre, unvec, vec
from ._leggett_garg import correlators, k3, k3_surface, optimal_interval
from ._threshold import ThresholdResult, threshold, threshold_best_interval
from ._analytic import (
    analytic_thresholds,
    coherent_k3,
    n_spins_bound,
    t2_collective,
    t2_lindblad,
    t2_physical,
    two_level_k3,
)
from ._goldilocks import GoldilocksCrossover, GoldilocksScan, goldilocks_crossover, goldilocks_scan
from ._semiclassical import (
    InstantonFit,
    Spinodal,
    TwoSpinSolution,
    analytic_crossover,
    atom_number_log_sensitivity,
    bloch_frequency,
    coherent_state_overlap,
    fit_instanton_prefactor,
    free_energy_barrier,
    free_energy_barrier_large_argument,
    instanton_action,
    instanton_crossover,
    instanton_delta_e,
    kramers_time,
    landau_zener_error,
    mean_field_free_energy,
    spinodal,
    sweep_window_min,
    t2_local,
    two_spin_solution,
)
from ._status import Status
from ._units import BEC, BEC_COUPLING_RAD_S, KB_OVER_HBAR, BECUnits

__version__ = "0.1.0"
