#!/usr/bin/env bash
# What CRLF line endings cost: the first HEAD (default 300000) bytes of held-out validation
# sources, once as they are (LF) and once with every line ending CRLF, compressed by s2s2s at
# LEVELS (default "1 4 6") and by lpaq1 -9 and zpaq -m5 where installed; one row per file, form
# and tool with the compressed size (round trips checked). Compare a build with the other by
# running the script with each binary.
# Usage: scripts/line-endings.sh [s2s2s binary]; SOURCES="..." picks sources.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
out=target/line-endings
mkdir -p "$out/val"
"$bin" validation-split --corpus ../shared/corpus -o "$out/val" -q
sources=${SOURCES:-prose_gutenberg_books prose_gutenberg_books_more code_c docs_postgresql_html logs_git_log_stat}
echo "| file | endings | tool | bytes in | bytes out |"
echo "|---|---|---|---:|---:|"
for s in $sources; do
  head -c "${HEAD:-300000}" "$out/val/$s.val" > "$out/$s.lf"
  sed 's/$/\r/' "$out/$s.lf" > "$out/$s.crlf"
  for e in lf crlf; do
    f="$out/$s.$e"; n=$(stat -c %s "$f")
    if command -v lpaq1 >/dev/null; then lpaq1 9 "$f" "$f.lp" >/dev/null; echo "| $s | $e | lpaq1 -9 | $n | $(stat -c %s "$f.lp") |"; fi
    if command -v zpaq >/dev/null; then rm -f "$f.zpaq"; zpaq a "$f.zpaq" "$f" -m5 >/dev/null 2>&1; echo "| $s | $e | zpaq -m5 | $n | $(stat -c %s "$f.zpaq") |"; fi
    for l in ${LEVELS:-1 4 6}; do
      "$bin" -"$l" -T2 -c "$f" > "$f.s2s"
      "$bin" -d -c "$f.s2s" | cmp - "$f" || { echo "round trip failed: -$l on $f" >&2; exit 1; }
      echo "| $s | $e | s2s2s -$l | $n | $(stat -c %s "$f.s2s") |"
    done
  done
done
