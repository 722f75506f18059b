#!/usr/bin/env bash
# Tests launch/moerec-launch and the layout logic of launch/slurm/*.sbatch (without a cluster):
# the mpirun command it builds (--dry-run), MOEREC_BIN, flag validation, a real 1 server +
# 1 worker run, restarts after failures (with a fake binary that counts its runs), and the
# srun/mpirun command lines the job scripts derive from Slurm's environment (with fake srun,
# scontrol and mpirun).
#   tests/launcher_test.sh BUILD_DIR
set -uo pipefail

build_dir=$(realpath "${1:?usage: launcher_test.sh BUILD_DIR}")
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
launcher=$src/launch/moerec-launch
moerec=$build_dir/launch/moerec
export OMPI_MCA_mpi_yield_when_idle=1 MOEREC_RESTART_DELAY=0
unset OMP_NUM_THREADS MOEREC_MPIRUN_ARGS MOEREC_MPIRUN
tmp=$(mktemp -d /tmp/moerec-launcher-test.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

failures=0
pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
# expect_contains NAME TEXT NEEDLE
expect_contains() {
  if [[ $2 == *"$3"* ]]; then pass "$1"; else fail "$1: '$3' not in: $2"; fi
}
expect_lacks() {
  if [[ $2 != *"$3"* ]]; then pass "$1"; else fail "$1: '$3' unexpectedly in: $2"; fi
}
# expect_rc NAME WANT GOT
expect_rc() {
  if [[ $2 == "$3" ]]; then pass "$1 (exit $3)"; else fail "$1: exit status $3, want $2"; fi
}

[[ -x $moerec ]] || {
  echo "FAIL: no binary at $moerec"
  exit 1
}
config=$tmp/configs/quickstart.pbtxt
mkdir -p "$tmp/configs"
cp "$src/configs/quickstart.pbtxt" "$config"
export MOEREC_BIN=$moerec

# --- help and dry run -------------------------------------------------------------------------
out=$("$launcher" --help 2>&1)
expect_rc "--help" 0 $?
expect_contains "--help shows usage" "$out" "usage: launch/moerec-launch --config=FILE"

out=$("$launcher" --config="$config" --run_dir="$tmp/r" --servers=1 --workers=2 --dry-run \
  -- --max_steps=7 2>&1)
expect_rc "dry run" 0 $?
expect_contains "dry run: -np is workers + servers" "$out" "mpirun -np 3 "
expect_contains "dry run: the binary and its command" "$out" "$moerec train --config=$config"
expect_contains "dry run: layout flags" "$out" "--servers=1 --workers=2"
expect_contains "dry run: args after -- reach moerec" "$out" "--workers=2 --max_steps=7"
expect_contains "dry run: no binding" "$out" "--bind-to none"
expect_contains "dry run: thread count exported" "$out" "-x OMP_NUM_THREADS="
expect_contains "dry run: OpenBLAS threads exported" "$out" "-x OPENBLAS_NUM_THREADS="
if [[ -d $tmp/r ]]; then fail "dry run created the run folder"; else pass "dry run creates nothing"; fi
if [[ $(id -u) -eq 0 ]]; then
  expect_contains "dry run as root: --allow-run-as-root" "$out" "--allow-run-as-root"
else
  expect_lacks "dry run as a user: no --allow-run-as-root" "$out" "--allow-run-as-root"
fi
cores=$(nproc)
out=$("$launcher" --config="$config" --run_dir="$tmp/r" --servers=$((cores)) --workers=1 \
  --dry-run 2>&1)
expect_contains "more ranks than cores: oversubscribe" "$out" "--oversubscribe"
out=$("$launcher" --config="$config" --run_dir="$tmp/r" --workers=1 --dry-run 2>&1)
expect_contains "servers default to the config's (none)" "$out" "mpirun -np 1 "
expect_lacks "one rank: no oversubscribe" "$out" "--oversubscribe"
expect_contains "one rank: all cores to it" "$out" "OMP_NUM_THREADS=$cores "
out=$(OMP_NUM_THREADS=3 "$launcher" --config="$config" --run_dir="$tmp/r" --dry-run 2>&1)
expect_contains "OMP_NUM_THREADS set by the user wins" "$out" "-x OMP_NUM_THREADS=3 "
printf 'node1 slots=4\nnode2 slots=4 # second\n\n' >"$tmp/hosts"
out=$("$launcher" --config="$config" --run_dir="$tmp/r" --servers=8 --workers=8 \
  --hostfile="$tmp/hosts" --dry-run 2>&1)
expect_contains "hostfile passed to mpirun" "$out" "--hostfile $tmp/hosts"
expect_lacks "hostfile: no oversubscribe" "$out" "--oversubscribe"
sed 's/^name: .*/&\ncluster { num_servers: 2 num_workers: 3 }/' "$src/configs/quickstart.pbtxt" \
  >"$tmp/configs/cluster.pbtxt"
out=$("$launcher" --config="$tmp/configs/cluster.pbtxt" --run_dir="$tmp/r" --dry-run 2>&1)
expect_contains "layout from the config's cluster block" "$out" "-np 5 "
expect_lacks "layout from the config: not repeated as flags" "$out" "--servers="
out=$("$launcher" --config="$tmp/configs/cluster.pbtxt" --run_dir="$tmp/r" --workers=1 \
  --dry-run 2>&1)
expect_contains "--workers overrides the config" "$out" "-np 3 "
expect_contains "--workers passed on, servers left to the config" "$out" \
  "--run_dir=$tmp/r --workers=1"
out=$("$launcher" --config "$config" --run_dir "$tmp/r" --servers 1 --workers 1 --dry-run 2>&1)
expect_contains "flags with separate values" "$out" "-np 2 "
out=$(MOEREC_MPIRUN_ARGS="--mca btl self,tcp" "$launcher" --config="$config" --run_dir="$tmp/r" \
  --dry-run 2>&1)
expect_contains "MOEREC_MPIRUN_ARGS appended" "$out" "--mca btl self,tcp $moerec"

# --- MOEREC_BIN -------------------------------------------------------------------------------
printf '#!/bin/sh\nexit 0\n' >"$tmp/other-moerec"
chmod +x "$tmp/other-moerec"
out=$(MOEREC_BIN=$tmp/other-moerec "$launcher" --config="$config" --run_dir="$tmp/r" --dry-run 2>&1)
expect_contains "MOEREC_BIN picks the binary" "$out" "$tmp/other-moerec train"
out=$(MOEREC_BIN=$tmp/missing "$launcher" --config="$config" --run_dir="$tmp/r" --dry-run 2>&1)
rc=$?
if ((rc != 0)); then pass "missing MOEREC_BIN rejected"; else fail "missing MOEREC_BIN accepted"; fi
expect_contains "missing MOEREC_BIN named" "$out" "$tmp/missing"
out=$(env -u MOEREC_BIN "$launcher" --config="$config" --run_dir="$tmp/r" --dry-run 2>&1)
if [[ -x $src/build/launch/moerec ]]; then
  expect_contains "default binary is build/launch/moerec" "$out" "$src/build/launch/moerec train"
else
  expect_contains "no default binary: points at setup.sh" "$out" "run ./setup.sh"
fi

# --- bad flags --------------------------------------------------------------------------------
bad() {
  local name=$1 needle=$2
  shift 2
  local out rc
  out=$("$launcher" "$@" 2>&1)
  rc=$?
  if [[ $rc -eq 2 && $out == *"$needle"* ]]; then
    pass "rejects $name"
  else
    fail "$name: exit $rc, want 2 with '$needle'; output: $out"
  fi
}
ok_flags=(--config="$config" --run_dir="$tmp/r")
bad "an unknown flag" "unknown argument '--bogus'" "${ok_flags[@]}" --bogus
bad "a stray argument" "unknown argument 'extra'" "${ok_flags[@]}" extra
bad "no --config" "--config=FILE is required" --run_dir="$tmp/r"
bad "no --run_dir" "--run_dir=DIR is required" --config="$config"
bad "a missing config" "no such file: $tmp/nope.pbtxt" --config="$tmp/nope.pbtxt" --run_dir=r
bad "--workers=0" "--workers must be a positive whole number" "${ok_flags[@]}" --workers=0
bad "--workers=two" "--workers must be a positive whole number" "${ok_flags[@]}" --workers=two
bad "--servers=-1" "--servers must be a whole number" "${ok_flags[@]}" --servers=-1
bad "--servers=1.5" "--servers must be a whole number" "${ok_flags[@]}" --servers=1.5
bad "--max-restarts=x" "--max-restarts must be a whole number" "${ok_flags[@]}" --max-restarts=x
bad "--max-restarts without value" "--max-restarts needs a value" "${ok_flags[@]}" --max-restarts
bad "an empty --config=" "--config needs a value" --config= --run_dir=r
bad "a missing hostfile" "--hostfile: no such file" "${ok_flags[@]}" --hostfile="$tmp/none"
bad "--dry-run=1" "--dry-run takes no value" "${ok_flags[@]}" --dry-run=1
out=$(OMP_NUM_THREADS=lots "$launcher" "${ok_flags[@]}" --dry-run 2>&1)
expect_rc "rejects OMP_NUM_THREADS=lots" 2 $?

# --- a real run: 1 server + 1 worker ----------------------------------------------------------
run_dir=$tmp/run
out=$("$launcher" --config="$config" --run_dir="$run_dir" --servers=1 --workers=1 \
  -- --max_steps=20 2>&1)
rc=$?
expect_rc "real run through the launcher" 0 $rc
((rc == 0)) || echo "$out" | tail -n 30
final=$(tail -n 1 "$run_dir/metrics.jsonl" 2>/dev/null)
if python3 -c '
import json, math, sys
f = json.loads(sys.argv[1])
assert f["event"] == "final", f["event"]
assert f["step"] == 20, f["step"]
auc = float(f["mean_test_auc"])
assert math.isfinite(auc) and 0.5 < auc <= 1.0, auc
' "$final" 2>"$tmp/py.err"; then
  pass "real run: final line with step 20 and a numeric mean_test_auc > 0.5"
else
  fail "real run: last metrics line '$final': $(cat "$tmp/py.err")"
fi
expect_contains "real run: launch.log written" "$(cat "$run_dir/launch.log" 2>&1)" \
  "run finished (exit 0) after 0 restart(s)"

# --- restarts ---------------------------------------------------------------------------------
# A fake moerec that fails (exit 3) while its run count is below $FAILS, counting runs in a file.
cat >"$tmp/flaky" <<'EOF'
#!/usr/bin/env bash
# The launcher asks for the run's report after a finished run: recorded apart from the runs.
if [[ $1 == report ]]; then
  echo "$*" >>"$FAKE_DIR/reports"
  exit 0
fi
count_file=$FAKE_DIR/runs
n=$(($(cat "$count_file" 2>/dev/null || echo 0) + 1))
echo "$n" >"$count_file"
echo "$*" >>"$FAKE_DIR/args"
if [[ -n "${FAKE_SLEEP:-}" ]]; then sleep "$FAKE_SLEEP"; fi
((n > FAILS)) && exit 0
exit "${FAKE_RC:-3}"
EOF
chmod +x "$tmp/flaky"
# restart_case NAME FAILS MAX_RESTARTS WANT_RC WANT_RUNS
restart_case() {
  local name=$1 fails=$2 max=$3 want_rc=$4 want_runs=$5
  local dir=$tmp/fake-$name rc runs
  mkdir -p "$dir"
  FAKE_DIR=$dir FAILS=$fails MOEREC_BIN=$tmp/flaky "$launcher" --config="$config" \
    --run_dir="$dir/run" --max-restarts="$max" -- --max_steps=5 >"$dir/out" 2>&1
  rc=$?
  runs=$(cat "$dir/runs" 2>/dev/null || echo 0)
  if [[ $rc == "$want_rc" && $runs == "$want_runs" ]]; then
    pass "restarts, $name: exit $rc after $runs run(s)"
  else
    fail "restarts, $name: exit $rc after $runs run(s), want exit $want_rc after $want_runs"
    tail -n 20 "$dir/out"
  fi
}
restart_case "fails once, 2 allowed" 1 2 0 2
log=$(cat "$tmp/fake-fails once, 2 allowed/run/launch.log" 2>&1)
expect_contains "restarts: the restart logged" "$log" "failed with exit status 3; restart 1 of 2"
expect_lacks "restarts: no extra restart" "$log" "restart 2 of 2"
args=$(sort -u "$tmp/fake-fails once, 2 allowed/args")
expect_contains "restarts: the run's arguments" "$args" \
  "--run_dir=$tmp/fake-fails once, 2 allowed/run --max_steps=5"
if [[ $(wc -l <<<"$args") == 1 ]]; then pass "restarts: the same command each time"; else
  fail "restarts: commands differ: $args"; fi
reports=$(cat "$tmp/fake-fails once, 2 allowed/reports" 2>&1)
if [[ $reports == "report $tmp/fake-fails once, 2 allowed/run" ]]; then
  pass "restarts: the report written once, after the finished run"
else
  fail "restarts: report requests: $reports"
fi
expect_contains "restarts: where the event files are" "$log" "TensorBoard event files: $tmp/fake-fails once, 2 allowed/run/tb"
restart_case "always fails, 2 allowed" 99 2 3 3
restart_case "fails once, none allowed" 1 0 3 1
restart_case "fails twice, 2 allowed" 2 2 0 3

# A signal to the launcher stops the run without a restart.
dir=$tmp/fake-signal
mkdir -p "$dir"
FAKE_DIR=$dir FAILS=0 FAKE_SLEEP=30 MOEREC_BIN=$tmp/flaky "$launcher" --config="$config" \
  --run_dir="$dir/run" --max-restarts=3 >"$dir/out" 2>&1 &
launcher_pid=$!
for _ in $(seq 100); do
  [[ -f $dir/runs ]] && break
  sleep 0.1
done
kill -TERM "$launcher_pid"
start=$SECONDS
wait "$launcher_pid"
rc=$?
runs=$(cat "$dir/runs" 2>/dev/null || echo 0)
if [[ $rc -ne 0 && $runs == 1 && $((SECONDS - start)) -lt 20 ]]; then
  pass "SIGTERM stops the launcher without a restart (exit $rc)"
else
  fail "SIGTERM: exit $rc after $runs run(s) in $((SECONDS - start))s"
  tail -n 20 "$dir/out"
fi

# --- Slurm job scripts, without a cluster -----------------------------------------------------
# Fake srun / scontrol / mpirun on PATH record their arguments; the Slurm environment is faked.
fakes=$tmp/fakebin
mkdir -p "$fakes"
cat >"$fakes/srun" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$FAKE_DIR/srun.calls"
n=$(wc -l <"$FAKE_DIR/srun.calls")
((n > ${FAILS:-0})) && exit 0
exit 4
EOF
cat >"$fakes/scontrol" <<'EOF'
#!/usr/bin/env bash
[[ "$1 $2" == "show hostnames" ]] || exit 1
printf 'n1\nn2\nn3\n'
EOF
cat >"$fakes/mpirun" <<'EOF'
#!/usr/bin/env bash
echo "$*" >>"$FAKE_DIR/mpirun.calls"
EOF
chmod +x "$fakes"/*
slurm_env=(SLURM_JOB_ID=77 SLURM_SUBMIT_DIR="$src" MOEREC_CONFIG="$config" PATH="$fakes:$PATH")

dir=$tmp/sbatch-srun
mkdir -p "$dir"
out=$(env "${slurm_env[@]}" FAKE_DIR="$dir" SLURM_NTASKS=8 SLURM_JOB_NUM_NODES=2 \
  SLURM_JOB_NODELIST="n[1-2]" MOEREC_RUN_DIR="$dir/run" bash "$src/launch/slurm/train.sbatch" \
  --max_steps=9 2>&1)
expect_rc "train.sbatch (fake srun)" 0 $?
expect_contains "train.sbatch: layout printed" "$out" \
  "layout: 6 worker(s) + 2 server(s) spread over the nodes"
calls=$(cat "$dir/srun.calls" 2>/dev/null)
expect_contains "train.sbatch: srun with pmix, cyclic" "$calls" "--mpi=pmix --distribution=cyclic"
expect_contains "train.sbatch: one server per node, args passed" "$calls" \
  "--run_dir=$dir/run --servers=2 --workers=6 --max_steps=9"
out=$(env "${slurm_env[@]}" FAKE_DIR="$dir" SLURM_NTASKS=3 MOEREC_SERVERS=3 \
  bash "$src/launch/slurm/train.sbatch" 2>&1)
expect_rc "train.sbatch: no worker left" 2 $?
expect_contains "train.sbatch: no worker left, told" "$out" "leave no worker"
dir=$tmp/sbatch-srun-restart
mkdir -p "$dir"
out=$(env "${slurm_env[@]}" FAKE_DIR="$dir" FAILS=1 SLURM_NTASKS=3 SLURM_JOB_NUM_NODES=1 \
  MOEREC_MAX_RESTARTS=1 MOEREC_RUN_DIR="$dir/run" bash "$src/launch/slurm/train.sbatch" 2>&1)
expect_rc "train.sbatch: MOEREC_MAX_RESTARTS=1 after one failure" 0 $?
expect_contains "train.sbatch: one server on one node" "$(cat "$dir/srun.calls")" \
  "--servers=1 --workers=2"
runs=$(wc -l <"$dir/srun.calls")
if ((runs == 2)); then pass "train.sbatch: srun ran twice"; else fail "train.sbatch: srun ran $runs time(s), want 2"; fi

dir=$tmp/sbatch-mpirun
mkdir -p "$dir"
out=$(env "${slurm_env[@]}" FAKE_DIR="$dir" MOEREC_MPIRUN=mpirun SLURM_NTASKS=5 \
  SLURM_JOB_NUM_NODES=3 SLURM_JOB_NODELIST="n[1-3]" SLURM_TASKS_PER_NODE="2(x2),1" \
  MOEREC_RUN_DIR="$dir/run" bash "$src/launch/slurm/train_mpirun.sbatch" --max_steps=4 2>&1)
expect_rc "train_mpirun.sbatch (fake mpirun)" 0 $?
expect_contains "train_mpirun.sbatch: hostfile from Slurm's hostlist" \
  "$(cat "$dir/run/hostfile.77" 2>&1)" $'n1 slots=2\nn2 slots=2\nn3 slots=1'
calls=$(cat "$dir/mpirun.calls" 2>/dev/null)
expect_contains "train_mpirun.sbatch: mpirun -np and hostfile" "$calls" \
  "-np 5 --hostfile $dir/run/hostfile.77"
expect_contains "train_mpirun.sbatch: ranks round-robin over nodes" "$calls" "--map-by node"
expect_contains "train_mpirun.sbatch: one server per node, args passed" "$calls" \
  "--servers=3 --workers=2 --max_steps=4"

if ((failures)); then
  echo "launcher_test: $failures check(s) failed"
  exit 1
fi
echo "launcher_test: all checks passed"
