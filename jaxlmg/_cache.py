"""Persistent XLA compilation cache for jaxlmg (on by default, in a per-user cache directory).

Where it lives, in order of precedence:

* ``JAXLMG_NO_CACHE=1``: no persistent cache (nothing is written to disk);
* ``JAXLMG_CACHE_DIR=/path``: that directory;
* a directory already configured in JAX (``JAX_COMPILATION_CACHE_DIR`` or
  ``jax.config.update("jax_compilation_cache_dir", ...)``) is left as it is;
* otherwise ``$XDG_CACHE_HOME/jaxlmg/jax`` (default ``~/.cache/jaxlmg/jax``).

Every compilation is cached (``jax_persistent_cache_min_compile_time_secs = 0``): the small
kernels of a one-point query take longer to compile than to read back. Delete the
directory (``make clean-cache``, or ``make clean``) to clear it; it is only a cache.
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


def cache_disabled() -> bool:
    return os.environ.get("JAXLMG_NO_CACHE", "").strip().lower() not in ("", "0", "false", "no")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache; returns its directory (None when off).

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
