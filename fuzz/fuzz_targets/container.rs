//! Container parsing: headers and records of arbitrary bytes must parse or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = s2s2s::inspect(&mut &data[..]);
});
