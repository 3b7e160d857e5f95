"""Input validation shared by the public API (errors name the parameter and its range)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _describe_bad(name: str, arr: np.ndarray, bad: np.ndarray, rule: str) -> str:
    idx = np.argwhere(bad)[0]
    where = "" if arr.ndim == 0 else f" at index {tuple(int(i) for i in idx)}"
    value = arr[tuple(idx)] if arr.ndim else arr[()]
    return f"{name} must be {rule}; got {value!r}{where}"


def _is_bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return True
    dt = getattr(value, "dtype", None)
    if dt is not None:
        try:
            return np.dtype(dt) == np.bool_
        except TypeError:
            return False
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value).dtype == np.bool_
        except Exception:  # ragged lists: let the float conversion complain
            return False
    return False


def as_float_array(name: str, value: Any) -> np.ndarray:
    if _is_bool(value):
        raise ValueError(f"{name} must be a real number or array of real numbers, not a boolean; got {value!r}")
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:  # strings, objects
        raise ValueError(f"{name} must be a real number or array of real numbers; got {value!r}") from exc
    return arr


def invalid_real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
                 maximum: float | None = None, allow_inf: bool = False) -> tuple[np.ndarray, np.ndarray, str]:
    """Return (array, bad-mask, rule) for a real parameter with an allowed range."""
    arr = as_float_array(name, value)
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    rule = "not NaN" if allow_inf else "finite"
    if minimum is not None:
        bad |= (arr <= minimum) if strict else (arr < minimum)
        rule = f"finite and {'>' if strict else '>='} {minimum:g}"
    if maximum is not None:
        bad |= arr > maximum
        rule += f" and <= {maximum:g}"
    return arr, bad, rule


def check_real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
               maximum: float | None = None, allow_inf: bool = False) -> np.ndarray:
    arr, bad, rule = invalid_real(name, value, minimum=minimum, strict=strict, maximum=maximum, allow_inf=allow_inf)
    if np.any(bad):
        raise ValueError(_describe_bad(name, arr, bad, rule))
    return arr


#: Largest accepted n_spins: the Dicke dimension N+1 must fit comfortably in int64 and memory.
N_SPINS_MAX = 10**9


def invalid_n_spins(value: Any) -> tuple[np.ndarray, np.ndarray]:
    arr = as_float_array("n_spins", value)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(arr) | (arr < 1) | (np.round(arr) != arr) | (arr > N_SPINS_MAX)
    safe = np.where(bad, 1, arr).astype(np.int64)
    return safe, bad


N_SPINS_RULE = f"an integer in [1, {N_SPINS_MAX:.0e}]"


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


# ----------------------------------------------------------------------------------------
# Parameters that may be JAX tracers (jit/vmap/grad): concrete values are validated here
# (ValueError naming the parameter and its range); traced values cannot be inspected in
# Python, so they come back with a traced validity mask and the caller turns invalid
# points into NaN (plus Status.INVALID_INPUT where the result carries a status).
# ----------------------------------------------------------------------------------------


def is_traced(x: Any) -> bool:
    import jax

    return isinstance(x, jax.core.Tracer)


def real_arg(name: str, value: Any, *, minimum: float | None = None, strict: bool = False,
             maximum: float | None = None, strict_max: bool = False, allow_inf: bool = False):
    """``(x, ok)``: ``x`` a float64 array (numpy if concrete, jnp if traced); ``ok`` None
    (concrete, validated) or a traced bool mask.

    Concrete values outside the range raise ``ValueError``; traced values are returned
    together with the mask of points inside the range.
    """
    import jax.numpy as jnp

    if is_traced(value):
        if not (jnp.issubdtype(value.dtype, jnp.floating) or jnp.issubdtype(value.dtype, jnp.integer)):
            raise ValueError(f"{name} must be a real number or array of real numbers; got a traced {value.dtype}")
        x = jnp.asarray(value, jnp.float64)
        ok = ~jnp.isnan(x) if allow_inf else jnp.isfinite(x)
        if minimum is not None:
            ok = ok & ((x > minimum) if strict else (x >= minimum))
        if maximum is not None:
            ok = ok & ((x < maximum) if strict_max else (x <= maximum))
        return x, ok
    arr = check_real(name, value, minimum=minimum, strict=strict, maximum=maximum, allow_inf=allow_inf)
    if maximum is not None and strict_max and np.any(arr >= maximum):
        raise ValueError(_describe_bad(name, arr, arr >= maximum, f"< {maximum:g}"))
    return arr, None  # numpy: stays concrete (inspectable) even inside a jit trace


def count_arg(name: str, value: Any, *, minimum: int = 1):
    """``(x, ok)`` for an integer count (e.g. n_spins in a formula) that may be traced."""
    import jax.numpy as jnp

    if is_traced(value):
        x = jnp.asarray(value, jnp.float64)
        ok = jnp.isfinite(x) & (x >= minimum) & (jnp.round(x) == x)
        return x, ok
    arr = as_float_array(name, value)
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(arr) | (arr < minimum) | (np.round(arr) != arr) | (arr > N_SPINS_MAX)
    if np.any(bad):
        raise ValueError(_describe_bad(name, arr, bad, f"an integer in [{minimum}, {N_SPINS_MAX:.0e}]"))
    return arr, None


def all_ok(*oks):
    """Combine validity masks from :func:`real_arg` / :func:`count_arg` (None = all valid)."""
    out = None
    for ok in oks:
        if ok is None:
            continue
        out = ok if out is None else out & ok
    return out


def nan_unless(ok, value):
    """``value`` with NaN where ``ok`` is False (``ok`` None: unchanged)."""
    import jax.numpy as jnp

    if ok is None:
        return jnp.asarray(value)
    return jnp.where(ok, value, jnp.nan)


def safe(ok, x, fallback):
    """``x`` with ``fallback`` where invalid (keeps NaN out of the computation and its gradient)."""
    import jax.numpy as jnp

    if ok is None:
        return x
    return jnp.where(ok, x, fallback)
