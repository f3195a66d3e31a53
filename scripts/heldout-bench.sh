#!/usr/bin/env bash
# s2s2s levels beside paq8px -8 (PAQ8PX=1: minutes a megabyte), lpaq1 -9, zpaq -m5, PPMd (7-Zip),
# bzip3, xz -9, zstd -19 and bzip2 -9 in one run, every round trip checked. Each measurement is a
# result row: RESULTS=FILE.csv writes them there (bench/results/: docs/BENCHMARKS.md and the
# README's tables are rendered from those files by scripts/render-results.py), and a markdown row
# (bits per byte, KB/s each way) goes to stdout. Times are wall clock, s2s2s on 2 threads (-T2),
# the others on one (zpaq -t2); peak memory is GNU time's maximum resident set size.
#
# Files: the validation splits of ../shared/corpus (text from the sources the networks were
# trained on, never trained on itself; SOURCES and HEAD as in scripts/validation-files.sh), or
# FILES="a b" with DATA saying what they are: "validation" (a validation split) or "outside"
# (text no part of the corpus contains). A tool that is not installed is skipped (lpaq1 and
# paq8px: ../shared/tools/build.sh; zpaq, 7zz, bzip3: apt-get install zpaq 7zip bzip3).
# Usage: [RESULTS=bench/results/x.csv] [LEVELS="1 2 6"] [FILES=... DATA=outside] [PAQ8PX=1]
#        scripts/heldout-bench.sh [s2s2s binary]
# (a LEVELS entry LEVEL,PROFILE adds --profile PROFILE, e.g. "6,mixed")
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
if [ -n "${FILES:-}" ]; then
  read -ra files <<< "$FILES"
  data=${DATA:?"FILES needs DATA=validation or DATA=outside"}
  out=target/heldout
else
  . scripts/validation-files.sh
  data=validation
fi
command -v /usr/bin/time >/dev/null || { echo "needs GNU time (apt-get install time)" >&2; exit 1; }

