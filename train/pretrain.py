"""Maximum-likelihood pretraining of the s2s2s network (empty latent) in PyTorch.

One script for three uses (see train/README.md):

* the long CPU run, resumable, started from the shipped network:
      nice -n 19 python3 train/pretrain.py --out /root/s2s2s-longrun --steps 12000
* a GPU run with a wall-clock budget (cosine over the budget when --steps is not given), on the
  data that train/pack_data.py packed (the device machine has no corpus):
      python3 train/pretrain.py --device cuda --minutes 8 --data scratch/gpu-data --out $OUT
* a CPU smoke test at toy scale (tiny network from scratch, the first 40,000 tokens of each source):
      python3 train/pretrain.py --device cpu --minutes 1 --toy --data scratch/gpu-data --out /tmp/smoke

The run directory holds plan.json (what defines the run, fixed at its first start: a resumed run
follows it), ckpt.pt (weights, AdamW state, step, tokens; replaced atomically every
--ckpt-minutes), log.txt, evals.jsonl (one line per evaluation) and model/ (the f16 model directory
`s2s2s --model` loads, written at each evaluation). Without ckpt.pt the run starts from --init.
A step's examples depend only on the seed and the step, so a resumed run sees the data it would
have seen.

A run with a --minutes budget works so that it can be killed at any time: it writes model/ as soon
as the starting network is loaded and again every --ckpt-minutes (default 1), evaluates only at the
start and the end, and keeps ckpt.pt only where --ckpt names a path. It writes figures.json (tokens
seen, tokens/s, per-source bits before and after) at every checkpoint; "after" is filled at the end.
"""
import time
T_PROCESS = time.time()  # the budget counts from here: imports take seconds  # noqa: E402

import argparse  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import lzma  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

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
             "final_lr", "weight_decay", "seed", "val_segments", "data", "max_tokens", "boost"]


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run directory (checkpoint, log, model/)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--minutes", type=float, default=0, help="wall-clock budget of this invocation, setup included (0: none)")
    ap.add_argument("--init", default=os.path.join(REPO, "models"), help="model directory to start from ('scratch': random init)")
    ap.add_argument("--toy", action="store_true", help="tiny network from scratch on 150 kB per source (smoke test)")
    ap.add_argument("--corpus", default=os.path.join(REPO, "corpus"),
                    help="folder of the corpus sources NAME.xz (default: corpus/ of the repository, made by "
                         "train/build-corpus.sh corpus)")
    ap.add_argument("--data", default=None, help="packed token folder of train/pack_data.py, instead of --corpus")
    ap.add_argument("--max-tokens", type=int, default=0, help="with --data: tokens of each source's training and validation split (0: all)")
    ap.add_argument("--ckpt", default=None, help="full training state (weights, AdamW, step): default OUT/ckpt.pt, "
                    "none with a --minutes budget (model/ is then the checkpoint); 'none': never")
    ap.add_argument("--cache", default=None, help="token cache directory (default OUT/cache)")
    ap.add_argument("--max-bytes", type=int, default=0, help="bytes of each source's training and validation split (0: all)")
    ap.add_argument("--crlf-share", type=float, default=0.15, help="share of each training split converted to CRLF")
    ap.add_argument("--boost", default="", help="PREFIX=FACTOR,...: multiply the sampling weight of the sources whose "
                    "names start with PREFIX (e.g. prose_=3 to spend more of a run where the network is weakest)")
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
    ap.add_argument("--precision", default="auto", choices=["auto", "f32", "bf16"], help="auto: bf16 autocast on cuda and on CPUs with bf16 instructions, else f32")
    ap.add_argument("--compile", action="store_true", help="torch.compile the network")
    ap.add_argument("--eval-minutes", type=float, default=None, help="default 20; with a --minutes budget only start and end")
    ap.add_argument("--ckpt-minutes", type=float, default=None, help="default 5; 1 with a --minutes budget")
    ap.add_argument("--log-every", type=int, default=None, help="steps between log lines (default 20, 100 on cuda)")
    ap.add_argument("--bench", type=int, default=0, help="only time this many training steps (f32 and bf16) and exit")
    a = ap.parse_args(argv)
    parse_boost(a.boost)  # refused before minutes of data loading, not after
    budgeted = a.minutes > 0 and a.steps <= 0
    if a.eval_minutes is None:
        a.eval_minutes = float("inf") if budgeted else 20
    if a.ckpt_minutes is None:
        a.ckpt_minutes = 1 if budgeted else 5
    if a.log_every is None:
        a.log_every = 100 if a.device.startswith("cuda") else 20
    if a.ckpt is None:
        a.ckpt = "none" if budgeted else os.path.join(a.out, "ckpt.pt")
    if a.data:
        a.data = os.path.abspath(a.data)
    if a.toy:
        a.init = "scratch"
        a.max_bytes = a.max_bytes or 150_000
        if a.data:
            a.max_tokens = a.max_tokens or 40_000
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


