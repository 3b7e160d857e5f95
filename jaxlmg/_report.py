r"""Reproduction report: every number of seeds 001 and 000 the library can compute.

:func:`build_report` returns a :class:`Report` whose ``rows`` are plain dicts

    quantity | paper | computed | rel_diff | ref (section/equation) | status | note | unit

(status "ok" when |computed − paper| ≤ tol·|paper|, else "differs", with a note on the
cause), plus the arrays behind the figures. :func:`write_report` writes ``report.md``,
``report.html``, ``report.json`` and the PNG figures (see :mod:`jaxlmg._plots`).

All physics goes through the public library functions; values in rad/s use
``BEC`` (J = 37195.4 rad/s) and k_BT from CODATA at 10 nK (1309.2 rad/s).
"""

from __future__ import annotations

import dataclasses
import html
import math
import os
from typing import Any

import numpy as np

from ._config import release_compiled_programs
from ._units import BEC

GAMMA = 0.95
N_BENCH = 370
T_NK = 10.0
GAMMA_PHI = 0.05  # s^-1, BEC target
PAPER_C0_OVER_KT = {0.99: 2.51, 0.95: 2.546, 0.90: 2.616}


@dataclasses.dataclass
class Report:
    rows: list[dict]
    data: dict[str, Any]
    quick: bool = False

    def row(self, quantity: str) -> dict:
        for r in self.rows:
            if r["quantity"] == quantity:
                return r
        raise KeyError(quantity)

    @property
    def n_differs(self) -> int:
        return sum(r["status"] == "differs" for r in self.rows)


def make_row(quantity: str, paper, computed, ref: str, *, tol: float = 0.01, unit: str = "", note: str = "",
             expected_note: str = "") -> dict:
    """One table row. ``tol`` is the relative tolerance implied by the paper's rounding;
    ``expected_note`` is appended when the row differs (the explained cause)."""
    computed = float(computed)
    paper = None if paper is None else float(paper)
    if not math.isfinite(computed):  # written as null in report.json, with status "differs"
        rel = None
        status = "differs"
        note = (note + "; " if note else "") + "computed value is not finite"
    elif paper is None:
        rel = None
        status = "n/a"
    else:
        rel = (computed - paper) / abs(paper) if paper != 0 else computed - paper
        status = "ok" if abs(rel) <= tol else "differs"
    if status == "differs" and expected_note:
        note = (note + "; " if note else "") + expected_note
    return {"quantity": quantity, "paper": paper, "computed": computed, "rel_diff": rel, "ref": ref,
            "status": status, "note": note, "unit": unit, "tol": tol}


def _tol_digits(paper: float, decimals: int) -> float:
    """Relative tolerance of a value quoted with ``decimals`` decimals: one unit in the
    last quoted place (the paper rounds, and sometimes truncates, independently)."""
    return 1.0001 * 10.0 ** (-decimals) / abs(paper)


# ------------------------------------------------------------------------ doublet data

def doublet_table(n_spins, field) -> dict[str, np.ndarray]:
    """Doublet quantities on flat (N, Γ/J) arrays: :func:`jaxlmg.doublet_factors`'s own
    math (``_doublet_math``: gaps with relative accuracy, the status covering the record)
    on one unbucketed spectrum call (one compilation). Where ΔE underflows float64 (small
    Γ/J) the gap ratios overflow to inf, as they do in the library."""
    from ._observables import _doublet_math
    from ._spectrum import spectrum

    n = np.asarray(n_spins, np.int64).reshape(-1)
    f = np.broadcast_to(np.asarray(field, np.float64), n.shape)
    out = _doublet_math(spectrum(n, f, levels=3, bucket=False))
    out = {k: np.asarray(v) for k, v in out.items()}
    return dict(n_spins=n, field=f, **out)


# ------------------------------------------------------------------------ sections