rows=$(mktemp)
trap 'rm -f "$rows"' EXIT
commit=$(git rev-parse --short=10 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src Cargo.toml Cargo.lock models 2>/dev/null || commit="$commit+changes"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
kernel=$("$bin" --version | sed -n 's/^kernel: \([a-z0-9]*\).*/\1/p')
day=$(date -u +%F)
# (for the rows: single quotes only, the field is double-quoted)
command_line="${RESULTS:+RESULTS=$RESULTS }LEVELS='${LEVELS:-1 2}'${FILES:+ FILES=...}${HEAD:+ HEAD=$HEAD}${PAQ8PX:+ PAQ8PX=1} scripts/heldout-bench.sh"

# The version a tool reports (its first version-like word).
version() {
  local v
  v=$( { "$@" 2>&1 || true; } | grep -oE '[vV]?[0-9]+\.[0-9]+(\.[0-9]+)?|v[0-9]+' | head -1)
  echo "${v:-unknown}"
}
declare -A versions=(
  [s2s2s]="$("$bin" --version | head -1 | cut -d' ' -f2)"
  [xz]="$(version xz --version)" [zstd]="$(version zstd --version)" [bzip2]="$(version bzip2 --help)"
)
command -v bzip3 >/dev/null && versions[bzip3]="$(version bzip3 --version)"
command -v 7zz >/dev/null && versions[7zz]="$(version 7zz)"
command -v zpaq >/dev/null && versions[zpaq]="$(version zpaq)"
command -v paq8px >/dev/null && versions[paq8px]="$(version paq8px)"
versions[lpaq1]=1

now() { date +%s.%N; }
# peak FILE COMMAND: runs COMMAND (a shell string), its peak memory in KiB into FILE
peak() { /usr/bin/time -f %M -o "$1" sh -c "$2" >/dev/null 2>&1; }
# measure NAME TOOL THREADS FILE PACKED UNPACKED 'compress command' 'decompress command'
measure() {
  local a b c n p
  a=$(now); peak "$w/mem.c" "$7"; b=$(now); peak "$w/mem.d" "$8"; c=$(now)
  cmp -s "$4" "$6" || { echo "round trip failed: $2 on $4" >&2; exit 1; }
  n=$(stat -c %s "$4"); p=$(stat -c %s "$5")
  local tc td; tc=$(echo "$b - $a" | bc -l); td=$(echo "$c - $b" | bc -l)
  local base=${2%% *}
  echo "$day,$commit,\"$cpu\",${kernel},$3,$2,${versions[$base]:-unknown},$data,$1,$(sha256sum "$4" | cut -c1-64),$n,$p,$tc,$td,$(tail -1 "$w/mem.c"),$(tail -1 "$w/mem.d"),\"$command_line\"" >> "$rows"
  awk -v f="$1" -v t="$2" -v n="$n" -v c="$p" -v tc="$tc" -v td="$td" \
    'BEGIN { printf "| %s | %s | %.3f | %.0f | %.0f |\n", f, t, 8 * c / n, n / 1000 / tc, n / 1000 / td }'
}

echo "| file | tool | bits/byte | compress KB/s | decompress KB/s |"
echo "|---|---|---:|---:|---:|"
w=$out/work
for f in "${files[@]}"; do
  name=$(basename "$f"); rm -rf "$w"; mkdir -p "$w"
  for l in ${LEVELS:-1 2}; do
    flags="-${l%%,*}"; [ "${l#*,}" != "$l" ] && flags="$flags --profile ${l#*,}"
    measure "$name" "s2s2s $flags" 2 "$f" "$w/x.s2s" "$w/x.out" "'$bin' $flags -T2 -c '$f' > '$w/x.s2s'" "'$bin' -d -T2 -c '$w/x.s2s' > '$w/x.out'"
  done
  if [ -n "${PAQ8PX:-}" ] && command -v paq8px >/dev/null; then
    measure "$name" "paq8px -8" 1 "$f" "$w/x.paq8px" "$w/q/$name" "paq8px -8 '$f' '$w/x.paq8px'" "mkdir -p '$w/q' && paq8px -d '$w/x.paq8px' '$w/q/$name'"
  fi
  if command -v lpaq1 >/dev/null; then
    measure "$name" "lpaq1 9" 1 "$f" "$w/x.lpaq" "$w/x.lpaq.out" "lpaq1 9 '$f' '$w/x.lpaq'" "lpaq1 d '$w/x.lpaq' '$w/x.lpaq.out'"
  fi
  if command -v zpaq >/dev/null; then
    measure "$name" "zpaq -m5" 2 "$f" "$w/x.zpaq" "$w/z/$name" "zpaq a '$w/x.zpaq' '$f' -m5 -t2" "(cd '$w' && zpaq x x.zpaq -to z -t2) && find '$w/z' -type f -name '$name' -exec mv {} '$w/z/$name' \\;"
  fi
  if command -v 7zz >/dev/null; then
    measure "$name" "7zz PPMd o32" 1 "$f" "$w/x.7z" "$w/p/$name" "7zz a -m0=PPMd:o=32:mem=1g -bd '$w/x.7z' '$f'" "7zz e -bd -o'$w/p' '$w/x.7z'"
  fi
  if command -v bzip3 >/dev/null; then
    measure "$name" "bzip3" 1 "$f" "$w/x.bz3" "$w/x.bz3.out" "bzip3 -e -c -j 1 '$f' > '$w/x.bz3'" "bzip3 -d -c -j 1 '$w/x.bz3' > '$w/x.bz3.out'"
  fi
  measure "$name" "xz -9e" 1 "$f" "$w/x.xz" "$w/x.xz.out" "xz -9e -T1 -kc '$f' > '$w/x.xz'" "xz -dc '$w/x.xz' > '$w/x.xz.out'"
  measure "$name" "zstd -19" 1 "$f" "$w/x.zst" "$w/x.zst.out" "zstd -19 -qc '$f' > '$w/x.zst'" "zstd -dqc '$w/x.zst' > '$w/x.zst.out'"
  measure "$name" "bzip2 -9" 1 "$f" "$w/x.bz2" "$w/x.bz2.out" "bzip2 -9kc '$f' > '$w/x.bz2'" "bzip2 -dc '$w/x.bz2' > '$w/x.bz2.out'"
done

if [ -n "${RESULTS:-}" ]; then
  mkdir -p "$(dirname "$RESULTS")"
  header="date,commit,cpu,kernel,threads,tool,version,data,input,sha256,original,compressed,compress_s,decompress_s,compress_peak_kib,decompress_peak_kib,command"
  { echo "$header"; cat "$rows"; } > "$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
  echo "wrote $(wc -l < "$rows") rows to $RESULTS" >&2
fi
