"""Maximum-likelihood pretraining of the s2s2s network (empty latent) in PyTorch.

One script for three uses (see train/README.md):

* the long CPU run, resumable, started from the shipped network:
      nice -n 19 python3 train/pretrain.py --out /root/s2s2s-longrun --steps 12000
* a GPU run with a wall-clock budget (cosine over the budget when --steps is not given):
      python3 train/pretrain.py --device cuda --minutes 8 --out DIR
* a CPU smoke test at toy scale (tiny network from scratch, 150 kB of each source):
      python3 train/pretrain.py --device cpu --minutes 1 --toy --out /tmp/smoke

The run directory holds plan.json (what defines the run, fixed at its first start: a resumed run
follows it), ckpt.pt (weights, AdamW state, step, tokens; replaced atomically every
--ckpt-minutes), log.txt, evals.jsonl (one line per evaluation) and model/ (the f16 model directory
`s2s2s --model` loads, written at each evaluation). Without ckpt.pt the run starts from --init.
A step's examples depend only on the seed and the step, so a resumed run sees the data it would
have seen.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s2s2s_model import (ByteTokenizer, T5, crlf_blocks, export_model_dir, list_sources,  # noqa: E402
                         load_model_dir, read_source, split_source)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOY = dict(d_model=64, n_heads=2, d_ff=128, enc_layers=1, dec_layers=1, segment=32, context=32, max_latent=16)
# sources whose validation split is also scored with CRLF line endings (the corpus is LF-only)
CRLF_VAL = ["prose_us_presidential_speeches", "code_python_stdlib"]
# What defines a run (stored in plan.json); everything else is how this invocation runs it.
PLAN_KEYS = ["init", "toy", "corpus", "max_bytes", "crlf_share", "empty_context", "steps", "batch", "lr", "warmup",
             "final_lr", "weight_decay", "seed", "val_segments"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run directory (checkpoint, log, model/)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--minutes", type=float, default=0, help="wall-clock budget of this invocation, setup included (0: none)")
    ap.add_argument("--init", default=os.path.join(REPO, "models"), help="model directory to start from ('scratch': random init)")
    ap.add_argument("--toy", action="store_true", help="tiny network from scratch on 150 kB per source (smoke test)")
    ap.add_argument("--corpus", default=os.path.join(REPO, "..", "shared", "corpus"))
    ap.add_argument("--cache", default=None, help="token cache directory (default OUT/cache)")
    ap.add_argument("--max-bytes", type=int, default=0, help="bytes of each source's training and validation split (0: all)")
    ap.add_argument("--crlf-share", type=float, default=0.15, help="share of each training split converted to CRLF")
    ap.add_argument("--empty-context", type=float, default=0.05, help="share of examples with no context (a block's first segment)")
    ap.add_argument("--steps", type=int, default=0, help="planned steps: cosine horizon (0: the --minutes budget is the horizon)")
    ap.add_argument("--batch", type=int, default=0, help="segments per step (default 24 on cpu, 512 on cuda)")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--final-lr", type=float, default=0.1, help="cosine ends at this fraction of --lr")
    ap.add_argument("--weight-decay", type=float, default=0.05)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--val-segments", type=int, default=32, help="fixed validation segments per source")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--tok-threads", type=int, default=2, help="tokenizer threads (cache building only)")
    ap.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16"], help="auto: bf16 autocast on cuda, f32 on cpu")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    ap.add_argument("--eval-minutes", type=float, default=20)
    ap.add_argument("--ckpt-minutes", type=float, default=5)
    ap.add_argument("--log-every", type=int, default=20, help="steps between log lines")
    ap.add_argument("--bench", type=int, default=0, help="only time this many training steps (f32 and bf16) and exit")
    a = ap.parse_args(argv)
    if a.toy:
        a.init = "scratch"
        a.max_bytes = a.max_bytes or 150_000
        a.val_segments = min(a.val_segments, 4)
        a.warmup = min(a.warmup, 20)
        a.lr = 3e-3
        a.eval_minutes = min(a.eval_minutes, 0.5)
    if not a.batch:
        a.batch = 512 if a.device.startswith("cuda") else (16 if a.toy else 24)
    return a


class Log:
    def __init__(self, path):
        self.f = open(path, "a")

    def __call__(self, msg):
        line = time.strftime("%Y-%m-%d %H:%M:%S ") + msg
        print(line, flush=True)
        self.f.write(line + "\n")
        self.f.flush()


# ---------------------------------------------------------------------------------------------
# Data

def save_npy(path, arr):
    tmp = path + ".partial.npy"
    np.save(tmp, arr)
    os.replace(tmp, path)


def load_data(a, tok, c, log):
    """Token ids of every source's training split (with the CRLF share) and validation split, cached."""
    cache = a.cache or os.path.join(a.out, "cache")
    os.makedirs(cache, exist_ok=True)
    tag = f"crlf{a.crlf_share:g}" + (f".max{a.max_bytes}" if a.max_bytes else "")
    train, val = {}, {}
    for name, path in list_sources(a.corpus):
        files = {"train": os.path.join(cache, f"{name}.train.{tag}.npy"),
                 "val": os.path.join(cache, f"{name}.val{'.max%d' % a.max_bytes if a.max_bytes else ''}.npy")}
        crlf = name in CRLF_VAL
        if crlf:
            files["valcrlf"] = files["val"].replace(".val", ".valcrlf")
        if not all(os.path.exists(f) for f in files.values()):
            t0 = time.time()
            tr, va = split_source(name, read_source(path))
            if a.max_bytes:
                tr, va = tr[:a.max_bytes], va[:a.max_bytes]
            # the seed of a source's CRLF blocks is its name's bytes: stable across runs and machines
            parts = {"train": crlf_blocks(tr, a.crlf_share, list(name.encode())), "val": va}
            if crlf:
                parts["valcrlf"] = va.replace(b"\n", b"\r\n")
            for k, data in parts.items():
                if not os.path.exists(files[k]):
                    save_npy(files[k], tok.encode(data))
            log(f"tokenized {name}: {len(tr):,} + {len(va):,} bytes in {time.time() - t0:.0f} s")
        train[name] = np.load(files["train"])
        val[name] = np.load(files["val"])
        if crlf:
            val[name + "+crlf"] = np.load(files["valcrlf"])
    return train, val


