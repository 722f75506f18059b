#!/usr/bin/env bash
# The device check of the GPU path, in one command, for whoever has a GPU:
#
#   tests/gpu/run_device_checks.sh [BUILD_DIR]      (default: build-gpu beside the sources)
#
# 1. builds moerec with CUDA for this machine's GPU (its compute capability from nvidia-smi);
# 2. runs every GPU test on the device: each test binary labelled `gpu` with only its Device
#    cases (the HostExecution cases run in the ordinary test suite everywhere), and fails when a
#    Device case is skipped here, where there is a GPU;
# 3. runs the GPU benchmarks: `moerec bench mmoe-ref --device=cuda` at batch 4096 and 16384
#    (against PyTorch eager and torch.compile on the same GPU when this python has a CUDA
#    torch), and `moerec bench nccl` (one rank);
# 4. prints a summary of name=value lines, ending with device_checks=passed|failed.
# Logs and figures go to $OUT when set (the device tool's output folder), else BUILD_DIR/device_checks.
# Budget: under 8 minutes on one H100/H200 (the build is most of it).
set -uo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-gpu}
out=${OUT:-$build/device_checks}
mkdir -p "$out"
export PATH=/usr/local/cuda/bin:$PATH
start=$(date +%s)
failed=0
summary="$out/summary.txt"
: >"$summary"
note() { echo "$1" | tee -a "$summary"; }
elapsed() { echo $(($(date +%s) - start)); }

if ! nvidia-smi -L >"$out/gpus.txt" 2>&1; then
  note "device_checks=skipped"
  note "reason=nvidia-smi finds no GPU: $(head -c 300 "$out/gpus.txt")"
  exit 0
fi
note "gpu=$(head -1 "$out/gpus.txt")"
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '. ')
note "cuda_arch=$arch"
jobs=$(nproc)

# 1. Build.
if ! cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DMOEREC_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$out/cmake.log" 2>&1; then
  note "build=failed (cmake; see cmake.log)"
  tail -20 "$out/cmake.log"
  note "device_checks=failed"
  exit 1
fi
gpu_tests=$(ctest --test-dir "$build" -L gpu -N 2>/dev/null | sed -n 's/^ *Test *#[0-9]*: //p')
if ! make -C "$build" -j"$jobs" moerec $gpu_tests >"$out/build.log" 2>&1; then
  note "build=failed (see build.log)"
  grep -m 20 -E 'error|Error' "$out/build.log"
  note "device_checks=failed"
  exit 1
fi
note "build_seconds=$(elapsed)"

# 2. The Device cases of every GPU test.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
export OPENBLAS_NUM_THREADS=1 MOEREC_SOURCE_DIR="$root"
passed_tests=0
for t in $gpu_tests; do
  bin=$(find "$build" -name "$t" -type f -perm -u+x | head -1)
  if [[ -z "$bin" ]]; then
    note "test_${t}=missing"
    failed=1
    continue
  fi
  log="$out/$t.log"
  if [[ "$t" == *_mpi* || "$t" == *multi_rank* ]]; then
    # Multi-rank GPU tests run through CTest (their own mpirun line); they skip below 2 GPUs.
    ctest --test-dir "$build" -R "^${t}\$" --output-on-failure >"$log" 2>&1
  else
    timeout 300 "$bin" --gtest_filter='*Device*:*device*' >"$log" 2>&1
  fi
  rc=$?
  skipped=$(grep -c '^\[  SKIPPED \]' "$log" || true)
  ran=$(grep -c '^\[       OK \]' "$log" || true)
  if [[ $rc -ne 0 ]]; then
    note "test_${t}=failed (rc $rc; see $t.log)"
    grep -m 10 -E 'Failure|FAILED|error' "$log"
    failed=1
  elif [[ "$skipped" -gt 0 && "$t" != *_mpi* && "$t" != *multi_rank* ]]; then
    note "test_${t}=failed ($skipped Device cases skipped on a machine with a GPU)"
    grep -m 3 -A2 'Skipped' "$log"
    failed=1
  else
    note "test_${t}=passed ($ran cases)"
    passed_tests=$((passed_tests + 1))
  fi
done
note "gpu_tests_passed=$passed_tests"
note "tests_seconds=$(elapsed)"

# 3. Benchmarks.
moerec="$build/launch/moerec"
threads=$(( jobs > 8 ? 8 : jobs ))
for batch in 4096 16384; do
  log="$out/bench_mmoe_ref_$batch.txt"
  if timeout 240 "$moerec" bench mmoe-ref --device=cuda --batch="$batch" --steps=100 \
      --threads="$threads" >"$log" 2>&1; then
    for key in samples_per_sec torch_eager_samples_per_sec torch_compile_samples_per_sec \
        speedup_vs_torch_eager speedup_vs_torch_compile device_sgemm_tflops expert_gemm_tflops \
        expert_gemm_fraction_of_device torch_eager_error torch_compile_error; do
      v=$(grep "^$key=" "$log" | tail -1 | cut -d= -f2-)
      [[ -n "$v" ]] && note "mmoe_ref_${batch}_${key}=$v"
    done
  else
    note "bench_mmoe_ref_${batch}=failed (see $(basename "$log"))"
    tail -5 "$log"
    failed=1
  fi
done
log="$out/bench_nccl.txt"
if timeout 120 "$moerec" bench nccl >"$log" 2>&1; then
  grep -E '^(device|nccl_|device_copy)' "$log" | tee -a "$summary"
else
  note "bench_nccl=failed (see bench_nccl.txt)"
  tail -5 "$log"
  failed=1
fi
note "total_seconds=$(elapsed)"
if [[ $failed -eq 0 ]]; then note "device_checks=passed"; else note "device_checks=failed"; fi
exit $failed
