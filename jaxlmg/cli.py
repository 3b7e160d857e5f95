"""Command-line interface: ``jaxlmg`` (or ``python -m jaxlmg``).

Subcommands: reproduce, spectrum, doublet, k3, threshold, sweep, merge. Every point
flag takes one value or a list ('100,200', 'start:stop:step', 'lin:a:b:num',
'geom:a:b:num'); the point commands evaluate the Cartesian grid of all lists. Errors in
flags, values, files or paths exit with status 2 and one line on stderr (no traceback);
exit status 1 ("internal error") means a bug in jaxlmg.

Output is a table, or strict JSON with ``--json`` (NaN/Infinity become null; every row
carries a status name such as OK or UNRESOLVED).

JAX's persistent compilation cache is on by default (see :mod:`jaxlmg._cache`) in
``~/.cache/jaxlmg/jax`` (``JAXLMG_CACHE_DIR=DIR`` elsewhere, ``JAXLMG_NO_CACHE=1`` off).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys

PROG = "jaxlmg"
#: Largest N accepted on the command line (same bound as sweeps).
MAX_N_SPINS = 1_000_000


class CLIError(Exception):
    """A user error: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print usage and exit 2 itself
        raise CLIError(f"{self.prog}: error: {message}")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description/epilog layout and appends '(default: X)' to optional flags."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.help is argparse.SUPPRESS or "default" in text or action.required:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._HelpAction)) or not action.option_strings:
            return text
        d = action.default
        if d is None:
            return text + " (default: not set)"
        if isinstance(d, list):
            d = ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in d)
        return f"{text} (default: {d})"


def plain(doc: str | None) -> str:
    """Strip the reST markup of a docstring for --help (``x`` → x, :func:`x` → x)."""
    if not doc:
        return ""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    doc = re.sub(r"``([^`]+)``", r"\1", doc)
    return doc.replace("\\r", "\\r").strip()


def enable_compilation_cache() -> str | None:
    """Turn on JAX's persistent compilation cache (see :mod:`jaxlmg._cache`)."""
    from ._cache import enable_compilation_cache as enable

    return enable()


# ------------------------------------------------------------------------ parsing helpers

class _Once(argparse.Action):
    """Store a value, refusing a second occurrence of the flag (it would be silently dropped)."""

    def __call__(self, parser, namespace, values, option_string=None):
        if getattr(namespace, "_seen_" + self.dest, False):
            raise CLIError(f"{parser.prog}: error: {option_string} given twice; give several values as one list, "
                           f"e.g. {option_string} 3,5")
        setattr(namespace, "_seen_" + self.dest, True)
        setattr(namespace, self.dest, values)


def _values(name, *, integer=False, minimum=None, strict=False, maximum=None):
    def conv(text):
        from ._sweep import SweepError, parse_values

        try:
            vals = parse_values(name, text, integer=integer)
        except SweepError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        for v in vals:
            if minimum is not None and (v <= minimum if strict else v < minimum):
                raise argparse.ArgumentTypeError(f"{name} must be {'>' if strict else '>='} {minimum:g}; got {v:g}")
            if maximum is not None and v > maximum:
                raise argparse.ArgumentTypeError(f"{name} must be <= {maximum:g}; got {v:g}")
        return vals
    conv.__name__ = name  # argparse names the flag's type in its messages
    return conv


_LIST = "one value or a list: '100,200', 'start:stop:step', 'lin:a:b:num', 'geom:a:b:num'"


def _add_point_args(p, *, dephasing=False, levels=None, dt=False, protocol=False, bias=False):
    p.add_argument("--n-spins", "-N", type=_values("n_spins", integer=True, minimum=1, maximum=MAX_N_SPINS),
                   required=True, action=_Once, metavar="N", help=f"number of spins N (required; {_LIST})")
    p.add_argument("--field", "-g", type=_values("field", minimum=0.0), required=True, action=_Once, metavar="G",
                   help="transverse field Γ/J (required; list allowed)")
    if bias:
        p.add_argument("--bias", type=_values("bias"), default=[0.0], action=_Once, metavar="H",
                       help="longitudinal field h (units of J; rad/s with --units bec; list allowed)")
    if dephasing:
        p.add_argument("--dephasing", type=_values("dephasing", minimum=0.0), required=True, action=_Once,
                       metavar="GPHI", help="collective dephasing γφ (required; units of J, s⁻¹ with --units bec; "
                                            "list allowed)")
    if levels is not None:
        p.add_argument("--levels", "-n", type=_values("levels", integer=True, minimum=1), default=None, action=_Once,
                       metavar="K", help=f"levels kept (list allowed) (default: {levels})")
    if dt:
        p.add_argument("--dt", type=_values("dt", minimum=0.0, strict=True), default=None, action=_Once, metavar="DT",
                       help="measurement interval Δt (ħ/J; seconds with --units bec; list allowed) "
                            "(default: π/(3ΔE) at each point)")
    if protocol:
        p.add_argument("--protocol", choices=("stationary", "sequential"), default="stationary",
                       help="K3 protocol (Appendix I): stationary 2C12−C13 or sequential C12+C23−C13")
    p.add_argument("--units", choices=("natural", "bec"), default="natural",
                   help="natural: units of J (ħ=1); bec: energies in rad/s, rates in s⁻¹, times in s "
                        "(J = 37195.4 rad/s)")
    p.add_argument("--json", action="store_true", help="print strict JSON (non-finite numbers as null) instead of "
                                                       "a table")


