#!/usr/bin/env bash
# End-to-end throughput of reconwatch on generated logs, every command timed on the same files
# in the same run (so the machine's state is the same for all), next to the floors `wc -l` and
# `rg -c -F` (a literal search; Debian's ripgrep). BENCHMARKS.md is made from its output.
#
#   benches/throughput.sh            # a 1 GB Squid access.log and the matching Postfix maillog
#   benches/throughput.sh 200MB      # smaller: a few minutes on two cores
#   benches/throughput.sh 200MB | tee target/throughput-200MB.txt
#
# Per input (the Squid access.log, the Postfix maillog, then the world's mail and web
# directories: mixed formats, rotated gzip halves, hourly Exchange and ProxySG files), one
# table of time, MB/s, lines/s and peak RSS for:
#   - wc -l and rg -c -F LITERAL (a literal that occurs in the input), the floors;
#   - reconwatch parse --stats, on one thread and on every core;
#   - reconwatch scan with the shipped rules and a 100,000-entry watchlist (the world's
#     ~500 people plus synthetic ones, benches/gen-watchlist.py), on one thread and every core
#     (for the directories also with correlation off: only rules/email and rules/web);
#   - reconwatch scan --rules with only the 56 SigmaHQ proxy rules, on one thread (not on the
#     maillog: proxy rules never run on mail events);
# then the scaling (every core / one thread). Then the peak RSS of a scan with a 1,000,000-entry
# watchlist and 1,000 generated proxy rules (benches/gen-proxy-rules.py) besides the shipped
# ones, once on an empty file (the load alone) and once on the Squid log; and last
# benches/sigma-peer.sh: rsigma, a peer Sigma engine, next to reconwatch on the same events and
# rules (skipped with a message when rsigma is not installed).
#
# The SigmaHQ rules are the files listed in proxy-rules.txt of ../shared/sigma (next to the
# repository), or of $SIGMA_DIR (or $RECONWATCH_SIGMA, which tests/sigmahq.rs reads); they are
# copied to a temporary directory, never into the repository. Without them, their rows are
# skipped with a message, and so is the peer.
#
# The world is generated once per size under target/bench-world-SIZE (delete it to regenerate;
# target/ is $CARGO_TARGET_DIR when set); watchlists and rules are generated into a temporary
# directory on every run (a few seconds). scan exits 1 when it wrote alerts (expected: the world
# has a campaign), 2 on an error, which stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."

size="${1:-1GB}"
target_dir="${CARGO_TARGET_DIR:-target}"
dir="$target_dir/bench-world-$size"
sigma_dir="${SIGMA_DIR:-${RECONWATCH_SIGMA:-../shared/sigma}}"
cargo build --release --quiet
bin="$target_dir/release/reconwatch"
cores=$(nproc)

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

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# What this machine lacks is said once, and its rows are skipped rather than failing the run.
have_rg=1
command -v rg > /dev/null || { have_rg=; echo "note: ripgrep (rg) is not installed: its floor is skipped (apt-get install -y ripgrep)"; }
have_time=1
[ -x /usr/bin/time ] || { have_time=; echo "note: GNU time (/usr/bin/time) is not installed: no peak RSS (apt-get install -y time)"; }
command -v python3 > /dev/null || { echo "python3 is needed to generate the watchlists and rules (benches/gen-*.py)" >&2; exit 2; }
sigma_rules=()
if [ -f "$sigma_dir/proxy-rules.txt" ]; then
  mkdir "$work/sigma-proxy"
  while read -r rule; do
    [ -n "$rule" ] && cp "$sigma_dir/$rule" "$work/sigma-proxy/"
  done < "$sigma_dir/proxy-rules.txt"
  sigma_rules=(--rules "$work/sigma-proxy")
else
  echo "note: no SigmaHQ rules at $sigma_dir (proxy-rules.txt): the SigmaHQ rows and the peer are skipped (set SIGMA_DIR)"
fi

wl="parliament=$work/watchlist-100k.csv"
python3 benches/gen-watchlist.py "$dir/.world/people.csv" 100000 "$work/watchlist-100k.csv"

now() { date +%s.%N; }

