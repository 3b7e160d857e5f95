r"""n-level truncated Leggett–Garg K3 and thresholds on the splitting engine (large ``levels``).

:func:`jaxlmg.k3`, :func:`jaxlmg.correlators` and :func:`jaxlmg.threshold` route a truncation
with ``levels >= _leggett_garg.SPLIT_LEVELS`` here. Everything except the propagator is shared with the dense
path of ``_leggett_garg``/``_threshold``: the spectrum and truncated operators (``lg_operators``:
gaps with relative accuracy, statuses), validation, masks for invalid traced inputs, the Zeno
switch (adiabatic elimination where the dense generator is not float64-trustworthy), the
threshold's two-level start and its safeguarded Newton, the residual and conditioning checks.
Only the dense ``expm`` of the ≈ n²/2-dimensional parity sector (O(n⁶) per evaluation: ~1 s for
a K3 and ~100 s for a threshold at n = 60) is replaced by the exact-unitary Strang splitting of
``jaxlmg.dynamics`` (O(n³) per step) on the truncated model:

* unitary step: phases e^{-i(E_a - E_b)h} in the energy eigenbasis of the n levels (exact);
* dephasing step: exact in the basis of the SVD of the projected (Jz)_eo = U diag(σ) Wᵀ
  (the n-level analogue of the parity Dicke basis, μ = σ);
* three Strang runs (n₀, 2n₀, 4n₀ steps) extrapolated in h² (Richardson); the difference of
  the last two table entries is the error estimate of each correlator.

Error control and step counts. Step counts are static. In eager calls (concrete values, also
eager ``jax.grad``/``jax.jvp``) n₀ is chosen per point (h = Δt/n₀ ≤ 0.5 ħ/J) and doubled for
the points whose estimate exceeds ``SPLIT_TOL`` (1e-9 absolute per correlator), up to
n₀ = 4096, so a point's answer never depends on its batch. Under ``jax.jit``/``jax.vmap``
(no concrete values) n₀ = ``TRACED_STEPS`` for every point and a point whose estimate
exceeds the tolerance comes back NaN with status ``INACCURATE`` (K3) or ``NOT_CONVERGED``
(threshold) — never an unchecked number. The splitting's dephasing factors are exact, so
unlike the dense generator it has no float64 limit at large γφ·Δt·‖Jz‖²: points the dense
path marks ``INACCURATE`` may be OK here when the Richardson estimate converges.

Thresholds: the safeguarded Newton of ``_threshold`` (``_solve_point``) on a cheap K3
(n₀/4 and n₀/2 steps, one Richardson level), then chord steps on the accurate K3
(``_lg_full._polish``). OK needs a converged step, |K3(γ*) - 1| ≤ 1e-7, the Richardson estimate
≤ tol at γ* and a relative error estimate ≤ 1e-6: (3·estimate + |f| + Σ_k |∂K3/∂E_k| δE_k)/
(γ|∂K3/∂γ|) + last step/γ, with the level-gap errors δE_k of the spectrum (as the dense path).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._config import ensure_x64
from ._lindblad import split_parity
from ._status import Status
from .dynamics._propagate import SplitModel, step_bucket

#: Accepted Richardson estimate per correlator (absolute).
SPLIT_TOL = 1e-9
#: n₀ under jit/vmap (no concrete Δt to choose from); estimate checked in-graph.
TRACED_STEPS = 256
_MAX_STEPS = 4096
#: Initial n₀ of a K3 point is at least γφ·Δt·max σ²/STIFF_STEP (σ: singular values of the
#: truncated (Jz)_eo): with a larger Strang step the estimate does not reach SPLIT_TOL.
STIFF_STEP = 2.0
_EPS = float(np.finfo(np.float64).eps)


def split_model(gaps, jz, q) -> SplitModel:
    """The splitting model of the truncated operators (levels alternate +, -, +, …).

    (Jz)_eo = U diag(σ) Wᵀ (thin SVD, differentiable for distinct σ); for odd n the even block
    has one more state, completed by the unit vector orthogonal to U's columns (μ = 0)."""
    ee, eo, b, qb = split_parity(gaps, jz, q)
    ne, no = b.shape
    u, s, wt = jnp.linalg.svd(b, full_matrices=False)
    if ne > no:
        pr = jnp.eye(ne) - u @ u.T  # rank-one projector on the complement
        k = jnp.argmax(jnp.diag(jax.lax.stop_gradient(pr)))
        u0 = pr[:, k] / jnp.sqrt(pr[k, k])
        u = jnp.concatenate([u, u0[:, None]], axis=1)
        s = jnp.concatenate([s, jnp.zeros(ne - no)])
    return SplitModel(ee, eo, u.T, wt, s, qb, b)


