"""Fixed workload definitions W1..W5, identical for jaxlmg and every peer.

Everything here is plain Python/numpy so that it can be imported by workers running
in any virtual environment (the peers' venv has no jaxlmg).

Units: energies and rates in units of the coupling J (ħ = 1); rates quoted in s⁻¹ are
converted with J = 37195.4 rad/s (the papers' spinor-BEC benchmark).
"""

from __future__ import annotations

import numpy as np

J_RAD_S = 37195.4

WORKLOADS = ("W1", "W2", "W3", "W4", "W5")

TITLES = {
    "W1": "paper point: N=370, Γ/J=0.95, n=5, K3 (stationary + sequential) at 10 γφ + threshold",
    "W2": "spectrum sweep: lowest 10 levels + ΔE, G01, J01, Q01², ηMF for even N in 2..2000, Γ/J=0.95",
    "W3": "threshold map: N ∈ range(100, 601, 10) × Γ/J ∈ linspace(0.85, 0.99, 29), n=5",
    "W4": "K3 surface: N=370, Γ/J=0.95, n=10, 256 γφ × 256 Δt, stationary",
    "W5": "truncation: K3(γφ=0.05 s⁻¹) and threshold for n ∈ {2,3,4,5,10,20,40,60}, N=370, Γ/J=0.95",
}

GOALS = {
    "W1": "jaxlmg whole process ≤ scipy (paper script) with warm compilation cache; ≤ 3 s with a cold cache",
    "W2": "≥ 10× tuned scipy (eigh_tridiagonal), ≥ 1000× dense eigh (steady state)",
    "W3": "≥ 20× scipy brentq loop (steady state)",
    "W4": "≥ 5× tuned scipy (eig per γφ) (steady state)",
    "W5": "n = 60 point (K3 + threshold) in ≤ 1 s",
}

W1_GAMMAS_PER_S = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0]
#: Values quoted in the paper (Fig. 1 / Eq. 24) for W1.
W1_EXPECTED = {"k3_stationary_first": 1.4294, "k3_stationary_last": 0.6712, "threshold_per_s": 0.2892}


def spec(workload: str, quick: bool = False) -> dict:
    """The parameters of one workload (JSON-serialisable)."""
    if workload == "W1":
        return dict(workload="W1", n_spins=370, field=0.95, levels=5,
                    gammas=[g / J_RAD_S for g in W1_GAMMAS_PER_S], gammas_per_s=W1_GAMMAS_PER_S)
    if workload == "W2":
        ns = list(range(20, 201, 20)) if quick else list(range(2, 2001, 2))
        return dict(workload="W2", n_spins=ns, field=0.95, levels=10)
    if workload == "W3":
        if quick:
            ns, fs = [100, 350, 600], list(np.linspace(0.85, 0.99, 3))
        else:
            ns, fs = list(range(100, 601, 10)), list(np.linspace(0.85, 0.99, 29))
        return dict(workload="W3", n_spins=ns, fields=[float(f) for f in fs], levels=5)
    if workload == "W4":
        m = 8 if quick else 256
        g = np.geomspace(1e-3, 10.0, m) / J_RAD_S
        return dict(workload="W4", n_spins=370, field=0.95, levels=10, gammas=list(map(float, g)),
                    dt_factors=list(map(float, np.linspace(0.1, 3.0, m))))  # Δt = f·π/(3ΔE)
    if workload == "W5":
        ns = [2, 3, 4, 5, 10] if quick else [2, 3, 4, 5, 10, 20, 40, 60]
        return dict(workload="W5", n_spins=370, field=0.95, levels_list=ns, gamma=0.05 / J_RAD_S)
    raise ValueError(f"unknown workload {workload!r}")


def n_points(s: dict) -> int:
    w = s["workload"]
    return {"W1": lambda: len(s["gammas"]), "W2": lambda: len(s["n_spins"]),
            "W3": lambda: len(s["n_spins"]) * len(s["fields"]),
            "W4": lambda: len(s["gammas"]) * len(s["dt_factors"]), "W5": lambda: len(s["levels_list"])}[w]()


#: Output arrays per workload (name -> description); every implementation returns these.
OUTPUTS = {
    "W1": {"k3_stationary": "K3 (stationary) per γφ", "k3_sequential": "K3 (sequential) per γφ",
           "threshold_per_s": "n=5 stationary threshold (s⁻¹)"},
    "W2": {"energies": "lowest 10 energies (J), NaN above N+1", "delta_e": "ΔE (J)", "g01": "G01",
           "j01": "J01", "q01sq": "Q01²", "eta_mf": "ηMF"},
    "W3": {"threshold_per_s": "stationary n=5 threshold (s⁻¹), NaN where none"},
    "W4": {"k3": "K3 surface (nγ, nΔt)"},
    "W5": {"k3": "K3 at γφ = 0.05 s⁻¹ per n", "threshold_per_s": "threshold per n (s⁻¹)"},
}
