r"""Lindblad generators for the truncated LMG energy basis (seed 001 Eq. 12, §7.4, App. I).

Conventions
-----------
* ``vec`` is column stacking (QuTiP ``spre``/``spost``): vec(A X B) = (Bᵀ ⊗ A) vec(X), so
  vec(X)[i + n j] = X[i, j].
* The master equation is dρ/dt = -i[H, ρ] + Σ_k (L_k ρ L_k† - ½{L_k†L_k, ρ}) with ħ = 1;
  collective dephasing is the single jump operator L = √γφ Jz (seed 001 Eq. 12).

Structure used by the fast kernels
----------------------------------
In the energy basis of the LMG Hamiltonian at h = 0 the levels alternate in collective
parity (+, -, +, -, …: the k-th eigenvector of a reflection-symmetric Jacobi matrix has k
nodes), H is diagonal and Jz only couples opposite parities. The Liouvillian therefore
preserves the parity of ρ_ij (p_i p_j): the *odd sector* (p_i ≠ p_j) holds the LGI
instrument ½{Q, ρ0} and everything it evolves into; the *even sector* holds density
matrices. Hermiticity is preserved too, so the odd sector of a Hermitian operator is the
block X_eo (even rows, odd columns) alone, and we propagate the real vector
x = (Re X_eo, Im X_eo) of length 2 n_e n_o ≈ n²/2 (instead of n² complex numbers):

    d Re X_eo/dt =  Ω∘Im X_eo + γ (B Re X_eoᵀ B - ½ BBᵀ Re X_eo - ½ Re X_eo BᵀB)
    d Im X_eo/dt = -Ω∘Re X_eo + γ (-B Im X_eoᵀ B - ½ BBᵀ Im X_eo - ½ Im X_eo BᵀB)

with Ω_eo = E_e - E_o and B = (Jz)_eo. The dissipative part is symmetric negative
semidefinite and the Hamiltonian part antisymmetric in these coordinates. Hermitian
even-sector blocks are stored as the real matrix Y = triu(Re X) + tril(Im X, -1).

Matrix exponentials use Padé-13 scaling-and-squaring (Higham 2005) with as many squarings
as the norm requires (``jax.scipy.linalg.expm`` returns NaN beyond ``max_squarings=16``,
i.e. for ‖L·Δt‖₁ ≳ 3.5e5, which happens whenever ΔE ≲ 2.6e-6 J at Δt = π/(3ΔE)).
The squarings act on F = R - I (F ← 2F + F²) so that slowly decaying modes (R ≈ I) keep
their relative accuracy. The squaring loop is a ``while_loop``; derivatives come from a
custom JVP whose tangent is the Fréchet derivative L(A, E) (forward mode of the same
recursion = Al-Mohy & Higham 2009), wrapped in ``jax.custom_derivatives.linear_call``
with its transpose L(Aᵀ, ·), so reverse mode (``grad``, ``vjp``) works too, as do
``vmap`` (a batching rule for ``linear_call`` is registered here, jax 0.10 lacks one),
and every second-order composition, ``jax.hessian`` included (jax's JVP rule for
``linear_call`` rejects a tangent on A, which reverse over reverse produces: a rule that
adds A's part is registered here too).

Accuracy limit: the generator γφ·D of collective dephasing has an exact kernel
(operators commuting with Jz); forming it in float64 perturbs that kernel by
~eps·γφ·‖Jz‖², which the propagator integrates over Δt. ``_leggett_garg`` therefore
switches to an adiabatic elimination (Zeno regime) when eps·γφ·Δt·‖Jz‖² is large.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from ._config import ensure_x64
from ._validate import nan_unless, real_arg, safe

_THETA13 = 5.371920351148152
_B13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
        129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
        40840800.0, 960960.0, 16380.0, 182.0, 1.0)


# ----------------------------------------------------------------------------------------
# Matrix exponential
# ----------------------------------------------------------------------------------------

def _expm_scaled(a):
    """(F, s) with F = exp(a/2^s) - I (Padé-13) and s the number of squarings needed."""
    n = a.shape[-1]
    norm = lax.stop_gradient(jnp.max(jnp.sum(jnp.abs(a), axis=-2)))
    s = jnp.where(norm > _THETA13, jnp.ceil(jnp.log2(jnp.where(norm > 0, norm, 1.0) / _THETA13)), 0.0)
    s = lax.stop_gradient(jnp.where(jnp.isfinite(s), s, 0.0))
    a = a / (2.0 ** s).astype(a.dtype)
    b = _B13
    eye = jnp.eye(n, dtype=a.dtype)
    a2 = a @ a
    a4 = a2 @ a2
    a6 = a4 @ a2
    u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2) + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
    v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye
    # r - I = (v - u)⁻¹ 2u: keeps the small part of r (slow modes) to relative accuracy.
    return jnp.linalg.solve(v - u, 2.0 * u), s


def _expm_impl(a):
    """Scaling and squaring on F = R - I: F ← 2F + F², so slow modes (R ≈ I) are not
    absorbed into the identity at every squaring (an ``expm1`` for matrices)."""
    f, s = _expm_scaled(a)

    def cond(c):
        i, _ = c
        return i < s

    def body(c):
        i, m = c
        return i + 1.0, 2.0 * m + m @ m

    _, f = lax.while_loop(cond, body, (jnp.zeros((), s.dtype), f))
    return f + jnp.eye(a.shape[-1], dtype=a.dtype)


def _frechet_impl(a, e):
    """Fréchet derivative L(a, e) of expm (forward mode of the squaring recursion with the
    number of squarings of ``a`` held fixed = Al-Mohy & Higham 2009), scaled so that
    ‖e‖ ~ ‖a‖ (L is linear in e)."""
    na = jnp.max(jnp.sum(jnp.abs(a), axis=-2))
    ne = jnp.max(jnp.sum(jnp.abs(e), axis=-2))
    c = lax.stop_gradient(jnp.where((ne > 0) & (na > 0) & jnp.isfinite(na / ne), na / jnp.where(ne > 0, ne, 1.0), 1.0))
    return jax.jvp(_expm_impl, (a,), (e * c,))[1] / c


def _frechet_transpose(a, ct):
    # ⟨G, L(A, E)⟩ = ⟨L(Aᵀ, G), E⟩ (Frobenius): L(A, E) = ∫₀¹ e^{sA} E e^{(1-s)A} ds.
    return _frechet(a.T, ct)  # itself differentiable (Hessians, reverse over reverse)


def _register_linear_call_batching():
    """jax.custom_derivatives.linear_call has no batching rule (jax 0.10): add one that
    vmaps the callee and its transpose (only if jax does not provide one itself)."""
    from jax._src import core as _core
    from jax._src.custom_derivatives import linear_call_p
    from jax._src.interpreters import batching

    if linear_call_p in batching.fancy_primitive_batchers:
        return

    def rule(args, dims, *, callee, transpose_thunk, num_callee_consts, num_res):
        size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
        args = [jnp.broadcast_to(a, (size,) + jnp.shape(a)) if d is None else jnp.moveaxis(a, d, 0)
                for a, d in zip(args, dims)]
        f_consts, res, lin = args[:num_callee_consts], args[num_callee_consts:num_callee_consts + num_res], \
            args[num_callee_consts + num_res:]
        f_fun = _core.jaxpr_as_fun(callee)
        t_jaxpr, t_consts = transpose_thunk()
        t_fun = _core.jaxpr_as_fun(t_jaxpr)
        fb = lambda r, x: jax.vmap(lambda c_, r_, x_: f_fun(*c_, *r_, *x_))(list(r[0]), list(r[1]), list(x))
        tb = lambda r, ct: jax.vmap(lambda r_, ct_: t_fun(*t_consts, *r_, *ct_))(list(r[1]), list(ct))
        out = jax.custom_derivatives.linear_call(fb, tb, (list(f_consts), list(res)), list(lin))
        return list(out), [0] * len(out)

    batching.primitive_batchers[linear_call_p] = rule


_register_linear_call_batching()


def _register_linear_call_jvp():
    """jax's JVP rule for ``linear_call`` asserts that the residual operands (here the
    matrix A of L(A, ·)) carry no tangent. That holds where ``_frechet`` is called (its
    custom JVP intercepts), but not for the ``linear_call`` that reverse mode binds for the
    transpose L(Aᵀ, ·): differentiating a gradient (``jax.hessian``, reverse over
    reverse) then raised an AssertionError. This rule adds the residuals' part, the JVP
    of the callee in its non-linear operands, and keeps the linear part a ``linear_call``
    (so it stays transposable). Private jax API: where it has moved, jax's own rule stays
    (second derivatives then need ``jax.jacfwd(jax.jacfwd(f))``, as before)."""
    try:
        from jax._src import core as _core
        from jax._src.ad_util import Zero
        from jax._src.custom_derivatives import _linear_call_jvp_rule, linear_call_p
        from jax._src.interpreters import ad
    except ImportError:  # pragma: no cover - other jax versions
        return
    if ad.primitive_jvps.get(linear_call_p) is not _linear_call_jvp_rule:
        return  # jax changed (or someone replaced) the rule: leave it alone

    def rule(primals, tangents, *, callee, transpose_thunk, num_callee_consts, num_res):
        n_fixed = num_callee_consts + num_res
        fixed, lin = primals[:n_fixed], primals[n_fixed:]
        t_fixed, t_lin = tangents[:n_fixed], tangents[n_fixed:]
        if all(type(t) is Zero for t in t_fixed):
            return _linear_call_jvp_rule(primals, tangents, callee=callee, transpose_thunk=transpose_thunk,
                                         num_callee_consts=num_callee_consts, num_res=num_res)
        params = dict(callee=callee, transpose_thunk=transpose_thunk, num_callee_consts=num_callee_consts,
                      num_res=num_res)
        out = linear_call_p.bind(*primals, **params)
        t_lin = [ad.instantiate_zeros(t) for t in t_lin]
        t_from_lin = linear_call_p.bind(*fixed, *t_lin, **params)
        f = _core.jaxpr_as_fun(callee)
        t_fixed = [ad.instantiate_zeros(t) for t in t_fixed]
        _, t_from_fixed = jax.jvp(lambda *xs: f(*xs, *lin), list(fixed), t_fixed)
        return out, [a + b for a, b in zip(t_from_lin, t_from_fixed)]

    ad.primitive_jvps[linear_call_p] = rule


_register_linear_call_jvp()


@jax.custom_jvp
def _frechet(a, e):
    """L(a, e), linear in ``e`` with an explicit transpose (so reverse mode works)."""
    return jax.custom_derivatives.linear_call(_frechet_impl, _frechet_transpose, a, e)


@_frechet.defjvp
def _frechet_jvp(primals, tangents):
    # d L(A, E) = upper-right block of L(Â, dÂ), Â = [[A, E], [0, A]], dÂ = [[dA, dE], [0, dA]],
    # because expm(Â) = [[e^A, L(A, E)], [0, e^A]].
    a, e = primals
    da, de = tangents
    n = a.shape[-1]
    z = jnp.zeros_like(a)
    blk = lambda x, y: jnp.block([[x, y], [z, x]])
    return _frechet(a, e), _frechet(blk(a, e), blk(da, de))[:n, n:]


@jax.custom_jvp
def _expm_single(a):
    return _expm_impl(a)


@_expm_single.defjvp
def _expm_single_jvp(primals, tangents):
    (a,), (da,) = primals, tangents
    return _expm_single(a), _frechet(a, da)


def expm(a: Float[Array, "*B n n"]) -> Float[Array, "*B n n"]:
    """Matrix exponential, Padé-13 scaling-and-squaring with unbounded squarings.

    Correct for any finite norm (no NaN cliff); batched over leading axes;
    differentiable in forward and reverse mode to any order (custom JVP through the
    Fréchet derivative, whose tangent is a ``linear_call`` with an explicit transpose).
    """
    ensure_x64()
    a = jnp.asarray(a)
    if a.ndim == 2:
        return _expm_single(a)
    flat = a.reshape((-1,) + a.shape[-2:])
    return jax.vmap(_expm_single)(flat).reshape(a.shape)


# ----------------------------------------------------------------------------------------
# Dense superoperators (reference construction; column stacking)
# ----------------------------------------------------------------------------------------

def vec(x):
    """Column-stacking vectorisation (QuTiP convention): vec(X)[i + n j] = X[i, j]."""
    ensure_x64()
    x = jnp.asarray(x)
    return jnp.swapaxes(x, -1, -2).reshape(x.shape[:-2] + (-1,))


def unvec(v, n: int | None = None):
    """Inverse of :func:`vec`."""
    ensure_x64()
    v = jnp.asarray(v)
    if n is None:
        n = int(round(np.sqrt(v.shape[-1])))
    return jnp.swapaxes(v.reshape(v.shape[:-1] + (n, n)), -1, -2)


def spre(a):
    """Left multiplication superoperator: vec(A X) = spre(A) vec(X)."""
    ensure_x64()
    a = jnp.asarray(a)
    return jnp.kron(jnp.eye(a.shape[-1], dtype=a.dtype), a)


def spost(a):
    """Right multiplication superoperator: vec(X A) = spost(A) vec(X)."""
    ensure_x64()
    a = jnp.asarray(a)
    return jnp.kron(a.T, jnp.eye(a.shape[-1], dtype=a.dtype))


def _dissipator(lk):
    """Σ-term of one jump operator: spre(L) spost(L†) - ½ spre(L†L) - ½ spost(L†L)."""
    lk = jnp.asarray(lk, jnp.complex128)
    ld = lk.conj().T
    ldl = ld @ lk
    return spre(lk) @ spost(ld) - 0.5 * spre(ldl) - 0.5 * spost(ldl)


def liouvillian(hamiltonian, jump_operators=None, *, jz=None, dephasing=0.0):
    r"""Dense Lindblad superoperator (d² × d², complex, column stacking).

    L = -i(spre(H) - spost(H)) + Σ_k [spre(L_k) spost(L_k†) - ½ spre(L_k†L_k) - ½ spost(L_k†L_k)].

    Parameters
    ----------
    hamiltonian : (d, d) array
        H (may be traced).
    jump_operators : sequence of (d, d) arrays, optional
        The L_k. If None, the single collective-dephasing jump √γφ·Jz is used
        (seed 001 Eq. 12) and ``jz`` and ``dephasing`` are required.
    jz : (d, d) array, optional
        Jz in the basis of ``hamiltonian`` (``jump_operators=None`` only).
    dephasing : float or array
        γφ ≥ 0 (``jump_operators=None`` only). May be traced (jit/vmap/grad/jvp); the
        generator is linear in γφ (γφ·D[Jz], no square root), so derivatives exist at
        γφ = 0 too. An array of shape ``B`` gives a batch of generators ``B + (d², d²)``;
        invalid traced values (NaN, negative) give an all-NaN generator.
    """
    ensure_x64()
    h = jnp.asarray(hamiltonian, jnp.complex128)
    lv = -1j * (spre(h) - spost(h))
    if jump_operators is not None:
        for lk in jump_operators:
            lv = lv + _dissipator(lk)
        return lv
    if jz is None:
        raise ValueError("jz must be given when jump_operators is None (collective dephasing √γφ·Jz)")
    g, ok = real_arg("dephasing", dephasing, minimum=0.0)
    g = jnp.asarray(safe(ok, g, 0.0))[..., None, None]
    return nan_unless(None if ok is None else ok[..., None, None], lv + g * _dissipator(jz))


# ----------------------------------------------------------------------------------------
# Parity sectors in the energy basis
# ----------------------------------------------------------------------------------------

def split_parity(energies, jz, q=None):
    """Even/odd index blocks of the truncated operators (levels alternate +, -, +, …).

    Returns ``(e_even, e_odd, B, Qb)`` with B = (Jz)_eo, Qb = (Q)_eo (``None`` if no q).
    Energies are shifted by E0 (only differences enter).
    """
    n = energies.shape[-1]
    ev = np.arange(0, n, 2)
    od = np.arange(1, n, 2)
    e = energies - energies[..., :1]
    b = jz[..., ev, :][..., :, od]
    qb = None if q is None else q[..., ev, :][..., :, od]
    return e[..., ev], e[..., od], b, qb


def odd_action(x, e_even, e_odd, b, dephasing):
    """Real-linear action of the Liouvillian on x = (Re X_eo, Im X_eo) (flattened)."""
    ne, no = b.shape
    k = ne * no
    r = x[:k].reshape(ne, no)
    s = x[k:].reshape(ne, no)
    om = e_even[:, None] - e_odd[None, :]
    bbt = b @ b.T
    btb = b.T @ b
    dr = om * s + dephasing * (b @ r.T @ b - 0.5 * (bbt @ r + r @ btb))
    ds = -om * r + dephasing * (-(b @ s.T @ b) - 0.5 * (bbt @ s + s @ btb))
    return jnp.concatenate([dr.ravel(), ds.ravel()])


def odd_generator(e_even, e_odd, b, dephasing) -> Float[Array, "D D"]:
    """Real (2 n_e n_o)² generator of the odd parity sector (see module docstring)."""
    ensure_x64()
    d = 2 * b.shape[0] * b.shape[1]
    eye = jnp.eye(d, dtype=jnp.float64)
    return jax.vmap(lambda x: odd_action(x, e_even, e_odd, b, dephasing))(eye).T


def herm_to_real(x):
    """Hermitian (k, k) → real Y = triu(Re X) + tril(Im X, -1)."""
    return jnp.triu(jnp.real(x)) + jnp.tril(jnp.imag(x), -1)


def real_to_herm(y):
    lo = jnp.tril(y, -1)
    return (jnp.triu(y) + jnp.triu(y, 1).T) + 1j * (lo - lo.T)


def even_pack(rho_ee, rho_oo):
    return jnp.concatenate([herm_to_real(rho_ee).ravel(), herm_to_real(rho_oo).ravel()])


def even_unpack(y, ne: int, no: int):
    return real_to_herm(y[: ne * ne].reshape(ne, ne)), real_to_herm(y[ne * ne:].reshape(no, no))


def even_action(y, e_even, e_odd, b, dephasing):
    """Real-linear action of the Liouvillian on the even sector (Hermitian blocks ρ_ee, ρ_oo)."""
    ne, no = b.shape
    ree, roo = even_unpack(y, ne, no)
    bbt = b @ b.T
    btb = b.T @ b
    oee = e_even[:, None] - e_even[None, :]
    ooo = e_odd[:, None] - e_odd[None, :]
    dee = -1j * oee * ree + dephasing * (b @ roo @ b.T - 0.5 * (bbt @ ree + ree @ bbt))
    doo = -1j * ooo * roo + dephasing * (b.T @ ree @ b - 0.5 * (btb @ roo + roo @ btb))
    return even_pack(dee, doo)


def even_generator(e_even, e_odd, b, dephasing):
    """Real (n_e² + n_o²)² generator of the even parity sector (Hermitian blocks)."""
    ensure_x64()
    ne, no = b.shape
    d = ne * ne + no * no
    eye = jnp.eye(d, dtype=jnp.float64)
    return jax.vmap(lambda y: even_action(y, e_even, e_odd, b, dephasing))(eye).T


def odd_pack(x_eo):
    return jnp.concatenate([jnp.real(x_eo).ravel(), jnp.imag(x_eo).ravel()])


def odd_unpack(x, ne: int, no: int):
    k = ne * no
    return x[:k].reshape(ne, no) + 1j * x[k:].reshape(ne, no)


def _evolve_point(rho, energies, jz, dephasing, t):
    n = energies.shape[-1]
    ev = np.arange(0, n, 2)
    od = np.arange(1, n, 2)
    ee, eo, b, _ = split_parity(energies, jz)
    ne, no = b.shape
    rho = jnp.asarray(rho, jnp.complex128)
    rho = 0.5 * (rho + rho.conj().T)
    y = even_pack(rho[np.ix_(ev, ev)], rho[np.ix_(od, od)])
    y = expm(even_generator(ee, eo, b, dephasing) * t) @ y
    ree, roo = even_unpack(y, ne, no)
    x = odd_pack(rho[np.ix_(ev, od)])
    x = expm(odd_generator(ee, eo, b, dephasing) * t) @ x
    xeo = odd_unpack(x, ne, no)
    out = jnp.zeros((n, n), jnp.complex128)
    out = out.at[np.ix_(ev, ev)].set(ree).at[np.ix_(od, od)].set(roo)
    out = out.at[np.ix_(ev, od)].set(xeo).at[np.ix_(od, ev)].set(xeo.conj().T)
    return out


_evolve_batch = jax.jit(jax.vmap(_evolve_point))


def evolve(rho, energies, jz, dephasing, t):
    r"""ρ(t) = exp(L t) ρ for Hermitian ρ in the truncated energy basis (levels alternate in parity).

    ``energies`` (n,), ``jz`` (n, n) real symmetric with (Jz)_ij = 0 for equal index parity
    (as returned by ``truncated_operators`` at h = 0), ``dephasing`` γφ ≥ 0, ``t`` ≥ 0.
    Propagates the even and odd sectors separately (exact; no truncation beyond the basis).
    ``rho``, ``dephasing`` and ``t`` may carry leading batch axes (broadcast together).
    Differentiable (forward and reverse mode). Accurate while eps·γφ·t·‖Jz‖² ≪ 1: beyond,
    the float64 dissipator's perturbed kernel decays spuriously (see the module docstring;
    the Leggett–Garg functions switch to the Zeno elimination there, ``evolve`` does not).
    """
    ensure_x64()
    rho = jnp.asarray(rho)
    energies = jnp.asarray(energies, jnp.float64)
    jz = jnp.asarray(jz, jnp.float64)
    g = jnp.asarray(dephasing, jnp.float64)
    t = jnp.asarray(t, jnp.float64)
    shape = jnp.broadcast_shapes(rho.shape[:-2], energies.shape[:-1], jz.shape[:-2], g.shape, t.shape)
    n = energies.shape[-1]
    rb = jnp.broadcast_to(rho, shape + (n, n)).reshape((-1, n, n))
    eb = jnp.broadcast_to(energies, shape + (n,)).reshape((-1, n))
    jb = jnp.broadcast_to(jz, shape + (n, n)).reshape((-1, n, n))
    gb = jnp.broadcast_to(g, shape).reshape(-1)
    tb = jnp.broadcast_to(t, shape).reshape(-1)
    out = _evolve_batch(rb, eb, jb, gb, tb)
    return out.reshape(shape + (n, n))
