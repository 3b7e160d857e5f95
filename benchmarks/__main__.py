"""python -m benchmarks run [--workload W1,..] [--quick] [--peers scipy,scipy_tuned,qutip,dynamiqs] [--out DIR]"""

from __future__ import annotations

import argparse
import sys

from . import workloads as W
from .harness import PEERS


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description="jaxlmg vs peer benchmarks (issue 5)")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="run workloads; each implementation in its own process")
    r.add_argument("--workload", default="W1,W2,W3,W4,W5", help="comma list of W1..W5 (default all)")
    r.add_argument("--quick", action="store_true", help="reduced grids (smoke test; correctness only)")
    r.add_argument("--peers", default=",".join(PEERS), help=f"comma list from {','.join(PEERS)}; '' for none")
    r.add_argument("--out", default="benchmarks/results", help="output folder (default benchmarks/results)")
    r.add_argument("--cache", default="cold,warm",
                   help="JAX persistent-cache modes to run jaxlmg with, in order (default cold,warm)")
    r.add_argument("--cache-dir", default=None,
                   help="persistent JAX cache folder to use (and keep) instead of a fresh temporary one")
    r.add_argument("--timeout", type=float, default=1800.0,
                   help="seconds one worker process may run before it is killed and its row marked error (default 1800)")
    r.add_argument("--no-scaling", action="store_true", help="skip the W2/W3 scaling curves")
    r.add_argument("--no-cli", action="store_true",
                   help="skip W1's one-point command-line latencies (cold and warm, whole process)")
    a = p.parse_args(argv)
    if a.cmd == "run":
        ws = [w.strip().upper() for w in a.workload.split(",") if w.strip()]
        bad = [w for w in ws if w not in W.WORKLOADS]
        peers = [x.strip() for x in a.peers.split(",") if x.strip()]
        badp = [x for x in peers if x not in PEERS]
        if bad or badp:
            p.error(f"unknown workload(s) {bad} / peer(s) {badp}")
        from .harness import run

        rep = run(ws, peers, a.out, quick=a.quick, cache_modes=tuple(x for x in a.cache.split(",") if x),
                  scaling=not a.no_scaling, cache_root=a.cache_dir, timeout=a.timeout, cli=not a.no_cli)
        errors = [(w, r.get("label")) for w, e in rep["workloads"].items() for r in e["rows"]
                  if r.get("impl") == "jaxlmg" and r.get("status") == "error"]
        return 1 if errors else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
