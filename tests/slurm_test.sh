#!/usr/bin/env bash
# End-to-end Slurm test: brings up the single-node cluster of launch/local_slurm/start.sh on this
# machine (munged, slurmctld, slurmd), submits the shipped job scripts with a tiny quickstart run
# (3 tasks: 1 server + 2 workers, 30 steps) and checks each job's final state and metrics:
#   launch/slurm/train.sbatch          srun --mpi=pmix
#   launch/slurm/train_mpirun.sbatch   mpirun inside the allocation
#   train.sbatch with MOEREC_SERVERS=3 must fail (no worker left) with exit code 2
# A cluster this test started is stopped at the end; one that already ran is left running.
#   tests/slurm_test.sh BUILD_DIR
# Exit status: 0 passed, 1 failed, 77 skipped (not root, or the Slurm/munge packages missing).
set -uo pipefail

readonly skip=77
build_dir=$(realpath "${1:?usage: slurm_test.sh BUILD_DIR}")
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
moerec=$build_dir/launch/moerec
export PATH=$PATH:/usr/sbin:/sbin

if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: slurm_test brings up munged, slurmctld and slurmd and must run as root"
  exit $skip
fi
missing=()
for tool in munged slurmctld slurmd sbatch srun sinfo scontrol squeue; do
  command -v "$tool" >/dev/null || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "SKIP: slurm_test needs ${missing[*]}: install munge slurmctld slurmd slurm-client" \
    "(./setup.sh does)"
  exit $skip
fi
if [[ ! -x $moerec ]]; then
  echo "FAIL: no binary at $moerec"
  exit 1
fi

