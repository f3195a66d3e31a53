"""Writes tests/data/torch-fixture/: a tiny network, its inputs and the logits this PyTorch port
computes for them, so that a Rust test can pin the coding engine (`s2s2s::engine::Engine`) to the
definition in train/s2s2s_model.py.

    python3 train/make_fixture.py [--out tests/data/torch-fixture]

Deterministic: the weights and the token ids come from `numpy.random.default_rng(SEED)` (PCG64 and
its normal sampler are stable across numpy versions), so running it again writes the same
config.json and model.safetensors, and the same expected.json up to the last bits of PyTorch's
float32 arithmetic.

The directory:

* tokenizer.json: a copy of tests/data/tiny/tokenizer.json (320 tokens);
* config.json, model.safetensors: the network, f16, with exactly the tensors of
  src/model/schema.rs (`export_model_dir`: the state_dict names of `T5`);
* expected.json: {"tolerance": float, "cases": [{"name", "context", "latent", "segment",
  "logits"}]}, `logits[t]` being the `vocab` float32 logits that predict `segment[t]`, computed
  teacher-forced: encoder input `context ++ [SEP] ++ latent` (SEP = vocab), decoder input
  `[BOS] ++ segment[:-1]` (BOS = vocab + 1). In the engine: `begin_segments(&[(context, latent)])`,
  then `step` with BOS, segment[0], ..., segment[n - 2]; step t writes logits[t].

Weights. Every value is drawn, then rounded through f16, so the f16 file holds the very values
PyTorch computed with (the engine widens f16 to f32 exactly). They are drawn larger than the
trainer's initialisation so that every part of the network shows in the logits: random (not zero)
position-bias tables with std 1, so a wrong bucket changes the attention; RMS-norm gains in
[0.5, 1.5] (not ones), so a gain applied to the wrong axis shows; output projections without the depth scaling,
so every layer moves the residual stream; final decoder gains in [1.5, 3.5], so the logits have
a standard deviation of about 3 (peaked softmaxes, as a trained network's).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from s2s2s_model import ByteTokenizer, T5, bucket_bidir, bucket_causal, export_model_dir  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
SEED = 20240601
CONFIG = dict(d_model=32, n_heads=2, d_ff=64, enc_layers=1, dec_layers=2, segment=16, context=16, max_latent=4)
TEXT = ("The quick brown fox jumps over the lazy dog. 0123456789\n"
        "def main():\n    return {\"key\": [1, 2, 3]}\n"
        "Stra\u00dfe, caf\u00e9, \u00fcber \u2014 \u65e5\u672c\u8a9e\n")

# Tolerance on |engine - expected| for every logit. Both sides compute in float32 from the same
# f16-exact weights; they differ only in rounding: summation order (the engine's 16-lane dot
# products against PyTorch's BLAS), its exp_det (relative error < 1e-6, and 0 below e^-40) against
# libm exp, and its rsqrt/softmax order. Measured: PyTorch float32 is at most ~6e-6 from the same
# network in float64 (logits up to ~13, where one float32 ulp is 1e-6), and the engine's float32
# should be about as far, in its own direction; the script asserts the float32-float64 gap is under
# 1/10 of the tolerance. 1e-4 leaves a wide margin for the engine's different rounding, yet is far
# below any real mistake (a wrong bucket, mask, gain or scale moves logits by 0.01 to 1).
TOLERANCE = 1e-4
QK_GAIN = 1.0  # 2.0 (sharper attention) makes float32 itself 2e-5 from float64: too close to TOLERANCE


def f16_exact(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32)).half().float()


def build_model(c, rng):
    """A T5 of config c with f16-exact random weights (see the module docstring)."""
    model = T5(c)
    d, f = c["d_model"], c["d_ff"]
    sd = {}
    for name, p in model.state_dict().items():
        shape = tuple(p.shape)
        if name == "dec_norm.weight":
            v = rng.uniform(1.5, 3.5, shape)
        elif name.endswith("norm.weight"):
            v = rng.uniform(0.5, 1.5, shape)
        elif name == "embed.weight":
            v = rng.normal(0, 1.0, shape)
        elif name in ("enc_rel.weight", "dec_rel.weight"):
            v = rng.normal(0, 1.0, shape)
        elif name.endswith((".q.weight", ".k.weight")):
            v = rng.normal(0, QK_GAIN / np.sqrt(d), shape)
        elif name.endswith(".wo.weight"):
            v = rng.normal(0, 1.0 / np.sqrt(f), shape)
        else:  # .v, .o, .wi0, .wi1
            v = rng.normal(0, 1.0 / np.sqrt(d), shape)
        sd[name] = f16_exact(v)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def make_cases(c, tok, rng):
    """Inputs: text tokens of TEXT plus random ids (the whole vocabulary, SEP/BOS excluded)."""
    text = tok.encode(TEXT.encode()).astype(np.int64).tolist()
    rand = lambda n: rng.integers(0, c["vocab"], n).tolist()
    C, S, L = c["context"], c["segment"], c["max_latent"]
    assert len(text) >= C + S + 8
    return [
        # the first segment of a block: no context, no latent
        dict(name="empty_context", context=[], latent=[], segment=text[:S]),
        # the usual case: full context, no latent
        dict(name="full_context", context=text[:C], latent=[], segment=text[C:C + S]),
        # full context and a full latent
        dict(name="full_context_latent", context=text[8:8 + C], latent=rand(L), segment=text[8 + C:8 + C + S]),
        # a block's last, short segment: partial context, partial latent
        dict(name="short_segment", context=text[-(C + 5) + 3:-5], latent=rand(2), segment=text[-5:]),
        # latent without context; one-token segment
        dict(name="latent_only_one_token", context=[], latent=rand(3), segment=rand(1)),
        # random ids everywhere (high ids, multi-byte pieces), the encoder's longest input
        dict(name="random_ids", context=rand(C), latent=rand(L), segment=rand(S)),
    ]


@torch.no_grad()
def case_logits(model, c, case, dtype):
    """Teacher-forced logits [len(segment), vocab] of one case (one sequence, no padding)."""
    m = model.to(dtype)
    enc = torch.tensor([case["context"] + [c["vocab"]] + case["latent"]])
    seg = case["segment"]
    dec = torch.tensor([[c["vocab"] + 1] + seg[:-1]])
    out = m(enc, torch.zeros_like(enc, dtype=torch.bool), dec)[0]
    model.float()
    return out


def engine_like_logits(sd, c, case):
    """A second, independent computation (numpy float64) in the engine's own order: the encoder
    pass over the sequence alone, then one decoder step per token with a growing self-attention
    cache (src/engine/encoder.rs, decoder.rs). It must agree with the teacher-forced port."""
    W = {k: v.double().numpy() for k, v in sd.items()}
    d, h, V = c["d_model"], c["n_heads"], c["vocab"]
    dh = d // h

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w

    def attend(q, k, v, bias):  # q [dh], k/v [n, dh], bias [n]
        s = k @ q / np.sqrt(dh) + bias
        p = np.exp(s - s.max())
        return (p / p.sum()) @ v

    def ffn(p, x):
        return W[p + ".wo.weight"] @ (np.maximum(W[p + ".wi0.weight"] @ x, 0) * (W[p + ".wi1.weight"] @ x))

    seq = case["context"] + [V] + case["latent"]
    n = len(seq)
    x = W["embed.weight"][seq]
    for i in range(c["enc_layers"]):
        p = f"enc.{i}"
        y = rms(x, W[p + ".attn_norm.weight"])
        q, k, v = (y @ W[f"{p}.attn.{m}.weight"].T for m in "qkv")
        ctx = np.zeros_like(x)
        for hd in range(h):
            s = slice(hd * dh, (hd + 1) * dh)
            for t in range(n):
                bias = np.array([W["enc_rel.weight"][bucket_bidir(j - t), hd] for j in range(n)])
                ctx[t, s] = attend(q[t, s], k[:, s], v[:, s], bias)
        x = x + ctx @ W[p + ".attn.o.weight"].T
        x = x + np.stack([ffn(p + ".ffn", r) for r in rms(x, W[p + ".ffn_norm.weight"])])
    enc = rms(x, W["enc_norm.weight"])
    cache = [([], []) for _ in range(c["dec_layers"])]
    out = []
    for t, tok in enumerate([V + 1] + case["segment"][:-1]):
        x = W["embed.weight"][tok]
        for i in range(c["dec_layers"]):
            p = f"dec.{i}"
            y = rms(x, W[p + ".self_norm.weight"])
            q, k, v = (W[f"{p}.self_attn.{m}.weight"] @ y for m in "qkv")
            cache[i][0].append(k)
            cache[i][1].append(v)
            K, Vv = np.stack(cache[i][0]), np.stack(cache[i][1])
            ctx = np.zeros(d)
            for hd in range(h):
                s = slice(hd * dh, (hd + 1) * dh)
                bias = np.array([W["dec_rel.weight"][bucket_causal(t - j), hd] for j in range(t + 1)])
                ctx[s] = attend(q[s], K[:, s], Vv[:, s], bias)
            x = x + W[p + ".self_attn.o.weight"] @ ctx
            y = rms(x, W[p + ".cross_norm.weight"])
            q = W[p + ".cross_attn.q.weight"] @ y
            K, Vv = enc @ W[p + ".cross_attn.k.weight"].T, enc @ W[p + ".cross_attn.v.weight"].T
            ctx = np.zeros(d)
            for hd in range(h):
                s = slice(hd * dh, (hd + 1) * dh)
                ctx[s] = attend(q[s], K[:, s], Vv[:, s], np.zeros(n))
            x = x + W[p + ".cross_attn.o.weight"] @ ctx
            x = x + ffn(p + ".ffn", rms(x, W[p + ".ffn_norm.weight"]))
        out.append(W["embed.weight"][:V] @ rms(x, W["dec_norm.weight"]) / np.sqrt(d))
    return np.stack(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "torch-fixture"))
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "tests", "data", "tiny", "tokenizer.json"))
    a = ap.parse_args()
    torch.set_num_threads(1)
    tok = ByteTokenizer(a.tokenizer)
    with open(os.path.join(os.path.dirname(a.tokenizer), "config.json")) as f:
        vocab = int(json.load(f)["vocab"])
    assert vocab == tok.vocab_size
    c = dict(vocab=vocab, **CONFIG)
    rng = np.random.default_rng(SEED)
    model = build_model(c, rng)
    cases = make_cases(c, tok, rng)

    worst, out_cases = 0.0, []
    for case in cases:
        l32 = case_logits(model, c, case, torch.float32)
        l64 = case_logits(model, c, case, torch.float64)
        gap = (l32.double() - l64).abs().max().item()
        worst = max(worst, gap)
        eng = np.abs(engine_like_logits(model.state_dict(), c, case) - l64.numpy()).max()
        assert eng < 1e-9, f"{case['name']}: step-by-step numpy differs from the port by {eng:.1e}"
        print(f"{case['name']:24s} context {len(case['context']):2d} latent {len(case['latent'])} segment {len(case['segment']):2d}: "
              f"logit std {l32.std().item():.2f}, max |logit| {l32.abs().max().item():.2f}, f32 vs f64 {gap:.1e}")
        # shortest decimal that reads back as the same float32
        logits = [[float(str(np.float32(v))) for v in row] for row in l32.numpy()]
        out_cases.append(dict(case, logits=logits))
    print("step-by-step numpy float64 (the engine's order, with caches) agrees with the port to 1e-9")
    assert worst < TOLERANCE / 10, f"PyTorch float32 is {worst:.1e} from float64: raise TOLERANCE"

    os.makedirs(a.out, exist_ok=True)
    export_model_dir(model, c, tok.json, a.out)  # tokenizer.json (same bytes), config.json, f16 model.safetensors
    expected = {
        "comment": "written by train/make_fixture.py; logits[t] (vocab float32) predict segment[t] given encoder input "
                   "context ++ [SEP=vocab] ++ latent and decoder input [BOS=vocab+1] ++ segment[:t]",
        "tolerance": TOLERANCE,
        "max_abs_f32_vs_f64": float(f"{worst:.3g}"),
        "cases": out_cases,
    }
    with open(os.path.join(a.out, "expected.json"), "w") as f:
        # one line per logits row keeps the file readable and diffable
        f.write(json.dumps(expected, separators=(",", ":")).replace("],[", "],\n[") + "\n")

    # check: the files load back to the same network
    from safetensors.torch import load_file
    back = load_file(os.path.join(a.out, "model.safetensors"))
    assert set(back) == set(model.state_dict()), "tensor names"
    assert all(back[k].dtype == torch.float16 and torch.equal(back[k].float(), v) for k, v in model.state_dict().items())
    total = sum(os.path.getsize(os.path.join(a.out, n)) for n in os.listdir(a.out))
    print(f"wrote {a.out}: {len(cases)} cases, {sum(p.numel() for p in model.parameters()):,} parameters, {total:,} bytes; "
          f"max |f32 - f64| {worst:.1e}, tolerance {TOLERANCE:g}")


if __name__ == "__main__":
    main()