# run OK_CODES CMD...: runs CMD (stdout to $work/out, stderr to $work/err), sets $secs and
# $rss (peak resident set, MB; "-" without GNU time). An exit code not in OK_CODES (a
# comma-separated list) prints the command's stderr and stops the script. The command is listed
# at the end as run, or as $shown when set (then cleared).
run() {
  local ok=$1 t0 t1 rc=0
  shift
  commands+=("${shown:-$*}")
  shown=
  t0=$(now)
  if [ -n "$have_time" ]; then
    /usr/bin/time -f %M -o "$work/rss" "$@" > "$work/out" 2> "$work/err" || rc=$?
  else
    "$@" > "$work/out" 2> "$work/err" || rc=$?
  fi
  t1=$(now)
  if [[ ",$ok," != *",$rc,"* ]]; then
    cat "$work/err" >&2
    echo "failed (exit $rc): $*" >&2
    exit 2
  fi
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
  rss=-
  [ -z "$have_time" ] || rss=$(tail -n 1 "$work/rss" | awk '{ printf "%.0f", $1 / 1024 }')
}

# row LABEL: prints the last run's figures for the current input ($bytes, $lines).
row() {
  awk -v what="$1" -v s="$secs" -v rss="$rss" -v bytes="$bytes" -v lines="$lines" 'BEGIN {
    printf "  %-46s %7.2f s %8.1f MB/s %10.0f lines/s %6s MB\n", what, s, bytes / 1e6 / s, lines / s, rss }'
}

header() {  # NAME: the table's first lines for the current input
  awk -v name="$1" -v bytes="$bytes" -v lines="$lines" 'BEGIN {
    printf "\n%s: %.1f MB, %d lines\n", name, bytes / 1e6, lines
    printf "  %-46s %9s %13s %18s %9s\n", "command", "time", "MB/s", "lines/s", "peak RSS" }'
}

# Ratios of every core to one thread, from "name secs1 secsN" triples (names without spaces).
scaling() {
  echo "$@" | awk -v cores="$cores" '{
    line = "  scaling (" cores " threads / 1):"
    for (i = 1; i + 2 <= NF; i += 3) line = line sprintf(" %s %.2fx%s", $i, $(i + 1) / $(i + 2), (i + 3 < NF) ? "," : "")
    print line }'
}

# The scan's summary lines that say what it found.
scan_summary() {
  grep -E '^  (alerts|correlation) ' "$work/err" | sed "s/^  /  $1: /" || true
}

# One file: the floors, parse and scan.
measure() {
  local file=$1 literal=$2 p1 pn s1 sn
  bytes=$(stat -c %s "$file")
  lines=$(wc -l < "$file")
  # Warm the page cache so every command reads from memory.
  cat "$file" > /dev/null
  header "$(basename "$file")"
  run 0 wc -l "$file"; row "wc -l"
  if [ -n "$have_rg" ]; then
    run 0,1 rg -c -F "$literal" "$file"; row "rg -c -F '$literal' ($(cat "$work/out") lines)"
  fi
  run 0 "$bin" parse --threads 1 --stats "$file"; p1=$secs; row "parse --stats -j1"
  run 0 "$bin" parse --threads "$cores" --stats "$file"; pn=$secs; row "parse --stats -j$cores"
  run 0,1 "$bin" scan --threads 1 --watchlist "$wl" --output /dev/null "$file"; s1=$secs
  row "scan -j1 (shipped rules, 100k watchlist)"
  scan_summary "scan"
  run 0,1 "$bin" scan --threads "$cores" --watchlist "$wl" --output /dev/null "$file"; sn=$secs
  row "scan -j$cores (shipped rules, 100k watchlist)"
  if [ "${#sigma_rules[@]}" -gt 0 ] && [[ "$file" != *maillog* ]]; then
    run 0,1 "$bin" scan --threads 1 "${sigma_rules[@]}" --output /dev/null "$file"
    row "scan -j1 (56 SigmaHQ proxy rules only)"
    scan_summary "SigmaHQ"
  fi
  scaling parse "$p1" "$pn" scan "$s1" "$sn"
}

