#!/usr/bin/env bash
# reconwatch next to a peer Sigma engine, rsigma (a Rust Sigma engine for JSON events), on the
# same events and the same rules: the 56 SigmaHQ proxy rules of ../shared/sigma/proxy-rules.txt
# (or $SIGMA_DIR), on one thread.
#
#   cargo install rsigma@0.23.0 --locked --root /opt/rsigma    # the peer (or any rsigma on PATH)
#   benches/sigma-peer.sh 200MB                                # after benches/throughput.sh 200MB
#
# Events: the first $PEER_LINES (1,000,000) lines of the throughput world's Squid access.log,
# plus the hand-written lines of tests/data/sigmahq/proxy-cases.yml (a line each rule must alert
# on and a near miss, in Squid, combined and W3C formats), because the world raises none of these
# rules and a comparison of zero against zero shows nothing.
#
# rsigma reads flat JSON events whose keys are the rules' field names, so `reconwatch parse`
# turns the lines into ECS JSON and benches/ecs-to-sigma-proxy.py renames the fields to Sigma's
# proxy taxonomy (c-uri, cs-host, c-useragent, sc-status, ...) with reconwatch's own mapping
# (src/rules/fields.rs), so both engines see the same value under each rule's field name. That
# conversion is done before timing. Timed, each on one thread:
#   - reconwatch scan on the raw Squid lines (its production path: parse, match);
#   - reconwatch scan --format ecs on the ECS JSON lines (JSON in, like rsigma);
#   - rsigma engine eval on the converted JSON lines.
# Then the matches per rule of both on the same events, and every rule where they differ.
#
# rsigma is $RSIGMA, else /opt/rsigma/bin/rsigma, else `rsigma` on PATH; without it (or without
# the SigmaHQ rules) the script says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-200MB}"
target_dir="${CARGO_TARGET_DIR:-target}"
dir="$target_dir/bench-world-$size"
sigma_dir="${SIGMA_DIR:-${RECONWATCH_SIGMA:-../shared/sigma}}"
max_lines="${PEER_LINES:-1000000}"
cases=tests/data/sigmahq/proxy-cases.yml

echo "peer: rsigma next to reconwatch, the 56 SigmaHQ proxy rules, one thread"
rsigma="${RSIGMA:-/opt/rsigma/bin/rsigma}"
[ -x "$rsigma" ] || rsigma=$(command -v rsigma || true)
if [ -z "$rsigma" ]; then
  echo "  skipped: rsigma is not installed (cargo install rsigma@0.23.0 --locked; or set RSIGMA)"
  exit 0
fi
if [ ! -f "$sigma_dir/proxy-rules.txt" ]; then
  echo "  skipped: no SigmaHQ rules at $sigma_dir (proxy-rules.txt; set SIGMA_DIR)"
  exit 0
fi
if [ ! -f "$dir/.complete" ]; then
  echo "no world at $dir: run benches/throughput.sh $size first" >&2
  exit 2
fi
cargo build --release --quiet
bin="$target_dir/release/reconwatch"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The rules, copied out of the checkout (never into the repository).
mkdir "$work/rules"
while read -r rule; do
  [ -n "$rule" ] && cp "$sigma_dir/$rule" "$work/rules/"
done < "$sigma_dir/proxy-rules.txt"

# The events: the world's lines, then each case's lines parsed in the case's format.
head -n "$max_lines" "$dir/squid-access.log" > "$work/events.log"
"$bin" parse "$work/events.log" > "$work/events.ecs.jsonl"
python3 benches/sigma-cases.py "$cases" "$work/cases" > "$work/cases.txt"
while read -r file format _; do
  "$bin" parse --format "$format" "$file" >> "$work/events.ecs.jsonl"
done < "$work/cases.txt"
t0=$(date +%s.%N)
python3 benches/ecs-to-sigma-proxy.py "$work/rules" < "$work/events.ecs.jsonl" > "$work/events.ndjson"
t1=$(date +%s.%N)
world=$(wc -l < "$work/events.log")
events=$(wc -l < "$work/events.ndjson")
awk -v w="$world" -v e="$events" -v s="$(stat -c %s "$work/events.ndjson")" -v t="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" 'BEGIN {
  printf "  events: %d Squid lines of the world + %d case events = %d; converted JSON %.1f MB (converter: %.1f s, not timed below)\n", w, e - w, e, s / 1e6, t }'

