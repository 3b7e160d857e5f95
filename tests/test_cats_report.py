"""Seed 003 report and CLI wiring (quick sizes)."""

import argparse
import json

import numpy as np
import pytest

from jaxlmg.cats._cli import add_cli, run_cli
from jaxlmg.cats._report import format_rows, seed003_report


def test_cli_bad_input_exit_2(capsys):
    parser = argparse.ArgumentParser()
    add_cli(parser.add_subparsers())
    args = parser.parse_args(["cats", "--n-exact", "9", "--json"])
    assert run_cli(args) == 2
    err = capsys.readouterr().err
    assert "n-exact" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_quick_report_rows(tmp_path):
    rep = seed003_report(quick=True, n_exact=3, outdir=tmp_path)
    rows = {r["quantity"]: r for r in rep["rows"]}
    assert abs(rows["Fig.2 steady F even (N=8, δ=0)"]["computed"] - 0.998) <= 5e-4
    assert abs(rows["Fig.2 steady F odd (N=8, δ=0)"]["computed"] - 0.995) <= 5e-4
    for r in rep["rows"]:
        assert r["computed"] is None or np.isfinite(r["computed"])
    json.dumps(rep["rows"])
    assert "quantity" in format_rows(rep["rows"])
    assert len(list(tmp_path.glob("seed003_fig*.png"))) == 4
