"""W5-full: untruncated Leggett–Garg on the whole Dicke space (issue 8) — timings, peers, convergence.

Standalone:  python benchmarks/w5_full.py [--parts timing,timing_fresh,peers,convergence,gap] [--out DIR]

* timing: public ``jaxlmg.k3``/``jaxlmg.threshold`` at N = 370, Γ/J = 0.95, γφ = 0.05 s⁻¹: full 371
  levels (``levels=None``) and n = 60 (``levels=60``, routed to the splitting engine,
  ``jaxlmg._lg_split``), both protocols, each cold (first call in the process: XLA compilation +
  run) and warm (second call); compile ≈ cold - warm. Wall and process-CPU seconds (one XLA
  thread: CPU ≈ the time on an idle core, wall depends on the machine's load, recorded).
* timing_fresh: the same calls, each in a fresh interpreter (whole-process wall and CPU:
  start-up, imports, compilation, run).
* peers: in the same run, the tuned scipy peer (``benchmarks/peers/scipy_full.py``:
  ``expm_multiply`` on the sparse parity-sector Liouvillians, brentq threshold) and QuTiP
  (``mesolve`` on the full Liouvillian, atol 1e-12/rtol 1e-10) — K3 at N = 370 (QuTiP only where
  it finishes within ``QUTIP_BUDGET_S``), thresholds at N = 100, ratios peer/jaxlmg.
* convergence: ``truncation_convergence`` at N = 200, 370, 500 (K3 and threshold vs n, both protocols).
* gap: odd-sector Liouvillian eigenvalues (shift-invert) vs the T2 formulas.
Writes JSON to ``--out`` (default benchmarks/results/w5_full/). Records the machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jaxlmg  # noqa: E402
from jaxlmg import BEC  # noqa: E402
from jaxlmg._lg_full import truncation_convergence  # noqa: E402

N0, FIELD = 370, 0.95
GAMMA = BEC.rate_to_natural(0.05)
N_PEER_THRESHOLD = 100
N_PEER_K3 = 370
QUTIP_BUDGET_S = 240


def _timed(fn):
    c, t = time.process_time(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, time.process_time() - c


def _cold_warm(fn):
    v, cold, cold_cpu = _timed(fn)
    _, warm, warm_cpu = _timed(fn)
    return v, dict(cold_s=cold, warm_s=warm, compile_s=cold - warm, cold_cpu_s=cold_cpu, warm_cpu_s=warm_cpu,
                   compile_cpu_s=cold_cpu - warm_cpu, load=os.getloadavg()[0])


def _thr(n, prot, levels=None):
    r = jaxlmg.threshold(n, FIELD, protocol=prot, levels=levels)
    return dict(value=float(r.dephasing), value_per_s=float(BEC.rate_to_per_s(r.dephasing)), status=int(r.status),
                iterations=int(r.iterations), error_estimate=float(r.error_estimate), residual=float(r.residual))


def _k3(prot, levels=None):
    return float(jaxlmg.k3(GAMMA, N0, FIELD, protocol=prot, levels=levels))


#: What the timing part measures (public API: levels=None is the full space, levels=60 is routed
#: to the splitting engine, jaxlmg._lg_split): name -> zero-argument call.
TIMED = {
    "k3_full_stationary": lambda: _k3("stationary"),
    "k3_full_sequential": lambda: _k3("sequential"),
    "threshold_full_stationary": lambda: _thr(N0, "stationary"),
    "threshold_full_sequential": lambda: _thr(N0, "sequential"),
    "k3_n60_stationary": lambda: _k3("stationary", 60),
    "k3_n60_sequential": lambda: _k3("sequential", 60),
    "threshold_n60_stationary": lambda: _thr(N0, "stationary", 60),
    "threshold_n60_sequential": lambda: _thr(N0, "sequential", 60),
    "n60_k3_plus_threshold_stationary": lambda: (_k3("stationary", 60), _thr(N0, "stationary", 60)["value_per_s"]),
}


def timing() -> dict:
    """Cold (first call in this process: compile + run) and warm (second call) of each TIMED entry."""
    res = {}
    for name, fn in TIMED.items():
        v, t = _cold_warm(fn)
        res[name] = dict(value=v, **t)
    return res


def timing_fresh() -> dict:
    """Each TIMED entry in a fresh interpreter: whole-process wall and CPU seconds (interpreter start,
    imports, XLA compilation, run), as a user's one-off script would take it."""
    import resource
    import subprocess

    res = {}
    for name in TIMED:
        code = (f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r}); "
                f"import w5_full; print(repr(w5_full.TIMED[{name!r}]()))")
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        res[name] = dict(value=out.stdout.strip().splitlines()[-1] if out.stdout.strip() else out.stderr[-300:],
                         process_wall_s=wall, process_cpu_s=cpu, load=os.getloadavg()[0])
    return res


