import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# Tests spend most of their time compiling small XLA:CPU kernels once. The classic fusion emitters
# compile faster (threshold + gradient at N = 370: 48 s -> 30 s CPU); float64 results agree with the
# default emitters to the last digit (threshold and its gradient at N = 370). NOT
# --xla_backend_optimization_level=0 (48 s -> 22 s): it changes rounding enough to fail
# test_contract's optimal_interval/dephasing gradient-vs-FD check (1e-4 vs 2e-5). Set here, before
# JAX creates its CPU client, and inherited by the subprocesses the tests start (CLI, sweep, notebook
# kernel). Only for tests: users get XLA's defaults. JAXLMG_TEST_XLA_DEFAULTS=1 keeps XLA's defaults.
_FAST_COMPILE = "--xla_cpu_use_fusion_emitters=false"
# jaxlib 0.11 removed the flag, and XLA aborts the process on an unknown flag: set it only where it exists.
def _jaxlib_minor():
    from jaxlib import version as _v

    return tuple(int(x) for x in _v.__version__.split(".")[:2])


if os.environ.get("JAXLMG_TEST_XLA_DEFAULTS") != "1" and _jaxlib_minor() <= (0, 10):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " " + _FAST_COMPILE).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
# No persistent XLA cache in tests by default: each run compiles what it checks. With
# JAXLMG_TEST_CACHE_DIR=DIR the workers and the subprocesses they start share a cache there
# (duplicate compilations across xdist workers are read back instead).
_TEST_CACHE = os.environ.get("JAXLMG_TEST_CACHE_DIR")
os.environ.pop("JAXLMG_CACHE", None)
if _TEST_CACHE:
    os.environ["JAXLMG_CACHE_DIR"] = _TEST_CACHE
    os.environ.pop("JAXLMG_NO_CACHE", None)
else:
    os.environ["JAXLMG_NO_CACHE"] = "1"
    os.environ.pop("JAXLMG_CACHE_DIR", None)

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


# xdist (`make test` runs `-n 2 --dist loadgroup`): the tests of one file share shapes, so they run on one
# worker and compile their kernels once, not once per worker. The largest file's tests stay spread
# over the workers (scheduled after the file groups, they balance the two workers' loads).
_SPREAD_FILES = {"test_contract.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name not in _SPREAD_FILES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
