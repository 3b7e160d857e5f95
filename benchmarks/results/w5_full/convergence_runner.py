import json, time, sys, numpy as np
import jaxlmg
from jaxlmg import BEC
from jaxlmg._lg_full import correlators_full, threshold_full
g = BEC.rate_to_natural(0.05)
jobs = []
for n in (370, 200, 500):
    for lv in ([None, 200, 100, 60, 40, 20, 10, 5, 4, 3, 2] if n == 370 else [None, 5]):
        for prot in ("stationary", "sequential"):
            jobs.append((n, lv, prot))
for n, lv, prot in jobs:
    t = time.time()
    k = correlators_full(g, n, 0.95, protocol=prot, levels=lv)
    t1 = time.time() - t
    th = threshold_full(n, 0.95, protocol=prot, levels=lv)
    print(json.dumps(dict(n=n, levels=lv or n + 1, protocol=prot, k3=float(k.k3), k3_status=int(k.status),
                          thr_per_s=float(BEC.rate_to_per_s(th.dephasing)), thr_status=int(th.status),
                          iters=int(th.iterations), t_k3=t1, t_total=time.time() - t)), flush=True)
