#!/usr/bin/env bash
# Runs one load scenario against a fresh hubd on loopback and prints
# hubload's report. Usage: scripts/bench.sh NAME [hubload flags]
# The Makefile's bench-* targets give each scenario's flags.
# Everything stays on 127.0.0.0/8 and ends by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:?usage: scripts/bench.sh NAME [hubload flags]}
shift || true
port=${BENCH_PORT:-18080}
url="http://127.0.0.1:$port"

mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/hubd ./cmd/hubd
CGO_ENABLED=0 go build -trimpath -o bin/hubload ./cmd/hubload

# One process may hold at most the hard limit of open files.
ulimit -n "$(ulimit -Hn)"
hubflags=(-addr "127.0.0.1:$port" -log-level warn ${HUBD_FLAGS:-})

./bin/hubd "${hubflags[@]}" >/tmp/hubd-bench-$$.log 2>&1 &
hub=$!
trap 'kill $hub 2>/dev/null; wait $hub 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -sf "$url/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
out="bench/$(date -u +%F)/load-$scenario.txt"   # a dated folder, apart from the programs
mkdir -p "$(dirname "$out")"
./bin/hubload -url "$url" -scenario "$scenario" -hub-pid "$hub" "$@" | tee "$out"
