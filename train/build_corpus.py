#!/usr/bin/env python3
"""Assembles the 32 training-corpus sources from their inputs. Driven by train/build-corpus.sh.

This file holds how each source is built: the pinned repositories and commits, which inputs it reads
(the manifests of train/corpus/manifests.tar.xz, the Debian packages of train/corpus/debian-packages.txt)
and how they are joined (separator lines, newlines, cuts), as train/corpus/SOURCES.md describes them.
It does no network access itself: train/build-corpus.sh fetches the repositories and packages, then runs
`assemble`.

    build_corpus.py list                         the 32 source names
    build_corpus.py expected NAME                NAME's sha256 (of the uncompressed file) in SOURCES.md
    build_corpus.py plan NAME                    one line per input set: "git REPO COMMIT", "history REPO COMMIT",
                                                 "debian" or "fallback KIND" (what build-corpus.sh fetches)
    build_corpus.py paths NAME REPO              NUL-separated paths that NAME reads from REPO (prefetching)
    build_corpus.py debs NAME                    "package version arch source-package equivalents [url]"
    build_corpus.py assemble NAME OUT [--repo REPO=DIR[@COMMIT]]... [--deb-root DIR] [--file KEY=PATH]
                                      [--manifests DIR]
        REPO=DIR: a git directory (the file is read from COMMIT, by default the pinned commit) or a plain
        directory tree; --deb-root: Debian packages extracted into one root; --file: fallback inputs;
        --manifests: a folder of NAME.paths.txt instead of the tarball. Prints the sha256 and size.
    build_corpus.py self-test                    the joining rules on tiny made-up inputs (no network)

Every source is valid UTF-8. Input files are read as bytes; CRLF is turned into LF (the built corpus holds
no CR), except in enwik8_head3M and wiki_gensim_enwiki_xml, which are copied byte for byte, and in
struct_json_corpora, which kept the CRLF line ends of 18 of its files.
"""

import bz2
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCES_MD = os.path.join(HERE, "corpus", "SOURCES.md")
MANIFESTS_TAR = os.path.join(HERE, "corpus", "manifests.tar.xz")
DEBIAN_LIST = os.path.join(HERE, "corpus", "debian-packages.txt")

# ---------------------------------------------------------------------------------------------------------
# Pinned repositories (owner/repo -> commit), as in SOURCES.md.

COMMITS = {
    "Mentors4EDU/Break-CS": "5aba2368d50c49a03e888b7d4e8117dcf514b434",
    "piskvorky/gensim": "37f90ec121eb7cd401448a947e80953e0c53ccdc",
    "spencermountain/wtf_wikipedia": "015abc2dce21856c2b0640d47e9337a091eaacfe",
    "Vibhas-hs-edu/WikiTasks": "52b1f163137bc40b0f67cbf129d5dab4f6fd5901",
    "rcdm-uga/Gutenberg_Text": "a0b16d35a9851168ce9ac649851c17b7ab08d48e",
    "nltk/nltk_data": "5db857e6f7df11eabb5e5665836db9ec8df07e28",
    "dariusk/corpora": "cf30ca27ab176b63623af1ddcfa2447ac07305ba",
    "tldr-pages/tldr": "08e345f42639f67d99282813247ac670dc6e87cb",
    "jason-feng/wikiVisual": "1c0fac92f29f17c1603bfffbe864e0dfdff66897",  # not HEAD: the data was removed later
    "tokio-rs/tokio": "ea91b33ca57ff0581b38e735cc108f831bccbdaa",
    "BurntSushi/ripgrep": "3fce3b5bb0236da2df6d99672afb8a719642eca7",
    "huggingface/candle": "2a13b0f3ff62f7e67013597f2996f764c5735e21",
    "golang/tools": "8f0f8c7bde0eea32e01e570a0e330c60a0cbaecc",
    "curl/curl": "5c61e168698a72b87437d58ed728bcdea6d5db42",
    "git/git": "1a3e64c6c4a623626ff0687008732a8e007e2a1c",
    "apache/commons-lang": "d15939ef46f0bd4144994df8be95cf5a7f91eb52",
    "webpack/webpack": "bc3e930f75e3f6ecbdf193a0dedf6067ea3a286b",
    "expressjs/express": "a3714473feb3d2908add734d340e7755fd85e0a3",
    "vuejs/core": "e2bede96134f757aad5c5b33ac9be055022dbfc8",
    "ohmyzsh/ohmyzsh": "830a5bcfd29fd577fdcd5f3b8e98cbaf973421fa",
    "kubernetes/enhancements": "64765b4b02389318f2113119dd9e491479f978a0",
    "rust-lang/book": "917544888a55e4da7109bdba8c88c893c0da70f4",
    "rust-lang/reference": "3b38834b39f732c64686f7c64aa29dcf3cd83ba5",
    "rust-lang/rust-by-example": "898f0ac1479223d332309e0fce88d44b39927d28",
    "mdn/browser-compat-data": "a0a74f9b2e8bf61b989e82cf1da618cc33791c56",
    "SchemaStore/schemastore": "3b6446ad8a077bac56f4a4796c0b7fd88927fc8e",
    "helm/charts": "390ee6614b4bb0da96b397f9b382e3ddca9f59a4",
    "fivethirtyeight/data": "fcf572c4fba05a42f1f34f415bd5e6dc389efd68",
}

