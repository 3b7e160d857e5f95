"""The reproduction report: row logic, output formats, and (slow) the quick end-to-end run."""

import json
import math
import os
import subprocess
import sys

import pytest

from jaxlmg._report import Report, make_row, to_html, to_markdown, write_report


def test_make_row_status_and_tolerance():
    r = make_row("x", 1310, 1309.2, "§2", tol=0.001, unit="rad/s")
    assert r["status"] == "ok" and r["rel_diff"] == pytest.approx(-0.8 / 1310)
    r = make_row("C0", 2.51, 0.684, "§5", tol=0.01, expected_note="constant C0 invalid near criticality")
    assert r["status"] == "differs" and "near criticality" in r["note"]
    r = make_row("y", None, 3.0, "§", note="no paper value")
    assert r["status"] == "n/a" and r["rel_diff"] is None
    assert make_row("z", 1.0, float("nan"), "§")["status"] == "differs"


def test_outputs_contain_the_table(tmp_path):
    rows = [make_row("ΔE (N=370)", 1310, 1310.02, "001 §2", tol=5e-4, unit="rad/s"),
            make_row("C0/k_BT (Γ/J=0.99)", 2.51, 0.684, "001 §5", expected_note="fit window")]
    rep = Report(rows=rows, data={})
    md = to_markdown(rep)
    assert "| quantity | paper value | computed | relative difference | section/equation | status |" in md
    assert "| ΔE (N=370) | 1310 rad/s | 1310.02 rad/s |" in md and "differs — fit window" in md
    assert "<tr class='differs'>" in to_html(rep)
    paths = write_report(rep, str(tmp_path / "r"), figures=False)
    data = json.loads((tmp_path / "r" / "report.json").read_text())
    assert [r["quantity"] for r in data["rows"]] == [r["quantity"] for r in rows]
    assert {os.path.basename(p) for p in paths} == {"report.md", "report.html", "report.json"}


@pytest.mark.slow
def test_reproduce_quick_end_to_end(tmp_path):
    env = {**os.environ, "JAXLMG_NO_CACHE": "1"}
    out = tmp_path / "rep"
    p = subprocess.run([sys.executable, "-m", "jaxlmg", "reproduce", "--quick", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=900)
    assert p.returncode == 0, p.stderr[-2000:]
    rows = {r["quantity"]: r for r in json.loads((out / "report.json").read_text())["rows"]}
    assert rows["ΔE (N=370)"]["status"] == "ok"
    assert rows["N_c exact ΔE = k_BT (Γ/J=0.95)"]["computed"] == 370
    for n, v in ((200, 4754.1), (400, 1015.6)):
        assert abs(rows[f"ΔE (N={n}, Γ/J=0.95)"]["computed"] - v) < 0.06
    assert math.isclose(rows["γφ threshold, n=5"]["computed"], 0.2892, abs_tol=1e-4)
    assert rows["T3 G01 (N=370)"]["status"] == "ok"
    assert rows["h_sp"]["status"] == "ok"
    figs = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    assert len(figs) == 9
    assert "report.md" in os.listdir(out) and "report.html" in os.listdir(out)
