#!/usr/bin/env bash
# Level 6 beside lpaq1, zpaq -m5, PPMd, xz -9 (and gzip/bzip2/zstd) in one run, on text no
# model here was trained on: the first 100 kB of five validation splits of ../shared/corpus.
# Usage: scripts/heldout-bench.sh [s2s2s binary] (lpaq1 and zpaq on PATH: see ../shared/tools).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
out=target/heldout
mkdir -p "$out/val"
"$bin" validation-split --corpus ../shared/corpus -o "$out/val" -q
files=()
for s in prose_us_presidential_speeches wiki_plaintext_wikiextractor_2018 code_python_stdlib code_rust struct_xml_debian; do
  head -c 100000 "$out/val/$s.val" > "$out/$s.100k"
  files+=("$out/$s.100k")
done
"$bin" bench -T2 "${files[@]}"
echo
echo "| file | tool | bits/byte | compress KB/s | decompress KB/s |"
echo "|---|---|---:|---:|---:|"
for f in "${files[@]}"; do
  n=$(stat -c %s "$f"); name=$(basename "$f")
  t() { local s; s=$(date +%s.%N); "$@" >/dev/null 2>&1; echo "$(date +%s.%N) - $s" | bc -l; }
  if command -v lpaq1 >/dev/null; then
    c=$(t lpaq1 9 "$f" "$out/x.lpaq"); d=$(t lpaq1 d "$out/x.lpaq" "$out/x.lpaq.out"); cmp -s "$f" "$out/x.lpaq.out"
    printf "| %s | lpaq1 9 | %.3f | %.1f | %.1f |\n" "$name" "$(echo "8*$(stat -c %s "$out/x.lpaq")/$n" | bc -l)" "$(echo "$n/1000/$c" | bc -l)" "$(echo "$n/1000/$d" | bc -l)"
  fi
  if command -v zpaq >/dev/null; then
    rm -rf "$out/x.zpaq" "$out/zx"; mkdir -p "$out/zx"
    c=$(t zpaq a "$out/x.zpaq" "$f" -m5 -t1); d=$(t zpaq x "$out/x.zpaq" -to "$out/zx" -t1); cmp -s "$f" "$(find "$out/zx" -type f -name "$name")"
    printf "| %s | zpaq -m5 | %.3f | %.1f | %.1f |\n" "$name" "$(echo "8*$(stat -c %s "$out/x.zpaq")/$n" | bc -l)" "$(echo "$n/1000/$c" | bc -l)" "$(echo "$n/1000/$d" | bc -l)"
  fi
done
