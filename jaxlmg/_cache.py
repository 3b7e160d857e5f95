"""Persistent XLA compilation cache for jaxlmg (on by default, in a per-user cache directory).

A one-point query spends most of its cold time tracing and compiling XLA programs. Three
layers keep that work for later processes:

* JAX's persistent compilation cache (Python API and command line): a repeated call still
  traces and lowers, but reads XLA's compiled code back (W1 through the Python API, K3 at 10 γφ
  for both protocols + the threshold: 12.0 s cold, 3.5 s warm on the 2-core CPU);
* saved executables for the command line's one-point queries (:func:`compiled_call`,
  ``jaxlmg-exported/*.xlaexe``): a repeated query loads its compiled program(s) and runs them,
  with no tracing, lowering or compilation; a cold threshold query is three programs, each
  compiled in a worker thread while the next is traced (``jaxlmg threshold -N 370 -g 0.95``:
  2.4-2.9 s cold, 0.69 s warm, whole process; ``spectrum``: 1.7-2.0 s and 0.55 s; 2-core CPU,
  2026-12-02, session 14);
* saved executables for the spectrum kernel of the Python API (:func:`disk_jit`, same
  directory): a later process loads the kernel of each (size bucket, levels, batch) instead of
  tracing and lowering it (the README quickstart as a script: 13.2 s warm with JAX's cache
  alone, 6.7–6.8 s with these; 43 s with an empty cache).

Where the cache lives, in order of precedence:

* ``JAXLMG_NO_CACHE=1`` (or ``JAXLMG_CACHE=0``): no persistent cache, nothing written to disk;
* ``JAXLMG_CACHE_DIR=/path``: that directory;
* a directory already configured in JAX (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``);
* otherwise ``$XDG_CACHE_HOME/jaxlmg/jax`` (default ``~/.cache/jaxlmg/jax``).

The saved executables are capped at :data:`CACHE_MAX_MB` (1 GiB; ``JAXLMG_CACHE_MAX_MB``, 0 for
no cap): past it the least recently used are deleted. An unusable directory (read-only, not a
directory) switches the cache off silently. Every
compilation is cached (``jax_persistent_cache_min_compile_time_secs = 0``): the small kernels
of a one-point query take longer to compile than to read back. Delete the directory
(``make clean-cache``, or ``make clean``) to clear it; it is only a cache.

History: with jaxlib 0.10 a cache write once crashed a test worker (two processes sharing
one directory) and a process hung. The hang was jaxlib's parallel batched LAPACK deadlock
(fixed by the ``NPROC`` guard of :mod:`jaxlmg._config`); after that guard, 3 rounds of 4
concurrent CLI queries and 8 sequential ones sharing one directory all finished, so the
cache is the default.
The test suite uses a fresh directory per run (``tests/conftest.py``), shared by its workers.
"""

from __future__ import annotations

import contextlib
import functools
import os

_ENABLED: str | None = None


def default_cache_dir() -> str:
    """The directory jaxlmg would use, ignoring ``JAXLMG_NO_CACHE`` and JAX's own setting."""
    explicit = os.environ.get("JAXLMG_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "jaxlmg", "jax")


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def cache_disabled() -> bool:
    """True where the cache was switched off (``JAXLMG_NO_CACHE=1`` or ``JAXLMG_CACHE=0``)."""
    if _flag("JAXLMG_NO_CACHE"):
        return True
    raw = os.environ.get("JAXLMG_CACHE")
    return raw is not None and raw.strip() != "" and not _flag("JAXLMG_CACHE")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache unless switched off; returns its directory (None when off).

    Called when :mod:`jaxlmg` is imported, so the Python API and the command line share
    one cache. An unusable directory (read-only, not a directory) switches the cache off
    silently: a cache must never stop a computation.
    """
    global _ENABLED
    if cache_disabled():
        return None
    import jax

    current = getattr(jax.config, "jax_compilation_cache_dir", None)
    if current and not os.environ.get("JAXLMG_CACHE_DIR"):
        path = current  # the user configured JAX's cache: respect it
    else:
        path = default_cache_dir()
        try:
            os.makedirs(path, exist_ok=True)
            if not os.access(path, os.W_OK):
                return None
        except OSError:
            return None
        if current != path:
            jax.config.update("jax_compilation_cache_dir", path)
    for key, val in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                     ("jax_persistent_cache_min_entry_size_bytes", 0)):
        try:
            jax.config.update(key, val)
        except Exception:  # noqa: BLE001 - option absent in this jax version
            pass
    _ENABLED = path
    return path


# ------------------------------------------------------------------------ serialised kernels

_FINGERPRINT: str | None = None


def _fingerprint() -> str:
    """Identifies the code a saved executable came from: jaxlmg's sources, jax, jaxlib, backend."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        import hashlib

        import jax
        import jaxlib

        h = hashlib.sha256()
        pkg = os.path.dirname(os.path.abspath(__file__))
        files = sorted(os.path.relpath(os.path.join(root, f), pkg) for root, _, names in os.walk(pkg)
                       for f in names if f.endswith(".py"))
        for name in files:  # every module, subpackages included (dynamics, cats, ...)
            with open(os.path.join(pkg, name), "rb") as fh:
                h.update(name.encode() + b"\0" + fh.read() + b"\0")
        h.update(f"{jax.__version__}|{jaxlib.__version__}|{jax.default_backend()}|"
                 f"{jax.config.jax_enable_x64}|{jax.devices()[0].device_kind}|{_host()}|"
                 f"{os.environ.get('XLA_FLAGS', '')}".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def _host() -> str:
    """The CPU model (XLA:CPU code is generated for the host's instruction set)."""
    import platform

    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            model = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), "")
    except OSError:
        pass
    return f"{platform.machine()}|{model or platform.processor()}"


