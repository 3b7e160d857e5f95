#!/usr/bin/env bash
# GPU session script (device machine: its own python3 with jax[cuda]; run from the repo root).
# Writes into $OUT: gpu-tests.txt, the benchmark result pair, throughput JSON.
set -u
export PYTHONPATH=$PWD JAXLMG_NO_CACHE=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
python3 -c "import jax; print(jax.__version__, jax.devices())" | tee "$OUT/env.txt"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv >> "$OUT/env.txt"
# 1. GPU tests: the numerical core (spectrum, splitting, K3, thresholds, engine) on the GPU.
timeout ${TEST_S:-170} python3 -m pytest -q -x -p no:cacheprovider -m "not slow" \
  tests/test_splitting.py tests/test_spectrum.py tests/test_tridiag.py tests/test_leggett_garg.py \
  tests/test_threshold.py tests/test_lindblad.py 2>&1 | tail -25 > "$OUT/gpu-tests.txt"
echo "tests rc=$?" >> "$OUT/gpu-tests.txt"
# 2. Threshold throughput on a 1e5-point map (scipy peer on a subset, same run).
timeout ${THR_S:-120} python3 -m benchmarks.throughput --points 100000 --check 40 --out "$OUT/throughput-h200.json" \
  > "$OUT/throughput.log" 2>&1
# 3. W2-W4 against tuned scipy, same run.
timeout ${BENCH_S:-200} python3 -m benchmarks run --workload W2,W3,W4 --peers scipy_tuned --no-scaling --cache cold \
  --out "$OUT/bench" > "$OUT/bench.log" 2>&1
tail -5 "$OUT/bench.log"; cat "$OUT/throughput-h200.json" 2>/dev/null | head -40; cat "$OUT/gpu-tests.txt"
ls -R "$OUT"
