# cluster.bash - starts a one-node Slurm cluster (munged, slurmctld, slurmd)
# inside a test's temp folder and stops it again by PID (sourced by the
# tests/cli/slurm_*.sh tests).  Needs root and the Debian packages slurmctld,
# slurmd, slurm-client and munge (scripts/install-deps.sh --slurm).
#
#   cluster_can_start        prints why not and returns 1 when it cannot
#   cluster_start DIR        starts everything under DIR; exports SLURM_CONF
#   cluster_stop             stops the daemons it started (also on EXIT)

cluster_can_start() {
  if [ "$(id -u)" -ne 0 ]; then echo "not root (slurmd and munged need it)"; return 1; fi
  local b
  for b in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo runuser; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
      { echo "$b is not installed (scripts/install-deps.sh --slurm)"; return 1; }
  done
  id munge >/dev/null 2>&1 || { echo "there is no 'munge' user (package munge)"; return 1; }
}

CLUSTER_PIDS=()
cluster_stop() {
  local p i
  for p in "${CLUSTER_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for i in $(seq 1 50); do  # up to 5 s for a clean exit, then KILL
    local alive=0
    for p in "${CLUSTER_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "${CLUSTER_PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  CLUSTER_PIDS=()
}

# waits (up to 30 s: a loaded machine starts daemons slowly) until the PID
# file $1 holds the PID of a live process; adds it.  $2: a log to show when not.
_cluster_pid() {
  local i p
  for i in $(seq 1 300); do
    if [ -s "$1" ]; then p=$(cat "$1"); kill -0 "$p" 2>/dev/null && { CLUSTER_PIDS+=("$p"); return 0; }; fi
    sleep 0.1
  done
  echo "cluster: no process wrote $1" >&2
  [ -n "${2:-}" ] && tail -5 "$2" >&2
  return 1
}

cluster_start() {
  local d=$1 port=$(( 20000 + ($$ % 20000) ))
  PATH=$PATH:/usr/sbin
  mkdir -p "$d/munge" "$d/state" "$d/spool" "$d/log"
  # a private munged with its own key and socket: nothing outside $d is used
  mungekey --create --keyfile="$d/munge/munge.key" --force >/dev/null 2>&1 || { echo "mungekey failed" >&2; return 1; }
  mkdir -p "$d/munge-run"
  chown -R munge:munge "$d/munge" "$d/munge-run"
  chmod 700 "$d/munge"
  chmod 755 "$d/munge-run" "$d"
  chmod go+x "$(dirname "$d")"  # the munge user passes through to its folders
  runuser -u munge -- munged --socket="$d/munge-run/sock" --key-file="$d/munge/munge.key" \
    --pid-file="$d/munge-run/munged.pid" --log-file="$d/munge/munged.log" \
    --seed-file="$d/munge/seed" || { echo "munged failed: $(cat "$d/munge/munged.log" 2>/dev/null)" >&2; return 1; }
  _cluster_pid "$d/munge-run/munged.pid" || return 1
  local mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
  cat > "$d/slurm.conf" <<CONF
ClusterName=lmdifftest
SlurmctldHost=localhost
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$d/munge-run/sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
ReturnToService=2
KillWait=5
MinJobAge=300
StateSaveLocation=$d/state
SlurmdSpoolDir=$d/spool
SlurmctldPidFile=$d/slurmctld.pid
SlurmdPidFile=$d/slurmd.pid
SlurmctldLogFile=$d/log/slurmctld.log
SlurmdLogFile=$d/log/slurmd.log
NodeName=localhost CPUs=$(nproc) RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF=$d/slurm.conf
  slurmctld -f "$SLURM_CONF" -i || { echo "slurmctld failed" >&2; return 1; }
  _cluster_pid "$d/slurmctld.pid" "$d/log/slurmctld.log" || return 1
  slurmd -f "$SLURM_CONF" -N localhost || { echo "slurmd failed" >&2; return 1; }
  _cluster_pid "$d/slurmd.pid" "$d/log/slurmd.log" || return 1
  local i
  for i in $(seq 1 100); do  # idle within seconds
    sinfo -h -N -o %t 2>/dev/null | grep -q '^idle' && return 0
    sleep 0.2
  done
  echo "cluster: the node is not idle after 20 s: $(sinfo -N 2>&1)" >&2
  tail -5 "$d/log/slurmctld.log" "$d/log/slurmd.log" >&2
  return 1
}
