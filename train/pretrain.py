"""Maximum-likelihood pretraining of the s2s2s T5 (empty latent) on the corpus' training split.

Time-budgeted and resumable: `python3 train/pretrain.py --minutes 80 --out scratch/run1`.
Exports `model.safetensors` + `config.json` (f16 weights) that `s2s2s --model DIR` loads.
"""
import argparse, json, math, os, time
import numpy as np
import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from safetensors.torch import save_file
from common import CORPUS, FILES, held_out_bytes, T5

# Sampling weight of each source (prose and Wikipedia dominate what we are judged on).
WEIGHTS = {
    "prose_gutenberg_books": 0.34, "prose_us_presidential_speeches": 0.04,
    "wiki_plaintext_wikiextractor_2018": 0.14, "wiki_gensim_enwiki_xml": 0.14, "wiki_wtf_wikitext": 0.03,
    "enwik8_head3M": 0.08, "struct_json_corpora": 0.04, "struct_markdown_tldr": 0.04,
    "struct_manpages_roff": 0.03, "code_python_stdlib": 0.07, "code_c_headers": 0.05,
}

def load_tokens(tok, split, cache_dir):
    out = {}
    for name in FILES:
        path = os.path.join(cache_dir, f"{name}.{split}.npy")
        if os.path.exists(path):
            out[name] = np.load(path); continue
        import lzma
        raw = lzma.open(os.path.join(CORPUS, name + ".xz")).read()
        cut = len(raw) - held_out_bytes(name, len(raw))
        part = raw[:cut] if split == "train" else raw[cut:]
        text = part.decode("utf-8", errors="strict") if split == "train" else part.decode("utf-8", errors="ignore")
        pieces = [text[i:i + 100_000] for i in range(0, len(text), 100_000)]
        ids = np.concatenate([np.array(e.ids, dtype=np.int16) for e in tok.encode_batch(pieces)])
        np.save(path, ids); out[name] = ids
    return out

def batch(data, names, probs, B, ctx, seg, V, rng, p_empty=0.05):
    enc = np.full((B, ctx + 1), 0, dtype=np.int64); pad = np.ones((B, ctx + 1), dtype=bool)
    dec_in = np.empty((B, seg), dtype=np.int64); tgt = np.empty((B, seg), dtype=np.int64)
    for b in range(B):
        arr = data[names[rng.choice(len(names), p=probs)]]
        s = rng.integers(ctx, len(arr) - seg)
        c = 0 if rng.random() < p_empty else ctx
        enc[b, ctx - c:ctx] = arr[s - c:s]; pad[b, ctx - c:] = False
        enc[b, ctx] = V  # SEP; no latent in pretraining
        tgt[b] = arr[s:s + seg]
        dec_in[b, 0] = V + 1; dec_in[b, 1:] = tgt[b, :-1]
    return [torch.from_numpy(x) for x in (enc, pad, dec_in, tgt)]

@torch.no_grad()
def evaluate(model, data, c, rng, n=24):
    model.eval(); out = {}
    for name, arr in data.items():
        tot = 0.0; cnt = 0
        for _ in range(n // 8):
            enc, pad, dec_in, tgt = batch({name: arr}, [name], [1.0], 8, c["context"], c["segment"], c["vocab"], rng, 0.0)
            logits = model.decode(dec_in, model.encode(enc, pad), pad)
            tot += F.cross_entropy(logits.reshape(-1, c["vocab"]), tgt.reshape(-1), reduction="sum").item(); cnt += tgt.numel()
        out[name] = tot / cnt / math.log(2)
    model.train(); return out

def export(model, c, out_dir):
    sd = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(sd, os.path.join(out_dir, "model.safetensors"))
    json.dump(c, open(os.path.join(out_dir, "config.json"), "w"), indent=1)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True); ap.add_argument("--minutes", type=float, default=60)
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "..", "models", "tokenizer.json"))
    ap.add_argument("--d-model", type=int, default=256); ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--d-ff", type=int, default=512); ap.add_argument("--enc-layers", type=int, default=2)
    ap.add_argument("--dec-layers", type=int, default=3); ap.add_argument("--batch", type=int, default=24)
    ap.add_argument("--lr", type=float, default=2e-3); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads); torch.manual_seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    tok = Tokenizer.from_file(a.tokenizer)
    c = dict(vocab=tok.get_vocab_size(), d_model=a.d_model, n_heads=a.heads, d_ff=a.d_ff, enc_layers=a.enc_layers,
             dec_layers=a.dec_layers, segment=128, context=128, max_latent=16)
    cache = os.path.join(a.out, "..", "tokcache"); os.makedirs(cache, exist_ok=True)
    train = load_tokens(tok, "train", cache); val = load_tokens(tok, "val", cache)
    names = list(train); probs = np.array([WEIGHTS[n] for n in names]); probs /= probs.sum()
    model = T5(c)
    print("params", sum(p.numel() for p in model.parameters()), flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "embed.weight" and "rel" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "embed.weight" and "rel" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": other, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.98))
    ck = os.path.join(a.out, "ckpt.pt"); step = 0; elapsed = 0.0; toks = 0
    if os.path.exists(ck):
        s = torch.load(ck); model.load_state_dict(s["model"]); opt.load_state_dict(s["opt"])
        step, elapsed, toks = s["step"], s["elapsed"], s["toks"]; print("resumed at step", step, flush=True)
    rng = np.random.default_rng(a.seed + step); budget = a.minutes * 60; t0 = time.time() - elapsed; last_ck = time.time()
    ema = None
    while True:
        el = time.time() - t0
        if el >= budget: break
        frac = el / budget
        lr = a.lr * min(1.0, (step + 1) / 200) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups: g["lr"] = lr
        enc, pad, dec_in, tgt = batch(train, names, probs, a.batch, c["context"], c["segment"], c["vocab"], rng)
        logits = model.decode(dec_in, model.encode(enc, pad), pad)
        loss = F.cross_entropy(logits.reshape(-1, c["vocab"]), tgt.reshape(-1))
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        step += 1; toks += tgt.numel()
        ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
        if step % 50 == 0:
            print(f"step {step} t {el/60:.1f}m tok {toks} loss {ema:.3f} ({ema/math.log(2):.3f} bits/tok) lr {lr:.2e} tok/s {toks/max(el,1):.0f}", flush=True)
        if time.time() - last_ck > 300:
            torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=time.time() - t0, toks=toks), ck)
            export(model, c, a.out); last_ck = time.time()
    torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), step=step, elapsed=time.time() - t0, toks=toks), ck)
    export(model, c, a.out)
    ev = evaluate(model, val, c, np.random.default_rng(0), 48)
    print("val bits/token", json.dumps({k: round(v, 3) for k, v in ev.items()}), flush=True)

if __name__ == "__main__":
    main()
