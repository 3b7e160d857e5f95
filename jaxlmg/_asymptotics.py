r"""Semiclassical checks of the instanton law ΔE = C0 N^{1/2} e^{−N S_inst} from exact ΔE(N) up to N = 1e5.

Seed 001 §5 states ΔE(N) = C0 N^{1/2} e^{−N S_inst}, S_inst = arctanh(m*) − m*,
m* = sqrt(1 − Γ²/J²), and calibrates C0 on N ∈ [50, 500]. With the cancellation-free
splitting (:mod:`jaxlmg._splitting`) the exact ΔE(N) is available to N = 1e5, far
below float64 (as ``log_delta_e``), so the law can be *tested*:

* :func:`local_slope` — −d ln ΔE/dN (central difference over even N) and its distance
  to S_inst; the instanton law predicts −d ln ΔE/dN = S_inst − p/N with p = ½.
* :func:`prefactor_power` — fit ln ΔE + N S_inst = ln C0 + p ln N + a/N + b/N² over a
  window of large N; p should be ½.
* :func:`asymptotic_prefactor` — ln C0 from ln ΔE + N S − ½ ln N extrapolated in 1/N
  (polynomial in 1/N), with an uncertainty from the spread between windows and orders.
* :func:`exact_crossover` — the N_c with ΔE(N_c) = k_B T from exact ΔE (even N, linear
  interpolation of ln ΔE between neighbours, plus the integer bracket).
* :func:`table1_check` — Table 1 rows: instanton root with the paper's C0 and with the
  asymptotic C0, next to the exact N_c.
* :func:`figure_data` — ln ΔE vs N, 10 ≤ N ≤ 1e5, exact next to the instanton law with
  the asymptotic C0 (and with the paper's C0) for Γ/J = 0.99, 0.95, 0.90.

Everything works with even N (the paper's convention); energies in units of J.
Plain numpy/scipy on top of :func:`jaxlmg.spectrum` (not traceable).
"""

from __future__ import annotations

import numpy as np

from ._config import ensure_x64
from ._units import BEC, BECUnits
from ._validate import check_real

#: Seed 001 Table 1: Γ/J → (C0/k_BT, instanton root N_c).
TABLE1 = {0.99: (2.51, 5520.5), 0.95: (2.546, 359.4), 0.90: (2.616, 105.3)}


def _s_inst(field):
    m = np.sqrt(1.0 - field**2)
    return float(np.arctanh(m) - m)


def _check_field(field):
    f = float(check_real("field", field, minimum=0.0, strict=True))
    if f >= 1.0:
        raise ValueError(f"field must be in the ordered phase 0 < field < 1; got {f!r}")
    return f


#: Batch sizes of the spectrum calls of :func:`log_delta_e` (powers of four, at most 64 points).
_BATCHES = (1, 4, 16, 64)


def log_delta_e(n_spins, field) -> np.ndarray:
    """Exact ln ΔE(N) (units of J) for an array of N at one field.

    One spectrum call per octave of N (``bucket="octave"``) and chunk of at most 64 N, padded
    (repeating its last N) to 1, 4, 16 or 64 points: the sparse large-N scans of this module (a
    few N per bucket, in many calls) then compile one kernel per octave and batch size of those
    four, not per half octave and every power of two (the report's N = 1e5 semiclassics, 2-core
    CPU, empty cache: 29 spectrum kernels and 89 s instead of 55 and 132 s; warm 18.7 s instead
    of 15.8 s). A point's ΔE does not depend on its batch or its padding (bitwise)."""
    ensure_x64()
    from ._spectrum import _bucket_size, spectrum

    n = np.atleast_1d(np.asarray(n_spins, dtype=np.int64))
    out = np.empty(n.shape, np.float64)
    flat = n.reshape(-1)
    res = out.reshape(-1)
    order = np.argsort(flat, kind="stable")
    dims = np.array([_bucket_size(int(x) + 1, octave=True) for x in flat[order]])
    for dim in np.unique(dims):
        grp = order[dims == dim]
        for i in range(0, grp.size, _BATCHES[-1]):
            sel = grp[i:i + _BATCHES[-1]]
            size = next(b for b in _BATCHES if b >= sel.size)
            pts = np.concatenate([flat[sel], np.full(size - sel.size, flat[sel[-1]])])
            s = spectrum(pts, float(field), levels=1, bucket="octave")
            res[sel] = np.asarray(s.log_delta_e)[:sel.size]
    return out


