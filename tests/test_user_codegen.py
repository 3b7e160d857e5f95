"""The bitwise batch-independence checks under XLA's default code generation (what users run).

The suite compiles at LLVM -O0 (tests/conftest.py). Code generation matters here: XLA:CPU contracts
a*b + c into one FMA or not depending on the vector shape a loop is compiled for, so on the batch
size (openxla/xla#41579; no flag turns it off), at -O0 and -O2 differently. fast_lowest is built so
that its result cannot depend on that (a fixed-grid finish); the other kernels are checked, not proven.
This runs the bitwise checks again in one process with XLA's default flags: the tridiagonal kernel
(random neighbours, batch sizes 3, 5, 8, 40, permuted; a bracket end that the Laguerre count put
one ulp on the wrong side), the spectrum, K3/correlators and the threshold search."""

import os
import subprocess
import sys

import pytest

from conftest import USER_XLA_FLAGS

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKS = [
    "test_tridiag.py::test_fast_lowest_certified_padding_and_batch_invariant",
    "test_tridiag.py::test_fast_lowest_bits_independent_of_batch_size_and_order",
    "test_tridiag.py::test_fast_lowest_bracket_end_from_a_laguerre_count_off_by_one",
    "test_tridiag.py::test_grid_finish_repairs_bracket_ends_on_the_wrong_side",
    "test_spectrum.py::test_point_independent_of_batch",
    "test_k3_contract.py::test_batch_fields_equal_single_point",
    "test_threshold_batch.py::test_solver_level_independence_with_duplicates_and_order",
]


@pytest.mark.slow
def test_batch_independence_bitwise_with_xla_defaults():
    env = dict(os.environ, JAXLMG_TEST_XLA_DEFAULTS="1", XLA_FLAGS=USER_XLA_FLAGS)
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        *(os.path.join(HERE, c) for c in CHECKS)],
                       env=env, capture_output=True, text=True, timeout=1200, cwd=os.path.dirname(HERE))
    tail = r.stdout[-3000:] + r.stderr[-2000:]
    assert r.returncode == 0 and " passed" in r.stdout and "failed" not in r.stdout, tail
    assert "deselected" not in r.stdout and "no tests ran" not in r.stdout, tail
