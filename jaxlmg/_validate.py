"""Input validation shared by the public API (errors name the parameter and its range)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _describe_bad(name: str, arr: np.ndarray, bad: np.ndarray, rule: str) -> str:
    idx = np.argwhere(bad)[0]
    where = "" if arr.ndim == 0 else f" at index {tuple(int(i) for i in idx)}"
    value = arr[tuple(idx)] if arr.ndim else arr[()]
    return f"{name} must be {rule}; got {value!r}{where}"


def as_float_array(name: str, value: Any) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # strings, objects
        raise ValueError(f"{name} must be a real number or array of real numbers; got {value!r}") from exc
    return arr


def invalid_real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (array, bad-mask, rule) for a real parameter with an allowed range."""
    arr = as_float_array(name, value)
    bad = ~np.isfinite(arr)
    rule = "finite"
    if minimum is not None:
        bad |= (arr <= minimum) if strict else (arr < minimum)
        rule = f"finite and {'>' if strict else '>='} {minimum:g}"
    if maximum is not None:
        bad |= arr > maximum
        rule += f" and <= {maximum:g}"
    return arr, bad, rule


def check_real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
               maximum: float | None = None) -> np.ndarray:
    arr, bad, rule = invalid_real(name, value, minimum=minimum, strict=strict, maximum=maximum)
    if np.any(bad):
        raise ValueError(_describe_bad(name, arr, bad, rule))
    return arr


def invalid_n_spins(value: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = as_float_array("n_spins", value)
    bad = ~np.isfinite(arr) | (arr < 1) | (np.round(arr) != arr)
    safe = np.where(bad, 1, arr).astype(np.int64)
    return safe, bad


N_SPINS_RULE = "an integer >= 1"


def check_n_spins(value: Any) -> np.ndarray:
    arr = as_float_array("n_spins", value)
    safe, bad = invalid_n_spins(arr)
    if np.any(bad):
        raise ValueError(_describe_bad("n_spins", arr, bad, N_SPINS_RULE))
    return safe


def check_levels(levels: Any, n_max_allowed: int, *, minimum: int = 1, name: str = "levels") -> int:
    """``levels`` is a static integer in [minimum, N+1] (N the smallest N of the batch)."""
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)):
        try:
            f = float(levels)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be an integer in [{minimum}, {n_max_allowed}]; got {levels!r}") from None
        if not np.isfinite(f) or f != round(f):
            raise ValueError(f"{name} must be an integer in [{minimum}, {n_max_allowed}]; got {levels!r}")
        levels = int(f)
    levels = int(levels)
    if levels < minimum or levels > n_max_allowed:
        raise ValueError(
            f"{name} must be an integer in [{minimum}, N+1] = [{minimum}, {n_max_allowed}] "
            f"for this n_spins; got {levels}"
        )
    return levels


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}; got {value!r}")
    return value


def check_on_invalid(value: Any) -> str:
    return check_choice("on_invalid", value, ("raise", "mask"))
