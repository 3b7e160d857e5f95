"""Command-line interface: ``jaxlmg`` (or ``python -m jaxlmg``).

Subcommands: reproduce, spectrum, doublet, k3, threshold, sweep, merge. Errors in flags
or values exit with status 2 and one line on stderr (no traceback).

JAX's persistent compilation cache is enabled in ``~/.cache/jaxlmg/jax`` (override with
``JAXLMG_CACHE_DIR``, disable with ``JAXLMG_NO_CACHE=1``), so repeated runs skip XLA
compilation.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

PROG = "jaxlmg"


class CLIError(Exception):
    """A user error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit 2 itself
        raise CLIError(f"{self.prog}: error: {message}")


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache; returns the directory (or None)."""
    if os.environ.get("JAXLMG_NO_CACHE", "") not in ("", "0"):
        return None
    path = os.environ.get("JAXLMG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "jaxlmg", "jax")
    try:
        os.makedirs(path, exist_ok=True)
        import jax

        jax.config.update("jax_compilation_cache_dir", path)
        for key, val in (("jax_persistent_cache_min_compile_time_secs", 0.0),
                         ("jax_persistent_cache_min_entry_size_bytes", 0)):
            try:
                jax.config.update(key, val)
            except Exception:  # noqa: BLE001 - option absent in this jax version
                pass
    except Exception:  # noqa: BLE001 - an unusable cache must not stop the CLI
        return None
    return path


# ------------------------------------------------------------------------ parsing helpers

def _floats(name):
    def conv(text):
        from ._sweep import SweepError, parse_values

        try:
            return parse_values(name, text)
        except SweepError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return conv


def _ints(name):
    def conv(text):
        from ._sweep import SweepError, parse_values

        try:
            return parse_values(name, text, integer=True)
        except SweepError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return conv


def _add_point_args(p, *, dephasing=False, levels=False, dt=False, protocol=False, bias=False):
    p.add_argument("--n-spins", "-N", type=_ints("n_spins"), required=True,
                   help="number of spins N (list '100,200' or range 'start:stop:step')")
    p.add_argument("--field", "-g", type=_floats("field"), required=True, help="transverse field Γ/J (list or range)")
    if bias:
        p.add_argument("--bias", type=_floats("bias"), default=[0.0], help="longitudinal field h (units of J, or rad/s with --units bec)")
    if dephasing:
        p.add_argument("--dephasing", type=_floats("dephasing"), required=True,
                       help="collective dephasing γφ (units of J; s⁻¹ with --units bec)")
    if levels:
        p.add_argument("--levels", "-n", type=_ints("levels"), default=None, help="Dicke levels kept")
    if dt:
        p.add_argument("--dt", type=_floats("dt"), default=None,
                       help="measurement interval Δt (ħ/J; seconds with --units bec); default π/(3ΔE)")
    if protocol:
        p.add_argument("--protocol", choices=("stationary", "sequential"), default="stationary",
                       help="K3 protocol (Appendix I): stationary 2C12−C13 or sequential C12+C23−C13")
    p.add_argument("--units", choices=("natural", "bec"), default="natural",
                   help="natural: units of J (ħ=1); bec: energies in rad/s, rates in s⁻¹, times in s (J = 37195.4 rad/s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


def build_parser() -> argparse.ArgumentParser:
    from ._sweep import __doc__ as sweep_doc

    parser = _Parser(prog=PROG, description="Open-system physics of the Lipkin–Meshkov–Glick model (JAX).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("reproduce", help="recompute the papers' numbers and figures into a report directory")
    p.add_argument("--out", default="report", help="output directory (default: report)")
    p.add_argument("--quick", action="store_true", help="coarse grids (for tests; fewer thresholds and fits)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    p = sub.add_parser("spectrum", help="lowest levels E_k of the LMG Hamiltonian")
    _add_point_args(p, levels=True, bias=True)

    p = sub.add_parser("doublet", help="ground-doublet factors (ΔE, G01, J01, ηMF, Q01, p0, ...)")
    _add_point_args(p, dephasing=False)
    p.add_argument("--dephasing", type=_floats("dephasing"), default=None, help="γφ for the secular parameter 2ΔE·T2")

    p = sub.add_parser("k3", help="Leggett–Garg K3 of the dephased n-level model")
    _add_point_args(p, dephasing=True, levels=True, dt=True, protocol=True)

    p = sub.add_parser("threshold", help="dephasing threshold γφ* where K3 = 1")
    _add_point_args(p, levels=True, dt=True, protocol=True)

    p = sub.add_parser("sweep", help="resumable chunked grid sweep → .npz + .csv",
                       description=sweep_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", help="TOML or JSON file with the sweep keys (n_spins, field, dephasing, levels, dt, "
                                    "quantities, units, protocol); flags override it")
    p.add_argument("--n-spins", "-N", default=None)
    p.add_argument("--field", "-g", default=None)
    p.add_argument("--dephasing", default=None)
    p.add_argument("--levels", "-n", default=None)
    p.add_argument("--dt", default=None)
    p.add_argument("--quantities", "-q", default=None, help="comma list of doublet,k3,threshold (default doublet)")
    p.add_argument("--units", choices=("natural", "bec"), default=None)
    p.add_argument("--protocol", choices=("stationary", "sequential"), default=None)
    p.add_argument("--out", "-o", required=True, help="output directory (manifest, chunks/, results.npz, results.csv)")
    p.add_argument("--chunk", type=int, default=256, help="points per chunk (bounds memory; default 256)")
    p.add_argument("--process-index", type=int, default=None, help="this process's index (multi-host)")
    p.add_argument("--process-count", type=int, default=None, help="number of processes (multi-host)")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() and take process index/count from JAX")
    p.add_argument("--coordinator", default=None, help="coordinator address host:port for --distributed")
    p.add_argument("--overwrite", action="store_true", help="replace an output directory holding another sweep")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)

    p = sub.add_parser("merge", help="merge per-process sweep directories into one result")
    p.add_argument("dirs", nargs="+", help="sweep output directories (same grid)")
    p.add_argument("--out", "-o", required=True)
    return parser


# ------------------------------------------------------------------------ output

def _print_table(rows: list[dict], as_json: bool, out=None) -> None:
    out = out or sys.stdout
    if as_json:
        out.write(json.dumps(rows, indent=1) + "\n")
        return
    if not rows:
        return
    cols = list(rows[0])

    def fmt(v):
        if isinstance(v, float):
            return f"{v:.10g}"
        return str(v)

    cells = [[fmt(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "\n")
    for x in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(x, widths)) + "\n")


def _grid(*lists):
    import itertools

    return list(itertools.product(*lists))


def _to_py(x):
    import numpy as np

    v = np.asarray(x).item()
    return v if not (isinstance(v, float) and v != v) else None


def _cmd_spectrum(a):
    import numpy as np

    from ._spectrum import spectrum
    from ._units import BEC

    bec = a.units == "bec"
    rows = []
    for n, f, h in _grid(a.n_spins, a.field, a.bias):
        lv = a.levels[0] if a.levels else min(n + 1, 6)
        hb = BEC.energy_from_rad_s(h) if bec else h
        s = spectrum(n, f, bias=hb, levels=lv)
        e = np.asarray(s.energies) * (BEC.coupling_rad_s if bec else 1.0)
        for k in range(lv):
            rows.append({"n_spins": n, "field": f, "bias": h, "level": k, "energy": float(e[k]),
                         "parity": int(np.asarray(s.parity)[k]), "status": int(s.status)})
    return rows


def _cmd_doublet(a):
    import numpy as np

    from ._observables import doublet_factors
    from ._status import Status
    from ._units import BEC

    bec = a.units == "bec"
    rows = []
    deph = a.dephasing or [None]
    for n, f, g in _grid(a.n_spins, a.field, deph):
        gn = None if g is None else (BEC.rate_to_natural(g) if bec else g)
        d = doublet_factors(n, f, dephasing=gn).as_dict()
        row = {"n_spins": n, "field": f}
        if g is not None:
            row["dephasing"] = g
        for k, v in d.items():
            if k == "status":
                continue
            if k == "secular" and g is None:
                continue
            v = _to_py(v)
            if k == "delta_e" and bec and v is not None:
                v = BEC.energy_to_rad_s(v)
            row[k] = v
        row["status"] = Status(int(np.asarray(d["status"]))).name
        rows.append(row)
    return rows


def _cmd_k3(a):
    from ._leggett_garg import correlators
    from ._status import Status
    from ._units import BEC

    bec = a.units == "bec"
    rows = []
    for n, f, g, lv, dt in _grid(a.n_spins, a.field, a.dephasing, a.levels or [5], a.dt or [None]):
        gn = BEC.rate_to_natural(g) if bec else g
        dtn = None if dt is None else (dt * BEC.coupling_rad_s if bec else dt)
        r = correlators(gn, n, f, levels=lv, dt=dtn, protocol=a.protocol)
        dt_out = _to_py(r.dt)
        rows.append({"n_spins": n, "field": f, "dephasing": g, "levels": lv,
                     "dt": None if dt_out is None else (BEC.time_to_s(dt_out) if bec else dt_out),
                     "k3": _to_py(r.k3), "c12": _to_py(r.c12), "c23": _to_py(r.c23), "c13": _to_py(r.c13),
                     "status": Status(int(r.status)).name})
    return rows


def _cmd_threshold(a):
    from ._status import Status
    from ._threshold import threshold
    from ._units import BEC

    bec = a.units == "bec"
    rows = []
    for n, f, lv, dt in _grid(a.n_spins, a.field, a.levels or [5], a.dt or [None]):
        dtn = None if dt is None else (dt * BEC.coupling_rad_s if bec else dt)
        r = threshold(n, f, levels=lv, dt=dtn, protocol=a.protocol)
        g = _to_py(r.dephasing)
        rows.append({"n_spins": n, "field": f, "levels": lv,
                     "threshold": None if g is None else (BEC.rate_to_per_s(g) if bec else g),
                     "k3_zero": _to_py(r.k3_zero), "status": Status(int(r.status)).name})
    return rows


def _cmd_reproduce(a):
    from ._report import build_report, write_report

    say = lambda m: print(f"[reproduce] {m}", file=sys.stderr, flush=True)
    rep = build_report(quick=a.quick, progress=say)
    paths = write_report(rep, a.out, figures=not a.no_figures)
    print(f"wrote {len(paths)} files to {a.out}: {len(rep.rows)} quantities, {rep.n_differs} differ from the papers "
          f"(see report.md)")
    return 0


def _cmd_sweep(a):
    from ._sweep import load_spec_file, make_grid, run_sweep

    spec = load_spec_file(a.config) if a.config else {}
    for key in ("n_spins", "field", "dephasing", "levels", "dt", "quantities", "units", "protocol"):
        v = getattr(a, key)
        if v is not None:
            spec[key] = v
    grid = make_grid(spec)
    pi, pc = a.process_index, a.process_count
    if a.distributed:
        import jax

        kw = {"coordinator_address": a.coordinator} if a.coordinator else {}
        if pc is not None:
            kw["num_processes"] = pc
        if pi is not None:
            kw["process_id"] = pi
        jax.distributed.initialize(**kw)
        pi, pc = jax.process_index(), jax.process_count()
    pi = 0 if pi is None else pi
    pc = 1 if pc is None else pc
    summary = run_sweep(grid, a.out, chunk=a.chunk, process_index=pi, process_count=pc, overwrite=a.overwrite,
                        progress_stream=None if a.quiet else sys.stderr, delay=a.delay)
    msg = (f"sweep {grid['hash']}: {summary['computed']} chunks computed, {summary['skipped']} already done "
           f"(process {pi}/{pc}, {summary['n_chunks']} chunks in all)")
    if summary["complete"]:
        msg += "; results: " + ", ".join(summary["files"])
    else:
        msg += "; other processes' chunks are missing: run them, then `jaxlmg merge`"
    print(msg)
    return 0


def _cmd_merge(a):
    from ._sweep import merge

    files = merge(a.dirs, a.out)
    print("merged: " + ", ".join(files))
    return 0


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 1 internal error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        try:
            a = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return int(exc.code or 0)
        enable_compilation_cache()
        if a.command == "reproduce":
            return _cmd_reproduce(a)
        if a.command == "sweep":
            return _cmd_sweep(a)
        if a.command == "merge":
            return _cmd_merge(a)
        rows = {"spectrum": _cmd_spectrum, "doublet": _cmd_doublet, "k3": _cmd_k3,
                "threshold": _cmd_threshold}[a.command](a)
        _print_table(rows, a.json)
        return 0
    except CLIError as exc:
        print(str(exc).splitlines()[0], file=sys.stderr)
        return 2
    except ValueError as exc:  # includes SweepError: invalid values
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (completed chunks are kept; rerun to resume)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"{PROG}: internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
