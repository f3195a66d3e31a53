"""The s2s2s network, tokenizer and corpus split in PyTorch: a port of the Rust definitions.

Every choice here mirrors a Rust file, and a change on either side must be made on both:

* network: `src/model/reference.rs` (`T5`, the candle reference; names in `src/model/schema.rs`) and `src/engine/` (the deterministic
  coding engine, which is what compression actually runs);
* tokenizer: `src/tokenizer.rs` (`ByteTokenizer::encode`);
* validation split: `src/train/corpus.rs` (`held_out_bytes`);
* training examples: `src/train/data.rs` (`Data::sample`, `Data::validation`).

(Paths as of commit 097c869; the module refactor moves them under src/model/, src/engine/,
src/train/.)

The network (T5 v1.1 style): a shared embedding of `vocab + 2` rows (text tokens, then SEP = vocab
and BOS = vocab + 1) tied to the output layer over the first `vocab` rows, logits scaled by
1/sqrt(d_model); pre-RMS-norm blocks (eps 1e-6 inside the square root, a weight, no bias);
attention without biases, scores scaled by 1/sqrt(d_head), plus a learnt per-head relative
position bias looked up in an integer bucket table (32 bidirectional buckets in the encoder, 16
causal buckets in the decoder self-attention, none in cross-attention); gated-ReLU feed-forward
`wo(relu(wi0 x) * wi1 x)`; a final RMS norm after each stack. The encoder reads
`context ++ [SEP] ++ latent`; the decoder reads `[BOS] ++ segment[:-1]` and predicts `segment`.
Tensor names are the `state_dict` names of this module, which are exactly the names the Rust
loader takes (`Engine::from_tensors`).
"""
import json
import lzma
import re
import math
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CONFIG_FIELDS = ["vocab", "d_model", "n_heads", "d_ff", "enc_layers", "dec_layers", "segment", "context", "max_latent"]
ENC_BUCKETS, DEC_BUCKETS = 32, 16  # table rows of enc_rel / dec_rel (src/model/schema.rs lists them)


# ---------------------------------------------------------------------------------------------
# Position buckets (src/numeric/buckets.rs `bucket_causal` / `bucket_bidir`): integer arithmetic only, so
# the engine and training agree exactly.

def bucket_causal(n, exact=8, half=16):
    """Bucket of a causal distance n >= 0: exact below 8, then 8 + floor(log2(n^2 / 64)), capped at 15."""
    if n < exact:
        return n
    return min(half - 1, exact + ((n * n) // (exact * exact)).bit_length() - 1)


def bucket_bidir(rel):
    """Bidirectional bucket of rel = key_position - query_position: later keys use buckets 16..31."""
    return bucket_causal(abs(rel)) + (16 if rel > 0 else 0)


# ---------------------------------------------------------------------------------------------
# The network

class RMSNorm(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))

    def forward(self, x):
        # x / sqrt(mean(x^2) + 1e-6) * w, as in model.rs `rms` and engine.rs `rms_norm`
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight


class Attn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)

    def forward(self, x, kv, bias):
        """`bias` is additive on the scores (position bias, -inf above the diagonal, -inf on padding keys)."""
        B, T, D = x.shape
        S = kv.shape[1]
        h, dh = self.h, D // self.h
        q = self.q(x).view(B, T, h, dh).transpose(1, 2)
        k = self.k(kv).view(B, S, h, dh).transpose(1, 2)
        v = self.v(kv).view(B, S, h, dh).transpose(1, 2)
        # SDPA scales by 1/sqrt(dh) like the engine; the additive mask carries the position bias
        # (under autocast q is bf16 while the bias stays f32: SDPA wants one dtype; a no-op in f32)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.o(o.transpose(1, 2).reshape(B, T, D))


class FFN(nn.Module):
    """Gated-ReLU feed-forward: wo(relu(wi0 x) * wi1 x)."""

    def __init__(self, d, f):
        super().__init__()
        self.wi0 = nn.Linear(d, f, bias=False)
        self.wi1 = nn.Linear(d, f, bias=False)
        self.wo = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.wo(F.relu(self.wi0(x)) * self.wi1(x))


class EncLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["d_model"]
        self.attn_norm = RMSNorm(d)
        self.attn = Attn(d, c["n_heads"])
        self.ffn_norm = RMSNorm(d)
        self.ffn = FFN(d, c["d_ff"])

    def forward(self, x, bias):
        y = self.attn_norm(x)
        x = x + self.attn(y, y, bias)
        return x + self.ffn(self.ffn_norm(x))


class DecLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["d_model"], c["n_heads"]
        self.self_norm = RMSNorm(d)
        self.self_attn = Attn(d, h)
        self.cross_norm = RMSNorm(d)
        self.cross_attn = Attn(d, h)
        self.ffn_norm = RMSNorm(d)
        self.ffn = FFN(d, c["d_ff"])

    def forward(self, x, enc, self_bias, cross_mask):
        y = self.self_norm(x)
        x = x + self.self_attn(y, y, self_bias)
        x = x + self.cross_attn(self.cross_norm(x), enc, cross_mask)  # no position bias across
        return x + self.ffn(self.ffn_norm(x))


class T5(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = dict(c)
        d = c["d_model"]
        self.embed = nn.Embedding(c["vocab"] + 2, d)
        self.enc_rel = nn.Embedding(ENC_BUCKETS, c["n_heads"])
        self.dec_rel = nn.Embedding(DEC_BUCKETS, c["n_heads"])
        self.enc = nn.ModuleList([EncLayer(c) for _ in range(c["enc_layers"])])
        self.dec = nn.ModuleList([DecLayer(c) for _ in range(c["dec_layers"])])
        self.enc_norm = RMSNorm(d)
        self.dec_norm = RMSNorm(d)
        n = c["context"] + 1 + c["max_latent"]
        self.register_buffer("enc_bucket", torch.tensor([[bucket_bidir(j - i) for j in range(n)] for i in range(n)]), persistent=False)
        m = c["segment"]
        self.register_buffer("dec_bucket", torch.tensor([[bucket_causal(max(i - j, 0)) for j in range(m)] for i in range(m)]), persistent=False)
        self.register_buffer("future", torch.triu(torch.ones(m, m, dtype=torch.bool), 1), persistent=False)
        self.init_weights()

    def init_weights(self):
        """From-scratch initialisation of src/model/schema.rs `specs` (T5-style scaled normals)."""
        c = self.c
        std = c["d_model"] ** -0.5
        depth = math.sqrt(2 * (c["enc_layers"] + c["dec_layers"]))
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name == "embed.weight":
                nn.init.normal_(p, std=1.0)
            elif "rel" in name:
                nn.init.zeros_(p)
            elif name.endswith(".o.weight"):
                nn.init.normal_(p, std=std / depth)
            elif name.endswith(".wo.weight"):
                nn.init.normal_(p, std=c["d_ff"] ** -0.5 / depth)
            else:
                nn.init.normal_(p, std=std)

    def encode(self, ids, pad):
        """Encoder output for `ids` [B, N] (context, SEP, latent) with `pad` [B, N] True on padding.

        Padding keys get -inf. The engine runs each sequence alone at its own length; position
        buckets depend only on j - i, so a sequence gives the same result wherever it sits in a
        padded row (left padding is as exact as right padding). Returns the output and the key
        mask the cross-attention needs."""
        N = ids.shape[1]
        x = self.embed(ids)
        mask = torch.zeros(pad.shape, dtype=x.dtype, device=x.device).masked_fill(pad, float("-inf"))[:, None, None, :]
        bias = self.enc_rel(self.enc_bucket[:N, :N]).permute(2, 0, 1).unsqueeze(0).to(x.dtype)  # [1, h, N, N]
        bias = bias + mask
        for layer in self.enc:
            x = layer(x, bias)
        return self.enc_norm(x), mask

    def decode(self, inputs, enc, mask):
        """Teacher-forced logits [B, T, vocab] for decoder inputs [B, T] that start with BOS."""
        T = inputs.shape[1]
        x = self.embed(inputs)
        bias = self.dec_rel(self.dec_bucket[:T, :T]).permute(2, 0, 1).unsqueeze(0).to(x.dtype)
        bias = bias.masked_fill(self.future[:T, :T], float("-inf"))
        for layer in self.dec:
            x = layer(x, enc, bias, mask)
        h = self.dec_norm(x)
        return (h @ self.embed.weight[: self.c["vocab"]].t().to(h.dtype)) * (self.c["d_model"] ** -0.5)

    def forward(self, enc_ids, enc_pad, dec_in):
        enc, mask = self.encode(enc_ids, enc_pad)
        return self.decode(dec_in, enc, mask)


def batch_tensors(c, contexts, segments, device, latents=None):
    """Encoder and decoder inputs for examples (lists of token-id arrays), as train.rs `enc_inputs`
    and `segment_bits` build them: encoder `context ++ [SEP] ++ latent` right-padded with 0,
    decoder `[BOS] ++ segment[:-1]`, targets `segment` (all segments of one length)."""
    B = len(segments)
    latents = latents or [()] * B
    lens = [len(cx) + 1 + len(lt) for cx, lt in zip(contexts, latents)]
    N = max(lens)
    enc = np.zeros((B, N), dtype=np.int64)
    for b, (cx, lt) in enumerate(zip(contexts, latents)):
        enc[b, : len(cx)] = cx
        enc[b, len(cx)] = c["vocab"]  # SEP
        enc[b, len(cx) + 1: lens[b]] = lt
    tgt = np.asarray(np.stack(segments), dtype=np.int64)
    dec = np.empty_like(tgt)
    dec[:, 0] = c["vocab"] + 1  # BOS
    dec[:, 1:] = tgt[:, :-1]
    pad = np.arange(N)[None, :] >= np.array(lens)[:, None]
    to = lambda a: torch.from_numpy(a).to(device)
    return to(enc), to(pad), to(dec), to(tgt)


# ---------------------------------------------------------------------------------------------
# Model directories (what `s2s2s --model DIR` and the built-in registry load: src/model/)

def read_config(path):
    with open(path) as f:
        c = json.load(f)
    return {k: int(c[k]) for k in CONFIG_FIELDS}


def load_model_dir(d, device="cpu"):
    """A T5 with the weights of a model directory (f16 or f32 safetensors), in f32."""
    from safetensors.torch import load_file
    c = read_config(os.path.join(d, "config.json"))
    model = T5(c)
    sd = {k: v.float() for k, v in load_file(os.path.join(d, "model.safetensors")).items()}
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise ValueError(f"{d}: missing tensors {missing}, unexpected {unexpected}")
    return model.to(device), c


def _atomic_write(path, data):
    tmp = path + ".partial"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def export_model_dir(model, c, tokenizer_json, d):
    """Writes tokenizer.json (the same bytes: they are part of the model's identity), config.json and
    f16 model.safetensors with the Rust names; each file replaced atomically."""
    from safetensors.torch import save
    os.makedirs(d, exist_ok=True)
    sd = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in model.state_dict().items()}
    _atomic_write(os.path.join(d, "tokenizer.json"), tokenizer_json)
    _atomic_write(os.path.join(d, "config.json"), json.dumps({k: c[k] for k in CONFIG_FIELDS}, indent=1).encode())
    _atomic_write(os.path.join(d, "model.safetensors"), save(sd))