def _benchmark_rows(d: dict, i: int, data: dict) -> list[dict]:
    from ._observables import susceptibility

    kt = BEC.kt_rad_s(T_NK)
    de = float(d["delta_e"][i])
    ms = float(d["m_star"][i])
    chi = float(np.asarray(susceptibility(N_BENCH, GAMMA)))
    chi2 = 2 * N_BENCH * ms**2 / de
    data["benchmark"] = {"delta_e": de, "chi": chi}
    R = make_row
    return [
        R("k_BT at 10 nK", 1310, kt, "001 §2", tol=0.001, unit="rad/s", note="CODATA k_B/ħ; paper's script uses 131.0×T"),
        R("ΔE (N=370)", 0.0352, de, "001 Remark 8", tol=_tol_digits(0.0352, 4), unit="J"),
        R("ΔE (N=370)", 1310, BEC.energy_to_rad_s(de), "001 §2, App. I", tol=0.0005, unit="rad/s"),
        R("ΔE21/ΔE10 (N=370)", 10.4, d["gap_ratio_21"][i], "001 Remark 8", tol=_tol_digits(10.4, 1)),
        R("(E2−E0)/ΔE (N=370)", 11.4, d["gap_ratio_20"][i], "001 Remark 1; 000 Table 3", tol=_tol_digits(11.4, 1)),
        R("ΔE21 (N=370)", 0.365, d["gap_ratio_21"][i] * de, "001 Remark 8", tol=_tol_digits(0.365, 3), unit="J"),
        R("Q01² (N=370)", 0.9436, d["q01"][i] ** 2, "001 Eq. 22", tol=_tol_digits(0.9436, 4)),
        R("p0 = |⟨m=0|E0⟩|² (N=370)", 0.2374, 100 * d["p0"][i], "001 App. I", tol=_tol_digits(0.2374, 4), unit="%"),
        R("⟨E0|Jz²|E0⟩ (N=370)", 2574.2, d["jz2_e0"][i], "001 App. I / Eq. 26", tol=_tol_digits(2574.2, 1)),
        R("⟨E1|Jz²|E1⟩ (N=370)", 3103.7, d["jz2_e1"][i], "001 App. I / Eq. 26", tol=_tol_digits(3103.7, 1)),
        R("G01 (N=370)", 2839, d["g01"][i], "000 Eq. 11, Table 3", tol=_tol_digits(2839, 0)),
        R("J01² (N=370)", 2451, d["j01"][i] ** 2, "000 §3", tol=_tol_digits(2451, 0)),
        R("Gloc = (N m*)²/2 (N=370)", 6674, d["g_loc"][i], "000 Table 3", tol=_tol_digits(6674, 0)),
        R("ηMF = Gloc/G01 (N=370)", 2.35, d["eta_mf"][i], "000 §3.1", tol=_tol_digits(2.35, 2)),
        R("ηquantum (N=370)", 1.175, d["eta_quantum"][i], "000 §3.1", tol=_tol_digits(1.175, 3)),
        R("ηexact = 1 + J01²/G01 (N=370)", 1.863, d["eta_exact"][i], "000 abstract", tol=_tol_digits(1.863, 3)),
        R("χ exact (N=370)", 1509, chi, "001 Eq. 5", tol=_tol_digits(1509, 0), unit="1/J"),
        R("χ two-level 2N m*²/ΔE (N=370)", 2049, chi2, "001 Eq. 5", tol=_tol_digits(2049, 0), unit="1/J"),
        R("m*", 0.312, ms, "000 Table 3", tol=_tol_digits(0.312, 3)),
    ]


