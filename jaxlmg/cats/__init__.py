"""Spin cats under inhomogeneous dephasing (seed 003: Mok, Kwek, Touzard): states, closed forms, exact numerics, mean field."""

from ._closed_forms import *  # noqa: F401,F403
from ._closed_forms import __all__ as _cf
from ._states import *  # noqa: F401,F403
from ._states import __all__ as _st

__all__ = [*_st, *_cf]