def _example(*lines):
    return "example:\n" + "\n".join("  " + ln for ln in lines)


def build_parser() -> argparse.ArgumentParser:
    from ._sweep import __doc__ as sweep_doc

    parser = _Parser(prog=PROG, formatter_class=_Formatter,
                     description="Open-system physics of the Lipkin–Meshkov–Glick model (JAX). "
                                 "Run 'jaxlmg COMMAND --help' for the flags of a command.",
                     epilog=_example("jaxlmg threshold --n-spins 370 --field 0.95 --levels 5 --units bec",
                                     "jaxlmg reproduce --out report")
                     + "\n\nexit status: 0 ok, 2 user error (one line on stderr), 1 internal error (a bug)."
                     "\ncompilation cache: ~/.cache/jaxlmg/jax by default; JAXLMG_CACHE_DIR=DIR elsewhere, JAXLMG_NO_CACHE=1 off.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    kw = dict(formatter_class=_Formatter)

    p = sub.add_parser("reproduce", help="recompute the papers' numbers and figures into a report directory",
                       description="Recompute every number of seeds 001/000 the library can compute, next to the "
                                   "paper's value, into OUT/report.md, .html, .json and PNG figures.",
                       epilog=_example("jaxlmg reproduce --out report", "jaxlmg reproduce --quick --no-figures --out /tmp/r"),
                       **kw)
    p.add_argument("--out", "-o", default="report", help="output directory")
    p.add_argument("--quick", action="store_true", help="coarse grids (for tests; fewer thresholds and fits)")
    p.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")

    p = sub.add_parser("spectrum", help="lowest levels E_k of the LMG Hamiltonian",
                       description="Lowest energies E_k (units of J, rad/s with --units bec) and parities.",
                       epilog=_example("jaxlmg spectrum --n-spins 370 --field 0.95 --levels 5",
                                       "jaxlmg spectrum -N 100,200 -g 0.9 --levels 2,4 --json"), **kw)
    _add_point_args(p, levels="min(N+1, 6)", bias=True)

    p = sub.add_parser("doublet", help="ground-doublet factors (ΔE, G01, J01, ηMF, Q01, p0, ...)",
                       description="Basis-dependent dephasing factors of the tunnel doublet.",
                       epilog=_example("jaxlmg doublet --n-spins 100,200,370 --field 0.95 --units bec --json"), **kw)
    _add_point_args(p)
    p.add_argument("--dephasing", type=_values("dephasing", minimum=0.0), default=None, action=_Once, metavar="GPHI",
                   help="γφ for the secular parameter 2ΔE·T2 (list allowed)")

    p = sub.add_parser("k3", help="Leggett–Garg K3 of the dephased n-level model",
                       description="Leggett–Garg K3 = C12 + C23 − C13 under collective dephasing.",
                       epilog=_example("jaxlmg k3 --n-spins 370 --field 0.95 --dephasing 0.05 --units bec"), **kw)
    _add_point_args(p, dephasing=True, levels=5, dt=True, protocol=True)

    p = sub.add_parser("threshold", help="dephasing threshold γφ* where K3 = 1",
                       description="Dephasing threshold γφ* where K3(γφ) = 1 (status NO_VIOLATION if K3 ≤ 1 "
                                   "already at γφ = 0).",
                       epilog=_example("jaxlmg threshold --n-spins 370 --field 0.95 --levels 5 --units bec"), **kw)
    _add_point_args(p, levels=5, dt=True, protocol=True)

    p = sub.add_parser("sweep", help="resumable chunked grid sweep → .npz + .csv",
                       description=plain(sweep_doc),
                       epilog=_example("jaxlmg sweep -N 100:400:50 -g lin:0.8:0.99:20 -q doublet --out maps/doublet",
                                       "jaxlmg sweep --config sweep.toml --out maps/k3   # [sweep] n_spins = \"370\" ...")
                       + "\n\nValues take the same list forms as the other commands. A config file holds one "
                         "table/object\n(optionally [sweep]) with the keys n_spins, field, dephasing, levels, dt, "
                         "quantities,\nunits, protocol, chunk; unknown keys are an error; flags override the file.",
                       **kw)
    p.add_argument("--config", metavar="FILE",
                   help="TOML or JSON file with the sweep keys (n_spins, field, dephasing, levels, dt, "
                        "quantities, units, protocol, chunk)")
    p.add_argument("--n-spins", "-N", default=None, action=_Once, metavar="N", help="number of spins (list)")
    p.add_argument("--field", "-g", default=None, action=_Once, metavar="G", help="Γ/J (list)")
    p.add_argument("--dephasing", default=None, action=_Once, metavar="GPHI", help="γφ (list; needed for k3)")
    p.add_argument("--levels", "-n", default=None, action=_Once, metavar="K", help="levels kept (list) (default: 5)")
    p.add_argument("--dt", default=None, action=_Once, metavar="DT", help="Δt (list) (default: π/(3ΔE) per point)")
    p.add_argument("--quantities", "-q", default=None, action=_Once,
                   help="comma list of doublet,k3,threshold (default: doublet)")
    p.add_argument("--units", choices=("natural", "bec"), default=None, help="natural or bec (default: natural)")
    p.add_argument("--protocol", choices=("stationary", "sequential"), default=None,
                   help="K3 protocol (default: stationary)")
    p.add_argument("--out", "-o", required=True, metavar="DIR",
                   help="output directory (manifest.json, chunks/, results.npz, results.csv) (required)")
    p.add_argument("--chunk", type=_values("chunk", integer=True, minimum=1), default=None, metavar="POINTS",
                   help="points per chunk (bounds memory) (default: 256, or the config file's chunk)")
    p.add_argument("--process-index", type=int, default=None, help="this process's index (multi-host) (default: 0)")
    p.add_argument("--process-count", type=int, default=None, help="number of processes (multi-host) (default: 1)")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() and take process index/count from JAX")
    p.add_argument("--coordinator", default=None, help="coordinator address host:port for --distributed")
    p.add_argument("--overwrite", action="store_true", help="replace an output directory holding another sweep")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--delay", type=float, default=0.0, help=argparse.SUPPRESS)

    p = sub.add_parser("merge", help="merge per-process sweep directories into one result",
                       description="Check that the directories hold the same sweep and assemble results.npz/.csv.",
                       epilog=_example("jaxlmg merge run0 run1 --out merged"), **kw)
    p.add_argument("dirs", nargs="+", help="sweep output directories (same grid)")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output directory (required)")

    from .cats._cli import add_cli as _add_cats
    from .landau_zener._cli import add_cli as _add_lz

    for add, example in ((_add_lz, _example("jaxlmg lz --model coherent -N 370 -g 0.95 --units bec --tau-q 0.005 "
                                            "--sweep-amplitude 50",
                                            "jaxlmg lz --model crossover --json")),
                         (_add_cats, _example("jaxlmg cats --quick --json"))):
        p = add(sub)
        p.formatter_class = _Formatter
        p.epilog = example
    return parser


# ------------------------------------------------------------------------ output

def _print_table(rows: list[dict], as_json: bool, out=None) -> None:
    from ._sweep import dumps_strict

    out = out or sys.stdout
    if as_json:
        out.write(dumps_strict(rows, indent=1, ensure_ascii=False) + "\n")
        return
    if not rows:
        return
    cols = list(dict.fromkeys(c for r in rows for c in r))

    def fmt(v):
        if v is None:
            return "nan"
        if isinstance(v, float):
            return f"{v:.10g}"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "\n")
    for x in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(x, widths)) + "\n")


