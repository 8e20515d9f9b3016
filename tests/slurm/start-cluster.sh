#!/usr/bin/env bash
# A one-node SLURM cluster on localhost for the tests: tests/slurm/start-cluster.sh DIR
#
# Writes DIR/slurm.conf and DIR/gres.conf (the node has the machine's CPUs, most of its memory and one
# fake GPU gres, so GPU jobs are scheduled one at a time whatever the hardware), starts
# a private munged (own key and socket in DIR), slurmctld and slurmd, and waits until the node is idle.
# The daemons' pids are in DIR/pids; tests/slurm/stop-cluster.sh DIR stops exactly those.
#
# Clients find the cluster with SLURM_CONF=DIR/slurm.conf (DIR/env sets it). The srun that a Snakemake
# SLURM job starts inside its allocation runs with every SLURM_* variable removed, SLURM_CONF included, and
# then looks in /etc/slurm and in /run/slurm/conf (where a "configless" slurmd keeps the config it got
# from slurmctld). So this script links /run/slurm/conf to DIR, as such a slurmd would (configless mode
# itself cannot be used: slurmd would need the default munge socket to fetch its config). It refuses to
# run where /etc/slurm/slurm.conf exists, or /run/slurm/conf belongs to a real node or a running test
# cluster; stop-cluster.sh removes the link again.
#
# Needs root (slurmd starts job steps as the submitting user), munged, slurmctld, slurmd, sinfo.
# Ports: SLURM_TEST_CTLD_PORT (default 6817) and SLURM_TEST_SLURMD_PORT (default 6818).
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
mkdir -p "$1"
DIR=$(cd "$1" && pwd)
CTLD_PORT=${SLURM_TEST_CTLD_PORT:-6817}
SLURMD_PORT=${SLURM_TEST_SLURMD_PORT:-6818}
TIMEOUT=${SLURM_TEST_START_TIMEOUT:-60}

for tool in munged mungekey slurmctld slurmd sinfo scontrol; do
    command -v "$tool" >/dev/null || { echo "start-cluster: $tool not found" >&2; exit 3; }
done
if [[ $(id -u) -ne 0 ]]; then
    echo "start-cluster: must run as root (slurmd launches jobs as their user)" >&2
    exit 3
fi
if [[ -e /etc/slurm/slurm.conf ]]; then
    echo "start-cluster: /etc/slurm/slurm.conf exists; job steps would use that cluster" >&2
    exit 3
fi
if [[ -L /run/slurm/conf ]]; then
    # Left by an earlier test cluster: replaced unless that cluster's slurmctld still runs.
    old=$(readlink /run/slurm/conf)
    old_ctld=$(awk '$1 == "slurmctld" {print $2}' "$old/pids" 2>/dev/null || true)
    if [[ $old != "$DIR" && -n $old_ctld ]] && kill -0 "$old_ctld" 2>/dev/null; then
        echo "start-cluster: the test cluster in $old is running; stop it first" >&2
        exit 3
    fi
elif [[ -e /run/slurm/conf ]]; then
    echo "start-cluster: /run/slurm/conf exists (a configless SLURM node); not replacing it" >&2
    exit 3
fi

mkdir -p "$DIR"/{munge,state,spool,log}
chmod 700 "$DIR/munge"
: >"$DIR/pids"

cpus=$(nproc)
# Leave a quarter of the memory to the system; slurmd drains a node that has less than RealMemory.
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024 * 0.75)}' /proc/meminfo)

cat >"$DIR/slurm.conf" <<EOF
# Written by tests/slurm/start-cluster.sh: a one-node test cluster on localhost.
ClusterName=transfer-study-test
SlurmctldHost=localhost
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$DIR/munge/munge.socket
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups, no accounting database: squeue and scontrol are the only job records.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# One line per finished job (its times and state) for the tests, since there is no sacct.
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
GresTypes=gpu
ReturnToService=2
# Finished jobs stay visible to squeue and scontrol for an hour (Snakemake polls squeue; tests read them).
MinJobAge=3600
KillWait=5
# Backfill often: a CPU job queued behind a GPU job waiting for the one GPU starts within seconds.
SchedulerParameters=sched_interval=2,bf_interval=1
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb Gres=gpu:1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF

# One GPU that SLURM counts and allocates. slurmd counts GPUs by their device files; /dev/null stands in
# for one (no cgroups here, so nothing is bound or hidden; jobs see CUDA_VISIBLE_DEVICES=0).
cat >"$DIR/gres.conf" <<EOF
NodeName=localhost Name=gpu File=/dev/null
EOF

cat >"$DIR/env" <<EOF
export SLURM_CONF=$DIR/slurm.conf
EOF
export SLURM_CONF=$DIR/slurm.conf

record() { echo "$1 $(cat "$2")" >>"$DIR/pids"; }

wait_for_file() {
    local path=$1 deadline=$((SECONDS + TIMEOUT))
    until [[ -s $path ]]; do
        if ((SECONDS > deadline)); then
            echo "start-cluster: $path did not appear; logs in $DIR/log" >&2
            return 1
        fi
        sleep 0.2
    done
}

# munge: a key of its own and a socket in DIR, so the system's munged (if any) is left alone.
mungekey --create --keyfile="$DIR/munge/munge.key" --force
chmod 400 "$DIR/munge/munge.key"
munged --force \
    --key-file="$DIR/munge/munge.key" \
    --socket="$DIR/munge/munge.socket" \
    --pid-file="$DIR/munge/munged.pid" \
    --log-file="$DIR/log/munged.log" \
    --seed-file="$DIR/munge/munged.seed"
wait_for_file "$DIR/munge/munged.pid"
record munged "$DIR/munge/munged.pid"

slurmctld -f "$DIR/slurm.conf" -L "$DIR/log/slurmctld.log"
wait_for_file "$DIR/slurmctld.pid"
record slurmctld "$DIR/slurmctld.pid"

# Wait for slurmctld to answer before slurmd registers with it.
deadline=$((SECONDS + TIMEOUT))
until scontrol ping 2>/dev/null | grep -q "is UP"; do
    if ((SECONDS > deadline)); then
        echo "start-cluster: slurmctld does not answer; see $DIR/log/slurmctld.log" >&2
        exit 1
    fi
    sleep 0.5
done

mkdir -p /run/slurm
ln -sfn "$DIR" /run/slurm/conf
slurmd -N localhost -f "$DIR/slurm.conf" -L "$DIR/log/slurmd.log"
wait_for_file "$DIR/slurmd.pid"
record slurmd "$DIR/slurmd.pid"

deadline=$((SECONDS + TIMEOUT))
until [[ $(sinfo -h -n localhost -o %t 2>/dev/null) == idle ]]; do
    if ((SECONDS > deadline)); then
        echo "start-cluster: node not idle: $(sinfo -h -N -o '%N %t %E' 2>&1)" >&2
        tail -n 20 "$DIR/log/slurmd.log" "$DIR/log/slurmctld.log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
echo "start-cluster: SLURM cluster up; export SLURM_CONF=$DIR/slurm.conf"
sinfo -N -o "%N %t %c %m %G"