def even_grid(n_min: int, n_max: int, points: int) -> np.ndarray:
    """About ``points`` log-spaced even N in [n_min, n_max] (unique, sorted)."""
    g = np.unique((np.geomspace(n_min, n_max, points) / 2).round().astype(np.int64) * 2)
    return g[(g >= n_min) & (g <= n_max)]


def local_slope(field, n_spins) -> dict:
    r"""−d ln ΔE/dN at the given even N (central difference over N ± 2).

    Returns a dict with ``n_spins``, ``slope``, ``s_inst``, ``deviation`` = slope − S_inst
    and ``n_times_deviation`` = N·(slope − S_inst) (→ −½ if the prefactor is N^{1/2}).
    """
    f = _check_field(field)
    n = np.atleast_1d(np.asarray(n_spins, np.int64))
    n = n + (n % 2)
    both = log_delta_e(np.concatenate([n + 2, n - 2]), f)  # one scan: shared kernels
    lp, lm = both[:n.size], both[n.size:]
    slope = -(lp - lm) / 4.0
    s = _s_inst(f)
    dev = slope - s
    return dict(n_spins=n, slope=slope, s_inst=s, deviation=dev, n_times_deviation=n * dev)


def _fit(x_cols, y):
    a = np.stack(x_cols, axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    return coef


def prefactor_power(field, *, n_min: int = 2000, n_max: int = 100000, points: int = 24) -> dict:
    r"""Fit y = ln ΔE + N S_inst = ln C0 + p ln N + a/N + b/N² on even N ∈ [n_min, n_max].

    Returns ``power`` p, ``power_err`` (spread between the fit with and without the
    1/N² term and on the upper half of the window), ``ln_c0``.
    """
    f = _check_field(field)
    n = even_grid(n_min, n_max, points).astype(np.float64)
    y = log_delta_e(n, f) + n * _s_inst(f)
    fits = []
    for nn, yy in ((n, y), (n[n.size // 2:], y[n.size // 2:])):
        fits.append(_fit([np.ones_like(nn), np.log(nn), 1 / nn, 1 / nn**2], yy))
        fits.append(_fit([np.ones_like(nn), np.log(nn), 1 / nn], yy))
    p = np.array([c[1] for c in fits])
    return dict(field=f, power=float(p[0]), power_err=float(np.max(np.abs(p - p[0]))),
                ln_c0=float(fits[0][0]), n_range=(int(n[0]), int(n[-1])))


def asymptotic_prefactor(field, *, n_min: int = 2000, n_max: int = 100000, points: int = 24) -> dict:
    r"""Asymptotic C0 (units of J) with p = ½ fixed: ln C0 = lim_{N→∞} [ln ΔE + N S − ½ ln N].

    Extrapolation by least squares in 1/N (orders 2 and 3) on two windows; the
    uncertainty is the largest difference between those four estimates. Also returns
    C0/k_BT at 10 nK in the papers' BEC units.
    """
    f = _check_field(field)
    n = even_grid(n_min, n_max, points).astype(np.float64)
    y = log_delta_e(n, f) + n * _s_inst(f) - 0.5 * np.log(n)
    est = []
    for nn, yy in ((n, y), (n[n.size // 2:], y[n.size // 2:])):
        for order in (2, 3):
            est.append(_fit([nn ** -i for i in range(order + 1)], yy)[0])
    est = np.array(est)
    ln_c0 = float(est[0])
    err = float(np.max(np.abs(est - ln_c0)))
    kt = float(BEC.kt_natural(10.0))
    return dict(field=f, ln_c0=ln_c0, ln_c0_err=err, c0=float(np.exp(ln_c0)), c0_rel_err=float(np.expm1(err)),
                c0_over_kt=float(np.exp(ln_c0) / kt), y_at_nmax=float(y[-1]), n_range=(int(n[0]), int(n[-1])))


def exact_crossover(field, *, temperature_nk: float = 10.0, units: BECUnits = BEC, n_max: int = 100000) -> dict:
    r"""Exact N_c with ΔE(N_c) = k_B T: the even-N bracket and a continuous estimate
    (linear interpolation of ln ΔE between the bracketing even N)."""
    f = _check_field(field)
    ln_kt = float(np.log(units.kt_natural(temperature_nk)))
    lo, hi = 2, n_max - (n_max % 2)
    llo, lhi = log_delta_e([lo, hi], f)
    if not (llo >= ln_kt > lhi):
        return dict(field=f, n_c=np.nan, n_lower=-1, n_upper=-1)
    while hi - lo > 2:
        cand = np.unique((np.linspace(lo, hi, 18) / 2).round().astype(np.int64) * 2)
        vals = log_delta_e(cand, f)
        above = np.nonzero(vals >= ln_kt)[0]
        j = int(above[-1])
        lo, hi, llo, lhi = int(cand[j]), int(cand[j + 1]), float(vals[j]), float(vals[j + 1])
    n_c = lo + (hi - lo) * (llo - ln_kt) / (llo - lhi)
    return dict(field=f, n_c=float(n_c), n_lower=lo, n_upper=hi, ln_ratio_lower=llo - ln_kt, ln_ratio_upper=lhi - ln_kt)


def instanton_root(field, c0_over_kt) -> float:
    """Large root of (C0/k_BT) N^{1/2} e^{−N S} = 1 (Lambert W, lower branch)."""
    from scipy.special import lambertw

    s = _s_inst(float(field))
    z = -2.0 * s * np.exp(-2.0 * np.log(c0_over_kt))
    if z < -np.exp(-1.0):
        return float("nan")
    return float(-lambertw(z, k=-1).real / (2.0 * s))


def table1_check(fields=(0.99, 0.95, 0.90), **kw) -> list[dict]:
    """Table 1 rows: paper's C0/k_BT and root, asymptotic C0/k_BT and its root (with
    the root's range from the C0 uncertainty), and the exact N_c."""
    rows = []
    for f in fields:
        c0p, rootp = TABLE1.get(round(float(f), 2), (np.nan, np.nan))
        a = asymptotic_prefactor(f, **kw)
        r = instanton_root(f, a["c0_over_kt"])
        r_lo = instanton_root(f, a["c0_over_kt"] * np.exp(-a["ln_c0_err"]))
        r_hi = instanton_root(f, a["c0_over_kt"] * np.exp(a["ln_c0_err"]))
        ex = exact_crossover(f)
        rows.append(dict(field=float(f), s_inst=_s_inst(f), c0_over_kt_paper=c0p, root_paper=rootp,
                         root_paper_recomputed=instanton_root(f, c0p) if np.isfinite(c0p) else np.nan,
                         c0_over_kt_asymptotic=a["c0_over_kt"], c0_rel_err=a["c0_rel_err"],
                         root_asymptotic=r, root_asymptotic_range=(r_lo, r_hi), n_c_exact=ex["n_c"],
                         n_c_bracket=(ex["n_lower"], ex["n_upper"])))
    return rows


def figure_data(fields=(0.99, 0.95, 0.90), *, n_min: int = 10, n_max: int = 100000, points: int = 60) -> dict:
    """ln ΔE vs N (even N, log-spaced) for each field: exact, instanton law with the
    asymptotic C0 and with the paper's C0 (units of J). Keys: field → dict(n, exact,
    instanton_asymptotic, instanton_paper, ln_kt)."""
    out = {}
    n = even_grid(n_min, n_max, points)
    ln_kt = float(np.log(BEC.kt_natural(10.0)))
    for f in fields:
        f = _check_field(f)
        s = _s_inst(f)
        ex = log_delta_e(n, f)
        a = asymptotic_prefactor(f)
        law = lambda ln_c0: ln_c0 + 0.5 * np.log(n) - n * s
        c0p = TABLE1.get(round(f, 2), (np.nan,))[0]
        out[f] = dict(n=n, exact=ex, instanton_asymptotic=law(a["ln_c0"]),
                      instanton_paper=law(np.log(c0p) + ln_kt), ln_kt=ln_kt)
    return out