def _grid(*lists):
    import itertools

    return list(itertools.product(*lists))


def _num(x):
    """A Python float (NaN/inf kept: the table prints them, JSON writes null)."""
    import numpy as np

    return float(np.asarray(x).item())


def _api(name: str):
    """A public library function, imported on first use: the cached one-point path
    (``_point``) never calls it, so a warm query does not import the engines."""
    import importlib

    from . import _LAZY

    module = next(mod for mod, names in _LAZY.items() if name in names)
    return getattr(importlib.import_module(module, __package__), name)  # looked up per call


def _bec():
    """The BEC unit conversions (``--units bec`` only; importing them pulls equinox)."""
    from ._units import BEC

    return BEC


def _status(code) -> str:
    from ._status import Status

    return Status(int(code)).name


class _Obj:
    def __init__(self, d):
        self.__dict__.update(d)


def _fields(obj, *names) -> dict:
    return {k: getattr(obj, k) for k in names}


def _arrays(obj) -> dict:
    """The array fields of a result dataclass (tracer-safe, unlike ``as_dict``)."""
    import jax.numpy as jnp

    out = {k: getattr(obj, k) for k in obj.__dataclass_fields__}
    return {k: jnp.asarray(v) for k, v in out.items() if v is not None}


_SINGLE = {"on": False}


