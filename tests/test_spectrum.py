"""Spectrum engine: exactness against dense scipy, parity structure, batching, gradients."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl
from conftest import build_lmg_numpy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import jaxlmg
from jaxlmg import Status


def test_n2_self_test():
    """Seed 001 §3 / Appendix I self-test: N=2, Γ=0.5."""
    s = jaxlmg.spectrum(2, 0.5)
    expected = np.sort([(-1 - np.sqrt(5)) / 2, (-1 + np.sqrt(5)) / 2, -1.0])
    assert np.allclose(s.energies, expected, atol=1e-13)
    # the odd level is -J, independent of Γ; the ground state is even
    assert list(np.asarray(s.parity)) == [1, -1, 1]


@pytest.mark.parametrize("field", [0.1, 0.5, 1.3])
def test_n2_closed_form(field):
    s = jaxlmg.spectrum(2, field)
    e_minus = 0.5 * (-1 - np.sqrt(1 + 16 * field**2))
    assert np.isclose(s.energies[0], e_minus, atol=1e-13)
    assert np.isclose(s.delta_e, 0.5 * (-1 + np.sqrt(1 + 16 * field**2)), atol=1e-13)


def test_n1_two_level():
    s = jaxlmg.spectrum(1, 0.3)
    assert np.allclose(s.energies, [-0.5 - 0.3, -0.5 + 0.3], atol=1e-14)


def test_gamma_zero_is_diagonal():
    s = jaxlmg.spectrum(6, 0.0)
    m = np.arange(-3, 4)
    ref = np.sort(-(2 / 6) * m**2)
    assert np.allclose(s.energies, ref, atol=1e-14)
    assert s.delta_e == 0.0 and s.status == Status.OK  # exact degeneracy is resolved


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 400), field=st.floats(0.01, 1.99), bias=st.sampled_from([0.0, 0.0, 0.01, -0.2]),
       levels=st.integers(1, 6))
def test_matches_dense_scipy(n, field, bias, levels):
    levels = min(levels, n + 1)
    s = jaxlmg.spectrum(n, field, bias=bias, levels=levels)
    h, m = build_lmg_numpy(n, field, bias)
    w, v = sl.eigh(h)
    scale = np.abs(w).max() + 1
    assert np.allclose(s.energies, w[:levels], atol=1e-12 * scale)
    vec = np.asarray(s.vectors)
    # eigenvectors: residual and orthonormality (phases/degenerate bases may differ)
    assert np.allclose(h @ vec, vec * np.asarray(s.energies), atol=1e-9 * scale)
    assert np.allclose(vec.T @ vec, np.eye(levels), atol=1e-10)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 120), field=st.floats(0.01, 1.99))
def test_parity_labels_and_selection_rules(n, field):
    s = jaxlmg.spectrum(n, field)  # all levels
    vec = np.asarray(s.vectors)
    pi = np.asarray(jaxlmg.spin_flip_parity(n))
    par = np.asarray(s.parity)
    assert np.allclose(pi @ vec, vec * par, atol=1e-12)
    jz = jaxlmg.matrix_elements(s, "jz")
    q = jaxlmg.matrix_elements(s, "q")
    jz2 = jaxlmg.matrix_elements(s, "jz2")
    same = par[:, None] == par[None, :]
    assert np.max(np.abs(np.diag(np.asarray(jz)))) < 1e-12
    assert np.max(np.abs(np.where(same, q, 0.0))) < 1e-12
    assert np.max(np.abs(np.where(~same, jz2, 0.0))) < 1e-9
    # completeness: Σ_k |⟨Ei|Jz|Ek⟩|² = ⟨Ei|Jz²|Ei⟩
    assert np.allclose(np.sum(np.asarray(jz) ** 2, axis=1), np.diag(np.asarray(jz2)), rtol=1e-11, atol=1e-11)


def test_batched_equals_one_at_a_time():
    ns = np.array([3, 10, 57, 200, 370])
    fields = np.array([0.4, 0.95, 1.2, 0.95, 0.95])
    batch = jaxlmg.spectrum(ns, fields, levels=4)
    for i, (n, f) in enumerate(zip(ns, fields)):
        one = jaxlmg.spectrum(int(n), float(f), levels=4)
        assert np.allclose(batch.energies[i], one.energies, atol=1e-12, rtol=0)
        v1 = np.asarray(one.vectors)
        assert np.allclose(np.asarray(batch.vectors[i, : n + 1]), v1, atol=1e-10)
        assert np.all(np.asarray(batch.vectors[i, n + 1 :]) == 0.0)
    # grid broadcasting
    grid = jaxlmg.spectrum(ns[:, None], np.array([0.5, 0.9])[None, :], levels=2)
    assert grid.energies.shape == (5, 2, 2)
    assert np.allclose(grid.energies[2, 1], jaxlmg.spectrum(57, 0.9, levels=2).energies, atol=1e-12)


def test_padding_matches_unpadded():
    a = jaxlmg.spectrum(np.array([40]), 0.8, levels=5, bucket=False)
    b = jaxlmg.spectrum(np.array([40, 300]), 0.8, levels=5, bucket=False)  # 40 padded to 301
    assert np.allclose(a.energies[0], b.energies[0], atol=1e-13, rtol=0)
    assert np.allclose(a.vectors[0], b.vectors[0, :41], atol=1e-12)


def test_paper_benchmark_point():
    s = jaxlmg.spectrum(370, 0.95, levels=3)
    de = float(s.delta_e)
    assert np.isclose(de, 0.0352, atol=5e-5)
    assert np.isclose(jaxlmg.BEC.energy_to_rad_s(de), 1310.0, atol=0.5)
    e = np.asarray(s.energies)
    assert np.isclose((e[2] - e[1]) / de, 10.4, atol=0.05)  # ΔE21/ΔE10
    assert np.isclose((e[2] - e[0]) / de, 11.4, atol=0.05)


def test_small_splitting_is_resolved():
    """N=3000 at Γ/J=0.95: ΔE ~ 6e-14 J is below eps·‖H‖ (plain eigh returns 0); the
    Herring splitting resolves it (accuracy against mpmath: tests/test_splitting.py)."""
    s = jaxlmg.spectrum(np.array([370, 3000]), 0.95, levels=2)
    assert list(np.asarray(s.status)) == [Status.OK, Status.OK]
    assert np.all(np.isfinite(s.delta_e)) and 1e-14 < float(s.delta_e[1]) < 1e-13
    plain = np.asarray(s.energies[:, 1] - s.energies[:, 0])
    assert abs(plain[0] - float(s.delta_e[0])) <= 1e-12  # same number where float64 resolves it
    f = jaxlmg.doublet_factors(3000, 0.95)
    assert np.isfinite(f.g01)  # eigenvector quantities stay valid (parity blocks)
    # doublet_factors takes ΔE from the cancellation-free gaps, not from E1 - E0
    assert abs(float(f.delta_e) - float(s.delta_e[1])) <= 1e-12 * float(s.delta_e[1])
    e2 = float(jaxlmg.spectrum(3000, 0.95, levels=3).gaps[2])
    assert abs(float(f.gap_ratio_20) * float(f.delta_e) - e2) <= 1e-12 * e2


def test_traced_coupling():
    """coupling may be traced: jit equals the concrete call, H(J, Γ) = J·H(1, Γ/J) holds,
    the derivative matches a central difference, and invalid traced values are flagged."""
    ns, fs = np.array([6, 41, 200]), np.array([0.9, 1.3, 0.95])
    c = 1.3
    conc = jaxlmg.spectrum(ns, fs, levels=3, coupling=c)
    traced = jax.jit(lambda x: jaxlmg.spectrum(ns, fs, levels=3, coupling=x))(c)
    for name in ("energies", "gaps", "log_delta_e"):
        a, b = np.asarray(getattr(conc, name)), np.asarray(getattr(traced, name))
        assert np.max(np.abs(a - b) / np.maximum(np.abs(a), 1.0)) <= 1e-13, name
    assert np.all(np.asarray(traced.status) == Status.OK)
    assert float(traced.coupling) == c
    unit = jaxlmg.spectrum(ns, fs / c, levels=3)
    assert np.max(np.abs(np.asarray(conc.gaps[:, 1:]) / (c * np.asarray(unit.gaps[:, 1:])) - 1.0)) <= 1e-12
    assert np.max(np.abs(np.asarray(conc.log_delta_e) - np.log(c) - np.asarray(unit.log_delta_e))) <= 1e-12

    def gap2(x):
        return jaxlmg.spectrum(41, 1.3, levels=3, coupling=x).gaps[2]

    h = 1e-5
    fd = (float(gap2(c + h)) - float(gap2(c - h))) / (2 * h)
    assert abs(float(jax.grad(gap2)(c)) - fd) <= 1e-7 * max(abs(fd), 1.0)
    bad = jax.jit(lambda x: jaxlmg.spectrum(ns, fs, levels=3, coupling=x))(-1.0)
    assert np.all(np.asarray(bad.status) == Status.INVALID_INPUT)
    assert np.all(np.isnan(np.asarray(bad.energies)))
    for v in (0.0, -1.0, float("nan"), "a", True, [1.0, 2.0]):
        with pytest.raises(ValueError, match="coupling"):
            jaxlmg.spectrum(6, 0.9, levels=2, coupling=v)


def test_concrete_inputs_inside_an_outer_jit():
    """Concrete inputs under an outer jit (kernel outputs are staged tracers): mixed N
    buckets are assembled in the traced graph and equal the eager result."""
    ns, fs = np.array([4, 13, 90]), np.array([0.9, 0.5, 1.2])
    eager = jaxlmg.spectrum(ns, fs, levels=3)
    staged = jax.jit(lambda x: jaxlmg.spectrum(ns, fs, levels=3).gaps * x)(1.0)
    assert np.max(np.abs(np.asarray(staged) - np.asarray(eager.gaps))) <= 1e-12


def test_jit_vmap_grad():
    def e0(field):
        return jaxlmg.spectrum(60, field, levels=3).energies[..., 0]

    fields = jnp.array([0.3, 0.9, 1.4])
    vm = jax.jit(jax.vmap(e0))(fields)
    assert np.allclose(vm, jaxlmg.spectrum(60, np.asarray(fields), levels=3).energies[:, 0], atol=1e-12)
    g = jax.grad(lambda f: e0(f))(0.9)
    fd = (e0(0.9 + 1e-6) - e0(0.9 - 1e-6)) / 2e-6
    assert np.isclose(g, fd, rtol=1e-7)
    # Hellmann–Feynman: dE0/dΓ = -2⟨E0|Jx|E0⟩
    s = jaxlmg.spectrum(60, 0.9, levels=3)
    assert np.isclose(g, -2 * jaxlmg.matrix_elements(s, "jx")[0, 0], rtol=1e-10)


@settings(max_examples=8, deadline=None)
@given(n=st.integers(2, 60), field=st.floats(0.1, 1.8), bias=st.floats(-0.3, 0.3))
def test_gradients_against_finite_differences(n, field, bias):
    # Well-conditioned points only: with a near-degenerate doublet in the full (h ≠ 0)
    # matrix the eigenvector derivative ~ 1/ΔE is itself ill-conditioned in float64.
    gap = np.diff(np.asarray(jaxlmg.spectrum(n, field, bias=bias, levels=2).energies))[0]
    assume(gap > 1e-3)

    def f(x):
        s = jaxlmg.spectrum(n, x[0], bias=x[1], levels=2)
        v = s.vectors[:, 0]
        return s.energies[1] + jnp.sum(s.m * v**2)  # energy + ⟨Jz⟩ (eigenvector-dependent)

    x = jnp.array([field, bias])
    g = jax.grad(f)(x)
    # ⟨Jz⟩ varies on the bias scale ΔE/N: step well inside it, 5-point stencil.
    h = 1e-2 * min(1.0, gap) / n
    fd = np.array([(-f(x + 2 * h * u) + 8 * f(x + h * u) - 8 * f(x - h * u) + f(x - 2 * h * u)) / (12 * h)
                   for u in np.eye(2)])
    assert np.allclose(g, fd, rtol=1e-5, atol=1e-6 * (1 + np.abs(fd).max()))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_spins=0, field=0.5), "n_spins"),
        (dict(n_spins=2.5, field=0.5), "n_spins"),
        (dict(n_spins=-1, field=0.5), "n_spins"),
        (dict(n_spins=10, field=np.nan), "field"),
        (dict(n_spins=10, field=-0.1), "field"),
        (dict(n_spins=10, field=np.inf), "field"),
        (dict(n_spins=10, field=0.5, bias=np.nan), "bias"),
        (dict(n_spins=10, field=0.5, levels=0), "levels"),
        (dict(n_spins=10, field=0.5, levels=12), "levels"),
        (dict(n_spins=10, field=0.5, levels=2.5), "levels"),
        (dict(n_spins=10, field=0.5, on_invalid="ignore"), "on_invalid"),
        (dict(n_spins=10, field="x"), "field"),
    ],
)
def test_bad_input_raises(kwargs, match):
    n = kwargs.pop("n_spins")
    f = kwargs.pop("field")
    with pytest.raises(ValueError, match=match):
        jaxlmg.spectrum(n, f, **kwargs)


def test_batch_error_names_index():
    with pytest.raises(ValueError, match=r"field .* at index \(1,\)"):
        jaxlmg.spectrum(10, np.array([0.5, -1.0, 0.7]))


def test_batch_mask_mode_isolates_bad_points():
    s = jaxlmg.spectrum(np.array([10, 0, 12, 10]), np.array([0.5, 0.5, np.nan, 0.7]), levels=3, on_invalid="mask")
    st_ = np.asarray(s.status)
    assert list(st_) == [Status.OK, Status.INVALID_INPUT, Status.INVALID_INPUT, Status.OK]
    assert np.all(np.isnan(s.energies[1])) and np.all(np.isnan(s.energies[2]))
    assert np.allclose(s.energies[0], jaxlmg.spectrum(10, 0.5, levels=3).energies, atol=1e-12)
    assert np.allclose(s.energies[3], jaxlmg.spectrum(10, 0.7, levels=3).energies, atol=1e-12)
    # ragged batch in mask mode: missing levels of small N are NaN, not an error
    r = jaxlmg.spectrum(np.array([1, 5]), 0.5, levels=4, on_invalid="mask")
    assert np.all(np.isnan(r.energies[0, 2:])) and np.all(np.isfinite(r.energies[1]))


@pytest.mark.parametrize("solver", ["bisection", "laguerre", "dense"])
def test_solvers_agree_and_differentiate(solver):
    ns = np.array([31, 64, 150])
    s = jaxlmg.spectrum(ns, 0.9, levels=4, solver=solver)
    for i, n in enumerate(ns):
        h, _ = build_lmg_numpy(int(n), 0.9)
        w = np.linalg.eigvalsh(h)[:4]
        assert np.allclose(s.energies[i], w, atol=1e-11 * (1 + abs(w).max()))
    g = jax.grad(lambda f: jaxlmg.spectrum(40, f, levels=3, solver=solver).energies[2])(0.9)
    fd = (jaxlmg.spectrum(40, 0.9 + 1e-6, levels=3).energies[2] - jaxlmg.spectrum(40, 0.9 - 1e-6, levels=3).energies[2]) / 2e-6
    assert np.isclose(g, fd, rtol=1e-6)
    with pytest.raises(ValueError, match="solver"):
        jaxlmg.spectrum(4, 0.5, solver="lapack")


@pytest.mark.parametrize("n", [5, 8])
def test_matrix_elements_match_dense_operators(n):
    s = jaxlmg.spectrum(n, 0.7, levels=n + 1)
    v = np.asarray(s.vectors)
    ops = {"jz": jaxlmg.jz(n), "jz2": jaxlmg.jz2(n), "jx": jaxlmg.jx(n), "jplus": jaxlmg.jplus(n),
           "jminus": jaxlmg.jminus(n), "q": jaxlmg.sign_jz(n), "parity": jaxlmg.spin_flip_parity(n)}
    for name, op in ops.items():
        assert np.allclose(jaxlmg.matrix_elements(s, name), v.T @ np.asarray(op) @ v, atol=1e-12), name
    jx = np.asarray(jaxlmg.jx(n))
    assert np.allclose(jaxlmg.matrix_elements(s, "jx2"), v.T @ jx @ jx @ v, atol=1e-11)


# ----------------------------------------------------------------- batch independence

_W3_LIKE = [(int(n), float(g)) for n in (1, 2, 7, 100, 101, 250, 371, 600) for g in (0.0, 0.3, 0.86, 0.95, 0.99)]


def _fields(s, i):
    return (np.asarray(s.energies[i]), np.asarray(s.gaps[i]), float(s.log_delta_e[i]), int(s.status[i]),
            np.asarray(s.parity[i]))


def _same(a, b):
    for x, y in zip(a[:2], b[:2]):
        ok = np.isnan(x) == np.isnan(y)
        assert np.all(ok), (x, y)
        x, y = x[~np.isnan(x)], y[~np.isnan(y)]
        assert np.all(np.abs(x - y) <= 1e-12 * np.maximum(np.abs(y), 1e-300)), (x, y)
    assert (a[2] == b[2]) or abs(a[2] - b[2]) <= 1e-12 * abs(b[2]), (a[2], b[2])
    assert a[3] == b[3] and np.array_equal(a[4], b[4])


@settings(max_examples=3, deadline=None)
@given(perm_seed=st.integers(0, 2**31 - 1), cut=st.sampled_from([5, 13, 29]))
def test_point_independent_of_batch(perm_seed, cut):
    """Same point alone, in sub-batches, permuted, padded, next to invalid points and
    N = 1: identical energies, gaps, ΔE (≤ 1e-12 relative) and status."""
    rng = np.random.default_rng(perm_seed)
    pts = [_W3_LIKE[i] for i in rng.permutation(len(_W3_LIKE))]
    ns = np.array([p[0] for p in pts])
    gs = np.array([p[1] for p in pts])
    kw = dict(levels=3, on_invalid="mask")
    full = jaxlmg.spectrum(ns, gs, **kw)
    sub = jaxlmg.spectrum(ns[:cut], gs[:cut], **kw)
    # invalid neighbours (masked) and an N = 1 point
    ns_bad = np.concatenate([ns[cut:], [0, 5, 1]])
    gs_bad = np.concatenate([gs[cut:], [0.9, np.nan, 0.9]])
    bad = jaxlmg.spectrum(ns_bad, gs_bad, **kw)
    unb = jaxlmg.spectrum(ns, gs, bucket=False, **kw)  # one kernel padded to max N
    for i in range(len(pts)):
        ref = jaxlmg.spectrum(int(ns[i]), float(gs[i]), **kw) if (i in (0, cut) and ns[i] >= 2) else None
        a = _fields(full, i)
        b = _fields(sub, i) if i < cut else _fields(bad, i - cut)
        _same(a, b)
        _same(_fields(unb, i), a)
        if ref is not None:
            _same((np.asarray(ref.energies), np.asarray(ref.gaps), float(ref.log_delta_e), int(ref.status),
                   np.asarray(ref.parity)), a)
    assert list(np.asarray(bad.status[-3:])) == [Status.INVALID_INPUT, Status.INVALID_INPUT, Status.OK]


def test_n1_in_batch_keeps_levels_of_others():
    s = jaxlmg.spectrum(np.array([1, 10, 40]), 0.5, levels=3, on_invalid="mask")
    assert np.all(np.isfinite(s.energies[1:])) and np.isnan(s.energies[0, 2])
    assert np.allclose(s.energies[1], jaxlmg.spectrum(10, 0.5, levels=3).energies, rtol=1e-13, atol=0)


def test_masked_points_report_given_inputs():
    s = jaxlmg.spectrum(np.array([10, 0, 12, 2.5]), np.array([0.5, 0.5, np.nan, 0.7]), levels=2, on_invalid="mask")
    assert list(np.asarray(s.n_spins)) == [10, 0, 12, -1]
    f = np.asarray(s.field)
    assert f[0] == 0.5 and f[1] == 0.5 and np.isnan(f[2]) and f[3] == 0.7
    assert np.all(np.isnan(s.gaps[1:])) and np.all(np.isnan(s.log_delta_e[1:])) and np.all(np.isnan(s.delta_e[1:]))
    assert not np.any(np.asarray(s.mask[1:]))


def test_levels_one_reports_true_splitting():
    one = jaxlmg.spectrum(np.array([20, 21]), 0.9, levels=1)
    two = jaxlmg.spectrum(np.array([20, 21]), 0.9, levels=2)
    assert np.allclose(one.delta_e, two.delta_e, rtol=1e-14, atol=0) and np.all(np.asarray(one.delta_e) > 0)
    b1 = jaxlmg.spectrum(20, 0.9, bias=0.01, levels=1)
    b2 = jaxlmg.spectrum(20, 0.9, bias=0.01, levels=2)
    assert float(b1.delta_e) > 0 and np.isclose(float(b1.delta_e), float(b2.delta_e), rtol=1e-12)


@pytest.mark.parametrize("kwargs, match", [
    (dict(n_spins=True, field=0.5), "n_spins"),
    (dict(n_spins=np.array([True, False]), field=0.5), "n_spins"),
    (dict(n_spins=5, field=0.5, levels=True), "levels"),
    (dict(n_spins=1e20, field=0.5), "n_spins"),
    (dict(n_spins=3e9, field=0.5), "n_spins"),
])
def test_bad_input_raises_issue11(kwargs, match):
    n = kwargs.pop("n_spins")
    f = kwargs.pop("field")
    with pytest.raises(ValueError, match=match):
        jaxlmg.spectrum(n, f, **kwargs)


def test_memory_refusal_is_a_clear_error():
    with pytest.raises(ValueError, match="n_spins.*GiB"):
        jaxlmg.spectrum(900_000_000, 0.5, levels=2)  # allowed N (≤ 1e9) whose arrays do not fit
    with pytest.raises(ValueError, match="n_spins"):
        jaxlmg.spectrum(2_000_000_000, 0.5, levels=2)


def test_traced_invalid_values_are_flagged():
    f = jax.jit(lambda g: (jaxlmg.spectrum(30, g, levels=2).log_delta_e, jaxlmg.spectrum(30, g, levels=2).status))
    for bad in (np.nan, -0.9, np.inf):
        lde, st_ = f(bad)
        assert np.isnan(lde) and int(st_) == Status.INVALID_INPUT
    lde, st_ = f(0.9)
    assert np.isfinite(lde) and int(st_) == Status.OK
    g = jax.jit(lambda b: jaxlmg.spectrum(30, 0.9, bias=b, levels=2).status)
    assert int(g(np.nan)) == Status.INVALID_INPUT


def test_chunked_calls_equal_one_call(monkeypatch):
    """Cutting a size bucket into chunks of points (``_chunk_points``, sized for the CPU
    cache) changes nothing: with chunks of 1-2 points the spectrum of a mixed batch is
    bitwise the one-call spectrum, vectors included."""
    from jaxlmg import _spectrum as S

    ns = np.array([100, 101, 250, 371, 600, 598, 7, 3])
    gs = np.array([0.95, 0.3, 0.86, 0.99, 0.95, 0.5, 0.9, 1.2])
    one = jaxlmg.spectrum(ns, gs, levels=4)
    # the default chunk (≥ 32 points here) holds each bucket of this batch in one call
    assert all(S._chunk_points(2, r, 2, "bisection") >= 32 for r in (64, 128, 256, 512))
    monkeypatch.setattr(S, "CHUNK_ELEMENTS_CPU", 2 * 256 * 2 * 2)  # two points per call at 256 rows
    assert S._chunk_points(2, 256, 2, "bisection") == 2 and S._chunk_points(2, 512, 2, "bisection") == 1
    cut = jaxlmg.spectrum(ns, gs, levels=4)
    for name in ("energies", "gaps", "vectors", "log_delta_e", "status", "parity"):
        a, b = np.asarray(getattr(cut, name)), np.asarray(getattr(one, name))
        assert np.array_equal(a, b, equal_nan=True), name


def test_spectrum_operators_equal_matrix_elements_of_the_spectrum():
    """The in-kernel (Jz, Q) elements from the block vectors equal ⟨E_i|Jz|E_j⟩ and
    ⟨E_i|sgn Jz|E_j⟩ of the full spectrum's Dicke vectors (even and odd N, N < levels - 1 not
    allowed, N = 1, 2), with identical energies, gaps, parities and statuses; and their
    derivative in Γ matches a central finite difference."""
    import jax.numpy as jnp

    from jaxlmg import matrix_elements
    from jaxlmg._spectrum import spectrum_operators

    rng = np.random.default_rng(11)
    for lv in (2, 5):  # N + 1 ≤ 95: the two smallest size buckets (compile time)
        n = np.concatenate([rng.integers(lv - 1, 95, 30), [lv - 1, lv, 93, 94]])
        f = rng.uniform(0.0, 1.4, n.size)
        s = jaxlmg.spectrum(n, f, levels=lv)
        so, ops = spectrum_operators(n, f, levels=lv)
        assert so.vectors.shape == (n.size, 0, lv)
        for name in ("energies", "gaps", "parity", "status"):
            assert np.array_equal(np.asarray(getattr(s, name)), np.asarray(getattr(so, name)), equal_nan=True), name
        jz = np.asarray(matrix_elements(s, "jz"))
        q = np.asarray(matrix_elements(s, "q", sgn0=0.0))
        err_jz = np.max(np.abs(jz - np.asarray(ops[:, 0])) / (n[:, None, None] / 2.0))
        err_q = np.max(np.abs(q - np.asarray(ops[:, 1])))
        assert not err_jz > 1e-13 and not err_q > 1e-13, (lv, err_jz, err_q)

    def ops_of(g):
        return spectrum_operators(np.array([60, 61]), g, levels=4)[1]

    g0, h = jnp.array([0.7, 0.9]), 1e-5
    _, tan = jax.jvp(ops_of, (g0,), (jnp.ones(2),))
    fd = (np.asarray(ops_of(g0 + h)) - np.asarray(ops_of(g0 - h))) / (2 * h)
    assert not np.max(np.abs(np.asarray(tan) - fd)) > 1e-6 * max(1.0, np.max(np.abs(fd)))


def test_half_octave_buckets():
    """Dicke dimensions round up to a power of two or three quarters of one (≥ 64): at most
    1.5× padded rows, two compiled sizes per octave."""
    from jaxlmg._spectrum import _bucket_size

    got = [_bucket_size(d) for d in (1, 64, 65, 96, 97, 129, 192, 193, 385, 601, 769, 1025, 2001)]
    assert got == [64, 64, 96, 96, 128, 192, 192, 256, 512, 768, 1024, 1536, 2048]
    d = np.arange(65, 5000)
    ratio = np.array([_bucket_size(int(x)) for x in d]) / d
    assert ratio.max() <= 1.5 and np.all(ratio >= 1.0)
    # bucket="octave": powers of two only (one compiled size per octave, < 2x rows)
    got = [_bucket_size(d, octave=True) for d in (1, 64, 65, 96, 97, 129, 192, 193, 385, 601, 769, 1025, 2001)]
    assert got == [64, 64, 128, 128, 128, 256, 256, 256, 512, 1024, 1024, 2048, 2048]
    ratio = np.array([_bucket_size(int(x), octave=True) for x in d]) / d
    assert ratio.max() < 2.0 and np.all(ratio >= 1.0)
    for bad in ("half", 2, None):
        with pytest.raises(ValueError, match="bucket"):
            jaxlmg.spectrum(40, 0.8, levels=2, bucket=bad)


def test_second_derivatives_against_perturbation_theory():
    """d²E_k/dΓ² and d² ln ΔE/dΓ² (forward-over-reverse and forward-over-forward) against
    second-order perturbation theory on a dense numpy eigendecomposition:
    E_k'' = 2 Σ_{m≠k} |⟨m|∂H|k⟩|² / (E_k − E_m), ∂H/∂Γ = −2 Jx (N = 40, Γ/J = 0.7)."""
    n, field = 40, 0.7
    h, _ = build_lmg_numpy(n, field)
    w, v = np.linalg.eigh(h)
    j = n / 2
    m = np.arange(-j, j + 1)
    jp = np.diag(np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1)), -1)   # J+ |m> = c |m+1>
    dh = v.T @ (-(jp + jp.T)) @ v                                      # ∂H/∂Γ = −2 Jx = −(J+ + J−)
    d1 = np.diag(dh)
    den = w[:, None] - w[None, :]
    np.fill_diagonal(den, np.inf)
    d2 = 2 * np.sum(dh**2 / den, axis=1)                               # E_k'' (sum over m ≠ k)
    de, de1, de2 = w[1] - w[0], d1[1] - d1[0], d2[1] - d2[0]
    want = np.array([d2[2], de2 / de - (de1 / de) ** 2])                # E_2'', (ln ΔE)''

    def both(f):
        s = jaxlmg.spectrum(n, f, levels=3)
        return jnp.stack([s.energies[2], s.log_delta_e])

    for mode, hess in (("fwd-over-rev", jax.jacfwd(jax.jacrev(both))),
                       ("fwd-over-fwd", jax.jacfwd(jax.jacfwd(both)))):
        got = np.asarray(jax.jit(hess)(field))
        err = np.abs(got - want) / np.abs(want)
        assert np.all(err <= 1e-10), (mode, got, want)
