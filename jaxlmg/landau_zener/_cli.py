"""The ``jaxlmg lz`` subcommand: Landau–Zener bias sweeps (coherent, dephased, classical, P4 crossover table)."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "Landau–Zener bias sweeps: P_error(τQ, Δh, γφ), quantum and classical (seed 001 P4)"


def _values(name, integer=False):
    def conv(text):
        from .._sweep import SweepError, parse_values

        try:
            return parse_values(name, text, integer=integer)
        except SweepError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return conv


def add_cli(subparsers) -> argparse.ArgumentParser:
    """Add the ``lz`` subcommand to an argparse ``subparsers`` object; returns its parser."""
    p = subparsers.add_parser("lz", help=HELP, description=HELP + ". Units: --units natural (J, ħ/J) or bec "
                              "(τQ in s, Δh and bias in rad/s, γφ in s⁻¹, temperature in nK; J = 37195.4 rad/s).")
    p.add_argument("--model", choices=("coherent", "dephased", "classical", "crossover"), default="coherent",
                   help="coherent (state vector), dephased (Lindblad, L=√γφ Jz), classical (Model A Fokker–Planck) "
                        "or crossover (the P4 table over τQ × γφ, BEC units; ignores the grid flags)")
    p.add_argument("--n-spins", "-N", type=int, default=370, help="number of spins N (default 370)")
    p.add_argument("--field", "-g", type=float, default=0.95, help="transverse field Γ/J (default 0.95)")
    p.add_argument("--tau-q", type=_values("tau_q"), default=None, help="sweep times τQ (list or range)")
    p.add_argument("--sweep-amplitude", type=_values("sweep_amplitude"), default=None,
                   help="total bias change Δh (list or range); h goes from bias−Δh/2 to bias+Δh/2")
    p.add_argument("--dephasing", type=_values("dephasing"), default=[0.0], help="collective dephasing γφ (list)")
    p.add_argument("--bias", type=float, default=0.0, help="centre of the sweep (default 0)")
    p.add_argument("--temperature", type=float, default=None,
                   help="k_BT for --model classical (units of J; nK with --units bec; default 10 nK)")
    p.add_argument("--levels", type=int, default=None,
                   help="keep the K lowest H0 eigenstates (default: full Dicke space; crossover: 48)")
    p.add_argument("--max-step", type=float, default=None, help="largest time step (ħ/J)")
    p.add_argument("--units", choices=("natural", "bec"), default="natural")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return p


def _rows_table(rows, out):
    if not rows:
        return
    cols = list(rows[0])
    cells = [[f"{r[c]:.6g}" if isinstance(r[c], float) else str(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(cols)]
    out.write("  ".join(c.rjust(w) for c, w in zip(cols, widths)) + "\n")
    for x in cells:
        out.write("  ".join(v.rjust(w) for v, w in zip(x, widths)) + "\n")


def _num(x):
    x = float(x)
    return None if x != x else x


def run_cli(args, out=None) -> int:
    """Run ``jaxlmg lz`` for parsed ``args``; prints the result and returns 0 (ValueError on bad values)."""
    import numpy as np

    from .._units import BEC
    from ._analysis import crossover_table, zener_eq17
    from ._classical import classical_sweep
    from ._open import dephased_sweep
    from ._unitary import coherent_sweep

    out = out or sys.stdout
    bec = args.units == "bec"
    if args.model == "crossover":
        kw = {} if args.levels is None else {"levels": args.levels}
        if args.tau_q is not None:
            kw["tau_q_ms"] = np.asarray(args.tau_q) * (1e3 if bec else 1e3 / BEC.coupling_rad_s)
        if args.sweep_amplitude is not None:
            if len(args.sweep_amplitude) != 1:
                raise ValueError("sweep_amplitude must be a single value for --model crossover")
            dh = args.sweep_amplitude[0]
            kw["sweep_amplitude_rad_s"] = dh if bec else BEC.energy_to_rad_s(dh)
        if args.dephasing != [0.0]:
            kw["dephasing_per_s"] = np.asarray(args.dephasing) * (1.0 if bec else BEC.coupling_rad_s)
        if args.max_step is not None:
            kw["max_step"] = args.max_step
        table = crossover_table(args.n_spins, args.field, **kw)
        if args.json:
            out.write(json.dumps(table, indent=1, default=_num) + "\n")
        else:
            rows = []
            for i, t in enumerate(table["tau_q_ms"]):
                row = {"tau_q_ms": t}
                for j, g in enumerate(table["dephasing_per_s"]):
                    row[f"P(γφ={g:g}/s)"] = table["p_error"][j][i]
                row["P_eq17"] = table["p_eq17"][i]
                if "p_classical" in table:
                    row["P_class"] = table["p_classical"][i]
                rows.append(row)
            _rows_table(rows, out)
            out.write("crossover τQ× (ms): " + ", ".join(
                f"γφ={g:g}/s: {c:.4g}" for g, c in zip(table["dephasing_per_s"], table["crossover_ms"])) + "\n")
        return 0
    if args.tau_q is None or args.sweep_amplitude is None:
        raise ValueError("tau_q and sweep_amplitude are required (--tau-q, --sweep-amplitude) unless --model crossover")
    tau = np.asarray(args.tau_q, np.float64)
    dh = np.asarray(args.sweep_amplitude, np.float64)
    gam = np.asarray(args.dephasing, np.float64)
    bias = args.bias
    if bec:
        tau, dh, gam, bias = tau * BEC.coupling_rad_s, BEC.energy_from_rad_s(dh), BEC.rate_to_natural(gam), \
            BEC.energy_from_rad_s(bias)
    kw = {} if args.max_step is None else {"max_step": args.max_step}
    tt, dd, gg = np.meshgrid(tau, dh, gam, indexing="ij")
    if args.model == "coherent":
        if np.any(gam != 0):
            raise ValueError("dephasing must be 0 for --model coherent (use --model dephased)")
        r = coherent_sweep(args.n_spins, args.field, tt, dd, bias=bias, levels=args.levels, **kw)
        cols = {"p_error": r.p_error, "p_well": r.p_well}
    elif args.model == "dephased":
        r = dephased_sweep(args.n_spins, args.field, tt, dd, gg, bias=bias, levels=args.levels, **kw)
        cols = {"p_error": r.p_error, "p_well": r.p_well}
    else:
        temp = args.temperature
        temp = BEC.kt_natural(10.0 if temp is None else temp) if bec else (BEC.kt_natural(10.0) if temp is None else temp)
        r = classical_sweep(args.n_spins, args.field, tt, dd, temperature=temp, bias=bias, **kw)
        cols = {"p_error": r.p_error, "mean_m": r.mean_m}
    p17 = np.asarray(zener_eq17(tt, args.n_spins, args.field, dd)) if bias == 0 else np.full(tt.shape, np.nan)
    rows = []
    for idx in np.ndindex(tt.shape):
        t, d, g = tt[idx], dd[idx], gg[idx]
        row = {"tau_q": float(t / BEC.coupling_rad_s if bec else t),
               "sweep_amplitude": float(BEC.energy_to_rad_s(d) if bec else d),
               "dephasing": float(BEC.rate_to_per_s(g) if bec else g)}
        row.update({k: _num(np.asarray(v)[idx]) for k, v in cols.items()})
        row["p_eq17"] = _num(p17[idx])
        row["error"] = _num(np.asarray(r.error)[idx])
        row["status"] = int(np.asarray(r.status)[idx])
        rows.append(row)
    if args.json:
        out.write(json.dumps(rows, indent=1) + "\n")
    else:
        _rows_table(rows, out)
    return 0