# The world's mail and web directories as the generator wrote them (hourly Exchange and ProxySG
# files, rotated gzip halves), with correlation rules on (the default) and off (only the
# detection rules, rules/email and rules/web): the cost of correlation, and scaling over many
# inputs of several formats. The floors decompress and read the same bytes.
measure_dirs() {
  local literal=$1 files p1 pn s1 sn o1 on
  local off=(--rules rules/email --rules rules/web)
  mapfile -t files < <(find "$dir/mail" "$dir/web" -type f | sort)
  read -r lines bytes < <(zcat -f "${files[@]}" | wc -lc)
  cat "${files[@]}" > /dev/null
  header "world directories (mail + web, ${#files[@]} files, bytes uncompressed)"
  shown="zcat -f (every file under W/mail and W/web) | wc -l"
  # shellcheck disable=SC2016
  run 0 bash -c 'zcat -f "$@" | wc -l' - "${files[@]}"; row "zcat -f | wc -l"
  if [ -n "$have_rg" ]; then
    run 0,1 rg -z -c -F "$literal" "$dir/mail" "$dir/web"
    row "rg -z -c -F '$literal' ($(awk -F: '{ s += $NF } END { print s }' "$work/out") lines)"
  fi
  run 0 "$bin" parse --threads 1 --stats "$dir/mail" "$dir/web"; p1=$secs; row "parse --stats -j1"
  run 0 "$bin" parse --threads "$cores" --stats "$dir/mail" "$dir/web"; pn=$secs; row "parse --stats -j$cores"
  run 0,1 "$bin" scan --threads 1 --watchlist "$wl" --output /dev/null "$dir/mail" "$dir/web"; s1=$secs
  row "scan -j1 (shipped, 100k wl), correlation on"
  scan_summary "scan"
  run 0,1 "$bin" scan --threads "$cores" --watchlist "$wl" --output /dev/null "$dir/mail" "$dir/web"; sn=$secs
  row "scan -j$cores (shipped, 100k wl), correlation on"
  run 0,1 "$bin" scan --threads 1 --watchlist "$wl" "${off[@]}" --output /dev/null "$dir/mail" "$dir/web"; o1=$secs
  row "scan -j1 (shipped, 100k wl), correlation off"
  run 0,1 "$bin" scan --threads "$cores" --watchlist "$wl" "${off[@]}" --output /dev/null "$dir/mail" "$dir/web"; on=$secs
  row "scan -j$cores (shipped, 100k wl), correlation off"
  if [ "${#sigma_rules[@]}" -gt 0 ]; then
    run 0,1 "$bin" scan --threads 1 "${sigma_rules[@]}" --output /dev/null "$dir/mail" "$dir/web"
    row "scan -j1 (56 SigmaHQ proxy rules only)"
    scan_summary "SigmaHQ"
  fi
  scaling parse "$p1" "$pn" scan "$s1" "$sn" "scan-correlation-off" "$o1" "$on"
}

# Memory at scale: 1,000,000 watchlist entries and 1,000 generated proxy rules besides the
# shipped ones, on the Squid log on every core. Scans of an empty file give the load alone (time
# to ready, resident size): both, then each apart, to show which one costs.
measure_memory() {
  local wl1m=(--watchlist "parliament=$work/watchlist-1m.csv")
  local rules1k=(--rules "$work/rules-1000" --default-rules)
  python3 benches/gen-watchlist.py "$dir/.world/people.csv" 1000000 "$work/watchlist-1m.csv"
  python3 benches/gen-proxy-rules.py 1000 "$work/rules-1000"
  : > "$work/empty.log"
  bytes=$(stat -c %s "$dir/squid-access.log")
  lines=$(wc -l < "$dir/squid-access.log")
  header "memory: 1,000,000 watchlist entries, 1,000 generated proxy rules + the shipped ones"
  load_row() {  # LABEL OPTIONS...
    local label=$1
    shift
    run 0,1 "$bin" scan --threads 1 "$@" --output /dev/null "$work/empty.log"
    awk -v what="$label" -v s="$secs" -v rss="$rss" 'BEGIN {
      printf "  %-46s %7.2f s %32s %6s MB\n", what, s, "", rss }'
  }
  load_row "load only: shipped rules, 100k watchlist" --watchlist "$wl"
  load_row "load only: + 1,000 rules" --watchlist "$wl" "${rules1k[@]}"
  load_row "load only: 1M watchlist" "${wl1m[@]}"
  load_row "load only: 1M watchlist + 1,000 rules" "${wl1m[@]}" "${rules1k[@]}"
  run 0,1 "$bin" scan --threads "$cores" "${wl1m[@]}" "${rules1k[@]}" --output /dev/null "$dir/squid-access.log"
  row "scan -j$cores $(basename "$dir/squid-access.log"), 1M wl + 1,000 rules"
  scan_summary "scan"
}

commands=()
shown=
echo "reconwatch $("$bin" --version | cut -d' ' -f2) ($(git rev-parse --short HEAD 2>/dev/null || echo '?')), $(date -u +%FT%TZ)"
echo "machine: $cores cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.1f GB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r), $(rustc --version)"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
measure "$dir/squid-access.log" google.com
measure "$dir/postfix-maillog.log" status=sent
measure_dirs google.com
if [ -n "$have_time" ]; then
  measure_memory
else
  echo "memory: skipped (no /usr/bin/time)"
fi
echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "commands run (W = $dir, T = a temporary directory):"
printf '%s\n' "${commands[@]}" | sed -e "s|$work|T|g" -e "s|$dir|W|g" -e "s|$bin|reconwatch|g" | awk '!seen[$0]++ { print "  " $0 }'
echo
benches/sigma-peer.sh "$size"
