#!/usr/bin/env bash
# Levels 1-2 on held-out inputs over 1 MiB, where how much of the file a lane learns shows, beside
# lpaq1 -9, zpaq -m5, PPMd (7-Zip, order 32) and xz -9e in one run, for the README's level-1
# table: the outside-corpus texts joined (scripts/outside-corpus.sh fetches them), Moby-Dick whole
# and folded, both Gutenberg validation splits joined, a generated web-server access log (4.6 MB,
# fixed seed: synthetic, no log of ours is in the training text), freedesktop.org's MIME database
# (this machine's /usr/share/mime, apt-get install shared-mime-info) and all 32 validation files
# joined. Prints markdown rows: bits per byte, (KB/s compress / decompress) for s2s2s, round trips
# checked. Usage: CONFIGS="-1 --lanes 2;-1;-2" scripts/large-inputs.sh [s2s2s binary]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-./target/release/s2s2s}
d=target/large
mkdir -p "$d"
[ -s target/outside/moby.txt ] || FETCH_ONLY=1 scripts/outside-corpus.sh
[ -d "$d/split" ] || $bin validation-split -o "$d/split" >/dev/null 2>&1
cat target/outside/devil.txt target/outside/poems.txt target/outside/moby.txt > "$d/outside_joined.txt"
fold -s -w 72 target/outside/moby.txt > "$d/moby_whole_fold.txt"
cat "$d/split/prose_gutenberg_books.val" "$d/split/prose_gutenberg_books_more.val" > "$d/gutenberg_joined.txt"
cat "$d"/split/* > "$d/validation_joined.txt"
cp /usr/share/mime/packages/freedesktop.org.xml "$d/mime.xml"
python3 - "$d/access.log" <<'PY'
import datetime, random, sys
r = random.Random(7)
ips = [f"{r.randint(1,223)}.{r.randint(0,255)}.{r.randint(0,255)}.{r.randint(1,254)}" for _ in range(3000)]
w_ips = [1 / (i + 1) ** 0.9 for i in range(len(ips))]
words = ("about blog news products support docs api static images css js archive tag category search login user "
         "account cart checkout help faq contact download release notes wiki forum").split()
paths = []
for _ in range(1500):
    p = "/" + "/".join(r.choice(words) for _ in range(r.randint(1, 4)))
    ext = r.choice(["", "", ".html", ".php", ".png", ".jpg", ".css", ".js", ".gif", "/"])
    if ext == "" and r.random() < 0.3:
        p += f"/{r.randint(1, 9999)}"
    paths.append(p + ext)
w_paths = [1 / (i + 1) for i in range(len(paths))]
uas = ["Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/%d.0.%d.%d Safari/537.36",
       "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/%d.0 Safari/605.1.%d%d",
       "Mozilla/5.0 (X11; Linux x86_64; rv:%d.0) Gecko/20100101 Firefox/%d.%d",
       "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)%.0s%.0s%.0s",
       "Mozilla/5.0 (iPhone; CPU iPhone OS 16_%d like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E%d Safari/604.%d",
       "curl/7.%d.%d%.0s", "python-requests/2.%d.%d%.0s"]
agents = []
for _ in range(200):
    u = r.choice(uas)
    agents.append(u % tuple(r.randint(0, 120) for _ in range(u.count("%"))))
refs = ["-", "https://www.google.com/", "https://example.org/", "https://news.ycombinator.com/"]
t = datetime.datetime(2024, 3, 1)
out, size = [], 0
while size < 4_600_000:
    t += datetime.timedelta(seconds=r.expovariate(1 / 2.0))
    ip = r.choices(ips, w_ips)[0]
    p = r.choices(paths, w_paths)[0]
    if r.random() < 0.1:
        p += f"?id={r.randint(1, 100000)}&page={r.randint(1, 20)}"
    m = "GET" if r.random() < 0.9 else r.choice(["POST", "HEAD"])
    st = r.choices([200, 304, 404, 301, 500, 302], [80, 8, 6, 3, 1, 2])[0]
    sz = r.randint(200, 60000) if st == 200 else (0 if st == 304 else r.randint(100, 600))
    ref = r.choice(refs) if r.random() < 0.5 else "https://www.example.com" + r.choice(paths)
    line = f'{ip} - - [{t.strftime("%d/%b/%Y:%H:%M:%S")} +0000] "{m} {p} HTTP/1.1" {st} {sz} "{ref}" "{r.choice(agents)}"\n'
    out.append(line)
    size += len(line)
open(sys.argv[1], "w").write("".join(out))
PY
IFS=';' read -r -a configs <<< "${CONFIGS:--1 --lanes 2;-1;-2}"
bpb() { printf "%.3f" "$(echo "scale=6; 8 * $1 / $2" | bc)"; }
kbs() { echo "scale=0; $1 / 1000 / $2" | bc; }
w=$(mktemp -d)
for f in outside_joined.txt moby_whole_fold.txt gutenberg_joined.txt access.log mime.xml validation_joined.txt; do
  n=$(stat -c %s "$d/$f")
  row="| $f ($n B)"
  for c in "${configs[@]}"; do
    # (the configuration's flags split on spaces)
    s=$(date +%s.%N); $bin $c -T2 -c "$d/$f" > "$w/x.s2s"; m=$(date +%s.%N)
    $bin -d -T2 -c "$w/x.s2s" | cmp - "$d/$f"; e=$(date +%s.%N)
    row="$row | $(bpb "$(stat -c %s "$w/x.s2s")" "$n") ($(kbs "$n" "$(echo "$m - $s" | bc)") / $(kbs "$n" "$(echo "$e - $m" | bc)"))"
  done
  lpaq1 9 "$d/$f" "$w/x.lpaq" >/dev/null; row="$row | $(bpb "$(stat -c %s "$w/x.lpaq")" "$n")"
  rm -f "$w/x.zpaq"; zpaq a "$w/x.zpaq" "$d/$f" -m5 >/dev/null 2>&1; row="$row | $(bpb "$(stat -c %s "$w/x.zpaq")" "$n")"
  rm -f "$w/x.7z"; 7zz a -m0=PPMd:o=32:mem=1g -bd "$w/x.7z" "$d/$f" >/dev/null; row="$row | $(bpb "$(stat -c %s "$w/x.7z")" "$n")"
  echo "$row | $(bpb "$(xz -9e -c "$d/$f" | wc -c)" "$n") |"
done
rm -rf "$w"
