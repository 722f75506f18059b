#!/usr/bin/env bash
# The reliability stages of CI (after the README's test command; DESIGN.md §9), each runnable
# alone:
#   tests/ci_extra.sh [asan] [fuzz] [tsan]      (default: all three, in this order)
#   asan  build-asan/: clang-14, ASan + UBSan (-DMOEREC_SANITIZE=address,undefined) and the
#         fuzz targets (-DMOEREC_FUZZ=ON); runs the unit tests of core (not its numeric
#         kernels), proto, comm, data, embedding, ps, scheduler, serving, experts (layers and
#         the model zoo) and worker (the step pipeline), the multi-rank ps, communicator, health
#         and expert-parallel tests, and replays every fuzz target's corpus and regression
#         inputs.
#   fuzz  tests/fuzz/run_fuzz.sh on build-asan/: each target for FUZZ_SECONDS (default 15).
#   tsan  build-tsan/: clang-14, TSan; the tests of the threaded parts: the data reader (its
#         reader threads and prefetch queue), the shard reader's concurrent ReadBlock, the
#         parameter server's request loop with its clients (ps_mpi_test), the health monitor.
# Known noise of Open MPI, OpenMP and OpenBLAS is suppressed by tests/sanitizers/*.supp (one
# comment per entry says why). The GCC build of ./setup.sh holds warnings as errors; these clang
# builds report warnings without failing (MOEREC_WERROR=ON makes them errors too). Builds take the shared build lock ($MOEREC_BUILD_LOCK, default
# /tmp/moerec_build.lock) and use ccache when installed. Each stage's time is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
stages=("$@")
((${#stages[@]})) || stages=(asan fuzz tsan)
lock=${MOEREC_BUILD_LOCK:-/tmp/moerec_build.lock}
jobs=${JOBS:-$(nproc)}
supp="$root/tests/sanitizers"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_mpi_yield_when_idle=1
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
# Open MPI keeps its components loaded to the end, so that sanitizer reports name their frames.
export OMPI_MCA_mca_base_component_disable_dlclose=1
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=0"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:suppressions=$supp/ubsan.supp"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:report_signal_unsafe=0:suppressions=$supp/tsan.supp"

configure() {  # configure DIR SANITIZERS [extra cmake args]
  local dir=$1 san=$2
  shift 2
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_COMPILER=clang-14 \
    -DCMAKE_CXX_COMPILER=clang++-14 -DMOEREC_CUDA=OFF -DMOEREC_SANITIZE="$san" \
    -DMOEREC_WERROR="${MOEREC_WERROR:-OFF}" \
    "${launcher[@]}" "$@" >/dev/null
}

build() {  # build DIR TARGET...
  local dir=$1
  shift
  flock "$lock" cmake --build "$dir" -j"$jobs" --target "$@"
}

# The unit tests of the code that reads outside input, manages memory by hand or runs threads
# (the numeric kernels of core/ are left to the main build: they cost a third of this stage's
# build and have CPU references of their own).
asan_tests=(core_tensor_test core_status_test core_checksum_test core_parallel_test
            core_parameter_test core_optimizer_test core_key_index_test core_file_util_test
            core_file_lock_test text_config_test communicator_test shard_test reader_test
            batch_test convert_text_test convert_config_test convert_csv_test
            convert_movielens_test table_spec_test sparse_input_test row_cache_test
            row_optimizer_test row_store_test row_store_disk_test admission_eviction_test
            checkpoint_test ps_config_test wire_test step_clock_test role_layout_test
            checkpointer_test embedding_file_test experts_layers_test experts_zoo_test
            step_runner_test training_stream_test store_stats_test)
# Multi-rank tests: ASan and UBSan on, LeakSanitizer off (Open MPI's process-lifetime allocations
# come from components whose frames it cannot unwind, so they cannot be told apart).
asan_mpi_tests=(ps_mpi_test mpi_communicator_test health_mpi_test expert_parallel_mpi_test)
tsan_tests=(reader_test shard_test ps_mpi_test health_mpi_test)

regex() {  # the ctest regex matching exactly the named tests (and their _np<n> variants)
  local IFS='|'
  echo "^($*)(_np[0-9]+)?\$"
}

stage_asan() {
  configure build-asan "address,undefined" -DMOEREC_FUZZ=ON
  build build-asan "${asan_tests[@]}" "${asan_mpi_tests[@]}" fuzz_targets
  ctest --test-dir build-asan -R "$(regex "${asan_tests[@]}")" --output-on-failure -j2
  ASAN_OPTIONS="$ASAN_OPTIONS:detect_leaks=0" \
    ctest --test-dir build-asan -R "$(regex "${asan_mpi_tests[@]}")" --output-on-failure -j2
  ctest --test-dir build-asan -L fuzz --output-on-failure -j2
}

stage_fuzz() {
  [[ -x build-asan/tests/fuzz/wire_fuzz ]] || { configure build-asan "address,undefined" -DMOEREC_FUZZ=ON; build build-asan fuzz_targets; }
  FUZZ_OUT="$root/build-asan/fuzz-out" tests/fuzz/run_fuzz.sh build-asan "${FUZZ_SECONDS:-15}"
}

stage_tsan() {
  configure build-tsan thread
  build build-tsan "${tsan_tests[@]}"
  ctest --test-dir build-tsan -R "$(regex "${tsan_tests[@]}")" --output-on-failure -j2
}

for s in "${stages[@]}"; do
  case "$s" in
    asan | fuzz | tsan) ;;
    *) echo "ci_extra: unknown stage '$s' (asan, fuzz, tsan)" >&2; exit 2 ;;
  esac
  start=$(date +%s)
  "stage_$s"
  echo "ci_extra: stage $s took $(($(date +%s) - start)) s"
done
