"""Threshold-map throughput (issue 12): thresholds per second for a large random map at n = 5.

    python -m benchmarks.throughput --points 100000 [--check 200] [--out FILE.json]

jaxlmg computes the whole map in chunks (first call = trace + compile + run, then the steady
state is timed on the same map); the tuned scipy peer (``peers/scipy_tuned.py``: tridiagonal
eigensolver, 10×10 odd-sector expm, geometric bracket + Brent) runs on a random subset of
``--check`` points in the same process, which gives both the per-point peer time (ratio) and
the accuracy check of every compared threshold.

``max_rel_dev`` compares only points where the peer is trustworthy: its ΔE = E1 - E0 is a
difference of two eigenvalues of a plain float64 eigensolver, with absolute error
~eps·‖H‖ (‖H‖ ≈ N(1 + 2Γ)/2), and the threshold scales with ΔE (Δt = π/(3ΔE)), so its
relative error is ~eps·‖H‖/ΔE, beyond 1e-3 at the smallest splittings of the map. Points
with 8·eps·‖H‖/ΔE > ``PEER_TRUST`` (ΔE from jaxlmg's cancellation-free splitting) are left
out of ``max_rel_dev`` and counted in ``peer_untrusted``; ``max_rel_dev_all`` includes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

#: Largest relative error bound of the peer's ΔE for which its threshold is compared.
PEER_TRUST = 1e-9


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.throughput")
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--chunk", type=int, default=0, help="points per jaxlmg call (0 = all at once)")
    p.add_argument("--check", type=int, default=100, help="points re-solved by the scipy peer")
    p.add_argument("--levels", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None)
    a = p.parse_args(argv)

    import jax
    import jaxlmg
    from .peers import scipy_tuned

    rng = np.random.default_rng(a.seed)
    ns = rng.integers(100, 601, a.points)
    fs = rng.uniform(0.85, 0.99, a.points)
    chunk = a.chunk or a.points

    def run():
        out, st, de = np.empty(a.points), np.empty(a.points, np.int32), np.empty(a.points)
        for s in range(0, a.points, chunk):
            r = jaxlmg.threshold(ns[s:s + chunk], fs[s:s + chunk], levels=a.levels)
            out[s:s + chunk] = np.asarray(r.dephasing)
            st[s:s + chunk] = np.asarray(r.status)
            de[s:s + chunk] = np.asarray(r.delta_e)
        return out, st, de

    t0 = time.perf_counter()
    run()
    t_first = time.perf_counter() - t0
    t0 = time.perf_counter()
    thr, st, de = run()
    t_steady = time.perf_counter() - t0

    # Share of the steady state spent in the spectrum + matrix elements (jaxlmg._threshold's
    # _operators: the spectrum of every point, already compiled by the runs above).
    from jaxlmg._threshold import _operators

    t0 = time.perf_counter()
    for s in range(0, a.points, chunk):
        nn = ns[s:s + chunk]
        jax.block_until_ready(_operators(nn, jax.numpy.asarray(fs[s:s + chunk]), jax.numpy.zeros(nn.size), a.levels,
                                         1.0, True))
    t_ops = time.perf_counter() - t0

    sel = rng.choice(a.points, size=min(a.check, a.points), replace=False)
    t0 = time.perf_counter()
    ref = np.array([scipy_tuned._k3eval(int(ns[i]), float(fs[i]), a.levels).threshold() for i in sel])
    t_peer = (time.perf_counter() - t0) / len(sel)
    both = np.isfinite(ref) & np.isfinite(thr[sel])
    rel_all = np.abs(thr[sel][both] - ref[both]) / np.abs(ref[both])
    peer_bound = 8.0 * np.finfo(np.float64).eps * 0.5 * ns[sel] * (1.0 + 2.0 * fs[sel]) / de[sel]
    trusted = (peer_bound <= PEER_TRUST)[both]
    rel = rel_all[trusted]
    counts = {jaxlmg.Status(k).name: int(v) for k, v in enumerate(np.bincount(st, minlength=len(jaxlmg.Status)))
              if v}
    dev = jax.devices()[0]
    res = dict(
        points=a.points, levels=a.levels, chunk=chunk, backend=jax.default_backend(),
        device=str(getattr(dev, "device_kind", dev.platform)), cpu=platform.processor() or platform.machine(),
        cores=os.cpu_count(), jax=jax.__version__, load_avg_1min=os.getloadavg()[0],
        env={k: os.environ.get(k) for k in ("NPROC", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
        first_call_s=t_first, steady_s=t_steady, spectrum_operators_s=t_ops, compile_s=t_first - t_steady,
        points_per_s=a.points / t_steady, statuses=counts,
        peer="scipy_tuned", peer_points=int(len(sel)), peer_s_per_point=t_peer,
        ratio_vs_peer=t_peer * a.points / t_steady,
        compared=int(trusted.sum()), max_rel_dev=float(rel.max()) if rel.size else None,
        peer_trust=PEER_TRUST, peer_untrusted=int((~trusted).sum()),
        max_rel_dev_all=float(rel_all.max()) if rel_all.size else None,
        peer_finite_jaxlmg_nan=int((np.isfinite(ref) & ~np.isfinite(thr[sel])).sum()),
    )
    print(json.dumps(res, indent=1))
    if a.out:
        with open(a.out, "w") as fh:
            json.dump(res, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
