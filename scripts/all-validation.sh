#!/usr/bin/env bash
# s2s2s levels beside lpaq1 -9, zpaq -m5, PPMd, xz -9 and zstd -19 on one file made of all the
# validation files of ../shared/corpus concatenated (8.25 MB of held-out text of 32 kinds): bytes,
# bits per byte and seconds, round trips checked. The README's "Format version 8" table.
#
# Usage: scripts/all-validation.sh [s2s2s binary]; LEVELS="1 2 4" (default) picks the levels;
# OLD=<binary of an earlier build> adds its sizes and times, round trips checked.
set -euo pipefail
bin=${1:-target/release/s2s2s}
out=target/heldout
mkdir -p "$out/val"
"$bin" validation-split --corpus ../shared/corpus -o "$out/val" -q
f=$out/all-validation
cat "$out"/val/*.val > "$f"
n=$(stat -c %s "$f")
now() { date +%s.%N; }
row() { # name, size, compress s, decompress s
  printf '%-12s %10d  %.3f bpb  c %7.1f s  d %7s s\n' "$1" "$2" "$(echo "8 * $2 / $n" | bc -l)" "$3" "$4"
}
echo "$f: $n bytes"
for l in ${LEVELS:-1 2 4}; do
  a=$(now); "$bin" -"$l" -T2 -c "$f" > "$f.s2s"; b=$(now); "$bin" -d -T2 -c "$f.s2s" | cmp - "$f"; c=$(now)
  row "-$l" "$(stat -c %s "$f.s2s")" "$(echo "$b - $a" | bc)" "$(printf %.1f "$(echo "$c - $b" | bc)")"
  if [ -n "${OLD:-}" ]; then
    a=$(now); "$OLD" -"$l" -T2 -c "$f" > "$f.s2s"; b=$(now); "$OLD" -d -T2 -c "$f.s2s" | cmp - "$f"; c=$(now)
    row "-$l before" "$(stat -c %s "$f.s2s")" "$(echo "$b - $a" | bc)" "$(printf %.1f "$(echo "$c - $b" | bc)")"
  fi
done
ref() { # name, output file, compress command
  a=$(now); eval "$3" > /dev/null 2>&1; b=$(now); row "$1" "$(stat -c %s "$2")" "$(echo "$b - $a" | bc)" "-"
}
command -v lpaq1 > /dev/null && ref "lpaq1 -9" "$f.lpaq" "lpaq1 9 $f $f.lpaq"
command -v zpaq > /dev/null && { rm -f "$f.zpaq"; ref "zpaq -m5" "$f.zpaq" "zpaq a $f.zpaq $f -m5"; }
command -v 7zz > /dev/null && { rm -f "$f.7z"; ref "PPMd o32" "$f.7z" "7zz a -m0=PPMd:o=32:mem=192m $f.7z $f"; }
ref "xz -9" "$f.xz" "xz -9 -T1 -c $f > $f.xz"
ref "zstd -19" "$f.zst" "zstd -19 -q -c $f > $f.zst"
rm -f "$f".*
