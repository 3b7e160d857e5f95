import nbformat as nbf

def nb(cells, path):
    n = nbf.v4.new_notebook()
    n.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    n.cells = [nbf.v4.new_markdown_cell(c[1]) if c[0] == "md" else nbf.v4.new_code_cell(c[1]) for c in cells]
    nbf.write(n, path)

QUICK = """import os
QUICK = os.environ.get("JAXLMG_QUICK") == "1"   # the test suite runs notebooks at small sizes
import numpy as np, jax, matplotlib
matplotlib.use("Agg") if QUICK else None
import matplotlib.pyplot as plt
import jaxlmg
from jaxlmg import BEC"""

nb([
 ("md", "# jaxlmg quickstart: spectrum → K3 → threshold\n\nThe LMG model H = −(2J/N)Jz² − 2ΓJx − 2hJz at the papers' benchmark point N = 370, Γ/J = 0.95, in the BEC units of seed 001 (J = 37195.4 rad/s)."),
 ("code", QUICK),
 ("md", "## Spectrum and the tunnel doublet\nAt h = 0 the two parity blocks are diagonalised separately; `parity` labels each level."),
 ("code", """s = jaxlmg.spectrum(370, 0.95, levels=6)
print("energies (J):", np.round(np.asarray(s.energies), 6))
print("parity      :", np.asarray(s.parity))
print("ΔE = %.1f rad/s" % BEC.energy_to_rad_s(s.delta_e))
f = jaxlmg.doublet_factors(370, 0.95, dephasing=BEC.rate_to_natural(0.05))
print("Q01² = %.4f, G01 = %.1f, J01² = %.1f, ηMF = %.3f, ηexact = %.3f" % (f.q01**2, f.g01, f.j01**2, f.eta_mf, f.eta_exact))
print("χ = %.1f / J (autodiff through the eigensolver)" % jaxlmg.susceptibility(370, 0.95))"""),
 ("md", "## Leggett–Garg K3 under collective dephasing L = √γφ Jz\nRates in s⁻¹ are converted to units of J with `BEC.rate_to_natural`."),
 ("code", """rates = np.geomspace(0.005, 2.0, 6 if QUICK else 40)
g = BEC.rate_to_natural(rates)
k3s = jaxlmg.k3(g, 370, 0.95, levels=5)
k3q = jaxlmg.k3(g, 370, 0.95, levels=5, protocol="sequential")
for r, a, b in list(zip(rates, np.asarray(k3s), np.asarray(k3q)))[:6]:
    print(f"γφ = {r:7.3f} s⁻¹   K3 stationary {a:.4f}   sequential {b:.4f}")
plt.semilogx(rates, k3s, label="stationary"); plt.semilogx(rates, k3q, label="sequential")
plt.axhline(1, color="k", lw=0.8); plt.xlabel("γφ (s⁻¹)"); plt.ylabel("K3"); plt.legend();"""),
 ("md", "## The dephasing threshold K3(γφ) = 1\nNewton's method with the derivative from autodiff, safeguarded by bisection; each point carries a status."),
 ("code", """res = jaxlmg.threshold(370, 0.95, levels=5)
print("threshold γφ = %.4f s⁻¹ (status %s)" % (BEC.rate_to_per_s(res.dephasing), jaxlmg.Status(int(res.status)).name))
for n in ([2, 5] if QUICK else [2, 3, 4, 5, 10]):
    r = jaxlmg.threshold(370, 0.95, levels=n)
    print(f"n = {n:2d}: γφ_c = {float(BEC.rate_to_per_s(r.dephasing)):.4f} s⁻¹")"""),
], "notebooks/01_quickstart.ipynb")