state_dir=${MOEREC_SLURM_DIR:-/tmp/moerec-slurm}
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
was_running=0
if pid_alive "$state_dir/slurmctld.pid" && pid_alive "$state_dir/slurmd.pid"; then was_running=1; fi
tmp=$(mktemp -d /tmp/moerec-slurm-test.XXXXXX)
cleanup() {
  if ((!was_running)); then "$src/launch/local_slurm/stop.sh" "$state_dir" >/dev/null 2>&1; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! "$src/launch/local_slurm/start.sh" "$state_dir"; then
  echo "FAIL: the local Slurm cluster did not come up"
  exit 1
fi
export SLURM_CONF=$state_dir/slurm.conf
node=$(hostname -s)

failures=0
pass() { echo "ok: $*"; }
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

# The quickstart config, copied so that its synthetic data lands inside $tmp.
config=$tmp/configs/quickstart.pbtxt
mkdir -p "$tmp/configs"
cp "$src/configs/quickstart.pbtxt" "$config"
# Generated up front: two jobs generating the same dataset at once would race.
if ! "$moerec" gen --config="$config" >"$tmp/gen.out" 2>&1; then
  cat "$tmp/gen.out"
  echo "FAIL: moerec gen --config=$config"
  exit 1
fi
export MOEREC_BIN=$moerec MOEREC_CONFIG=$config
unset MOEREC_SERVERS MOEREC_MAX_RESTARTS MOEREC_MPIRUN_ARGS OMP_NUM_THREADS

# submit NAME SCRIPT [ENV=VALUE...] -- [moerec flags]: prints the job id.
submit() {
  local name=$1 script=$2
  shift 2
  local envs=()
  while (($#)) && [[ $1 != -- ]]; do
    envs+=("$1")
    shift
  done
  shift
  (cd "$src" && env MOEREC_RUN_DIR="$tmp/$name" ${envs[@]+"${envs[@]}"} \
    sbatch --parsable --job-name="moerec-test-$name" --nodes=1 --ntasks=3 --cpus-per-task=1 \
    --time=5 --output="$tmp/$name.out" "$script" "$@")
}

srun_job=$(submit srun launch/slurm/train.sbatch -- --max_steps=30) ||
  fail "sbatch train.sbatch refused the job"
mpirun_job=$(submit mpirun launch/slurm/train_mpirun.sbatch -- --max_steps=30) ||
  fail "sbatch train_mpirun.sbatch refused the job"
bad_job=$(submit bad launch/slurm/train.sbatch MOEREC_SERVERS=3 -- --max_steps=30) ||
  fail "sbatch refused the job meant to fail"
echo "submitted jobs: srun=$srun_job mpirun=$mpirun_job bad=$bad_job"

# Waits until every job has ended (at most 150 s); cancels what is left after that.
deadline=$((SECONDS + 150))
jobs=("$srun_job" "$mpirun_job" "$bad_job")
declare -A job_state job_exit
for job in "${jobs[@]}"; do
  [[ -n $job ]] || continue
  while true; do
    line=$(scontrol show job -o "$job" 2>/dev/null)
    state=$(grep -o 'JobState=[A-Z_]*' <<<"$line" | cut -d= -f2)
    case "$state" in
      PENDING | CONFIGURING | RUNNING | COMPLETING | SUSPENDED | REQUEUED | "") ;;
      *) break ;;
    esac
    if ((SECONDS >= deadline)); then
      state="TIMEOUT(test)"
      scancel "$job" 2>/dev/null
      squeue
      tail -n 20 "$state_dir/slurmd.log"
      break
    fi
    sleep 1
  done
  job_state[$job]=$state
  job_exit[$job]=$(grep -o ' ExitCode=[0-9:]*' <<<"$line" | cut -d= -f2)
done

# check_job NAME JOB WANT_STATE WANT_EXIT: job state and the exit code Slurm recorded.
check_job() {
  local name=$1 job=$2 want_state=$3 want_exit=$4
  if [[ -z $job ]]; then
    fail "$name: no job was submitted"
    return 1
  fi
  if [[ ${job_state[$job]:-} == "$want_state" && ${job_exit[$job]:-} == "$want_exit" ]]; then
    pass "$name: job $job $want_state, exit code $want_exit"
    return 0
  fi
  fail "$name: job $job is ${job_state[$job]:-unknown} with exit code ${job_exit[$job]:-?}," \
    "want $want_state with $want_exit"
  echo "--- $tmp/$name.out:"
  tail -n 40 "$tmp/$name.out" 2>&1
  return 1
}
# check_output NAME NEEDLE: the job's output holds NEEDLE.
check_output() {
  if grep -qF -- "$2" "$tmp/$1.out" 2>/dev/null; then
    pass "$1: output has '$2'"
  else
    fail "$1: output lacks '$2'"
  fi
}
# check_metrics NAME: metrics.jsonl ends with the final line of a 30-step run, AUC numeric.
check_metrics() {
  local final
  final=$(tail -n 1 "$tmp/$1/metrics.jsonl" 2>/dev/null)
  if python3 -c '
import json, math, sys
f = json.loads(sys.argv[1])
assert f["event"] == "final", "event " + f["event"]
assert f["step"] == 30, "step %s" % f["step"]
auc = float(f["mean_test_auc"])
assert math.isfinite(auc) and 0.5 < auc <= 1.0, "mean_test_auc %s" % auc
' "$final" 2>"$tmp/py.err"; then
    pass "$1: metrics.jsonl ends with the final line of 30 steps, numeric mean_test_auc"
  else
    fail "$1: last metrics line '$final': $(tail -n 1 "$tmp/py.err")"
  fi
}

layout="layout: 2 worker(s) + 1 server(s) spread over the nodes"
check_job srun "$srun_job" COMPLETED 0:0
check_output srun "(srun --mpi=pmix): 3 task(s) on 1 node(s) [$node]"
check_output srun "$layout"
# Printed by the server rank: the world really had 3 ranks with these roles.
check_output srun "server 0 of 1 serving 2 workers"
check_metrics srun

check_job mpirun "$mpirun_job" COMPLETED 0:0
check_output mpirun "(mpirun inside the allocation): 3 task(s) on 1 node(s) [$node]"
check_output mpirun "$layout"
check_output mpirun "hostfile: $tmp/mpirun/hostfile.$mpirun_job ($node:3)"
check_output mpirun "server 0 of 1 serving 2 workers"
check_output mpirun "moerec-launch: run finished (exit 0)"
check_metrics mpirun

check_job bad "$bad_job" FAILED 2:0
check_output bad "leave no worker after 3 server(s)"

if ((failures)); then
  echo "slurm_test: $failures check(s) failed (cluster logs: $state_dir)"
  exit 1
fi
echo "slurm_test: all checks passed"
