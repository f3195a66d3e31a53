//! Decompression of arbitrary bytes with the tiny fixture model: an error or data, never a
//! crash, hang or unbounded allocation.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use s2s2s::{Codec, Model};

fn tiny() -> &'static Codec {
    static C: OnceLock<Codec> = OnceLock::new();
    C.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/tiny");
        Codec::new(Model::load(&dir).expect("fixture model")).expect("codec")
    })
}

fuzz_target!(|data: &[u8]| {
    let _ = s2s2s::decompress(tiny(), &mut &data[..], Some(&mut std::io::sink()), 1, &|_| {});
});