class _Progress(dict):
    """A dict that prints each entry as it is recorded (long peer runs show their progress)."""

    def __setitem__(self, key, value):
        super().__setitem__(key, value)
        print(json.dumps({key: value}, default=float), flush=True)


class _Timeout(Exception):
    pass


def _with_budget(fn, seconds):
    def handler(*_):
        raise _Timeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.alarm(int(seconds))
    try:
        return fn()
    except _Timeout:
        return None
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _qutip_k3(n, g, protocol):
    """K3 with QuTiP mesolve on the full (N+1)² Liouvillian (sparse), no parity reduction."""
    import qutip as qt
    import scipy.linalg as sl

    d = n + 1
    m = np.arange(d) - n / 2.0
    off = -FIELD * np.sqrt(n / 2 * (n / 2 + 1) - m[:-1] * (m[:-1] + 1))
    h = qt.Qobj(np.diag(-(2.0 / n) * m**2) + np.diag(off, 1) + np.diag(off, -1)).to("csr")
    jz, q = qt.Qobj(np.diag(m)).to("csr"), qt.Qobj(np.diag(np.sign(m))).to("csr")
    e, v = sl.eigh_tridiagonal(-(2.0 / n) * m**2, off, select="i", select_range=(0, 1))
    dt = np.pi / (3.0 * (e[1] - e[0]))
    rho0 = qt.Qobj(np.outer(v[:, 0], v[:, 0]))
    opts = {"atol": 1e-12, "rtol": 1e-10, "nsteps": 10_000_000, "store_states": protocol == "sequential"}
    c_ops = [np.sqrt(g) * jz]
    x0 = 0.5 * (q * rho0 + rho0 * q)
    r = qt.mesolve(h, x0, [0.0, dt, 2 * dt], c_ops=c_ops, e_ops=[q], options=opts)
    c12, c13 = float(np.real(r.expect[0][1])), float(np.real(r.expect[0][2]))
    if protocol == "stationary":
        return 2 * c12 - c13
    rt = qt.mesolve(h, rho0, [0.0, dt], c_ops=c_ops, options=opts).final_state
    c23 = float(np.real(qt.mesolve(h, 0.5 * (q * rt + rt * q), [0.0, dt], c_ops=c_ops, e_ops=[q],
                                   options={**opts, "store_states": False}).expect[0][1]))
    return c12 + c23 - c13


