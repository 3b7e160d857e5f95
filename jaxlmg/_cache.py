"""Persistent XLA compilation cache for jaxlmg (on by default, in a per-user cache directory).

A one-point query spends ~90 % of its cold time compiling XLA programs; with the cache a
repeated query reads them back (W1 threshold at the paper point: ~12 s cold, ~1.4 s warm on
the loaded 2-core CPU). Where it lives, in order of precedence:

* ``JAXLMG_NO_CACHE=1`` (or ``JAXLMG_CACHE=0``): no persistent cache, nothing written to disk;
* ``JAXLMG_CACHE_DIR=/path``: that directory;
* a directory already configured in JAX (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``);
* otherwise ``$XDG_CACHE_HOME/jaxlmg/jax`` (default ``~/.cache/jaxlmg/jax``).

An unusable directory (read-only, not a directory) switches the cache off silently. Every
compilation is cached (``jax_persistent_cache_min_compile_time_secs = 0``): the small kernels
of a one-point query take longer to compile than to read back. Delete the directory
(``make clean-cache``, or ``make clean``) to clear it; it is only a cache.

History: with jaxlib 0.10 a cache write once crashed a test worker (two processes sharing
one directory) and a process hung. The hang was jaxlib's parallel batched LAPACK deadlock
(fixed by the ``NPROC`` guard of :mod:`jaxlmg._config`); after that guard, 3 rounds of 4
concurrent CLI queries and 8 sequential ones sharing one directory all finished, so the
cache is the default.
The test suite runs without it (``tests/conftest.py``), so every test compiles what it checks.
"""

from __future__ import annotations

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
    """Identifies the code an exported kernel came from: jaxlmg's sources, jax, jaxlib, backend."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        import hashlib

        import jax
        import jaxlib

        h = hashlib.sha256()
        pkg = os.path.dirname(os.path.abspath(__file__))
        for name in sorted(os.listdir(pkg)):
            if name.endswith(".py"):
                with open(os.path.join(pkg, name), "rb") as fh:
                    h.update(name.encode() + b"\0" + fh.read() + b"\0")
        h.update(f"{jax.__version__}|{jaxlib.__version__}|{jax.default_backend()}|"
                 f"{jax.config.jax_enable_x64}".encode())
        _FINGERPRINT = h.hexdigest()
    return _FINGERPRINT


def exported_call(name: str, static: dict, fn, *args) -> dict:
    """``fn(*args)`` through a serialised :mod:`jax.export` copy kept in the cache directory.

    ``fn`` maps float64 arrays to a dict of arrays; everything that changes its program
    (shapes, sizes, options) must be in ``static``. The first call traces, lowers and
    serialises ``fn`` (one XLA program instead of many small ones); later processes load
    it and skip tracing and lowering, and XLA's compiled code comes from the persistent
    cache. Any problem (cache off, ``flatbuffers`` missing, a function that cannot be
    exported, a damaged file) falls back to calling ``fn`` directly, with the same result.
    ``JAXLMG_NO_EXPORT=1`` switches this off.
    """
    import jax
    import numpy as np

    args = tuple(np.asarray(a, np.float64) for a in args)  # numpy: no conversion kernel to compile
    if _ENABLED is None or os.environ.get("JAXLMG_NO_EXPORT", "").strip() not in ("", "0"):
        return fn(*args)
    try:
        import hashlib
        import json

        import flatbuffers  # noqa: F401 - needed by jax.export serialisation
        from jax import export
    except ImportError:
        return fn(*args)
    body = json.dumps([name, static, [list(a.shape) for a in args], _fingerprint()], sort_keys=True, default=str)
    key = hashlib.sha256(body.encode()).hexdigest()[:40]
    folder = os.path.join(_ENABLED, "jaxlmg-exported")
    path = os.path.join(folder, f"{name}-{key}.jaxexport")
    if os.path.exists(path + ".unsupported"):
        return fn(*args)
    if os.path.exists(path):
        try:
            with open(path, "rb") as fh:
                exp = export.deserialize(bytearray(fh.read()))
            return exp.call(*args)
        except Exception:  # noqa: BLE001 - damaged or stale file: rebuild it below
            try:
                os.remove(path)
            except OSError:
                pass
    jitted = jax.jit(fn)
    try:
        import re

        text = jitted.lower(*args).as_text()
        targets = sorted(set(re.findall(r"custom_call\s*@([A-Za-z0-9_.]+)", text)))
        # the file is only read back by this jax/jaxlib on this backend (see _fingerprint),
        # so custom calls without cross-version guarantees are fine
        checks = [export.DisabledSafetyCheck.custom_call(t) for t in targets]
        exp = export.export(jitted, disabled_checks=checks)(*args)
        data = exp.serialize()
    except Exception:  # noqa: BLE001 - not exportable (e.g. not traceable): remember, run as is
        try:
            os.makedirs(folder, exist_ok=True)
            open(path + ".unsupported", "w").close()
        except OSError:
            pass
        return fn(*args)
    try:
        os.makedirs(folder, exist_ok=True)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except OSError:
        pass
    return exp.call(*args)
