#!/usr/bin/env bash
# s2s2s levels beside lpaq1 -9, zpaq -m5, PPMd (7-Zip), xz -9, zstd -19, bzip2 -9 and bzip3 in one
# run, on the validation splits of ../shared/corpus (text no shipped network was trained on), one
# row per file and tool:
# bits per byte, compress and decompress KB/s (wall clock, 2 threads for s2s2s), every round
# trip checked. A tool that is not installed is skipped (lpaq1: ../shared/tools/build.sh; zpaq
# 7zz and bzip3: apt-get install zpaq 7zip bzip3).
# Usage: scripts/heldout-bench.sh [s2s2s binary]; LEVELS="1 2" (default) picks the levels (an
# entry LEVEL,PROFILE adds --profile PROFILE, e.g. "6 6,mixed" for level 6 as it was before profile 5),
# SOURCES and HEAD as in scripts/validation-files.sh; FILES="a b" measures those files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
. scripts/validation-files.sh
if [ -n "${FILES:-}" ]; then read -ra files <<< "$FILES"; fi

now() { date +%s.%N; }
# row NAME TOOL ORIGINAL COMPRESSED SECONDS_C SECONDS_D
row() {
  local n; n=$(stat -c %s "$3")
  awk -v f="$1" -v t="$2" -v n="$n" -v c="$(stat -c %s "$4")" -v tc="$5" -v td="$6" \
    'BEGIN { printf "| %s | %s | %.3f | %.0f | %.0f |\n", f, t, 8 * c / n, n / 1000 / tc, n / 1000 / td }'
}
# measure NAME TOOL FILE PACKED UNPACKED 'compress command' 'decompress command'
measure() {
  local a b c
  a=$(now); eval "$6" >/dev/null 2>&1; b=$(now); eval "$7" >/dev/null 2>&1; c=$(now)
  cmp -s "$3" "$5" || { echo "round trip failed: $2 on $3" >&2; exit 1; }
  row "$1" "$2" "$3" "$4" "$(echo "$b - $a" | bc -l)" "$(echo "$c - $b" | bc -l)"
}

echo "| file | tool | bits/byte | compress KB/s | decompress KB/s |"
echo "|---|---|---:|---:|---:|"
w=$out/work
for f in "${files[@]}"; do
  name=$(basename "$f"); rm -rf "$w"; mkdir -p "$w"
  for l in ${LEVELS:-1 2}; do
    flags="-${l%%,*}"; [ "${l#*,}" != "$l" ] && flags="$flags --profile ${l#*,}"
    measure "$name" "s2s2s $flags" "$f" "$w/x.s2s" "$w/x.out" "'$bin' $flags -T2 -c '$f' > '$w/x.s2s'" "'$bin' -d -T2 -c '$w/x.s2s' > '$w/x.out'"
  done
  if command -v lpaq1 >/dev/null; then
    measure "$name" "lpaq1 9" "$f" "$w/x.lpaq" "$w/x.lpaq.out" "lpaq1 9 '$f' '$w/x.lpaq'" "lpaq1 d '$w/x.lpaq' '$w/x.lpaq.out'"
  fi
  if command -v zpaq >/dev/null; then
    measure "$name" "zpaq -m5" "$f" "$w/x.zpaq" "$w/z/$name" "zpaq a '$w/x.zpaq' '$f' -m5 -t2" "(cd '$w' && zpaq x x.zpaq -to z -t2) && find '$w/z' -type f -name '$name' -exec mv {} '$w/z/$name' \\;"
  fi
  if command -v 7zz >/dev/null; then
    measure "$name" "PPMd o32" "$f" "$w/x.7z" "$w/p/$name" "7zz a -m0=PPMd:o=32:mem=1g -bd '$w/x.7z' '$f'" "7zz e -bd -o'$w/p' '$w/x.7z'"
  fi
  measure "$name" "xz -9" "$f" "$w/x.xz" "$w/x.xz.out" "xz -9e -kc '$f' > '$w/x.xz'" "xz -dc '$w/x.xz' > '$w/x.xz.out'"
  measure "$name" "zstd -19" "$f" "$w/x.zst" "$w/x.zst.out" "zstd -19 -qc '$f' > '$w/x.zst'" "zstd -dqc '$w/x.zst' > '$w/x.zst.out'"
  measure "$name" "bzip2 -9" "$f" "$w/x.bz2" "$w/x.bz2.out" "bzip2 -9kc '$f' > '$w/x.bz2'" "bzip2 -dc '$w/x.bz2' > '$w/x.bz2.out'"
  if command -v bzip3 >/dev/null; then
    measure "$name" "bzip3" "$f" "$w/x.bz3" "$w/x.bz3.out" "bzip3 -e -c -j 1 '$f' > '$w/x.bz3'" "bzip3 -d -c -j 1 '$w/x.bz3' > '$w/x.bz3.out'"
  fi
done