def load_packed(a, tok, log):
    """Training and validation token ids from a train/pack_data.py folder, and each source's full
    training-split size (the sampling weights: the packed folder holds only part of the big
    sources). Streams are decompressed in parallel; with --max-tokens only that prefix is decoded."""
    with open(os.path.join(a.data, "meta.json")) as f:
        meta = json.load(f)
    if meta["tokenizer_sha256"] != hashlib.sha256(tok.json).hexdigest():
        raise SystemExit(f"{a.data} was tokenized with another tokenizer.json than this run's")
    if abs(meta["crlf_share"] - a.crlf_share) > 1e-9:
        log(f"note: the packed data has crlf_share {meta['crlf_share']} (--crlf-share {a.crlf_share} is ignored)")
    limit = a.max_tokens or None

    def decode(job):
        path, start, nbytes, ntok = job
        with open(path, "rb") as f:
            f.seek(start)
            raw = f.read(nbytes)
        if limit is not None and ntok > limit:
            out = lzma.LZMADecompressor().decompress(raw, max_length=2 * limit)
        else:
            out = lzma.decompress(raw)
        return np.frombuffer(out, dtype="<u2").astype(np.uint16)

    jobs, keys = [], []
    for name, m in meta["sources"].items():
        start = 0
        for i, (nbytes, ntok) in enumerate(m["streams"]):
            if limit is None or i == 0:
                jobs.append((os.path.join(a.data, f"{name}.train.xz"), start, nbytes, ntok))
                keys.append(("train", name))
            start += nbytes
        for k, key in [("val", name)] + ([("valcrlf", name + "+crlf")] if m["val_crlf"] else []):
            p = os.path.join(a.data, f"{name}.{k}.xz")
            jobs.append((p, 0, os.path.getsize(p), m["val_tokens"] if limit else 0))
            keys.append(("val", key))
    with ThreadPoolExecutor(max(os.cpu_count() or 1, 1)) as ex:
        arrays = list(ex.map(decode, jobs))
    train, val = {}, {}
    for (kind, key), arr in zip(keys, arrays):
        (train if kind == "train" else val).setdefault(key, []).append(arr)
    train = {k: np.concatenate(v)[:limit] for k, v in train.items()}
    val = {k: np.concatenate(v)[:limit] for k, v in val.items()}
    full = {name: m["train_tokens"] for name, m in meta["sources"].items()}
    log(f"packed data {a.data}: {sum(map(len, train.values())):,} training tokens of {sum(full.values()):,}, "
        f"{sum(map(len, val.values())):,} validation tokens")
    return train, val, full


def parse_boost(boost):
    """--boost "PREFIX=FACTOR,..." as (prefix, factor) pairs; anything else is refused."""
    pairs = []
    for item in filter(None, boost.split(",")):
        prefix, sep, factor = item.partition("=")
        try:
            f = float(factor)
        except ValueError:
            f = -1.0
        if not sep or not prefix or not f > 0:
            raise SystemExit(f"--boost: {item!r} is not PREFIX=FACTOR with a factor above 0")
        pairs.append((prefix, f))
    return pairs


class Sampler:
    """Training examples as src/train/data.rs `Data::sample`: a source with probability proportional to
    the square root of its training tokens (small sources still count), a uniform position, the 128
    tokens before it as context and the 128 from it as the segment, empty latent. One change: a
    share of examples (--empty-context) gets no context, as the first segment of every block (and
    the whole of a small file) is coded; the shipped network was trained with 5%.

    Encoder rows are laid out [context, SEP] and the missing context is left padding (masked);
    positions are relative, so that is the engine's [SEP] alone."""

    def __init__(self, train, c, device, empty_context, weight_sizes=None, boost=""):
        """`weight_sizes`: the training tokens each source's sampling weight is computed from (by
        default those in `train`; a packed folder passes the full splits' sizes). `boost`: the
        --boost factors by name prefix."""
        self.c = c
        need = c["context"] + c["segment"] + 1
        self.names = [n for n, t in train.items() if len(t) > need]
        sizes = np.array([len(train[n]) for n in self.names], dtype=np.float64)
        wsizes = sizes if weight_sizes is None else np.array([weight_sizes[n] for n in self.names], dtype=np.float64)
        w = np.sqrt(wsizes)
        for prefix, factor in parse_boost(boost):
            hit = np.array([n.startswith(prefix) for n in self.names])
            if not hit.any():
                raise SystemExit(f"--boost {prefix}={factor:g}: no source's name starts with {prefix!r}")
            w[hit] *= factor
        self.p = w / w.sum()
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
        # rows without context: padding on all but SEP (built on the host: no device sync)
        pad = torch.from_numpy(empty[:, None] & (np.arange(ctx + 1) < ctx)[None, :]).to(self.device)
        enc = enc.masked_fill(pad, 0)
        tgt = win[:, ctx:]
        dec = torch.cat([torch.full((B, 1), V + 1, dtype=torch.long, device=self.device), tgt[:, :-1]], 1)
        return enc, pad, dec, tgt


