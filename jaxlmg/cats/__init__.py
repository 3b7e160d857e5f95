"""Spin cats under inhomogeneous dephasing (seed 003: Mok, Kwek, Touzard): states, closed forms, exact numerics, mean field.

Modules: ``_states`` (coherent states, cats, Holstein–Primakoff amplitude), ``_closed_forms``
(Eqs. 10–20), ``_exact`` (2^N master equation with detunings), ``_dicke`` (permutation-symmetric
steady states on :mod:`jaxlmg.dynamics`), ``_mean_field`` (Eqs. 22–30), ``_report``, ``_cli``.
Names are imported on first use.
"""

from .._lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "._states": ("lowering", "raising", "excitation_number", "parity_operator", "coherent_state", "cat_state",
                 "cat_normalisation", "boson_coherent_state", "theta_from_amplitude", "amplitude_from_theta",
                 "fidelity", "hp_amplitude"),
    "._closed_forms": ("realisation_fidelity", "mean_fidelity", "mean_fidelity_weak", "fidelity_variance",
                       "fidelity_variance_leading", "realisation_cat_fidelity", "mean_cat_fidelity",
                       "mean_cat_fidelity_weak", "cat_fidelity_limit", "cat_fidelity_limit_weak",
                       "cat_short_time_rate", "sample_detunings"),
    "._exact": ("parity_block", "dicke_to_block", "block_liouvillian", "exact_fidelity", "exact_cat_fidelity",
                "MAX_EXACT_SPINS"),
    "._dicke": ("dicke_liouvillian", "dicke_fidelity", "dicke_model", "dicke_evolve", "steady_states",
                "coherence_mode", "steady_amplitude", "two_loss_operator"),
    "._mean_field": ("per_spin_rhs", "two_group_rhs", "reduced_rhs_eq24", "reduced_rhs_eq26", "synchronised_state",
                     "phase_spread_eq29", "max_squeezing", "evolve_mean_field", "two_group_steady_state",
                     "sync_boundary", "fit_ellipse"),
    "._report": ("seed003_report", "format_rows"),
}, globals())
