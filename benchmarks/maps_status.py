"""Status census of the W3 threshold map and the W2 spectrum sweep (issue 13's done-when).

    python -m benchmarks.maps_status [--check 40] [--out benchmarks/results/maps_status.json]

W3: N ∈ range(100, 601, 10) × Γ/J ∈ linspace(0.85, 0.99, 29), n = 5 (1479 points): counts per
status, the error estimates, and a random subset re-solved by the tuned scipy peer (brentq on
the 5-level Liouvillian) where the peer's own ΔE is resolved (its full-matrix eigh_tridiagonal
loses relative accuracy once ΔE < ~1e-9·‖H‖, so only those points compare). W2: every even N in
2..2000 at Γ/J = 0.95, 10 levels: counts per status of spectrum + doublet factors.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.maps_status")
    p.add_argument("--check", type=int, default=40)
    p.add_argument("--out", default="benchmarks/results/maps_status.json")
    a = p.parse_args(argv)
    import jaxlmg
    from jaxlmg import BEC, Status
    from . import workloads as W
    from .peers import scipy_tuned

    s = W.spec("W3")
    ns, fs = np.meshgrid(np.asarray(s["n_spins"]), np.asarray(s["fields"]), indexing="ij")
    t0 = time.perf_counter()
    r = jaxlmg.threshold(ns.ravel(), fs.ravel(), levels=s["levels"])
    st = np.asarray(r.status)
    t_w3 = time.perf_counter() - t0
    thr = np.asarray(r.dephasing)
    err = np.asarray(r.error_estimate)
    rng = np.random.default_rng(1)
    sel = rng.choice(st.size, size=min(a.check, st.size), replace=False)
    comp = []
    for i in sel:
        n, g = int(ns.ravel()[i]), float(fs.ravel()[i])
        k = scipy_tuned._k3eval(n, g, s["levels"])
        de_peer = float(k.E[1] - k.E[0])
        if de_peer < 1e-9 * n:  # the peer's own ΔE is not accurate there
            continue
        ref = k.threshold()
        comp.append(dict(n_spins=n, field=g, jaxlmg=float(thr[i]), scipy=float(ref),
                         rel=float(abs(thr[i] - ref) / abs(ref)) if np.isfinite(ref) else None))
    # Every point without a threshold, with the reason the status carries (issue 13: a documented
    # reason for each point that is not OK): ILL_CONDITIONED = estimated relative error of γ* > 1e-6.
    de = np.asarray(r.delta_e)
    bad = np.flatnonzero(st != Status.OK)
    not_ok = [dict(n_spins=int(ns.ravel()[i]), field=float(fs.ravel()[i]), status=Status(int(st[i])).name,
                   error_estimate=float(err[i]), delta_e=float(de[i])) for i in bad]
    region = None
    if bad.size:
        region = dict(n_spins=[int(ns.ravel()[bad].min()), int(ns.ravel()[bad].max())],
                      field=[float(fs.ravel()[bad].min()), float(fs.ravel()[bad].max())],
                      delta_e_max=float(np.nanmax(de[bad])),
                      ok_points_with_smaller_delta_e=int(((st == Status.OK) & (de < np.nanmax(de[bad]))).sum()),
                      error_estimate=[float(np.nanmin(err[bad])), float(np.nanmax(err[bad]))])
    rels = [c["rel"] for c in comp if c["rel"] is not None and np.isfinite(c["jaxlmg"])]
    w2 = W.spec("W2")
    t0 = time.perf_counter()
    sp = jaxlmg.spectrum(np.asarray(w2["n_spins"]), w2["field"], levels=w2["levels"], on_invalid="mask")
    df = jaxlmg.doublet_factors_from(sp)
    t_w2 = time.perf_counter() - t0
    names = lambda arr: {Status(k).name: int(v) for k, v in enumerate(np.bincount(np.asarray(arr).ravel(),
                                                                                   minlength=len(Status))) if v}
    out = dict(
        w3=dict(points=int(st.size), statuses=names(st), seconds_first_call=t_w3,
                max_error_estimate_ok=float(np.nanmax(np.where(st == 0, err, np.nan))),
                threshold_range_per_s=[float(np.nanmin(BEC.rate_to_per_s(thr))),
                                       float(np.nanmax(BEC.rate_to_per_s(thr)))],
                scipy_compared=len(rels), scipy_max_rel_dev=max(rels) if rels else None, compared=comp,
                not_ok=not_ok, not_ok_region=region),
        w2=dict(points=int(np.size(sp.status)), statuses=names(sp.status),
                finite_delta_e=int(np.isfinite(np.asarray(df.delta_e)).sum()), seconds_first_call=t_w2),
    )
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=1)
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk not in ("compared", "not_ok")} for k, v in out.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
