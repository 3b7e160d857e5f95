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
    e = {**os.environ, "JAXLMG_NO_CACHE": "1"}
    e.pop("JAXLMG_CACHE_DIR", None)
    # keep the suite's compile-time flags (tests/conftest.py), drop any device-count override
    e["XLA_FLAGS"] = " ".join(f for f in os.environ.get("XLA_FLAGS", "").split() if "device_count" not in f)
    return e


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


def test_resume_after_sigkill_equals_uninterrupted(tmp_path, env, capsys):
    from jaxlmg.cli import main

    # The reference and the resumed run go through the CLI in-process (this worker has the kernels
    # compiled already); only the run that is killed needs a process of its own.
    ref = tmp_path / "ref"
    assert main(["sweep", *GRID_ARGS, "--chunk", "2", "--out", str(ref), "--quiet"]) == 0
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
    capsys.readouterr()
    assert main(["sweep", *GRID_ARGS, "--chunk", "2", "--out", str(out), "--quiet"]) == 0
    assert f"{4 - len(done)} chunks computed, {len(done)} already done" in capsys.readouterr().out
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
    env4 = {**env, "XLA_FLAGS": env["XLA_FLAGS"] + " --xla_force_host_platform_device_count=4"}
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


# ------------------------------------------------------------------------ adversarial suite (issue 11)

import hashlib  # noqa: E402

from jaxlmg._sweep import Progress, SweepError, assemble, load_spec_file  # noqa: E402,F811

K3_SPEC = {"n_spins": "8,10", "field": "0.8", "dephasing": "0.01,0.1", "levels": "3", "quantities": "doublet,k3"}


def _strict(path):
    def bad(c):
        raise AssertionError(f"{path}: non-JSON constant {c}")
    with open(path, encoding="utf-8") as fh:
        return json.load(fh, parse_constant=bad)


@pytest.fixture(scope="module")
def done_sweep(tmp_path_factory):
    """One finished doublet+k3 sweep (4 points, chunks of 1) to copy and damage."""
    out = tmp_path_factory.mktemp("sw") / "s"
    s = run_sweep(make_grid(K3_SPEC), str(out), chunk=1, progress_stream=None)
    assert s["complete"] and s["computed"] == 4
    return out