class Sampler:
    """Training examples as src/train.rs `Data::sample`: a source with probability proportional to
    the square root of its training tokens (small sources still count), a uniform position, the 128
    tokens before it as context and the 128 from it as the segment, empty latent. One change: a
    share of examples (--empty-context) gets no context, as the first segment of every block (and
    the whole of a small file) is coded; the shipped network was trained with 5%.

    Encoder rows are laid out [context, SEP] and the missing context is left padding (masked);
    positions are relative, so that is the engine's [SEP] alone."""

    def __init__(self, train, c, device, empty_context):
        self.c = c
        need = c["context"] + c["segment"] + 1
        self.names = [n for n, t in train.items() if len(t) > need]
        sizes = np.array([len(train[n]) for n in self.names], dtype=np.float64)
        self.p = np.sqrt(sizes) / np.sqrt(sizes).sum()
        self.offset = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        self.size = sizes.astype(np.int64)
        self.tokens = torch.from_numpy(np.concatenate([train[n] for n in self.names]).astype(np.int32)).to(device)
        self.device = device
        self.empty = empty_context

    def batch(self, rng, B):
        ctx, seg, V = self.c["context"], self.c["segment"], self.c["vocab"]
        src = rng.choice(len(self.names), size=B, p=self.p)
        pos = self.offset[src] + rng.integers(ctx, self.size[src] - seg)  # Rust: random_range(context..len - segment)
        empty = rng.random(B) < self.empty
        idx = torch.from_numpy(pos[:, None] + np.arange(-ctx, seg)[None, :]).to(self.device)
        win = self.tokens[idx].long()  # [B, ctx + seg]
        enc = torch.cat([win[:, :ctx], torch.full((B, 1), V, dtype=torch.long, device=self.device)], 1)
        pad = torch.zeros((B, ctx + 1), dtype=torch.bool, device=self.device)
        pad[torch.from_numpy(empty).to(self.device), :ctx] = True
        enc = enc.masked_fill(pad, 0)
        tgt = win[:, ctx:]
        dec = torch.cat([torch.full((B, 1), V + 1, dtype=torch.long, device=self.device), tgt[:, :-1]], 1)
        return enc, pad, dec, tgt