GENSIM_FILES = [
    "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
    "gensim/test/test_data/enwiki-table-markup.xml.bz2",
]
WIKITASKS_FILES = ["text/AA/wiki_%02d" % i for i in range(17)]

# Code separator lines: '{}' is "owner/repo:path".
CODE_HEADERS = {
    "code_rust": "// ===== {} =====\n",
    "code_go": "// ===== {} =====\n",
    "code_java": "// ===== {} =====\n",
    "code_javascript": "// ===== {} =====\n",
    "code_typescript": "// ===== {} =====\n",
    "code_c": "/* ===== {} ===== */\n",
    "code_shell": "# ===== {} =====\n",
}
# Additions that join "owner/repo:path" inputs verbatim, each followed by a newline if it lacks one.
PLAIN_ADDITIONS = [
    "docs_git_asciidoc", "docs_markdown_curl_keps", "docs_rust_markdown",
    "struct_json_browser_compat", "struct_json_yaml_schemastore", "struct_csv_fivethirtyeight",
]
# Debian-sourced: name -> how the paths of its manifest are joined.
DEBIAN = {
    "code_python_stdlib": "old:# ===== {} =====\n",
    "code_c_headers": "old:/* ===== {} ===== */\n",
    "struct_manpages_roff": "old-gunzip",
    "docs_python_rst": "plain",
    "docs_postgresql_html": "plain",
    "struct_xml_debian": "xml",
    "logs_debian_changelogs": "changelogs",
}

NAMES = sorted(
    ["enwik8_head3M", "wiki_gensim_enwiki_xml", "wiki_wtf_wikitext", "wiki_plaintext_wikiextractor_2018",
     "prose_gutenberg_books", "prose_us_presidential_speeches", "struct_json_corpora", "struct_markdown_tldr",
     "prose_gutenberg_books_more", "wiki_plaintext_wikiextractor_2015", "struct_yaml_helm_charts",
     "logs_git_log_stat"] + list(CODE_HEADERS) + PLAIN_ADDITIONS + list(DEBIAN))
assert len(NAMES) == 32 and len(set(NAMES)) == 32


def warn(msg):
    print("  warning: " + msg, file=sys.stderr)


# ---------------------------------------------------------------------------------------------------------
# Manifests


class Manifests:
    """The manifests (NAME.paths.txt), from the tarball or from a folder."""

    def __init__(self, where=MANIFESTS_TAR):
        self.files = {}
        if os.path.isdir(where):
            for f in os.listdir(where):
                if f.endswith(".paths.txt"):
                    with open(os.path.join(where, f), "rb") as fh:
                        self.files[f[: -len(".paths.txt")]] = fh.read().decode("utf-8")
        else:
            with tarfile.open(where, "r:xz") as tar:
                for m in tar.getmembers():
                    base = os.path.basename(m.name)
                    if m.isfile() and base.endswith(".paths.txt"):
                        self.files[base[: -len(".paths.txt")]] = tar.extractfile(m).read().decode("utf-8")

    def lines(self, name):
        """The non-comment lines, tabs and leading tabs kept."""
        if name not in self.files:
            raise SystemExit("no manifest for %s" % name)
        return [l for l in self.files[name].split("\n") if l.strip() and not l.startswith("#")]


def split_repo_path(entry):
    """'owner/repo:path' -> ('owner/repo', 'path')."""
    repo, sep, path = entry.partition(":")
    if not sep or repo.count("/") != 1:
        raise ValueError("not owner/repo:path: %r" % entry)
    return repo, path


# ---------------------------------------------------------------------------------------------------------
# Readers of inputs


