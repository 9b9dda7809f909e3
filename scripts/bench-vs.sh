#!/usr/bin/env bash
# Runs the load scenarios of issue 13 against several hubs back to back,
# with the same hubload flags for every one, each hub started fresh for
# each scenario and stopped after it, then prints a markdown table of the
# results with the ratios of the first target to each other one.
#
#   scripts/bench-vs.sh TARGET...
#
# Targets:
#   hubd        hubd built from the working tree into bin/hubd, run with its
#               defaults at -log-level warn plus $HUBD_FLAGS
#   nchan       nginx with the nchan module and bench/nchan.conf, from a
#               temporary prefix (installs nginx-light and libnginx-mod-nchan
#               with apt-get when missing, as root)
#   hubd@REV    hubd built from git commit REV in a temporary worktree,
#               kept as bin/hubd-<shortrev>, run like hubd, and named
#               hubd@<shortrev> in the files and the table
#   hubd-embedded[@REV]
#               the same hubd with -cluster embedded: its event log in a
#               NATS server inside it, storing in a fresh temporary folder
#   hubd-nats[@REV]
#               the same hubd with -cluster nats://...: its event log in a
#               separate NATS server (bin/nats-server, built from the
#               version go.mod requires) with JetStream in a fresh
#               temporary folder; the hub's CPU and memory are hubd's
#               alone, and the NATS server's are reported beside them
#
# Environment (defaults are the issue's scale; lower them to try the harness):
#   SCENARIOS    which scenarios, in order (default: idle fanout-max fanout-5 burst topics)
#   SUBS         subscribers of idle, fanout-max and fanout-5 (10000)
#   HOLD         idle's hold (30s)
#   COUNT        fanout-max's publishes (1000)
#   DURATION     fanout-5's and topics' publishing time (30s)
#   BURST_SUBS   burst's subscribers (1000)
#   BURST_COUNT  burst's publishes (5000)
#   TOPICS       topics' topics, one subscriber each (5000)
#   PORT         where each hub listens on 127.0.0.1 (18090)
#   NATS_PORT    where hubd-nats's NATS server listens on 127.0.0.1 (18422)
#   STAMP        the date in the output names (today, UTC)
#
# Writes bench/DATE/vs/STAMP-SCENARIO-TARGET.txt (hubload's output) and
# bench/DATE/vs/STAMP-summary.md (the table). Everything listens and connects on
# 127.0.0.1 only, every run ends by itself, and every process started here
# is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

usage() { echo "usage: scripts/bench-vs.sh TARGET... (hubd, hubd-embedded, hubd-nats, each with an optional @REV, or nchan)" >&2; exit 2; }
[ $# -gt 0 ] || usage

SCENARIOS=${SCENARIOS:-idle fanout-max fanout-5 burst topics}
SUBS=${SUBS:-10000}
HOLD=${HOLD:-30s}
COUNT=${COUNT:-1000}
DURATION=${DURATION:-30s}
BURST_SUBS=${BURST_SUBS:-1000}
BURST_COUNT=${BURST_COUNT:-5000}
TOPICS=${TOPICS:-5000}
PORT=${PORT:-18090}
NATS_PORT=${NATS_PORT:-18422}
STAMP=${STAMP:-$(date -u +%F)}
out=bench/$(date -u +%F)/vs   # raw output in a dated folder, apart from the programs
url="http://127.0.0.1:$PORT"
nchan_module=/usr/lib/nginx/modules/ngx_nchan_module.so

# scenario_flags NAME prints the hubload flags of a scenario, the same for
# every target.
scenario_flags() {
  case $1 in
    idle)       echo "-subscribers $SUBS -no-publish -hold $HOLD" ;;
    fanout-max) echo "-subscribers $SUBS -topics 1 -publishers 1 -count $COUNT -size 256 -duration 600s -drain 30s" ;;
    fanout-5)   echo "-subscribers $SUBS -topics 1 -rate 5 -size 256 -duration $DURATION" ;;
    burst)      echo "-subscribers $BURST_SUBS -topics 1 -publishers 1 -count $BURST_COUNT -size 256 -duration 600s -drain 30s" ;;
    topics)     echo "-subscribers $TOPICS -topics $TOPICS -publishers 8 -size 256 -duration $DURATION" ;;
    *) return 1 ;;
  esac
}

