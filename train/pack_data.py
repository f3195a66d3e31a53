"""Packs the training data for a GPU run into one folder that fits the device machine's limit.

The device machine gets the git working tree plus at most 64 MiB in all (the tree is ~12 MB), no
network and no Rust. The corpus (corpus/, 73 MB of xz, see docs/CORPUS.md) is too big and does not travel,
so this script ships pre-tokenized data instead:

    nice -n 19 python3 train/pack_data.py --cache /root/s2s2s-longrun/cache --out scratch/gpu-data

* Token ids are those of pretrain.py `load_data` (the same split, src/train/corpus.rs's rule: the last
  max(2%, 100 kB) of each source, 1 MB for enwik8_head3M, is validation and is never trained on;
  15% of each training split in CRLF blocks; the models/ tokenizer). They come from a token cache
  of pretrain.py (`--cache`: the long run's, or one this script fills from --corpus).
* Each source's training tokens are cut into blocks of --block-tokens (2^21) and each block is
  compressed on its own (xz preset 9, raw little-endian uint16). The compressed blocks are kept in
  --work (default scratch/gpu-data-work), so a second run with another --budget compresses nothing.
* What is included: every source's whole validation split (and the CRLF copies pretrain.py scores),
  and of the training splits the largest set that fits --budget by water-filling: a source keeps
  min(all its tokens, lam * p) tokens, where p is its sampling weight (sqrt of its full training
  tokens, as pretrain.py's sampler uses) and lam is the largest value that fits. Small and medium
  sources are whole; the big ones (books, Wikipedia plain text) are cut, and then all cut sources
  are cut to the same number of epochs per sampled token. A cut source keeps evenly spaced blocks
  (many books, not the first few).

The folder holds NAME.train.xz (its blocks, each a complete xz stream, concatenated: `xz -dc`
gives the raw uint16 ids), NAME.val.xz, NAME.valcrlf.xz for the sources scored with CRLF, and
meta.json (per source: full and packed training tokens, the streams' byte lengths and token
counts, validation tokens; the tokenizer's sha256). pretrain.py reads it with --data.
"""
import argparse
import hashlib
import json
import lzma
import multiprocessing as mp
import os
import sys
import time
import types

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pretrain  # noqa: E402
from s2s2s_model import ByteTokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
FORMAT = 1


def xz(arr):
    return lzma.compress(np.ascontiguousarray(arr, dtype="<u2").tobytes(), format=lzma.FORMAT_XZ,
                         check=lzma.CHECK_CRC32, preset=9)


def _compress_block(job):
    path, src, start, end = job
    if not os.path.exists(path):
        data = xz(np.load(src, mmap_mode="r")[start:end])
        with open(path + ".partial", "wb") as f:
            f.write(data)
        os.replace(path + ".partial", path)
    return path, os.path.getsize(path)


