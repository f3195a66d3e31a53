//! The fuzz targets' bodies, shared with the regression tests (`tests/fuzz_regressions.rs`),
//! which replay every input that ever crashed one of them.

#![allow(dead_code)] // each target uses part of this

use std::path::Path;

use s2s2s::LatentSearch as Search;
use s2s2s::{CmParams, CmRevision, NetArith, Profile};
use s2s2s::{Model, NeuralUse, Options, PreparedModel};

/// The tiny fixture model, from the repository root.
pub fn tiny_model(root: &Path) -> PreparedModel {
    PreparedModel::new(Model::load(&root.join("tests/data/tiny")).expect("fixture model")).expect("codec")
}

/// Container parsing: arbitrary bytes parse or fail cleanly.
pub fn container(data: &[u8]) -> s2s2s::Result<s2s2s::Stats> {
    s2s2s::inspect(&mut &data[..])
}

/// Decompression of arbitrary bytes: an error or data, never a crash or unbounded work.
pub fn decompress(codec: &PreparedModel, data: &[u8]) -> s2s2s::Result<s2s2s::Stats> {
    s2s2s::decompress(codec, &mut &data[..], Some(&mut std::io::sink()), 1, &|_| {})
}

/// Compress arbitrary bytes (layout, threads and model use chosen by the first two bytes),
/// decompress, and require the input back.
pub fn roundtrip(codec: &PreparedModel, input: &[u8]) {
    let (layout, data) = match input {
        [a, b, rest @ ..] => ([*a, *b], rest),
        _ => ([0, 0], input),
    };
    let opts = Options {
        threads: 1 + usize::from(layout[0] & 1),
        neural_block: 16 + usize::from(layout[1]) * 4,
        max_block: 64 + usize::from(layout[0] >> 1) * 16,
        streams_per_thread: 1 + usize::from(layout[0] >> 5),
        neural: [NeuralUse::Always, NeuralUse::Auto, NeuralUse::Never][usize::from(layout[0] >> 1) % 3],
        profile: [Profile::Mixed, Profile::Neural, Profile::Adaptive, Profile::Cm, Profile::Hybrid][usize::from(layout[1]) % 5],
        latent: [Search::Off, Search::Heuristic][usize::from(layout[1] >> 7)],
        cm: CmParams {
            table_bits: 12,
            lanes: 1 + (layout[0] >> 6),
            streams: 1 + (layout[1] >> 5) % 3,
            share: layout[1] & 1 == 1,
            revision: [CmRevision::First, CmRevision::Second][usize::from(layout[0] >> 4) & 1],
            arith: [NetArith::F32, NetArith::Int8][usize::from(layout[0] >> 3) & 1],
        },
    };
    let mut packed = Vec::new();
    s2s2s::compress(Some(codec), &mut &data[..], &mut packed, &opts, &|_| {}).expect("compress");
    let mut out = Vec::new();
    s2s2s::decompress(codec, &mut &packed[..], Some(&mut out), opts.threads, &|_| {}).expect("decompress");
    assert!(out == data, "round trip changed the data");
}