for s in $SCENARIOS; do
  scenario_flags "$s" >/dev/null || { echo "bench-vs: unknown scenario $s in SCENARIOS (want idle fanout-max fanout-5 burst topics)" >&2; exit 2; }
done
# targets are the arguments with each hubd@REV named by its short commit
# hash, so that files and tables say which build was measured.
targets=()
for t in "$@"; do
  case $t in
    hubd|hubd-embedded|hubd-nats|nchan) targets+=("$t") ;;
    hubd@?*|hubd-embedded@?*|hubd-nats@?*)
      short=$(git rev-parse --short --verify --quiet "${t#*@}^{commit}") ||
        { echo "bench-vs: target $t: ${t#*@} is not a commit" >&2; exit 2; }
      targets+=("${t%%@*}@$short") ;;
    *) echo "bench-vs: unknown target $t (want hubd, hubd-embedded, hubd-nats, each with an optional @REV, or nchan)" >&2; exit 2 ;;
  esac
done
if others=$(pgrep -fa 'hubload|nginx: worker'); then
  echo "bench-vs: warning: another load run or nginx is going; figures will be disturbed:" >&2
  echo "$others" >&2
fi

# What the exit trap stops and removes.
server=""    # PID of the running hub (hubd, or nginx's master)
nats=""      # PID of hubd-nats's NATS server
load=""      # PID of the running hubload
tmpdirs=()
worktrees=()
cleanup() {
  if [ -n "$load" ]; then kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
  stop_server
  for w in "${worktrees[@]}"; do git worktree remove --force "$w" 2>/dev/null || true; done
  for d in "${tmpdirs[@]}"; do rm -rf "$d"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_server() {
  local pid
  for pid in "$server" "$nats"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  server="" nats=""
}

# wait_http waits until something answers HTTP on $url, or fails after 10 s
# or when the server exits.
wait_http() {
  for _ in $(seq 200); do
    curl -s -o /dev/null "$url/" && return 0
    kill -0 "$server" 2>/dev/null || { echo "bench-vs: $1 exited while starting" >&2; return 1; }
    sleep 0.05
  done
  echo "bench-vs: $1 does not answer on $url" >&2
  return 1
}

mkdir -p bin "$out"
# One process may hold at most the hard limit of open files.
ulimit -n "$(ulimit -Hn)"
CGO_ENABLED=0 go build -trimpath -o bin/hubload ./cmd/hubload

# prepare TARGET builds or installs what a target needs, once.
prepare() {
  case $1 in
    hubd-nats*)
      [ -x bin/nats-server ] || CGO_ENABLED=0 go build -trimpath -o bin/nats-server github.com/nats-io/nats-server/v2
      prepare "hubd${1#hubd-nats}" ;;
    hubd-embedded*)
      prepare "hubd${1#hubd-embedded}" ;;
    hubd)
      CGO_ENABLED=0 go build -trimpath -o bin/hubd ./cmd/hubd ;;
    nchan)
      if [ ! -x /usr/sbin/nginx ] || [ ! -f "$nchan_module" ]; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
          DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light libnginx-mod-nchan ||
            { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y nginx-light libnginx-mod-nchan; }
        else
          echo "bench-vs: nchan needs /usr/sbin/nginx and $nchan_module: install nginx-light and libnginx-mod-nchan (apt-get, as root)" >&2
          exit 1
        fi
      fi ;;
    hubd@*)
      local short=${1#hubd@}
      if [ ! -x "bin/hubd-$short" ]; then
        local tmp
        tmp=$(mktemp -d); tmpdirs+=("$tmp")
        worktrees+=("$tmp/src")
        git worktree add --detach "$tmp/src" "$short" >/dev/null
        (cd "$tmp/src" && CGO_ENABLED=0 go build -trimpath -o "$root/bin/hubd-$short" ./cmd/hubd)
        git worktree remove --force "$tmp/src"
      fi ;;
  esac
}

