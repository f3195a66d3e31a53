"""Shared definitions for training: the data split and the T5 model (mirrors src/model.rs and src/engine.rs)."""
import json, math, os
import torch
import torch.nn as nn
import torch.nn.functional as F

CORPUS = os.environ.get("S2S_CORPUS", os.path.join(os.path.dirname(__file__), "..", "..", "shared", "corpus"))

# (name, validation bytes held out at the end of the file). enwik8's last 1,000,000 bytes are the CI benchmark.
FILES = [
    "prose_gutenberg_books", "prose_us_presidential_speeches", "wiki_plaintext_wikiextractor_2018",
    "wiki_gensim_enwiki_xml", "wiki_wtf_wikitext", "enwik8_head3M", "struct_json_corpora",
    "struct_markdown_tldr", "struct_manpages_roff", "code_python_stdlib", "code_c_headers",
]
def held_out_bytes(name, size):
    return 1_000_000 if name == "enwik8_head3M" else max(100_000, size // 50)

def bucket_causal(n, exact=8, nb=16):
    """Relative-position bucket for distance n >= 0 (integer arithmetic, same as src/model.rs)."""
    if n < exact:
        return n
    return min(nb - 1, exact + ((n * n) // (exact * exact)).bit_length() - 1)

def bucket_bidir(rel, exact=8, nb=16):
    """Bidirectional bucket for rel = key_pos - query_pos."""
    return bucket_causal(abs(rel), exact, nb) + (nb if rel > 0 else 0)

class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__(); self.weight = nn.Parameter(torch.ones(d)); self.eps = eps
    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

class Attn(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.q = nn.Linear(d, d, bias=False); self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False); self.o = nn.Linear(d, d, bias=False)
    def forward(self, x, kv, bias=None, mask=None):
        B, T, D = x.shape; S = kv.shape[1]; h = self.h; dh = D // h
        q = self.q(x).view(B, T, h, dh).transpose(1, 2)
        k = self.k(kv).view(B, S, h, dh).transpose(1, 2)
        v = self.v(kv).view(B, S, h, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if bias is not None: s = s + bias
        if mask is not None: s = s.masked_fill(mask, float("-inf"))
        return self.o((s.softmax(-1) @ v).transpose(1, 2).reshape(B, T, D))

class FFN(nn.Module):
    """Gated ReLU feed-forward (ReGLU)."""
    def __init__(self, d, f):
        super().__init__()
        self.wi0 = nn.Linear(d, f, bias=False); self.wi1 = nn.Linear(d, f, bias=False); self.wo = nn.Linear(f, d, bias=False)
    def forward(self, x):
        return self.wo(F.relu(self.wi0(x)) * self.wi1(x))

class EncLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attn_norm = RMSNorm(c["d_model"]); self.attn = Attn(c["d_model"], c["n_heads"])
        self.ffn_norm = RMSNorm(c["d_model"]); self.ffn = FFN(c["d_model"], c["d_ff"])
    def forward(self, x, bias, mask):
        y = self.attn_norm(x); x = x + self.attn(y, y, bias, mask)
        return x + self.ffn(self.ffn_norm(x))

class DecLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d, h = c["d_model"], c["n_heads"]
        self.self_norm = RMSNorm(d); self.self_attn = Attn(d, h)
        self.cross_norm = RMSNorm(d); self.cross_attn = Attn(d, h)
        self.ffn_norm = RMSNorm(d); self.ffn = FFN(d, c["d_ff"])
    def forward(self, x, enc, bias, enc_mask):
        y = self.self_norm(x); x = x + self.self_attn(y, y, bias)
        x = x + self.cross_attn(self.cross_norm(x), enc, None, enc_mask)
        return x + self.ffn(self.ffn_norm(x))

class T5(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        d = c["d_model"]
        self.embed = nn.Embedding(c["vocab"] + 2, d)
        self.enc_rel = nn.Embedding(32, c["n_heads"]); self.dec_rel = nn.Embedding(16, c["n_heads"])
        self.enc = nn.ModuleList([EncLayer(c) for _ in range(c["enc_layers"])])
        self.dec = nn.ModuleList([DecLayer(c) for _ in range(c["dec_layers"])])
        self.enc_norm = RMSNorm(d); self.dec_norm = RMSNorm(d)
        n = c["context"] + c["max_latent"] + 1
        self.register_buffer("enc_bucket", torch.tensor([[bucket_bidir(j - i) for j in range(n)] for i in range(n)]), persistent=False)
        m = c["segment"]
        self.register_buffer("dec_bucket", torch.tensor([[bucket_causal(max(i - j, 0)) for j in range(m)] for i in range(m)]), persistent=False)
        self.register_buffer("causal", torch.triu(torch.ones(m, m, dtype=torch.bool), 1), persistent=False)
        std = d ** -0.5
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"): continue
            if name == "embed.weight": nn.init.normal_(p, std=1.0)
            elif "rel" in name: nn.init.zeros_(p)
            else:
                s = std if not (name.endswith(".o.weight") or name.endswith(".wo.weight")) else std / math.sqrt(2 * (c["enc_layers"] + c["dec_layers"]))
                if name.endswith(".wo.weight"): s = c["d_ff"] ** -0.5 / math.sqrt(2 * (c["enc_layers"] + c["dec_layers"]))
                nn.init.normal_(p, std=s)

    def encode(self, enc_ids, enc_pad):
        """enc_ids [B, N] (context, SEP, latent; left-padded), enc_pad [B, N] True where padding."""
        N = enc_ids.shape[1]
        x = self.embed(enc_ids)
        # positions count from the first real token, so padding does not shift the buckets
        bias = self.enc_rel(self.enc_bucket[:N, :N]).permute(2, 0, 1).unsqueeze(0)
        mask = enc_pad[:, None, None, :]
        for l in self.enc: x = l(x, bias, mask)
        return self.enc_norm(x)

    def decode(self, dec_in, enc, enc_pad):
        T = dec_in.shape[1]
        x = self.embed(dec_in)
        bias = self.dec_rel(self.dec_bucket[:T, :T]).permute(2, 0, 1).unsqueeze(0)
        bias = bias.masked_fill(self.causal[:T, :T], float("-inf"))
        for l in self.dec: x = l(x, enc, bias, enc_pad[:, None, None, :])
        h = self.dec_norm(x)
        return (h @ self.embed.weight[: self.c["vocab"]].t()) * (self.c["d_model"] ** -0.5)
