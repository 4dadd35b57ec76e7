#!/usr/bin/env bash
# The NATS JetStream scale-out, measured end to end on this machine (never asserted in a test):
#
# 1. `scan` of a generated world (mail and web logs, the shipped rules, the world's people as
#    the watchlist): the one-process baseline, its alert count, and `wc -l` on the same files.
# 2. `ship` of the world into a fresh `nats-server -js`: lines/s, and the server's CPU time.
# 3. For 1, 2 and 3 workers, each on a fresh server: the workers start and share the
#    partitions, then the world is shipped; the time from the shipper's start until every line
#    and contribution is acknowledged and every alert of the scan is in the alerts stream
#    (shipping included); lines/s and MB/s; the workers' and the server's CPU in that time.
#
# The broker's cost per event is the server's CPU (shipping and working) per line, and the
# workers' CPU per line above scan's. On a machine with fewer cores than workers, workers
# share cores: the figures then show the cost of the partitioning, not a speed-up.
#
#   benches/broker.sh            # a 50MB world
#   benches/broker.sh 200MB 12   # size, partitions
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-50MB}"
partitions="${2:-12}"
target_dir="${CARGO_TARGET_DIR:-target}"
command -v nats-server > /dev/null || PATH="$PATH:/usr/sbin"
command -v nats-server > /dev/null || { echo "nats-server is not installed (apt-get install nats-server)" >&2; exit 2; }
cargo build --release --quiet
bin="$(realpath "$target_dir/release/reconwatch")"
world="$target_dir/broker-world-$size"
[ -f "$world/.complete" ] || {
  rm -rf "$world"
  "$bin" gen --seed 7 --size "$size" --out "$world" > /dev/null 2>&1
  touch "$world/.complete"
}
watchlist="parliament=$world/.world/people.csv"
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

now() { date +%s.%N; }
# CPU seconds (user + system) a process has used so far.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

start_server() {  # sets $server, $url, $mon
  local port mport
  port=$((20000 + RANDOM % 20000)); mport=$((port + 1))
  rm -rf "$work/js"
  nats-server -js -a 127.0.0.1 -p "$port" -m "$mport" -sd "$work/js" > "$work/nats.log" 2>&1 &
  server=$!
  url="nats://127.0.0.1:$port"; mon="http://127.0.0.1:$mport"
  for _ in $(seq 100); do curl -sf "$mon/healthz" > /dev/null && return; sleep 0.1; done
  echo "nats-server did not start: $(cat "$work/nats.log")" >&2; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }
# Messages stored in a stream (0 when it does not exist).
messages() {
  curl -s "$mon/jsz?streams=true" | python3 -c '
import json, sys
d = json.load(sys.stdin)
n = 0
for a in d.get("account_details") or []:
    for s in a.get("stream_detail") or []:
        if s["name"] == sys.argv[1]:
            n = s["state"]["messages"]
print(n)' "$1"
}

files=$(find "$world" -type f -not -path '*/.world/*' | sort)
bytes=$(zcat -f $files | wc -c)
t0=$(now); lines=$(zcat -f $files | wc -l); t1=$(now)
echo "world: $size, $lines lines, $bytes bytes (decompressed), $partitions partitions; load: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
printf '%-28s %8.2f s\n' "zcat -f | wc -l" "$(echo "$t1 - $t0" | bc)"

t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/scan.cpu" "$bin" scan --watchlist "$watchlist" "$world" > "$work/scan.jsonl" 2> /dev/null || true
t1=$(now)
alerts=$(sort -u "$work/scan.jsonl" | wc -l)
scan_s=$(echo "$t1 - $t0" | bc)
scan_cpu=$(tail -1 "$work/scan.cpu" | awk '{ print $1 + $2 }')
printf '%-28s %8.2f s  %9.0f lines/s  %6.1f MB/s  cpu %.2f s  %d alerts\n' "scan (one process)" "$scan_s" \
  "$(echo "$lines / $scan_s" | bc -l)" "$(echo "$bytes / $scan_s / 1000000" | bc -l)" "$scan_cpu" "$alerts"

ship() {
  "$bin" ship --nats "$url" --partitions "$partitions" --name bench "$world" 2> "$work/ship.log"
}

