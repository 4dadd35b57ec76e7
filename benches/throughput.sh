#!/usr/bin/env bash
# End-to-end throughput of `reconwatch parse --stats` and `reconwatch scan` (the shipped rules,
# with the world's people as the watchlist, so enrichment and rules run as in production) on
# generated logs, on one thread and on every core, timed next to `wc -l` on the same file in
# the same run (so the machine's state is the same for all). scan minus parse is the cost of
# enrichment and matching.
#
#   benches/throughput.sh            # a 1 GB Squid access.log and the matching Postfix maillog
#   benches/throughput.sh 200MB      # smaller, for a quick look
#
# Then the whole world (mail and web) with the correlation rules on and off.
#
# The world is generated once per size under target/bench-world-SIZE (delete it to regenerate;
# target/ is $CARGO_TARGET_DIR when set). Prints, per file: size, lines, and for each command its
# time, MB/s and lines/s, then the alerts scan raised. Only formats whose lines stand alone
# (Squid) are split into chunks across cores; a Postfix file is one thread whatever --threads.
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-1GB}"
target_dir="${CARGO_TARGET_DIR:-target}"
dir="$target_dir/bench-world-$size"
cargo build --release --quiet
bin="$target_dir/release/reconwatch"

if [ ! -f "$dir/.complete" ]; then
  # The Squid access log is about 45% of a world; generate enough that it reaches $size.
  target=$(echo "$size" | awk '{
    n = $0 + 0; u = tolower($0); gsub(/[0-9. ]/, "", u); sub(/b$/, "", u)
    m = (u == "k") ? 1e3 : (u == "m") ? 1e6 : (u == "g") ? 1e9 : 1
    printf "%.0f", n * m / 0.45 }')
  echo "generating a world of ${target} bytes into $dir ..."
  "$bin" gen --seed 7 --size "$target" --out "$dir" 2>/dev/null
  # One file per format: the rotated (gzip) older half, then the current half.
  (zcat "$dir/web/access.log.1.gz"; cat "$dir/web/access.log") > "$dir/squid-access.log"
  (zcat "$dir/mail/maillog.1.gz"; cat "$dir/mail/maillog") > "$dir/postfix-maillog.log"
  touch "$dir/.complete"
fi

now() { date +%s.%N; }

# Seconds between two `now` readings.
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { print b - a }'; }

measure() {
  local file=$1 bytes lines t0 t1 t2 t3 t4 t5 rc=0
  bytes=$(stat -c %s "$file")
  # Warm the page cache so every command reads from memory.
  cat "$file" > /dev/null
  t0=$(now)
  lines=$(wc -l < "$file")
  t1=$(now)
  "$bin" parse --threads 1 --stats "$file" > "$dir/.stats"
  t2=$(now)
  "$bin" parse --stats "$file" > /dev/null
  t3=$(now)
  # scan exits 1 when it wrote alerts (expected here: the world has a campaign); 2 is an error.
  "$bin" scan --threads 1 --watchlist "parliament=$dir/.world/people.csv" --output /dev/null "$file" 2> "$dir/.scan" || rc=$?
  t4=$(now)
  if [ "$rc" -gt 1 ]; then
    cat "$dir/.scan" >&2
    echo "reconwatch scan failed (exit $rc)" >&2
    exit "$rc"
  fi
  "$bin" scan --watchlist "parliament=$dir/.world/people.csv" --output /dev/null "$file" 2> /dev/null || rc=$?
  t5=$(now)
  awk -v name="$(basename "$file")" -v bytes="$bytes" -v lines="$lines" -v cores="$(nproc)" \
      -v wc="$(elapsed "$t0" "$t1")" -v parse1="$(elapsed "$t1" "$t2")" -v parse="$(elapsed "$t2" "$t3")" \
      -v scan1="$(elapsed "$t3" "$t4")" -v scan="$(elapsed "$t4" "$t5")" '
    function row(what, s) {
      printf "  %-32s %7.2f s %9.1f MB/s %12.0f lines/s\n", what, s, bytes / 1e6 / s, lines / s
    }
    BEGIN {
      printf "%-22s %8.1f MB %11d lines\n", name, bytes / 1e6, lines
      row("wc -l", wc)
      row("reconwatch parse --stats -j1", parse1)
      row("reconwatch parse --stats (" cores " thr)", parse)
      row("reconwatch scan -j1", scan1)
      row("reconwatch scan (" cores " threads)", scan)
    }'
  sed -n '2p' "$dir/.stats" | sed 's/^/  /'
  grep -E '^  (alerts|inputs) ' "$dir/.scan" | sed 's/^  /  scan: /'
}

# The whole world (mail and web logs as the generator wrote them: hourly Exchange and ProxySG
# files, rotated gzip halves) scanned with the shipped rules, correlation rules on (the default)
# and off (only the detection rules, from rules/email and rules/web): the cost of correlation.
# The baseline decompresses and counts the same bytes (zcat -f | wc -l).
measure_world() {
  local files bytes lines t0 t1 t2 t3 t4 t5 rc=0 wl="parliament=$dir/.world/people.csv"
  local off=(--rules rules/email --rules rules/web)
  files=$(find "$dir/mail" "$dir/web" -type f | sort)
  # shellcheck disable=SC2086
  read -r lines bytes < <(zcat -f $files | wc -lc)
  t0=$(now)
  # shellcheck disable=SC2086
  zcat -f $files | wc -l > /dev/null
  t1=$(now)
  "$bin" scan --threads 1 --watchlist "$wl" --output /dev/null "$dir/mail" "$dir/web" 2> "$dir/.scan" || rc=$?
  t2=$(now)
  "$bin" scan --threads 1 --watchlist "$wl" "${off[@]}" --output /dev/null "$dir/mail" "$dir/web" 2> /dev/null || rc=$?
  t3=$(now)
  "$bin" scan --watchlist "$wl" --output /dev/null "$dir/mail" "$dir/web" 2> /dev/null || rc=$?
  t4=$(now)
  "$bin" scan --watchlist "$wl" "${off[@]}" --output /dev/null "$dir/mail" "$dir/web" 2> /dev/null || rc=$?
  t5=$(now)
  if [ "$rc" -gt 1 ]; then
    echo "reconwatch scan failed (exit $rc)" >&2
    exit "$rc"
  fi
  awk -v bytes="$bytes" -v lines="$lines" -v cores="$(nproc)" \
      -v wc="$(elapsed "$t0" "$t1")" -v on1="$(elapsed "$t1" "$t2")" -v off1="$(elapsed "$t2" "$t3")" \
      -v on="$(elapsed "$t3" "$t4")" -v off="$(elapsed "$t4" "$t5")" '
    function row(what, s) {
      printf "  %-32s %7.2f s %9.1f MB/s %12.0f lines/s\n", what, s, bytes / 1e6 / s, lines / s
    }
    BEGIN {
      printf "%-22s %8.1f MB %11d lines\n", "world (mail + web)", bytes / 1e6, lines
      row("zcat -f | wc -l", wc)
      row("scan -j1, correlation on", on1)
      row("scan -j1, correlation off", off1)
      row("scan (" cores " thr), correlation on", on)
      row("scan (" cores " thr), correlation off", off)
    }'
  grep -E '^  (alerts|correlation) ' "$dir/.scan" | sed 's/^  /  scan: /'
}

echo "reconwatch $("$bin" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%FT%TZ)"
measure "$dir/squid-access.log"
measure "$dir/postfix-maillog.log"
measure_world
