"""Untruncated open dynamics on the whole symmetric Dicke space (matrix-free Lindblad engine)."""

from ._operators import Banded, identity, jminus, jplus, jx, jz, lmg_hamiltonian
from ._lindblad import dephasing_exponent, dissipator, lindblad_action
from ._propagate import (DickeSectors, SplitModel, evolve_dephased, full_model, propagate, richardson, sectors,
                         strang_even, strang_odd, truncated_model)

__all__ = ["Banded", "identity", "jminus", "jplus", "jx", "jz", "lmg_hamiltonian", "dephasing_exponent",
           "dissipator", "lindblad_action", "DickeSectors", "SplitModel", "evolve_dephased", "full_model",
           "propagate", "richardson", "sectors", "strang_even", "strang_odd", "truncated_model"]
