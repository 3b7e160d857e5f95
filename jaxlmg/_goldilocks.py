r"""The Goldilocks crossover ΔE(N) = k_BT (seed 001 §5, Appendix I N-scan).

``goldilocks_scan`` evaluates the exact tunnel splitting on a grid of N in one batched
:func:`jaxlmg.spectrum` call; ``goldilocks_crossover`` finds the integer N where ΔE(N)
crosses k_BT by a batched bracketing search (a few spectrum calls of fixed shape, so
one compilation).

Seed 001 Appendix I (Γ/J = 0.95): ΔE = 4754.1, 3338.5, 2298.5, 1545.5, 1015.6 rad/s for
N = 200, 250, 300, 350, 400, and N_c = 370 at T = 10 nK (ΔE(370) = 1310 rad/s).
"""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._status import Status
from ._units import BEC, BECUnits
from ._validate import check_n_spins, check_real, real_arg


class GoldilocksScan(eqx.Module):
    """ΔE(N) against k_BT on a grid (shapes broadcast of n_spins and field)."""

    n_spins: Int[Array, "*S"]
    field: Float[Array, "*S"]
    delta_e: Float[Array, "*S"]  # units of J
    delta_e_rad_s: Float[Array, "*S"]
    ratio: Float[Array, "*S"]  # ΔE / k_BT
    kt_rad_s: Float[Array, ""]
    status: Int[Array, "*S"]


def _int_arg(name, value, minimum):
    v = check_real(name, value, minimum=minimum)
    if v.ndim != 0 or v != np.round(v):
        raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(v)


def _kt(temperature_nk, units):
    t = float(check_real("temperature_nk", temperature_nk, minimum=0.0, strict=True))
    if not isinstance(units, BECUnits):
        raise ValueError(f"units must be a jaxlmg.BECUnits instance; got {units!r}")
    return t, float(units.kt_rad_s(t)), float(units.kt_natural(t))


def goldilocks_scan(n_spins_array, field, *, temperature_nk=10.0, units: BECUnits = BEC) -> GoldilocksScan:
    r"""Exact ΔE(N) in rad/s and ΔE/k_BT for every N (seed 001 §5, Appendix I).

    Parameters
    ----------
    n_spins_array : int array
        N ≥ 2 (concrete).
    field : float or array
        Γ/J > 0 (may be traced; invalid traced values give NaN + INVALID_INPUT).
    temperature_nk : float
        T > 0 in nK (scalar, may be traced).
    units : BECUnits
        Coupling J in rad/s.

    One batched :func:`jaxlmg.spectrum` call (two levels, parity blocks) over the whole
    grid; ``n_spins_array`` and ``field`` broadcast. Points whose splitting is
    not resolved in float64 are NaN with ``status == Status.UNRESOLVED``.
    """
    ensure_x64()
    from ._spectrum import spectrum

    n = check_n_spins(n_spins_array)
    if np.any(n < 2):
        raise ValueError(f"n_spins must be >= 2 for a tunnel doublet; got {int(n.min())}")
    f, ok_f = real_arg("field", field, minimum=0.0, strict=True)
    if not isinstance(units, BECUnits):
        raise ValueError(f"units must be a jaxlmg.BECUnits instance; got {units!r}")
    t, ok_t = real_arg("temperature_nk", temperature_nk, minimum=0.0, strict=True)
    if jnp.ndim(t) != 0:
        raise ValueError(f"temperature_nk must be a scalar; got shape {jnp.shape(t)}")
    ok = ok_f if ok_t is None else (ok_t if ok_f is None else ok_f & ok_t)
    if ok is not None:
        f = jnp.where(ok, f, 0.5)
        t = jnp.where(ok_t, t, 1.0) if ok_t is not None else t
    kt_rad = units.kt_rad_s(t)
    kt_nat = units.kt_natural(t)
    spec = spectrum(n, f, levels=2, bucket=False)
    de = spec.delta_e
    status = spec.status
    field_out = spec.field
    if ok is not None:
        okb = jnp.broadcast_to(ok, status.shape)
        status = jnp.where(okb, status, int(Status.INVALID_INPUT)).astype(jnp.int32)
        de = jnp.where(okb, de, jnp.nan)
        field_out = jnp.broadcast_to(jnp.asarray(field, jnp.float64), status.shape)
        kt_rad = jnp.where(ok_t, kt_rad, jnp.nan) if ok_t is not None else kt_rad
    return GoldilocksScan(
        n_spins=spec.n_spins, field=field_out, delta_e=de, delta_e_rad_s=units.energy_to_rad_s(de),
        ratio=de / kt_nat, kt_rad_s=jnp.asarray(kt_rad), status=status,
    )


