"""Sweeps: grid parsing, chunking, resume after SIGKILL, device sharding, multi-process merge."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from jaxlmg._sweep import SweepError, grid_points, grid_size, make_grid, merge, parse_values, run_sweep

GRID_ARGS = ["-N", "8:14:2", "-g", "0.6,0.9", "-q", "doublet"]  # 8 points, N+1 <= 16: one spectrum bucket


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    cache = tmp_path_factory.mktemp("jaxcache")
    e = {**os.environ, "JAXLMG_CACHE_DIR": str(cache)}
    e.pop("XLA_FLAGS", None)
    return e


def cli(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "jaxlmg", *args], capture_output=True, text=True, env=env,
                          timeout=300, **kw)


def load(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_parse_values_and_grid():
    assert parse_values("x", "1,2") == [1.0, 2.0]
    assert parse_values("x", "10:20:5", integer=True) == [10, 15, 20]
    assert np.allclose(parse_values("x", "geom:0.01:1:3"), [0.01, 0.1, 1.0])
    with pytest.raises(SweepError, match="n_spins"):
        parse_values("n_spins", "1.5", integer=True)
    g = make_grid({"n_spins": "10,20", "field": "0.9", "dephasing": "0.1,0.2,0.3", "quantities": "doublet,k3"})
    assert grid_size(g) == 6
    pts = grid_points(g, 0, 6)
    assert list(pts["n_spins"]) == [10, 10, 10, 20, 20, 20]
    assert np.allclose(pts["dephasing"], [0.1, 0.2, 0.3] * 2)
    assert make_grid({"n_spins": "10,20", "field": "0.9"})["hash"] != g["hash"]
    with pytest.raises(SweepError, match="levels"):
        make_grid({"n_spins": "4", "field": "0.9", "levels": 9})


def test_in_process_sweep_matches_library(tmp_path):
    from jaxlmg import doublet_factors
    from jaxlmg._leggett_garg import k3

    g = make_grid({"n_spins": "8,10", "field": "0.8", "dephasing": "0.01,0.1", "levels": "3",
                   "quantities": "doublet,k3"})
    s = run_sweep(g, str(tmp_path / "s"), chunk=3, progress_stream=None)
    assert s["complete"] and s["computed"] == 2
    r = load(tmp_path / "s" / "results.npz")
    assert list(r["index"]) == [0, 1, 2, 3]
    d = doublet_factors(np.array([8, 8, 10, 10]), 0.8)
    assert np.allclose(r["delta_e"], np.asarray(d.delta_e), rtol=1e-12)
    ref = np.asarray(k3(np.array([0.01, 0.1, 0.01, 0.1]), np.array([8, 8, 10, 10]), 0.8, levels=3))
    assert np.allclose(r["k3"], ref, rtol=1e-10)
    # rerun: nothing left to compute
    assert run_sweep(g, str(tmp_path / "s"), chunk=3, progress_stream=None)["computed"] == 0
    with pytest.raises(SweepError, match="different sweep"):
        run_sweep(make_grid({"n_spins": "8", "field": "0.8"}), str(tmp_path / "s"), chunk=3, progress_stream=None)
    lines = (tmp_path / "s" / "results.csv").read_text().splitlines()
    assert len(lines) == 5 and lines[0].startswith("index,n_spins,field")


def test_resume_after_sigkill_equals_uninterrupted(tmp_path, env):
    ref = tmp_path / "ref"
    p = cli(["sweep", *GRID_ARGS, "--chunk", "2", "--out", str(ref), "--quiet"], env)
    assert p.returncode == 0, p.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "jaxlmg", "sweep", *GRID_ARGS, "--chunk", "2", "--out", str(out),
                             "--delay", "5", "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    chunks = out / "chunks"
    t0 = time.time()
    while time.time() - t0 < 240:
        if chunks.is_dir() and any(f.endswith(".npz") for f in os.listdir(chunks)):
            break
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [f for f in os.listdir(chunks) if f.endswith(".npz")]
    assert 1 <= len(done) < 4, "the run must be killed part-way"
    assert not (out / "results.npz").exists()
    p = cli(["sweep", *GRID_ARGS, "--chunk", "2", "--out", str(out), "--quiet"], env)
    assert p.returncode == 0, p.stderr
    assert f"{4 - len(done)} chunks computed, {len(done)} already done" in p.stdout
    a, b = load(ref / "results.npz"), load(out / "results.npz")
    assert a.keys() == b.keys()
    assert np.array_equal(a["index"], np.arange(8))
    for k in a:
        assert np.array_equal(a[k], b[k], equal_nan=True), k
    leftovers = [f for f in os.listdir(chunks) if ".tmp" in f]
    assert len(leftovers) <= 1  # at most the temp file the killed process was writing


def test_sharded_over_four_host_devices_and_two_process_merge(tmp_path, env):
    ref = tmp_path / "ref"
    grid = make_grid({"n_spins": "8:14:2", "field": "0.6,0.9", "quantities": "doublet"})
    run_sweep(grid, str(ref), chunk=4, progress_stream=None)
    env4 = {**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    code = ("import jax, jaxlmg; from jaxlmg.cli import main; assert len(jax.local_devices()) == 4; "
            f"raise SystemExit(main(['sweep', *{GRID_ARGS!r}, '--chunk', '4', '--out', {str(tmp_path / 'sh')!r}, '--quiet']))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env4, timeout=300)
    assert p.returncode == 0, p.stderr
    a, b = load(ref / "results.npz"), load(tmp_path / "sh" / "results.npz")
    for k in a:
        assert np.allclose(a[k], b[k], rtol=1e-10, equal_nan=True), k
    # two processes, each taking half of the chunks, then merge (in-process: same code path as the CLI)
    for i in (0, 1):
        summ = run_sweep(grid, str(tmp_path / f"p{i}"), chunk=2, process_index=i, process_count=2,
                         progress_stream=None)
        assert summ["computed"] == 2 and not summ["complete"]
    merge([str(tmp_path / "p0"), str(tmp_path / "p1")], str(tmp_path / "merged"))
    m = load(tmp_path / "merged" / "results.npz")
    for k in a:
        assert np.allclose(a[k], m[k], rtol=1e-10, equal_nan=True), k
    with open(tmp_path / "merged" / "manifest.json") as fh:
        assert json.load(fh)["n_points"] == 8
    with pytest.raises(SweepError, match="missing"):
        merge([str(tmp_path / "p0")], str(tmp_path / "half"))


def test_sweep_config_file(tmp_path, capsys):
    from jaxlmg.cli import main

    cfg = tmp_path / "s.toml"
    cfg.write_text('[sweep]\nn_spins = "8,10"\nfield = [0.6]\nquantities = "doublet"\nunits = "bec"\n')
    assert main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    r = load(tmp_path / "o" / "results.npz")
    from jaxlmg import BEC, doublet_factors

    assert np.allclose(r["delta_e"], BEC.coupling_rad_s * np.asarray(doublet_factors(np.array([8, 10]), 0.6).delta_e))
    bad = tmp_path / "bad.json"
    bad.write_text('{"n_spins": "8", "field": 0.5, "colour": 3}')
    capsys.readouterr()
    assert main(["sweep", "--config", str(bad), "--out", str(tmp_path / "o2")]) == 2
    err = capsys.readouterr().err
    assert "colour" in err and len(err.strip().splitlines()) == 1
