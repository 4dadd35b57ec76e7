#!/usr/bin/env bash
# End-to-end throughput of `reconwatch parse --stats` on generated logs, timed next to `wc -l` on
# the same file in the same run (so the machine's state is the same for both).
#
#   benches/throughput.sh            # a 1 GB Squid access.log and the matching Postfix maillog
#   benches/throughput.sh 200MB      # smaller, for a quick look
#
# The world is generated once per size under target/bench-world-SIZE (delete it to regenerate).
# Prints, per file: size, lines, and for each command its time, MB/s and lines/s. One core:
# parse reads one file on one thread.
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-1GB}"
dir="target/bench-world-$size"
cargo build --release --quiet
bin=target/release/reconwatch

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

measure() {
  local file=$1 bytes lines t0 t1 t2
  bytes=$(stat -c %s "$file")
  # Warm the page cache so both commands read from memory.
  cat "$file" > /dev/null
  t0=$(now)
  lines=$(wc -l < "$file")
  t1=$(now)
  "$bin" parse --stats "$file" > "$dir/.stats"
  t2=$(now)
  awk -v name="$(basename "$file")" -v bytes="$bytes" -v lines="$lines" \
      -v wc="$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
      -v rw="$(awk -v a="$t1" -v b="$t2" 'BEGIN { print b - a }')" 'BEGIN {
    printf "%-22s %8.1f MB %11d lines\n", name, bytes / 1e6, lines
    printf "  %-28s %7.2f s %9.1f MB/s %12.0f lines/s\n", "wc -l", wc, bytes / 1e6 / wc, lines / wc
    printf "  %-28s %7.2f s %9.1f MB/s %12.0f lines/s\n", "reconwatch parse --stats", rw, bytes / 1e6 / rw, lines / rw
  }'
  sed -n '2p' "$dir/.stats" | sed 's/^/  /'
}

echo "reconwatch $("$bin" --version | cut -d' ' -f2), $(nproc) cores, $(date -u +%FT%TZ)"
measure "$dir/squid-access.log"
measure "$dir/postfix-maillog.log"