def _concrete(*xs):
    """Concrete numpy values of possibly traced arrays (eager jvp/grad), or None under jit/vmap."""
    try:
        return [np.asarray(jax.lax.stop_gradient(x)) for x in xs]
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return None


def _steps0(t):
    """Initial n₀ per point from Δt (h ≤ 0.5 ħ/J)."""
    return np.array([step_bucket(float(x)) for x in np.ravel(t)], dtype=np.int64)


def _run_buckets(kernel, args, accepted, n_out, fallback=None, start=None):
    """Evaluate ``kernel(*args_subset, n0)`` per static n₀ bucket; retry the points that are
    not ``accepted`` with 2n₀ (each point alone decides: its answer never depends on its batch).
    Points still not accepted at n₀ = 4096 go to ``fallback(*args_subset)`` if given.

    Concrete inputs: one pass with retries. Traced inputs with concrete values (eager
    jvp/grad): the step counts are chosen on the concrete values, then one traced pass per
    bucket. No concrete values (jit/vmap): n₀ = ``TRACED_STEPS`` for all points, no retries.
    ``args[4]`` is Δt (ħ/J) per point; ``start(concrete args)`` may raise the initial n₀ (values
    above 4096 send the point straight to ``fallback``)."""
    size = int(np.shape(args[4])[0])
    conc = _concrete(*args)
    traced = any(isinstance(a, jax.core.Tracer) for a in args)
    if conc is None:
        return kernel(*args, TRACED_STEPS)
    n0 = _steps0(conc[4]) if start is None else np.maximum(_steps0(conc[4]), start(*conc))
    out = [np.full(size, np.nan) for _ in range(n_out)]
    todo = np.ones(size, bool)
    if fallback is not None and (n0 > _MAX_STEPS).any():
        idx = np.nonzero(n0 > _MAX_STEPS)[0]
        for o, r in zip(out, fallback(*(jnp.asarray(a[idx]) for a in conc))):
            o[idx] = np.asarray(r)
        n0[idx] = -1
        todo[idx] = False
    while todo.any():
        for b in np.unique(n0[todo]):
            idx = np.nonzero(todo & (n0 == b))[0]
            for o, r in zip(out, kernel(*(jnp.asarray(a[idx]) for a in conc), int(b))):
                o[idx] = np.asarray(r)
        todo = todo & ~accepted(out)
        if fallback is not None and (todo & (n0 * 2 > _MAX_STEPS)).any():
            idx = np.nonzero(todo & (n0 * 2 > _MAX_STEPS))[0]
            for o, r in zip(out, fallback(*(jnp.asarray(a[idx]) for a in conc))):
                o[idx] = np.asarray(r)
            n0[idx] = -1
        todo = todo & (n0 > 0) & (n0 * 2 <= _MAX_STEPS)
        n0 = np.where(todo, n0 * 2, n0)
    if not traced:
        return tuple(jnp.asarray(o) for o in out)
    res = None
    for b in np.unique(n0):
        idx = np.nonzero(n0 == b)[0]
        sub = [a[idx] for a in args]
        part = fallback(*sub) if b < 0 else kernel(*sub, int(b))
        if res is None:
            res = [jnp.zeros((size,) + jnp.shape(r)[1:], jnp.result_type(r)) for r in part]
        res = [x.at[idx].set(r) for x, r in zip(res, part)]
    return tuple(res)


# ----------------------------------------------------------------------------------------
# K3 / correlators
# ----------------------------------------------------------------------------------------