def _compile_options() -> dict:
    """XLA options for the one-point programs of the command line on a CPU: they run for
    milliseconds, so compile time is what a user waits for (W1 threshold at the paper point,
    2-core CPU: XLA compile 7.0 s with the defaults, 2.9 s with these; run time 3 ms either way).
    Empty (XLA's defaults) on other backends, for an unknown jaxlib, or with ``JAXLMG_FAST_COMPILE=0``."""
    import jax

    if os.environ.get("JAXLMG_FAST_COMPILE", "").strip() in ("0", "false", "no") or jax.default_backend() != "cpu":
        return {}
    try:
        from jaxlib import version as _v

        minor = tuple(int(x) for x in _v.__version__.split(".")[:2])
    except Exception:  # noqa: BLE001 - unknown packaging: XLA's defaults
        return {}
    opts = {"xla_backend_optimization_level": 0}  # LLVM -O0
    if minor <= (0, 10):  # the flag is gone from jaxlib 0.11 (XLA rejects unknown options)
        opts["xla_cpu_use_fusion_emitters"] = False  # classic emitters: faster to compile
    return opts


def _write_atomic(path: str, data: bytes) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def _read_executable(path: str):
    """The record saved by :func:`_save_executable` at ``path`` (not yet loaded), or None:
    absent or damaged (the file is removed and rebuilt by the caller)."""
    import pickle

    if not os.path.exists(path):
        return None
    try:
        with open(path, "rb") as fh:
            payload, in_tree, out_tree, targets, order = pickle.load(fh)
    except Exception:  # noqa: BLE001 - damaged or stale file: rebuilt by the caller
        _remove(path)
        return None
    return payload, in_tree, out_tree, targets, order


def _needs_lapack(record) -> bool:
    # jax fills jaxlib's LAPACK function table when it first lowers a linear-algebra op; a
    # program loaded without lowering would call through an empty table (segfault).
    return record is not None and any(t.startswith("lapack_") for t in record[3])


def _deserialize(path: str, record):
    """(compiled program, result key order) from a record of :func:`_read_executable`, or None
    (stale: the file is removed). Thread-safe once the LAPACK table is filled where the record
    needs it (XLA releases the GIL while it links a program's kernels)."""
    from jax.experimental.serialize_executable import deserialize_and_load

    if record is None:
        return None
    payload, in_tree, out_tree, _, order = record
    try:
        loaded = deserialize_and_load(payload, in_tree, out_tree), order
    except Exception:  # noqa: BLE001 - stale file: rebuilt by the caller
        _remove(path)
        return None
    try:
        os.utime(path)  # recently used: kept by _trim
    except OSError:
        pass
    return loaded


def _load_executable(path: str):
    """(compiled program, result key order) saved by :func:`_save_executable`, or None (absent,
    damaged, stale: the file is removed and rebuilt by the caller)."""
    record = _read_executable(path)
    if _needs_lapack(record):
        _fill_lapack_table()
    return _deserialize(path, record)


