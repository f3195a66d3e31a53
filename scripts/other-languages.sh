#!/usr/bin/env bash
# Text in languages other than English (the networks were trained on English; no part of these is
# in ../shared/corpus), for the README's "Text in other languages" table: the first 200 kB of
# Debian's fortune packages in Portuguese, German, Spanish, Italian, Polish, Russian and Chinese
# (each package's text files joined in path order) and of German and Japanese manual pages (the
# first 400 pages of manpages-de and manpages-ja, path order, roff source). Fetched from the
# package registries into target/languages, checked against the hashes of the bytes the README
# measured, then measured with scripts/heldout-bench.sh (LEVELS as there; default "1 2 6";
# FETCH_ONLY=1 builds the files and stops). Usage: scripts/other-languages.sh [s2s2s binary]
set -euo pipefail
cd "$(dirname "$0")/.."
d=target/languages
mkdir -p "$d/pkg"
fortunes="br de es it pl ru zh"
(cd "$d/pkg" && ls ./*.deb >/dev/null 2>&1 || apt-get download $(printf 'fortunes-%s ' $fortunes) manpages-de manpages-ja >/dev/null)
for deb in "$d"/pkg/*.deb; do name=$(basename "$deb"); mkdir -p "$d/pkg/x/${name%%_*}"; dpkg-deb -x "$deb" "$d/pkg/x/${name%%_*}"; done
# (head closes the pipes early: not a failure)
set +o pipefail
for l in $fortunes; do
  find "$d/pkg/x/fortunes-$l" -type f | sort | while read -r f; do file -b "$f" | grep -q text && cat "$f"; done | head -c 200000 > "$d/fortunes-$l.txt"
done
for l in de ja; do
  find "$d/pkg/x/manpages-$l" -name '*.gz' | sort | head -400 | xargs zcat 2>/dev/null | head -c 200000 > "$d/man-$l.roff"
done
set -o pipefail
(cd "$d" && sha256sum -c --quiet <<'SUMS'
2f8d953deb54831e8809440a6c5e7524ba1e94f2e34b1803c6bfea6e88ae8ff8  fortunes-br.txt
c70658637926360073b0825fea0816e0007d097181313b9fcdf24494913c9cb9  fortunes-de.txt
09262b1d891f98b1d832b3146d1a19e8585d7c34d5fbb405aab188e2510f5f41  fortunes-es.txt
eb0b4793c1ecad0277ee122b8f86b46c31d43d1c42a14beb8558a0161bb5aa97  fortunes-it.txt
879a8810b2ec5d9618fae28079d1f7fc1481efd3cf8c18d28b5eb2b89ea79b36  fortunes-pl.txt
e2b71adde1c813419954f51fbfefcbd597a8147c29ef83c86b2341c2d5685b39  fortunes-ru.txt
e42b47aa9d2fa7c9861913d7134d61ed9688b700a1a81af53c4dd4d891dc8964  fortunes-zh.txt
f63da54bf3648ece7c5ba6000ef24ada5d264c63e9f8abb069e70e70e78b230e  man-de.roff
32f79c5819c5c812429abdcbf5a522a1ba848ac33fa18cd4fa2850be86a83a40  man-ja.roff
SUMS
)
[ -n "${FETCH_ONLY:-}" ] && exit 0
files=$(printf "$d/fortunes-%s.txt " $fortunes)
DATA=outside LEVELS=${LEVELS:-1 2 6} FILES="$files $d/man-de.roff $d/man-ja.roff" scripts/heldout-bench.sh "$@"
