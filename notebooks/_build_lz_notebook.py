"""Builds notebooks/04_landau_zener.ipynb (run from the repo root; the coordinator may fold it into _build_notebooks.py)."""

import nbformat as nbf

QUICK = """import os
QUICK = os.environ.get("JAXLMG_QUICK") == "1"   # the test suite runs notebooks at small sizes
import numpy as np, matplotlib
matplotlib.use("Agg") if QUICK else None
import matplotlib.pyplot as plt
import jaxlmg
from jaxlmg import BEC
from jaxlmg import landau_zener as lz"""

cells = [
    ("md", "# P4: Landau–Zener bias sweeps, quantum and classical\n\n"
           "h(t) sweeps from −Δh/2 to +Δh/2 in τQ; the system starts in the ground state of the initial bias "
           "(the well the sweep turns metastable). `p_error` = 1 − population of the instantaneous ground state at "
           "the end (Zener's transition probability); `p_well` = probability of still being on the initial side "
           "(sign(Jz) readout, the classical foil's P_error). Seed 001 Eq. 17: P = exp(−πΔE²τQ/(4 N m* Δh))."),
    ("code", QUICK),
    ("md", "## Two-level limit (N = 1 is exactly Zener's problem)"),
    ("code", """tau = np.array([20.0, 60.0, 120.0])
r = lz.coherent_sweep(1, 0.2, tau, 8.0, max_step=0.05, tolerance=1e-3)
print("simulated", np.asarray(r.p_error)); print("Zener    ", np.exp(-np.pi * 0.2**2 * tau / 8.0))"""),
    ("md", "## N = 370, Γ/J = 0.95: simulated P_error against Eq. 17\n"
           "Eq. 17 uses the mean-field magnetisation N m*/2 = 57.8 of the diabatic states; the exact doublet matrix "
           "element is J01 = 49.5, so the simulated exponent is ≈ 1.17× Eq. 17's (the 'dressed' curve)."),
    ("code", """n = 40 if QUICK else 370
de, j01, half_nm = lz.doublet_parameters(n, 0.95)
tau_ms = np.geomspace(0.1, 100, 6 if QUICK else 16)
tau = tau_ms * 1e-3 * BEC.coupling_rad_s
dh = BEC.energy_from_rad_s(np.array([50.0, 100.0]))
c = lz.eq17_comparison(n, 0.95, tau, dh, levels=16 if QUICK else 32, max_step=1.0)
for i, d in enumerate([50, 100]):
    plt.semilogy(tau_ms, c.p_error[i], "o-", label=f"simulated Δh={d} rad/s")
    plt.semilogy(tau_ms, c.p_eq17[i], "--", label=f"Eq. 17 Δh={d}")
plt.ylim(1e-8, 1.5); plt.xscale("log"); plt.xlabel("τQ (ms)"); plt.ylabel("P_error"); plt.legend(fontsize=7);
print("fitted decay rate / Eq. 17:", np.asarray(c.kappa_fit / c.kappa_eq17))"""),
    ("md", "## The open-system crossover and the classical foil\n"
           "Collective dephasing L = √γφ Jz (K lowest H0 eigenstates), Model-A Fokker–Planck at 10 nK."),
    ("code", """if QUICK:
    t = lz.crossover_table(40, 0.95, tau_q_ms=[0.3, 3.0, 30.0], levels=12, dephasing_per_s=(0.0, 1.0))
else:
    t = lz.crossover_table()
for g, row in zip(t["dephasing_per_s"], t["p_error"]):
    plt.semilogx(t["tau_q_ms"], row, "o-", label=f"quantum γφ={g:g}/s")
plt.semilogx(t["tau_q_ms"], t["p_eq17"], "k--", label="Eq. 17")
plt.semilogx(t["tau_q_ms"], t["p_classical"], "r-", lw=2, label="classical Model A")
plt.xlabel("τQ (ms)"); plt.ylabel("P_error"); plt.legend(fontsize=7)
print("crossover τQ× (ms):", t["crossover_ms"]); print("Kramers time (s):", t["kramers_s"])"""),
]

n = nbf.v4.new_notebook()
n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
n.cells = [nbf.v4.new_markdown_cell(c) if k == "md" else nbf.v4.new_code_cell(c) for k, c in cells]
nbf.write(n, "notebooks/04_landau_zener.ipynb")