now() { date +%s.%N; }
commands=()

# timed LABEL EVENTS OK_CODES CMD...: runs CMD (stdout to $work/out, stderr to $work/err) and
# prints its time and events/s; another exit code stops the script with CMD's stderr.
timed() {
  local label=$1 n=$2 ok=$3 t0 t1 rc=0
  shift 3
  commands+=("$*")
  cat "$work/events.log" "$work/events.ecs.jsonl" "$work/events.ndjson" > /dev/null
  t0=$(now)
  "$@" > "$work/out" 2> "$work/err" || rc=$?
  t1=$(now)
  if [[ ",$ok," != *",$rc,"* ]]; then
    tail -n 20 "$work/err" >&2
    echo "failed (exit $rc): $*" >&2
    exit 2
  fi
  awk -v what="$label" -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN {
    printf "  %-52s %7.2f s %10.0f events/s\n", what, b - a, n / (b - a) }'
}

# Matches per rule id from reconwatch scan's summary (stderr): "  COUNT  LEVEL  TITLE  (ID)".
reconwatch_counts() {
  sed -n 's/^ *\([0-9][0-9]*\) .*(\([0-9a-f-]\{36\}\))$/\2 \1/p' "$work/err" | sort
}

timed "reconwatch scan -j1, raw Squid lines ($world)" "$world" 0,1 \
  "$bin" scan --threads 1 --rules "$work/rules" --output /dev/null "$work/events.log"
timed "reconwatch scan -j1 --format ecs, ECS JSON ($events)" "$events" 0,1 \
  "$bin" scan --threads 1 --format ecs --rules "$work/rules" --output /dev/null "$work/events.ecs.jsonl"
reconwatch_counts > "$work/reconwatch.counts"
timed "rsigma engine eval, converted JSON ($events)" "$events" 0 \
  "$rsigma" engine eval -r "$work/rules" -e "@$work/events.ndjson" --output-format ndjson
# rsigma writes one JSON object per match, with the rule's id.
jq -r '.rule_id // .id // empty' "$work/out" | sort | uniq -c | awk '{ print $2, $1 }' | sort > "$work/rsigma.counts"

# Matches per rule, side by side (rules neither engine matched left out).
echo "  matches per rule (same $events events):"
join -a1 -a2 -e 0 -o 0,1.2,2.2 "$work/reconwatch.counts" "$work/rsigma.counts" > "$work/both"
for f in "$work/rules"/*.yml; do
  id=$(sed -n 's/^id: *//p' "$f" | head -1)
  title=$(sed -n 's/^title: *//p' "$f" | head -1)
  awk -v id="$id" -v t="$title" '$1 == id { printf "    %-64.64s %10d %10d%s\n", t, $2, $3, ($2 == $3) ? "" : "  differs" }' "$work/both"
done | sort -k1 | { printf "    %-64s %10s %10s\n" rule reconwatch rsigma; cat; }
awk '{ r += $2; s += $3; d += ($2 != $3) } END {
  printf "  total: reconwatch %d, rsigma %d matches; %d rules differ\n", r, s, d }' "$work/both"
echo "  rsigma stderr (rules it could not load, warnings):"
grep -v '^\s*$' "$work/err" | head -n 20 | sed 's/^/    /' || true
echo "  commands (T = a temporary directory; W = $dir):"
echo "    head -n $max_lines W/squid-access.log > T/events.log"
echo "    reconwatch parse T/events.log > T/events.ecs.jsonl"
echo "    reconwatch parse --format FORMAT T/cases/NNN-{match,no-match}.log >> T/events.ecs.jsonl   # each case"
echo "    benches/ecs-to-sigma-proxy.py T/rules < T/events.ecs.jsonl > T/events.ndjson"
printf '%s\n' "${commands[@]}" | sed -e "s|$work|T|g" -e "s|$bin|reconwatch|g" -e "s|$rsigma|rsigma|g" | sed 's/^/    /'
