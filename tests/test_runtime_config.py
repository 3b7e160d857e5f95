"""jaxlmg's runtime configuration at import: float64 and the deadlock-free XLA:CPU thread pool.

jaxlib 0.10's parallel batched LAPACK (``ParallelBatchMap``) blocks an XLA:CPU pool thread until
its tasks finish; with every pool thread inside such a call the process hangs (seen here with
``threshold(370, 0.95, levels=10, protocol="sequential")`` and the threshold-map benchmark: both
XLA:CPU threads waited in ``lapack_dtrsm_ffi`` forever). jaxlmg therefore sizes the pool to one
thread (``NPROC=1``) before JAX creates its CPU client. These checks run in fresh interpreters,
because the pool is fixed when the client is created.
"""

import json
import os
import subprocess
import sys

import pytest

PROBE = r"""
import glob, json, os, sys, warnings
warnings.simplefilter("always")
if sys.argv[1] == "late":
    import jax.numpy as jnp
    jnp.ones(2).block_until_ready()          # JAX's CPU client exists before jaxlmg is imported
with warnings.catch_warnings(record=True) as w:
    import jaxlmg
    from jaxlmg._config import cpu_thread_guard
import jax, jax.numpy as jnp
a = jnp.eye(40)[None].repeat(16, 0) + 0.01   # a batched LAPACK call large enough to be split
jnp.linalg.solve(a, jnp.ones((16, 40, 40))).block_until_ready()
names = [open(t + "/comm").read().strip() for t in glob.glob("/proc/self/task/*")]
print(json.dumps(dict(guard=cpu_thread_guard(), nproc=os.environ.get("NPROC"),
                      pool=names.count("tf_XLAEigen"), x64=jax.config.read("jax_enable_x64"),
                      warned=[str(x.message)[:200] for x in w if issubclass(x.category, RuntimeWarning)])))
"""


def _probe(mode, **env_extra):
    env = {k: v for k, v in os.environ.items() if k != "NPROC"}
    env.update(env_extra)
    out = subprocess.run([sys.executable, "-c", PROBE, mode], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads through /proc")
def test_cpu_pool_is_one_thread_after_import():
    r = _probe("normal")
    assert r["guard"] == "set" and r["nproc"] == "1" and r["x64"] is True
    assert r["pool"] == 1, r            # XLA:CPU intra-op pool of one thread: LAPACK runs inline
    assert r["warned"] == []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts threads through /proc")
def test_user_nproc_is_respected_and_late_import_warns():
    r = _probe("normal", NPROC="3")
    assert r["guard"] == "user" and r["nproc"] == "3" and r["pool"] == 3, r
    late = _probe("late")
    assert late["guard"] == "late" and late["nproc"] is None, late
    assert any("thread pool" in m for m in late["warned"]), late


MAPS_PROBE = r"""
import json
import jax, jax.numpy as jnp
import numpy as np
import jaxlmg
from jaxlmg import compiled_program_maps, release_compiled_programs

def count():
    return sum(1 for _ in open("/proc/self/maps"))

start = compiled_program_maps()
fns = [jax.jit(lambda x, k=k: jnp.sin(x * k) @ jnp.cos(x.T) + k) for k in range(12)]
x = jnp.linspace(0.0, 1.0, 12).reshape(3, 4)
before = [np.asarray(f(x)) for f in fns]
s = jaxlmg.spectrum(40, 0.9, levels=3).energies
grown = compiled_program_maps()
kept = release_compiled_programs(above=1.0)
after_kept = compiled_program_maps()
released = release_compiled_programs(above=0.0)
after = compiled_program_maps()
direct = count()
same = all(np.array_equal(np.asarray(f(x)), b) for f, b in zip(fns, before))
same = same and np.array_equal(np.asarray(jaxlmg.spectrum(40, 0.9, levels=3).energies), np.asarray(s))
limit = int(open("/proc/sys/vm/max_map_count").read())
print(json.dumps(dict(start=start, grown=grown, kept=kept, after_kept=after_kept, released=released,
                      after=after, same=same, limit=limit, direct=direct)))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_release_compiled_programs_frees_the_memory_maps_of_compiled_kernels():
    """Every XLA:CPU kernel holds its own memory maps until JAX drops its program; the test
    workers crashed when a process reached vm.max_map_count (65 530) of them."""
    out = subprocess.run([sys.executable, "-c", MAPS_PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    r = json.loads(out.stdout.strip().splitlines()[-1])
    (n0, lim), (n1, _), (n2, _), (n3, _) = r["start"], r["grown"], r["after_kept"], r["after"]
    assert lim == r["limit"] and abs(r["direct"] - n3) < 50, r
    assert n1 - n0 >= 100, r                   # 13 programs: ≥ 3 maps per kernel
    assert r["kept"] is False and abs(n2 - n1) < 20, r
    assert r["released"] is True and n3 - n0 <= 0.2 * (n1 - n0), r
    assert r["same"] is True, r                # recompiled programs give the same bits


@pytest.mark.parametrize("above", [-0.1, 1.5, float("nan")])
def test_release_compiled_programs_rejects_a_bad_fraction(above):
    import jaxlmg

    with pytest.raises(ValueError, match="above must be in"):
        jaxlmg.release_compiled_programs(above=above)
