"""CLI subcommand ``cats`` (seed 003): the report table, optionally as JSON and with figures.

The coordinator wires it as::

    from jaxlmg.cats._cli import add_cli, run_cli
    add_cli(subparsers)          # registers "cats" with set_defaults(func=run_cli)
    ...
    return args.func(args)       # exit status (0 ok, 2 bad input)
"""

from __future__ import annotations

import json
import sys


def add_cli(subparsers):
    """Register the ``cats`` subcommand on an argparse ``subparsers`` object."""
    p = subparsers.add_parser("cats", help="seed 003: spin cats under inhomogeneous dephasing (report table, figures)")
    p.add_argument("--quick", action="store_true", help="small sizes (seconds); not the paper's settings")
    p.add_argument("--n-exact", type=int, default=5, help="spins of the 2^N disorder runs (Fig. 2), 2..6")
    p.add_argument("--outdir", default=None, help="write Figs. 1-4 as PNG into this folder")
    p.add_argument("--json", action="store_true", help="print the table rows as JSON")
    p.set_defaults(func=run_cli)
    return p


def run_cli(args) -> int:
    """Run the ``cats`` subcommand; returns the exit status (2 + one stderr line on bad input)."""
    from ._exact import MAX_EXACT_SPINS
    from ._report import format_rows, seed003_report

    if not (2 <= int(args.n_exact) <= min(6, MAX_EXACT_SPINS)):
        print(f"error: --n-exact must be an integer in [2, 6]; got {args.n_exact}", file=sys.stderr)
        return 2
    try:
        rep = seed003_report(quick=bool(args.quick), n_exact=int(args.n_exact), outdir=args.outdir)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"rows": rep["rows"], "timings": rep["timings"]}, indent=1))
    else:
        print(format_rows(rep["rows"]))
    return 0
