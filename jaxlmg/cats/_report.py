"""Seed 003 report: every number the paper quotes that jaxlmg.cats computes, and the data of Figs. 1–4."""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from .._config import ensure_x64
from . import _closed_forms as CF
from . import _dicke as D
from . import _exact as E
from . import _mean_field as M
from . import _states as S

__all__ = ["seed003_report", "format_rows"]


def _row(quantity, paper, ours, equation, note=""):
    rel = None
    if paper is not None and ours is not None and np.isfinite(ours) and paper != 0:
        rel = float((ours - paper) / abs(paper))
    return {"quantity": quantity, "paper": paper, "computed": None if ours is None else float(ours),
            "rel_diff": rel, "equation": equation, "note": note}


def _fig1(quick):
    n = 200
    th = 1.0 / np.sqrt(n)
    lw = 1.0
    t = np.linspace(0.0, 6.0, 61 if not quick else 13)
    det = CF.sample_detunings(jax.random.PRNGKey(1), lw, n, 10)
    tt = jnp.asarray(t)
    real = {"coherent": np.asarray(jax.vmap(lambda x: CF.realisation_fidelity(det, x, th))(tt)).T}
    mean = {"coherent": np.asarray(CF.mean_fidelity(tt, th, n, lw))}
    for p, k in ((1, "even"), (-1, "odd")):
        real[k] = np.asarray(jax.vmap(lambda x: CF.realisation_cat_fidelity(det, x, th, p))(tt)).T
        mean[k] = np.asarray(CF.mean_cat_fidelity(tt, th, n, lw, p))
    return {"n_spins": n, "theta": th, "delta_t": t, "realisations": real, "mean": mean}


def _fig2(quick, n_exact):
    eta, loss = 0.2, 1.0
    out = {"n_spins": n_exact, "squeezing": eta, "curves": {}}
    dt, steps = (10.0, 30) if not quick else (20.0, 5)
    for lw in (1e-3, 1e-2):
        det = lw * np.random.default_rng(7).normal(size=(10 if not quick else 2, n_exact))
        for p, k in ((1, "even"), (-1, "odd")):
            ts, f = E.exact_cat_fidelity(det, eta, n_exact, p, dt, steps, loss=loss)
            out["curves"][(k, lw)] = (np.asarray(ts), np.asarray(f).mean(0))
    # δ = 0 at the paper's N = 8 (Dicke basis, exact steady states)
    ss = D.steady_states(eta, 8)
    th8 = S.theta_from_amplitude(np.sqrt(2 * eta / loss), 8)
    out["steady_fidelity_n8"] = {k: float(S.fidelity(S.cat_state(th8, -np.pi / 4, 8, p), ss[k]))
                                 for p, k in ((1, "even"), (-1, "odd"))}
    return out


def _fig3(quick):
    n = 100 if not quick else 30
    etas = np.linspace(0.3, 15.0, 50 if not quick else 6)
    amp, rate, _ = D.steady_amplitude(jnp.asarray(etas), n)
    a2, _, _ = M.synchronised_state(etas, n)
    return {"n_spins": n, "squeezing": etas, "amplitude": np.asarray(amp), "rate": np.asarray(rate),
            "mean_field": np.sqrt(n * np.asarray(a2))}


def _fig4(quick):
    n = 1.0e4
    etas = np.linspace(15.0, 615.0, 25 if not quick else 4)
    bnd = np.asarray(M.sync_boundary(jnp.asarray(etas), n, points=200 if not quick else 40,
                                     refine=20 if not quick else 8))
    a, b, ec, dc = (float(v) for v in M.fit_ellipse(etas, bnd))
    grid_eta = np.linspace(10.0, 640.0, 40 if not quick else 4)
    grid_dt = np.linspace(0.0, 0.08, 41 if not quick else 5)
    m = M.two_group_steady_state(jnp.asarray(grid_dt), jnp.asarray(grid_eta), n)
    return {"n_spins": n, "boundary_eta": etas, "boundary_delta_tilde": bnd, "a": a, "b": b,
            "eta_c": ec, "delta_c": dc, "map_eta": grid_eta, "map_delta_tilde": grid_dt * n**2,
            "map_zeta": np.asarray(m["zeta"])}


