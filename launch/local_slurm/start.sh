#!/usr/bin/env bash
# Brings up a single-node Slurm cluster on this machine (munged, slurmctld, slurmd from Debian's
# munge, slurmctld, slurmd and slurm-client packages) for tests and demos. Needs root; no systemd.
#
#   launch/local_slurm/start.sh [STATE_DIR]      (default: $MOEREC_SLURM_DIR or /tmp/moerec-slurm)
#   export SLURM_CONF=STATE_DIR/slurm.conf       (or: source STATE_DIR/env.sh) before sbatch/sinfo
#   launch/local_slurm/stop.sh [STATE_DIR]
#
# Idempotent: what already runs is kept, what is missing is started; it returns once `sinfo`
# shows the node idle. Everything Slurm writes (config, state, spool, logs, jobcomp.log with
# every finished job's state) lives in STATE_DIR; munge uses its system paths (/etc/munge,
# /run/munge), creating a key when there is none.
#
# Environment:
#   MOEREC_SLURM_CPUS     CPUs the node claims (default: 8, or the real count when larger); more
#                         than exist is allowed so that small multi-rank jobs fit a laptop
#   MOEREC_SLURM_PORT     slurmctld's port; slurmd takes the next one (default 6817)
#   MOEREC_SLURM_TIMEOUT  seconds to wait for the node to become idle (default 60)
# Exit status: 0 when the node is idle; 1 when something failed to start (its log is printed);
# 2 when not root; 3 when the Slurm or munge packages are missing.
set -euo pipefail

readonly prog="local_slurm/start"
state_dir=${1:-${MOEREC_SLURM_DIR:-/tmp/moerec-slurm}}

say() { echo "$prog: $*"; }
fail() {
  echo "$prog: $*" >&2
  exit 1
}

if [[ $(id -u) -ne 0 ]]; then
  echo "$prog: must run as root (the daemons switch users and own system paths)" >&2
  exit 2
fi
missing=()
for tool in munged munge unmunge slurmctld slurmd sbatch srun sinfo scontrol; do
  command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "$prog: missing ${missing[*]}: install munge slurmctld slurmd slurm-client" \
    "(./setup.sh does)" >&2
  exit 3
fi
export PATH=$PATH:/usr/sbin:/sbin

mkdir -p "$state_dir"
state_dir=$(realpath "$state_dir")
conf=$state_dir/slurm.conf
export SLURM_CONF=$conf

# --- munge ----------------------------------------------------------------------------------
munge_works() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_works; then
  for d in /etc/munge /var/lib/munge /var/log/munge /run/munge; do
    mkdir -p "$d"
    chown munge:munge "$d"
  done
  chmod 0700 /etc/munge /var/lib/munge /var/log/munge
  chmod 0755 /run/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    say "creating /etc/munge/munge.key"
    mungekey --create --force --keyfile=/etc/munge/munge.key
  fi
  chown munge:munge /etc/munge/munge.key
  say "starting munged"
  # A socket left behind by a munged that died keeps a new one from starting.
  rm -f /run/munge/munge.socket.2 /run/munge/munge.socket.2.lock
  runuser -u munge -- munged
  for _ in $(seq 50); do
    munge_works && break
    sleep 0.1
  done
  munge_works || fail "munged does not answer; see /var/log/munge/munged.log"
  touch "$state_dir/munged.started"
fi

# --- slurm.conf -----------------------------------------------------------------------------
node=$(hostname -s)
cpus=${MOEREC_SLURM_CPUS:-$(($(nproc) > 8 ? $(nproc) : 8))}
port=${MOEREC_SLURM_PORT:-6817}
mkdir -p "$state_dir/state" "$state_dir/spool"
new_conf=$(
  cat <<EOF
# Written by launch/local_slurm/start.sh: a one-node cluster on this machine.
ClusterName=moerec-local
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$state_dir/state
SlurmdSpoolDir=$state_dir/spool
SlurmctldPidFile=$state_dir/slurmctld.pid
SlurmdPidFile=$state_dir/slurmd.pid
SlurmctldLogFile=$state_dir/slurmctld.log
SlurmdLogFile=$state_dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups: processes are tracked through /proc, tasks are not bound.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# The node may claim more CPUs than the machine has.
SlurmdParameters=config_overrides
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$state_dir/jobcomp.log
MinJobAge=3600
KillWait=5
InactiveLimit=0
NodeName=$node NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
)
pid_alive() { [[ -s $1 ]] && kill -0 "$(cat "$1")" 2>/dev/null; }
if [[ ! -f $conf ]] || [[ "$(cat "$conf")" != "$new_conf" ]]; then
  if pid_alive "$state_dir/slurmctld.pid" || pid_alive "$state_dir/slurmd.pid"; then
    say "configuration changed: restarting the daemons"
    "$(dirname "${BASH_SOURCE[0]}")/stop.sh" "$state_dir" --keep-munge
  fi
  printf '%s\n' "$new_conf" >"$conf"
fi
printf 'export SLURM_CONF=%q\n' "$conf" >"$state_dir/env.sh"

# --- daemons --------------------------------------------------------------------------------
show_log() {
  echo "--- last lines of $1:" >&2
  tail -n 20 "$1" >&2 2>/dev/null || true
}
if ! pid_alive "$state_dir/slurmctld.pid"; then
  say "starting slurmctld"
  slurmctld -f "$conf" || { show_log "$state_dir/slurmctld.log"; fail "slurmctld failed to start"; }
fi
for _ in $(seq 100); do
  scontrol ping 2>/dev/null | grep -q "is UP" && break
  sleep 0.2
done
scontrol ping 2>/dev/null | grep -q "is UP" ||
  { show_log "$state_dir/slurmctld.log"; fail "slurmctld does not answer"; }
if ! pid_alive "$state_dir/slurmd.pid"; then
  say "starting slurmd"
  slurmd -f "$conf" || { show_log "$state_dir/slurmd.log"; fail "slurmd failed to start"; }
fi

# --- wait for the node ----------------------------------------------------------------------
timeout=${MOEREC_SLURM_TIMEOUT:-60}
deadline=$((SECONDS + timeout))
node_state=""
while ((SECONDS < deadline)); do
  node_state=$(sinfo -h -N -n "$node" -o %T 2>/dev/null | head -n 1)
  case "$node_state" in
    idle | mixed | allocated | completing) break ;;
    down* | drain*)
      # Left over from an earlier run whose daemons were killed.
      scontrol update nodename="$node" state=resume >/dev/null 2>&1 || true
      ;;
  esac
  sleep 0.5
done
case "$node_state" in
  idle | mixed | allocated | completing) ;;
  *)
    show_log "$state_dir/slurmd.log"
    show_log "$state_dir/slurmctld.log"
    fail "node $node is '${node_state:-unknown}' after ${timeout}s, not idle"
    ;;
esac
say "node $node is $node_state with $cpus CPUs (partition 'local')"
say "use it with: export SLURM_CONF=$conf   (or: source $state_dir/env.sh)"