def _semiclassical_rows(de_bench: float, data: dict, quick: bool) -> list[dict]:
    from . import _analytic as _an
    from . import _semiclassical as sc
    from ._goldilocks import goldilocks_crossover, goldilocks_scan

    J = BEC.coupling_rad_s
    kt = BEC.kt_rad_s(T_NK)
    R = make_row
    rows = []
    # Goldilocks N-scan (App. I) and the exact crossover.
    scan = goldilocks_scan([200, 250, 300, 350, 400, N_BENCH - 2, N_BENCH + 2], GAMMA)
    scan_de = np.asarray(scan.delta_e_rad_s)
    for n, paper, val in zip((200, 250, 300, 350, 400), (4754.1, 3338.5, 2298.5, 1545.5, 1015.6), scan_de[:5]):
        rows.append(R(f"ΔE (N={n}, Γ/J=0.95)", paper, val, "001 App. I N-scan", tol=_tol_digits(paper, 1), unit="rad/s"))
    fields = (0.95,) if quick else (0.99, 0.95, 0.90)
    cross = {}
    for g in fields:
        c = goldilocks_crossover(g, n_max=(400 if quick else 1000) if g != 0.99 else 6000)
        cross[g] = c
    c = cross[0.95]
    rows.append(R("N_c exact ΔE = k_BT (Γ/J=0.95)", 370, c.n_c, "001 §2, Remark 6", tol=0.0,
                  note=f"bracket N={c.n_lower} (ΔE/k_BT={c.ratio_lower:.4f}), N={c.n_upper} ({c.ratio_upper:.4f})"))
    # Table 1 with the paper's C0.
    tab = {}
    for g in (0.99, 0.95, 0.90):
        s = float(sc.instanton_action(g))
        r0 = PAPER_C0_OVER_KT[g]
        tab[g] = dict(s=s, root=float(sc.instanton_crossover(g, r0)), analytic=float(sc.analytic_crossover(g, r0)))
    paper_t1 = {0.99: (0.000947, 0.920, 972, 5521), 0.95: (0.010787, 0.934, 87, 360), 0.90: (0.031255, 0.962, 31, 105)}
    for g, (ps, pl, pa, pr) in paper_t1.items():
        rows.append(R(f"S_inst (Γ/J={g})", ps, tab[g]["s"], "001 Eq. 10/52, Table 1", tol=_tol_digits(ps, 6)))
        rows.append(R(f"ln(C0/k_BT) paper C0 (Γ/J={g})", pl, math.log(PAPER_C0_OVER_KT[g]), "001 Table 1",
                      tol=_tol_digits(pl, 3)))
        rows.append(R(f"N_c analytic Eq. 11, paper C0 (Γ/J={g})", pa, tab[g]["analytic"], "001 Eq. 11, Table 1",
                      tol=0.55 / pa))
        rows.append(R(f"N_c instanton root, paper C0 (Γ/J={g})", pr, tab[g]["root"], "001 Table 1",
                      tol=0.02 if g == 0.95 else 0.55 / pr,
                      note="paper quotes 360±50" if g == 0.95 else ""))
    # Our fitted C0 (N ∈ [50, 500], even N) and what it implies.
    fit_fields = (0.95,) if quick else (0.99, 0.95, 0.90)
    fits = {}
    for g in fit_fields:
        fit = sc.fit_instanton_prefactor(g)
        r = float(fit.prefactor) * J / kt
        fits[g] = dict(c0_over_kt=r, rms=float(fit.rms_residual), maxres=float(fit.max_abs_residual),
                       n=np.asarray(fit.n_spins), de=np.asarray(fit.delta_e))
        why = ("a constant-C0 instanton law is not valid over N ∈ [50, 500] this close to criticality: "
               f"N·S_inst ≲ {500 * float(fit.s_inst):.2f}, ln ΔE residuals rms {fits[g]['rms']:.2f}, "
               f"max {fits[g]['maxres']:.2f}; the fitted C0 depends on the fit window, and the paper's value "
               "cannot come from this fit; the asymptotic C0 from exact ΔE to N = 1e5 (rows below) is the right one")
        rows.append(R(f"C0/k_BT fitted, N∈[50,500] even (Γ/J={g})", PAPER_C0_OVER_KT[g], r, "001 §5",
                      tol=0.01, note=f"log-space LSQ; rms residual {fits[g]['rms']:.3f}", expected_note=why))
        rows.append(R(f"N_c instanton root, fitted C0 (Γ/J={g})", {0.99: 5521, 0.95: 360, 0.90: 105}[g],
                      float(sc.instanton_crossover(g, r)), "001 Eq. 10 with our C0", tol=0.05,
                      expected_note="follows from the fitted C0 above"))
    for g, pr in ((0.99, 5521), (0.90, 105)):
        if g in cross:
            cg = cross[g]
            rows.append(R(f"N_c exact ΔE = k_BT (Γ/J={g})", pr, cg.n_c, "001 Table 1 (instanton root)", tol=0.05,
                          note=f"exact diagonalisation, even N; bracket {cg.n_lower}/{cg.n_upper}",
                          expected_note="the paper's instanton root rests on its C0, which exact ΔE(N) does not "
                                        "support at this Γ/J; the exact crossover is the reliable value "
                                        "(the paper itself asks for ED validation)"))
    data["table1"] = tab
    data["fits"] = fits
    data["crossovers"] = {g: {k: getattr(c, k) for k in ("n_c", "n_lower", "n_upper", "ratio_lower", "ratio_upper")}
                          for g, c in cross.items()}
    # Mean-field barrier, Kramers time, spinodal (J, Γ, T in rad/s).
    G = GAMMA * J
    df_exact = float(sc.free_energy_barrier(G, temperature=kt, coupling=J))
    df_approx = float(sc.free_energy_barrier_large_argument(G, coupling=J))
    w0 = float(sc.bloch_frequency(G, coupling=J))
    tk = float(sc.kramers_time(N_BENCH, G, temperature=kt, coupling=J))
    sp = sc.spinodal(GAMMA)
    ms = math.sqrt(1 - GAMMA**2)
    rows += [
        R("Δf0 exact Eq. 2 (Γ/J=0.95, 10 nK)", 46.5, df_exact, "001 App. F", tol=_tol_digits(46.5, 1), unit="rad/s"),
        R("Δf0 ≈ −J m*²/2 + J − Γ", 46.5, df_approx, "001 App. F", tol=_tol_digits(46.5, 1), unit="rad/s"),
        R("N Δf0/k_BT (N=370)", 13.1, N_BENCH * df_exact / kt, "001 §7.1, App. F", tol=_tol_digits(13.1, 1)),
        R("ω0 = 2 J m*", None, w0, "001 §2", unit="rad/s"),
        R("2π/ω0", 0.27, 2e3 * math.pi / w0, "001 Remark 9", tol=_tol_digits(0.27, 2), unit="ms"),
        R("τK ≈ (2π/ω0) e^{NΔf0/k_BT}", 130, tk, "001 Remark 9", tol=0.1, unit="s",
          note="paper rounds the exponent to 13.1"),
        R("y_sp", 0.177, sp.y_sp, "001 Remark 9", tol=_tol_digits(0.177, 3), unit="J"),
        R("m_sp", -0.183, sp.m_sp, "001 Remark 9", tol=_tol_digits(0.183, 3)),
        R("h_sp", 0.0062, sp.h_sp, "001 Remark 9", tol=_tol_digits(0.0062, 4), unit="J"),
        R("h_sp", 229, BEC.energy_to_rad_s(float(sp.h_sp)), "001 Remark 9, Eq. 16", tol=_tol_digits(229, 0), unit="rad/s"),
        R("ΔE/(N m*) sweep minimum", 11, float(sc.sweep_window_min(BEC.energy_to_rad_s(de_bench), N_BENCH, GAMMA)),
          "001 Eq. 16", tol=0.05, unit="rad/s"),
        R("ΔE/(2N m*)", 5.7, float(sc.sweep_window_min(BEC.energy_to_rad_s(de_bench), N_BENCH, GAMMA)) / 2,
          "001 §7.1 P3", tol=_tol_digits(5.7, 1), unit="rad/s"),
        R("ħ/ΔE", 0.763, 1e3 / BEC.energy_to_rad_s(de_bench), "001 §2 footnote", tol=_tol_digits(0.763, 3), unit="ms"),
        R("T2local (γφ=0.05 s⁻¹)", 49, 1e3 * float(sc.t2_local(GAMMA_PHI, N_BENCH, GAMMA)), "001 Remark 5, Eq. 57",
          tol=_tol_digits(49, 0), unit="ms"),
        R("T2coll (γφ=0.05 s⁻¹)", 3.0, 1e3 * float(_an.t2_collective(GAMMA_PHI, N_BENCH, GAMMA)), "001 Eq. 13",
          tol=_tol_digits(3.0, 1), unit="ms"),
        R("S = (Γ/J)^N (N=370)", 5.7e-9, float(sc.coherent_state_overlap(N_BENCH, GAMMA)), "001 §2",
          tol=_tol_digits(5.7, 1)),
        R("d ln ΔE/dN instanton (N=370)", -0.00944, float(sc.atom_number_log_sensitivity(N_BENCH, GAMMA)),
          "001 Eq. 31", tol=_tol_digits(0.00944, 5), unit="1/atom"),
        R("δΔE/ΔE for δN = √N", 18, 100 * abs(float(sc.atom_number_log_sensitivity(N_BENCH, GAMMA))) * math.sqrt(N_BENCH),
          "001 Eq. 31", tol=_tol_digits(18, 0), unit="%"),
    ]
    d2 = scan_de[5:]
    dde = (d2[1] - d2[0]) / 4.0
    rows.append(R("dΔE/dN exact, central diff. over even N (N=370)", -10.95, dde, "001 §9 (after Eq. 31)", tol=0.01,
                  unit="rad/s per atom"))
    rows.append(R("δ(ΔE)/ΔE exact for δN = √N", 16, 100 * abs(dde) * math.sqrt(N_BENCH) / 1310.0, "001 §9",
                  tol=_tol_digits(16, 0), unit="%"))
    # N = 2 exact solution (§3) vs the library spectrum.
    from ._spectrum import spectrum

    n2 = sc.two_spin_solution(0.5)
    e2 = np.sort(np.asarray(spectrum(2, 0.5).energies))
    rows.append(R("N=2 ΔE at Γ/J=0.5: ½(−J+√(J²+16Γ²))", float(n2.delta_e), e2[1] - e2[0], "001 Eq. 7", tol=1e-10,
                  unit="J", note="paper formula vs jaxlmg.spectrum"))
    rows.append(R("N=2 ground energy at Γ/J=0.5", -(1 + math.sqrt(5)) / 2, e2[0], "001 §3, App. I self-test",
                  tol=1e-10, unit="J"))
    data["semiclassical"] = dict(df_exact=df_exact, df_approx=df_approx, tau_k=tk, w0=w0)
    return rows