nb([
 ("md", "# Threshold map over N × Γ/J with autodiff sensitivity\n\nThe dephasing threshold γφ_c(N, Γ/J) at which K3 = 1 (n = 5 levels), computed for a whole grid in one vmapped call, and its derivative with respect to Γ/J from the implicit function theorem."),
 ("code", QUICK),
 ("code", """ns = np.arange(100, 401, 100 if QUICK else 10)
fields = np.linspace(0.88, 0.98, 3 if QUICK else 21)
res = jaxlmg.threshold(ns[:, None], fields[None, :], levels=5)
gc = np.asarray(BEC.rate_to_per_s(res.dephasing))
status = np.asarray(res.status)
print("points:", gc.size, " converged:", int(np.sum(status == jaxlmg.Status.OK)), " statuses:", {jaxlmg.Status(int(c)).name: int(np.sum(status == c)) for c in np.unique(status)})
plt.pcolormesh(fields, ns, gc, shading="auto"); plt.colorbar(label="γφ_c (s⁻¹)")
plt.xlabel("Γ/J"); plt.ylabel("N");"""),
 ("md", "## Sensitivity dγφ_c/d(Γ/J)\n`jax.grad` differentiates through the root finder by the implicit function theorem; we check one point against a finite difference."),
 ("code", """def gamma_c(field, n=200):
    return jaxlmg.threshold(n, field, levels=5).dephasing

g_ad = jax.grad(gamma_c)(0.93)
h = 1e-5
g_fd = (gamma_c(0.93 + h) - gamma_c(0.93 - h)) / (2 * h)
print("dγc/d(Γ/J): autodiff %.6e   finite difference %.6e  (units of J)" % (g_ad, g_fd))
sens = jax.vmap(jax.grad(gamma_c))(jax.numpy.asarray(fields))
print("sensitivity along Γ/J at N=200 (s⁻¹ per unit Γ/J):", np.round(np.asarray(BEC.rate_to_per_s(sens)), 3))"""),
], "notebooks/02_threshold_map.ipynb")

nb([
 ("md", "# Which coherence decoheres? Basis-dependent rates (seed 000)\n\nG01 (eigenstate coherence ρ01), Gloc (mean-field pointer states), G01 + J01² (exact pointer states), ηMF = Gloc/G01 → 2 and ηexact = 1 + J01²/G01."),
 ("code", QUICK),
 ("code", """ns = np.array([60, 200, 370]) if QUICK else np.arange(20, 2001, 10)
f = jaxlmg.doublet_factors(ns, 0.95, dephasing=BEC.rate_to_natural(0.05))
norm = (ns * np.asarray(f.m_star) / 2) ** 2
plt.plot(ns, np.asarray(f.g_loc) / norm, ":", label="Gloc (flat at 2)")
plt.plot(ns, 2 * np.asarray(f.j01) ** 2 / norm, label="2 J01² (restricted doublet)")
plt.plot(ns, np.asarray(f.g01) / norm, "--", label="G01 (secular)")
plt.xlabel("N"); plt.ylabel("rate factor / (N m*/2)²"); plt.legend()
i = int(np.nanargmax(np.asarray(f.eta_mf)))
print("ηMF peak over N: %.3f at N = %d" % (f.eta_mf[i], ns[i]))"""),
 ("code", """fields = np.linspace(0.5, 0.995, 12 if QUICK else 200)  # one compiled call for the whole scan
g = jaxlmg.doublet_factors(370, fields)
i = int(np.nanargmax(np.asarray(g.eta_mf)))
print("ηMF peak over Γ/J at N=370: %.3f at Γ/J = %.3f" % (g.eta_mf[i], fields[i]))
rows = [200, 370] if QUICK else [100, 200, 300, 370, 500, 1000, 2000]
t = jaxlmg.doublet_factors(np.array(rows), 0.95, dephasing=BEC.rate_to_natural(0.05))
for row in zip(rows, np.asarray(t.g_loc), np.asarray(t.g01), np.asarray(t.eta_mf), np.asarray(t.secular)):
    print("N=%4d  Gloc=%8.0f  G01=%8.0f  ηMF=%.3f  2ΔE·T2=%.3g" % row)"""),
], "notebooks/03_basis_dependent_rates.ipynb")
