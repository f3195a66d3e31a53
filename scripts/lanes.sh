#!/usr/bin/env bash
# Lanes x streams at the network levels (README "Levels 4-9 on one lane, fewer blocks at once"):
# level 6 on the first 1,000,000 bytes and level 4 on the first 2,000,000 bytes of all validation
# files concatenated (scripts/all-validation.sh's file), one row per --lanes/--streams, beside
# level 2 and lpaq1 -9 where installed: bytes, bits per byte, compress seconds.
#
# Usage: scripts/lanes.sh [s2s2s binary]; ROWS6 / ROWS4 ("L,S ...") pick the configurations.
set -euo pipefail
bin=${1:-target/release/s2s2s}
out=target/heldout
mkdir -p "$out/val"
"$bin" validation-split --corpus ../shared/corpus -o "$out/val" -q
cat "$out"/val/*.val > "$out/all-validation"
row() { # label, file, s2s2s flags...
  local label=$1 f=$2; shift 2
  local a b n s
  a=$(date +%s.%N); s=$("$bin" "$@" -T2 -c "$f" | wc -c); b=$(date +%s.%N); n=$(stat -c %s "$f")
  printf '%-28s %10d  %.3f bpb  %7.1f s\n' "$label" "$s" "$(echo "8 * $s / $n" | bc -l)" "$(echo "$b - $a" | bc)"
}
for spec in "6 1000000 ${ROWS6-2,8 2,4 2,2 2,1 1,4 1,2 1,1}" "4 2000000 ${ROWS4-2,8 2,4 2,2 2,1 1,4}"; do
  read -r level size rows <<< "$spec"
  f=$out/head-$size
  head -c "$size" "$out/all-validation" > "$f"
  echo "$f, level $level"
  for r in $rows; do row "-$level --lanes ${r%,*} --streams ${r#*,}" "$f" -"$level" --lanes "${r%,*}" --streams "${r#*,}"; done
  row "-2" "$f" -2
  if command -v lpaq1 > /dev/null; then
    lpaq1 9 "$f" "$f.lpaq" > /dev/null
    printf '%-28s %10d  %.3f bpb\n' "lpaq1 -9" "$(stat -c %s "$f.lpaq")" "$(echo "8 * $(stat -c %s "$f.lpaq") / $size" | bc -l)"
    rm -f "$f.lpaq"
  fi
done
