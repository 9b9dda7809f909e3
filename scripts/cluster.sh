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
#   SKIP_BUILD [unset]        1: use bin/hubd and bin/nats-server as they are
#
# It prints "ready" once every node's /readyz answers 200, so that a script
# can start it in the background, wait for that line, run its load, then
# send SIGTERM. nats-server is built from the version go.mod requires.
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

if [[ ${SKIP_BUILD:-} != 1 ]]; then
  mkdir -p bin
  echo "building bin/hubd and bin/nats-server" >&2
  CGO_ENABLED=0 go build -trimpath -o bin/hubd ./cmd/hubd
  CGO_ENABLED=0 go build -trimpath -o bin/nats-server github.com/nats-io/nats-server/v2
fi

if [[ ${KEEP_DATA:-} != 1 ]]; then
  rm -rf "$dir"
fi
mkdir -p "$dir/jetstream" "$dir/logs"

# Each node may hold as many open files as the hard limit allows.
ulimit -n "$(ulimit -Hn)"

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

./bin/nats-server -a 127.0.0.1 -p "$nats_port" -js -sd "$dir/jetstream" \
  -n hubd-local >"$dir/logs/nats.log" 2>&1 &
pids+=($!)

# wait_for URL: polls until it answers 200, or fails after ready_timeout.
wait_for() {
  local url=$1 deadline=$((SECONDS + ready_timeout))
  until curl -sf -o /dev/null "$url"; do
    if ((SECONDS >= deadline)); then
      echo "cluster.sh: $url did not answer 200 within ${ready_timeout}s; logs in $dir/logs" >&2
      return 1
    fi
    sleep 0.1
  done
}

# NATS serves its monitoring port only when asked; probe the client port.
deadline=$((SECONDS + ready_timeout))
until (exec 3<>"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null; do
  if ((SECONDS >= deadline)); then
    echo "cluster.sh: NATS did not listen on 127.0.0.1:$nats_port; see $dir/logs/nats.log" >&2
    exit 1
  fi
  sleep 0.1
done

for ((n = 1; n <= nodes; n++)); do
  port=$((base_port + n - 1))
  # Node IDs stay the same across runs, so logs and the dashboard name them.
  ./bin/hubd -addr "127.0.0.1:$port" -cluster "nats://127.0.0.1:$nats_port" \
    -node-id "node-$n" "${extra[@]}" >"$dir/logs/hubd-$n.log" 2>&1 &
  pids+=($!)
done
for ((n = 1; n <= nodes; n++)); do
  wait_for "http://127.0.0.1:$((base_port + n - 1))/readyz"
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