def _table3_rows(d: dict, idx: dict, data: dict) -> list[dict]:
    kt = BEC.kt_natural(T_NK)
    R = make_row
    rows = []
    p_ratio = {100: 7.33, 200: 3.63, 300: 1.75, 370: 1.00, 500: 0.32}
    p_gloc = {100: 488, 200: 1950, 300: 4388, 370: 6674, 500: 12188, 1000: 48750, 2000: 195000}
    p_g01 = {100: 254, 200: 828, 300: 1827, 370: 2839, 500: 5425, 1000: 23180, 2000: 95214}
    p_eta = {100: 1.917, 200: 2.354, 300: 2.402, 370: 2.351, 500: 2.246, 1000: 2.103, 2000: 2.048}
    p_gap = {100: 3.0, 200: 4.1, 300: 6.9, 370: 11.4, 500: 37.3}
    p_sec = {100: 1510, 200: 230, 300: 50, 370: 18, 500: 3}
    g_nat = BEC.rate_to_natural(GAMMA_PHI)
    t3 = {}
    for n in p_gloc:
        i = idx[n]
        de = float(d["delta_e"][i])
        sec = 2 * de / (g_nat * float(d["g01"][i]))
        t3[n] = dict(ratio=de / kt, g_loc=float(d["g_loc"][i]), g01=float(d["g01"][i]), eta_mf=float(d["eta_mf"][i]),
                     gap=float(d["gap_ratio_20"][i]), secular=sec)
        ref = "000 Table 3"
        if n in p_ratio:
            rows.append(R(f"T3 ΔE/k_BT (N={n})", p_ratio[n], de / kt, ref, tol=_tol_digits(p_ratio[n], 2)))
        rows.append(R(f"T3 Gloc (N={n})", p_gloc[n], d["g_loc"][i], ref, tol=0.002,
                      note="paper uses m* = 0.312 rounded" if n >= 1000 else ""))
        rows.append(R(f"T3 G01 (N={n})", p_g01[n], d["g01"][i], ref, tol=_tol_digits(p_g01[n], 0) + 1e-4))
        rows.append(R(f"T3 ηMF (N={n})", p_eta[n], d["eta_mf"][i], ref, tol=_tol_digits(p_eta[n], 3)))
        if n in p_gap:
            rows.append(R(f"T3 (E2−E0)/ΔE (N={n})", p_gap[n], d["gap_ratio_20"][i], ref, tol=_tol_digits(p_gap[n], 1)))
        if n in p_sec:
            rows.append(R(f"T3 2ΔE·T2 at γφ=0.05 s⁻¹ (N={n})", p_sec[n], sec, ref, tol=0.1 if n != 500 else 0.2,
                          note="paper rounds to 1–2 significant digits"))
        else:
            rows.append(R(f"T3 2ΔE·T2 at γφ=0.05 s⁻¹ (N={n})", None, sec, ref, note="paper: ≪ 1"))
    data["table3"] = t3
    return rows


