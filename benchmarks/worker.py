"""One implementation × one workload in its own process.

    python -m benchmarks.worker --impl jaxlmg --workload W3 --out DIR [--quick]
    python -m benchmarks.worker --impl scipy_tuned --scaling W2 --out DIR

Writes DIR/result.json (timings, notes, environment) and DIR/arrays.npz (outputs).
Only the standard library is imported before the timed import of the implementation.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()
_WALL_START = time.time()

import argparse  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

IMPLS = {"jaxlmg": "jaxlmg_impl", "scipy": "scipy_paper", "scipy_paper": "scipy_paper",
         "scipy_tuned": "scipy_tuned", "qutip": "qutip_peer", "dynamiqs": "dynamiqs_peer"}

#: Scaling studies: (workload, list of sizes); the spec for each size is built below.
SCALING_SIZES = {"W2": [50, 100, 200, 400, 800, 1600, 3200], "W3": [1, 4, 9, 25, 100, 400, 1479]}
SCALING_SIZES_QUICK = {"W2": [50, 100, 200], "W3": [1, 4, 9]}


def _write(out, payload, arrays=None):
    os.makedirs(out, exist_ok=True)
    if arrays is not None:
        import numpy as np

        np.savez(os.path.join(out, "arrays.npz"), **{k: np.asarray(v) for k, v in arrays.items()})
    with open(os.path.join(out, "result.json"), "w") as fh:
        json.dump(payload, fh, indent=1, default=float)


def _vmhwm_kb():
    """Peak RSS of this process image (VmHWM; unlike ru_maxrss it does not inherit the
    parent's high-water mark across fork+exec)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _scaling_spec(workload, size):
    from . import workloads as W

    if workload == "W2":
        return dict(workload="W2", n_spins=[size], field=0.95, levels=10)
    import numpy as np

    s = W.spec("W3")
    ns, fs = np.asarray(s["n_spins"]), np.asarray(s["fields"])
    a = int(round(np.sqrt(size)))
    b = max(1, size // a)
    return dict(workload="W3", n_spins=[int(x) for x in ns[np.linspace(0, len(ns) - 1, a).astype(int)]],
                fields=[float(x) for x in fs[np.linspace(0, len(fs) - 1, b).astype(int)]], levels=5)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--impl", required=True, choices=sorted(IMPLS))
    p.add_argument("--workload")
    p.add_argument("--scaling")
    p.add_argument("--out", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--max-repeats", type=int, default=3)
    p.add_argument("--repeat-budget", type=float, default=60.0, help="seconds of steady repeats at most")
    a = p.parse_args(argv)
    payload = dict(impl=a.impl, workload=a.workload or a.scaling, quick=a.quick, python=sys.version.split()[0],
                   env={k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                       "JAX_COMPILATION_CACHE_DIR", "JAX_PLATFORMS")})
    t0 = time.perf_counter()
    try:
        mod = importlib.import_module(f"benchmarks.peers.{IMPLS[a.impl]}")
    except ImportError as exc:
        payload.update(status="skipped", note=f"not installed in {sys.executable}: {exc}")
        _write(a.out, payload)
        return 0
    payload["import_s"] = time.perf_counter() - t0
    payload["startup_s"] = t0 - _T_START
    try:
        payload["info"] = mod.info() if hasattr(mod, "info") else {}
    except Exception as exc:  # informational only
        payload["info"] = {"error": repr(exc)}
    jit = bool(getattr(mod, "JIT", False))
    payload["jit"] = jit
    from . import workloads as W

    if a.scaling:
        return _scaling(a, mod, payload, jit)
    w = a.workload
    if w not in mod.WORKLOADS:
        payload.update(status="skipped", note=getattr(mod, "SKIPPED", {}).get(w, f"{a.impl} does not implement {w}"))
        _write(a.out, payload)
        return 0
    fn = mod.WORKLOADS[w]
    s = W.spec(w, a.quick)
    try:
        t0 = time.perf_counter()
        res = fn(s, a.quick)
        t_first = time.perf_counter() - t0
    except Exception as exc:  # a peer failing is a result, not a crash of the harness
        payload.update(status="error", note=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc()[-4000:])
        _write(a.out, payload)
        return 0
    payload["first_s"] = t_first
    _write(a.out, dict(payload, status="partial"), res["arrays"])
    payload["first_done_wall"] = time.time()
    payload["process_start_wall"] = _WALL_START
    # Steady-state repeats.
    times = [t_first]
    items = [res.get("item_times")]
    ex = [res.get("extrapolate")]
    max_rep = (1 if jit else 0) if a.quick else a.max_repeats
    spent = 0.0
    for i in range(max_rep):
        if (i >= 1 or not jit) and spent + t_first > a.repeat_budget:
            break
        t0 = time.perf_counter()
        r = fn(s, a.quick)
        dt = time.perf_counter() - t0
        spent += dt
        times.append(dt)
        items.append(r.get("item_times"))
        ex.append(r.get("extrapolate"))
    first_rep = 1 if (jit and len(times) > 1) else 0
    rep = times[first_rep:]
    best = first_rep + min(range(len(rep)), key=lambda i: rep[i])
    steady = min(rep)
    payload.update(status="ok", repeats=len(rep), all_s=times, steady_s=steady,
                   compile_s=(t_first - steady) if jit and len(times) > 1 else None,
                   notes=list(res.get("notes", [])))
    if items[best]:
        it = items[best]
        if all(x for x in items[first_rep:]):
            import numpy as np

            tt = np.min(np.array([x["t"] for x in items[first_rep:]]), axis=0)
            it = dict(x=it["x"], t=tt.tolist())
        payload["item_times"] = it
        payload["item_times_first"] = items[0]
    if "computed" in res:
        payload["computed_points"] = int(res["computed"])
    payload["points"] = W.n_points(s)
    e = ex[best]
    if e:
        if e["kind"] == "scale":
            payload["steady_extrapolated_s"] = steady * e["scale"]
        else:
            from .peers._lmg_numpy import fit_power_law_total

            tot, fit = fit_power_law_total(e["x_meas"], e["t_meas"], e["x_all"], e["power"])
            # The fit used per-item times of the best run; rescale to its measured total.
            payload["steady_extrapolated_s"] = steady - sum(e["t_meas"]) + tot
            payload["fit"] = fit
        payload["notes"].append(e["note"])
    payload["maxrss_self_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    payload["vmhwm_kb"] = _vmhwm_kb()
    _write(a.out, payload, res["arrays"] if "status" not in res else dict(res["arrays"], status=res["status"]))
    return 0


def _scaling(a, mod, payload, jit):
    sizes = (SCALING_SIZES_QUICK if a.quick else SCALING_SIZES)[a.scaling]
    fn = mod.WORKLOADS.get(a.scaling)
    if fn is None:
        payload.update(status="skipped", note=getattr(mod, "SKIPPED", {}).get(a.scaling, "not implemented"))
        _write(a.out, payload)
        return 0
    rows = []
    budget = 20.0 if a.quick else 120.0
    spent = 0.0
    for size in sizes:
        s = _scaling_spec(a.scaling, size)
        pts = len(s["n_spins"]) * (len(s["fields"]) if "fields" in s else 1)
        t0 = time.perf_counter()
        fn(s, True)
        t1 = time.perf_counter() - t0
        best = t1
        if jit or t1 < 1.0:
            for _ in range(2 if t1 < 1.0 else 1):
                t0 = time.perf_counter()
                fn(s, True)
                best = min(best, time.perf_counter() - t0)
        rows.append(dict(size=size, points=pts, first_s=t1, steady_s=best))
        spent += t1 + best
        if spent > budget:
            payload["note"] = f"stopped after size {size}: time budget {budget:.0f} s spent"
            break
    payload.update(status="ok", scaling=rows)
    _write(a.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