def validation_set(val, c, k):
    """Fixed validation segments, as src/train.rs `Data::validation`: k evenly spaced through each
    source's held-out split, each with its full context."""
    ctx, seg = c["context"], c["segment"]
    out = {}
    for name, v in val.items():
        span = ctx + seg
        if len(v) < span:
            continue
        n = min(k, len(v) // span)
        starts = [ctx + i * (len(v) - span) // max(n, 1) for i in range(n)]
        out[name] = (np.stack([v[s - ctx:s] for s in starts]), np.stack([v[s:s + seg] for s in starts]))
    return out


@torch.no_grad()
def evaluate(model, vset, c, tok, device, autocast):
    """Per-source validation bits per token and per byte of the network alone (teacher-forced)."""
    model.eval()
    out = {}
    for name, (cx, sg) in vset.items():
        bits = 0.0
        for i in range(0, len(sg), 64):
            enc = torch.from_numpy(np.concatenate([cx[i:i + 64], np.full((len(cx[i:i + 64]), 1), c["vocab"])], 1).astype(np.int64)).to(device)
            tgt = torch.from_numpy(sg[i:i + 64].astype(np.int64)).to(device)
            dec = torch.cat([torch.full_like(tgt[:, :1], c["vocab"] + 1), tgt[:, :-1]], 1)
            with autocast():
                logits = model(enc, torch.zeros_like(enc, dtype=torch.bool), dec)
            bits += F.cross_entropy(logits.float().reshape(-1, c["vocab"]), tgt.reshape(-1), reduction="sum").item() / math.log(2)
        nbytes = int(tok.token_len[sg.astype(np.int64)].sum())
        out[name] = {"bits_per_token": bits / sg.size, "bits_per_byte": bits / nbytes}
    model.train()
    return out


# ---------------------------------------------------------------------------------------------
# The run

def lr_at(a, step, frac):
    """Linear warm-up over --warmup steps, then cosine from --lr to final_lr * lr at the horizon
    (`frac` = share of the planned steps, or of the time budget, spent)."""
    w = min(1.0, (step + 1) / max(a.warmup, 1))
    frac = min(max(frac, 0.0), 1.0)
    return a.lr * w * (a.final_lr + (1 - a.final_lr) * 0.5 * (1 + math.cos(math.pi * frac)))


def make_optimizer(model, a):
    # no decay on norms, the embedding and the position tables (as src/train.rs `Params::step`)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "embed.weight" and "rel" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "embed.weight" and "rel" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": other, "weight_decay": 0.0}],
                             lr=a.lr, betas=(0.9, 0.98), eps=1e-8)


def autocast_for(a, device):
    bf16 = a.precision == "bf16" or (a.precision == "auto" and device.type == "cuda")
    if bf16:
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return lambda: torch.autocast(device.type, enabled=False)


def train_step(model, opt, batch, c, autocast):
    enc, pad, dec, tgt = batch
    with autocast():
        logits = model(enc, pad, dec)
    loss = F.cross_entropy(logits.float().reshape(-1, c["vocab"]), tgt.reshape(-1))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def bench(a, model, c, sampler, device, log):
    """Tokens per second of training steps at f32 and bf16 autocast (and their losses)."""
    for prec in ["f32", "bf16"]:
        a.precision = prec
        ac = autocast_for(a, device)
        m = T5(c).to(device)
        m.load_state_dict(model.state_dict())
        opt = make_optimizer(m, a)
        for g in opt.param_groups:
            g["lr"] = 1e-4
        losses = []
        for s in range(a.bench + 2):
            if s == 2:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.time()
            losses.append(train_step(m, opt, sampler.batch(np.random.default_rng([a.seed, s]), a.batch), c, ac).item())
        if device.type == "cuda":
            torch.cuda.synchronize()
        dt = time.time() - t0
        log(f"bench {prec}: {a.bench * a.batch * c['segment'] / dt:.0f} tokens/s ({dt / a.bench:.2f} s/step, batch {a.batch}, "
            f"{torch.get_num_threads()} threads), mean loss {np.mean(losses) / math.log(2):.4f} bits/token")


def main(argv=None):
    t_start = time.time()
    a = parse_args(argv)
    os.environ.setdefault("RAYON_NUM_THREADS", str(a.tok_threads))  # before the tokenizer's first parallel call
    os.makedirs(a.out, exist_ok=True)
    log = Log(os.path.join(a.out, "log.txt"))
    # a resumed run follows the plan it was started with
    plan_path = os.path.join(a.out, "plan.json")
    if os.path.exists(plan_path):
        with open(plan_path) as f:
            plan = json.load(f)
        for k in PLAN_KEYS:
            setattr(a, k, plan[k])
    elif not a.bench:
        with open(plan_path + ".partial", "w") as f:
            json.dump({k: getattr(a, k) for k in PLAN_KEYS}, f, indent=1)
        os.replace(plan_path + ".partial", plan_path)
    device = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    deadline = t_start + a.minutes * 60 if a.minutes > 0 else float("inf")

    tok_path = os.path.join(REPO, "models", "tokenizer.json") if a.init == "scratch" else os.path.join(a.init, "tokenizer.json")
    tok = ByteTokenizer(tok_path)
    if a.init == "scratch":
        c = dict(vocab=tok.vocab_size, **(TOY if a.toy else json.load(open(os.path.join(REPO, "models", "config.json")))))
        c = {k: c[k] for k in ["vocab", "d_model", "n_heads", "d_ff", "enc_layers", "dec_layers", "segment", "context", "max_latent"]}
        model = T5(c).to(device)
    else:
        model, c = load_model_dir(a.init, device)
    assert c["vocab"] == tok.vocab_size
    log(f"start: {' '.join(sys.argv)}; pid {os.getpid()}; torch {torch.__version__}; {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"config {json.dumps(c)}")
    train, val = load_data(a, tok, c, log)
    sampler = Sampler(train, c, device, a.empty_context)
    log(f"data: {len(sampler.names)} sources, {int(sampler.size.sum()):,} training tokens; sampling weights "
        + ", ".join(f"{n} {p:.3f}" for n, p in zip(sampler.names, sampler.p)))
    if a.bench:
        bench(a, model, c, sampler, device, log)
        return
    vset = validation_set(val, c, a.val_segments)
    autocast = autocast_for(a, device)
    opt = make_optimizer(model, a)
    ck_path = os.path.join(a.out, "ckpt.pt")
    step, tokens, train_s = 0, 0, 0.0
    if os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, tokens, train_s = ck["step"], ck["tokens"], ck["train_s"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ck_path} at step {step}, {tokens:,} tokens seen")
    else:
        log(f"no checkpoint: starting from {a.init}")
    fwd = torch.compile(model) if a.compile else model
    evals_path = os.path.join(a.out, "evals.jsonl")
    baseline = None
    if os.path.exists(evals_path):
        with open(evals_path) as f:
            first = f.readline()
        baseline = json.loads(first)["sources"] if first else None

    def do_eval():
        nonlocal baseline
        t0 = time.time()
        ev = evaluate(model, vset, c, tok, device, autocast)
        rec = {"step": step, "tokens": tokens, "time": time.strftime("%Y-%m-%d %H:%M:%S"), "sources": ev}
        with open(evals_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if baseline is None:
            baseline = ev
        rel = {n: 100 * (1 - ev[n]["bits_per_byte"] / baseline[n]["bits_per_byte"]) for n in ev if n in baseline}
        log(f"validation at step {step} ({tokens:,} tokens, {time.time() - t0:.0f} s), network alone, "
            f"bits/token bits/byte and % saved vs the run's first evaluation:")
        for n, v in ev.items():
            log(f"  {n:36s} {v['bits_per_token']:6.3f} {v['bits_per_byte']:6.4f} {rel.get(n, 0):+6.2f}%")
        mean_bpb = np.mean([v["bits_per_byte"] for v in ev.values()])
        log(f"  mean bits/byte {mean_bpb:.4f}; smallest saving {min(rel.values()):+.2f}% ({min(rel, key=rel.get)})")
        export_model_dir(model, c, tok.json, os.path.join(a.out, "model"))

    def checkpoint():
        tmp = ck_path + ".partial"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "tokens": tokens,
                    "train_s": train_s, "torch_rng": torch.get_rng_state(), "config": c}, tmp)
        os.replace(tmp, ck_path)

    if step == 0:
        do_eval()  # the starting point, the baseline of the "% saved" column
    # stop early enough to write the checkpoint, evaluate and export (a minute; 15 s a minute of budget when short)
    reserve = 60 if a.minutes >= 3 else 15 * a.minutes
    horizon_s = max(deadline - reserve - time.time(), 1) if a.steps <= 0 else None
    run_start = time.time()
    last_ck = last_eval = time.time()
    win_t, win_tok, win_loss = time.time(), 0, []
    while True:
        if a.steps > 0 and step >= a.steps:
            break
        if time.time() > deadline - reserve:
            break
        frac = step / a.steps if a.steps > 0 else (time.time() - run_start) / horizon_s
        lr = lr_at(a, step, frac)
        for g in opt.param_groups:
            g["lr"] = lr
        t0 = time.time()
        batch = sampler.batch(np.random.default_rng([a.seed, step]), a.batch)
        win_loss.append(train_step(fwd, opt, batch, c, autocast))
        step += 1
        n = a.batch * c["segment"]
        tokens += n
        win_tok += n
        train_s += time.time() - t0
        if step % a.log_every == 0:
            loss = torch.stack(win_loss).mean().item() / math.log(2)
            log(f"step {step} loss {loss:.4f} bits/token lr {lr:.2e} tokens {tokens:,} tok/s {win_tok / (time.time() - win_t):.0f}")
            win_t, win_tok, win_loss = time.time(), 0, []
        if time.time() - last_ck > a.ckpt_minutes * 60:
            checkpoint()
            last_ck = time.time()
        if time.time() - last_eval > a.eval_minutes * 60:
            do_eval()
            last_eval = time.time()
    checkpoint()
    do_eval()
    summary = {"step": step, "tokens": tokens, "train_seconds": train_s, "tokens_per_second": tokens / max(train_s, 1e-9),
               "device": str(device), "threads": torch.get_num_threads(), "config": c, "plan": {k: getattr(a, k) for k in PLAN_KEYS}}
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    log(f"stopped at step {step} ({tokens:,} tokens; plan {a.steps or 'time budget'}); checkpoint and model written in {time.time() - t_start:.0f} s")


if __name__ == "__main__":
    main()
