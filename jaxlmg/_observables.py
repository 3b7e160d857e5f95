r"""Observables from the spectrum: matrix elements, doublet rate factors, susceptibility.

Definitions (seed 000 Eqs. 1–2, 10–12, 19, 25; seed 001 §2, §7.3):

* ΔE = E1 - E0 (lowest odd minus lowest even level at h = 0)
* G01 = ½(⟨E0|Jz²|E0⟩ + ⟨E1|Jz²|E1⟩), J01 = |⟨E0|Jz|E1⟩|, Gloc = (N m*)²/2
* ηMF = Gloc/G01, ηexact = 1 + J01²/G01, ηquantum = (N m*/2)²/G01 (ηMF = 2 ηquantum)
* Q01 = |⟨E0|sgn Jz|E1⟩|, p0 = |⟨m=0|E0⟩|²
* leakage of E_i = 1 - J01²/⟨E_i|Jz²|E_i⟩ (weight of ⟨E_i|Jz²|E_i⟩ outside the doublet)
* secular parameter 2ΔE·T2 with T2 = 1/(γφ G01)
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from ._config import ensure_x64
from ._spectrum import Spectrum, spectrum
from ._status import Status
from ._validate import (N_SPINS_RULE, _describe_bad, as_float_array, check_n_spins, check_on_invalid, check_real,
                        invalid_n_spins, invalid_real, is_traced, nan_unless, real_arg, safe, all_ok)

OPERATORS = ("jz", "jz2", "q", "jx", "jx2", "jplus", "jminus", "parity")


def _ladder_padded(spec: Spectrum):
    """c_i = ⟨m_i+1|J+|m_i⟩ on the padded grid (0 beyond the last state)."""
    n = spec.n_spins[..., None].astype(jnp.float64)
    j = n / 2.0
    m = spec.m
    c = jnp.sqrt(jnp.maximum(j * (j + 1.0) - m * (m + 1.0), 0.0))
    nxt = jnp.concatenate([spec.mask[..., 1:], jnp.zeros_like(spec.mask[..., :1])], axis=-1)
    return jnp.where(spec.mask & nxt, c, 0.0)


def apply_operator(spec: Spectrum, name: str, *, sgn0: float = 0.0):
    """A|v_k⟩ for every level k (shape ``*S d k``), A one of ``OPERATORS``."""
    v = spec.vectors
    m = spec.m[..., None]
    if name == "jz":
        return m * v
    if name == "jz2":
        return m**2 * v
    if name == "q":
        q = jnp.where(m == 0, sgn0, jnp.sign(m))
        return jnp.where(spec.mask[..., None], q, 0.0) * v
    if name == "parity":
        # Π|m⟩ = |-m⟩: reverse the valid part of the vector.
        n = spec.n_spins
        d = v.shape[-2]
        idx = jnp.arange(d)
        src = jnp.where(idx <= n[..., None], n[..., None] - idx, idx)
        return jnp.take_along_axis(v, src[..., None], axis=-2) * spec.mask[..., None]
    c = _ladder_padded(spec)[..., None]
    up = jnp.concatenate([jnp.zeros_like(v[..., :1, :]), (c * v)[..., :-1, :]], axis=-2)  # J+ v
    down = jnp.concatenate([c[..., :-1, :] * v[..., 1:, :], jnp.zeros_like(v[..., :1, :])], axis=-2)  # J- v
    if name == "jplus":
        return up
    if name == "jminus":
        return down
    if name == "jx":
        return 0.5 * (up + down)
    if name == "jx2":
        sub = spec.__class__(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "vectors": 0.5 * (up + down)})
        return apply_operator(sub, "jx")
    raise ValueError(f"operator must be one of {', '.join(OPERATORS)}; got {name!r}")


def matrix_elements(spec: Spectrum, operator: str = "jz", *, sgn0=0.0) -> Float[Array, "*S k k"]:
    """⟨E_i|A|E_j⟩ between the computed levels (real: the LMG eigenvectors are real).

    Parameters
    ----------
    spec : Spectrum
        From :func:`jaxlmg.spectrum` (any batch shape; NaN rows at failed points stay NaN).
    operator : str
        One of ``OPERATORS`` ("jz", "jz2", "q", "jx", "jx2", "jplus", "jminus", "parity").
    sgn0 : float
        Value of sgn(0) for ``operator="q"`` (may be traced).
    """
    ensure_x64()
    if not isinstance(spec, Spectrum):
        raise ValueError(f"spec must be a jaxlmg.Spectrum (from jaxlmg.spectrum); got {type(spec).__name__}")
    if operator not in OPERATORS:
        raise ValueError(f"operator must be one of {', '.join(OPERATORS)}; got {operator!r}")
    s0, ok = real_arg("sgn0", sgn0)
    return nan_unless(ok, _matrix_elements(spec, operator, s0))


@eqx.filter_jit
def _matrix_elements(spec, operator, sgn0):
    av = apply_operator(spec, operator, sgn0=sgn0)
    return jnp.einsum("...di,...dj->...ij", spec.vectors, av)


def _scaled_spectrum(n_spins, field, *, bias=0.0, levels, coupling, on_invalid="raise"):
    """Spectrum at unit coupling (H = J·H(Γ/J, h/J; 1)): lets ``coupling`` be traced.

    Returns ``(spec, c)``; energies of ``spec`` are in units of J and must be multiplied by c."""
    c, ok_c = real_arg("coupling", coupling, minimum=0.0, strict=True)
    if c.ndim != 0:
        raise ValueError(f"coupling must be a scalar; got shape {c.shape}")
    cs = safe(ok_c, c, 1.0)
    spec = spectrum(n_spins, _div(field, cs), bias=_div(bias, cs), levels=levels, on_invalid=on_invalid)
    return spec, cs, ok_c


def _div(x, c):
    """x / c, kept a numpy array where x and c are concrete (so that spectrum validates it).

    A concrete x that is exactly 0 stays a concrete 0 also for a traced c: a zero ``bias``
    must remain visibly zero so that spectrum keeps its parity-block (h = 0) path."""
    if is_traced(x):
        return x / c
    if isinstance(x, (str, bytes, bool, np.bool_)) or x is None:
        return x  # not a number: spectrum names the parameter
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        return x
    if arr.dtype == np.bool_ or np.asarray(x).dtype == np.bool_:
        return x
    if is_traced(c):
        return x if np.all(arr == 0.0) else arr / c
    return arr / float(c)


def truncated_operators(n_spins, field, levels: int, *, bias=0.0, coupling=1.0, sgn0=0.0,
                        on_invalid: str = "raise"):
    """Energies, Jz and Q = sgn(Jz) projected on the lowest ``levels`` eigenstates.

    Returns ``(energies, jz, q, jz2_full, status)`` with shapes ``*S n``, ``*S n n``,
    ``*S n n``, ``*S n`` and ``*S``; ``jz2_full`` holds the exact full-space
    ⟨E_i|Jz²|E_i⟩ (not the truncated (PJzP)²). ``field``, ``bias``, ``coupling`` and
    ``sgn0`` may be traced; parameters as in :func:`jaxlmg.spectrum`.
    """
    ensure_x64()
    spec, c, ok_c = _scaled_spectrum(n_spins, field, bias=bias, levels=levels, coupling=coupling,
                                     on_invalid=on_invalid)
    jzm = matrix_elements(spec, "jz")
    qm = matrix_elements(spec, "q", sgn0=sgn0)
    jz2 = jnp.einsum("...di,...d,...di->...i", spec.vectors, spec.m**2, spec.vectors)
    status = spec.status
    if ok_c is not None:
        status = jnp.where(ok_c, status, int(Status.INVALID_INPUT))
        jzm, qm, jz2 = (nan_unless(ok_c, a) for a in (jzm, qm, jz2))
    return nan_unless(ok_c, spec.energies * c), jzm, qm, jz2, status


class DoubletFactors(eqx.Module):
    """Ground-doublet quantities of seed 000 / seed 001 (dimensionless, energies in J)."""

    delta_e: Float[Array, "*S"]
    gap_ratio_20: Float[Array, "*S"]  # (E2 - E0)/ΔE
    gap_ratio_21: Float[Array, "*S"]  # (E2 - E1)/(E1 - E0)
    jz2_e0: Float[Array, "*S"]
    jz2_e1: Float[Array, "*S"]
    g01: Float[Array, "*S"]
    j01: Float[Array, "*S"]
    g_loc: Float[Array, "*S"]
    eta_mf: Float[Array, "*S"]
    eta_exact: Float[Array, "*S"]
    eta_quantum: Float[Array, "*S"]
    q01: Float[Array, "*S"]
    p0: Float[Array, "*S"]
    leakage_e0: Float[Array, "*S"]
    leakage_e1: Float[Array, "*S"]
    m_star: Float[Array, "*S"]
    secular: Float[Array, "*S"]  # 2ΔE·T2 at the given dephasing (NaN if none given)
    status: Int[Array, "*S"]

    def as_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)) for k in self.__dataclass_fields__}


def _masked_real(name, value, on_invalid, **rule):
    """(values with invalid points replaced by a safe 1.0, bad mask) for a batch parameter.

    Concrete values raise (``on_invalid="raise"``) or are masked; traced values cannot be
    inspected in Python and are always masked."""
    if is_traced(value):
        x, ok = real_arg(name, value, **rule)
        return jnp.where(ok, x, 1.0), ~ok
    if on_invalid == "raise":
        return jnp.asarray(check_real(name, value, **rule)), np.zeros(np.shape(value), bool)
    arr, bad, _ = invalid_real(name, value, **rule)
    return jnp.asarray(np.where(bad, 1.0, arr)), bad


def doublet_factors(n_spins, field, *, dephasing=None, coupling=1.0, on_invalid: str = "raise") -> DoubletFactors:
    """Tunnel splitting and the basis-dependent dephasing factors of the ground doublet.

    Parameters
    ----------
    n_spins : int or int array
        N ≥ 1 (concrete: sets shapes).
    field : float or array
        Γ ≥ 0 (same unit as ``coupling``). May be traced (jit/vmap/grad/jvp).
    dephasing : float or array, optional
        γφ > 0 (units of J); only enters the secular parameter 2ΔE·T2 = 2ΔE/(γφ G01)
        (NaN if not given). May be traced.
    coupling : float
        J > 0 (scalar, may be traced).
    on_invalid : {"raise", "mask"}
        Invalid concrete inputs raise ``ValueError`` or give NaN with status
        INVALID_INPUT. Invalid *traced* inputs always give NaN + INVALID_INPUT.

    Every point is computed independently of the rest of its batch. Every field is NaN
    where ``status`` is not OK (INVALID_INPUT, or UNRESOLVED where ΔE is not resolved in
    float64 — at h = 0 not observed for Γ ≥ 0, see :func:`jaxlmg.spectrum`). Gap ratios
    need a third level: NaN for N = 1 (status OK: the doublet itself is fine).
    """
    ensure_x64()
    check_on_invalid(on_invalid)
    n_arr, n_bad = invalid_n_spins(n_spins)
    if on_invalid == "raise" and np.any(n_bad):
        raise ValueError(_describe_bad("n_spins", as_float_array("n_spins", n_spins), n_bad, N_SPINS_RULE))
    g, g_bad = _masked_real("field", field, on_invalid, minimum=0.0)
    c, ok_c = real_arg("coupling", coupling, minimum=0.0, strict=True)
    if c.ndim != 0:
        raise ValueError(f"coupling must be a scalar; got shape {c.shape}")
    c = safe(ok_c, c, 1.0)
    if dephasing is None:
        gph, p_bad = None, np.zeros((), bool)
    else:
        gph, p_bad = _masked_real("dephasing", dephasing, on_invalid, minimum=0.0, strict=True)
    shape = np.broadcast_shapes(n_arr.shape, np.shape(g), np.shape(p_bad))
    size = int(np.prod(shape))
    n_b = np.broadcast_to(np.where(n_bad, 2, n_arr), shape).reshape(-1)
    bad = jnp.broadcast_to(n_bad, shape) | jnp.broadcast_to(g_bad, shape) | jnp.broadcast_to(p_bad, shape)
    if ok_c is not None:
        bad = bad | ~ok_c
    bad = bad.reshape(-1)
    g_b = jnp.where(bad, 0.5, jnp.broadcast_to(g, shape).reshape(-1) / c)
    # N = 1 has only two levels: compute it apart so that the others keep their third level.
    parts = []
    for sel, lv in ((np.nonzero(n_b >= 2)[0], 3), (np.nonzero(n_b == 1)[0], 2)):
        if sel.size:
            parts.append((sel, _doublet_math(spectrum(n_b[sel], g_b[sel], levels=lv))))
    keys = list(parts[0][1])
    out = {}
    for k in keys:
        dtype = jnp.int32 if k == "status" else jnp.float64
        a = jnp.zeros(size, dtype)
        for sel, d in parts:
            a = a.at[sel].set(d[k].astype(dtype))
        out[k] = a
    out["delta_e"] = out["delta_e"] * c
    if gph is None:
        out["secular"] = jnp.full(size, jnp.nan)
    else:
        gph_b = jnp.broadcast_to(gph, shape).reshape(-1)
        out["secular"] = 2.0 * out["delta_e"] / (gph_b * out["g01"])
    status = jnp.where(bad, int(Status.INVALID_INPUT), out.pop("status")).astype(jnp.int32)
    res = {k: jnp.where(bad, jnp.nan, v).reshape(shape) for k, v in out.items()}
    return DoubletFactors(**res, status=status.reshape(shape))


def doublet_factors_from(spec: Spectrum, *, dephasing=None) -> DoubletFactors:
    """``doublet_factors`` of an already computed h = 0 spectrum with ≥ 2 levels
    (avoids a second diagonalisation when the levels are needed anyway).

    ``dephasing`` γφ > 0 (may be traced: NaN + INVALID_INPUT where invalid). Points whose
    spectrum lacks a third level (N = 1) get NaN gap ratios; every field is NaN where the
    spectrum's status is not OK (the status is passed on)."""
    ensure_x64()
    if not isinstance(spec, Spectrum):
        raise ValueError(f"spec must be a jaxlmg.Spectrum (from jaxlmg.spectrum); got {type(spec).__name__}")
    if spec.energies.shape[-1] < 2:
        raise ValueError(f"levels must be >= 2 for doublet factors; the spectrum has {spec.energies.shape[-1]}")
    if not is_traced(spec.bias) and bool(np.any(np.asarray(spec.bias) != 0.0)):
        raise ValueError("bias must be 0 for doublet factors (the doublet is defined by parity at h = 0)")
    d = _doublet_math(spec)
    status = d.pop("status")
    if dephasing is None:
        d["secular"] = jnp.full(status.shape, jnp.nan)
    else:
        gph, ok = real_arg("dephasing", dephasing, minimum=0.0, strict=True)
        gs = safe(ok, gph, 1.0)
        d["secular"] = 2.0 * d["delta_e"] / (gs * d["g01"])
        shape = jnp.broadcast_shapes(status.shape, jnp.shape(gs))
        d = {k: jnp.broadcast_to(v, shape) for k, v in d.items()}
        status = jnp.broadcast_to(status, shape)
        if ok is not None:
            status = jnp.where(ok, status, int(Status.INVALID_INPUT))
            d = {k: jnp.where(ok, v, jnp.nan) for k, v in d.items()}
    return DoubletFactors(**d, status=status.astype(jnp.int32))


