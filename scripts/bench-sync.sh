#!/usr/bin/env bash
# Measures what cluster-sync always costs: runs one hubd with cluster:
# embedded in a fresh data dir, with the default sync interval or with
# cluster-sync always, and hubload against it for 20 seconds (10
# subscribers, 8 concurrent publishers unless flags say otherwise).
# Usage: scripts/bench-sync.sh interval|always [PORT] [hubload flags]
# Raw output goes to stdout; save it under bench/DATE/.
{
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: scripts/bench-sync.sh interval|always [PORT] [hubload flags]}
port=${2:-18391}
shift 2 || shift $#
extra=()
case $mode in
interval) ;;
always) extra=(-cluster-sync always) ;;
*) echo "bench-sync.sh: mode $mode: want interval or always" >&2; exit 2 ;;
esac
mkdir -p bin
go build -o bin/hubd ./cmd/hubd
go build -o bin/hubload ./cmd/hubload
dir=$(mktemp -d "${TMPDIR:-/tmp}/hubd-bench-sync.XXXXXX")
bin/hubd -addr "127.0.0.1:$port" -cluster embedded -data-dir "$dir/data" -log-level warn "${extra[@]}" >"$dir/out" 2>"$dir/err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
flags=(-url "http://127.0.0.1:$port" -subscribers 10 -publishers 8 -duration 20s -size 256 "$@")
echo "# $(date -u +%FT%TZ) $(uname -sr), $(nproc) cores; filesystem of $dir: $(df -T "$dir" | awk 'NR==2 {print $2}')"
echo "# bin/hubd -cluster embedded -data-dir DIR -log-level warn ${extra[*]}"
echo "# bin/hubload ${flags[*]}"
bin/hubload "${flags[@]}" -hub-pid "$pid" -scenario "sync-$mode"
}
