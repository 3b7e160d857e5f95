"""Numerical configuration: jaxlmg computes physics in float64 only."""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)


def ensure_x64() -> None:
    """Raise if float64 has been switched off after import.

    jaxlmg turns on ``jax_enable_x64`` when it is imported. Tunnel splittings of
    1e-8 J next to energies of 1e3 J cannot be represented in float32, so every
    public entry point calls this guard instead of silently computing garbage.
    """
    if not jax.config.read("jax_enable_x64"):
        raise RuntimeError(
            "jaxlmg needs float64: jax_enable_x64 is off. Call "
            "jax.config.update('jax_enable_x64', True) (jaxlmg does this on import; "
            "something switched it off afterwards)."
        )
