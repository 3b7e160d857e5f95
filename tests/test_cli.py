"""The jaxlmg command line: subcommands, JSON output, units, errors (exit 2, one line)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.linalg import eigh_tridiagonal

from jaxlmg import BEC
from jaxlmg.cli import main


def _de(n, g):
    j = n / 2
    m = np.arange(-j, j + 1)
    w = eigh_tridiagonal(-2.0 / n * m**2, -g * np.sqrt(j * (j + 1) - m[:-1] * (m[:-1] + 1)),
                         eigvals_only=True, select="i", select_range=(0, 2))
    return w


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("JAXLMG_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "jaxcache"))


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_spectrum_json(capsys):
    code, out, err = run(capsys, "spectrum", "--n-spins", "10", "--field", "0.5", "--levels", "3", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [r["level"] for r in rows] == [0, 1, 2]
    assert np.allclose([r["energy"] for r in rows], _de(10, 0.5), atol=1e-10)


def test_doublet_bec_units_table_and_json(capsys):
    code, out, err = run(capsys, "doublet", "-N", "40,60", "-g", "0.9", "--units", "bec", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert len(rows) == 2
    w = _de(60, 0.9)
    assert rows[1]["delta_e"] == pytest.approx((w[1] - w[0]) * BEC.coupling_rad_s, rel=1e-8)
    code, out, err = run(capsys, "doublet", "-N", "40", "-g", "0.9")
    assert code == 0 and "eta_mf" in out.splitlines()[0]


def test_k3_and_threshold_bec(capsys):
    code, out, err = run(capsys, "k3", "-N", "370", "-g", "0.95", "--dephasing", "0.05", "--units", "bec", "--json")
    assert code == 0, err
    r = json.loads(out)[0]
    assert r["k3"] == pytest.approx(1.3167, abs=1e-4)  # seed 001 Fig. 1, n = 5
    assert r["dt"] == pytest.approx(np.pi / (3 * 1310.0), rel=1e-3)  # seconds
    code, out, err = run(capsys, "threshold", "-N", "370", "-g", "0.95", "--units", "bec", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["threshold"] == pytest.approx(0.2892, abs=1e-4)  # Eq. 24


@pytest.mark.parametrize("args, needle", [
    (["spectrum", "--n-spins", "10"], "field"),
    (["spectrum", "--n-spins", "abc", "--field", "0.5"], "n_spins"),
    (["spectrum", "--n-spins", "10", "--field", "-1"], "field"),
    (["doublet", "-N", "10", "-g", "0.5", "--units", "furlongs"], "units"),
    (["k3", "-N", "10", "-g", "0.5", "--dephasing", "0.1", "--levels", "50"], "levels"),
    (["frobnicate"], "invalid choice"),
    (["sweep", "--out", "/nonexistent/x", "-N", "10", "-g", "0.5", "-q", "k3"], "dephasing"),
])
def test_errors_exit_2_one_line(capsys, args, needle):
    code, out, err = run(capsys, *args)
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert needle in lines[0]
    assert "Traceback" not in err


def test_python_m_entry_point_error(tmp_path):
    env = {**os.environ, "JAXLMG_NO_CACHE": "1"}
    p = subprocess.run([sys.executable, "-m", "jaxlmg", "spectrum", "--n-spins", "0", "--field", "0.5"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1 and "n_spins" in p.stderr
    h = subprocess.run([sys.executable, "-m", "jaxlmg", "sweep", "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert h.returncode == 0 and "process-index" in h.stdout and "merge" in h.stdout


def test_compilation_cache_dir(tmp_path, monkeypatch):
    from jaxlmg.cli import enable_compilation_cache

    monkeypatch.setenv("JAXLMG_NO_CACHE", "1")
    assert enable_compilation_cache() is None
    monkeypatch.delenv("JAXLMG_NO_CACHE")
    monkeypatch.setenv("JAXLMG_CACHE_DIR", str(tmp_path / "c"))
    assert enable_compilation_cache() == str(tmp_path / "c")
    assert os.path.isdir(tmp_path / "c")
