"""Checks the PyTorch port against the first default network's recorded figures.

The README's held-out bits per token of the default network were measured by the evaluation of
the PyTorch trainer that trained it (`git show ef2701e:train/pretrain.py`, `evaluate`): 48 random
128-token segments per source with 128 tokens of context, drawn by `np.random.default_rng(0)`
from the validation split decoded with errors="ignore" and tokenized in 100,000-character pieces.
This script repeats that procedure exactly on `models/default-1/` (that network, retired since,
f16 weights) and prints both, plus the
same network through a plain (non-SDPA) attention as a second opinion on the numerics.

    python3 train/check_port.py [--model models/default-1] [--corpus corpus]
"""
import argparse
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from s2s2s_model import ByteTokenizer, batch_tensors, held_out_bytes, load_model_dir, read_source

HERE = os.path.dirname(os.path.abspath(__file__))
# the README's figures (section "Training"), in the order of the old trainer's FILES list
README = {
    "prose_gutenberg_books": 6.09, "prose_us_presidential_speeches": 6.25, "wiki_plaintext_wikiextractor_2018": 6.71,
    "wiki_gensim_enwiki_xml": 4.74, "enwik8_head3M": 5.97, "wiki_wtf_wikitext": 5.93, "struct_json_corpora": 4.99,
    "struct_markdown_tldr": 5.50, "struct_manpages_roff": 5.62, "code_python_stdlib": 6.19, "code_c_headers": 5.87,
}
OLD_ORDER = [
    "prose_gutenberg_books", "prose_us_presidential_speeches", "wiki_plaintext_wikiextractor_2018",
    "wiki_gensim_enwiki_xml", "wiki_wtf_wikitext", "enwik8_head3M", "struct_json_corpora",
    "struct_markdown_tldr", "struct_manpages_roff", "code_python_stdlib", "code_c_headers",
]


def legacy_val_tokens(tok, corpus, name):
    raw = read_source(os.path.join(corpus, name + ".xz"))
    part = raw[len(raw) - held_out_bytes(name, len(raw)):]
    text = part.decode("utf-8", errors="ignore")
    pieces = [text[i:i + 100_000] for i in range(0, len(text), 100_000)]
    return np.concatenate([np.array(e.ids, dtype=np.int64) for e in tok.tok.encode_batch(pieces)])


def manual_logits(model, enc_ids, pad, dec_in):
    """The same network with attention written out (softmax of q.k/sqrt(dh) + bias), no SDPA."""
    def attn(a, x, kv, bias):
        B, T, D = x.shape
        S = kv.shape[1]
        h, dh = a.h, D // a.h
        q = a.q(x).view(B, T, h, dh).transpose(1, 2)
        k = a.k(kv).view(B, S, h, dh).transpose(1, 2)
        v = a.v(kv).view(B, S, h, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh) + bias
        return a.o((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))
    N = enc_ids.shape[1]
    x = model.embed(enc_ids)
    mask = torch.zeros(pad.shape).masked_fill(pad, -1e9)[:, None, None, :]  # model.rs MASKED
    bias = model.enc_rel(model.enc_bucket[:N, :N]).permute(2, 0, 1).unsqueeze(0) + mask
    for l in model.enc:
        y = l.attn_norm(x)
        x = x + attn(l.attn, y, y, bias)
        x = x + l.ffn(l.ffn_norm(x))
    enc = model.enc_norm(x)
    T = dec_in.shape[1]
    x = model.embed(dec_in)
    sb = model.dec_rel(model.dec_bucket[:T, :T]).permute(2, 0, 1).unsqueeze(0).masked_fill(model.future[:T, :T], float("-inf"))
    for l in model.dec:
        y = l.self_norm(x)
        x = x + attn(l.self_attn, y, y, sb)
        x = x + attn(l.cross_attn, l.cross_norm(x), enc, mask)
        x = x + l.ffn(l.ffn_norm(x))
    h = model.dec_norm(x)
    return (h @ model.embed.weight[: model.c["vocab"]].t()) / math.sqrt(model.c["d_model"])


@torch.no_grad()
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "models", "default-1"))
    ap.add_argument("--corpus", default=os.path.join(HERE, "..", "corpus"),
                    help="folder of the corpus sources NAME.xz (train/build-corpus.sh corpus)")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, c = load_model_dir(a.model)
    model.eval()
    # a built-in network's directory under models/ shares models/tokenizer.json
    tok_path = os.path.join(a.model, "tokenizer.json")
    tok = ByteTokenizer(tok_path if os.path.exists(tok_path) else os.path.join(HERE, "..", "models", "tokenizer.json"))
    rng = np.random.default_rng(0)  # one generator through all sources, as the old evaluate()
    ctx, seg = c["context"], c["segment"]
    print(f"{'source':36s} {'README':>7s} {'here':>7s} {'manual':>7s}")
    diffs = []
    for name in OLD_ORDER:
        arr = legacy_val_tokens(tok, a.corpus, name)
        tot = tot_m = 0.0
        cnt = 0
        for _ in range(48 // 8):
            cx, sg = [], []
            for _ in range(8):
                rng.choice(1, p=[1.0])  # the old sampler drew a source even for one source
                s = rng.integers(ctx, len(arr) - seg)
                rng.random()  # its empty-context draw (p = 0 at evaluation)
                cx.append(arr[s - ctx:s])
                sg.append(arr[s:s + seg])
            enc, pad, dec, tgt = batch_tensors(c, cx, sg, "cpu")
            logits = model(enc, pad, dec)
            tot += F.cross_entropy(logits.reshape(-1, c["vocab"]), tgt.reshape(-1), reduction="sum").item()
            tot_m += F.cross_entropy(manual_logits(model, enc, pad, dec).reshape(-1, c["vocab"]), tgt.reshape(-1), reduction="sum").item()
            cnt += tgt.numel()
        here, man = tot / cnt / math.log(2), tot_m / cnt / math.log(2)
        diffs.append(here - README[name])
        print(f"{name:36s} {README[name]:7.2f} {here:7.3f} {man:7.3f}", flush=True)
    print(f"mean |difference| {np.mean(np.abs(diffs)):.3f} bits/token, max {np.max(np.abs(diffs)):.3f}")


if __name__ == "__main__":
    main()
