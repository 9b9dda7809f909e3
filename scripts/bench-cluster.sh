#!/usr/bin/env bash
# Runs one load scenario against a fresh local cluster (scripts/cluster.sh:
# one NATS server with JetStream and three hubd nodes on loopback) and
# prints hubload's report, saved as bench/DATE/load-cluster-NAME.txt.
# Usage: scripts/bench-cluster.sh NAME [hubload flags]
#
# hubload spreads subscribers and publishes over the three nodes and sums
# the hubs' memory and CPU over their processes; the NATS server's are
# reported beside them. The cluster listens on ports of its own
# (BENCH_NATS_PORT [14222], BENCH_BASE_PORT [18181] and the two after it),
# stores in a temporary folder, and is stopped when the run ends, however
# it ends. Everything stays on 127.0.0.0/8 and ends by itself.

# The braces make bash read the whole script before running it, so that
# editing this file cannot upset a run in progress.
{
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: scripts/bench-cluster.sh NAME [hubload flags]}
shift || true
nats_port=${BENCH_NATS_PORT:-14222}
base_port=${BENCH_BASE_PORT:-18181}
nodes=3
ready_timeout=${BENCH_READY_TIMEOUT:-600} # seconds, building included

mkdir -p bin bench
CGO_ENABLED=0 go build -trimpath -o bin/hubload ./cmd/hubload
dir=$(mktemp -d "${TMPDIR:-/tmp}/hubd-bench-cluster.XXXXXX")

# Each process may hold at most the hard limit of open files.
ulimit -n "$(ulimit -Hn)"

NATS_PORT=$nats_port BASE_PORT=$base_port NODES=$nodes CLUSTER_DIR="$dir/cluster" \
  HUBD_FLAGS="-log-level warn ${HUBD_FLAGS:-}" \
  scripts/cluster.sh >"$dir/cluster.out" 2>"$dir/cluster.err" &
cluster=$!
hub_pids='' nats_pid=''
# stop ends cluster.sh, which stops its nodes and NATS; should any of them
# outlive it (cluster.sh killed, say), they are stopped by their PIDs.
stop() {
  kill -TERM "$cluster" 2>/dev/null || true
  wait "$cluster" 2>/dev/null || true
  local pid left=()
  for pid in ${hub_pids//,/ } $nats_pid; do
    kill -0 "$pid" 2>/dev/null && left+=("$pid")
  done
  if ((${#left[@]})); then
    echo "bench-cluster.sh: stopping ${left[*]}, which outlived cluster.sh" >&2
    kill -TERM "${left[@]}" 2>/dev/null || true
    for pid in "${left[@]}"; do
      for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true # still there after 30 s
    done
  fi
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

deadline=$((SECONDS + ready_timeout))
until grep -qx ready "$dir/cluster.out"; do
  if ! kill -0 "$cluster" 2>/dev/null || ((SECONDS >= deadline)); then
    echo "bench-cluster.sh: the cluster did not get ready:" >&2
    cat "$dir/cluster.err" >&2
    tail -n 20 "$dir"/cluster/logs/*.log >&2 2>/dev/null || true
    exit 1
  fi
  sleep 0.2
done

# cluster.sh starts NATS and the nodes as its own children.
hub_pids=$(pgrep -P "$cluster" -x hubd | paste -sd, -)
nats_pid=$(pgrep -P "$cluster" -x nats-server)
if [[ $(tr ',' '\n' <<<"$hub_pids" | wc -l) != "$nodes" || -z $nats_pid ]]; then
  echo "bench-cluster.sh: found hubd PIDs '$hub_pids' and NATS PID '$nats_pid' under cluster.sh ($cluster)" >&2
  exit 1
fi
urls=$(for ((n = 0; n < nodes; n++)); do echo "http://127.0.0.1:$((base_port + n))"; done | paste -sd, -)

out="bench/$(date -u +%F)/load-cluster-$scenario.txt"   # a dated folder, apart from the programs
mkdir -p "$(dirname "$out")"
{
  echo "# $(date -u +%FT%TZ) $(git describe --tags --always --dirty 2>/dev/null || echo dev): $nodes hubd nodes and one NATS (JetStream, file store) on loopback; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# hubload -url $urls -hub-pid $hub_pids -nats-pid $nats_pid -scenario cluster-$scenario $*"
} >"$out"
./bin/hubload -url "$urls" -hub-pid "$hub_pids" -nats-pid "$nats_pid" -scenario "cluster-$scenario" "$@" | tee -a "$out"
exit
}
