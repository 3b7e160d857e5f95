r"""Cancellation-free tunnel splittings of the LMG doublets at h = 0 (discrete Herring formula).

Why not E1 − E0
---------------
E0 and E1 are each known only to an absolute accuracy ≈ eps·‖H‖ ≈ 1e-16·N, so their
difference loses every digit once ΔE ≲ 1e-13·N (N ≈ 3000 at Γ/J = 0.95 gives exactly 0).

What we compute instead
-----------------------
At h = 0 H splits into an even block T_e and an odd block T_o (see
:mod:`jaxlmg._spectrum`). For an eigenpair (λ, x) of T_e and (μ, y) of T_o, both in the
block's own basis, the Schur/Casoratian identity at the barrier centre is exact:

* even N (T_e on m = 0..j, T_o = T_e without the row m = 0, coupled to it by
  e_0 = √2 b_0):   (μ − λ) · Σ_{m≥1} x_m y_m = −e_0 · x_0 · y_1
* odd N (both blocks on m = ½..j, differing only by ±c in the first diagonal entry,
  c = −Γ(j + ½) the coupling of m = ±½):   (μ − λ) · Σ_m x_m y_m = −2c · x_½ · y_½

(multiply T_o y = μ y by x, T_e x = λ x by y and subtract). This is the discrete Herring
(Wronskian) formula, equivalently the rank-one secular equation of the note
``shared/notes/tunnel-splitting.md`` (Herring, RMP 34, 631 (1962); Teschl, *Jacobi
Operators*, ch. 1; Garg, Am. J. Phys. 68, 430 (2000)). For a tunnel doublet the overlap
Σ x y is ≈ 1 and the right side is a *product* of the two barrier-centre amplitudes: no
subtraction anywhere, so ΔE has the relative accuracy of the amplitudes.

The amplitudes are the first components of twisted-factorisation eigenvectors
(Parlett–Dhillon): forward LDLᵀ pivots from the barrier centre out to the twist (the
stable, dominant direction of the recurrence, Gautschi SIAM Rev. 9, 24 (1967)), so
x_0 = Π_{i<r} (−e_i/q_i)·x_r is a product of ratios, accumulated as mantissa × 2^(500·k)
and returned as a logarithm: ``log_delta_e`` is finite far below the float64 underflow
(ΔE ≈ e^{-45000} at N = 1e5, Γ/J = 0.5).

The one subtle point is the eigenvalue: ∂ ln x_0/∂λ is the imaginary-time barrier
traversal ≈ 30/J at N = 1e5, Γ/J = 0.99, and a float64 eigenvalue carries ½ ulp
≈ 7e-12 of representation error there, which alone would give 2e-10 relative error.
Each eigenvalue is therefore kept as an unevaluated sum hi + lo (Sturm-certified, then the
twisted Rayleigh correction γ_r/‖z‖²; :func:`jaxlmg._eigen.eigenvalues_dd`), and
the amplitudes are evaluated at the shift (d − hi) − lo.

Measured accuracy (float64 vs a 50-digit mpmath evaluation of the same identity with
mpmath eigenpairs; tests/test_splitting.py): |Δ ln ΔE| ≤ 7e-12 for N ≤ 1e4 and
Γ/J ∈ [0.05, 0.999], ≈ 5e-11 at N = 1e5 (rounding of the O(N) pivots), even and odd N.

Excited doublets: the same identity holds for the i-th level of each block; it is used
when the normalised overlap |Σ x y| ≥ 1/4 (a genuine doublet) and the result is
positive, otherwise the plain difference (then not small, hence accurate).

Gradients: everything here is plain jnp (scans), so ``jax.grad`` of ``log_delta_e``
w.r.t. ``field`` differentiates the product of ratios directly (relative accuracy, no
Hellmann–Feynman difference of two O(N) numbers); the eigenvalue tangent comes from the
custom JVP of the eigensolver.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ._tridiag import _seqsum, twisted_pass

#: Minimum |overlap| of the normalised block vectors for the Herring formula.
MIN_OVERLAP = 0.25


def first_amplitudes(d, e, lam_hi, lam_lo, n_valid):
    """(log|v_0|, sign v_0) of the normalised eigenvectors at eigenvalues hi + lo."""
    _, _, log_first, sign_first, _ = twisted_pass(d, e, lam_hi, lax.stop_gradient(lam_lo), n_valid)
    return log_first, sign_first


def herring_splittings(kappa, shift_odd_rows: bool, u_e, u_o, lf_e, sf_e, lf_o, sf_o, w_hi_e, w_lo_e, w_hi_o, w_lo_o):
    """Splittings μ_i − λ_i of the i-th even/odd block levels (one point).

    Parameters
    ----------
    kappa : scalar
        −e_0 (even N) or −2c (odd N), ≥ 0.
    shift_odd_rows : bool (traced)
        True for even N: odd-block row b is m = b + 1, even-block row b + 1.
    u_e, u_o : (nb, kb)
        Normalised block eigenvectors (zero beyond the block).
    lf_*, sf_* : (kb,)
        Log-modulus and sign of the first component of each vector.
    w_hi_*, w_lo_* : (kb,)
        Eigenvalues as hi + lo.

    Returns
    -------
    split, log_split, herring : (kb,)
        The splitting, its logarithm (−inf where exactly 0, NaN where ≤ 0), and whether
        the Herring formula (relative accuracy) was used rather than the difference.
    """
    # One sequential sum: for even N the odd block's row b is the even block's row b + 1
    # (a leading exact zero term leaves the association, hence the bits, unchanged).
    u_o_aligned = jnp.where(shift_odd_rows, jnp.concatenate([jnp.zeros_like(u_o[:1]), u_o[:-1]]), u_o)
    ov = _seqsum(u_e * u_o_aligned)
    pos = kappa > 0
    lk = jnp.log(jnp.where(pos, kappa, 1.0))
    aov = jnp.abs(ov)
    log_h = lk + lf_e + lf_o - jnp.log(jnp.where(aov > 0, aov, 1.0))
    sign_h = sf_e * sf_o * jnp.sign(ov)
    herring = (aov >= MIN_OVERLAP) & ((sign_h > 0) | ~pos) & (jnp.isfinite(log_h) | ~pos)
    log_h = jnp.where(pos, log_h, -jnp.inf)
    plain = (w_hi_o - w_hi_e) + (w_lo_o - w_lo_e)
    log_plain = jnp.where(plain > 0, jnp.log(jnp.where(plain > 0, plain, 1.0)), jnp.where(plain == 0, -jnp.inf, jnp.nan))
    log_split = jnp.where(herring, log_h, log_plain)
    split = jnp.where(herring, jnp.exp(jnp.where(herring, log_h, 0.0)) * jnp.where(pos, 1.0, 0.0), plain)
    return split, log_split, herring


def tunnel_splitting(n_spins, field, *, coupling: float = 1.0, on_invalid: str = "raise"):
    r"""Tunnel splitting ΔE = E1 − E0 at h = 0 with relative accuracy, and its logarithm.

    Parameters
    ----------
    n_spins : int or int array
        N ≥ 1.
    field : float or array
        Γ ≥ 0 (units of ``coupling``); may be traced.
    coupling : float
        J > 0.
    on_invalid : {"raise", "mask"}
        As in :func:`jaxlmg.spectrum`.

    Returns
    -------
    (delta_e, log_delta_e, status)
        ``delta_e`` underflows to 0 below ~1e-308 where ``log_delta_e`` stays finite.
    """
    from ._spectrum import spectrum

    s = spectrum(n_spins, field, levels=1, coupling=coupling, on_invalid=on_invalid)
    return s.delta_e, s.log_delta_e, s.status