def _corr_point(e, jz, q, g, t, p, n0: int, sequential: bool):
    """(C12, C23, C13, trusted, estimate) at one point: the Zeno elimination where the dense path
    uses it (same switch), else the splitting; trusted where the estimate is ≤ SPLIT_TOL."""
    from ._leggett_garg import _regime, _zeno_point
    from ._lg_full import _corr_model

    use_zeno, _ = _regime(e, jz, jax.lax.stop_gradient(g), jax.lax.stop_gradient(t), sequential)
    g_split = jnp.where(use_zeno, 0.0, g)
    c12, c23, c13, err = _corr_model(split_model(e, jz, q), g_split, t, p, n0, sequential)
    iso = lambda x: jnp.where(use_zeno, x, jax.lax.stop_gradient(x))
    cz = _zeno_point(iso(e), iso(jz), iso(q), jnp.where(use_zeno, g, 1.0), t, p, sequential)
    out = tuple(jnp.where(use_zeno, z, d) for z, d in zip(cz, (c12, c23, c13)))
    err = jnp.where(use_zeno, 0.0, err)
    trusted = (err <= SPLIT_TOL) & jnp.all(jnp.isfinite(jnp.stack(out)))
    return out + (trusted, err)


@jax.jit(static_argnames=("sequential",))
def _zeno_used(e, jz, g, t, sequential):
    from ._leggett_garg import _regime

    return jax.vmap(lambda *a: _regime(*a, sequential)[0])(e, jz, g, t)


@jax.jit(static_argnames=("n0", "sequential"))
def _corr_batch(e, jz, q, g, t, p, n0, sequential):
    return jax.vmap(lambda *a: _corr_point(*a, n0, sequential))(e, jz, q, g, t, p)


def correlators_split(e, jz, q, g, t, p, sequential: bool):
    """(C12, C23, C13, trusted) for flat batches of truncated operators (shapes as the dense
    ``_leggett_garg._corr_batch``), with per-point step counts and retries. In eager calls a
    point whose estimate is still above ``SPLIT_TOL`` at n₀ = 4096 (strong dephasing between
    the dense generator's float64 limit and the Zeno regime: γφ·h·(μ_a - μ_b)² not small) is
    evaluated by the dense expm instead (slow, exact, same trust rules as the dense path)."""
    ensure_x64()
    from ._leggett_garg import _corr_batch as _dense_batch

    kernel = lambda e_, jz_, q_, g_, t_, p_, n0: _corr_batch(e_, jz_, q_, g_, t_, p_, n0, sequential)

    def dense(*a):  # stiff points (γφ·h·(μ_a - μ_b)² not small at 4096 steps): the dense expm
        c12, c23, c13, ok = _dense_batch(*a, sequential)
        return c12, c23, c13, ok, jnp.zeros_like(c12)

    def start(e_, jz_, q_, g_, t_, p_):
        # the Strang estimate reaches 1e-9 once γφ·h·max σ² ≲ 2 (measured at N = 40, n = 20);
        # points in the Zeno regime are not propagated (their kernel output is the elimination)
        s2 = np.max(np.abs(np.linalg.eigvalsh(jz_)), axis=-1) ** 2
        need = np.ceil(np.log2(np.maximum(g_ * t_ * s2 / STIFF_STEP, 1.0)))
        n0 = np.where(np.isfinite(need), 2.0 ** np.minimum(need, 30), 2.0**30).astype(np.int64)
        zeno = np.asarray(_zeno_used(jnp.asarray(e_), jnp.asarray(jz_), jnp.asarray(g_), jnp.asarray(t_), sequential))
        return np.where(zeno, 1, n0)

    accepted = lambda o: ~(o[4] > SPLIT_TOL)
    c12, c23, c13, trusted, _ = _run_buckets(kernel, (e, jz, q, g, t, p), accepted, 5, fallback=dense, start=start)
    return c12, c23, c13, trusted > 0 if trusted.dtype != jnp.bool_ else trusted


# ----------------------------------------------------------------------------------------
# Thresholds
# ----------------------------------------------------------------------------------------

def _k3_split(gaps, jz, q, g, t, p, n0, sequential, levels=3):
    from ._lg_full import _corr_model

    c12, c23, c13, err = _corr_model(split_model(gaps, jz, q), g, t, p, n0, sequential, levels=levels)
    return c12 + c23 - c13, err