def _eta_rows(d: dict, sel_n: np.ndarray, sel_g: np.ndarray, data: dict) -> list[dict]:
    R = make_row
    n_grid = d["n_spins"][sel_n]
    eta_n = d["eta_mf"][sel_n]
    g_grid = d["field"][sel_g]
    eta_g = d["eta_mf"][sel_g]
    i_n = int(np.nanargmax(eta_n))
    i_g = int(np.nanargmax(eta_g))
    data["eta_vs_n"] = dict(n=n_grid, eta_mf=eta_n, j01=d["j01"][sel_n], g01=d["g01"][sel_n],
                            g_loc=d["g_loc"][sel_n], m_star=d["m_star"][sel_n], delta_e=d["delta_e"][sel_n])
    data["eta_vs_field"] = dict(field=g_grid, eta_mf=eta_g)
    return [
        R("ηMF peak over N (Γ/J=0.95)", 2.40, eta_n[i_n], "000 §5.1, Fig. 1", tol=_tol_digits(2.40, 2),
          note=f"at N={int(n_grid[i_n])} on the grid (paper: near N≈300)",
          expected_note="the exact maximum lies below N=300 (Table 3 itself has ηMF(300)=2.402); "
                        "the paper's 'peak ≈ 2.40 near N≈300' reads the peak off a coarse grid"),
        R("ηquantum at the N-peak", 1.201, eta_n[i_n] / 2, "000 §3.1", tol=_tol_digits(1.201, 3),
          expected_note="follows the ηMF peak above"),
        R("ηMF peak over Γ/J (N=370)", 2.42, eta_g[i_g], "000 Fig. 2", tol=_tol_digits(2.42, 2),
          note=f"grid step {float(np.diff(g_grid[-20:]).mean()):.4f}"),
        R("Γ/J of the ηMF peak (N=370)", 0.96, g_grid[i_g], "000 Fig. 2", tol=_tol_digits(0.96, 2)),
    ]