# start TARGET starts a fresh hub and sets server, pids (the hub's process
# IDs, comma separated) and proto (hubload's -target); for nchan also
# nginx_prefix, its temporary prefix with the error log.
start() {
  case $1 in
    hubd*)
      # hubd[-embedded|-nats][@REV]: the build, then what its log runs on.
      local bin=bin/hubd kind=${1%%@*} cluster=()
      [ "$kind" = "$1" ] || bin=bin/hubd-${1#*@}
      case $kind in
        hubd-embedded)
          local data
          data=$(mktemp -d); tmpdirs+=("$data")
          cluster=(-cluster embedded -data-dir "$data") ;;
        hubd-nats)
          local store
          store=$(mktemp -d); tmpdirs+=("$store")
          bin/nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$store" -n bench-vs >>"$logdir/$1-nats.log" 2>&1 &
          nats=$!
          for _ in $(seq 200); do
            grep -qs "Server is ready" "$logdir/$1-nats.log" && break
            kill -0 "$nats" 2>/dev/null || { echo "bench-vs: the NATS server of $1 exited while starting" >&2; tail -n 20 "$logdir/$1-nats.log" >&2; return 1; }
            sleep 0.05
          done
          cluster=(-cluster "nats://127.0.0.1:$NATS_PORT") ;;
      esac
      # shellcheck disable=SC2086 # HUBD_FLAGS is a list of flags
      "$bin" -addr "127.0.0.1:$PORT" -log-level warn "${cluster[@]}" ${HUBD_FLAGS:-} >>"$logdir/$1.log" 2>&1 &
      server=$!
      wait_ready "$1"
      pids=$server proto=hubd ;;
    nchan)
      nginx_prefix=$(mktemp -d); tmpdirs+=("$nginx_prefix")
      mkdir -p "$nginx_prefix/logs" "$nginx_prefix/tmp"
      sed "s/@PORT@/$PORT/" bench/nchan.conf >"$nginx_prefix/nginx.conf"
      /usr/sbin/nginx -p "$nginx_prefix/" -c "$nginx_prefix/nginx.conf" -e "$nginx_prefix/logs/error.log" >>"$logdir/nchan.log" 2>&1 &
      server=$!
      wait_http nchan
      local workers=""
      for _ in $(seq 100); do
        workers=$(pgrep -P "$server" | tr '\n' ' ')
        [ "$(echo $workers | wc -w)" -ge 2 ] && break
        sleep 0.05
      done
      pids=$(echo "$server $workers" | xargs | tr ' ' ,)
      proto=nchan ;;
  esac
}

# wait_ready waits until hubd answers /readyz with 200 (in a cluster:
# once it reached its event log and caught up), or fails after 30 s or
# when it exits.
wait_ready() {
  wait_http "$1" || return 1
  for _ in $(seq 600); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/readyz")" = 200 ] && return 0
    kill -0 "$server" 2>/dev/null || { echo "bench-vs: $1 exited while starting" >&2; return 1; }
    sleep 0.05
  done
  echo "bench-vs: $1 is not ready on $url/readyz" >&2
  return 1
}

logdir=$(mktemp -d); tmpdirs+=("$logdir")
for t in "${targets[@]}"; do prepare "$t"; done

files=()
failed=0
for s in $SCENARIOS; do
  read -r -a flags <<<"$(scenario_flags "$s")"
  for t in "${targets[@]}"; do
    file="$out/$STAMP-$s-$t.txt"
    echo "== $s against $t: hubload ${flags[*]}"
    start "$t"
    # In the background, so that a signal to this script is handled at once.
    natsflag=()
    [ -z "$nats" ] || natsflag=(-nats-pid "$nats")
    ./bin/hubload -target "$proto" -label "$t" -scenario "$s" -url "$url" -hub-pid "$pids" "${natsflag[@]}" "${flags[@]}" >"$file" &
    load=$!
    if wait "$load"; then
      load=""
      cat "$file"
      files+=("$file")
    else
      load=""
      cat "$file"
      echo "bench-vs: $s against $t failed; its output is in $file" >&2
      [ "$t" != nchan ] || tail -n 20 "$nginx_prefix/logs/error.log" >&2 || true
      tail -n 20 "$logdir/$t.log" >&2 2>/dev/null || true
      failed=1
    fi
    stop_server
  done
done

if [ ${#files[@]} -gt 0 ]; then
  echo
  ./bin/hubload -summarize "${files[@]}" | tee "$out/$STAMP-summary.md"
  echo "(written to $out/$STAMP-summary.md)"
fi
exit $failed