def _load_all(paths: list) -> list:
    """:func:`_load_executable` of every path, the programs linked side by side in threads
    (a warm three-stage threshold query on the 2-core CPU: 0.41-0.48 s against 0.53-0.74 s
    one after the other)."""
    import concurrent.futures

    import jax

    records = [_read_executable(p) for p in paths]
    if any(_needs_lapack(r) for r in records):
        _fill_lapack_table()  # once, here: it edits sys.modules
    if sum(r is not None for r in records) < 2:
        return [_deserialize(p, r) for p, r in zip(paths, records)]
    jax.devices()  # the backend exists before the threads ask for it
    with concurrent.futures.ThreadPoolExecutor(len(paths)) as pool:
        return list(pool.map(_deserialize, paths, records))


def _remove(path: str) -> None:
    try:
        os.remove(path)
    except OSError:
        pass


#: The modules jaxlib reads its BLAS/LAPACK function pointers from (jaxlib/cpu/_lapack.so).
_SCIPY_TABLES = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")


def _fill_lapack_table() -> None:
    """Fill jaxlib's LAPACK function table (pointers read from ``scipy.linalg.cython_blas`` and
    ``cython_lapack``).

    jaxlib imports those modules by name, which runs all of ``scipy.linalg``'s package
    ``__init__`` first: 0.19 s of a 1.0 s warm one-point query. Where ``scipy.linalg`` is not
    imported yet, the two extension modules are loaded alone (the package is stood in for by an
    empty module for that import) and forgotten once jaxlib has read them, so that a later
    ``import scipy.linalg`` runs the real package as if nothing had happened; otherwise, or if
    that fails, jaxlib imports it as usual."""
    import sys

    from jaxlib import lapack

    alone = False
    if "scipy.linalg" not in sys.modules and not any(m in sys.modules for m in _SCIPY_TABLES):
        try:
            _import_tables_alone()
            alone = True
        except Exception:  # noqa: BLE001 - jaxlib's own import below still fills the table
            for name in _SCIPY_TABLES:
                sys.modules.pop(name, None)
    lapack._lapack.initialize()
    if alone:
        # Forget the modules again (the table keeps its pointers; the libraries stay loaded): a
        # later ``import scipy.linalg`` then imports and binds them as usual.
        for name in _SCIPY_TABLES:
            sys.modules.pop(name, None)


def _import_tables_alone() -> None:
    """Import the :data:`_SCIPY_TABLES` modules under an empty stand-in for ``scipy.linalg``."""
    import importlib
    import importlib.util
    import sys
    import types

    import scipy

    spec = importlib.util.find_spec("scipy.linalg")
    stand_in = types.ModuleType("scipy.linalg")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["scipy.linalg"] = stand_in
    try:
        for name in _SCIPY_TABLES:
            importlib.import_module(name)
    finally:
        if sys.modules.get("scipy.linalg") is stand_in:
            del sys.modules["scipy.linalg"]
        if scipy.__dict__.get("linalg") is stand_in:
            del scipy.linalg


def _save_executable(base: str, compiled, targets, order) -> None:
    """Save ``compiled`` as ``<base>.xlaexe`` with the custom-call ``targets`` it needs (see
    :func:`_load_executable`) and the key ``order`` of its result dict. A program that cannot be
    serialised (a backend without it, or constants captured by the program: "serialize_executables
    with const_args") or whose argument trees do not survive pickling (equinox modules) leaves
    ``<base>.unsupported`` instead: later calls then take the plain path,
    which JAX's own cache serves, rather than compiling afresh every time."""
    import pickle

    from jax.experimental.serialize_executable import serialize

    try:
        payload, in_tree, out_tree = serialize(compiled)
        data = pickle.dumps((payload, in_tree, out_tree, list(targets), list(order)))
        for tree in pickle.loads(pickle.dumps((in_tree, out_tree))):  # e.g. equinox modules do not
            tree.unflatten(list(range(tree.num_leaves)))  # come back from pickle (their aux data)
    except Exception:  # noqa: BLE001 - cannot be serialised: remembered, see above
        _write_atomic(base + ".unsupported", b"")
        return
    _write_atomic(base + ".xlaexe", data)
    _trim(os.path.dirname(base))


