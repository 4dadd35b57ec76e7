#!/usr/bin/env bash
# A three-worker reconwatch cluster on one machine, for trying it out: a NATS server with
# JetStream (Debian's nats-server) on a free port of 127.0.0.1, three `reconwatch work`, and
# `reconwatch ship` of a log directory (default: the shipped sample world). It waits until every
# line is processed and as many alerts are out as one `scan` of the same logs raises, prints the
# alerts by rule, and stops everything (the server's store is a temporary directory).
#
#   deploy/nats/three-workers.sh                 # sample-logs/, the world's people as watchlist
#   deploy/nats/three-workers.sh DIR WATCHLIST   # WATCHLIST as --watchlist takes it (NAME=FILE)
#
# RECONWATCH (default: reconwatch on PATH) is the binary to run.
set -euo pipefail
cd "$(dirname "$0")/../.."

logs="${1:-sample-logs}"
watchlist="${2:-parliament=sample-logs/.world/people.csv}"
bin="${RECONWATCH:-reconwatch}"
command -v nats-server > /dev/null || PATH="$PATH:/usr/sbin"
command -v nats-server > /dev/null || { echo "nats-server is not installed (apt-get install nats-server)" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
nats-server -js -a 127.0.0.1 -p "$port" -sd "$work/js" > "$work/nats.log" 2>&1 &
url="nats://127.0.0.1:$port"
for _ in $(seq 100); do (exec 3<> "/dev/tcp/127.0.0.1/$port") 2> /dev/null && break; sleep 0.1; done

expected=$("$bin" scan --quiet --watchlist "$watchlist" "$logs" | sort -u | wc -l || true)
for i in 1 2 3; do
  "$bin" work --nats "$url" --partitions 6 --id "w$i" --watchlist "$watchlist" 2> "$work/w$i.log" &
done
"$bin" ship --nats "$url" --partitions 6 --name demo "$logs" 2> "$work/ship.log"
tail -1 "$work/ship.log"

# The alerts stream, read by a fourth client: reconwatch's own reader of it.
for _ in $(seq 600); do
  got=$("$bin" alerts --nats "$url" | sort -u | tee "$work/alerts.jsonl" | wc -l)
  [ "$got" -ge "$expected" ] && break
  sleep 0.5
done
echo "three workers: $got alerts (one scan: $expected)"
python3 -c '
import collections, json, sys
by = collections.Counter(json.loads(l)["rule"]["title"] for l in open(sys.argv[1]))
for title, n in by.most_common():
    print(f"{n:6d}  {title}")' "$work/alerts.jsonl"
[ "$got" -eq "$expected" ]
