#!/usr/bin/env bash
# Rebuilds the training corpus (32 sources, train/corpus/SOURCES.md) from its public sources.
#
#   train/build-corpus.sh OUTDIR [NAME...]
#
# Writes OUTDIR/NAME.xz (xz -9e) for each source (all 32, or the NAMEs given), checks the sha256 of the
# uncompressed content against SOURCES.md and prints, per source: "match", "DIFFERENT" (rebuilt, but not
# byte for byte the published file) or "NOT REBUILT" (and why). It goes on past a source that fails. A
# source whose OUTDIR/NAME.xz already matches is skipped, and downloads are kept in OUTDIR/.work, so running
# it again only redoes what is missing or different. Exit status: 0 when all requested sources match.
#
# Inputs:
#   * GitHub repositories at the pinned commits (train/build_corpus.py, COMMITS): a shallow fetch of the one
#     commit without file contents (git fetch --depth 1 --filter=blob:none), then the files the manifests
#     name, fetched in one batch. logs_git_log_stat needs the full history of git/git and curl/curl.
#   * Debian 12 (bookworm) amd64 packages at the versions of train/corpus/debian-packages.txt: apt-get
#     download where apt knows the version, else deb.debian.org's pool (debian, debian-security), else
#     snapshot.debian.org, else a version listed there as holding identical files; unpacked with dpkg-deb.
#   * The manifests (inputs in concatenation order): train/corpus/manifests.tar.xz.
#   * Fallbacks: enwik8.zip from mattmahoney.net for enwik8_head3M (its first 3,000,000 bytes are the same
#     bytes), the gensim 4.4.0 sdist from PyPI for wiki_gensim_enwiki_xml.
# How each source joins its inputs is in train/build_corpus.py ("assemble").
#
# Needs: bash 4.4+, git 2.29+, python3, xz, sha256sum, curl, unzip, dpkg-deb (or ar and tar), a few GB of
# disk in OUTDIR/.work (git/git and curl/curl histories, ~600 Debian packages: 0.6 GB) and network access.
#
# Environment: S2S2S_CORPUS_WORK (work folder, default OUTDIR/.work), S2S2S_CORPUS_GIT_BASE (default
# https://github.com; a mirror with the same owner/repo layout), S2S2S_DEBIAN_MIRROR (default
# http://deb.debian.org), S2S2S_CORPUS_ANY_VERSION=1 (when a pinned Debian package cannot be had, use the
# newest version apt offers: the source is then rebuilt but will likely differ), S2S2S_KEEP_ROOTS=1 (keep
# the unpacked Debian packages).
#
# What was checked when this script was written (2026-12, on a machine that reached Debian's archive, PyPI and
# npm, but not GitHub, snapshot.debian.org or mattmahoney.net):
#   * Debian sources: this script rebuilt code_python_stdlib, code_c_headers, struct_manpages_roff,
#     docs_python_rst, docs_postgresql_html and struct_xml_debian from downloaded packages (apt and the
#     deb.debian.org pool), and all six match. logs_debian_changelogs came out NOT REBUILT: 7 of its 541
#     packages are only on snapshot.debian.org or NodeSource; with those 7 changelogs taken from a system that
#     had the packages installed, `build_corpus.py assemble` gives the published file byte for byte. The
#     snapshot.debian.org and NodeSource downloads have never been tried.
#   * wiki_gensim_enwiki_xml: rebuilt through its PyPI fallback; matches. enwik8's fallback was not reachable.
#   * The GitHub sources were not fetched from GitHub. The whole GitHub path (shallow blobless fetch of a
#     commit, batched fetch of the files, reading, joining, xz, hash check, rerun) was run against local
#     repositories at other commits, whose files had been cut back out of the published corpus files (at the
#     separator lines and boundaries the published files show, at arbitrary line ends where they show none),
#     with CRLF, BOMs, cp1252 and Project Gutenberg headers added where the rules remove them: the 24 of the
#     25 GitHub sources other than logs_git_log_stat came out "match". logs_git_log_stat's full-history fetch
#     and git log call were run on a made-up history (same output as plain `git log` in a bare repository,
#     mailmap included). This shows the machinery and
#     that the joining round-trips; it does not show that the rules equal the original build's where the
#     published files cannot tell (SOURCES.md, "How the inputs are joined", says which). A mismatch there, or
#     a different git version for logs_git_log_stat, shows as DIFFERENT.
set -euo pipefail
shopt -s inherit_errexit

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[ $# -ge 1 ] || usage
case "$1" in -h|--help) usage ;; esac