# ---------------------------------------------------------------------------------------------
# Tokenizer (src/tokenizer.rs)

def _bytes_to_chars():
    """ByteLevel's byte -> printable char map (GPT-2's)."""
    direct = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    out, n = {}, 0
    for b in range(256):
        if b in direct:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


class ByteTokenizer:
    """`ByteTokenizer::encode`: valid UTF-8 runs through the BPE, each byte of an invalid run as
    its single-byte token. Long valid runs are encoded in pieces (so that `encode_batch` can use
    several threads), cut only where the ByteLevel pre-tokenizer (the GPT-2 regex) always splits
    whatever follows: just before a line break that follows an ASCII letter or digit. No
    pre-token crosses that point (letters, digits and punctuation runs stop at whitespace, and a
    whitespace run starts there either way), so the ids are those of one call on the whole run.
    (A cut *after* a line break is not safe: `\s+(?!\S)` looks ahead, and "\n\n" at the end of
    a piece becomes one pre-token where the whole text gives "\n", "\n".)"""

    CUT = re.compile(r"(?<=[A-Za-z0-9])[\r\n]")

    def __init__(self, path):
        from tokenizers import Tokenizer
        with open(path, "rb") as f:
            self.json = f.read()
        self.tok = Tokenizer.from_str(self.json.decode())
        vocab = self.tok.get_vocab(with_added_tokens=False)
        b2c = _bytes_to_chars()
        c2b = {ch: b for b, ch in b2c.items()}
        assert all(ch in c2b for s in vocab for ch in s), "tokenizer is not byte-level"
        assert sorted(vocab.values()) == list(range(len(vocab))), "vocabulary ids are not contiguous"
        self.vocab_size = len(vocab)
        self.token_len = np.zeros(self.vocab_size, dtype=np.int64)  # bytes per token (bits/byte)
        for s, i in vocab.items():
            self.token_len[i] = len(s)
        self.byte_token = np.array([vocab[b2c[b]] for b in range(256)], dtype=np.int64)

    @classmethod
    def _pieces(cls, text, size=200_000):
        out, start = [], 0
        while start < len(text):
            m = cls.CUT.search(text, start + size) if start + size < len(text) else None
            end = m.start() if m else len(text)
            out.append(text[start:end])
            start = end
        return out

    def _encode_valid(self, text):
        pieces = self._pieces(text)
        if not pieces:
            return []
        ids = [np.array(e.ids, dtype=np.uint16) for e in self.tok.encode_batch(pieces, add_special_tokens=False)]
        return ids

    def encode(self, data):
        """Token ids (uint16) of any bytes."""
        out, i = [], 0
        while i < len(data):
            try:
                text = data[i:].decode("utf-8")
                out += self._encode_valid(text)
                break
            except UnicodeDecodeError as e:
                # valid prefix, then the invalid bytes (the decoder's maximal invalid subpart, as
                # Rust's utf8_chunks) as single-byte tokens
                out += self._encode_valid(data[i:i + e.start].decode("utf-8"))
                bad = data[i + e.start:i + e.end]
                out.append(self.byte_token[np.frombuffer(bad, dtype=np.uint8)].astype(np.uint16))
                i += e.end
        return np.concatenate(out) if out else np.zeros(0, dtype=np.uint16)


