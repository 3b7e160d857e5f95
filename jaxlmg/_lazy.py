"""Lazy re-exports for jaxlmg's packages: a name's module is imported on first use."""

from __future__ import annotations

import importlib


def lazy_exports(package: str, table: dict[str, tuple[str, ...]], namespace: dict,
                 subpackages: tuple[str, ...] = ()):
    """Return (__getattr__, __dir__, __all__) that import ``table``'s modules on first use.

    ``table`` maps a module path relative to ``package`` (e.g. ``"._spectrum"``) to the names
    it exports; ``subpackages`` are imported as attributes (``jaxlmg.cats``). The resolved value is cached in ``namespace`` (the package's globals), so
    later look-ups do not go through ``__getattr__``.
    """
    where = {name: mod for mod, names in table.items() for name in names}

    def __getattr__(name: str):
        mod = where.get(name)
        if mod is None and name in subpackages:
            value = importlib.import_module("." + name, package)
        elif mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        else:
            value = getattr(importlib.import_module(mod, package), name)
        namespace[name] = value
        return value

    def __dir__():
        return sorted(set(namespace) | set(where) | set(subpackages))

    return __getattr__, __dir__, sorted(where)
