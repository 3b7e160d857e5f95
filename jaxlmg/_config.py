"""Numerical and runtime configuration: float64 only, a deadlock-free XLA:CPU thread pool, and a
bound on the memory maps that compiled programs hold.

XLA:CPU thread pool
-------------------
jaxlib 0.10.x splits batched LAPACK calls (``jnp.linalg.solve``, ``eigh``, … under ``vmap``)
into tasks on XLA's intra-op thread pool and then *blocks a pool thread* until they finish
(``ParallelBatchMap`` in ``jaxlib/cpu/lapack_kernels.cc``, added upstream in April 2026). When
every pool thread is inside such a call at once (two independent batched solves on a 2-core
machine suffice: the matrix exponentials of Δt and 2Δt in a threshold), the queued tasks never
run and the process hangs forever at 0 % CPU; the same path calls OpenBLAS concurrently from
several threads, which upstream lists as a source of crashes. Upstream switched the parallel path
off in open-source builds (jax commit 859992407d, 21 July 2026, after jax 0.11.0). Until our
jaxlib has that fix, jaxlmg sizes XLA:CPU's pool to one thread (``NPROC=1``, read by XLA when it
creates the CPU client), which makes every LAPACK call run inline. Set ``NPROC`` yourself before
importing jaxlmg to choose another size (at the risk of the hang); :func:`cpu_thread_guard` reports
what was done.

Memory maps of compiled programs
--------------------------------
XLA:CPU (jaxlib 0.10) loads every kernel of a compiled program into its own three memory maps
(code, read-only data, data), and JAX keeps every program it compiled for the life of the process.
One threshold program at N = 370 holds about 1 300 maps, one spectrum shape about 380. Linux limits
a process to ``vm.max_map_count`` maps (65 530 by default); a long process that compiles a few
hundred distinct programs (a test worker, a notebook exploring many shapes) reaches it, and the next
``mmap`` fails inside XLA: a segmentation fault or abort while compiling or while writing the
compilation cache, or a ``MemoryError`` in an unrelated array operation. :func:`compiled_program_maps`
reads the count and the limit; :func:`release_compiled_programs` drops JAX's in-memory programs when
the count passes a fraction of the limit (the persistent compilation cache makes recompiling them a
file read). ``jaxlmg reproduce`` calls it between its steps; call it between jobs of a long session,
or raise the limit (``sysctl vm.max_map_count=262144``).
"""

from __future__ import annotations

import os
import warnings

def _jaxlib_parallel_lapack() -> bool:
    """Whether this jaxlib has the parallel batched-LAPACK path (0.10.0 and later; the OSS
    switch-off is not in any release we can install, so no upper bound)."""
    try:
        from importlib.metadata import version

        major, minor = (int(x) for x in version("jaxlib").split(".")[:2])
    except Exception:  # pragma: no cover - unknown packaging: act as if affected
        return True
    return (major, minor) >= (0, 10)


def _guard_cpu_threads() -> str:
    if "NPROC" in os.environ:
        return "user"
    if not _jaxlib_parallel_lapack():
        return "unneeded"
    try:  # a CPU client created before this import has its pool already
        from jax._src import xla_bridge

        started = bool(getattr(xla_bridge, "_backends", {}))
    except Exception:  # pragma: no cover - private API moved
        started = False
    if started:
        warnings.warn(
            "jaxlmg was imported after JAX created its CPU backend, so it could not size XLA:CPU's "
            "thread pool to 1 thread (NPROC=1); batched LAPACK calls in jaxlib 0.10 can then deadlock "
            "on machines with few cores. Import jaxlmg (or set NPROC=1) before running JAX code.",
            RuntimeWarning, stacklevel=3)
        return "late"
    os.environ["NPROC"] = "1"
    return "set"


#: What :func:`_guard_cpu_threads` did at import: "set", "user" (NPROC given), "late" (JAX's CPU
#: client existed already, so the guard could not act) or "unneeded" (unaffected jaxlib).
_CPU_GUARD = _guard_cpu_threads()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)


def cpu_thread_guard() -> str:
    """What jaxlmg did about XLA:CPU's thread pool at import (see the module docstring):
    ``"set"`` (NPROC=1), ``"user"`` (NPROC was given), ``"late"`` (too late to act, warned) or
    ``"unneeded"``."""
    return _CPU_GUARD


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


def compiled_program_maps() -> tuple[int, int] | None:
    """(memory maps this process holds, the limit ``vm.max_map_count``), or None where
    ``/proc`` does not say (not Linux). Costs ~0.2 ms per 1 000 maps."""
    try:
        with open("/proc/self/maps", "rb") as f:
            count = f.read().count(b"\n")
        with open("/proc/sys/vm/max_map_count") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None
    return count, limit


def release_compiled_programs(*, above: float = 0.5) -> bool:
    """Drop JAX's in-memory compiled programs (``jax.clear_caches()``) if this process holds more
    than ``above`` × ``vm.max_map_count`` memory maps (module docstring); True if it did.

    Call it between jobs, never inside a traced function. ``above=0`` releases unconditionally.
    Later calls recompile what they need, or read it back from the persistent compilation cache."""
    if not 0.0 <= above <= 1.0:
        raise ValueError(f"above must be in [0, 1] (a fraction of vm.max_map_count); got {above!r}")
    maps = compiled_program_maps()
    if above > 0.0 and (maps is None or maps[0] <= above * maps[1]):
        return False
    import gc

    from ._cache import release_loaded

    jax.clear_caches()
    release_loaded()  # the saved executables loaded by the Python API (jaxlmg._cache.disk_jit)
    gc.collect()
    return True
