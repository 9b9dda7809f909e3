#!/usr/bin/env bash
# Runs a local hubd cluster on loopback: one NATS server with JetStream and
# three hubd nodes joined to it, in the foreground until SIGINT or SIGTERM,
# which stop every process it started (hubd nodes first, then NATS).
#
# Usage: scripts/cluster.sh [start]
#
# Environment (defaults in brackets):
#   NATS_PORT [4222]          NATS client port on 127.0.0.1
#   BASE_PORT [8081]          first hubd port; the nodes take BASE_PORT..BASE_PORT+NODES-1
#   NODES [3]                 how many hubd nodes
#   CLUSTER_DIR [.cluster]    JetStream store and logs; wiped at start unless KEEP_DATA=1
#   HUBD_FLAGS                more flags for every hubd node, e.g. "-log-level warn"
#   READY_TIMEOUT [60]        seconds to wait for every node's /readyz
#   SKIP_BUILD [unset]        1: use the binaries below as they are
#   HUBD_BIN [bin/hubd]       the hubd binary (built there unless SKIP_BUILD=1)
#   NATS_SERVER_BIN [bin/nats-server]  the NATS server binary (likewise)
#
# It prints "ready" once every node's /readyz answers 200, so that a script
# can start it in the background, wait for that line, run its load, then
# send SIGTERM. nats-server is built from the version go.mod requires.

# The braces make bash read the whole script before running it, so that
# editing this file cannot upset a cluster that is running it.
{
set -euo pipefail
cd "$(dirname "$0")/.."

cmd=${1:-start}
if [[ $cmd != start ]]; then
  echo "usage: scripts/cluster.sh [start]" >&2
  exit 2
fi

nats_port=${NATS_PORT:-4222}
base_port=${BASE_PORT:-8081}
nodes=${NODES:-3}
dir=${CLUSTER_DIR:-.cluster}
ready_timeout=${READY_TIMEOUT:-60}
read -r -a extra <<<"${HUBD_FLAGS:-}"
hubd_bin=${HUBD_BIN:-bin/hubd}
nats_bin=${NATS_SERVER_BIN:-bin/nats-server}

if [[ ${SKIP_BUILD:-} != 1 ]]; then
  echo "building $hubd_bin and $nats_bin" >&2
  mkdir -p "$(dirname "$hubd_bin")" "$(dirname "$nats_bin")"
  # Stamped with the version as make build stamps it, so that hubd
  # version and the dashboard name the build, not "dev".
  version=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" -o "$hubd_bin" ./cmd/hubd
  # The NATS server of the version go.mod requires, so that the local
  # cluster runs what hubd's tests run in-process.
  CGO_ENABLED=0 go build -trimpath -o "$nats_bin" github.com/nats-io/nats-server/v2
fi

if [[ ${KEEP_DATA:-} != 1 ]]; then
  rm -rf "$dir/jetstream" "$dir/logs"
fi
mkdir -p "$dir/jetstream" "$dir/logs"

# Each node may hold as many open files as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

# Every process started below gets a process group of its own, so that
# Ctrl-C, which the terminal sends to the whole foreground group, reaches
# this script alone: stop then ends the nodes before NATS, and the script
# exits 0. (Reached by Ctrl-C too, a node exited by itself, and bash,
# seeing its child handle the signal, ran no trap: wait -n returned and
# the script exited 1, which make reported as an error.)
set -m

pids=()
stopping=0
stop() {
  ((stopping)) && return
  stopping=1
  trap - INT TERM
  # hubd first, so that no node sees NATS vanish while it shuts down.
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "stopped" >&2
}
trap 'stop; exit 0' INT TERM
trap stop EXIT

"$nats_bin" -a 127.0.0.1 -p "$nats_port" -js -sd "$dir/jetstream" \
  -n hubd-local >"$dir/logs/nats.log" 2>&1 &
pids+=($!)

# wait_for PID LOG CHECK...: polls CHECK until it succeeds, or fails if
# process PID ends (a port taken by another program, say) or after
# ready_timeout. Checking PID too keeps another program that answers on the
# same port from passing for ours.
wait_for() {
  local pid=$1 log=$2 deadline=$((SECONDS + ready_timeout))
  shift 2
  until "$@"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster.sh: process $pid exited; its log, $log:" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: not ready within ${ready_timeout}s: $*; see $log" >&2
      return 1
    fi
    sleep 0.1
  done
}

wait_for "${pids[0]}" "$dir/logs/nats.log" grep -qs "Server is ready" "$dir/logs/nats.log"

for ((n = 1; n <= nodes; n++)); do
  port=$((base_port + n - 1))
  # Node IDs stay the same across runs, so logs and the dashboard name them.
  "$hubd_bin" -addr "127.0.0.1:$port" -cluster "nats://127.0.0.1:$nats_port" \
    -node-id "node-$n" "${extra[@]}" >"$dir/logs/hubd-$n.log" 2>&1 &
  pids+=($!)
done
for ((n = 1; n <= nodes; n++)); do
  url="http://127.0.0.1:$((base_port + n - 1))/"
  log="$dir/logs/hubd-$n.log"
  # The line proves that this node holds the port; then it must catch up.
  wait_for "${pids[n]}" "$log" grep -qsF "listening on $url" "$log"
  wait_for "${pids[n]}" "$log" curl -sf -o /dev/null "${url}readyz"
done

echo "NATS (JetStream, store $dir/jetstream): nats://127.0.0.1:$nats_port"
for ((n = 1; n <= nodes; n++)); do
  echo "hubd node-$n: http://127.0.0.1:$((base_port + n - 1))/  (log $dir/logs/hubd-$n.log)"
done
last=$((base_port + nodes - 1))
echo "try: curl -N -H 'Datastar-Request: true' http://127.0.0.1:$base_port/topics/news &"
echo "     curl -H 'Content-Type: text/html' -d '<div id=\"x\">hi</div>' http://127.0.0.1:$last/topics/news"
echo "ready"

# Runs until a signal, or until any process it started ends by itself.
set +e
wait -n "${pids[@]}"
status=$?
echo "cluster.sh: a process exited (status $status); stopping the others; logs in $dir/logs" >&2
exit 1
}
