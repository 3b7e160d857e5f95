"""Landau–Zener bias sweeps of the LMG model: coherent, dephased, and the classical Model-A foil (seed 001 §7.2, P4)."""

from ._unitary import SweepResult, coherent_sweep, linear_schedule
from ._open import dephased_sweep
from ._classical import (ClassicalSweepResult, KramersCheck, classical_sweep, default_mobility,
                         free_energy_minimum, generator_relaxation_rate, kramers_check)
from ._analysis import (Eq17Comparison, crossover_table, doublet_parameters, eq17_comparison, fit_crossover_time,
                        fit_decay_rate, optimal_sweep_time, zener_eq17)
