"""Physical units: the papers' spinor-BEC benchmark and CODATA constants.

jaxlmg computes in units of the coupling J (ħ = 1). ``BECUnits`` converts energies
and rates to rad/s (= s⁻¹ with ħ = 1) and temperatures (nK) to energies.
"""

from __future__ import annotations

import numbers

import equinox as eqx
import numpy as np

from ._config import ensure_x64

#: CODATA 2018 (exact in the SI): k_B / ħ in rad s⁻¹ K⁻¹.
K_B = 1.380649e-23
HBAR = 1.054571817e-34
KB_OVER_HBAR = K_B / HBAR

#: The papers' BEC benchmark coupling J (rad/s): ΔE = 1310 rad/s at N = 370, Γ/J = 0.95.
BEC_COUPLING_RAD_S = 37195.4


class BECUnits(eqx.Module):
    """Conversion between units of J and physical units, for a coupling J in rad/s."""

    coupling_rad_s: float = BEC_COUPLING_RAD_S

    def __check_init__(self):
        c = self.coupling_rad_s
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, numbers.Real) or not (0.0 < float(c) < float("inf")):
            raise ValueError(f"coupling_rad_s must be a finite real number > 0 (rad/s); got {c!r}")

    def energy_to_rad_s(self, energy_in_j):
        """Energy (units of J) → angular frequency in rad/s."""
        ensure_x64()
        return energy_in_j * self.coupling_rad_s

    def energy_from_rad_s(self, omega):
        """Angular frequency (rad/s) → energy in units of J."""
        ensure_x64()
        return omega / self.coupling_rad_s

    def rate_to_natural(self, rate_per_s):
        """A rate in s⁻¹ (e.g. γφ) → units of J (ħ = 1)."""
        ensure_x64()
        return rate_per_s / self.coupling_rad_s

    def rate_to_per_s(self, rate_natural):
        """A rate in units of J → s⁻¹."""
        ensure_x64()
        return rate_natural * self.coupling_rad_s

    def time_to_s(self, time_natural):
        """A time in units of ħ/J → seconds."""
        ensure_x64()
        return time_natural / self.coupling_rad_s

    def kt_rad_s(self, temperature_nk):
        """k_B T / ħ in rad/s for a temperature in nK (CODATA)."""
        ensure_x64()
        return temperature_nk * 1e-9 * KB_OVER_HBAR

    def kt_natural(self, temperature_nk):
        """k_B T in units of J."""
        ensure_x64()
        return self.kt_rad_s(temperature_nk) / self.coupling_rad_s


BEC = BECUnits()