def _lg_rows(d: dict, i: int, data: dict, quick: bool) -> list[dict]:
    from ._leggett_garg import k3
    from ._threshold import threshold
    from ._spectrum import spectrum
    from ._observables import matrix_elements

    R = make_row
    rows = []
    to_s = BEC.rate_to_per_s
    de = float(d["delta_e"][i])
    de_rad = BEC.energy_to_rad_s(de)
    q2 = float(d["q01"][i]) ** 2
    g01 = float(d["g01"][i])
    ms = float(d["m_star"][i])
    gp = np.array([0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0])
    gfine = np.geomspace(1e-3, 3.0, 25 if quick else 60)
    gall = BEC.rate_to_natural(np.concatenate([gp, gfine]))
    levels_k3 = (5,) if quick else (3, 5, 10)
    k3all = {n: np.asarray(k3(gall, N_BENCH, GAMMA, levels=n)) for n in levels_k3}  # one call per n
    k3v = {n: v[: gp.size] for n, v in k3all.items()}
    j = 3  # 0.05 s^-1
    paper_k3 = {3: 1.296, 5: 1.317, 10: 1.312}
    for n in levels_k3:
        rows.append(R(f"K3 at γφ=0.05 s⁻¹, n={n}", paper_k3[n], k3v[n][j], "001 Fig. 1, Remark 14",
                      tol=_tol_digits(paper_k3[n], 3)))
    if not quick:
        seq = np.asarray(k3(BEC.rate_to_natural(gp), N_BENCH, GAMMA, levels=5, protocol="sequential"))
        rows.append(R("K3 sequential − stationary at 0.05 s⁻¹ (n=5)", None, seq[j] - k3v[5][j], "001 App. I listing",
                      note="paper claims |C23 − C12| < 1% in the violating regime"))
        data["k3_sequential"] = seq
    data["k3"] = dict(gamma=gp, values=k3v)
    data["k3_fig1"] = dict(gamma=gfine, values={n: v[gp.size:] for n, v in k3all.items() if n in (5, 10)})
    # Thresholds (Remark 14, Fig. 6).
    paper_thr = {2: 0.5152, 3: 0.2891, 4: 0.3046, 5: 0.2892, 10: 0.2858}
    n_thr = (5,) if quick else (2, 3, 4, 5, 6, 7, 8, 9, 10)
    thr = {}
    for n in n_thr:
        r = threshold(N_BENCH, GAMMA, levels=n)
        thr[n] = dict(gamma=float(to_s(r.dephasing)), k3_zero=float(r.k3_zero), status=int(r.status))
        if n in paper_thr:
            rows.append(R(f"γφ threshold, n={n}", paper_thr[n], thr[n]["gamma"], "001 Eq. 24, Remark 14, Fig. 6",
                          tol=_tol_digits(paper_thr[n], 4), unit="s⁻¹"))
    data["thresholds"] = thr
    # Analytic hierarchy (Eq. 22, 23, 26): levels A and B.
    xi = -1.0 + math.sqrt(1.0 + 2.0 / q2)
    t2_thr_nat = math.pi / (3.0 * de * math.log(1.0 / xi))  # ħ/J units
    t2_thr_s = BEC.time_to_s(t2_thr_nat)
    gam_a = 2.0 / (ms**2 * N_BENCH**2 * t2_thr_s)
    gam_b = 1.0 / (g01 * t2_thr_s)
    t2phys = lambda g: 1.0 / (g * g01)
    k3max = lambda t2_s: q2 * (math.exp(-math.pi / (3 * de_rad * t2_s)) + 0.5 * math.exp(-2 * math.pi / (3 * de_rad * t2_s)))
    t5 = thr.get(5, {}).get("gamma", float("nan"))
    # Coherent ceilings: K3(γφ=0) = Σ_k Q0k² [2cos(ΔE_k0 τ) − cos(2ΔE_k0 τ)], τ = π/(3ΔE) (Eq. 25).
    n_all = 60 if quick else N_BENCH + 1
    spec = spectrum(N_BENCH, GAMMA, levels=n_all)
    qm = np.asarray(matrix_elements(spec, "q"))[0]
    ek = np.asarray(spec.energies) - float(spec.energies[0])
    tau = math.pi / (3 * de)

    def ceiling(n):
        th = ek[:n] * tau
        return float(np.sum(qm[:n] ** 2 * (2 * np.cos(th) - np.cos(2 * th))))

    rows += [
        R("K3max ceiling Q01²·3/2", 1.415, 1.5 * q2, "001 Eq. 22", tol=_tol_digits(1.415, 3)),
        R("Level A: T2coll threshold ×ΔE/ħ", 3.93, t2_thr_nat * de, "001 Eq. 23", tol=_tol_digits(3.93, 2)),
        R("Level A: T2coll threshold", 3.00, 1e3 * t2_thr_s, "001 Eq. 23", tol=_tol_digits(3.00, 2), unit="ms"),
        R("Level A threshold γφ(A)", 0.050, gam_a, "001 Eq. 13/23", tol=_tol_digits(0.050, 3), unit="s⁻¹"),
        R("Level B threshold γφ(B)", 0.117, gam_b, "001 Eq. 26, Remark 11", tol=_tol_digits(0.117, 3), unit="s⁻¹"),
        R("Level A K3 at γφ=0.05 s⁻¹ (Eq. 22, T2coll)", 1.000,
          k3max(float(2.0 / (ms**2 * N_BENCH**2 * GAMMA_PHI))), "001 Eq. 22", tol=_tol_digits(1.000, 3)),
        R("Level B K3 at γφ=0.05 s⁻¹ (Eq. 22, T2phys)", 1.218, k3max(t2phys(GAMMA_PHI)), "001 Eq. 22",
          tol=_tol_digits(1.218, 3)),
        R("T2phys at γφ=0.05 s⁻¹", 7.04, 1e3 * t2phys(GAMMA_PHI), "001 Eq. 26", tol=_tol_digits(7.04, 2), unit="ms"),
        R("T2phys at the n=5 threshold", 1.22, 1e3 * t2phys(t5), "001 App. I", tol=_tol_digits(1.22, 2), unit="ms"),
        R("Δt_opt = π/(3ΔE)", 0.80, 1e3 * math.pi / (3 * de_rad), "001 §7.4", tol=_tol_digits(0.80, 2), unit="ms"),
        R("margin T2phys/Δt_opt at 0.05 s⁻¹", 8.8, t2phys(GAMMA_PHI) / (math.pi / (3 * de_rad)), "001 abstract, §7.4",
          tol=_tol_digits(8.8, 1)),
        R("threshold ratio C/B", 2.47, t5 / gam_b, "001 Remark 11", tol=_tol_digits(2.47, 2)),
        R("threshold ratio B/A", 2.35, gam_b / gam_a, "001 Remark 11", tol=_tol_digits(2.35, 2)),
        R("coherent ceiling, 5 levels (k=1,3)", 1.443, ceiling(5), "001 §7.4 (Eq. 25)", tol=_tol_digits(1.443, 3)),
        R(f"coherent ceiling, all {n_all} levels", 1.439, ceiling(n_all), "001 §7.4 (Eq. 25)", tol=_tol_digits(1.439, 3),
          expected_note="Eq. 25 summed over the full spectrum gives 1.4379; the paper's own per-state table "
                        "(k=1..9: 1.415+0.028+0.013−0.010−0.009 = 1.437) is also below 1.439"),
        R("N bound 370·√(γφ_thr/0.05)", 890, 370 * math.sqrt(t5 / GAMMA_PHI), "001 Eq. 30", tol=0.002),
        R("πΓ01/(3ΔE) coefficient", 2.2694, math.pi * g01 / (3 * de_rad), "001 Fig. 1 caption", tol=_tol_digits(2.2694, 4)),
    ]
    data["analytic"] = dict(q2=q2, de=de, g01=g01, m_star=ms, gamma_a=gam_a, gamma_b=gam_b)
    return rows