def _threshold_point(gaps, gerr, jz, q, t, p, rtol, max_iter: int, n0: int, default: bool, sequential: bool):
    """(γ*, status, evaluations, K3(0), error estimate, K3(γ*) - 1, Richardson estimate)."""
    from ._lg_full import _polish
    from ._threshold import _COND_TOL, _RESID_TOL, _guess, _solve_point

    mod = split_model(gaps, jz, q)
    n_cheap = max(n0 // 4, 1)

    def cheap(g):
        from ._lg_full import _corr_model

        c12, c23, c13, _ = _corr_model(mod, g, t, p, n_cheap, sequential, levels=2)
        return c12 + c23 - c13

    def accurate(g):
        from ._lg_full import _corr_model

        c12, c23, c13, err = _corr_model(mod, g, t, p, n0, sequential)
        return c12 + c23 - c13 - 1.0, err

    g_a, st_a, it_a, k0 = _solve_point(cheap, _guess(gaps, jz, q, t), rtol, max_iter)
    start = jnp.where(st_a == Status.OK, -1, st_a).astype(jnp.int32)
    gam, st, it_b, f, err, rel = _polish(accurate, cheap, g_a, start, rtol)
    ok = st == Status.OK
    gs = jnp.where(ok, gam, 1.0)

    # conditioning: phase errors δ(E_k - E_0)·Δt (incl. the default Δt = π/(3ΔE)), one reverse pass
    def k3_of(gm, e):
        tt = jnp.pi / (3.0 * e[1]) if default else t
        return _k3_split(e, jz, q, gm, tt, p, n_cheap, sequential, levels=2)[0]

    dfdg, dfde = jax.grad(k3_of, argnums=(0, 1))(gs, gaps)
    cond = (jnp.abs(f) + jnp.sum(jnp.abs(dfde) * gerr) + 4.0 * _EPS) / (jnp.abs(dfdg) * gs)
    est = rel + cond
    good = (err <= SPLIT_TOL) & (jnp.abs(f) <= _RESID_TOL)
    st = jnp.where(ok & ~good, Status.NOT_CONVERGED, st)
    st = jnp.where((st == Status.OK) & ~(est <= _COND_TOL), Status.ILL_CONDITIONED, st).astype(jnp.int32)
    ok = st == Status.OK
    return (jnp.where(ok, gam, jnp.nan), st, it_a + it_b, k0, jnp.where(ok, est, jnp.nan),
            jnp.where(ok, f, jnp.nan), err, jnp.full_like(gs, float(n0)))


@jax.jit(static_argnames=("max_iter", "n0", "default", "sequential"))
def _threshold_batch(gaps, gerr, jz, q, t, p, rtol, max_iter, n0, default, sequential):
    f = lambda *a: _threshold_point(*a, rtol, max_iter, n0, default, sequential)
    return jax.vmap(f)(gaps, gerr, jz, q, t, p)


def solve_split(gaps, gerr, jz, q, t, p, rtol, max_iter: int, default: bool, sequential: bool):
    """Thresholds for flat batches (concrete inputs; the primal of ``_threshold``): returns
    (γ*, status, evaluations, K3(0), error estimate, residual) like the dense ``_solve_all``,
    plus the per-point step counts (for the implicit-function derivatives)."""
    ensure_x64()
    kernel = lambda a, b, c, d, e, f_, n0: _threshold_batch(a, b, c, d, e, f_, rtol, max_iter, n0, default,
                                                            sequential)
    # retry a point with 2n₀ only where the root was found but its Richardson estimate is too large
    accepted = lambda o: ~((o[1] == Status.NOT_CONVERGED) & (o[6] > SPLIT_TOL))
    out = _run_buckets(kernel, (gaps, gerr, jz, q, t, p), accepted, 8)
    g, st, it, k0, est, resid, _, n0 = out
    return g, st.astype(jnp.int32), it.astype(jnp.int32), k0, est, resid, n0


def k3_split_at(gaps, jz, q, g, t, p, n0, sequential: bool):
    """Accurate K3 per point with the step counts ``n0`` (concrete numpy ints per point, or one
    int): the differentiable K3 the implicit-function derivatives of the threshold use."""
    n0 = np.broadcast_to(np.asarray(n0, np.int64), (gaps.shape[0],))
    res = jnp.zeros(gaps.shape[0], jnp.result_type(gaps, g, t, p, float))
    for b in np.unique(n0):
        idx = np.nonzero(n0 == b)[0]
        k = jax.vmap(lambda *a: _k3_split(*a, int(b), sequential)[0])(gaps[idx], jz[idx], q[idx], g[idx], t[idx],
                                                                       p[idx])
        res = res.at[idx].set(k)
    return res