@eqx.filter_jit
def _doublet_math(spec):
    """Doublet quantities of one spectrum (energies in units of spec.coupling, ΔE unscaled)."""
    levels = spec.energies.shape[-1]
    v, m = spec.vectors, spec.m
    e0, e1 = v[..., 0], v[..., 1]
    jz2_0 = jnp.einsum("...d,...d->...", e0 * m**2, e0)
    jz2_1 = jnp.einsum("...d,...d->...", e1 * m**2, e1)
    j01 = jnp.abs(jnp.einsum("...d,...d->...", e0 * m, e1))
    q = jnp.where(spec.mask, jnp.sign(m), 0.0)
    q01 = jnp.abs(jnp.einsum("...d,...d->...", e0 * q, e1))
    p0 = jnp.sum(jnp.where((m == 0) & spec.mask, e0**2, 0.0), axis=-1)
    nn = spec.n_spins.astype(jnp.float64)
    x = 1.0 - (spec.field / spec.coupling) ** 2
    ordered = x > 0
    mstar = jnp.where(ordered, jnp.sqrt(jnp.where(ordered, x, 1.0)), 0.0)
    g01 = 0.5 * (jz2_0 + jz2_1)
    g_loc = (nn * mstar) ** 2 / 2.0
    ok = spec.status == Status.OK
    # Gaps E_k - E_0 with relative accuracy (Herring splitting for the doublet), not
    # differences of absolute energies (which lose ΔE once ΔE ≪ eps·‖H‖).
    gp = spec.gaps
    de = jnp.where(ok, gp[..., 1], jnp.nan)
    if levels >= 3:  # NaN third level (N = 1 in a masked ragged spectrum) gives NaN ratios
        r20 = gp[..., 2] / de
        r21 = (gp[..., 2] - gp[..., 1]) / de
    else:
        r20 = r21 = jnp.full(de.shape, jnp.nan)
    out = dict(
        delta_e=de, gap_ratio_20=r20, gap_ratio_21=r21, jz2_e0=jz2_0, jz2_e1=jz2_1, g01=g01, j01=j01,
        g_loc=g_loc, eta_mf=g_loc / g01, eta_exact=1.0 + j01**2 / g01, eta_quantum=(nn * mstar / 2.0) ** 2 / g01,
        q01=q01, p0=p0, leakage_e0=1.0 - j01**2 / jz2_0, leakage_e1=1.0 - j01**2 / jz2_1, m_star=mstar,
    )
    # The status covers the whole record: no finite value without OK.
    out = {k: jnp.where(ok, v, jnp.nan) for k, v in out.items()}
    return dict(out, status=spec.status)