def _point(name, static, fn, *args) -> dict:
    """One point. A query of exactly one point goes through a serialised, cached kernel
    (see jaxlmg._cache.compiled_call; ``fn`` may be a tuple of its stages); N is a constant of
    that program, so lists (several N) call the library directly, which shares compiled kernels
    between N of one size bucket."""
    if _SINGLE["on"]:
        from ._cache import compiled_call

        return compiled_call(name, static, fn, *args)
    if isinstance(fn, tuple):
        from ._cache import run_stages

        return run_stages(fn, args)
    return fn(*args)


def _split_engine(levels) -> bool:
    """K3 and thresholds with ``levels >= SPLIT_LEVELS`` run on the splitting engine, which picks
    its step count per point: a traced (saved) program cannot, so they call the library directly."""
    from ._routing import SPLIT_LEVELS

    return levels >= SPLIT_LEVELS


def _threshold_stages(n, levels, protocol, keys):
    """The threshold of one point as three stages (:func:`jaxlmg._threshold.threshold_stages`):
    a cold query compiles each stage's program while it traces the next. The library is
    imported when a stage is traced, not for a saved program."""

    def stage(i):
        def f(*a):
            from ._threshold import threshold_stages

            out = threshold_stages(n, levels=levels, protocol=protocol)[i](*a)
            return _fields(out, *keys) if i == 2 else out

        return f

    return stage(0), stage(1), stage(2)


def _check_levels(levels, n_spins, default):
    """Levels per N: the list given, or the default; each must be in [1, N+1]."""
    if levels is None:
        return default
    for lv in levels:
        for n in n_spins:
            if lv > n + 1:
                raise CLIError(f"{PROG}: error: levels must be integers in [1, N+1] = [1, {n + 1}] for n_spins {n}; "
                               f"got {lv}")
    return levels


def _cmd_spectrum(a):
    import numpy as np

    bec = a.units == "bec"
    BEC = _bec() if bec else None
    scale = BEC.coupling_rad_s if bec else 1.0
    if a.levels is not None:
        _check_levels(a.levels, a.n_spins, None)
    rows = []
    for n, f, h in _grid(a.n_spins, a.field, a.bias):
        hb = BEC.energy_from_rad_s(h) if bec else h
        for lv in a.levels or [min(n + 1, 6)]:
            keys = ("energies", "parity", "status")
            if hb == 0:  # exactly zero: the parity-block solver, levels labelled by parity ±1
                s = _point("spectrum", {"n": n, "levels": lv},
                           lambda f_: _fields(_api("spectrum")(n, f_, levels=lv), *keys), f)
            else:
                s = _point("spectrum_bias", {"n": n, "levels": lv},
                           lambda f_, h_: _fields(_api("spectrum")(n, f_, bias=h_, levels=lv), *keys), f, hb)
            e = np.asarray(s["energies"]) * scale
            par = np.asarray(s["parity"])
            st = _status(s["status"])
            for k in range(lv):
                rows.append({"n_spins": n, "field": f, "bias": h, "levels": lv, "level": k, "energy": float(e[k]),
                             "parity": int(par[k]), "status": st})
    return rows


