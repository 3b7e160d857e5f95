"""Smoke test of the benchmark harness (issue 5): correctness agreement only, no timing
assertions. Runs W1 (the paper point, whose grid is the same in quick mode) with the
scipy peers in separate processes, plus cheap checks of the comparison/goal logic.
Peers that are not installed are skipped by the harness, never failed.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from benchmarks import harness, workloads as W


def test_workload_definitions():
    assert W.n_points(W.spec("W3")) == 1479
    assert W.n_points(W.spec("W4")) == 256 * 256
    assert W.spec("W2")["n_spins"][0] == 2 and W.spec("W2")["n_spins"][-1] == 2000
    assert W.spec("W5")["levels_list"][-1] == 60
    for w in W.WORKLOADS:
        assert W.n_points(W.spec(w, quick=True)) <= W.n_points(W.spec(w))


def test_compare_and_nan_accounting():
    ref = {"threshold_per_s": np.array([[1.0, np.nan], [2.0, 4.0]])}
    got = {"threshold_per_s": np.array([[1.0 + 1e-9, 3.0], [np.nan, 4.0]])}
    c = harness.compare(ref, got, "W3")
    assert c["compared"] == 2
    assert c["max_rel_dev"] == pytest.approx(1e-9, rel=1e-3)
    assert c["nan_where_jaxlmg_finite"] == 1 and c["finite_where_jaxlmg_nan"] == 1


def test_slug_names():
    assert harness.slug("AMD EPYC 7763 64-Core Processor") == "amd-epyc-7763-64-core"
    assert harness.slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"


def test_scipy_peers_reproduce_the_paper_in_process():
    from benchmarks.peers import scipy_paper, scipy_tuned

    s = W.spec("W1")
    for mod in (scipy_paper, scipy_tuned):
        a = mod.w1(s, True)["arrays"]
        assert a["k3_stationary"][0] == pytest.approx(1.4294, abs=1e-4)
        assert a["k3_stationary"][-1] == pytest.approx(0.6712, abs=1e-4)
        assert float(a["threshold_per_s"]) == pytest.approx(0.2892, abs=1e-4)


def test_harness_quick_w1(tmp_path):
    """End to end: jaxlmg + scipy peers in separate processes, results agree, files written."""
    # A persistent (git-ignored) JAX cache keeps repeated test runs short.
    rep = harness.run(["W1"], ["scipy", "scipy_tuned"], tmp_path, quick=True, cache_modes=("cold",),
                      scaling=False, log=lambda *a: None, cache_root=harness.REPO / ".jax_cache" / "bench-test",
                      cli=False)
    rows = rep["workloads"]["W1"]["rows"]
    jx = rows[0]
    if jx.get("status") == "skipped":
        pytest.skip(jx.get("note"))
    assert jx["status"] == "ok", jx.get("note")
    for r in rows[1:]:
        if r["status"] == "skipped":
            continue
        assert r["status"] == "ok", r.get("note")
        assert r["agreement"]["max_rel_dev"] < 1e-8, r["agreement"]
        assert r["blas_threads"] == "1 (pinned)"
        for key in ("whole_process_s", "import_s", "steady_s", "peak_rss_mb"):
            assert r[key] is not None and r[key] > 0
    files = {p.name for p in tmp_path.iterdir()}
    assert any(f.endswith("-quick.json") for f in files) and any(f.endswith("-quick.md") for f in files)
    data = json.loads(next(tmp_path.glob("*-quick.json")).read_text())
    assert data["machine"]["jax"] and data["machine"]["cores"]


def test_goal_check_w1_counts_the_command_line_latencies():
    """W1 is met only when the slowest one-point CLI query is ≤ 3 s cold and ≤ 1 s warm."""
    rows = [dict(impl="jaxlmg", label="jaxlmg (cold cache)", status="ok", jax_cache="cold", whole_process_s=2.0,
                 steady_s=0.01)]
    cli = [dict(query="a", cold_s=2.5, warm_s=0.9), dict(query="b", cold_s=2.9, warm_s=0.95)]
    assert harness.goal_check("W1", rows, False, cli=cli)["met"] is True
    slow = cli + [dict(query="c", cold_s=2.0, warm_s=1.2)]
    out = harness.goal_check("W1", rows, False, cli=slow)
    assert out["met"] is False and "slowest warm 1.20 s" in out["summary"]
    failed = cli + [dict(query="d", cold_s=1.0, warm_s=None, error="exit 2")]
    assert harness.goal_check("W1", rows, False, cli=failed)["met"] is False