def _copy(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_manifest_is_strict_json_with_checksums(done_sweep):
    m = _strict(done_sweep / "manifest.json")
    assert m["grid"]["axes"]["dt"] == [None]  # not given: null, never NaN
    assert sorted(m["checksums"], key=int) == ["0", "1", "2", "3"]
    for c, digest in m["checksums"].items():
        data = (done_sweep / "chunks" / f"chunk_{int(c):06d}.npz").read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest


def test_dt_used_and_status_names_recorded(done_sweep):
    r = load(done_sweep / "results.npz")
    assert np.all(np.isfinite(r["dt"]))
    assert np.allclose(r["dt"], np.pi / (3 * r["delta_e"]), rtol=1e-12)  # the default Δt = π/(3ΔE)
    import csv

    with open(done_sweep / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    assert {r["status_k3"] for r in rows} == {"OK"} and {r["status_doublet"] for r in rows} == {"OK"}
    assert np.allclose([float(r["dt"]) for r in rows], r["dt"], rtol=1e-15)


def test_bec_sweep_records_dt_in_seconds(tmp_path):
    from jaxlmg import BEC

    g = make_grid({**K3_SPEC, "units": "bec", "dephasing": "0.05"})
    run_sweep(g, str(tmp_path / "b"), chunk=2, progress_stream=None)
    r = load(tmp_path / "b" / "results.npz")
    assert np.allclose(r["dt"], np.pi / (3 * r["delta_e"]), rtol=1e-12)  # delta_e in rad/s → dt in s
    assert np.all(r["dt"] < 1.0) and BEC.coupling_rad_s > 1


@pytest.mark.parametrize("damage", ["tamper", "truncate", "garbage", "unrecorded"])
def test_damaged_chunk_is_detected_and_recomputed(done_sweep, tmp_path, damage):
    import io

    out = _copy(done_sweep, tmp_path / "s")
    ref = load(done_sweep / "results.npz")
    p = out / "chunks" / "chunk_000002.npz"
    if damage == "tamper":  # a valid npz with wrong numbers
        z = load(p)
        z["k3"] = z["k3"] + 1.0
        np.savez(p, **z)
    elif damage == "truncate":
        p.write_bytes(p.read_bytes()[: 100])
    elif damage == "garbage":
        p.write_bytes(b"\0" * 64)
    else:  # written by hand / interrupted before the checksum was recorded
        m = json.loads((out / "manifest.json").read_text())
        del m["checksums"]["2"]
        (out / "manifest.json").write_text(json.dumps(m))
    # assembling the damaged directory refuses, naming the chunk
    with pytest.raises(SweepError, match="chunk 2"):
        assemble(str(out))
    log = io.StringIO()
    s = run_sweep(make_grid(K3_SPEC), str(out), chunk=1, progress_stream=None, log=log)
    assert s["computed"] == 1 and s["recomputed"] == 1 and s["complete"]
    assert "chunk 2" in log.getvalue() and "recomputing" in log.getvalue()
    r = load(out / "results.npz")
    for k in ref:
        assert np.array_equal(ref[k], r[k], equal_nan=True), k


def test_damaged_chunk_via_cli_exit_0_with_message(done_sweep, tmp_path, capsys):
    from jaxlmg.cli import main

    out = _copy(done_sweep, tmp_path / "s")
    (out / "chunks" / "chunk_000000.npz").write_bytes(b"PK\x03\x04broken")
    args = ["sweep", "-N", "8,10", "-g", "0.8", "--dephasing", "0.01,0.1", "--levels", "3", "-q", "doublet,k3",
            "--chunk", "1", "--out", str(out)]
    assert main(args) == 0
    cap = capsys.readouterr()
    assert "chunk 0" in cap.err and "recomputing" in cap.err and "1 damaged chunks recomputed" in cap.out
    # progress: plain lines with an ETA (stderr is not a terminal here), no \r frames
    assert "\r" not in cap.err and "[sweep]" in cap.err and "done" in cap.err


def test_unreadable_manifest_is_a_user_error(done_sweep, tmp_path):
    out = _copy(done_sweep, tmp_path / "s")
    (out / "manifest.json").write_text("[1, 2")
    with pytest.raises(SweepError, match="manifest"):
        run_sweep(make_grid(K3_SPEC), str(out), chunk=1, progress_stream=None)
    # --overwrite replaces it
    s = run_sweep(make_grid(K3_SPEC), str(out), chunk=2, progress_stream=None, overwrite=True)
    assert s["complete"] and s["computed"] == 2


def test_lock_refuses_overwrite_while_another_process_works(done_sweep, tmp_path):
    import fcntl

    out = _copy(done_sweep, tmp_path / "s")
    other = make_grid({"n_spins": "8", "field": "0.6"})
    fd = os.open(out / ".lock", os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_SH)  # "another process" running the sweep in this directory
    try:
        with pytest.raises(SweepError, match="different sweep"):
            run_sweep(other, str(out), chunk=1, progress_stream=None)
        with pytest.raises(SweepError, match="in use"):
            run_sweep(other, str(out), chunk=1, progress_stream=None, overwrite=True)
        # the same sweep is welcome: nothing left to do
        assert run_sweep(make_grid(K3_SPEC), str(out), chunk=1, progress_stream=None)["computed"] == 0
    finally:
        os.close(fd)
    assert len(os.listdir(out / "chunks")) == 4  # nothing was deleted


def test_same_sweep_cooperates_on_claimed_chunks(tmp_path):
    """A chunk claimed by another process is waited for; if that process dies without
    writing it, this one computes it."""
    import fcntl

    out = tmp_path / "s"
    grid = make_grid(K3_SPEC)
    os.makedirs(out / ".locks")
    fd = os.open(out / ".locks" / "chunk_000000.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # the other process is computing chunk 0
    seen = []

    def on_chunk(c):
        seen.append(c)
        if c == 3:  # the other process dies: its lock goes away, chunk 0 never appears
            os.close(fd)

    s = run_sweep(grid, str(out), chunk=1, progress_stream=None, on_chunk=on_chunk)
    assert seen == [1, 2, 3]
    assert s["computed"] == 4 and s["complete"]
    r = load(out / "results.npz")
    assert list(r["index"]) == [0, 1, 2, 3] and np.all(np.isfinite(r["k3"]))


def test_config_keys_validated_and_chunk_honoured(tmp_path, capsys):
    from jaxlmg.cli import main

    cfg = tmp_path / "s.toml"
    cfg.write_text('n_spins = [8, 10]\nfield = 0.6\nchunk = 1\n')
    assert load_spec_file(str(cfg)) == {"n_spins": [8, 10], "field": 0.6, "chunk": 1}
    assert main(["sweep", "--config", str(cfg), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert _strict(tmp_path / "o" / "manifest.json")["chunk"] == 1
    assert main(["sweep", "--config", str(cfg), "--chunk", "2", "--out", str(tmp_path / "o2"), "--quiet"]) == 0
    assert _strict(tmp_path / "o2" / "manifest.json")["chunk"] == 2  # the flag overrides the file
    with pytest.raises(SweepError, match="chunk"):
        make_grid({"n_spins": "8", "field": "0.6", "chunk": 3})  # not a grid key
    with pytest.raises(SweepError, match="n_spins"):
        make_grid({"n_spins": "1e20", "field": "0.6"})
    with pytest.raises(SweepError, match="n_spins"):
        make_grid({"n_spins": [8, [9]], "field": "0.6"})
    with pytest.raises(SweepError, match="quantities"):
        make_grid({"n_spins": "8", "field": "0.6", "quantities": 3})


def test_progress_eta_counts_only_new_work():
    import io

    s = io.StringIO()
    p = Progress(10, "sweep", s, min_interval=0.0)
    p.update(6)  # six chunks were already on disk
    p.t0 -= 4.0  # 4 s later two more are done: 2 chunks per 4 s → 2 left take 4 s
    p.update(8)
    assert "ETA unknown" in s.getvalue().splitlines()[0]
    assert "ETA 4s" in s.getvalue().splitlines()[1]