def peers() -> dict:
    """jaxlmg against the tuned scipy peer and QuTiP, same run (times in s, wall and CPU)."""
    from benchmarks.peers.scipy_full import FullLG

    out = _Progress()
    # K3 at N = 370, full space
    nk = N_PEER_K3
    pr, setup, setup_cpu = _timed(lambda: FullLG(nk, FIELD))
    out[f"scipy_setup_N{nk}"] = dict(wall_s=setup, cpu_s=setup_cpu)
    for prot in ("stationary", "sequential"):
        jv, jt = _cold_warm(lambda: float(jaxlmg.k3(GAMMA, nk, FIELD, protocol=prot, levels=None)))
        sv, st, sc = _timed(lambda: pr.k3(GAMMA, prot))
        out[f"k3_N{nk}_{prot}"] = dict(jaxlmg=jv, scipy=sv, diff=sv - jv, jaxlmg_times=jt, scipy_wall_s=st,
                                      scipy_cpu_s=sc, ratio_scipy_over_jaxlmg_warm_cpu=sc / jt["warm_cpu_s"],
                                      ratio_scipy_over_jaxlmg_cold_cpu=sc / jt["cold_cpu_s"])
    qv = _with_budget(lambda: _timed(lambda: _qutip_k3(nk, GAMMA, "stationary")), QUTIP_BUDGET_S)
    out[f"qutip_k3_N{nk}_stationary"] = (dict(value=qv[0], wall_s=qv[1], cpu_s=qv[2]) if qv is not None
                                       else dict(skipped=f"mesolve did not finish within {QUTIP_BUDGET_S} s"))
    # thresholds at N = 100 (all three), scipy threshold at N = 370 only as calls x K3 time
    n = N_PEER_THRESHOLD
    pr1, _, _ = _timed(lambda: FullLG(n, FIELD))
    for prot in ("stationary", "sequential"):
        jv, jt = _cold_warm(lambda: _thr(n, prot))
        (sv, calls), st, sc = _timed(lambda: pr1.threshold(prot, guess=1e-5))
        out[f"threshold_N{n}_{prot}"] = dict(jaxlmg=jv, scipy=sv, scipy_k3_calls=calls, rel_diff=sv / jv["value"] - 1,
                                             jaxlmg_times=jt, scipy_wall_s=st, scipy_cpu_s=sc,
                                             ratio_scipy_over_jaxlmg_warm_cpu=sc / jt["warm_cpu_s"])
        k = out[f"k3_N{nk}_{prot}"]
        out[f"threshold_N{nk}_{prot}_scipy_estimate"] = dict(
            note=f"not run: scipy K3 calls at N={n} x scipy K3 CPU time at N={nk}", cpu_s=calls * k["scipy_cpu_s"])
    for prot in ("stationary",):
        jt = out[f"threshold_N{n}_{prot}"]["jaxlmg"]["value"]
        qv = _with_budget(lambda: _timed(lambda: (_qutip_k3(n, jt, prot))), QUTIP_BUDGET_S)
        out[f"qutip_k3_at_threshold_N{n}_{prot}"] = (
            dict(k3=qv[0], wall_s=qv[1], cpu_s=qv[2], note="one K3 evaluation (a threshold needs ~10-15)")
            if qv is not None else dict(skipped=f"mesolve did not finish within {QUTIP_BUDGET_S} s"))
    return dict(out)


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
        r, sec, _ = _timed(lambda: odd_sector_rates(N0, FIELD, g, k=8))
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
    ap.add_argument("--parts", default="timing,timing_fresh,peers,convergence,gap")
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "w5_full"))
    ap.add_argument("--peer-n", type=int, default=N_PEER_K3, help="N of the K3 peer comparison (default 370)")
    ap.add_argument("--qutip-budget", type=float, default=QUTIP_BUDGET_S, help="seconds per QuTiP call")
    a = ap.parse_args(argv)
    globals().update(N_PEER_K3=a.peer_n, QUTIP_BUDGET_S=a.qutip_budget)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    for part in a.parts.split(","):
        load = os.getloadavg()
        res, sec, _ = _timed(globals()[part])
        res = dict(result=res, seconds=sec, loadavg_before=load, loadavg_after=os.getloadavg(), cpus=os.cpu_count())
        (out / f"{part}.json").write_text(json.dumps(res, indent=1, default=float))
        print(part, json.dumps(res, default=float)[:2000], flush=True)


if __name__ == "__main__":
    main()