def _cmd_doublet(a):
    import numpy as np

    bec = a.units == "bec"
    BEC = _bec() if bec else None
    rows = []
    deph = a.dephasing or [None]
    for n, f, g in _grid(a.n_spins, a.field, deph):
        gn = None if g is None else (BEC.rate_to_natural(g) if bec else g)
        if gn is None:
            d = _point("doublet", {"n": n}, lambda f_: _arrays(_api("doublet_factors")(n, f_)), f)
        else:
            d = _point("doublet_dephasing", {"n": n},
                       lambda f_, g_: _arrays(_api("doublet_factors")(n, f_, dephasing=g_)), f, gn)
        row = {"n_spins": n, "field": f}
        if g is not None:
            row["dephasing"] = g
        for k, v in d.items():
            if k == "status" or (k == "secular" and g is None):
                continue
            if k in ("n_spins", "field"):
                continue
            v = _num(v)
            if k == "delta_e" and bec:
                v = BEC.energy_to_rad_s(v)
            row[k] = v
        row["status"] = _status(np.asarray(d["status"]))
        rows.append(row)
    return rows


def _cmd_k3(a):
    bec = a.units == "bec"
    BEC = _bec() if bec else None
    levels = _check_levels(a.levels, a.n_spins, [5])
    rows = []
    for n, f, g, lv, dt in _grid(a.n_spins, a.field, a.dephasing, levels, a.dt or [None]):
        gn = BEC.rate_to_natural(g) if bec else g
        dtn = None if dt is None else (dt * BEC.coupling_rad_s if bec else dt)
        keys = ("k3", "c12", "c23", "c13", "dt", "status")
        static = {"n": n, "levels": lv, "protocol": a.protocol, "dt": dtn is not None}
        k3 = lambda g_, f_, t_=None: _fields(_api("correlators")(g_, n, f_, levels=lv, dt=t_, protocol=a.protocol),
                                             *keys)
        args = (gn, f) if dtn is None else (gn, f, dtn)
        r = k3(*args) if _split_engine(lv) else _point("k3", static, k3, *args)
        r = _Obj(r)
        dt_out = _num(r.dt)
        rows.append({"n_spins": n, "field": f, "dephasing": g, "levels": lv,
                     "dt": BEC.time_to_s(dt_out) if bec else dt_out,
                     "k3": _num(r.k3), "c12": _num(r.c12), "c23": _num(r.c23), "c13": _num(r.c13),
                     "status": _status(r.status)})
    return rows


def _cmd_threshold(a):
    bec = a.units == "bec"
    BEC = _bec() if bec else None
    levels = _check_levels(a.levels, a.n_spins, [5])
    rows = []
    for n, f, lv, dt in _grid(a.n_spins, a.field, levels, a.dt or [None]):
        dtn = None if dt is None else (dt * BEC.coupling_rad_s if bec else dt)
        keys = ("dephasing", "k3_zero", "dt", "status")
        static = {"n": n, "levels": lv, "protocol": a.protocol, "dt": dtn is not None}
        args = (f,) if dtn is None else (f, dtn)
        if _split_engine(lv):
            r = _fields(_api("threshold")(n, f, levels=lv, dt=dtn, protocol=a.protocol), *keys)
        else:
            r = _point("threshold", static, _threshold_stages(n, lv, a.protocol, keys), *args)
        r = _Obj(r)
        g = _num(r.dephasing)
        dt_out = _num(r.dt)
        rows.append({"n_spins": n, "field": f, "levels": lv,
                     "dt": BEC.time_to_s(dt_out) if bec else dt_out,
                     "threshold": BEC.rate_to_per_s(g) if bec else g,
                     "k3_zero": _num(r.k3_zero), "status": _status(r.status)})
    return rows