#: Default cap on the saved executables (``jaxlmg-exported``), in MiB; ``JAXLMG_CACHE_MAX_MB``
#: sets another (0: no cap). ``make reproduce`` leaves about 63 MiB of them (74 MiB with JAX's cache).
CACHE_MAX_MB = 1024


def _cache_max_bytes() -> float:
    raw = os.environ.get("JAXLMG_CACHE_MAX_MB", "").strip()
    try:
        mb = float(raw) if raw else float(CACHE_MAX_MB)
    except ValueError:
        mb = float(CACHE_MAX_MB)
    return float("inf") if mb <= 0 else mb * 2**20


def _trim(folder: str) -> None:
    """Keep the saved executables in ``folder`` under :func:`_cache_max_bytes`: past the cap, the
    least recently used ones (modification time, refreshed on every load) are deleted until
    80 % of it is left. A deleted file is only a cache miss: the program is compiled again."""
    cap = _cache_max_bytes()
    try:
        entries = []
        with os.scandir(folder) as it:
            for e in it:
                if e.name.endswith(".xlaexe") and e.is_file():
                    st = e.stat()
                    entries.append((st.st_mtime, st.st_size, e.path))
    except OSError:
        return
    total = sum(size for _, size, _ in entries)
    if total <= cap:
        return
    for _, size, path in sorted(entries)[:-1]:  # never the newest (the file just saved)
        if total <= 0.8 * cap:
            break
        _remove(path)
        total -= size


def _run_saved(path: str, args, loaded=False):
    """(program, result key order, result) of the executable saved at ``path`` run on ``args``,
    or None: absent, damaged, or loads but cannot run (a kernel missing from the file, see
    :func:`_compile_fresh`); such a file is removed and the caller rebuilds it. ``loaded``: the
    result of :func:`_load_executable` for ``path`` if already done."""
    import jax

    if loaded is False:
        loaded = _load_executable(path)
    if loaded is None:
        return None
    compiled, order = loaded
    try:
        out = compiled(*args)
        jax.block_until_ready(out)  # a kernel missing from the file is reported here
    except Exception:  # noqa: BLE001 - see above
        _remove(path)
        return None
    return compiled, order, out


def compiled_call(name: str, static: dict, fn, *args) -> dict:
    """``fn(*args)`` through a compiled program kept in the cache directory.

    ``fn`` maps float64 arrays to a dict of arrays; everything that changes its program
    (shapes, sizes, options) must be in ``static``. The first call traces and compiles ``fn``
    as one XLA program (instead of many small ones) and saves the executable
    (``jaxlmg-exported/<name>-<key>.xlaexe``, keyed by ``name``, ``static``, the argument
    shapes, :func:`_fingerprint` and the compiler options); a later process loads it and runs
    it, with no tracing, lowering or compilation. On a CPU the program is compiled with
    :func:`_compile_options`. The result is a dict in ``fn``'s key order. Any problem
    (cache off, a function that cannot be traced, a damaged file, a backend that cannot
    serialise executables) falls back to calling ``fn`` directly or rebuilding the file, with
    the same result. ``JAXLMG_NO_EXPORT=1`` switches this off.

    ``fn`` may also be a tuple of stages ``(f0, f1, ...)``: ``f0(*args)``, then
    ``f1(f0's result, *args)`` and so on, the last one returning the dict. Each stage is its own
    program (``<name>-<key>.s<i>.xlaexe``). The first call compiles each in a worker thread (XLA
    releases the GIL) while it traces the next: on a multi-core CPU a cold call then waits for
    the tracing of all stages plus the compilation of the last, not for every compilation (the
    threshold of the command line, :func:`jaxlmg._threshold.threshold_stages`, 2-core CPU: all
    three programs compiled 2.2-2.3 s after the first trace began, where one program was traced,
    lowered and compiled in ≈ 2.6 s). A later call loads the stages side by side in threads
    (:func:`_load_all`).
    """
    import hashlib
    import json

    import numpy as np

    stages = tuple(fn) if isinstance(fn, (tuple, list)) else (fn,)
    args = tuple(np.asarray(a, np.float64) for a in args)  # numpy: no conversion kernel to compile
    if _ENABLED is None or os.environ.get("JAXLMG_NO_EXPORT", "").strip() not in ("", "0"):
        return run_stages(stages, args)
    opts = _compile_options()
    body = json.dumps([name, static, [list(a.shape) for a in args], _fingerprint(), sorted(opts.items())]
                      + ([len(stages)] if len(stages) > 1 else []), sort_keys=True, default=str)
    key = hashlib.sha256(body.encode()).hexdigest()[:40]
    base = os.path.join(_ENABLED, "jaxlmg-exported", f"{name}-{key}")
    if os.path.exists(base + ".unsupported"):
        return run_stages(stages, args)
    paths = [base] if len(stages) == 1 else [f"{base}.s{i}" for i in range(len(stages))]
    out, order = None, []
    loaded = _load_all([p + ".xlaexe" for p in paths])
    for i, path in enumerate(paths):  # the saved stages, as far as they go
        saved = _run_saved(path + ".xlaexe", args if i == 0 else (out,) + args, loaded[i])
        if saved is None:
            return _build_stages(stages, paths, i, out, args, opts, base)
        _, order, out = saved
    return {k: out[k] for k in order}