# ------------------------------------------------------------------------ driver

def build_report(*, quick: bool = False, progress=None) -> Report:
    """Recompute everything; ``quick`` uses coarse grids (for tests, ~tens of seconds)."""
    report_progress = progress or (lambda msg: None)

    def say(msg):
        # Each step compiles its own programs; drop the earlier steps' ones before the process
        # nears its memory-map limit (jaxlmg._config, "Memory maps of compiled programs").
        release_compiled_programs()
        report_progress(msg)

    data: dict[str, Any] = {}
    rows: list[dict] = []
    # One spectrum call for every doublet point: Table 3, ηMF(N), ηMF(Γ/J), benchmark.
    t3_n = [100, 200, 300, 370, 500, 1000, 2000]
    n_grid = np.unique(np.concatenate([np.arange(20, 120, 10), np.arange(120, 600, 20 if quick else 10),
                                       np.arange(600, 2001, 200 if quick else 100)]))
    g_grid = np.unique(np.concatenate([np.linspace(0.05, 0.9, 10 if quick else 35),
                                       np.arange(0.9, 0.995, 0.01 if quick else 0.0025)]))
    n_all = np.concatenate([t3_n, n_grid, np.full(g_grid.size, N_BENCH)])
    f_all = np.concatenate([np.full(len(t3_n) + n_grid.size, GAMMA), g_grid])
    say("doublet factors")
    d = doublet_table(n_all, f_all)
    idx = {n: i for i, n in enumerate(t3_n)}
    sel_n = np.arange(len(t3_n), len(t3_n) + n_grid.size)
    sel_g = np.arange(len(t3_n) + n_grid.size, n_all.size)
    i370 = idx[N_BENCH]
    rows += _benchmark_rows(d, i370, data)
    rows += _table3_rows(d, idx, data)
    rows += _eta_rows(d, sel_n, sel_g, data)
    say("semiclassical / Goldilocks")
    rows += _semiclassical_rows(float(d["delta_e"][i370]), data, quick)
    from . import _report_sections as sec

    say("semiclassics to N = 1e5")
    new = sec.asymptotic_rows(data, quick)
    at = max(i for i, r in enumerate(rows) if r["quantity"].startswith(("N_c exact ΔE = k_BT", "N_c instanton root, fitted")))
    rows[at + 1:at + 1] = new  # next to the paper-C0 / fitted-C0 rows of Table 1
    say("Leggett-Garg")
    rows += _lg_rows(d, i370, data, quick)
    rows += sec.four_x_rows(d, i370, data)
    say("untruncated Leggett-Garg")
    rows += sec.lg_full_rows(data, quick)
    say("Landau-Zener sweeps")
    rows += sec.landau_zener_rows(data, quick)
    say("seed 003 spin cats")
    rows += sec.seed003_rows(data, quick)
    # Fig. 3 curves: exact ΔE(N)/k_BT.
    from ._goldilocks import goldilocks_scan

    nn = np.arange(20, 601, 10 if quick else 4)
    curves = {}
    for g in (0.95, 0.90):
        s = goldilocks_scan(nn, g)
        curves[g] = np.asarray(s.ratio)
    data["fig3"] = dict(n=nn, exact=curves)
    return Report(rows=rows, data=data, quick=quick)


