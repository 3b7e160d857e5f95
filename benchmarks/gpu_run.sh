#!/usr/bin/env bash
# GPU session script (device machine: its own python3 with jax[cuda]; run from the repo root).
#   bash benchmarks/gpu_run.sh bench   # throughput + W2/W3/W4: 7.5 min on an H200 (2026-11-30)
#   bash benchmarks/gpu_run.sh tests   # the numerical core's tests on the GPU: 6.5 min of compilation at
#                                      # -n 8..14 (145 tests), so run it as its own command
#   bash benchmarks/gpu_run.sh all     # both (over the device tool's 10-minute limit for one command)
# Every step has its own time limit and writes its result as soon as it ends, so a step that runs
# out of time loses only itself. Files in $OUT (at most 8 come back):
#   run.log                  environment, every step's output, the GPU tests' summary
#   throughput-gpu.json      thresholds per second, 1e5-point map at n = 5 (scipy peer on a subset)
#   w2/ w3/ w4/              harness results (<gpu-name>.json/.md) of W2, W3, W4 vs tuned scipy
# Limits (seconds) can be set from outside: THR_S, W2_S, W3_S, W4_S, TEST_S; a CPU smoke run of this
# script: THR_POINTS=2000 BENCH_FLAGS=--quick TEST_FLAGS='-x -k closed_form' OUT=/tmp/g bash benchmarks/gpu_run.sh
set -u
MODE=${1:-all}
case $MODE in bench|tests|all) ;; *) echo "usage: gpu_run.sh bench|tests|all" >&2; exit 2;; esac
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1 JAXLMG_NO_CACHE=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
LOG="$OUT/run.log"
step() { echo "=== $(date +%T) $*" | tee -a "$LOG"; }
step env
{ python3 -c "import jax, jaxlib; print('jax', jax.__version__, 'jaxlib', jaxlib.__version__, jax.devices())"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm --format=csv
  nproc; python3 -c "import numpy, scipy, equinox, optimistix; print(numpy.__version__, scipy.__version__, equinox.__version__, optimistix.__version__)"
} >> "$LOG" 2>&1
if [ "$MODE" != tests ]; then
# 1. Threshold throughput on a 1e5-point map, n = 5 (scipy peer re-solves a subset, same run).
step "throughput 1e5 points"
timeout "${THR_S:-140}" python3 -m benchmarks.throughput --points "${THR_POINTS:-100000}" --check 40 \
  --out "$OUT/throughput-gpu.json" >> "$LOG" 2>&1; echo "rc=$?" >> "$LOG"
# 2. W2, W3, W4 against the tuned scipy peer (on this machine's CPU), one harness run each.
for w in W2 W3 W4; do
  lim_var="${w}_S"; declare -A dflt=([W2]=100 [W3]=110 [W4]=90); lim=${!lim_var:-${dflt[$w]}}
  step "bench $w (limit $lim s)"
  timeout "$lim" python3 -m benchmarks run --workload "$w" --peers scipy_tuned --no-scaling --cache cold \
    --timeout $((lim - 10)) ${BENCH_FLAGS:-} --out "$OUT/${w,,}" >> "$LOG" 2>&1; echo "rc=$?" >> "$LOG"
done
fi
if [ "$MODE" != bench ]; then
# 3. GPU tests: the numerical core (spectrum, splitting, K3, thresholds, engine) on the GPU.
step "tests"
timeout "${TEST_S:-420}" python3 -m pytest -v -p no:cacheprovider -p no:benchmark -n "${TEST_WORKERS:-14}" -m "not slow" ${TEST_FLAGS:-} \
  tests/test_splitting.py tests/test_spectrum.py tests/test_tridiag.py tests/test_leggett_garg.py \
  tests/test_threshold.py tests/test_threshold_batch.py tests/test_lindblad.py >> "$LOG" 2>&1
fi
step done