def run_stages(stages, args):
    """``stages[-1](... stages[1](stages[0](*args), *args) ..., *args)``: the stages of
    :func:`compiled_call` called directly."""
    out = stages[0](*args)
    for f in stages[1:]:
        out = f(out, *args)
    return out


def _build_stages(stages, paths, first, out, args, opts, base):
    """Trace stages ``first``, ``first + 1``, ... of :func:`compiled_call` (``out``: the result
    of stage ``first - 1``), each compiled and saved in a worker thread (two: the main thread
    is idle once the last stage is traced) while the main thread traces the next; then run
    them. A stage that cannot be traced marks ``base.unsupported`` and the whole call runs
    directly."""
    import concurrent.futures

    import jax

    order: list = []
    last = len(stages) - 1
    _fill_lapack_table()  # before lowering does it: without importing scipy.linalg (0.1 s)

    def build(lowered, path):
        compiled = _compile(lowered, opts)
        _save_executable(path, compiled, _custom_calls(lowered.as_text()), order)
        return compiled

    pending = []
    with _jax_cache_off(), concurrent.futures.ThreadPoolExecutor(2) as pool:
        spec = out
        for i in range(first, len(stages)):
            def traced(*a, f=stages[i], is_last=i == last):
                res = f(*a)
                if is_last:
                    order[:] = list(res)  # a pytree dict comes back with sorted keys: keep fn's order
                return res

            try:
                lowered = jax.jit(traced).trace(*(args if i == 0 else (spec,) + args)).lower()
            except Exception:  # noqa: BLE001 - not traceable (e.g. concretises an argument): remember, run as is
                _write_atomic(base + ".unsupported", b"")
                for f in pending:
                    f.cancel()
                return run_stages(stages, args)
            spec = lowered.out_info  # the next stage is traced on the abstract result
            pending.append(pool.submit(build, lowered, paths[i]))
        compiled = [f.result() for f in pending]
    for i, exe in enumerate(compiled, start=first):
        out = exe(*(args if i == 0 else (out,) + args))
    return {k: out[k] for k in order}


