#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz/ (built with -DMOEREC_FUZZ=ON, see README.md).
#
#   tests/fuzz/run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]   fuzz each target for SECONDS
#                                                           (default 20), then replay its
#                                                           regression inputs
#   tests/fuzz/run_fuzz.sh --replay BUILD_DIR TARGET         replay the seed corpus and the
#                                                           regression inputs once (ctest)
#
# Fuzzing starts from a copy of corpus/<target>/ (the tree's seeds stay as they are). A crash
# leaves its input in $FUZZ_OUT (default BUILD_DIR/fuzz-out) and fails the run: fix the code,
# then copy the input to regressions/<target>/. The summary (execs and execs/s per target) is
# printed and written to $FUZZ_OUT/summary.txt.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
targets_all=(shard_reader csv_convert movielens_convert config wire checkpoint_manifest
             dense_checkpoint row_file embedding_file teacher_wire)
# Readers of files get their input through a scratch folder: keep it in memory when possible.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then export TMPDIR=/dev/shm; fi
# The sanitizers stop at the first finding and print stacks with symbols.
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

replay() {  # replay BUILD TARGET
  local bin="$1/tests/fuzz/$2_fuzz" inputs=()
  [[ -x "$bin" ]] || { echo "run_fuzz: $bin is not built (-DMOEREC_FUZZ=ON)" >&2; return 2; }
  local f
  for f in "$here/corpus/$2"/* "$here/regressions/$2"/*; do
    [[ -f "$f" ]] && inputs+=("$f")
  done
  ((${#inputs[@]})) || { echo "run_fuzz: no inputs for $2" >&2; return 1; }
  "$bin" -rss_limit_mb=2048 -timeout=30 "${inputs[@]}" 2>&1 | tail -n 3
  local rc=${PIPESTATUS[0]}
  ((rc == 0)) && echo "run_fuzz: $2: ${#inputs[@]} seed and regression inputs replayed"
  return "$rc"
}

if [[ "${1:-}" == "--replay" ]]; then
  (($# == 3)) || { echo "usage: run_fuzz.sh --replay BUILD_DIR TARGET" >&2; exit 2; }
  replay "$2" "$3"
  exit
fi

(($# >= 1)) || { echo "usage: run_fuzz.sh BUILD_DIR [SECONDS] [TARGET...]" >&2; exit 2; }
build="$(cd "$1" && pwd)"
seconds="${2:-20}"
shift $(($# >= 2 ? 2 : 1))
targets=("$@")
((${#targets[@]})) || targets=("${targets_all[@]}")
out="${FUZZ_OUT:-$build/fuzz-out}"
mkdir -p "$out"
summary="$out/summary.txt"
printf '%-20s %10s %10s %8s %s\n' target execs execs_per_s corpus result >"$summary"
failed=0
for t in "${targets[@]}"; do
  bin="$build/tests/fuzz/${t}_fuzz"
  if [[ ! -x "$bin" ]]; then
    echo "run_fuzz: $bin is not built" >&2
    failed=1
    continue
  fi
  work="$out/corpus-$t"
  rm -rf "$work" && mkdir -p "$work"
  cp "$here/corpus/$t"/* "$work"/ 2>/dev/null || true
  log="$out/$t.log"
  "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$out/$t-" "$work" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  units=$(find "$work" -type f | wc -l)
  result=ok
  if ((rc != 0)); then
    result="FAILED (exit $rc; input: $(ls "$out/$t-"* 2>/dev/null | head -n 1))"
    failed=1
    grep -E "ERROR|runtime error|SUMMARY" "$log" | head -n 5 >&2
  elif ! replay "$build" "$t" >>"$log" 2>&1; then
    result="FAILED (a regression input; see $log)"
    failed=1
  fi
  printf '%-20s %10s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$units" "$result" | tee -a "$summary"
done
echo "run_fuzz: summary in $summary"
exit "$failed"