def seed003_report(*, quick: bool = False, n_exact: int = 5, outdir=None):
    """Compute the seed-003 table (paper value | computed | rel. diff | equation | note) and Figs. 1–4 data.

    Parameters
    ----------
    quick : bool
        Small sizes (seconds) for smoke tests; the numbers are then not the paper's setting.
    n_exact : int
        Spins for the 2^N disorder runs of Fig. 2 (paper: 8; CPU limit here: 5–6, see ``_exact``).
    outdir : str or Path, optional
        If given, Figs. 1–4 are written there as PNG files (matplotlib).

    Returns
    -------
    dict with ``rows`` (list of dicts), ``figures`` (data per figure), ``timings`` (s).
    """
    ensure_x64()
    timings = {}
    t0 = time.perf_counter()
    f1 = _fig1(quick)
    timings["fig1"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f2 = _fig2(quick, n_exact)
    timings["fig2"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f3 = _fig3(quick)
    timings["fig3"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    f4 = _fig4(quick)
    timings["fig4"] = time.perf_counter() - t0

    n1, th1 = f1["n_spins"], f1["theta"]
    amp1 = float(S.amplitude_from_theta(th1, n1))
    rows = [
        _row("Fig.1 θ = 1/√N (N = 200)", 0.0707, th1, "Fig. 1"),
        _row("F̄₊(∞) at |α| of Fig. 1, exact", None, float(CF.cat_fidelity_limit(th1, n1, 1)), "Eq. 16, t→∞",
             f"|α| = √N tan(θ/2) = {amp1:.4f}"),
        _row("F̄₊(∞) ≈ sech²|α|²", None, float(CF.cat_fidelity_limit_weak(amp1, 1)), "Eq. 19"),
        _row("F̄₊(∞) ≈ 1 − |α|⁴ (Eq. 19 text)", 1 - amp1**4, float(CF.cat_fidelity_limit(th1, n1, 1)), "Eq. 19",
             "correct to O(|α|⁸)"),
        _row("F₊ saturation '1 − |α|²' (text after Eq. 21)", 1 - amp1**2, float(CF.cat_fidelity_limit(th1, n1, 1)),
             "§III.1", "typo: should be 1 − |α|⁴"),
        _row("F̄₋(∞) (Eq. 19: 0)", 0.0, float(CF.cat_fidelity_limit(th1, n1, -1)), "Eq. 19",
             "exact finite-N value is O(1/N), not 0"),
        _row("|⟨θ,φ|θ,φ+π⟩|² exponent (paper 4N)", 4 * n1, 2 * n1, "§III.1 / Eq. 17",
             "overlap is cos^N θ, so |.|² = cos^{2N} θ"),
        _row("Fig.2 steady F even (N=8, δ=0)", 0.998, f2["steady_fidelity_n8"]["even"], "Fig. 2", "Dicke basis, exact"),
        _row("Fig.2 steady F odd (N=8, δ=0)", 0.995, f2["steady_fidelity_n8"]["odd"], "Fig. 2", "Dicke basis, exact"),
    ]
    for k, paper in (("even", 0.74), ("odd", 0.1)):
        ts, f = f2["curves"][(k, 1e-2)]
        i = int(np.argmin(np.abs(ts - 200.0)))
        rows.append(_row(f"Fig.2 F̄ {k} at Γ₂t≈200, δ/Γ₂=1e-2", paper, float(f[i]), "Fig. 2",
                         f"N = {f2['n_spins']} here (paper N = 8; CPU limit), t = {ts[i]:g}"))
    amp3 = f3["amplitude"]
    imax = int(np.nanargmax(np.where(np.isfinite(amp3), amp3, -1)))
    # |⟨a⟩| observed at Γ₂T = 10³ (metastable value times the parity-coherence decay e^{−rate·T})
    amp_t = np.where(np.isfinite(amp3), amp3 * np.exp(-f3["rate"] * 1e3), 0.0)
    f3["amplitude_T1000"] = amp_t
    above = amp_t > 0.5 * np.max(amp_t)
    drop = float(f3["squeezing"][np.max(np.nonzero(above)[0])]) if np.any(above) else np.nan
    rows += [
        _row(f"Fig.3 quantum |⟨a⟩| drop at η/Γ₂ (N={f3['n_spins']})", 10.0, drop, "Fig. 3",
             "last η with |⟨a⟩(Γ₂t=10³)| > half its max; the metastable |⟨a⟩| itself peaks at "
             f"η/Γ₂ = {f3['squeezing'][imax]:.2f}: the drop is the parity-coherence decay"),
        _row(f"Fig.3 mean-field drop η/Γ₂ = N/16 (N={f3['n_spins']})", 6.25, float(M.max_squeezing(f3["n_spins"])),
             "Eq. 25"),
        _row("Fig.4 max η/Γ₂ at δ=0, N=1e4", 625.0, f4["eta_c"], "Eq. 25 / Fig. 4", "2a of our Eq. 30 fit"),
        _row("Fig.4 fit a/N", 0.03125, f4["a"] / f4["n_spins"], "Eq. 30", "fit of our boundary (Newton continuation)"),
        _row("Fig.4 fit b/N", 2.2077, f4["b"] / f4["n_spins"], "Eq. 30"),
        _row("Fig.4 η̃_c/N", 0.0625, f4["eta_c"] / f4["n_spins"], "Eq. 30"),
        _row("Fig.4 δ̃_c/N²", 0.06888, f4["delta_c"] / f4["n_spins"] ** 2, "Eq. 30",
             "paper's own a·b = 0.06899"),
        _row("ζ at δ=1e-6, η=200, N=1e4 (Eq. 29)", float(M.phase_spread_eq29(1e-6, 200.0, 1e4)),
             float(M.two_group_steady_state(jnp.array([0.0, 1e-6]), jnp.array([200.0]), 1e4)["zeta"][0, 1]),
             "Eq. 29", "paper value = Eq. 29 evaluated"),
    ]
    figs = {"fig1": f1, "fig2": f2, "fig3": f3, "fig4": f4}
    if outdir is not None:
        _plot(figs, outdir)
    return {"rows": rows, "figures": figs, "timings": timings}


def format_rows(rows) -> str:
    """Plain-text table: quantity | paper | computed | rel. diff | equation | note."""
    lines = [f"{'quantity':52s} {'paper':>10s} {'computed':>12s} {'rel.diff':>9s}  {'eq.':18s} note"]
    for r in rows:
        p = "—" if r["paper"] is None else f"{r['paper']:.6g}"
        c = "—" if r["computed"] is None else f"{r['computed']:.6g}"
        d = "—" if r["rel_diff"] is None else f"{r['rel_diff']:+.2%}"
        lines.append(f"{r['quantity'][:52]:52s} {p:>10s} {c:>12s} {d:>9s}  {r['equation'][:18]:18s} {r['note']}")
    return "\n".join(lines)


def _plot(figs, outdir):
    import pathlib

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = pathlib.Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    f1 = figs["fig1"]
    fig, axs = plt.subplots(1, 3, figsize=(11, 3.2), sharey=True)
    for ax, k in zip(axs, ("coherent", "even", "odd")):
        ax.plot(f1["delta_t"], f1["realisations"][k].T, color="0.7", lw=0.7)
        ax.plot(f1["delta_t"], f1["mean"][k], "k--", lw=1.5)
        ax.set_title(k)
        ax.set_xlabel("δt")
    axs[0].set_ylabel("F(t)")
    fig.tight_layout()
    fig.savefig(out / "seed003_fig1.png", dpi=120)
    f2 = figs["fig2"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for (k, lw), (ts, f) in f2["curves"].items():
        ax.plot(ts, f, "o-" if k == "even" else "s-", color="C0" if k == "even" else "C3",
                alpha=1.0 if lw == 1e-2 else 0.5, ms=3, label=f"{k}, δ/Γ₂={lw:g}")
    ax.set_xlabel("Γ₂t")
    ax.set_ylabel("mean fidelity")
    ax.set_title(f"N = {f2['n_spins']}, η/Γ₂ = 0.2")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "seed003_fig2.png", dpi=120)
    f3 = figs["fig3"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(f3["squeezing"], f3["amplitude"], "o", ms=3, label="quantum (metastable)")
    ax.plot(f3["squeezing"], f3["amplitude_T1000"], "s", ms=3, label="quantum at Γ₂t = 10³")
    ax.plot(f3["squeezing"], f3["mean_field"], "--", label="mean field √N A (Eq. 25)")
    ax.set_xlabel("η/Γ₂")
    ax.set_ylabel("|⟨a⟩|")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "seed003_fig3.png", dpi=120)
    f4 = figs["fig4"]
    fig, ax = plt.subplots(figsize=(5, 3.8))
    pc = ax.pcolormesh(f4["map_eta"], f4["map_delta_tilde"], np.abs(f4["map_zeta"]).T, shading="nearest")
    fig.colorbar(pc, label="ζ")
    x = np.linspace(0, 2 * f4["a"], 200)
    ax.plot(x, f4["b"] * np.sqrt(np.clip(f4["a"] ** 2 - (x - f4["a"]) ** 2, 0, None)), "r-", label="Eq. 30 fit")
    ax.plot(f4["boundary_eta"], f4["boundary_delta_tilde"], "w.", ms=4)
    ax.set_xlabel("η̃ = η/Γ₂")
    ax.set_ylabel("δ̃ = N²δ/Γ₂")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "seed003_fig4.png", dpi=120)