OUT=$1; shift
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOOL="$HERE/build_corpus.py"
PY=${PYTHON:-python3}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=${S2S2S_CORPUS_WORK:-$OUT/.work}
GIT_BASE=${S2S2S_CORPUS_GIT_BASE:-https://github.com}
DEB_MIRROR=${S2S2S_DEBIAN_MIRROR:-http://deb.debian.org}
mkdir -p "$WORK/git" "$WORK/debs" "$WORK/tmp" "$WORK/fallback"

for tool in git xz sha256sum curl "$PY"; do
  command -v "$tool" >/dev/null || { echo "build-corpus: $tool is missing" >&2; exit 2; }
done

if [ $# -gt 0 ]; then NAMES=("$@"); else mapfile -t NAMES < <("$PY" "$TOOL" list); fi

# git with no user or system configuration, never prompting
g() { GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null GIT_TERMINAL_PROMPT=0 git "$@"; }

log() { echo "  $*" >&2; }

# fetch_commit REPO COMMIT MODE: prints the bare git directory holding COMMIT.
#   MODE tree: shallow (one commit), without file contents; MODE history: all of COMMIT's history.
fetch_commit() {
  local repo=$1 commit=$2 mode=$3
  local dir="$WORK/git/${repo//\//__}.$mode.git"
  if [ ! -d "$dir/objects" ]; then
    rm -rf "$dir"
    g init -q --bare "$dir" >&2 || return 1
    g --git-dir="$dir" remote add origin "$GIT_BASE/$repo.git" || return 1
  fi
  if ! g --git-dir="$dir" cat-file -e "$commit^{commit}" 2>/dev/null; then
    log "fetching $repo @ ${commit:0:12} ($mode)"
    if [ "$mode" = tree ]; then
      g --git-dir="$dir" fetch -q --no-tags --depth 1 --filter=blob:none origin "$commit" >&2 \
        || g --git-dir="$dir" fetch -q --no-tags --depth 1 origin "$commit" >&2 || return 1
    else
      g --git-dir="$dir" fetch -q --no-tags origin "$commit" >&2 || return 1
    fi
  fi
  # a bare mirror's HEAD, as in the original build (git log reads the mailmap from HEAD:.mailmap)
  g --git-dir="$dir" update-ref --no-deref HEAD "$commit" || return 1
  echo "$dir"
}

# prefetch NAME REPO COMMIT DIR: fetches, in one request, the file contents NAME reads from REPO
# (otherwise git would fetch them one by one when they are read).
prefetch() {
  local name=$1 repo=$2 commit=$3 dir=$4
  local mark="$dir/prefetched.$name"
  [ -e "$mark" ] && return 0
  "$PY" "$TOOL" paths "$name" "$repo" > "$WORK/tmp/paths" || return 1
  g --git-dir="$dir" ls-tree -r -z --full-tree "$commit" > "$WORK/tmp/tree" || return 1
  "$PY" - "$WORK/tmp/paths" "$WORK/tmp/tree" > "$WORK/tmp/oids" <<'EOF' || return 1
import sys
want = [p for p in open(sys.argv[1], "rb").read().split(b"\0") if p]
oid = {}
for e in open(sys.argv[2], "rb").read().split(b"\0"):
    if e:
        meta, path = e.split(b"\t", 1)
        oid[path] = meta.split()[2]
missing = [p for p in want if p not in oid]
for p in missing[:10]:
    print("  not in the commit: " + p.decode("utf-8", "replace"), file=sys.stderr)
if missing:
    sys.exit("  %d of %d files are not in the commit" % (len(missing), len(want)))
sys.stdout.write("".join(sorted({oid[p].decode() + "\n" for p in want})))
EOF
  if [ "$(g --git-dir="$dir" config --get remote.origin.promisor || true)" = true ]; then
    log "fetching $(wc -l < "$WORK/tmp/oids") files of $repo"
    if ! g --git-dir="$dir" -c fetch.negotiationAlgorithm=noop fetch -q --no-tags --no-write-fetch-head \
         --recurse-submodules=no --filter=blob:none --stdin origin < "$WORK/tmp/oids"; then
      log "batched fetch failed; files will be fetched one by one"
      return 0
    fi
  fi
  touch "$mark"
}

# deb_get PACKAGE VERSION ARCH SOURCE EQUIVALENTS [URL]: prints the path of the downloaded .deb
deb_get() {
  local pkg=$1 ver=$2 arch=$3 src=$4 equiv=$5 direct=${6:-}
  local v want f tmp prefix url hash
  for want in "$ver" ${equiv//,/ }; do
    [ "$want" = - ] && continue
    v=${want#*:}
    f="$WORK/debs/${pkg}_${v}_${arch}.deb"
    if [ -s "$f" ]; then echo "$f"; return 0; fi
    tmp=$(mktemp -d "$WORK/tmp/deb.XXXXXX")
    # 1. apt, if it knows the version
    if command -v apt-get >/dev/null \
       && (cd "$tmp" && apt-get download -qq "$pkg:$arch=$want" >/dev/null 2>&1 \
                     || apt-get download -qq "$pkg=$want" >/dev/null 2>&1) \
       && ls "$tmp"/*.deb >/dev/null 2>&1; then
      mv "$tmp"/*.deb "$f"; rm -rf "$tmp"; echo "$f"; return 0
    fi
    # 2. the Debian pool (main archive, which also holds backports; security archive), or the package's own URL
    case "$src" in lib?*) prefix=${src:0:4} ;; *) prefix=${src:0:1} ;; esac
    for url in ${direct:+"$direct"} "$DEB_MIRROR/debian/pool/main/$prefix/$src/${pkg}_${v}_${arch}.deb" \
               "$DEB_MIRROR/debian-security/pool/updates/main/$prefix/$src/${pkg}_${v}_${arch}.deb"; do
      if curl -fsSL --retry 2 -o "$tmp/p.deb" "$url" 2>/dev/null; then
        mv "$tmp/p.deb" "$f"; rm -rf "$tmp"; echo "$f"; return 0
      fi
    done
    # 3. snapshot.debian.org (every version ever in the archive)
    hash=$(curl -fsSL --retry 2 "https://snapshot.debian.org/mr/binary/$(urlq "$pkg")/$(urlq "$want")/binfiles" 2>/dev/null \
           | "$PY" -c 'import json,sys; r=[x["hash"] for x in json.load(sys.stdin)["result"] if x["architecture"]==sys.argv[1]]; print(r[0] if r else "")' "$arch" 2>/dev/null || true)
    if [ -n "$hash" ] && curl -fsSL --retry 2 -o "$tmp/p.deb" "https://snapshot.debian.org/file/$hash" 2>/dev/null; then
      mv "$tmp/p.deb" "$f"; rm -rf "$tmp"; echo "$f"; return 0
    fi
    rm -rf "$tmp"
  done
  # 4. on request, whatever version apt offers
  if [ "${S2S2S_CORPUS_ANY_VERSION:-0}" = 1 ] && command -v apt-get >/dev/null; then
    tmp=$(mktemp -d "$WORK/tmp/deb.XXXXXX")
    if (cd "$tmp" && apt-get download -qq "$pkg" >/dev/null 2>&1) && ls "$tmp"/*.deb >/dev/null 2>&1; then
      f="$WORK/debs/$(basename "$(ls "$tmp"/*.deb)")"
      mv "$tmp"/*.deb "$f"; rm -rf "$tmp"
      log "$pkg $ver: not found, using $(basename "$f")"
      echo "$f"; return 0
    fi
    rm -rf "$tmp"
  fi
  return 1
}

urlq() { "$PY" -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

deb_extract() {  # DEB ROOT
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$2"
  else
    local member
    member=$(ar t "$1" | grep '^data\.tar')
    ar p "$1" "$member" | tar -x -a -f - -C "$2" 2>/dev/null || ar p "$1" "$member" | tar -x --zstd -f - -C "$2"
  fi
}

# fail MESSAGE: the reason why the source being built was not rebuilt
fail() { echo "$*" > "$WORK/tmp/$CUR.reason"; return 1; }

# build NAME: writes $WORK/tmp/NAME.out (uncompressed)
build() {
  local name=$1 kind repo commit dir line args=() missing=()
  while read -r kind repo commit; do
    case "$kind" in
      git)
        dir=$(fetch_commit "$repo" "$commit" tree) || { fail "cannot fetch $repo @ $commit"; return 1; }
        prefetch "$name" "$repo" "$commit" "$dir" || { fail "files missing from $repo @ $commit"; return 1; }
        args+=(--repo "$repo=$dir@$commit") ;;
      history)
        dir=$(fetch_commit "$repo" "$commit" history) || { fail "cannot fetch the history of $repo"; return 1; }
        args+=(--repo "$repo=$dir@$commit") ;;
      debian)
        local root="$WORK/root.$name"
        rm -rf "$root"; mkdir -p "$root"
        while read -r pkg ver arch src equiv url; do
          local deb
          if deb=$(deb_get "$pkg" "$ver" "$arch" "$src" "$equiv" "$url"); then
            deb_extract "$deb" "$root" || { fail "cannot unpack $deb"; return 1; }
          else
            missing+=("$pkg=$ver")
          fi
        done < <("$PY" "$TOOL" debs "$name")
        if [ ${#missing[@]} -gt 0 ]; then
          [ "${S2S2S_KEEP_ROOTS:-0}" = 1 ] || rm -rf "$root"
          fail "${#missing[@]} Debian package(s) not found: ${missing[*]:0:8}"
          return 1
        fi
        args+=(--deb-root "$root") ;;
    esac
  done < <("$PY" "$TOOL" plan "$name" | grep -v '^fallback')
  "$PY" "$TOOL" assemble "$name" "$WORK/tmp/$name.out" "${args[@]}" >/dev/null \
    || { fail "assembling failed (see above)"; return 1; }
  [ "${S2S2S_KEEP_ROOTS:-0}" = 1 ] || rm -rf "$WORK/root.$name"
}

# fallback NAME: the same file from a non-GitHub copy, where there is one
fallback() {
  local name=$1 fb="$WORK/fallback"
  case "$name" in
    enwik8_head3M)
      [ -s "$fb/enwik8" ] || { curl -fsSL --retry 2 -o "$fb/enwik8.zip" http://mattmahoney.net/dc/enwik8.zip \
                               && (cd "$fb" && unzip -o -q enwik8.zip enwik8); } || return 1
      "$PY" "$TOOL" assemble "$name" "$WORK/tmp/$name.out" --file "enwik8=$fb/enwik8" >/dev/null ;;
    wiki_gensim_enwiki_xml)
      local sdist="$fb/gensim-4.4.0.tar.gz" d="gensim-4.4.0/gensim/test/test_data"
      [ -s "$sdist" ] || curl -fsSL --retry 2 -o "$sdist" \
        https://files.pythonhosted.org/packages/1a/80/fe9d2e1ace968041814dbcfce4e8499a643a36c41267fa4b6c4f54cce420/gensim-4.4.0.tar.gz \
        || return 1
      tar -xzf "$sdist" -C "$fb" "$d/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2" \
        "$d/enwiki-table-markup.xml.bz2" || return 1
      "$PY" "$TOOL" assemble "$name" "$WORK/tmp/$name.out" \
        --file "enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2=$fb/$d/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2" \
        --file "enwiki-table-markup.xml.bz2=$fb/$d/enwiki-table-markup.xml.bz2" >/dev/null ;;
    *) return 1 ;;
  esac
}

sha_of_xz() { xz -dc "$1" | sha256sum | cut -c1-64; }

declare -A RESULT
status=0
for name in "${NAMES[@]}"; do
  echo "== $name" >&2
  if ! want=$("$PY" "$TOOL" expected "$name" 2>/dev/null); then
    RESULT[$name]="NOT REBUILT: unknown source name"; status=1; continue
  fi
  if [ -s "$OUT/$name.xz" ] && [ "$(sha_of_xz "$OUT/$name.xz")" = "$want" ]; then
    RESULT[$name]="match (already built)"; continue
  fi
  CUR=$name
  rm -f "$WORK/tmp/$name.out" "$WORK/tmp/$name.reason"
  set +e
  ( set -euo pipefail; build "$name" ) 2>&1 | sed 's/^/  /' >&2
  if [ ! -s "$WORK/tmp/$name.out" ]; then
    how=$("$PY" "$TOOL" plan "$name" | grep '^fallback')
    if [ -n "$how" ]; then
      log "trying the fallback (${how#fallback })"
      ( set -euo pipefail; fallback "$name" ) 2>&1 | sed 's/^/  /' >&2
      if [ ! -s "$WORK/tmp/$name.out" ]; then
        echo "$(cat "$WORK/tmp/$name.reason" 2>/dev/null || echo "not fetched"); the fallback (${how#fallback }) failed too" \
          > "$WORK/tmp/$name.reason.new"
        mv "$WORK/tmp/$name.reason.new" "$WORK/tmp/$name.reason"
      fi
    fi
  fi
  set -e
  if [ ! -s "$WORK/tmp/$name.out" ]; then
    why="inputs could not be fetched or assembled (see the messages above)"
    [ -s "$WORK/tmp/$name.reason" ] && why=$(cat "$WORK/tmp/$name.reason")
    RESULT[$name]="NOT REBUILT: $why"
    status=1; continue
  fi
  got=$(sha256sum < "$WORK/tmp/$name.out" | cut -c1-64)
  xz -9e -T1 -c "$WORK/tmp/$name.out" > "$OUT/$name.xz.part"
  mv "$OUT/$name.xz.part" "$OUT/$name.xz"
  rm -f "$WORK/tmp/$name.out"
  if [ "$got" = "$want" ]; then
    RESULT[$name]="match"
  else
    RESULT[$name]="DIFFERENT: rebuilt, sha256 $got, SOURCES.md says $want"
    status=1
  fi
done

echo
echo "source                               result"
for name in "${NAMES[@]}"; do
  printf '%-36s %s\n' "$name" "${RESULT[$name]:-NOT REBUILT: interrupted}"
done
exit $status
