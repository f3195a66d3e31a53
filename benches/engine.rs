//! criterion benches for the coding hot path: the matmul kernel, one decoder step of each
//! built-in model, the adaptive models and mixer, the coder.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use s2s2s::codec::coder::{Encoder, SymbolCoder};
use s2s2s::engine::{Engine, I8Rows, Kernel};
use s2s2s::model::Builtin;
use s2s2s::numeric::quantize::Cdf;
use s2s2s::predict::mixer::ContextMix;
use s2s2s::NetArith;

fn kernels(c: &mut Criterion) {
    let (rows, inp, out) = (32, 256, 4096);
    let x: Vec<f32> = (0..rows * inp).map(|i| (i % 17) as f32 * 0.1).collect();
    let w: Vec<f32> = (0..out * inp).map(|i| (i % 13) as f32 * 0.01).collect();
    let mut y = vec![0f32; rows * out];
    let mut g = c.benchmark_group("matmul_32x256x4096");
    g.throughput(Throughput::Elements((rows * inp * out) as u64));
    for k in Kernel::available() {
        g.bench_function(k.name(), |b| b.iter(|| k.matmul(&x, rows, &w, inp, out, &mut y)));
    }
    g.finish();
    // the int8 arithmetic's exact integer products: a decoder step of 1, 2 and 4 streams, and
    // an encoder's many rows (throughput in multiply-adds)
    let wq = I8Rows::new((0..out * inp).map(|i| ((i * 7 % 255) as i32 - 127) as i8).collect(), inp);
    for rows in [1usize, 2, 4, 32] {
        let xq: Vec<i8> = (0..rows * inp).map(|i| ((i % 255) as i32 - 127) as i8).collect();
        let mut yq = vec![0i32; rows * out];
        let mut g = c.benchmark_group(format!("matmul_i8_{rows}x{inp}x{out}"));
        g.throughput(Throughput::Elements((rows * inp * out) as u64));
        for k in Kernel::available() {
            g.bench_function(k.name(), |b| b.iter(|| k.matmul_i8(&xq, rows, &wq, inp, out, &mut yq)));
        }
        g.finish();
    }
}

fn step(c: &mut Criterion) {
    for which in [Builtin::Default, Builtin::Small] {
        let model = which.load().expect("built-in model");
        for arith in [NetArith::F32, NetArith::Int8] {
            let engine = Engine::new(&model.weights, Kernel::detect(), arith);
            let ctx: Vec<u32> = (0..128).map(|i| (i * 31 % 4000) as u32).collect();
            let mut g = c.benchmark_group(format!("decoder_step_{}_{}", which.name(), arith.name()));
            for streams in [1usize, 8, 32] {
                let inputs: Vec<(&[u32], &[u32])> = (0..streams).map(|_| (ctx.as_slice(), &[][..])).collect();
                let mut logits = Vec::new();
                g.throughput(Throughput::Elements(streams as u64));
                g.bench_function(format!("{streams}_streams"), |b| {
                    b.iter_batched(
                        || engine.begin_segments(&inputs),
                        |mut states| {
                            let mut refs: Vec<_> = states.iter_mut().collect();
                            let toks = vec![5u32; streams];
                            for _ in 0..8 {
                                engine.step(&mut refs, &toks, &mut logits);
                            }
                        },
                        criterion::BatchSize::LargeInput,
                    )
                });
            }
            g.bench_function("encoder_32_streams", |b| {
                let inputs: Vec<(&[u32], &[u32])> = (0..32).map(|_| (ctx.as_slice(), &[][..])).collect();
                b.iter(|| engine.begin_segments(&inputs))
            });
            g.finish();
        }
    }
}

/// The adaptive models and mixer on one token (profile 3's whole per-token cost).
fn mixer(c: &mut Criterion) {
    let mut mix = ContextMix::default();
    let mut cdf = Cdf::default();
    let text: Vec<u32> = (0..4096u32).map(|i| (i * i + 7 * i) % 97).collect();
    for &t in &text {
        mix.predict(None, 4096, &mut cdf);
        mix.update(None, t);
    }
    let mut i = 0;
    c.bench_function("adaptive_predict_update", |b| {
        b.iter(|| {
            let t = text[i % text.len()];
            i += 1;
            mix.predict(None, 4096, &mut cdf);
            mix.update(None, t);
        })
    });
}

fn coder(c: &mut Criterion) {
    let logits: Vec<f32> = (0..4096).map(|i| ((i * 7919) % 1000) as f32 * 0.01).collect();
    let mut cdf = Cdf::default();
    c.bench_function("cdf_from_logits_4096", |b| b.iter(|| cdf.from_logits(&logits)));
    cdf.from_logits(&logits);
    c.bench_function("range_encode_symbol", |b| {
        let mut enc = Encoder::default();
        b.iter(|| enc.code(&cdf, 1234).unwrap())
    });
}

criterion_group!(benches, kernels, step, mixer, coder);
criterion_main!(benches);
