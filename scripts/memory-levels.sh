#!/usr/bin/env bash
# Peak resident memory (GNU time's maximum resident set size) of every level, compressing and
# decompressing, for RELIABILITY.md's per-level table. The input, 1.1 MB of the validation split
# (prose, code, logs), is larger than any level's first group of blocks, so every level's tables
# take their full size: larger inputs only add more of the same blocks, never more memory.
# Usage: scripts/memory-levels.sh [levels, default "1 2 3 4 5 6 7 8 9"]
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/memory-levels
mkdir -p "$out"
cargo build --release -q
bin=./target/release/s2s2s
if [ ! -s "$out/input" ]; then
  $bin validation-split -o "$out/split" >/dev/null 2>&1
  cat "$out"/split/prose_gutenberg_books.val "$out"/split/code_c.val "$out"/split/logs_git_log_stat.val > "$out/joined"
  head -c 1100000 "$out/joined" > "$out/input"
fi
peak() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
echo "| level | compress | decompress |"
echo "|---|---:|---:|"
for l in ${1:-1 2 3 4 5 6 7 8 9}; do
  c=$(peak $bin -$l -T2 -f -o "$out/input.s2s" "$out/input")
  d=$(peak $bin -d -T2 -c "$out/input.s2s")
  echo "| \`-$l\` | $((c / 1024)) MiB | $((d / 1024)) MiB |"
done
