#!/usr/bin/env bash
# Level 6 of two builds side by side (e.g. before and after a change to the lanes), beside lpaq1 -9
# and zpaq -m5, on the first HEAD (default 200000) bytes of held-out validation sources: bits per
# byte, the new build's compress speed / the old one's, and the new one's compress and decompress
# seconds (2 threads; round trips checked).
# Usage: OLD=path/to/old/s2s2s scripts/small-inputs.sh [new binary]; SOURCES="..." picks sources.
set -euo pipefail
cd "$(dirname "$0")/.."
new=${1:-./target/release/s2s2s}
old=${OLD:?OLD=path to the other build}
head=${HEAD:-200000}
out=target/small-inputs
mkdir -p "$out/val"
"$new" validation-split --corpus ../shared/corpus -o "$out/val" -q
sources=${SOURCES:-prose_gutenberg_books wiki_plaintext_wikiextractor_2018 code_python_stdlib logs_git_log_stat docs_postgresql_html struct_xml_debian struct_json_corpora}
now() { date +%s.%N; }
echo "| file | -6 old | -6 new | lpaq1 -9 | zpaq -m5 | new vs old | new vs lpaq1 | new vs zpaq | new ÷ old compress speed | new compress / decompress |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in $sources; do
  f="$out/$s"
  head -c "$head" "$out/val/$s.val" > "$f"
  n=$(stat -c %s "$f")
  l=- z=-
  if command -v lpaq1 >/dev/null; then lpaq1 9 "$f" "$f.lp" >/dev/null; l=$(stat -c %s "$f.lp"); fi
  if command -v zpaq >/dev/null; then rm -f "$f.zpaq"; zpaq a "$f.zpaq" "$f" -m5 >/dev/null 2>&1; z=$(stat -c %s "$f.zpaq"); fi
  a=$(now); "$old" -6 -T2 -c "$f" > "$f.old.s2s"; b=$(now)
  "$new" -6 -T2 -c "$f" > "$f.s2s"; c=$(now)
  "$new" -d -T2 -c "$f.s2s" | cmp - "$f" || { echo "round trip failed on $s" >&2; exit 1; }
  d=$(now)
  awk -v s="$s" -v n="$n" -v o="$(stat -c %s "$f.old.s2s")" -v f="$(stat -c %s "$f.s2s")" -v l="$l" -v z="$z" \
    -v to="$(echo "$b - $a" | bc)" -v tf="$(echo "$c - $b" | bc)" -v td="$(echo "$d - $c" | bc)" '
    function bpb(x) { return x == "-" ? "-" : sprintf("%.3f", 8 * x / n) }
    function vs(x) { return x == "-" ? "-" : sprintf("%+.1f%%", 100 * (f / x - 1)) }
    BEGIN { printf "| %s | %s | %s | %s | %s | %s | %s | %s | %.2f | %.0f s / %.0f s |\n",
      s, bpb(o), bpb(f), bpb(l), bpb(z), vs(o), vs(l), vs(z), to / tf, tf, td }'
done