class GitTree:
    """Files of one commit of a git directory (bare or not), read with `git cat-file --batch`. In a partial
    (blobless) clone git fetches a missing blob on demand; build-corpus.sh prefetches them in one go."""

    def __init__(self, gitdir, commit):
        self.gitdir, self.commit = gitdir, commit
        self.proc = None

    def read(self, path):
        if self.proc is None:
            self.proc = subprocess.Popen(["git", "--git-dir", self.gitdir, "cat-file", "--batch"],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.proc.stdin.write(("%s:%s\n" % (self.commit, path)).encode("utf-8"))
        self.proc.stdin.flush()
        head = self.proc.stdout.readline().decode("utf-8", "replace").split()
        if len(head) != 3 or head[1] != "blob":
            raise FileNotFoundError("%s@%s: %s: %s" % (self.gitdir, self.commit[:12], path, " ".join(head)))
        data = self.proc.stdout.read(int(head[2]))
        self.proc.stdout.read(1)
        return data


class DirTree:
    """Files of a plain directory (a checkout, or a made-up tree in the self-test)."""

    def __init__(self, root):
        self.root = root

    def read(self, path):
        with open(os.path.join(self.root, path), "rb") as f:
            return f.read()


class DebRoot:
    """Debian packages extracted (dpkg-deb -x) into one folder: an absolute path of the build machine is read
    under it, with symbolic links (relative or absolute) resolved inside the folder."""

    def __init__(self, root):
        self.root = os.path.abspath(root)

    def resolve(self, path):
        parts = [p for p in path.split("/") if p]
        done = []
        hops = 0
        while parts:
            p = parts.pop(0)
            if p == ".":
                continue
            if p == "..":
                if done:
                    done.pop()
                continue
            here = os.path.join(self.root, *done, p)
            if os.path.islink(here):
                hops += 1
                if hops > 40:
                    raise FileNotFoundError("symlink loop at " + path)
                target = os.readlink(here)
                if target.startswith("/"):
                    done = []
                parts = [x for x in target.split("/") if x] + parts
            else:
                done.append(p)
        return os.path.join(self.root, *done)

    def read(self, path):
        real = self.resolve(path)
        if not os.path.isfile(real):
            raise FileNotFoundError("%s (not in the extracted packages)" % path)
        with open(real, "rb") as f:
            return f.read()


# ---------------------------------------------------------------------------------------------------------
# Joining rules


def lf(b):
    return b.replace(b"\r\n", b"\n")


def with_nl(b):
    """Verbatim, followed by a newline if it does not end with one (the rule of the 2026-11-28 additions)."""
    return b if b.endswith(b"\n") else b + b"\n"


def one_nl(b):
    """Trailing newlines replaced by exactly one."""
    return b.rstrip(b"\n") + b"\n"


def join_old(parts):
    """The first sources' code, man pages and tldr: each input ends with exactly one newline, and one blank
    line separates inputs (verified on code_python_stdlib, code_c_headers, struct_manpages_roff)."""
    return b"\n".join(one_nl(p) for p in parts)


def join_blank(parts):
    """wiki_wtf_wikitext and prose_us_presidential_speeches ("joined with a blank line"): in the built files
    every document ends with one newline and two more follow it (three newlines at each join)."""
    return b"\n\n".join(one_nl(p) for p in parts)


def decode_text(b, what, cp1252=False):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        if not cp1252:
            raise
        warn("%s: not UTF-8, read as cp1252" % what)
        return b.decode("cp1252")


PG_START = re.compile(r"\*\*\*\s*START OF (?:THE|THIS) PROJECT GUTENBERG")
PG_END = re.compile(r"\*\*\*\s*END OF|End of (?:the )?Project Gutenberg")


def gutenberg_body(b, what):
    """The text after the line holding the '*** START OF THE/THIS PROJECT GUTENBERG' marker and before the
    first '*** END OF' or 'End of (the) Project Gutenberg' marker, with the BOM removed, CRLF turned into LF
    and surrounding whitespace stripped (no final newline)."""
    t = decode_text(b, what, cp1252=True).lstrip("\ufeff").replace("\r\n", "\n")
    m = PG_START.search(t)
    if not m:
        raise ValueError("%s: no START marker" % what)
    nl = t.find("\n", m.end())
    body = t[nl + 1:] if nl >= 0 else ""
    e = PG_END.search(body)
    if not e:
        raise ValueError("%s: no END marker" % what)
    return body[: e.start()].strip().encode("utf-8")


WIKI_DOC = re.compile(rb'<doc id="(\d+)"[^\n]*>\n.*?\n</doc>\n', re.S)


def wiki_docs(b):
    """id -> the whole '<doc ...>...</doc>\\n' block, unchanged."""
    out = {}
    for m in WIKI_DOC.finditer(b):
        out.setdefault(m.group(1).decode(), m.group(0))
    return out


def wiki_body_chars(block):
    """Characters of the body after the title line, stripped (the rule that kept a 2018 article: >= 200)."""
    text = block.decode("utf-8")
    body = text.split("\n", 2)[2] if text.count("\n") >= 2 else ""
    body = body[: body.rfind("</doc>")]
    return len(body.strip())


CHANGELOG_ENTRY = re.compile(rb"^[a-z0-9][a-z0-9.+~-]* \([^)\s]+\) [^\n]*;", re.M)


def cut_changelog(b, limit=400_000):
    """A changelog over 400,000 bytes is cut at the start of the entry that runs past 400,000 bytes (the last
    entry header at or before byte 400,000); the newest entries are kept. (SOURCES.md's "before the first
    entry header past 400 KB" is this rule: the built file shows linux's changelog cut at 345,746 bytes, its
    next entry header being at 406,126.)"""
    if len(b) <= limit:
        return b
    cut = None
    for m in CHANGELOG_ENTRY.finditer(b):
        if m.start() == 0:
            continue
        if m.start() <= limit:
            cut = m.start()
        else:
            break
    return b[:cut] if cut else b


def cut_csv(b, limit=300_000):
    """A file over 300,000 bytes is cut after the last line end within its first 300,000 bytes."""
    if len(b) <= limit:
        return b
    i = b.rfind(b"\n", 0, limit)
    return b[: i + 1] if i >= 0 else b[:limit]


def cut_gtk_gir(b):
    """Gtk-3.0.gir: cut after the first '</class>' past 2,500,000 bytes, then the namespace and repository
    elements are closed (verified)."""
    j = b.index(b"</class>", 2_500_000) + len(b"</class>")
    return b[:j] + b"\n  </namespace>\n</repository>\n"


# ---------------------------------------------------------------------------------------------------------
# The sources


class Inputs:
    def __init__(self, repos=None, deb_root=None, files=None):
        self.repos = repos or {}
        self.deb = DebRoot(deb_root) if deb_root else None
        self.files = files or {}

    def repo(self, name):
        if name not in self.repos:
            raise SystemExit("assemble: no --repo %s=DIR given" % name)
        return self.repos[name]

    def read(self, repo, path):
        return self.repo(repo).read(path)


def plan(name):
    """What build-corpus.sh must fetch for NAME."""
    if name in DEBIAN:
        return ["debian"]
    if name == "logs_git_log_stat":
        return ["history git/git " + COMMITS["git/git"], "history curl/curl " + COMMITS["curl/curl"]]
    repos = sorted({r for r, _ in repo_paths(name, Manifests())}) if name in NEEDS_MANIFEST_FOR_REPOS else \
        FIXED_REPOS[name]
    out = ["git %s %s" % (r, COMMITS[r]) for r in repos]
    if name == "enwik8_head3M":
        out.append("fallback enwik8.zip")
    if name == "wiki_gensim_enwiki_xml":
        out.append("fallback gensim-sdist")
    return out


FIXED_REPOS = {
    "enwik8_head3M": ["Mentors4EDU/Break-CS"],
    "wiki_gensim_enwiki_xml": ["piskvorky/gensim"],
    "wiki_wtf_wikitext": ["spencermountain/wtf_wikipedia"],
    "wiki_plaintext_wikiextractor_2018": ["Vibhas-hs-edu/WikiTasks"],
    "prose_gutenberg_books": ["rcdm-uga/Gutenberg_Text"],
    "prose_gutenberg_books_more": ["rcdm-uga/Gutenberg_Text"],
    "prose_us_presidential_speeches": ["nltk/nltk_data"],
    "struct_json_corpora": ["dariusk/corpora"],
    "struct_markdown_tldr": ["tldr-pages/tldr"],
    "wiki_plaintext_wikiextractor_2015": ["jason-feng/wikiVisual"],
    "struct_yaml_helm_charts": ["helm/charts"],
}
NEEDS_MANIFEST_FOR_REPOS = set(CODE_HEADERS) | set(PLAIN_ADDITIONS)


def gutenberg_rows(man, name):
    rows = [l.split("\t") for l in man.lines(name)]
    for r in rows:
        if len(r) != 4:
            raise ValueError("%s manifest: bad line %r" % (name, r))
    return rows


def helm_files(man):
    return [l[1:] for l in man.lines("struct_yaml_helm_charts") if l.startswith("\t")]


def repo_paths(name, man):
    """(repo, path) of every file NAME reads from GitHub, in reading order."""
    if name == "enwik8_head3M":
        return [("Mentors4EDU/Break-CS", "enwik8")]
    if name == "wiki_gensim_enwiki_xml":
        return [("piskvorky/gensim", p) for p in GENSIM_FILES]
    if name == "wiki_wtf_wikitext":
        return [("spencermountain/wtf_wikipedia", p) for p in man.lines(name)]
    if name == "wiki_plaintext_wikiextractor_2018":
        return [("Vibhas-hs-edu/WikiTasks", p) for p in WIKITASKS_FILES]
    if name in ("prose_gutenberg_books", "prose_gutenberg_books_more"):
        return [("rcdm-uga/Gutenberg_Text", r[0]) for r in gutenberg_rows(man, name)]
    if name == "prose_us_presidential_speeches":
        zips = []
        for l in man.lines(name):
            z = l.split("!")[0]
            if z not in zips:
                zips.append(z)
        return [("nltk/nltk_data", z) for z in zips]
    if name == "struct_json_corpora":
        return [("dariusk/corpora", p) for p in man.lines(name)]
    if name == "struct_markdown_tldr":
        return [("tldr-pages/tldr", p) for p in man.lines(name)]
    if name == "wiki_plaintext_wikiextractor_2015":
        files = []
        for l in man.lines(name):
            f = l.split("\t")[0].split("#")[0]
            if f not in files:
                files.append(f)
        return [("jason-feng/wikiVisual", f) for f in files]
    if name == "struct_yaml_helm_charts":
        return [("helm/charts", p) for p in helm_files(man)]
    if name in NEEDS_MANIFEST_FOR_REPOS:
        return [split_repo_path(l) for l in man.lines(name)]
    return []


def build(name, man, inp):
    """The uncompressed bytes of source NAME."""
    if name == "enwik8_head3M":
        if "enwik8" in inp.files:
            with open(inp.files["enwik8"], "rb") as f:
                data = f.read(3_000_000)
        else:
            data = inp.read("Mentors4EDU/Break-CS", "enwik8")[:3_000_000]
        if len(data) != 3_000_000:
            raise ValueError("enwik8 is shorter than 3,000,000 bytes")
        return data

    if name == "wiki_gensim_enwiki_xml":
        parts = []
        for p in GENSIM_FILES:
            key = os.path.basename(p)
            if key in inp.files:
                with open(inp.files[key], "rb") as f:
                    raw = f.read()
            else:
                raw = inp.read("piskvorky/gensim", p)
            parts.append(with_nl(bz2.decompress(raw)))
        return b"".join(parts)

    if name == "wiki_wtf_wikitext":
        return join_blank([lf(inp.read("spencermountain/wtf_wikipedia", p)) for p in man.lines(name)])

    if name == "wiki_plaintext_wikiextractor_2018":
        docs = {}
        for p in WIKITASKS_FILES:
            for k, v in wiki_docs(inp.read("Vibhas-hs-edu/WikiTasks", p)).items():
                docs.setdefault(k, v)
        out = []
        for l in man.lines(name):
            pid = l.split("\t")[0].strip()
            if pid not in docs:
                raise ValueError("article id %s not found in text/AA/wiki_00..16" % pid)
            block = docs[pid]
            if wiki_body_chars(block) < 200:
                warn("article %s: body under 200 characters, yet listed" % pid)
            out.append(block)
        kept = sum(1 for v in docs.values() if wiki_body_chars(v) >= 200)
        if kept != len(out):
            warn("the 200-character rule keeps %d articles here, the list has %d" % (kept, len(out)))
        return b"".join(out)

    if name in ("prose_gutenberg_books", "prose_gutenberg_books_more"):
        # The two files join their books differently (seen in the built files, with the manifests' sizes):
        # prose_gutenberg_books: each book + "\n", joined with "\n\n" (two blank lines between books);
        # the manifest's size counts the book's final "\n". prose_gutenberg_books_more: books joined with
        # "\n\n" (one blank line), one "\n" at the end; the manifest's size counts the "\n\n" after the book.
        more = name == "prose_gutenberg_books_more"
        books, bad = [], 0
        for path, _author, _title, size in gutenberg_rows(man, name):
            body = gutenberg_body(inp.read("rcdm-uga/Gutenberg_Text", path), path)
            if len(body) + (2 if more else 1) != int(size):
                bad += 1
                warn("%s: %d bytes after stripping, manifest says %d" % (path, len(body), int(size) - (2 if more else 1)))
            books.append(body)
        if bad:
            warn("%d of %d books differ in size from the manifest" % (bad, len(books)))
        if more:
            return b"\n\n".join(books) + b"\n"
        return b"\n\n".join(bk + b"\n" for bk in books)

    if name == "prose_us_presidential_speeches":
        zips, texts = {}, []
        for l in man.lines(name):
            zpath, member = l.split("!")
            if zpath not in zips:
                zips[zpath] = zipfile.ZipFile(io.BytesIO(inp.read("nltk/nltk_data", zpath)))
            raw = zips[zpath].read(member)
            texts.append(lf(decode_text(raw, member, cp1252=True).encode("utf-8")))
        return join_blank(texts)

    if name == "struct_json_corpora":
        # Verbatim, CRLF kept: 18 of the files have CRLF line ends, and the built file has them (7,573 CR), each
        # followed by "\r\n" and not "\r\n\n", so the newline was added only where one was missing.
        return b"".join(with_nl(inp.read("dariusk/corpora", p)) for p in man.lines(name))

    if name == "struct_markdown_tldr":
        return join_old([lf(inp.read("tldr-pages/tldr", p)) for p in man.lines(name)])

    if name == "wiki_plaintext_wikiextractor_2015":
        cache, out = {}, []
        for l in man.lines(name):
            ref, _title, size = l.split("\t")
            f, pid = ref.split("#")
            if f not in cache:
                cache = {f: wiki_docs(inp.read("jason-feng/wikiVisual", f))}  # the list is in file order
            block = cache[f].get(pid)
            if block is None:
                raise ValueError("article %s not in %s" % (pid, f))
            if len(block) != int(size):
                warn("article %s: %d bytes, manifest says %s" % (pid, len(block), size))
            out.append(block)
        return b"".join(out)

    if name in CODE_HEADERS:
        head = CODE_HEADERS[name]
        out = []
        for l in man.lines(name):
            repo, path = split_repo_path(l)
            out.append(head.format(l).encode("utf-8") + with_nl(lf(inp.read(repo, path))))
        return b"".join(out)

    if name in PLAIN_ADDITIONS:
        out = []
        for l in man.lines(name):
            repo, path = split_repo_path(l)
            data = lf(inp.read(repo, path))
            if name == "struct_csv_fivethirtyeight":
                data = cut_csv(data)
            out.append(with_nl(data))
        return b"".join(out)

    if name == "struct_yaml_helm_charts":
        return b"".join(("# ===== %s =====\n" % p).encode("utf-8") + with_nl(lf(inp.read("helm/charts", p)))
                        for p in helm_files(man))

    if name == "logs_git_log_stat":
        out = []
        for l in man.lines(name):
            repo, head, oldest, count = l.split("\t")
            if head != COMMITS[repo]:
                raise ValueError("manifest head %s of %s is not the pinned commit" % (head, repo))
            tree = inp.repo(repo)
            if not isinstance(tree, GitTree):
                raise ValueError("%s: a git directory with its history is needed" % repo)
            log = git_log_stat(tree.gitdir, head, int(count))
            last = re.findall(rb"^commit ([0-9a-f]{40})", log, re.M)
            if len(last) != int(count) or last[-1].decode() != oldest:
                warn("%s: the log has %d commits ending at %s; the manifest says %s ending at %s"
                     % (repo, len(last), last[-1].decode()[:12] if last else "-", count, oldest[:12]))
            out.append(log + b"\n")
        return b"".join(out)

    if name in DEBIAN:
        if inp.deb is None:
            raise SystemExit("assemble: %s needs --deb-root" % name)
        rule = DEBIAN[name]
        paths = man.lines(name)
        if rule.startswith("old:"):
            head = rule[4:]
            return join_old([head.format(p).encode("utf-8") + lf(inp.deb.read(p)) for p in paths])
        if rule == "old-gunzip":
            return join_old([lf(gzip.decompress(inp.deb.read(p))) for p in paths])
        if rule == "plain":
            return b"".join(with_nl(lf(inp.deb.read(p))) for p in paths)
        if rule == "xml":
            out = []
            for p in paths:
                data = lf(inp.deb.read(p))
                if p.endswith("/Gtk-3.0.gir"):
                    data = cut_gtk_gir(data)
                out.append(with_nl(data))
            return b"".join(out)
        if rule == "changelogs":
            return b"".join(with_nl(cut_changelog(lf(gzip.decompress(inp.deb.read(p))))) for p in paths)
    raise SystemExit("unknown source " + name)


def git_log_stat(gitdir, commit, count):
    """`git log --stat --no-color --no-decorate --date=iso -n COUNT` as the original build ran it in a bare
    mirror whose HEAD was COMMIT: user and system configuration ignored, the commit's .mailmap applied (git
    log uses the mailmap by default, and a bare repository reads it from HEAD:.mailmap), 10-digit
    abbreviations (what the full repositories gave)."""
    env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull, LC_ALL="C.UTF-8", TZ="UTC",
               GIT_PAGER="cat")
    env.pop("GIT_DIR", None)
    cmd = ["git", "--git-dir", gitdir, "-c", "mailmap.blob=%s:.mailmap" % commit, "-c", "core.abbrev=10",
           "-c", "log.mailmap=true", "-c", "diff.renames=true", "-c", "i18n.logOutputEncoding=UTF-8",
           "log", "--stat", "--no-color", "--no-decorate", "--date=iso", "-n", str(count), commit]
    return subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE).stdout


