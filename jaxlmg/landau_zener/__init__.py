"""Landau–Zener bias sweeps of the LMG model: coherent, dephased, classical Model-A foil (seed 001 P4).

See docs/landau_zener.md. Entry points: :func:`coherent_sweep`, :func:`dephased_sweep`,
:func:`classical_sweep`, :func:`kramers_check`, :func:`eq17_comparison`, :func:`crossover_table`.
Names are imported on first use.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._unitary": ("SweepResult", "coherent_sweep", "linear_schedule"),
    "._open": ("dephased_sweep",),
    "._classical": ("ClassicalSweepResult", "KramersCheck", "classical_sweep", "default_mobility",
                    "free_energy_minimum", "generator_relaxation_rate", "kramers_check"),
    "._analysis": ("Eq17Comparison", "crossover_table", "doublet_parameters", "eq17_comparison",
                   "fit_crossover_time", "fit_decay_rate", "optimal_sweep_time", "zener_eq17"),
}, globals())