# ---------------------------------------------------------------------------------------------
# Corpus (src/train/corpus.rs): each source's tail is validation, never trained on

def held_out_bytes(name, size):
    return 1_000_000 if name == "enwik8_head3M" else max(size // 50, 100_000)


def list_sources(corpus_dir):
    """Source names (`NAME.xz` or `NAME.txt`), sorted as corpus::load sorts the paths."""
    files = sorted(f for f in os.listdir(corpus_dir) if f.endswith(".xz") or f.endswith(".txt"))
    return [(os.path.splitext(f)[0], os.path.join(corpus_dir, f)) for f in files]


def read_source(path):
    if path.endswith(".xz"):
        with lzma.open(path) as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def split_source(name, data):
    cut = max(0, len(data) - held_out_bytes(name, len(data)))
    return data[:cut], data[cut:]


def crlf_blocks(data, share, seed, block=65536):
    """The training bytes with CRLF line endings in a fixed share of ~64 kB blocks (cut after a
    newline). The corpus is LF-only but many users' files are CRLF: converting whole blocks in
    place keeps each block's text consistent and the sampler unchanged (a window lands in a
    converted block about `share` of the time). The choice depends only on the seed and the block's
    index, so a cache rebuilt later is the same."""
    if share <= 0:
        return data
    rng = np.random.default_rng(seed)
    out, start = [], 0
    while start < len(data):
        end = data.find(b"\n", start + block)
        end = len(data) if end < 0 else end + 1
        chunk = data[start:end]
        out.append(chunk.replace(b"\n", b"\r\n") if rng.random() < share else chunk)
        start = end
    return b"".join(out)
