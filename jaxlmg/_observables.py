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
from ._validate import check_n_spins, check_real

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


def matrix_elements(spec: Spectrum, operator: str = "jz", *, sgn0: float = 0.0) -> Float[Array, "*S k k"]:
    """⟨E_i|A|E_j⟩ between the computed levels (real: the LMG eigenvectors are real)."""
    ensure_x64()
    if operator not in OPERATORS:
        raise ValueError(f"operator must be one of {', '.join(OPERATORS)}; got {operator!r}")
    return _matrix_elements(spec, operator, sgn0)


@eqx.filter_jit
def _matrix_elements(spec, operator, sgn0):
    av = apply_operator(spec, operator, sgn0=sgn0)
    return jnp.einsum("...di,...dj->...ij", spec.vectors, av)


def truncated_operators(n_spins, field, levels: int, *, bias=0.0, coupling: float = 1.0, sgn0: float = 0.0,
                        on_invalid: str = "raise"):
    """Energies, Jz and Q = sgn(Jz) projected on the lowest ``levels`` eigenstates.

    Returns ``(energies, jz, q, jz2_full, status)`` with shapes ``*S n``, ``*S n n``,
    ``*S n n``, ``*S n`` and ``*S``; ``jz2_full`` holds the exact full-space
    ⟨E_i|Jz²|E_i⟩ (not the truncated (PJzP)²).
    """
    spec = spectrum(n_spins, field, bias=bias, levels=levels, coupling=coupling, on_invalid=on_invalid)
    jzm = matrix_elements(spec, "jz")
    qm = matrix_elements(spec, "q", sgn0=sgn0)
    jz2 = jnp.einsum("...di,...d,...di->...i", spec.vectors, spec.m**2, spec.vectors)
    return spec.energies, jzm, qm, jz2, spec.status


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


def doublet_factors(n_spins, field, *, dephasing=None, coupling: float = 1.0, on_invalid: str = "raise") -> DoubletFactors:
    """Tunnel splitting and the basis-dependent dephasing factors of the ground doublet.

    ``dephasing`` (γφ, units of J) only enters the secular parameter 2ΔE·T2 = 2ΔE/(γφ G01).
    Quantities that need ΔE are NaN where ΔE is not resolved in float64 (status
    UNRESOLVED); eigenvector quantities stay valid there (parity blocks keep E0, E1 apart).
    Gap ratios need three levels (N ≥ 2); they are NaN for N = 1.
    """
    ensure_x64()
    n = check_n_spins(n_spins) if on_invalid == "raise" else n_spins
    levels = 3 if np.min(np.asarray(n)) >= 2 else 2
    spec = spectrum(n_spins, field, levels=levels, coupling=coupling, on_invalid=on_invalid)
    return doublet_factors_from(spec, dephasing=dephasing)


def doublet_factors_from(spec: Spectrum, *, dephasing=None) -> DoubletFactors:
    """``doublet_factors`` of an already computed h = 0 spectrum with ≥ 2 levels
    (avoids a second diagonalisation when the levels are needed anyway)."""
    ensure_x64()
    if spec.energies.shape[-1] < 2:
        raise ValueError(f"levels must be >= 2 for doublet factors; the spectrum has {spec.energies.shape[-1]}")
    if bool(np.any(np.asarray(spec.bias) != 0.0)):
        raise ValueError("bias must be 0 for doublet factors (the doublet is defined by parity at h = 0)")
    if dephasing is None:
        gph = None
    else:
        gph = jnp.asarray(check_real("dephasing", dephasing, minimum=0.0, strict=True))
    return DoubletFactors(**_doublet_math(spec, gph, spec.coupling))


@eqx.filter_jit
def _doublet_math(spec, gph, coupling):
    levels = spec.energies.shape[-1]
    from ._model import mean_field_order_parameter

    v, m = spec.vectors, spec.m
    e0, e1 = v[..., 0], v[..., 1]
    jz2_0 = jnp.einsum("...d,...d->...", e0 * m**2, e0)
    jz2_1 = jnp.einsum("...d,...d->...", e1 * m**2, e1)
    j01 = jnp.abs(jnp.einsum("...d,...d->...", e0 * m, e1))
    q = jnp.where(spec.mask, jnp.sign(m), 0.0)
    q01 = jnp.abs(jnp.einsum("...d,...d->...", e0 * q, e1))
    p0 = jnp.sum(jnp.where((m == 0) & spec.mask, e0**2, 0.0), axis=-1)
    nn = spec.n_spins.astype(jnp.float64)
    mstar = jnp.sqrt(jnp.clip(1.0 - (spec.field / coupling) ** 2, 0.0, None))
    g01 = 0.5 * (jz2_0 + jz2_1)
    g_loc = (nn * mstar) ** 2 / 2.0
    ok = spec.status == Status.OK
    en = spec.energies
    de = jnp.where(ok, en[..., 1] - en[..., 0], jnp.nan)
    # (with on_invalid="mask" small N may lack a third level: r20/r21 are NaN there)
    if levels >= 3:
        r20 = (en[..., 2] - en[..., 0]) / de
        r21 = (en[..., 2] - en[..., 1]) / de
    else:
        r20 = r21 = jnp.full(de.shape, jnp.nan)
    sec = jnp.full(de.shape, jnp.nan) if gph is None else 2.0 * de / (gph * g01)
    return dict(
        delta_e=de, gap_ratio_20=r20, gap_ratio_21=r21, jz2_e0=jz2_0, jz2_e1=jz2_1, g01=g01, j01=j01,
        g_loc=g_loc, eta_mf=g_loc / g01, eta_exact=1.0 + j01**2 / g01, eta_quantum=(nn * mstar / 2.0) ** 2 / g01,
        q01=q01, p0=p0, leakage_e0=1.0 - j01**2 / jz2_0, leakage_e1=1.0 - j01**2 / jz2_1, m_star=mstar,
        secular=sec, status=spec.status,
    )


def susceptibility(n_spins, field, *, coupling: float = 1.0):
    """χ = ∂m_z/∂h at h = 0 (m_z = 2⟨Jz⟩/N in E0), by forward-mode autodiff through the
    eigensolver (units of 1/J). NaN where the tunnel splitting is unresolved."""
    ensure_x64()
    n = check_n_spins(n_spins)
    f = check_real("field", field, minimum=0.0)
    shape = np.broadcast_shapes(n.shape, f.shape)

    def mz(bias):
        s = spectrum(n, jnp.asarray(f), bias=bias, levels=2, coupling=coupling)
        v0 = s.vectors[..., 0]
        return 2.0 * jnp.sum(s.m * v0**2, axis=-1) / s.n_spins, s.status

    zeros = jnp.zeros(shape)
    (_, status), (chi, _) = jax.jvp(mz, (zeros,), (jnp.ones(shape),))
    ref = spectrum(n, f, levels=2, coupling=coupling)  # parity blocks: resolution check
    return jnp.where(ref.status == Status.OK, chi, jnp.nan)
