"""Landau–Zener bias sweeps of the LMG model: coherent, dephased, classical Model-A foil (seed 001 P4).

See docs/landau_zener.md. Entry points: :func:`coherent_sweep`, :func:`dephased_sweep`,
:func:`classical_sweep`, :func:`kramers_check`, :func:`eq17_comparison`, :func:`crossover_table`.
"""

from ._unitary import SweepResult, coherent_sweep, linear_schedule
from ._open import dephased_sweep
from ._classical import (ClassicalSweepResult, KramersCheck, classical_sweep, default_mobility,
                         free_energy_minimum, generator_relaxation_rate, kramers_check)
from ._analysis import (Eq17Comparison, crossover_table, doublet_parameters, eq17_comparison, fit_crossover_time,
                        fit_decay_rate, optimal_sweep_time, zener_eq17)

__all__ = [
    "ClassicalSweepResult", "Eq17Comparison", "KramersCheck", "SweepResult", "classical_sweep", "coherent_sweep",
    "crossover_table", "default_mobility", "dephased_sweep", "doublet_parameters", "eq17_comparison",
    "fit_crossover_time", "fit_decay_rate", "free_energy_minimum", "generator_relaxation_rate", "kramers_check",
    "linear_schedule", "optimal_sweep_time", "zener_eq17",
]
