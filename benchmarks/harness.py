"""Parent side: spawn one worker process per (implementation, workload), time it from the
outside, compare results with jaxlmg, and write JSON + Markdown (+ scaling plots)."""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from . import workloads as W

REPO = Path(__file__).resolve().parent.parent
PEERS = ("scipy", "scipy_tuned", "qutip", "dynamiqs")
PEER_LABEL = {"scipy": "scipy (paper style: dense eigh, kron+expm, brentq)",
              "scipy_tuned": "scipy tuned (eigh_tridiagonal, eig per γφ, expm_multiply)",
              "qutip": "QuTiP 5", "dynamiqs": "dynamiqs (float64)", "jaxlmg": "jaxlmg"}
BLAS_PIN = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Relative deviation from jaxlmg above which a row is flagged as disagreeing.
AGREE_TOL = {"W1": 1e-6, "W2": 1e-4, "W3": 1e-6, "W4": 1e-6, "W5": 1e-6}
#: For dynamiqs (ODE solver at rtol 1e-10) a looser tolerance.
AGREE_TOL_ODE = 1e-5


def python_for(impl: str) -> str | None:
    """Interpreter for an implementation: the peers' venv for QuTiP/dynamiqs."""
    if impl in ("qutip", "dynamiqs"):
        for cand in (os.environ.get("JAXLMG_BENCH_PYTHON"), REPO / ".venv-bench" / "bin" / "python"):
            if cand and Path(cand).exists():
                return str(cand)
        return sys.executable
    return sys.executable


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def slug(s: str) -> str:
    s = re.sub(r"\(r\)|\(tm\)|cpu|processor|@.*$", "", s, flags=re.I)
    return re.sub(r"[^a-z0-9]+", "-", s.lower()).strip("-") or "unknown"


def machine_info() -> dict:
    import jax

    try:
        import jaxlmg  # noqa: F401
    except ImportError:
        pass
    dev = jax.devices()[0]
    return dict(cpu_model=cpu_model(), cores=os.cpu_count(), platform=platform.platform(),
                python=sys.version.split()[0], jax=jax.__version__, numpy=np.__version__,
                backend=jax.default_backend(), device=str(getattr(dev, "device_kind", dev.platform)),
                load_avg=os.getloadavg() if hasattr(os, "getloadavg") else None,
                date=time.strftime("%Y-%m-%d %H:%M:%S"))