# ---------------------------------------------------------------------------------------------------------
# Debian package list


def debs(name):
    out = []
    with open(DEBIAN_LIST, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cols = line.split()
            if cols[0] == name:
                out.append(" ".join(cols[1:]))
    return out


def expected(name):
    with open(SOURCES_MD, encoding="utf-8") as f:
        for line in f:
            cells = [c.strip() for c in line.split("|")]
            if len(cells) > 2 and cells[1] == name + ".xz":
                m = re.search(r"\b[0-9a-f]{64}\b", line)
                if m:
                    return m.group(0)
    raise SystemExit("no sha256 for %s in %s" % (name, SOURCES_MD))


# ---------------------------------------------------------------------------------------------------------
# Self-test: the joining rules on made-up inputs.


def self_test():
    global warn
    warn = lambda msg: None  # the cp1252 case below warns by design
    with tempfile.TemporaryDirectory() as tmp:
        # joining rules
        assert join_old([b"a\n\n", b"\nb", b"c\n"]) == b"a\n\n\nb\n\nc\n"
        assert join_blank([b"a \n", b"b"]) == b"a \n\n\nb\n"
        assert with_nl(b"x") == b"x\n" and with_nl(b"x\n\n") == b"x\n\n"
        assert cut_csv(b"h\n" + b"x" * 10 + b"\n" + b"y" * 10 + b"\n", limit=20) == b"h\n" + b"x" * 10 + b"\n"
        cl = b"p (2) u; urgency=low\n\n  * b\n\n -- A <a@b>  d\n\np (1) u; urgency=low\n\n  * a\n\n -- A <a@b>  d\n"
        assert cut_changelog(cl, limit=10) == cl  # first header is at 0: nothing earlier to cut at
        assert cut_changelog(cl, limit=cl.index(b"p (1)")) == cl[: cl.index(b"p (1)")]
        assert cut_changelog(cl, limit=cl.index(b"p (1)") - 1) == cl  # only header 0 is before the limit
        gir = b"<r><namespace>" + b"x" * 2_500_000 + b"<class>a</class><record/></namespace></r>\n"
        assert cut_gtk_gir(gir).endswith(b"a</class>\n  </namespace>\n</repository>\n")
        pg = ("\ufeffThe Project Gutenberg EBook of X\r\n\r\n*** START OF THIS PROJECT GUTENBERG EBOOK X ON THE\r\n"
              "RANCH ***\r\n\r\n\r\nProduced by Y\r\n\r\nText.  \r\n\r\nEnd of the Project Gutenberg EBook of X\r\n"
              "*** END OF THIS PROJECT GUTENBERG EBOOK X ***\r\nlicence\r\n").encode("utf-8")
        assert gutenberg_body(pg, "t") == b"RANCH ***\n\n\nProduced by Y\n\nText.", gutenberg_body(pg, "t")
        assert gutenberg_body("*** START OF THE PROJECT GUTENBERG X\nd\xe9j\xe0\n*** END OF".encode("cp1252"),
                              "t") == "d\xe9j\xe0".encode("utf-8")

        # a made-up git repository and Debian root, read through the same code paths as the real ones
        repo = os.path.join(tmp, "repo")
        files = {"a/one.rs": b"fn a() {}", "a/two.rs": b"fn b() {}\r\n\r\n", "x y/3 [z].txt": b"t\n"}
        for p, d in files.items():
            os.makedirs(os.path.dirname(os.path.join(repo, p)), exist_ok=True)
            with open(os.path.join(repo, p), "wb") as f:
                f.write(d)
        env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull,
                   GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        for c in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "m"]):
            subprocess.run(["git", "-C", repo] + c, check=True, env=env)
        head = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], check=True, env=env,
                              stdout=subprocess.PIPE).stdout.decode().strip()
        gt = GitTree(os.path.join(repo, ".git"), head)
        assert gt.read("x y/3 [z].txt") == b"t\n" and gt.read("a/one.rs") == b"fn a() {}"
        try:
            gt.read("missing")
            raise AssertionError("missing file read")
        except FileNotFoundError:
            pass
        man = Manifests.__new__(Manifests)
        man.files = {"code_rust": "# header\nme/repo:a/one.rs\nme/repo:a/two.rs\n"}
        got = build("code_rust", man, Inputs(repos={"me/repo": gt}))
        assert got == b"// ===== me/repo:a/one.rs =====\nfn a() {}\n// ===== me/repo:a/two.rs =====\nfn b() {}\n\n", got

        root = os.path.join(tmp, "deb")
        os.makedirs(os.path.join(root, "usr/share/doc/real"))
        os.symlink("real", os.path.join(root, "usr/share/doc/link"))
        os.symlink("/usr/share/doc/link", os.path.join(root, "usr/share/doc/abs"))
        with open(os.path.join(root, "usr/share/doc/real/changelog.Debian.gz"), "wb") as f:
            f.write(gzip.compress(cl))
        man.files["logs_debian_changelogs"] = "/usr/share/doc/abs/changelog.Debian.gz\n"
        assert build("logs_debian_changelogs", man, Inputs(deb_root=root)) == cl
    print("self-test passed")


