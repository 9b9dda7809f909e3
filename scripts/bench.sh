#!/usr/bin/env bash
# Runs one load scenario against a fresh hubd on loopback and prints
# hubload's report. Usage: scripts/bench.sh SCENARIO [extra hubload flags]
# Scenarios: idle, fanout, fanout-max, topics, burst, burst-8.
# Everything stays on 127.0.0.0/8 and ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: scripts/bench.sh idle|fanout|fanout-max|topics|burst|burst-8}
shift || true
port=${BENCH_PORT:-18080}
url="http://127.0.0.1:$port"

mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/hubd ./cmd/hubd
CGO_ENABLED=0 go build -trimpath -o bin/hubload ./cmd/hubload

# One process may hold at most the hard limit of open files.
ulimit -n "$(ulimit -Hn)"
hubflags=(-addr "127.0.0.1:$port" -log-level warn)
case "$scenario" in
  idle)       load=(-subscribers 19000 -workers 2 -hold 60s -no-publish) ;;
  fanout)     load=(-subscribers 10000 -workers 1 -rate 20 -size 256 -duration 60s) ;;
  fanout-max) load=(-subscribers 10000 -workers 1 -rate 0 -size 256 -duration 30s) ;;
  topics)     load=(-subscribers 10000 -topics 10000 -workers 1 -rate 5000 -publishers 4 -size 256 -duration 60s) ;;
  burst)      load=(-subscribers 1000 -count 10000 -publishers 1 -size 256 -duration 120s) ;;
  burst-8)    load=(-subscribers 1000 -count 10000 -publishers 8 -size 256 -duration 120s) ;;
  *) echo "unknown scenario $scenario" >&2; exit 2 ;;
esac

./bin/hubd "${hubflags[@]}" >/tmp/hubd-bench-$$.log 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
./bin/hubload -url "$url" -scenario "$scenario" -hub-pid "$hub" "${load[@]}" "$@"