def run_worker(impl, workload, *, quick, scaling=False, cache_dir=None, pin=True, timeout=1800.0):
    """Run one worker; return its result dict plus parent-side measurements."""
    out = Path(tempfile.mkdtemp(prefix=f"jaxlmg-bench-{impl}-"))
    env = dict(os.environ)
    for k in ("JAX_COMPILATION_CACHE_DIR", "JAXLMG_CACHE_DIR", "JAXLMG_CACHE", "JAXLMG_NO_CACHE"):
        env.pop(k, None)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    if pin:
        env.update(BLAS_PIN)
    else:
        for k in BLAS_PIN:
            env.pop(k, None)
    if cache_dir is None:
        env["JAXLMG_NO_CACHE"] = "1"  # jaxlmg's default cache (~/.cache) must not leak into a measurement
    else:
        env["JAX_COMPILATION_CACHE_DIR"] = str(cache_dir)
        env["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
        env["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "0"
    py = python_for(impl)
    cmd = [py, "-m", "benchmarks.worker", "--impl", impl, "--out", str(out)]
    cmd += ["--scaling", workload] if scaling else ["--workload", workload]
    if quick:
        cmd.append("--quick")
    n_cache_before = _count(cache_dir)
    wall0 = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = t0 + timeout
    rusage = None
    while True:
        pid, status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            _, status, rusage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.005)
    wall = time.perf_counter() - t0
    log = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    res = {}
    rp = out / "result.json"
    if rp.exists():
        res = json.loads(rp.read_text())
    arrays = {}
    if (out / "arrays.npz").exists():
        with np.load(out / "arrays.npz") as z:
            arrays = {k: z[k] for k in z.files}
    shutil.rmtree(out, ignore_errors=True)
    if not res:
        res = dict(impl=impl, status="error", note=f"worker exited with {proc.returncode}: {log[-2000:]}")
    elif proc.returncode != 0 and res.get("status") in ("ok", "partial"):
        res["status"] = "error"
        res["note"] = f"worker exited with {proc.returncode} (timeout {timeout:.0f} s?): {log[-500:]}"
    res["process_wall_s"] = wall
    if "first_done_wall" in res:
        # Whole process = spawn → first result computed and written (excludes the repeats).
        res["whole_process_s"] = res["first_done_wall"] - wall0
    elif res.get("status") == "ok":
        res["whole_process_s"] = wall
    # VmHWM of the worker (Linux); ru_maxrss from wait4 as a fallback (it can include the
    # parent's resident size inherited through fork before exec).
    res["peak_rss_mb"] = (res["vmhwm_kb"] / 1024.0 if res.get("vmhwm_kb") else
                          (rusage.ru_maxrss / 1024.0 if rusage else None))
    res["ru_maxrss_mb"] = rusage.ru_maxrss / 1024.0 if rusage else None
    res["blas_threads"] = "1 (pinned)" if pin else "default"
    if cache_dir is not None:
        n_after = _count(cache_dir)
        res["jax_cache"] = "warm" if (n_cache_before > 0 and n_after == n_cache_before) else (
            "cold" if n_cache_before == 0 else f"partly warm ({n_after - n_cache_before} new entries)")
        res["jax_cache_entries"] = [n_cache_before, n_after]
    res["log_tail"] = log[-1500:]
    return res, arrays


#: The one-point command-line queries of W1 (issue 12: ≤ 3 s with an empty cache, ≤ 1 s warm, whole process).
CLI_QUERIES = {
    "threshold": ["threshold", "--n-spins", "370", "--field", "0.95"],
    "k3": ["k3", "--n-spins", "370", "--field", "0.95", "--dephasing", "0.05"],
    "spectrum": ["spectrum", "--n-spins", "370", "--field", "0.95"],
    "doublet": ["doublet", "--n-spins", "370", "--field", "0.95"],
}


def cli_latency(cache_root, repeats=3, log=print):
    """Whole-process wall time of each one-point CLI query at the paper point: first with an
    empty cache directory (cold), then ``repeats`` times with the cache it left (warm, best of).
    The cold and warm outputs must be identical (checked, reported)."""
    rows = []
    py = python_for("jaxlmg")
    for name, args in CLI_QUERIES.items():
        cache = Path(cache_root) / f"cli-{name}"
        shutil.rmtree(cache, ignore_errors=True)
        env = {**os.environ, "JAXLMG_CACHE_DIR": str(cache)}
        for k in ("JAXLMG_NO_CACHE", "JAXLMG_CACHE", "JAXLMG_NO_EXPORT", "JAX_COMPILATION_CACHE_DIR"):
            env.pop(k, None)
        times, outs, err = [], [], None
        for _ in range(1 + repeats):
            t0 = time.perf_counter()
            p = subprocess.run([py, "-m", "jaxlmg", *args], cwd=REPO, env=env, capture_output=True, text=True,
                               timeout=600)
            times.append(time.perf_counter() - t0)
            outs.append(p.stdout)
            if p.returncode != 0:
                err = f"exit {p.returncode}: {p.stderr.strip()[-300:]}"
                break
        row = dict(query="jaxlmg " + " ".join(args), cold_s=times[0], warm_s=min(times[1:]) if len(times) > 1 else None,
                   warm_all_s=times[1:], same_output=len(set(outs)) == 1, error=err)
        rows.append(row)
        log(f"   CLI {name:<10} cold {row['cold_s']:5.2f} s  warm {row['warm_s'] or float('nan'):5.2f} s"
            f"  same output {row['same_output']}{'  ' + err if err else ''}")
        shutil.rmtree(cache, ignore_errors=True)
    return rows


def _count(d):
    if d is None or not Path(d).exists():
        return 0
    return sum(1 for _ in Path(d).rglob("*") if _.is_file())


# ------------------------------------------------------------------------ comparison
def compare(ref: dict, got: dict, workload: str) -> dict:
    """Max relative deviation of got vs ref over points finite in both, per output."""
    per = {}
    worst = 0.0
    n_cmp = 0
    nan_peer = nan_ref = 0
    for key in W.OUTPUTS[workload]:
        if key not in ref or key not in got:
            continue
        r = np.asarray(ref[key], float)
        g = np.asarray(got[key], float)
        if r.shape != g.shape:
            per[key] = f"shape {g.shape} != {r.shape}"
            continue
        both = np.isfinite(r) & np.isfinite(g)
        nan_peer += int(np.sum(np.isfinite(r) & ~np.isfinite(g)))
        nan_ref += int(np.sum(~np.isfinite(r) & np.isfinite(g)))
        if not np.any(both):
            per[key] = None
            continue
        scale = np.maximum(np.abs(r[both]), 1e-300)
        dev = np.abs(g[both] - r[both]) / scale
        m = float(np.max(dev))
        per[key] = m
        worst = max(worst, m)
        n_cmp += int(np.sum(both))
    return dict(max_rel_dev=worst if n_cmp else None, per_output=per, compared=n_cmp,
                nan_where_jaxlmg_finite=nan_peer, finite_where_jaxlmg_nan=nan_ref)


def nan_count(arrays: dict, workload: str) -> int:
    key = {"W3": "threshold_per_s", "W5": "threshold_per_s", "W4": "k3", "W1": "k3_stationary", "W2": "delta_e"}[workload]
    return int(np.sum(~np.isfinite(np.asarray(arrays.get(key, [])))))


# ------------------------------------------------------------------------ main driver
def run(workloads, peers, out_dir, quick=False, cache_modes=("cold", "warm"), scaling=True, log=print, cache_root=None,
        timeout=1800.0, cli=True):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_info()
    report = dict(machine=machine, quick=quick, provisional=True, workloads={}, scaling={},
                  notes=["Whole-process time = spawn of the worker → first result computed and written "
                         "(interpreter start, imports, compilation, one call); repeats excluded.",
                         "Steady time = best of the repeats after the first call (jaxlmg/dynamiqs: the first "
                         "call includes compilation, compile = first − steady).",
                         "Peak memory = VmHWM of the worker process (fallback: ru_maxrss from os.wait4)."])
    keep_cache = cache_root is not None
    cache_root = Path(cache_root) if keep_cache else Path(tempfile.mkdtemp(prefix="jaxlmg-bench-cache-"))
    try:
        for w in workloads:
            log(f"== {w}: {W.TITLES[w]}{' (quick)' if quick else ''}")
            rows = []
            ref = None
            cache = cache_root / w
            for mode in cache_modes:
                res, arr = run_worker("jaxlmg", w, quick=quick, cache_dir=cache, pin=False, timeout=timeout)
                res["label"] = f"jaxlmg ({res.get('jax_cache', mode)} cache)"
                res["cache_mode"] = mode
                rows.append(res)
                if ref is None and res.get("status") == "ok":
                    ref = arr
                    res["nan_points"] = nan_count(arr, w)
                elif res.get("status") == "ok":
                    res["agreement"] = compare(ref, arr, w)
                    res["nan_points"] = nan_count(arr, w)
                log(_line(res))
            for peer in peers:
                res, arr = run_worker(peer, w, quick=quick, pin=True, timeout=timeout)
                res["label"] = PEER_LABEL.get(peer, peer)
                if res.get("status") == "ok":
                    res["nan_points"] = nan_count(arr, w)
                    if ref is not None:
                        res["agreement"] = compare(ref, arr, w)
                        tol = AGREE_TOL_ODE if peer == "dynamiqs" else AGREE_TOL[w]
                        d = res["agreement"]["max_rel_dev"]
                        res["agrees"] = d is not None and d <= tol
                rows.append(res)
                log(_line(res))
            _ratios(rows)
            entry = dict(title=W.TITLES[w], goal=W.GOALS[w], points=W.n_points(W.spec(w, quick)), rows=rows)
            if w == "W1" and cli:
                entry["cli"] = cli_latency(cache_root, log=log)
            entry["goal_check"] = goal_check(w, rows, quick, cli=entry.get("cli"))
            log("   goal: " + entry["goal_check"]["summary"])
            report["workloads"][w] = entry
        if scaling:
            for w in ("W2", "W3"):
                report["scaling"][w] = {}
                for impl in ["jaxlmg"] + [p for p in peers if p in ("scipy", "scipy_tuned")]:
                    res, _ = run_worker(impl, w, quick=quick, scaling=True, pin=impl != "jaxlmg",
                                        cache_dir=cache_root / f"scaling-{w}" if impl == "jaxlmg" else None,
                                        timeout=timeout)
                    report["scaling"][w][impl] = dict(status=res.get("status"), rows=res.get("scaling"),
                                                      note=res.get("note"))
                    log(f"   scaling {w} {impl}: {res.get('status')} {res.get('note', '')}")
    finally:
        if not keep_cache:
            shutil.rmtree(cache_root, ignore_errors=True)
    name = _result_name(report)
    report["name"] = name
    if quick:
        name += "-quick"
    for r in (x for e in report["workloads"].values() for x in e["rows"]):
        r.pop("log_tail", None) if r.get("status") == "ok" else None
    (out_dir / f"{name}.json").write_text(json.dumps(report, indent=1, default=_json_default))
    from .report import markdown, plots

    (out_dir / f"{name}.md").write_text(markdown(report))
    plots(report, out_dir, name)
    log(f"wrote {out_dir / (name + '.json')} and {out_dir / (name + '.md')}")
    return report


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _result_name(report):
    # Name after the GPU model when jaxlmg ran on a GPU, else after the CPU model.
    for e in report["workloads"].values():
        for r in e["rows"]:
            info = r.get("info") or {}
            if r.get("impl") == "jaxlmg" and info.get("backend") == "gpu":
                return slug(info.get("device", "gpu"))
    m = report["machine"]
    if m.get("backend") == "gpu":
        return slug(m.get("device", "gpu"))
    return slug(m["cpu_model"])


def _steady(r):
    return r.get("steady_extrapolated_s") or r.get("steady_s")


def _ratios(rows):
    ref = next((r for r in reversed(rows) if r.get("impl") == "jaxlmg" and r.get("status") == "ok"), None)
    if ref is None:
        return
    for r in rows:
        if r.get("status") != "ok" or r is ref:
            continue
        rat = {}
        for key, val in (("steady", _steady), ("whole_process", lambda x: x.get("whole_process_s")),
                         ("import", lambda x: x.get("import_s")), ("peak_rss", lambda x: x.get("peak_rss_mb"))):
            a, b = val(r), val(ref)
            if a and b:
                rat[key] = a / b
        r["ratio_vs_jaxlmg"] = rat


def goal_check(w, rows, quick, cli=None):
    ok = lambda r: r.get("status") == "ok"
    by = {}
    for r in rows:
        key = r.get("label", "") if r.get("impl") == "jaxlmg" else r.get("impl")
        by[key] = r
    jrows = [r for r in rows if r.get("impl") == "jaxlmg"]
    cold = next((r for r in jrows if r.get("jax_cache") == "cold"), None)
    warm = next((r for r in jrows if r.get("jax_cache") == "warm"), None)
    jx = warm if warm and ok(warm) else (cold if cold else (jrows[-1] if jrows else None))
    out = dict(met=None, summary="n/a", quick=quick)
    if jx is None or not ok(jx):
        out["summary"] = "jaxlmg did not run: " + str((jx or {}).get("note", "no jaxlmg row"))
        return out
    parts, met = [], []
    if w == "W1":
        p = by.get("scipy")
        if warm and ok(warm) and p and ok(p):
            m = warm["whole_process_s"] <= p["whole_process_s"]
            met.append(m)
            parts.append(f"warm whole {warm['whole_process_s']:.2f} s vs scipy {p['whole_process_s']:.2f} s "
                         f"({'met' if m else 'missed'})")
        if cold and ok(cold):
            m = cold["whole_process_s"] <= 3.0
            met.append(m)
            parts.append(f"cold whole {cold['whole_process_s']:.2f} s ≤ 3 s ({'met' if m else 'missed'})")
        good = [c for c in cli or [] if not c.get("error") and c.get("warm_s") is not None]
        if good:
            cold_max = max(c["cold_s"] for c in good)
            warm_max = max(c["warm_s"] for c in good)
            mc, mw = cold_max <= 3.0, warm_max <= 1.0
            met += [mc, mw, len(good) == len(cli)]
            parts.append(f"CLI one-point queries: slowest cold {cold_max:.2f} s ≤ 3 s ({'met' if mc else 'missed'}), "
                         f"slowest warm {warm_max:.2f} s ≤ 1 s ({'met' if mw else 'missed'})")
    elif w == "W5":
        it = jx.get("item_times") or {}
        if 60 in (it.get("x") or []):
            t = it["t"][it["x"].index(60)]
            m = t <= 1.0
            met.append(m)
            parts.append(f"n=60 steady {t:.3f} s ({'met' if m else 'missed'})")
            tf = (jx.get("item_times_first") or {}).get("t")
            if tf:
                parts.append(f"first call incl. compile {tf[it['x'].index(60)]:.2f} s")
        else:
            parts.append("n=60 not in this (quick) grid")
    else:
        targets = {"W2": [("scipy_tuned", 10), ("scipy", 1000)], "W3": [("scipy_tuned", 20), ("scipy", 20)],
                   "W4": [("scipy_tuned", 5)]}[w]
        for peer, factor in targets:
            p = by.get(peer)
            if p and ok(p):
                ratio = _steady(p) / jx["steady_s"]
                m = ratio >= factor
                met.append(m)
                ex = " (peer extrapolated)" if p.get("steady_extrapolated_s") else ""
                parts.append(f"{ratio:.1f}× {peer}{ex} vs goal {factor}× ({'met' if m else 'missed'})")
    out["met"] = all(met) if met else None
    out["summary"] = "; ".join(parts) if parts else "no comparable peer ran"
    if quick:
        out["summary"] += " [quick grid: not the goal's workload size]"
    return out


def _line(r):
    st = r.get("status")
    if st != "ok":
        note = " ".join(str(r.get("note", "")).split())
        return f"   {r.get('label', r.get('impl')):<28} {st}: {note[-300:]}"
    ag = r.get("agreement") or {}
    d = ag.get("max_rel_dev")
    ext = r.get("steady_extrapolated_s")
    return (f"   {r['label']:<28} whole {r.get('whole_process_s', float('nan')):7.2f} s  import {r.get('import_s', 0):5.2f} s"
            f"  compile {(r.get('compile_s') or 0):6.2f} s  steady {r['steady_s']:8.4f} s"
            + (f" (extrap. {ext:.2f} s)" if ext else "")
            + f"  rss {r.get('peak_rss_mb') or 0:6.0f} MB"
            + (f"  maxrel {d:.1e}" if d is not None else "") + f"  NaN {r.get('nan_points', '?')}")
