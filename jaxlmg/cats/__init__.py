"""Spin cats under inhomogeneous dephasing (seed 003: Mok, Kwek, Touzard): states, closed forms, exact numerics, mean field."""

from . import _closed_forms, _dicke, _exact, _mean_field, _states
from ._closed_forms import *  # noqa: F401,F403
from ._dicke import *  # noqa: F401,F403
from ._exact import *  # noqa: F401,F403
from ._mean_field import *  # noqa: F401,F403
from ._states import *  # noqa: F401,F403

__all__ = [*_states.__all__, *_closed_forms.__all__, *_exact.__all__, *_dicke.__all__, *_mean_field.__all__]