class GoldilocksCrossover(eqx.Module):
    """Integer crossover ΔE(N_c) ≈ k_BT with its bracket (N_lower: ΔE ≥ k_BT, N_upper: ΔE < k_BT)."""

    n_c: int
    n_lower: int
    n_upper: int
    ratio_lower: float  # ΔE/k_BT at n_lower (≥ 1)
    ratio_upper: float  # ΔE/k_BT at n_upper (< 1)
    delta_e_rad_s_lower: float
    delta_e_rad_s_upper: float
    kt_rad_s: float
    field: float
    status: int

    @property
    def ratio(self) -> float:
        return self.ratio_lower if self.n_c == self.n_lower else self.ratio_upper


def goldilocks_crossover(field: float, *, temperature_nk: float = 10.0, units: BECUnits = BEC, n_max: int = 6000,
                         even_only: bool = True, points_per_round: int = 16) -> GoldilocksCrossover:
    # Not traceable by design: the answer is an integer N (piecewise constant in field and
    # temperature), found by an adaptive bracketing search over concrete values.
    r"""The integer N where the exact ΔE(N) crosses k_BT (seed 001 §5: N_c = 370 at Γ/J = 0.95).

    ΔE(N) decreases with N in the ordered phase. The search evaluates
    ``points_per_round`` candidates per round in one batched spectrum call (padded to
    ``n_max`` so every round reuses one compiled kernel) and narrows the bracket
    [N_lower, N_upper] with ΔE(N_lower) ≥ k_BT > ΔE(N_upper) to adjacent candidates
    (even N by default, as in the paper). ``n_c`` is the bracket end whose ΔE/k_BT is
    closest to 1. If there is no crossing in [2, n_max] the status is
    ``Status.NOT_BRACKETED`` and n_c = -1.
    """
    ensure_x64()
    from ._spectrum import spectrum

    f = float(check_real("field", field, minimum=0.0, strict=True))
    _, kt_rad, kt_nat = _kt(temperature_nk, units)
    n_max = _int_arg("n_max", n_max, 4)
    k = _int_arg("points_per_round", points_per_round, 2)
    if not isinstance(even_only, (bool, np.bool_)):
        raise ValueError(f"even_only must be True or False; got {even_only!r}")
    cand = np.arange(2, n_max + 1, 2 if even_only else 1)
    pad_to = int(cand[-1])

    def ratios(idx):
        idx = np.asarray(idx)
        ns = np.concatenate([cand[idx], np.full(k + 2 - idx.size, pad_to)])
        de = np.asarray(spectrum(ns, f, levels=2, bucket=False).delta_e)[: idx.size]
        return np.where(np.isfinite(de), de / kt_nat, 0.0)  # unresolved = far below k_BT

    lo, hi = 0, cand.size - 1
    r_lo, r_hi = ratios([lo, hi])
    if not (r_lo >= 1.0 > r_hi):
        return GoldilocksCrossover(-1, int(cand[lo]), int(cand[hi]), float(r_lo), float(r_hi),
                                   float(r_lo * kt_rad), float(r_hi * kt_rad), kt_rad, f, int(Status.NOT_BRACKETED))
    while hi - lo > 1:
        idx = np.unique(np.linspace(lo, hi, min(k + 2, hi - lo + 1)).round().astype(int))
        r = ratios(idx)
        above = np.nonzero(r >= 1.0)[0]
        j = int(above[-1])
        lo, hi = int(idx[j]), int(idx[j + 1])
        r_lo, r_hi = float(r[j]), float(r[j + 1])
    n_lo, n_hi = int(cand[lo]), int(cand[hi])
    n_c = n_lo if abs(r_lo - 1.0) <= abs(r_hi - 1.0) else n_hi
    return GoldilocksCrossover(n_c, n_lo, n_hi, r_lo, r_hi, r_lo * kt_rad, r_hi * kt_rad, kt_rad, f, int(Status.OK))


__all__ = ["GoldilocksCrossover", "GoldilocksScan", "goldilocks_crossover", "goldilocks_scan"]
