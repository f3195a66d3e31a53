//! Container parsing: headers and records of arbitrary bytes must parse or fail cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod shared;

fuzz_target!(|data: &[u8]| {
    let _ = shared::container(data);
});
