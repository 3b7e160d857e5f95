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
    matrix_elements,
    susceptibility,
    truncated_operators,
)
from ._spectrum import Spectrum, spectrum
from ._status import Status
from ._units import BEC, BEC_COUPLING_RAD_S, KB_OVER_HBAR, BECUnits

__version__ = "0.1.0"