def choose_blocks(sources, budget):
    """Per source, the indices of the blocks to keep: water-filling on lam (see the docstring)."""
    fixed = sum(s["val_bytes"] for s in sources.values())
    total_sqrt = sum(np.sqrt(s["tokens"]) for s in sources.values())

    def pick(lam):
        out, size = {}, fixed
        for name, s in sources.items():
            n = len(s["blocks"])
            want = lam * np.sqrt(s["tokens"]) / total_sqrt
            m = n if want >= s["tokens"] else min(n, max(1, int(round(want / s["block_tokens"]))))
            idx = sorted({int((j + 0.5) * n / m) for j in range(m)})
            out[name] = idx
            size += sum(s["blocks"][i][1] for i in idx)
        return out, size

    lo, hi = 0.0, 1e12
    if pick(hi)[1] <= budget:
        return pick(hi) + (hi,)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if pick(mid)[1] <= budget else (lo, mid)
    return pick(lo) + (lo,)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "scratch", "gpu-data"))
    ap.add_argument("--work", default=os.path.join(REPO, "scratch", "gpu-data-work"), help="compressed blocks (reused)")
    ap.add_argument("--cache", default=os.path.join(REPO, "scratch", "token-cache"),
                    help="pretrain.py token cache (filled from --corpus where files are missing)")
    ap.add_argument("--corpus", default=os.path.join(REPO, "corpus"),
                    help="folder of the corpus sources NAME.xz (default: corpus/ of the repository, made by "
                         "train/build-corpus.sh corpus)")
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "models", "tokenizer.json"))
    ap.add_argument("--crlf-share", type=float, default=0.15)
    ap.add_argument("--budget", type=int, default=50_000_000, help="bytes of the packed folder")
    ap.add_argument("--block-tokens", type=int, default=1 << 21)
    ap.add_argument("--procs", type=int, default=2)
    a = ap.parse_args()
    t0 = time.time()
    os.makedirs(a.work, exist_ok=True)
    tok = ByteTokenizer(a.tokenizer)
    log = lambda m: print(time.strftime("%H:%M:%S ") + m, flush=True)
    args = types.SimpleNamespace(cache=a.cache, out=a.work, crlf_share=a.crlf_share, max_bytes=0, corpus=a.corpus)
    # the cache's file names, as pretrain.load_data writes them (it tokenizes what is missing)
    train, val = pretrain.load_data(args, tok, None, log)
    tag = f"crlf{a.crlf_share:g}"
    sources, jobs = {}, []
    for name, tr in train.items():
        src = os.path.join(a.cache, f"{name}.train.{tag}.npy")
        n = len(tr)
        blocks = [(s, min(s + a.block_tokens, n)) for s in range(0, n, a.block_tokens)]
        paths = [os.path.join(a.work, f"{name}.{tag}.b{a.block_tokens}.{i:04d}.xz") for i in range(len(blocks))]
        jobs += [(p, src, s, e) for p, (s, e) in zip(paths, blocks)]
        sources[name] = {"tokens": n, "block_tokens": a.block_tokens, "paths": paths, "spans": blocks}
    del train
    sizes = {}
    with mp.Pool(a.procs) as pool:
        for i, (p, sz) in enumerate(pool.imap_unordered(_compress_block, jobs)):
            sizes[p] = sz
            if (i + 1) % 10 == 0 or i + 1 == len(jobs):
                log(f"compressed {i + 1}/{len(jobs)} blocks")
    os.makedirs(a.out, exist_ok=True)
    vals = {}
    for name, s in sources.items():
        s["blocks"] = [(span[1] - span[0], sizes[p]) for p, span in zip(s["paths"], s["spans"])]
        vals[name] = {"val": xz(val[name])}
        if name + "+crlf" in val:
            vals[name]["valcrlf"] = xz(val[name + "+crlf"])
        s["val_bytes"] = sum(len(v) for v in vals[name].values())
    keep, size, lam = choose_blocks(sources, a.budget - 20_000)
    meta = {"format": FORMAT, "tokenizer_sha256": hashlib.sha256(tok.json).hexdigest(), "vocab": tok.vocab_size,
            "crlf_share": a.crlf_share, "block_tokens": a.block_tokens, "lambda": lam,
            "rule": "validation = last max(2%, 100 kB) of each source (1 MB for enwik8_head3M), never trained on; "
                    "train = the rest, with crlf_share of it in CRLF blocks (pretrain.load_data)",
            "sources": {}}
    for name, s in sources.items():
        idx = keep[name]
        with open(os.path.join(a.out, f"{name}.train.xz.partial"), "wb") as f:
            for i in idx:
                with open(s["paths"][i], "rb") as g:
                    f.write(g.read())
        os.replace(os.path.join(a.out, f"{name}.train.xz.partial"), os.path.join(a.out, f"{name}.train.xz"))
        for k, data in vals[name].items():
            with open(os.path.join(a.out, f"{name}.{k}.xz"), "wb") as f:
                f.write(data)
        meta["sources"][name] = {
            "train_tokens": s["tokens"],
            "packed_tokens": sum(s["blocks"][i][0] for i in idx),
            "streams": [[s["blocks"][i][1], s["blocks"][i][0]] for i in idx],  # [bytes, tokens] of each xz stream
            "blocks": idx,
            "val_tokens": len(val[name]),
            "val_crlf": "valcrlf" in vals[name],
        }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    total = sum(os.path.getsize(os.path.join(a.out, f)) for f in os.listdir(a.out))
    packed = sum(m["packed_tokens"] for m in meta["sources"].values())
    full = sum(m["train_tokens"] for m in meta["sources"].values())
    for name, m in meta["sources"].items():
        if m["packed_tokens"] < m["train_tokens"]:
            log(f"  {name}: {m['packed_tokens']:,} of {m['train_tokens']:,} training tokens ({len(m['blocks'])} blocks)")
    log(f"wrote {a.out}: {total:,} bytes; {packed:,} of {full:,} training tokens, "
        f"{sum(m['val_tokens'] for m in meta['sources'].values()):,} validation tokens; {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
