//! Compress arbitrary bytes (block layout and threads chosen by the first bytes), decompress,
//! and require the exact input back.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use s2s2s::{Codec, Model, NeuralUse, Options};

fn tiny() -> &'static Codec {
    static C: OnceLock<Codec> = OnceLock::new();
    C.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tiny");
        Codec::new(Model::load(&dir).expect("fixture model")).expect("codec")
    })
}

fuzz_target!(|input: &[u8]| {
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
    };
    let mut packed = Vec::new();
    s2s2s::compress(tiny(), &mut &data[..], &mut packed, &opts, &|_| {}).expect("compress");
    let mut out = Vec::new();
    s2s2s::decompress(tiny(), &mut &packed[..], Some(&mut out), opts.threads, &|_| {}).expect("decompress");
    assert_eq!(out, data);
});