def _check_out(path: str, flag: str = "--out") -> None:
    """A usable output directory (created if needed), else a one-line user error."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise CLIError(f"{PROG}: error: {flag} {path!r} exists and is not a directory")
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise CLIError(f"{PROG}: error: {flag} {path!r}: cannot create the directory: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise CLIError(f"{PROG}: error: {flag} {path!r}: directory is not writable")


#: Rough share of the total time of each stage of ``reproduce`` (drives the ETA; a full run on 2 cores).
_REPRODUCE_STAGES = {"doublet factors": 0.04, "semiclassical / Goldilocks": 0.08, "semiclassics to N = 1e5": 0.10,
                     "Leggett-Garg": 0.18, "untruncated Leggett-Garg": 0.30, "Landau-Zener sweeps": 0.15,
                     "seed 003 spin cats": 0.10, "figures and files": 0.05}


def _cmd_reproduce(a):
    import time

    from ._report import build_report, write_report

    _check_out(a.out)
    names = list(_REPRODUCE_STAGES)
    t0 = time.time()
    state = {"done": 0.0, "i": 0}

    def say(stage):
        if a.quiet:
            return
        el = time.time() - t0
        i = names.index(stage) if stage in names else state["i"]
        frac = sum(_REPRODUCE_STAGES[s] for s in names[:i])
        eta = f"ETA ~{el / frac * (1 - frac):.0f}s" if frac > 0 else "ETA unknown"
        state["i"] = i + 1
        print(f"[reproduce] step {i + 1}/{len(names)}: {stage} ({100 * frac:.0f}% done, elapsed {el:.0f}s, {eta})",
              file=sys.stderr, flush=True)

    rep = build_report(quick=a.quick, progress=say)
    say("figures and files")
    paths = write_report(rep, a.out, figures=not a.no_figures)
    if not a.quiet:
        print(f"[reproduce] done in {time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    print(f"wrote {len(paths)} files to {a.out}: {len(rep.rows)} quantities, {rep.n_differs} differ from the papers "
          f"(see report.md)")
    return 0


def _cmd_sweep(a):
    from ._sweep import load_spec_file, make_grid, run_sweep

    spec = load_spec_file(a.config) if a.config else {}
    chunk = spec.pop("chunk", 256)
    if a.chunk is not None:
        if len(a.chunk) != 1:
            raise CLIError(f"{PROG}: error: --chunk takes one integer; got {len(a.chunk)} values")
        chunk = a.chunk[0]
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
    summary = run_sweep(grid, a.out, chunk=chunk, process_index=pi, process_count=pc, overwrite=a.overwrite,
                        progress_stream=None if a.quiet else sys.stderr, delay=a.delay)
    msg = (f"sweep {grid['hash']}: {summary['computed']} chunks computed, {summary['skipped']} already done "
           f"(process {pi}/{pc}, {summary['n_chunks']} chunks in all)")
    if summary["recomputed"]:
        msg += f"; {summary['recomputed']} damaged chunks recomputed"
    if summary["complete"]:
        msg += "; results: " + ", ".join(summary["files"])
    else:
        msg += "; other processes' chunks are missing: run them, then `jaxlmg merge`"
    print(msg)
    return 0


def _cmd_merge(a):
    from ._sweep import merge

    for d in a.dirs:
        if not os.path.isdir(d):
            raise CLIError(f"{PROG}: error: {d!r} is not a directory")
    _check_out(a.out)
    files = merge(a.dirs, a.out)
    print("merged: " + ", ".join(files))
    return 0


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def main(argv=None) -> int:
    """Entry point; returns the exit status (0 ok, 2 user error, 1 internal error)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        parser = build_parser()
        try:
            a = parser.parse_args(argv)
        except SystemExit as exc:  # --help
            return int(exc.code or 0)
        enable_compilation_cache()
        if a.command == "reproduce":
            return _cmd_reproduce(a)
        if a.command == "sweep":
            return _cmd_sweep(a)
        if a.command == "merge":
            return _cmd_merge(a)
        if a.command == "lz":
            from .landau_zener._cli import run_cli as _run_lz

            return _run_lz(a)
        if a.command == "cats":
            from .cats._cli import run_cli as _run_cats

            return _run_cats(a)
        lists = [getattr(a, k, None) for k in ("n_spins", "field", "bias", "dephasing", "levels", "dt")]
        _SINGLE["on"] = all(v is None or len(v) == 1 for v in lists)
        rows = {"spectrum": _cmd_spectrum, "doublet": _cmd_doublet, "k3": _cmd_k3,
                "threshold": _cmd_threshold}[a.command](a)
        _print_table(rows, a.json)
        _SINGLE["quick_exit"] = True
        return 0
    except CLIError as exc:
        print(_first_line(exc), file=sys.stderr)
        return 2
    except ValueError as exc:  # includes SweepError: invalid values
        print(f"{PROG}: error: {_first_line(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file or directory we were asked to use
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"{PROG}: error: {where}{exc.strerror or _first_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted (completed chunks are kept; rerun to resume)", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line, no traceback
        print(f"{PROG}: internal error (a bug in jaxlmg; please report it): {type(exc).__name__}: "
              f"{_first_line(exc)}", file=sys.stderr)
        return 1


def run() -> None:
    """Console entry point (``jaxlmg``, ``python -m jaxlmg``): :func:`main`, then exit. After a
    one-point query the process ends without the interpreter's teardown of JAX's and XLA's
    objects (0.2-0.3 s of a cold ``jaxlmg threshold``, measured on the 2-core CPU): its output
    is flushed and every file it wrote is closed, so nothing is lost."""
    code = main()
    if _SINGLE.get("quick_exit"):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: nothing more can be written anyway
            pass
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
