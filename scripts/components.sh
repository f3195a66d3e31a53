#!/usr/bin/env bash
# What each model of the context mixer buys, per validation source of ../shared/corpus (held-out
# text): each file is compressed at LEVEL (default 2) and `s2s2s info --components` decodes it,
# predicting every bit again without each model (with mixers and APMs of its own that learn
# too). One row per source: the level's bits per byte, then the bits per byte each model saved.
# Usage: scripts/components.sh [s2s2s binary]; LEVEL=4 for the network levels (much slower);
# SOURCES and HEAD as in scripts/validation-files.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
. scripts/validation-files.sh
w=$out/components
mkdir -p "$w"
header=
for f in "${files[@]}"; do
  s=$(basename "$f")
  "$bin" -"${LEVEL:-2}" -T2 -c "$f" > "$w/$s.s2s"
  "$bin" info --components -T2 "$w/$s.s2s" > "$w/$s.info"
  # component lines: 4 spaces, a name (may hold spaces), the bits, "bits", (x bits/byte)
  awk -v s="$s" -v h="$header" '
    /^  original/ { n = $2 } /^  compressed/ { c = $2 }
    /^    .* bits  \(/ { name = $0; sub(/^ +/, "", name); sub(/ +-?[0-9]+ bits.*/, "", name)
                        names = names " | " name; m = $0; sub(/ bits .*/, "", m); k = split(m, f, " ")
                        vals = vals sprintf(" | %.3f", f[k] / n) }
    END { if (h == "") { print "| source | bits/byte" names " |"; sep = names; sub(/^ /, "", sep); gsub(/\|[^|]*/, "|---:", sep); print "|---|---:" sep "|" }
          printf "| %s | %.3f%s |\n", s, 8 * c / n, vals }' "$w/$s.info"
  header=done
  rm -f "$w/$s.s2s"
done
