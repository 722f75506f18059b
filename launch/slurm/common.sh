# shellcheck shell=bash
# Shared by launch/slurm/*.sbatch (sourced, not run): finds the repository, the binary, the config
# and the run folder, and derives the job's layout from Slurm's environment.
#
# Sets: moerec_root, moerec_bin, moerec_config, moerec_run_dir, moerec_ntasks, moerec_nodes,
# moerec_servers, moerec_workers, and exports OMP_NUM_THREADS / OPENBLAS_NUM_THREADS.
# Environment it reads (all optional):
#   MOEREC_HOME        the repository (default: the folder sbatch was called from)
#   MOEREC_BIN         the binary (default: $MOEREC_HOME/build/launch/moerec)
#   MOEREC_CONFIG      job config (default: $MOEREC_HOME/configs/quickstart.pbtxt)
#   MOEREC_RUN_DIR     run folder (default: $MOEREC_HOME/runs/slurm-$SLURM_JOB_ID)
#   MOEREC_SERVERS     parameter-server ranks (default: 1 on one node, one per node on several,
#                      0 when the job has a single task); workers are the remaining tasks
#   OMP_NUM_THREADS    compute threads per rank (default: --cpus-per-task)

moerec_die() {
  echo "moerec job: $*" >&2
  exit 2
}

[[ -n "${SLURM_JOB_ID:-}" && -n "${SLURM_NTASKS:-}" ]] ||
  moerec_die "not inside a Slurm allocation with tasks: submit with sbatch --ntasks=N"

moerec_root=${MOEREC_HOME:-${SLURM_SUBMIT_DIR:-$PWD}}
[[ -f $moerec_root/launch/slurm/common.sh ]] ||
  moerec_die "$moerec_root is not the moerec repository: submit from its root or set MOEREC_HOME"
moerec_root=$(realpath "$moerec_root")
moerec_bin=${MOEREC_BIN:-$moerec_root/build/launch/moerec}
[[ -x $moerec_bin ]] ||
  moerec_die "no moerec binary at $moerec_bin: run ./setup.sh in $moerec_root (or set MOEREC_BIN)"
moerec_config=${MOEREC_CONFIG:-$moerec_root/configs/quickstart.pbtxt}
[[ -f $moerec_config ]] || moerec_die "MOEREC_CONFIG: no such file: $moerec_config"
moerec_config=$(realpath "$moerec_config")
moerec_run_dir=$(realpath -m "${MOEREC_RUN_DIR:-$moerec_root/runs/slurm-$SLURM_JOB_ID}")

moerec_ntasks=$SLURM_NTASKS
moerec_nodes=${SLURM_JOB_NUM_NODES:-${SLURM_NNODES:-1}}
if [[ -n "${MOEREC_SERVERS:-}" ]]; then
  [[ $MOEREC_SERVERS =~ ^[0-9]+$ ]] ||
    moerec_die "MOEREC_SERVERS must be a whole number >= 0, got '$MOEREC_SERVERS'"
  moerec_servers=$((10#$MOEREC_SERVERS))
elif ((moerec_ntasks == 1)); then
  moerec_servers=0
elif ((moerec_nodes > 1)); then
  moerec_servers=$moerec_nodes
else
  moerec_servers=1
fi
moerec_workers=$((moerec_ntasks - moerec_servers))
((moerec_workers >= 1)) ||
  moerec_die "$moerec_ntasks task(s) leave no worker after $moerec_servers server(s):" \
    "ask for more tasks (sbatch --ntasks) or fewer servers (MOEREC_SERVERS)"

export OMP_NUM_THREADS=${OMP_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-$OMP_NUM_THREADS}

# Prints the layout the job chose.
moerec_print_layout() {
  local how=$1
  echo "moerec job $SLURM_JOB_ID ($how): $moerec_ntasks task(s) on $moerec_nodes node(s)" \
    "[${SLURM_JOB_NODELIST:-?}]"
  local servers="no servers (tables inside the worker)"
  if ((moerec_servers > 0)); then
    servers="$moerec_servers server(s) spread over the nodes"
  fi
  # Which rank plays which role is decided by moerec from the nodes MPI reports; the chief logs
  # it as "layout: N nodes; workers on ranks ...; servers on ranks ...".
  echo "  layout: $moerec_workers worker(s) + $servers, $OMP_NUM_THREADS thread(s) per rank"
  echo "  config: $moerec_config"
  echo "  run_dir: $moerec_run_dir"
  echo "  binary: $moerec_bin"
}