# ---------------------------------------------------------------------------------------------------------


def main(argv):
    if not argv:
        print(__doc__)
        return 2
    cmd = argv[0]
    if cmd == "list":
        print("\n".join(NAMES))
    elif cmd == "expected":
        print(expected(argv[1]))
    elif cmd == "plan":
        print("\n".join(plan(argv[1])))
    elif cmd == "paths":
        name, repo = argv[1], argv[2]
        paths = [p for r, p in repo_paths(name, Manifests()) if r == repo]
        sys.stdout.buffer.write(b"".join(p.encode("utf-8") + b"\0" for p in dict.fromkeys(paths)))
    elif cmd == "debs":
        print("\n".join(debs(argv[1])))
    elif cmd == "assemble":
        name, out = argv[1], argv[2]
        repos, deb_root, files, manifests = {}, None, {}, MANIFESTS_TAR
        rest = argv[3:]
        while rest:
            opt, val = rest[0], rest[1]
            rest = rest[2:]
            if opt == "--repo":
                repo, _, spec = val.partition("=")
                path, _, commit = spec.partition("@")
                if os.path.exists(os.path.join(path, "objects")) or os.path.exists(os.path.join(path, ".git")):
                    gitdir = path if os.path.exists(os.path.join(path, "objects")) else os.path.join(path, ".git")
                    repos[repo] = GitTree(gitdir, commit or COMMITS[repo])
                else:
                    repos[repo] = DirTree(path)
            elif opt == "--deb-root":
                deb_root = val
            elif opt == "--file":
                k, _, v = val.partition("=")
                files[k] = v
            elif opt == "--manifests":
                manifests = val
            else:
                raise SystemExit("unknown option " + opt)
        try:
            data = build(name, Manifests(manifests), Inputs(repos, deb_root, files))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, subprocess.CalledProcessError) as e:
            print("assemble %s: %s" % (name, e), file=sys.stderr)
            return 1
        if b"\r" in data and name != "struct_json_corpora":
            warn("the result holds CR bytes (the corpus has none but in struct_json_corpora)")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            warn("the result is not valid UTF-8 (the corpus is)")
        with open(out, "wb") as f:
            f.write(data)
        print("%s %d" % (hashlib.sha256(data).hexdigest(), len(data)))
    elif cmd == "self-test":
        self_test()
    else:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