def susceptibility(n_spins, field, *, coupling=1.0):
    """χ = ∂m_z/∂h at h = 0 (m_z = 2⟨Jz⟩/N in E0), by forward-mode autodiff through the
    eigensolver (units of 1/J).

    Parameters
    ----------
    n_spins : int or int array
        N ≥ 1 (concrete).
    field : float or array
        Γ ≥ 0 (may be traced; invalid traced values give NaN).
    coupling : float
        J > 0 (scalar, may be traced).

    NaN where the tunnel splitting is unresolved in float64.
    """
    ensure_x64()
    n = check_n_spins(n_spins)
    f, ok_f = real_arg("field", field, minimum=0.0)
    c, ok_c = real_arg("coupling", coupling, minimum=0.0, strict=True)
    if c.ndim != 0:
        raise ValueError(f"coupling must be a scalar; got shape {c.shape}")
    ok = all_ok(ok_f, ok_c)
    c = safe(ok_c, c, 1.0)
    r = safe(ok_f, f, 0.5) / c  # H = J·H(Γ/J, h/J; 1): χ = χ1(Γ/J)/J
    shape = np.broadcast_shapes(n.shape, np.shape(r))
    r_b = jnp.broadcast_to(r, shape)

    def mz(bias):
        s = spectrum(n, r_b, bias=bias, levels=2)
        v0 = s.vectors[..., 0]
        return 2.0 * jnp.sum(s.m * v0**2, axis=-1) / s.n_spins

    zeros = jnp.zeros(shape)
    _, chi = jax.jvp(mz, (zeros,), (jnp.ones(shape),))
    ref = spectrum(n, r_b, levels=2)  # parity blocks: resolution check
    return nan_unless(ok, jnp.where(ref.status == Status.OK, chi / c, jnp.nan))
