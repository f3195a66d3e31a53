#!/usr/bin/env bash
# The tuning set: the files the context mixer's changes are chosen on (sizes at level 2 unless
# LEVEL says otherwise), so that the files the product is judged on stay held out. "text": the
# validation splits of the Gutenberg books, Wikipedia-2018 and the presidential speeches, and the
# first 500 kB of those of Gutenberg-more, Wikipedia-2015 and the gensim Wikipedia XML; "other":
# the C, reStructuredText, git-log, CSV and Debian-XML validation splits. Never the CI file
# (enwik8's split: earlier revisions were tuned with its first 500 kB in "text"), never text from
# outside the corpus, never a public benchmark file.
# Usage: [LEVEL=2] scripts/tuning-set.sh [s2s2s binary]: prints each part's total compressed bytes.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
d=target/tuning
mkdir -p "$d/split" "$d/text" "$d/other"
[ -s "$d/split/code_c.val" ] || "$bin" validation-split --corpus ../shared/corpus -o "$d/split" -q
for s in prose_gutenberg_books wiki_plaintext_wikiextractor_2018 prose_us_presidential_speeches; do
  cp "$d/split/$s.val" "$d/text/$s"
done
for s in prose_gutenberg_books_more wiki_plaintext_wikiextractor_2015 wiki_gensim_enwiki_xml; do
  head -c 500000 "$d/split/$s.val" > "$d/text/$s"
done
for s in code_c docs_python_rst logs_git_log_stat struct_csv_fivethirtyeight struct_xml_debian; do
  cp "$d/split/$s.val" "$d/other/$s"
done
for part in text other; do
  total=0
  for f in "$d/$part"/*; do
    total=$((total + $("$bin" "-${LEVEL:-2}" -T2 -c "$f" | wc -c)))
  done
  echo "$part: $(cat "$d/$part"/* | wc -c) bytes -> $total"
done
