"""W5-full: untruncated Leggett–Garg on the whole Dicke space (issue 8) — timings, peer, convergence.

Standalone:  python benchmarks/w5_full.py [--parts timing,peer,convergence,gap] [--out DIR]

* timing: jaxlmg K3 (N = 370, Γ/J = 0.95, γφ = 0.05 s⁻¹, full 371 levels, both protocols), the
  full-space threshold, and the n = 60 K3 + threshold, each cold (first call, compiles) and warm.
* peer: the tuned scipy peer — ``scipy.sparse.linalg.expm_multiply`` on the sparse parity-odd
  Liouvillian (Dicke basis, 5-point stencil) for the stationary K3 at the same point, same run.
* convergence: ``truncation_convergence`` at N = 200, 370, 500 (K3 and threshold vs n, both protocols).
* gap: odd-sector Liouvillian eigenvalues (shift-invert) vs the T2 formulas.
Writes JSON to ``--out`` (default benchmarks/results/w5_full/). Records the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jaxlmg  # noqa: E402
from jaxlmg import BEC  # noqa: E402
from jaxlmg._lg_full import correlators_full, threshold_full, truncation_convergence  # noqa: E402

N0, FIELD = 370, 0.95
GAMMA = BEC.rate_to_natural(0.05)


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def timing() -> dict:
    res = {}
    for prot in ("stationary", "sequential"):
        k = lambda: float(correlators_full(GAMMA, N0, FIELD, protocol=prot).k3)
        v, cold = _timed(k)
        _, warm = _timed(k)
        res[f"k3_full_{prot}"] = dict(value=v, cold_s=cold, warm_s=warm)
        th = lambda: threshold_full(N0, FIELD, protocol=prot)
        r, cold = _timed(th)
        _, warm = _timed(th)
        res[f"threshold_full_{prot}"] = dict(value_per_s=float(BEC.rate_to_per_s(r.dephasing)), status=int(r.status),
                                             iterations=int(r.iterations), cold_s=cold, warm_s=warm)
    f60 = lambda: (float(correlators_full(GAMMA, N0, FIELD, levels=60).k3),
                   float(BEC.rate_to_per_s(threshold_full(N0, FIELD, levels=60).dephasing)))
    v, cold = _timed(f60)
    _, warm = _timed(f60)
    res["n60_k3_plus_threshold"] = dict(k3=v[0], threshold_per_s=v[1], cold_s=cold, warm_s=warm)
    return res


def peer() -> dict:
    """Tuned scipy: expm_multiply on the sparse odd-sector Liouvillian (stationary K3)."""
    import scipy.linalg as sl
    import scipy.sparse.linalg as spla

    from jaxlmg.dynamics._gap import odd_liouvillian

    t0 = time.perf_counter()
    n = N0
    d = n + 1
    m = np.arange(d) - n / 2.0
    lodd, p = odd_liouvillian(n, FIELD, GAMMA)
    h = np.diag(-(2.0 / n) * m**2)
    off = -FIELD * np.sqrt(n / 2 * (n / 2 + 1) - m[:-1] * (m[:-1] + 1))
    h += np.diag(off, 1) + np.diag(off, -1)
    e, v = sl.eigh(h, subset_by_index=[0, 1])
    dt = np.pi / (3.0 * (e[1] - e[0]))
    q = np.sign(m)
    rho0 = np.outer(v[:, 0], v[:, 0])
    x0 = 0.5 * (q[:, None] * rho0 + rho0 * q[None, :])
    y0 = p.T @ x0.T.ravel().astype(complex)
    qv = p.T @ np.diag(q).T.ravel()  # Tr[Q X] = ⟨vec(Q), vec(X)⟩ (real Q)
    ys = spla.expm_multiply(lodd, y0, start=0.0, stop=2 * dt, num=3, endpoint=True)
    c12, c13 = (qv @ ys[1]).real, (qv @ ys[2]).real
    return dict(k3_stationary=float(2 * c12 - c13), seconds=time.perf_counter() - t0)


def convergence() -> dict:
    out = {}
    for n in (370, 200, 500):
        t = time.perf_counter()
        r = truncation_convergence(n, FIELD)
        r = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
        r["seconds"] = time.perf_counter() - t
        r["threshold_per_s"] = {p: [float(BEC.rate_to_per_s(x)) for x in r[f"threshold_{p}"]]
                                for p in ("stationary", "sequential")}
        out[str(n)] = r
        print(json.dumps({n: r}), flush=True)
    return out


def gap() -> dict:
    from jaxlmg.dynamics._gap import odd_sector_rates

    out = {}
    for g_s in (0.05, 0.289):
        g = BEC.rate_to_natural(g_s)
        r, sec = _timed(lambda: odd_sector_rates(N0, FIELD, g, k=8))
        a = jaxlmg.analytic_thresholds(N0, FIELD)
        t2l = {lv: float(jaxlmg.t2_lindblad(g, N0, FIELD, levels=lv)) for lv in (2, 5, 10)}
        out[str(g_s)] = dict(
            eigenvalues=[[float(w.real), float(w.imag)] for w in r["eigenvalues"]],
            overlap=r["overlap"].tolist(), doublet_rate=float(r["doublet_rate"]),
            rate_level_b_g01=float(g * r["g01"]), rate_j01sq=float(g * r["j01_sq"]),
            rate_level_a_coll=float(g * a.g_coll), rate_lindblad_nlevel={k: 1.0 / v for k, v in t2l.items()},
            seconds=sec)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default="timing,peer,convergence,gap")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "w5_full"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in a.parts.split(","):
        load = os.getloadavg()
        res, sec = _timed(globals()[part])
        res = dict(result=res, seconds=sec, loadavg_before=load, loadavg_after=os.getloadavg(), cpus=os.cpu_count())
        (out / f"{part}.json").write_text(json.dumps(res, indent=1, default=float))
        print(part, json.dumps(res, default=float)[:2000], flush=True)


if __name__ == "__main__":
    main()