@contextlib.contextmanager
def _jax_cache_off():
    """Context in which JAX's persistent compilation cache is neither read nor written.

    The programs compiled in it are serialised (:func:`_save_executable`), and on XLA:CPU
    (jaxlib 0.10.2) an executable that was itself deserialised, as a persistent-cache hit is,
    serialises without some of its kernels: the file then fails in every later process with
    ``NOT_FOUND: Function <kernel> not found``. This happened whenever the saved file was
    missing but the cache held the program (another jaxlmg version with the same kernels, a
    test that used another directory for the files). The saved file is the cache for these
    programs, so the JAX cache would only hold a second copy."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache as cc

    was = bool(jax.config.jax_enable_compilation_cache)
    if was:
        jax.config.update("jax_enable_compilation_cache", False)
        cc.reset_cache()  # the cache's on/off decision is latched per process until reset
    try:
        yield
    finally:
        if was:
            jax.config.update("jax_enable_compilation_cache", True)
            cc.reset_cache()


def _compile(lowered, opts: dict):
    """Compile ``lowered`` with ``opts`` (XLA's defaults if refused)."""
    try:
        return lowered.compile(compiler_options=opts) if opts else lowered.compile()
    except Exception:  # noqa: BLE001 - options refused by this XLA: its defaults
        return lowered.compile()


def _compile_fresh(lowered, opts: dict):
    """Compile ``lowered`` with ``opts`` (XLA's defaults if refused) without JAX's persistent
    compilation cache (see :func:`_jax_cache_off`)."""
    with _jax_cache_off():
        return _compile(lowered, opts)


def _custom_calls(text: str) -> list:
    import re

    return sorted(set(re.findall(r"custom_call\s*@([A-Za-z0-9_.]+)", text)))


# --------------------------------------------------------- saved executables for the Python API

_DISK_JITS: list = []


def release_loaded() -> None:
    """Drop the executables :func:`disk_jit` functions hold in memory (with ``jax.clear_caches``:
    every loaded program holds memory maps, see :func:`jaxlmg.release_compiled_programs`)."""
    for f in _DISK_JITS:
        f._loaded.clear()


def disk_jit(name: str, static_argnames: tuple):
    """``jax.jit(fn, static_argnames=...)`` whose programs for concrete arguments are saved as
    executables (``jaxlmg-exported/<name>-<key>.xlaexe``, keyed like :func:`compiled_call` by the
    static arguments, the abstract values of the others and :func:`_fingerprint`), so that a later
    process loads them instead of tracing, lowering and compiling (or reading JAX's cache, which
    still traces and lowers). Dynamic arguments must be passed by position (static ones either
    way). Under a transformation (tracers among the arguments), with the cache or the saved
    executables switched off (``JAXLMG_NO_EXPORT=1``), or on any problem with a file, it is the
    plain jitted function, with the same program: the same XLA options (the defaults), so the
    same bits."""
    import inspect

    def wrap(fn):
        import jax

        jitted = jax.jit(fn, static_argnames=static_argnames)
        params = list(inspect.signature(fn).parameters.values())
        names = [p.name for p in params]
        n_dyn = sum(1 for n in names if n not in static_argnames)

        def split(args, kwargs):
            """(static values by name, dynamic arguments in order), or None: not supported."""
            if set(kwargs) - set(static_argnames) or len(args) > len(names):
                return None
            static = {n: v for n, v in zip(names, args) if n in static_argnames}
            static.update(kwargs)
            for p in params:
                if p.name in static_argnames and p.name not in static:
                    if p.default is inspect.Parameter.empty:
                        return None
                    static[p.name] = p.default
            dyn = [a for n, a in zip(names, args) if n not in static_argnames]
            return (static, dyn) if len(dyn) == n_dyn else None

        @functools.wraps(fn)
        def call(*args, **kwargs):
            if _ENABLED is None or os.environ.get("JAXLMG_NO_EXPORT", "").strip() not in ("", "0"):
                return jitted(*args, **kwargs)
            parts = split(args, kwargs)
            if parts is None:
                return jitted(*args, **kwargs)
            static, dyn = parts
            leaves, treedef = jax.tree_util.tree_flatten(dyn)
            if any(isinstance(x, jax.core.Tracer) for x in leaves):
                return jitted(*args, **kwargs)
            try:
                key = _disk_key(name, static, treedef, leaves)
            except Exception:  # noqa: BLE001 - an argument without an abstract value: as jitted
                return jitted(*args, **kwargs)
            compiled = call._loaded.get(key)
            if compiled is None:
                path = os.path.join(_ENABLED, "jaxlmg-exported", f"{name}-{key}")
                if os.path.exists(path + ".unsupported"):
                    call._loaded[key] = jitted
                    return jitted(*args, **kwargs)
                saved = _run_saved(path + ".xlaexe", dyn)
                if saved is not None:
                    call._loaded[key] = saved[0]
                    return saved[2]
                try:
                    lowered = jitted.lower(*args, **kwargs)
                    compiled = _compile_fresh(lowered, {})
                except Exception:  # noqa: BLE001 - cannot be lowered ahead of time: as jitted
                    return jitted(*args, **kwargs)
                _save_executable(path, compiled, _custom_calls(lowered.as_text()), [])
                call._loaded[key] = compiled
            return jitted(*args, **kwargs) if compiled is jitted else compiled(*dyn)

        call._loaded = {}
        call.jitted = jitted
        _DISK_JITS.append(call)
        return call

    return wrap


def _disk_key(name, static, treedef, leaves) -> str:
    import hashlib
    import json

    import jax

    body = json.dumps([name, sorted((k, repr(v)) for k, v in static.items()), str(treedef),
                       [str(jax.typeof(x)) for x in leaves], _fingerprint()])
    return hashlib.sha256(body.encode()).hexdigest()[:40]