# ------------------------------------------------------------------------ output

def _fmt(x) -> str:
    if x is None:
        return "—"
    if isinstance(x, float):
        if x == 0:
            return "0"
        a = abs(x)
        if a >= 1e5 or a < 1e-3:
            return f"{x:.4g}"
        return f"{x:.6g}"
    return str(x)


def _rel(r) -> str:
    return "—" if r["rel_diff"] is None else f"{100 * r['rel_diff']:+.3g}%"


HEADER = ("quantity", "paper value", "computed", "relative difference", "section/equation", "status")


def to_markdown(report: Report) -> str:
    lines = ["# jaxlmg reproduction report", "",
             "status ok: agreement within one unit of the paper's last quoted digit (or the stated tolerance); "
             "differs: see the note for the cause.", "",
             f"{len(report.rows)} quantities, {report.n_differs} differ from the paper"
             + (" (quick mode: coarse grids)" if report.quick else "") + ".", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for r in report.rows:
        unit = f" {r['unit']}" if r["unit"] else ""
        st = r["status"] + (f" — {r['note']}" if r["note"] else "")
        cells = [r["quantity"], _fmt(r["paper"]) + (unit if r["paper"] is not None else ""), _fmt(r["computed"]) + unit,
                 _rel(r), r["ref"], st.replace("|", "\\|")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Figures", ""]
    caps = report.data.get("captions", {})
    for name in sorted(report.data.get("figures", [])):
        lines += [f"![{name}]({name})", "", f"*{name}* — {caps.get(name, '(no caption)')}", ""]
    return "\n".join(lines) + "\n"


def to_html(report: Report) -> str:
    e = html.escape
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>jaxlmg reproduction report</title>",
           "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
           "padding:2px 6px}tr.differs{background:#fee}figure{display:inline-block;width:46%;vertical-align:top;margin:4px}img{max-width:100%}</style></head><body>",
           "<h1>jaxlmg reproduction report</h1>",
           f"<p>{len(report.rows)} quantities, {report.n_differs} differ from the paper.</p>",
           "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in HEADER) + "</tr>"]
    for r in report.rows:
        unit = f" {r['unit']}" if r["unit"] else ""
        st = r["status"] + (f" — {r['note']}" if r["note"] else "")
        cells = [r["quantity"], _fmt(r["paper"]) + (unit if r["paper"] is not None else ""), _fmt(r["computed"]) + unit,
                 _rel(r), r["ref"], st]
        out.append(f"<tr class='{e(r['status'])}'>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    out.append("</table><h2>Figures</h2>")
    caps = report.data.get("captions", {})
    for name in sorted(report.data.get("figures", [])):
        out.append(f"<figure><img src='{e(name)}' alt='{e(name)}'><figcaption><b>{e(name)}</b> — "
                   f"{e(caps.get(name, '(no caption)'))}</figcaption></figure>")
    out.append("</body></html>")
    return "\n".join(out)


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def report_json(report: Report) -> str:
    """Strict JSON (RFC 8259): a non-finite ``computed`` becomes null, with status "differs"."""
    from ._sweep import dumps_strict

    return dumps_strict({"quick": report.quick, "rows": report.rows}, indent=1, ensure_ascii=False)


def write_report(report: Report, out_dir: str, *, figures: bool = True) -> list[str]:
    """Write report.md / report.html / report.json (+ PNG figures); returns the paths."""
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    if figures:
        from ._plots import draw_all

        report.data["figures"] = draw_all(report.data, out_dir)
        paths += [os.path.join(out_dir, f) for f in report.data["figures"]]
    for name, text in (("report.md", to_markdown(report)), ("report.html", to_html(report)),
                       ("report.json", report_json(report))):
        p = os.path.join(out_dir, name)
        _atomic_write(p, text)
        paths.append(p)
    return paths
