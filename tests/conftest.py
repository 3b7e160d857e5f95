import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
# One persistent XLA cache for the whole test session, shared by the xdist workers: a kernel
# compiled by one worker is loaded, not recompiled, by the other (the suite is compile-bound).
_CACHE = os.environ.get("JAXLMG_TEST_CACHE_DIR",
                        os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache", "tests"))
jax.config.update("jax_compilation_cache_dir", _CACHE)
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.05)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import scipy.linalg as sl  # noqa: E402

import jaxlmg  # noqa: E402,F401


def build_lmg_numpy(n, field, bias=0.0, coupling=1.0):
    """Independent dense reference (the paper's Appendix I construction, plus a bias)."""
    j = n / 2.0
    m = np.arange(-j, j + 1)
    h = np.diag(-2.0 * coupling / n * m**2 - 2.0 * bias * m)
    for i in range(len(m) - 1):
        a = np.sqrt(j * (j + 1) - m[i] * (m[i] + 1))
        h[i, i + 1] = h[i + 1, i] = -field * a
    return h, m


@pytest.fixture
def lmg_ref():
    def ref(n, field, bias=0.0):
        h, m = build_lmg_numpy(n, field, bias)
        w, v = sl.eigh(h)
        return w, v, m, h

    return ref