def validation_set(val, c, k):
    """Fixed validation segments, as src/train/data.rs `Data::validation`: k evenly spaced through each
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
    # no decay on norms, the embedding and the position tables (as src/train/optim.rs `Params::step`)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "embed.weight" and "rel" not in n]
    other = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "embed.weight" and "rel" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay}, {"params": other, "weight_decay": 0.0}],
                             lr=a.lr, betas=(0.9, 0.98), eps=1e-8)


def cpu_has_bf16():
    """Whether this CPU computes in bf16 (AVX512-BF16 or AMX): there bf16 autocast trained 1.7x faster than
    f32; without them, 12x slower."""
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return " avx512_bf16" in flags or " amx_bf16" in flags


def use_bf16(a, device):
    return a.precision == "bf16" or (a.precision == "auto" and (device.type == "cuda" or cpu_has_bf16()))


def autocast_for(a, device):
    if use_bf16(a, device):
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
    t_start = T_PROCESS if argv is None else time.time()
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
            setattr(a, k, plan.get(k, getattr(a, k)))  # keys added later: this invocation's value
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
    gpu = f"; {torch.cuda.get_device_name(device)}" if device.type == "cuda" else ""
    log(f"start: {' '.join(sys.argv)}; pid {os.getpid()}; torch {torch.__version__}{gpu}; "
        f"{sum(p.numel() for p in model.parameters()):,} parameters; config {json.dumps(c)}")
    budgeted = a.minutes > 0 and a.steps <= 0
    model_dir = os.path.join(a.out, "model")
    ck_path = None if a.ckpt == "none" else a.ckpt
    if budgeted and not a.bench and not (ck_path and os.path.exists(ck_path)):
        export_model_dir(model, c, tok.json, model_dir)  # a usable model in OUT from the first seconds
    if a.data:
        train, val, full_sizes = load_packed(a, tok, log)
    else:
        train, val = load_data(a, tok, c, log)
        full_sizes = None
    sampler = Sampler(train, c, device, a.empty_context, full_sizes, a.boost)
    del train
    log(f"data: {len(sampler.names)} sources, {int(sampler.size.sum()):,} training tokens; sampling weights "
        + ", ".join(f"{n} {p:.3f}" for n, p in zip(sampler.names, sampler.p)))
    if a.bench:
        bench(a, model, c, sampler, device, log)
        return
    vset = validation_set(val, c, a.val_segments)
    autocast = autocast_for(a, device)
    no_autocast = lambda: torch.autocast(device.type, enabled=False)  # validation is scored in f32
    opt = make_optimizer(model, a)
    step, tokens, train_s = 0, 0, 0.0
    if ck_path and os.path.exists(ck_path):
        ck = torch.load(ck_path, map_location=device, weights_only=False)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, tokens, train_s = ck["step"], ck["tokens"], ck["train_s"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {ck_path} at step {step}, {tokens:,} tokens seen")
    else:
        log(f"no checkpoint: starting from {a.init}")
    fwd = model
    if a.compile:
        try:
            fwd = torch.compile(model)
        except Exception as e:  # noqa: BLE001
            log(f"torch.compile failed ({type(e).__name__}: {e}); eager")
    evals_path = os.path.join(a.out, "evals.jsonl")
    baseline = None
    if os.path.exists(evals_path) and step > 0:
        with open(evals_path) as f:
            first = f.readline()
        baseline = json.loads(first)["sources"] if first else None
    figures_path = os.path.join(a.out, "figures.json")
    figures = {"device": str(device) + gpu, "torch": torch.__version__, "config": c,
               "plan": {k: getattr(a, k) for k in PLAN_KEYS}, "budget_minutes": a.minutes, "batch": a.batch,
               "precision": "bf16" if use_bf16(a, device) else "f32",
               "compile": bool(a.compile), "data": a.data or a.corpus,
               "training_tokens_available": int(sampler.size.sum()), "before": baseline, "after": None}
    loop_s = 0.0  # wall time of the training loop (synchronised), for tokens/s

    def write_figures(final=False):
        figures.update({"steps": step, "tokens_seen": tokens, "train_seconds": round(loop_s, 1),
                        "tokens_per_second": round(tokens_run / max(loop_s, 1e-9)), "final": final,
                        "wall_seconds": round(time.time() - t_start, 1)})
        for k in ("before", "after"):
            if figures[k]:
                figures[f"mean_bits_per_byte_{k}"] = float(np.mean([v["bits_per_byte"] for v in figures[k].values()]))
        if figures["before"] and figures["after"]:
            figures["saved_percent"] = {n: round(100 * (1 - v["bits_per_byte"] / figures["before"][n]["bits_per_byte"]), 3)
                                        for n, v in figures["after"].items() if n in figures["before"]}
        tmp = figures_path + ".partial"
        with open(tmp, "w") as f:
            json.dump(figures, f, indent=1)
        os.replace(tmp, figures_path)

    def do_eval():
        nonlocal baseline
        t0 = time.time()
        ev = evaluate(model, vset, c, tok, device, no_autocast)
        rec = {"step": step, "tokens": tokens, "time": time.strftime("%Y-%m-%d %H:%M:%S"), "sources": ev}
        with open(evals_path, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if baseline is None:
            baseline = figures["before"] = ev
        figures["after"] = ev if step > 0 else None
        rel = {n: 100 * (1 - ev[n]["bits_per_byte"] / baseline[n]["bits_per_byte"]) for n in ev if n in baseline}
        log(f"validation at step {step} ({tokens:,} tokens, {time.time() - t0:.0f} s), network alone, "
            f"bits/token bits/byte and % saved vs the run's first evaluation:")
        for n, v in ev.items():
            log(f"  {n:36s} {v['bits_per_token']:6.3f} {v['bits_per_byte']:6.4f} {rel.get(n, 0):+6.2f}%")
        mean_bpb = np.mean([v["bits_per_byte"] for v in ev.values()])
        log(f"  mean bits/byte {mean_bpb:.4f}; smallest saving {min(rel.values()):+.2f}% ({min(rel, key=rel.get)})")
        export_model_dir(model, c, tok.json, model_dir)
        return time.time() - t0

    def checkpoint():
        if ck_path:
            tmp = ck_path + ".partial"
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step, "tokens": tokens,
                        "train_s": train_s, "torch_rng": torch.get_rng_state(), "config": c}, tmp)
            os.replace(tmp, ck_path)
        if budgeted:
            export_model_dir(model, c, tok.json, model_dir)
            write_figures()

    tokens_run = 0
    eval_s = do_eval() if step == 0 else 0.0  # the starting point, the baseline of the "% saved" column
    write_figures()
    # stop early enough to write the checkpoint, evaluate and export: twice the first evaluation and 10 s
    # (a minute for an unbudgeted resumed run, which has not timed one)
    reserve = 10 + 2 * eval_s if step == 0 else (60 if a.minutes >= 3 else 15 * a.minutes)
    horizon_s = max(deadline - reserve - time.time(), 1) if a.steps <= 0 else None
    run_start = time.time()
    last_ck = last_eval = time.time()
    win_t, win_tok, win_loss = time.time(), 0, []
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
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
        try:
            win_loss.append(train_step(fwd, opt, batch, c, autocast))
        except Exception as e:  # noqa: BLE001
            if fwd is model:
                raise
            log(f"compiled step failed ({type(e).__name__}: {str(e)[:300]}); eager from here")
            fwd = model
            win_loss.append(train_step(fwd, opt, batch, c, autocast))
        step += 1
        n = a.batch * c["segment"]
        tokens += n
        tokens_run += n
        win_tok += n
        train_s += time.time() - t0
        if step % a.log_every == 0:
            loss = torch.stack(win_loss).mean().item() / math.log(2)
            loop_s = time.time() - run_start
            log(f"step {step} loss {loss:.4f} bits/token lr {lr:.2e} tokens {tokens:,} tok/s {win_tok / (time.time() - win_t):.0f}")
            win_t, win_tok, win_loss = time.time(), 0, []
        if time.time() - last_ck > a.ckpt_minutes * 60:
            sync()
            loop_s = time.time() - run_start
            checkpoint()
            last_ck = time.time()
        if time.time() - last_eval > a.eval_minutes * 60:
            do_eval()
            last_eval = time.time()
    sync()
    loop_s = time.time() - run_start
    checkpoint()
    do_eval()
    write_figures(final=True)
    log(f"stopped at step {step} ({tokens:,} tokens, {tokens_run / max(loop_s, 1e-9):,.0f} tokens/s over {loop_s:.0f} s; "
        f"plan {a.steps or 'time budget'}); checkpoint and model written, {time.time() - t_start:.0f} s in all")


if __name__ == "__main__":
    main()
