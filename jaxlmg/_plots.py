"""Figures of seeds 001 and 000 redrawn from computed data (matplotlib, Agg backend).

:func:`draw_all` takes the ``data`` dict of :func:`jaxlmg._report.build_report` and
writes one PNG per figure that has data, returning the file names.
"""

from __future__ import annotations

import math
import os

import numpy as np

from ._units import BEC


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, out_dir, name, names):
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, name), dpi=110)
    _plt().close(fig)
    names.append(name)


def draw_all(data: dict, out_dir: str) -> list[str]:
    plt = _plt()
    names: list[str] = []
    kt = BEC.kt_rad_s(10.0)

    # 001 Fig. 1: K3 vs γφ (n = 5, 10) with the two-level curve.
    if "k3_fig1" in data and "analytic" in data:
        a = data["analytic"]
        g = data["k3_fig1"]["gamma"]
        fig, ax = plt.subplots(figsize=(6, 4))
        for n, v in data["k3_fig1"]["values"].items():
            ax.semilogx(g, v, label=f"{n}-level Lindblad")
        c = math.pi * a["g01"] / (3 * a["de"])
        gn = BEC.rate_to_natural(g)
        ax.semilogx(g, a["q2"] * (np.exp(-c * gn) + 0.5 * np.exp(-2 * c * gn)), "--", label="two-level (Eq. 22, T2phys)")
        ax.axhline(1.0, color="k", lw=0.8, ls=":", label="macrorealist bound")
        ax.axvline(0.05, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("γφ (s⁻¹)")
        ax.set_ylabel("K3")
        ax.set_title("001 Fig. 1: K3 vs dephasing (N=370, Γ/J=0.95)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig001_1_k3_vs_dephasing.png", names)

    # 001 Fig. 2: N = 2 exact vs mean field.
    from . import _semiclassical as sc

    x = np.linspace(0.05, 3.0, 300)  # J/Γ
    gam = 1.0 / x  # Γ in units of J
    sol = sc.two_spin_solution(gam)
    mplus = np.sqrt(np.clip(1 - gam**2, 0, None))
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(x, np.asarray(sol.p_macro), label="P_macro = cos²(φ/2) (N=2 exact)")
    ax.plot(x, np.asarray(sol.delta_e) / (4 * gam), "r--", label="ΔE_{N=2}/4Γ")
    ax.plot(x, mplus, "g", label="m+ (mean field)")
    ax.set_xlabel("J/Γ")
    ax.set_ylabel("dimensionless")
    ax.set_title("001 Fig. 2: N = 2 exact vs mean field (h = 0)")
    ax.legend(fontsize=8)
    _save(fig, out_dir, "fig001_2_n2_exact.png", names)

    # 001 Fig. 3: ΔE(N)/k_BT exact and instanton.
    if "fig3" in data:
        f3 = data["fig3"]
        n = f3["n"]
        fig, ax = plt.subplots(figsize=(6, 4))
        paper_c0 = {0.95: 2.546, 0.90: 2.616}
        fits = data.get("fits", {})
        for g, col in ((0.95, "C0"), (0.90, "C1")):
            ax.semilogy(n, f3["exact"][g], color=col, label=f"exact, Γ/J={g}")
            ax.semilogy(n, np.asarray(sc.instanton_delta_e(n, g, paper_c0[g])), "--", color=col,
                        label=f"instanton, paper C0/k_BT={paper_c0[g]}")
            if g in fits:
                ax.semilogy(n, np.asarray(sc.instanton_delta_e(n, g, fits[g]["c0_over_kt"])), ":", color=col,
                            label=f"instanton, fitted C0/k_BT={fits[g]['c0_over_kt']:.3g}")
        ax.axhline(1.0, color="k", ls="--", lw=0.8)
        ax.axvspan(250, 300, color="y", alpha=0.2)
        ax.set_ylim(1e-2, 1e2)
        ax.set_xlabel("N")
        ax.set_ylabel("ΔE / k_BT  (T = 10 nK)")
        ax.set_title("001 Fig. 3: tunnel splitting vs N")
        ax.legend(fontsize=7)
        _save(fig, out_dir, "fig001_3_goldilocks.png", names)

    # 001 Fig. 4: K3max vs ΔE·T2coll/π (Eq. 22).
    if "analytic" in data:
        a = data["analytic"]
        y = np.geomspace(0.05, 20, 300)  # ΔE T2/(πħ)
        xi = np.exp(-1.0 / (3 * y))
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.semilogx(y, a["q2"] * (xi + xi**2 / 2), color="purple", label=f"Q01²={a['q2']:.4f} (Eq. 22)")
        ax.semilogx(y, xi + xi**2 / 2, ":", color="grey", label="Q01 = 1")
        ax.axhline(1.0, color="k", lw=0.8, label="classical bound")
        xi_t = -1 + math.sqrt(1 + 2 / a["q2"])
        ax.axvline(1 / (3 * math.log(1 / xi_t)), color="r", ls="--", lw=0.8, label="level A threshold")
        ax.set_xlabel("ΔE·T2coll / (πħ)")
        ax.set_ylabel("K3max")
        ax.set_title("001 Fig. 4: two-level K3max")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig001_4_k3max.png", names)

    # 001 Fig. 5: Landau–Zener error vs normalised sweep time.
    xs = np.linspace(0, 2.0, 200)  # τQ ΔE²/(4ħα)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, np.exp(-np.pi * xs), label="quantum coherent LZ (Eq. 17)")
    ax.plot(xs, np.ones_like(xs), "r--", label="classical non-ergodic (τQ ≪ τK)")
    ax.set_xlabel("τQ ΔE² / (4ħα)")
    ax.set_ylabel("P_error")
    ax.set_ylim(-0.05, 1.1)
    ax.set_title("001 Fig. 5: Landau–Zener error probability")
    ax.legend(fontsize=8)
    _save(fig, out_dir, "fig001_5_landau_zener.png", names)

    # 001 Fig. 6: threshold vs truncation.
    if data.get("thresholds"):
        thr = data["thresholds"]
        ns = sorted(thr)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(ns, [thr[n]["gamma"] for n in ns], "o-", label="γφ threshold (K3 = 1)")
        if "analytic" in data:
            ax.axhline(data["analytic"]["gamma_b"], color="r", ls="--", label="level B (analytic)")
        ax.set_xlabel("levels n")
        ax.set_ylabel("γφ threshold (s⁻¹)")
        ax.set_title("001 Fig. 6: threshold vs truncation (N=370)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig001_6_threshold_levels.png", names)

    # 000 Figs. 1 and 3.
    if "eta_vs_n" in data:
        e = data["eta_vs_n"]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(e["n"], e["eta_mf"], label="exact diagonalisation")
        ax.axhline(2.0, ls=":", color="k", label="ηMF = 2 (N→∞)")
        ax.axvline(370, ls="--", color="r", label="ΔE = k_BT (N=370)")
        ax.set_xlabel("N")
        ax.set_ylabel("ηMF = Gloc/G01")
        ax.set_title("000 Fig. 1: ηMF vs N (Γ/J=0.95)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig000_1_eta_vs_n.png", names)

        scale = (e["n"] * e["m_star"] / 2) ** 2
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(e["n"], e["g_loc"] / scale, "r:", label="Gloc/(Nm*/2)²")
        ax.plot(e["n"], 2 * e["j01"] ** 2 / scale, "b", label="2J01²/(Nm*/2)²")
        ax.plot(e["n"], e["g01"] / scale, "--", color="orange", label="G01/(Nm*/2)²")
        ax.axhline(1.0, color="grey", lw=0.6)
        ax.set_ylim(0, 2.6)
        ax.set_xlabel("N")
        ax.set_ylabel("rate factor / (N m*/2)²")
        ax.set_title("000 Fig. 3: dephasing rate factors (Γ/J=0.95)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig000_3_rate_factors.png", names)

    if "eta_vs_field" in data:
        e = data["eta_vs_field"]
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(e["field"], e["eta_mf"], label="N=370, exact")
        ax.axhline(2.0, ls=":", color="k", label="ηMF = 2")
        i = int(np.nanargmax(e["eta_mf"]))
        ax.annotate(f"peak {e['eta_mf'][i]:.3f} at Γ/J={e['field'][i]:.3f}", (e["field"][i], e["eta_mf"][i]),
                    xytext=(0.3, 2.45), arrowprops=dict(arrowstyle="->"))
        ax.set_xlabel("Γ/J")
        ax.set_ylabel("ηMF = Gloc/G01")
        ax.set_ylim(0, 2.7)
        ax.set_title("000 Fig. 2: ηMF vs Γ/J (N=370)")
        ax.legend(fontsize=8)
        _save(fig, out_dir, "fig000_2_eta_vs_field.png", names)
    return names
