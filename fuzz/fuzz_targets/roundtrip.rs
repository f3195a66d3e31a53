//! Compress arbitrary bytes (block layout and threads chosen by the first bytes), decompress,
//! and require the exact input back.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

mod shared;

fn tiny() -> &'static s2s2s::PreparedModel {
    static C: OnceLock<s2s2s::PreparedModel> = OnceLock::new();
    C.get_or_init(|| shared::tiny_model(&Path::new(env!("CARGO_MANIFEST_DIR")).join("..")))
}

fuzz_target!(|data: &[u8]| shared::roundtrip(tiny(), data));
