#!/usr/bin/env bash
# Stops the test cluster that tests/slurm/start-cluster.sh DIR started: cancels its jobs, then ends
# exactly the daemons whose pids it recorded in DIR/pids, and removes the /run/slurm/conf link that its
# slurmd made. Safe to run more than once, or after a start that failed half-way.
set -uo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$(cd "$1" && pwd) || exit 1
export SLURM_CONF=$DIR/slurm.conf

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }
pid_of() { awk -v name="$1" '$1 == name {print $2}' "$DIR/pids" 2>/dev/null | tail -n 1; }

# Jobs first, while slurmctld and slurmd can still end their processes.
if alive "$(pid_of slurmctld)"; then
    jobs=$(squeue -h -o %A 2>/dev/null)
    if [[ -n $jobs ]]; then
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null
        for _ in $(seq 40); do
            [[ -z $(squeue -h -o %A 2>/dev/null) ]] && break
            sleep 0.5
        done
    fi
fi

for name in slurmd slurmctld munged; do
    pid=$(pid_of "$name")
    alive "$pid" || continue
    kill "$pid"
    for _ in $(seq 50); do
        alive "$pid" || break
        sleep 0.2
    done
    if alive "$pid"; then
        echo "stop-cluster: $name ($pid) still running, sending SIGKILL" >&2
        kill -9 "$pid" 2>/dev/null
    fi
done

# slurmd's configless link points into DIR; drop it so no later client finds a dead cluster.
link=/run/slurm/conf
if [[ -L $link && $(readlink "$link") == "$DIR" ]]; then
    rm -f "$link"
fi
exit 0
