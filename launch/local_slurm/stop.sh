#!/usr/bin/env bash
# Stops the single-node Slurm cluster of launch/local_slurm/start.sh: cancels its jobs, then ends
# slurmd and slurmctld (by the pid files in STATE_DIR) and munged when start.sh started it.
#
#   launch/local_slurm/stop.sh [STATE_DIR] [--keep-munge] [--purge]
#
# STATE_DIR defaults to $MOEREC_SLURM_DIR or /tmp/moerec-slurm. --keep-munge leaves munged
# running; --purge also deletes STATE_DIR (config, job state, logs). Stopping a cluster that does
# not run is not an error.
set -euo pipefail

readonly prog="local_slurm/stop"
state_dir="" keep_munge=0 purge=0
for arg in "$@"; do
  case "$arg" in
    --keep-munge) keep_munge=1 ;;
    --purge) purge=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    -*)
      echo "$prog: unknown flag '$arg' (allowed: --keep-munge, --purge)" >&2
      exit 2
      ;;
    *) state_dir=$arg ;;
  esac
done
state_dir=${state_dir:-${MOEREC_SLURM_DIR:-/tmp/moerec-slurm}}
export PATH=$PATH:/usr/sbin:/sbin
if [[ ! -d $state_dir ]]; then
  echo "$prog: $state_dir does not exist; nothing to stop"
  exit 0
fi
state_dir=$(realpath "$state_dir")
export SLURM_CONF=$state_dir/slurm.conf

# Sends TERM to the process in a pid file, waits up to 10 s, then KILL.
stop_pidfile() {
  local name=$1 pidfile=$2 pid
  [[ -s $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    echo "$prog: stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  rm -f "$pidfile"
}

if [[ -f $SLURM_CONF ]] && [[ -s $state_dir/slurmctld.pid ]] &&
  kill -0 "$(cat "$state_dir/slurmctld.pid")" 2>/dev/null; then
  # Jobs first, so that their steps end through slurmd rather than being orphaned.
  if [[ -n "$(squeue -h -o %i 2>/dev/null)" ]]; then
    echo "$prog: cancelling jobs: $(squeue -h -o %i | tr '\n' ' ')"
    scancel --partition=local 2>/dev/null || true
    for _ in $(seq 50); do
      [[ -z "$(squeue -h -o %i 2>/dev/null)" ]] && break
      sleep 0.2
    done
  fi
fi
stop_pidfile slurmd "$state_dir/slurmd.pid"
stop_pidfile slurmctld "$state_dir/slurmctld.pid"
if ((!keep_munge)) && [[ -f $state_dir/munged.started ]]; then
  stop_pidfile munged /run/munge/munged.pid
  rm -f "$state_dir/munged.started"
fi
if ((purge)); then
  rm -rf "$state_dir"
  echo "$prog: removed $state_dir"
fi
echo "$prog: stopped"