start_server
s0=$(cpu "$server"); t0=$(now)
/usr/bin/time -f '%U %S' -o "$work/ship.cpu" "$bin" ship --nats "$url" --partitions "$partitions" --name bench "$world" 2> "$work/ship.log"
t1=$(now); s1=$(cpu "$server")
ship_s=$(echo "$t1 - $t0" | bc)
ship_server=$(echo "$s1 - $s0" | bc)
printf '%-28s %8.2f s  %9.0f lines/s  %6.1f MB/s  cpu %.2f s  server cpu %.2f s\n' "ship" "$ship_s" \
  "$(echo "$lines / $ship_s" | bc -l)" "$(echo "$bytes / $ship_s / 1000000" | bc -l)" \
  "$(tail -1 "$work/ship.cpu" | awk '{ print $1 + $2 }')" "$ship_server"
stop_server

# Partitions a worker holds now, by its log.
held() { echo $(( $(grep -c ': taken (' "$1" || true) - $(grep -c ': handed over' "$1" || true) )); }

for n in 1 2 3; do
  start_server
  pids=()
  for i in $(seq "$n"); do
    "$bin" work --nats "$url" --partitions "$partitions" --id "w$i" --watchlist "$watchlist" 2> "$work/w$i.log" &
    pids+=($!)
  done
  # The workers share the partitions before the lines come (they run all the time).
  for _ in $(seq 600); do
    total=0; fair=1
    for i in $(seq "$n"); do
      h=$(held "$work/w$i.log"); total=$((total + h))
      [ "$h" -ge $((partitions / n)) ] || fair=0
    done
    [ "$total" -eq "$partitions" ] && [ "$fair" -eq 1 ] && break
    sleep 0.1
  done
  c0=0; for p in "${pids[@]}"; do c0=$(echo "$c0 + $(cpu "$p")" | bc); done
  s0=$(cpu "$server"); t0=$(now); t_lines=
  ship
  deadline=$(( $(date +%s) + 600 ))
  while :; do
    lines_left=$(messages RECONWATCH_LINES)
    [ -n "${t_lines:-}" ] || [ "$lines_left" -ne 0 ] || t_lines=$(now)
    left=$(( lines_left + $(messages RECONWATCH_CONTRIB) ))
    got=$(messages RECONWATCH_ALERTS)
    [ "$left" -eq 0 ] && [ "$got" -ge "$alerts" ] && break
    [ "$(date +%s)" -lt "$deadline" ] || { echo "$n workers: not done in 600 s ($left messages left, $got of $alerts alerts)" >&2; break; }
    sleep 0.05
  done
  t1=$(now); s1=$(cpu "$server")
  wcpu=$(echo "0 - $c0" | bc)
  for p in "${pids[@]}"; do wcpu=$(echo "$wcpu + $(cpu "$p")" | bc); done
  kill "${pids[@]}"; wait "${pids[@]}" 2>/dev/null || true
  s=$(echo "$t1 - $t0" | bc)
  sl=$(echo "$t_lines - $t0" | bc)
  printf '%-28s %8.2f s  %9.0f lines/s  %6.1f MB/s  cpu %.2f s  server cpu %.2f s  %d alerts; every line acknowledged after %.2f s (%.1f MB/s)\n' \
    "work, $n worker(s)" "$s" "$(echo "$lines / $s" | bc -l)" "$(echo "$bytes / $s / 1000000" | bc -l)" "$wcpu" \
    "$(echo "$s1 - $s0" | bc)" "$got" "$sl" "$(echo "$bytes / $sl / 1000000" | bc -l)"
  [ "$n" -eq 1 ] && one_cpu=$wcpu && one_server=$(echo "$s1 - $s0" | bc)
  stop_server
done

printf 'broker cost per line (1 worker): server %.2f us (ship %.2f + work %.2f), worker above scan %.2f us\n' \
  "$(echo "$one_server * 1000000 / $lines" | bc -l)" \
  "$(echo "$ship_server * 1000000 / $lines" | bc -l)" "$(echo "($one_server - $ship_server) * 1000000 / $lines" | bc -l)" \
  "$(echo "($one_cpu - $scan_cpu) * 1000000 / $lines" | bc -l)"
