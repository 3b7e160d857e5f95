import os

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
# Tests spend most of their time compiling small XLA:CPU kernels once, so they compile with cheaper
# settings than users get (JAXLMG_TEST_XLA_DEFAULTS=1 keeps XLA's defaults):
# - --xla_cpu_use_fusion_emitters=false (jaxlib <= 0.10 only: 0.11 removed the flag, and XLA aborts on an
#   unknown flag): the classic fusion emitters compile faster (threshold + gradient at N = 370: 48 s ->
#   30 s CPU).
# - --xla_backend_optimization_level=0 (LLVM -O0; JAXLMG_TEST_O0=0 switches it off): full suite on 2 cores
#   560-1180 s against 904-1062 s at -O2 (2026-12-01/02, shared machine). Results differ from -O2 in the
#   last bits only; the bitwise batch-independence checks also run under XLA's defaults
#   (tests/test_user_codegen.py), which is how an FMA contraction that depended on the batch size was found.
#   It used to be opt-in because the worker crash came more often with it; that crash was the process
#   running out of memory maps (jaxlmg._config), bounded since by _bounded_memory_maps below.
# Set here, before JAX creates its CPU client, and inherited by the subprocesses the tests start (CLI,
# sweep, notebook kernel). Only for tests: users get XLA's defaults.
_O0 = "--xla_backend_optimization_level=0"
_CLASSIC_EMITTERS = "--xla_cpu_use_fusion_emitters=false"


def _jaxlib_minor():
    from jaxlib import version as _v

    return tuple(int(x) for x in _v.__version__.split(".")[:2])


#: XLA_FLAGS as given to the test run, before the settings below (for subprocesses that want XLA's defaults).
USER_XLA_FLAGS = os.environ.get("XLA_FLAGS", "")
_DEFAULTS = os.environ.get("JAXLMG_TEST_XLA_DEFAULTS") == "1"
#: Whether this process compiles with LLVM -O0 (the default for tests; JAXLMG_TEST_O0=0: -O2).
O0 = not _DEFAULTS and os.environ.get("JAXLMG_TEST_O0", "1") != "0"
if not _DEFAULTS:
    _flags = ([_O0] if O0 else []) + ([_CLASSIC_EMITTERS] if _jaxlib_minor() <= (0, 10) else [])
    os.environ["XLA_FLAGS"] = " ".join([USER_XLA_FLAGS] + _flags).strip()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
# A persistent XLA cache that lives for one test run: each run compiles what it checks, once. The
# controller creates it (an empty temporary directory, removed at exit) before xdist starts its
# workers, so the two workers and the subprocesses the tests start (CLI, notebook kernels) read back
# what another process already compiled instead of compiling it again. Full suite on 2 cores,
# 2026-12-01: 1290, 1336 and 1534 s wall (40, 42 and 48 min CPU), against 1529 s and 48 min without it
# (a gain within the host's noise). 3 of that period's 5 worker crashes were in the cache write: the
# place where a process that had run out of memory maps asked for the next one (README "Known issues").
# JAXLMG_TEST_CACHE_DIR=DIR uses (and keeps) DIR instead; JAXLMG_TEST_CACHE_DIR=off: no cache.
if "JAXLMG_TEST_CACHE_DIR" not in os.environ and "PYTEST_XDIST_WORKER" not in os.environ:
    import atexit
    import shutil
    import tempfile

    _run_cache = tempfile.mkdtemp(prefix="jaxlmg-test-cache-")
    os.environ["JAXLMG_TEST_CACHE_DIR"] = _run_cache
    atexit.register(shutil.rmtree, _run_cache, ignore_errors=True)
_TEST_CACHE = os.environ.get("JAXLMG_TEST_CACHE_DIR")
if _TEST_CACHE == "off":
    _TEST_CACHE = None
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


@pytest.fixture(autouse=True)
def _bounded_memory_maps():
    """Drop JAX's compiled programs when this worker nears its memory-map limit. Every XLA:CPU kernel
    holds three maps until its program is dropped, and a worker that compiled ~600 tests' programs
    reached vm.max_map_count (65 530): the "XLA:CPU crash while compiling" of earlier runs (jaxlmg._config).
    The per-run compilation cache turns the recompilations this causes into file reads."""
    yield
    from jaxlmg import release_compiled_programs

    release_compiled_programs(above=0.4)


# xdist groups, used only with `--dist loadgroup` (`make test` runs the default `--dist load`: the per-run
# compilation cache above already shares compiled kernels between workers). With loadgroup the tests of
# one file run on one worker and compile their kernels once; the largest file's tests stay spread over
# the workers (scheduled after the file groups, they balance the two workers' loads).
_SPREAD_FILES = {"test_contract.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name not in _SPREAD_FILES:
            item.add_marker(pytest.mark.xdist_group(item.path.stem))
